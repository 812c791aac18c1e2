"""Project guard-rails: quotas, required tags, lifetimes with their expiry, and approvals of costly launches."""
