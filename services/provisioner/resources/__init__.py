"""The other resources: key pairs, security groups, volumes, snapshots, addresses and images made from instances."""
