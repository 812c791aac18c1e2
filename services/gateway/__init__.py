"""The gateway: the one public REST API. Authenticates every request and routes it to the service that owns it."""
