"""Clusters: sets of servers in roles, launched, scaled and terminated as a unit."""
