"""`python -m services serve <service>` runs one service; `migrate <service>` only brings its schema up to date;
`rotate-keys provisioner` rewraps the cloud credentials sealed with a key of CLANAVI_SECRET_KEY_PREVIOUS with
CLANAVI_SECRET_KEY (the provisioner also does it at start), and exits 1 when some no key opens; `check [service...]`
checks the services' settings without starting anything. The `clanavi` command offers the same as `clanavi service
...` (what the container image runs).

Settings a command cannot use stop it before it starts anything: one line on stderr naming each variable at fault,
and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from typing import Any

from kernel.settings import InvalidSettings, ServiceSettings, problems_of, read_settings
from services.names import SERVICES

# The exit status of a command refused for its settings (as for a usage error).
BAD_SETTINGS = 2


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    cls: type[ServiceSettings] = next(
        v
        for k, v in vars(module).items()
        if k.endswith("Settings") and k != "ServiceSettings" and isinstance(v, type) and v.__module__ == module.__name__
    )
    return cls


def _settings(service: str, *, check: bool = True) -> Any:
    settings = read_settings(settings_class(service))
    if check:
        settings.check()
    return settings


def serve(service: str) -> None:
    from kernel import http, logs

    settings = _settings(service)
    logs.configure(service, settings.kernel.log_level, settings.kernel.log_format)
    app = importlib.import_module(f"services.{service}.app").create_app(settings)
    http.serve(app, host=settings.host, port=settings.port)


def migrate(service: str) -> None:
    from kernel.migrations import migrate as run

    # Only the database is needed: no key is checked.
    settings = _settings(service, check=False)
    app_module = importlib.import_module(f"services.{service}.app")
    location = getattr(app_module, "MIGRATIONS", None)
    if location is None:
        print(f"{service} has no database schema")
        return
    run(settings.kernel.database_url.get_secret_value(), schema=app_module.SCHEMA, location=location)


def rotate_keys(service: str) -> int:
    from kernel import db
    from kernel.migrations import migrate as run
    from services.provisioner.app import MIGRATIONS, SCHEMA
    from services.provisioner.clouds import configured
    from services.provisioner.unit_of_work import on_postgres

    settings = _settings(service, check=False)
    try:
        keyring = settings.keyring()
    except ValueError as exc:
        raise InvalidSettings([str(exc)]) from None
    url = settings.kernel.database_url.get_secret_value()
    run(url, schema=SCHEMA, location=MIGRATIONS)

    async def rewrap() -> configured.Rewrapped:
        pool = await db.create_pool(url, schema=SCHEMA, application="clanavi-rotate-keys", min_size=1, max_size=2)
        uow = on_postgres(lambda: pool)
        try:
            await configured.seal_plaintext(uow, keyring)
            return await configured.rewrap_all(uow, keyring)
        finally:
            await pool.close()

    result = asyncio.run(rewrap())
    print(f"rewrapped the credentials of {result.rewrapped} cloud accounts with key {keyring.key_id}")
    if result.unreadable:
        print(
            f"no key opens the credentials of {len(result.unreadable)} cloud accounts: {', '.join(result.unreadable)}; "
            "set them again, or add the key they were sealed with to CLANAVI_SECRET_KEY_PREVIOUS",
            file=sys.stderr,
        )
        return 1
    return 0


def check(services: list[str]) -> int:
    problems = problems_of(settings_class(service) for service in services or SERVICES)
    if problems:
        raise InvalidSettings(problems)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="clanavi", description="Run a Clanavi service.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("serve", "run a service"), ("migrate", "migrate a service's schema")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("service", choices=SERVICES)
    rotate = sub.add_parser("rotate-keys", help="rewrap encrypted secrets with the current CLANAVI_SECRET_KEY")
    rotate.add_argument("service", choices=("provisioner",))
    checking = sub.add_parser("check", help="check the services' settings (all of them by default)")
    checking.add_argument("services", nargs="*", metavar="service", help=", ".join(SERVICES))
    args = parser.parse_args(argv)
    if args.command == "check" and (unknown := set(args.services) - set(SERVICES)):
        parser.error(f"unknown service: {', '.join(sorted(unknown))} (choose from {', '.join(SERVICES)})")
    try:
        if args.command == "rotate-keys":
            sys.exit(rotate_keys(args.service))
        if args.command == "check":
            sys.exit(check(args.services))
        (serve if args.command == "serve" else migrate)(args.service)
    except InvalidSettings as exc:
        print(f"clanavi: {exc}", file=sys.stderr)
        sys.exit(BAD_SETTINGS)


if __name__ == "__main__":
    main()
