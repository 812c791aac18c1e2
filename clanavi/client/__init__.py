"""The typed Python client of Clanavi's REST API, asynchronous (`AsyncClient`) and synchronous (`Client`), over
httpx, speaking the services' own pydantic models (`clanavi.client.models`).

    async with AsyncClient.from_env() as client:
        instance = await client.instances.launch(InstanceCreate(name="web-1", image_id="img-debian-12",
                                                                flavor_id="sim.small"))
        await client.instances.wait_for(instance.id, "running", timeout=120)
        async for each in client.instances.list(state="running"):
            print(each.name)

Lists walk their cursor as they are iterated over; 429 and 503 answers are tried again as `Retry-After` says; every
POST carries an `Idempotency-Key`, the same on its retries; refusals are raised as `ApiError`s of their status."""

from clanavi.client import models
from clanavi.client._client import ENVIRONMENT, AsyncClient, Client
from clanavi.client._drivers import AsyncPages, Pages
from clanavi.client._inputs import LaunchInput, launch_inputs, run_inputs, script_refs, typed_input
from clanavi.client._retry import RetryPolicy
from clanavi.client._session import Tokens
from clanavi.client._waiting import WaitProgress
from clanavi.client.errors import (
    ApiError,
    BadRequest,
    ClientError,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    FieldError,
    Forbidden,
    InvalidAnswer,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    Unsupported,
    ValidationFailed,
    WaitFailed,
    WaitTimeout,
)

__all__ = [
    "ENVIRONMENT",
    "ApiError",
    "AsyncClient",
    "AsyncPages",
    "BadRequest",
    "Client",
    "ClientError",
    "ConfigurationError",
    "Conflict",
    "ConnectionFailed",
    "FieldError",
    "Forbidden",
    "InvalidAnswer",
    "InvalidState",
    "LaunchInput",
    "NotFound",
    "Pages",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "Tokens",
    "Unauthorized",
    "Unsupported",
    "ValidationFailed",
    "WaitFailed",
    "WaitProgress",
    "WaitTimeout",
    "launch_inputs",
    "models",
    "run_inputs",
    "script_refs",
    "typed_input",
]
