"""Kernel settings: read from `CLANAVI_*` variables, server URLs required, and every problem of a service's settings
told in one line naming its variable (never echoing a secret)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from kernel.settings import InvalidSettings, KernelSettings, problems_of, read_settings
from services.audit.settings import AuditSettings
from services.gateway.settings import GatewaySettings
from services.provisioner.settings import ProvisionerSettings

PROD_DB = "postgresql://clanavi:db-secret@db.internal:5432/clanavi"
PROD_AMQP = "amqp://clanavi:mq-secret@mq.internal:5672/"
KEY = "k" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ENV",
        "DATABASE_URL",
        "AMQP_URL",
        "BUS_PREFIX",
        "MAX_DELIVERIES",
        "LOG_FORMAT",
        "INTERNAL_KEY",
        "SECRET_KEY",
        "SECRET_KEY_PREVIOUS",
        "ADMIN_TOKEN",
    ):
        monkeypatch.delenv(f"CLANAVI_{name}", raising=False)


@pytest.fixture
def usable(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment every service starts with; each test spoils one variable."""
    for name, value in (
        ("DATABASE_URL", PROD_DB),
        ("AMQP_URL", PROD_AMQP),
        ("INTERNAL_KEY", KEY),
        ("SECRET_KEY", KEY),
    ):
        monkeypatch.setenv(f"CLANAVI_{name}", value)
    return monkeypatch


def refusal(cls: type[GatewaySettings | AuditSettings | ProvisionerSettings]) -> str:
    with pytest.raises(InvalidSettings) as refused:
        read_settings(cls).check()
    return str(refused.value)


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


def test_server_urls_have_no_default() -> None:
    with pytest.raises(ValidationError) as refused:
        KernelSettings()

    assert {error["loc"] for error in refused.value.errors()} == {("database_url",), ("amqp_url",)}


def test_development_is_the_default_environment() -> None:
    settings = KernelSettings(database_url=SecretStr(PROD_DB), amqp_url=SecretStr(PROD_AMQP))

    assert settings.env == "development"
    assert settings.bus_prefix == "clanavi"


def test_secrets_do_not_show_in_repr() -> None:
    settings = KernelSettings(database_url=SecretStr(PROD_DB), amqp_url=SecretStr(PROD_AMQP))

    assert PROD_DB not in repr(settings)


@pytest.mark.parametrize(
    ("database_url", "amqp_url"),
    [
        ("mysql://clanavi@db/clanavi", PROD_AMQP),
        ("not a url", PROD_AMQP),
        (PROD_DB, "http://mq.internal/"),
        (PROD_DB, "amqp://"),
    ],
)
def test_server_urls_must_be_urls_of_their_servers(database_url: str, amqp_url: str) -> None:
    with pytest.raises(ValidationError):
        KernelSettings(database_url=SecretStr(database_url), amqp_url=SecretStr(amqp_url))


def test_a_database_url_may_name_a_socket_instead_of_a_host() -> None:
    settings = KernelSettings(database_url=SecretStr("postgresql:///clanavi?host=/run/pg"), amqp_url=PROD_AMQP)

    assert settings.database_url.get_secret_value().endswith("host=/run/pg")


@pytest.mark.parametrize("prefix", ["Clanavi", "1abc", "", "has space", "a" * 42, "x/y"])
def test_bus_prefix_must_be_a_safe_name(prefix: str) -> None:
    with pytest.raises(ValidationError):
        KernelSettings(database_url=PROD_DB, amqp_url=PROD_AMQP, bus_prefix=prefix)


@pytest.mark.parametrize("value", [0, 101])
def test_max_deliveries_is_bounded(value: int) -> None:
    with pytest.raises(ValidationError):
        KernelSettings(database_url=PROD_DB, amqp_url=PROD_AMQP, max_deliveries=value)


# --- one line naming the variable ------------------------------------------------------------------------------


