"""Kernel settings: read from `CLANAVI_*` variables, and no development servers in production."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from kernel.settings import DEV_AMQP_URL, DEV_DATABASE_URL, KernelSettings

PROD_DB = "postgresql://clanavi@db.internal:5432/clanavi"
PROD_AMQP = "amqp://clanavi:pw@mq.internal:5672/"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENV", "DATABASE_URL", "AMQP_URL", "BUS_PREFIX", "MAX_DELIVERIES", "LOG_FORMAT"):
        monkeypatch.delenv(f"CLANAVI_{name}", raising=False)


def test_values_come_from_clanavi_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLANAVI_ENV", "production")
    monkeypatch.setenv("CLANAVI_DATABASE_URL", PROD_DB)
    monkeypatch.setenv("CLANAVI_AMQP_URL", PROD_AMQP)
    monkeypatch.setenv("CLANAVI_BUS_PREFIX", "prod.eu-1")
    monkeypatch.setenv("CLANAVI_MAX_DELIVERIES", "7")

    settings = KernelSettings()

    assert settings.env == "production"
    assert settings.database_url.get_secret_value() == PROD_DB
    assert settings.amqp_url.get_secret_value() == PROD_AMQP
    assert settings.bus_prefix == "prod.eu-1"
    assert settings.max_deliveries == 7


def test_development_defaults_to_the_local_servers() -> None:
    settings = KernelSettings()

    assert settings.env == "development"
    assert settings.database_url.get_secret_value() == DEV_DATABASE_URL
    assert settings.amqp_url.get_secret_value() == DEV_AMQP_URL
    assert settings.bus_prefix == "clanavi"


def test_secrets_do_not_show_in_repr() -> None:
    settings = KernelSettings(database_url=SecretStr(PROD_DB))

    assert PROD_DB not in repr(settings)


@pytest.mark.parametrize(
    ("database_url", "amqp_url", "variable"),
    [
        (DEV_DATABASE_URL, PROD_AMQP, "CLANAVI_DATABASE_URL"),
        (PROD_DB, DEV_AMQP_URL, "CLANAVI_AMQP_URL"),
        (None, None, "CLANAVI_DATABASE_URL"),
    ],
)
def test_production_refuses_the_development_servers(
    database_url: str | None, amqp_url: str | None, variable: str
) -> None:
    with pytest.raises(ValidationError, match=f"{variable} must be set explicitly in production"):
        KernelSettings.model_validate(
            {
                "env": "production",
                **({"database_url": database_url} if database_url is not None else {}),
                **({"amqp_url": amqp_url} if amqp_url is not None else {}),
            }
        )


def test_production_with_explicit_servers_is_fine() -> None:
    settings = KernelSettings(env="production", database_url=SecretStr(PROD_DB), amqp_url=SecretStr(PROD_AMQP))

    assert settings.env == "production"


@pytest.mark.parametrize("prefix", ["Clanavi", "1abc", "", "has space", "a" * 42, "x/y"])
def test_bus_prefix_must_be_a_safe_name(prefix: str) -> None:
    with pytest.raises(ValidationError):
        KernelSettings(bus_prefix=prefix)


@pytest.mark.parametrize("value", [0, 101])
def test_max_deliveries_is_bounded(value: int) -> None:
    with pytest.raises(ValidationError):
        KernelSettings(max_deliveries=value)
