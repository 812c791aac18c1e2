"""The provisioner: owns cloud accounts, their adapters and the records of every resource Clanavi manages in them
(instances, key pairs, security groups, volumes, snapshots, addresses, images); carries out each action in the
clouds, follows their transitions, and reports every step as an event."""
