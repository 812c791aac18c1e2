"""The audit service: an append-only, hash-chained record of every event on the bus, queryable over HTTP."""
