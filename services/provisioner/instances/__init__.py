"""Instances: launch and the actions on them, their records, and how the engine carries them out (`cloud`)."""
