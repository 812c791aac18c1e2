"""The background work: the one pending-action engine (claim with a lease, call the cloud, commit, follow), the
worker loop that feeds it, and pacing."""
