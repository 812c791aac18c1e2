"""The allocator: where servers go, by policy, with the reasons."""