def test_usable_settings_pass(usable: pytest.MonkeyPatch) -> None:
    assert problems_of([GatewaySettings, ProvisionerSettings, AuditSettings]) == []
    assert read_settings(GatewaySettings).kernel.database_url.get_secret_value() == PROD_DB


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("CLANAVI_ADMIN_TOKEN", "short", "CLANAVI_ADMIN_TOKEN must be at least 16 characters"),
        ("CLANAVI_GATEWAY_PORT", "abc", "CLANAVI_GATEWAY_PORT is not a valid port: 'abc'"),
        ("CLANAVI_GATEWAY_PORT", "70000", "CLANAVI_GATEWAY_PORT is not a valid port: '70000'"),
        (
            "CLANAVI_GATEWAY_PROVISIONER_URL",
            "not a url",
            "CLANAVI_GATEWAY_PROVISIONER_URL is not a valid URL: 'not a url'",
        ),
        (
            "CLANAVI_GATEWAY_AUDIT_URL",
            "ftp://audit.internal",
            "CLANAVI_GATEWAY_AUDIT_URL must be a URL of scheme http or https: 'ftp://audit.internal'",
        ),
        (
            "CLANAVI_GATEWAY_TRUSTED_PROXIES",
            "10.0.0.0/8, proxy",
            "CLANAVI_GATEWAY_TRUSTED_PROXIES: 'proxy' does not appear to be an IPv4 or IPv6 network",
        ),
        ("CLANAVI_ENV", "prod", "CLANAVI_ENV must be 'development', 'test' or 'production': 'prod'"),
        ("CLANAVI_MAX_DELIVERIES", "0", "CLANAVI_MAX_DELIVERIES must be at least 1: '0'"),
        ("CLANAVI_DATABASE_URL", "mysql://db/x", "CLANAVI_DATABASE_URL must be a URL of scheme postgresql or postgres"),
        ("CLANAVI_AMQP_URL", "not a url", "CLANAVI_AMQP_URL is not a valid URL"),
        ("CLANAVI_INTERNAL_KEY", "short", "CLANAVI_INTERNAL_KEY must be at least 32 characters long"),
        ("CLANAVI_SECRET_KEY", "short", "CLANAVI_SECRET_KEY must be at least 32 characters long"),
    ],
)
def test_a_bad_gateway_setting_is_one_line_naming_its_variable(
    usable: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    usable.setenv(variable, value)

    assert refusal(GatewaySettings) == line


@pytest.mark.parametrize("variable", ["CLANAVI_DATABASE_URL", "CLANAVI_AMQP_URL"])
def test_a_missing_server_url_says_to_set_it(usable: pytest.MonkeyPatch, variable: str) -> None:
    usable.delenv(variable)

    line = refusal(AuditSettings)

    assert line.startswith(f"{variable} is not set: set it to ")
    assert "`make run` sets it" in line


@pytest.mark.parametrize("missing", ["CLANAVI_INTERNAL_KEY", "CLANAVI_SECRET_KEY"])
def test_production_without_a_key_is_refused(usable: pytest.MonkeyPatch, missing: str) -> None:
    usable.setenv("CLANAVI_ENV", "production")
    usable.delenv(missing)

    assert refusal(ProvisionerSettings).startswith(f"{missing} is not set: ")


def test_the_audit_service_needs_no_secret_key(usable: pytest.MonkeyPatch) -> None:
    usable.delenv("CLANAVI_SECRET_KEY")

    assert problems_of([AuditSettings]) == []
    assert refusal(GatewaySettings).startswith("CLANAVI_SECRET_KEY is not set")


def test_every_problem_is_named_on_one_line(usable: pytest.MonkeyPatch) -> None:
    usable.delenv("CLANAVI_DATABASE_URL")
    usable.setenv("CLANAVI_ADMIN_TOKEN", "short")
    usable.setenv("CLANAVI_GATEWAY_PORT", "abc")

    line = refusal(GatewaySettings)

    assert "\n" not in line
    assert line.startswith("CLANAVI_DATABASE_URL is not set")
    assert "; CLANAVI_GATEWAY_PORT is not a valid port: 'abc'" in line
    assert "; CLANAVI_ADMIN_TOKEN must be at least 16 characters" in line


def test_kernel_problems_are_named_once_for_several_services(usable: pytest.MonkeyPatch) -> None:
    usable.setenv("CLANAVI_ENV", "prod")

    assert problems_of([GatewaySettings, ProvisionerSettings, AuditSettings]) == [
        "CLANAVI_ENV must be 'development', 'test' or 'production': 'prod'"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "CLANAVI_PROVISIONER_CLOUDS",
            '[{"id": "x", "name": "X", "driver": "nope"}]',
            "CLANAVI_PROVISIONER_CLOUDS[0].driver: unknown driver 'nope'",
        ),
        ("CLANAVI_PROVISIONER_CLOUDS", '[{"id": "x",', "CLANAVI_PROVISIONER_CLOUDS is not valid JSON"),
        ("CLANAVI_PROVISIONER_SIM_OPTIONS", "{not json", "CLANAVI_PROVISIONER_SIM_OPTIONS is not valid JSON"),
        ("CLANAVI_PROVISIONER_CONCURRENCY", "many", "CLANAVI_PROVISIONER_CONCURRENCY must be a whole number: 'many'"),
    ],
)
def test_a_bad_provisioner_setting_names_its_variable(
    usable: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    usable.setenv(variable, value)

    assert refusal(ProvisionerSettings).startswith(line)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLANAVI_ADMIN_TOKEN", "tiny-secret"),
        ("CLANAVI_DATABASE_URL", "mysql://clanavi:tiny-secret@db/clanavi"),
        ("CLANAVI_AMQP_URL", "http://clanavi:tiny-secret@mq/"),
        ("CLANAVI_INTERNAL_KEY", "tiny-secret"),
        ("CLANAVI_SECRET_KEY", "tiny-secret"),
    ],
)
def test_a_refused_secret_is_never_echoed(usable: pytest.MonkeyPatch, variable: str, value: str) -> None:
    usable.setenv(variable, value)

    line = refusal(GatewaySettings)

    assert line.startswith(variable)
    assert "tiny-secret" not in line
