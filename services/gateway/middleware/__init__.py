"""What the gateway does to every request before a route sees it, outermost first: per-address rate limits,
authentication (and the choice of project), per-caller rate limits, the body limit, and idempotency keys."""
