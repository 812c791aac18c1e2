"""The API rate limit of a SimCloud account: one of the kernel's token buckets over every call, kept in this process
(not in SimCloud's database), so each provisioner replica allows an account the configured rate."""

from __future__ import annotations

import threading
import time

from kernel.token_bucket import Clock, TokenBucket

__all__ = ["account_bucket", "bucket_for"]


def account_bucket(rate: float, clock: Clock = time.monotonic) -> TokenBucket:
    """`rate` calls a second up to a burst of max(1, rate), so that a rate below one still admits a call; a call
    takes one token or is refused (`TokenBucket.take`)."""
    return TokenBucket(max(1.0, rate), rate, clock)


_buckets: dict[tuple[str, float], TokenBucket] = {}
_lock = threading.Lock()


def bucket_for(account_id: str, rate: float) -> TokenBucket:
    """The account's bucket, shared by every adapter of the account in this process, as a provider's would be."""
    with _lock:
        bucket = _buckets.get((account_id, rate))
        if bucket is None:
            bucket = _buckets[(account_id, rate)] = account_bucket(rate)
        return bucket
