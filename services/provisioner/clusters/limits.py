"""How large a cluster's role may be: known to the API's models without the cluster rules behind them."""

# Members of one role, at the most.
MAX_COUNT = 100

__all__ = ["MAX_COUNT"]
