"""Clanavi from the outside: `clanavi.client`, the typed Python client of the REST API the gateway serves."""
