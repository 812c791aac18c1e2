"""SimCloud fault injection and load through the API: for tests, demos and failover drills."""
