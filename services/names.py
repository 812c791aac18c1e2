"""The platform's services by name: what `python -m services` and `clanavi service` run, known without importing
any of them (a command line that only names one starts at once)."""

SERVICES = ("gateway", "provisioner", "audit", "scaler", "failover", "billing", "alerts")

__all__ = ["SERVICES"]
