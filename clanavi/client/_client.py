"""`AsyncClient` and `Client`: the API's namespaces over one httpx client, with the caller's credentials, project
and retry policy."""

from __future__ import annotations

import asyncio
import copy
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib import metadata
from types import TracebackType
from typing import Any, Self

import httpx

from clanavi.client._alerts import AlertRules, Alerts, Channels, Silences
from clanavi.client._audit import Audit
from clanavi.client._billing import Budgets, Costs, Invoices
from clanavi.client._calls import Call, model_of
from clanavi.client._catalogue import Flavors, Images, Placements, Prices
from clanavi.client._clouds import Clouds, Modules
from clanavi.client._clusters import Clusters
from clanavi.client._drivers import AsyncDriver, SyncDriver
from clanavi.client._endpoints import Async, Driver, M, Namespace, Sync, operation, procedure
from clanavi.client._exchange import Context
from clanavi.client._failover import HealthPolicies, InstanceHealth, Refreshes
from clanavi.client._guardrails import Approvals, Guardrails
from clanavi.client._identity import ApiKeys, Members, Projects, Users
from clanavi.client._instances import Instances
from clanavi.client._launch_blocks import LaunchBlocks
from clanavi.client._metrics import Metrics, Simulation
from clanavi.client._resources import Addresses, KeyPairs, SecurityGroups, Snapshots, Volumes
from clanavi.client._retry import RetryPolicy
from clanavi.client._runs import Runs
from clanavi.client._scaling import ScalingGroups
from clanavi.client._session import Session, Tokens, TokensListener, log_in, log_out, renewal
from clanavi.client._steps import Plan
from clanavi.client._templates import Scripts, Templates
from clanavi.client.errors import ConfigurationError
from services.gateway.identity.schemas import MeOut, TokenOut

__all__ = ["ENVIRONMENT", "AsyncClient", "Client"]

# The environment `from_env` reads: the gateway's URL, a token (an access token or an API key), the project.
ENVIRONMENT = ("CLANAVI_URL", "CLANAVI_TOKEN", "CLANAVI_PROJECT")
DEFAULT_TIMEOUT = 30.0


def _user_agent() -> str:
    try:
        return f"clanavi-client/{metadata.version('clanavi')}"
    except metadata.PackageNotFoundError:
        return "clanavi-client"


