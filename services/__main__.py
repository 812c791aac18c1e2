"""`clanavi serve <service>` runs one service; `clanavi migrate <service>` only brings its schema up to date."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

SERVICES = ("gateway", "provisioner", "audit")


def _settings(service: str) -> Any:
    module = importlib.import_module(f"services.{service}.settings")
    cls = next(
        v
        for k, v in vars(module).items()
        if k.endswith("Settings") and k != "ServiceSettings" and isinstance(v, type) and v.__module__ == module.__name__
    )
    return cls()


def serve(service: str) -> None:
    import uvicorn

    from kernel import logs

    settings = _settings(service)
    logs.configure(service, settings.kernel.log_level, settings.kernel.log_format)
    app = importlib.import_module(f"services.{service}.app").create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def migrate(service: str) -> None:
    from kernel.migrations import migrate as run

    settings = _settings(service)
    app_module = importlib.import_module(f"services.{service}.app")
    location = getattr(app_module, "MIGRATIONS", None)
    if location is None:
        print(f"{service} has no database schema")
        return
    run(settings.kernel.database_url.get_secret_value(), schema=app_module.SCHEMA, location=location)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="clanavi", description="Run a Clanavi service.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("serve", "run a service"), ("migrate", "migrate a service's schema")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)
    (serve if args.command == "serve" else migrate)(args.service)


if __name__ == "__main__":
    main()
