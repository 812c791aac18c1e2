"""A project's clouds (cloud accounts): their records, sealed credentials, where they may point, the connected
adapters (`directory`), and the clouds the configuration keeps (`configured`)."""