def _base_url(value: str) -> httpx.URL:
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError("the API's URL is not a URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError("the API's URL must be http:// or https:// with a host")
    return url


def _tokens(token: str | None, api_key: str | None, tokens: Tokens | None) -> Tokens | None:
    given = [value for value in (token, api_key, tokens) if value is not None]
    if len(given) > 1:
        raise ConfigurationError("give one of token, api_key and tokens")
    bearer = token if token is not None else api_key
    return Tokens(bearer) if bearer is not None else tokens


def _from_environment(environ: Mapping[str, str] | None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    url, token, project = (env.get(name) or None for name in ENVIRONMENT)
    if url is None:
        raise ConfigurationError("CLANAVI_URL is not set: it names the API, e.g. http://127.0.0.1:8080")
    return {"base_url": url, "token": token, "project": project}


def _settings(environ: Mapping[str, str] | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """The environment's settings under the options given: credentials given replace the environment's."""
    found = _from_environment(environ)
    if any(options.get(name) is not None for name in ("token", "api_key", "tokens")):
        found.pop("token")
    return {**found, **options}


class _Api(Namespace[M]):
    """What both clients hold: a namespace per part of the API, and the login."""

    def _assemble(self, driver: Driver, session: Session, context: Context, base_url: httpx.URL, owns: bool) -> None:
        super().__init__(driver, context)
        self._session, self._base_url, self._owns = session, base_url, owns
        self.instances: Instances[M] = Instances(driver, context)
        self.images: Images[M] = Images(driver, context)
        self.flavors: Flavors[M] = Flavors(driver, context)
        self.prices: Prices[M] = Prices(driver, context)
        self.guardrails: Guardrails[M] = Guardrails(driver, context)
        self.approvals: Approvals[M] = Approvals(driver, context)
        self.launch_blocks: LaunchBlocks[M] = LaunchBlocks(driver, context)
        self.metrics: Metrics[M] = Metrics(driver, context)
        self.simulation: Simulation[M] = Simulation(driver, context)
        self.placements: Placements[M] = Placements(driver, context)
        self.key_pairs: KeyPairs[M] = KeyPairs(driver, context)
        self.security_groups: SecurityGroups[M] = SecurityGroups(driver, context)
        self.volumes: Volumes[M] = Volumes(driver, context)
        self.snapshots: Snapshots[M] = Snapshots(driver, context)
        self.addresses: Addresses[M] = Addresses(driver, context)
        self.clouds: Clouds[M] = Clouds(driver, context)
        self.modules: Modules[M] = Modules(driver, context)
        self.scripts: Scripts[M] = Scripts(driver, context)
        self.templates: Templates[M] = Templates(driver, context)
        self.clusters: Clusters[M] = Clusters(driver, context)
        self.scaling_groups: ScalingGroups[M] = ScalingGroups(driver, context)
        self.health_policies: HealthPolicies[M] = HealthPolicies(driver, context)
        self.instance_health: InstanceHealth[M] = InstanceHealth(driver, context)
        self.refreshes: Refreshes[M] = Refreshes(driver, context)
        self.costs: Costs[M] = Costs(driver, context)
        self.budgets: Budgets[M] = Budgets(driver, context)
        self.invoices: Invoices[M] = Invoices(driver, context)
        self.alert_rules: AlertRules[M] = AlertRules(driver, context)
        self.alerts: Alerts[M] = Alerts(driver, context)
        self.channels: Channels[M] = Channels(driver, context)
        self.silences: Silences[M] = Silences(driver, context)
        self.runs: Runs[M] = Runs(driver, context)
        self.projects: Projects[M] = Projects(driver, context)
        self.members: Members[M] = Members(driver, context)
        self.api_keys: ApiKeys[M] = ApiKeys(driver, context)
        self.users: Users[M] = Users(driver, context)
        self.audit: Audit[M] = Audit(driver, context)

    def _view(self, context: Context) -> Self:
        view = copy.copy(self)
        view._assemble(self._driver, self._session, context, self._base_url, owns=False)
        return view

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Self:
        """A client of `CLANAVI_URL`, with `CLANAVI_TOKEN` and in `CLANAVI_PROJECT` when they are set; `options`
        are the constructor's and take precedence."""
        return cls(**_settings(environ, options))

    @property
    def base_url(self) -> str:
        return str(self._base_url)

    @property
    def project(self) -> str | None:
        """The project every call acts in (`X-Clanavi-Project`); None: the API's default for the caller."""
        return self._context.project

    @property
    def tokens(self) -> Tokens | None:
        """The credentials sent now (renewed tokens included)."""
        return self._session.tokens

    def with_project(self, project: str | None) -> Self:
        """This client acting in another project: same connections, credentials and login (close the original)."""
        return self._view(Context(project, self._context.correlation_id))

    def with_correlation_id(self, correlation_id: str | None) -> Self:
        """This client sending `X-Correlation-ID`, which ties its calls (and their events) together."""
        return self._view(Context(self._context.project, correlation_id))

    @procedure
    def login(self, username: str, password: str) -> Plan[TokenOut]:
        """Log in with the OAuth2 password grant (`username` is the email); the client then sends the access
        token and renews it with the refresh token as it runs out."""
        return (yield from log_in(self._session, username, password))

    @procedure
    def refresh(self, renewal_key: str | None = None) -> Plan[None]:
        """Renew the access token now (a login's refresh token is used once, and replaced). Processes that share
        one login and may renew it at once send the same `renewal_key` (a secret they derive from the refresh token):
        the API then answers them the same new tokens rather than ending the login."""
        if not self._session.renewable:
            raise ConfigurationError("no refresh token: log in first")
        yield from renewal(self._session, self._session.tokens, renewal_key)

    @procedure
    def logout(self) -> Plan[None]:
        """End the login (its tokens stop working everywhere) and forget the credentials."""
        yield from log_out(self._session)

    @operation
    def me(self) -> Call[MeOut]:
        """Who the caller is: the project the calls act in and the role there, and every project with its role."""
        return Call("GET", "/v1/me", model_of(MeOut))


class AsyncClient(_Api[Async]):
    """The API, asynchronously: `await client.instances.get(id)`, `async for i in client.instances.list()`.

    Credentials: `token` (an access token or an API key; the same as `api_key`), or `tokens` kept from an earlier
    login, or none and `login()`. `on_tokens` hears of every change of the tokens (keep the new refresh token:
    each works once). `project` is the project every call acts in. `transport` replaces the network (tests)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        api_key: str | None = None,
        tokens: Tokens | None = None,
        project: str | None = None,
        correlation_id: str | None = None,
        on_tokens: TokensListener | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        verify: ssl.SSLContext | str | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        url = _base_url(base_url)
        session = Session(_tokens(token, api_key, tokens), on_tokens)
        http = httpx.AsyncClient(
            base_url=url, timeout=timeout, verify=verify, transport=transport, headers={"User-Agent": _user_agent()}
        )
        driver = AsyncDriver(http, session, retry or RetryPolicy(), sleep=sleep, clock=clock)
        self._http = http
        self._assemble(driver, session, Context(project, correlation_id), url, owns=True)

    async def aclose(self) -> None:
        if self._owns:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()


class Client(_Api[Sync]):
    """The API, synchronously: `client.instances.get(id)`, `for i in client.instances.list()`. The same
    parameters as `AsyncClient`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        api_key: str | None = None,
        tokens: Tokens | None = None,
        project: str | None = None,
        correlation_id: str | None = None,
        on_tokens: TokensListener | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        verify: ssl.SSLContext | str | bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        url = _base_url(base_url)
        session = Session(_tokens(token, api_key, tokens), on_tokens)
        http = httpx.Client(
            base_url=url, timeout=timeout, verify=verify, transport=transport, headers={"User-Agent": _user_agent()}
        )
        driver = SyncDriver(http, session, retry or RetryPolicy(), sleep=sleep, clock=clock)
        self._http = http
        self._assemble(driver, session, Context(project, correlation_id), url, owns=True)

    def close(self) -> None:
        if self._owns:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
