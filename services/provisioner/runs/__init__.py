"""Script runs: operational scripts run on demand, and decommission scripts before a terminate, over SSH."""
