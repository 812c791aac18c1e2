"""How much of a run's output is kept: known to the API's models without the run rules behind them."""

# The last this many bytes of a run's output are kept.
OUTPUT_LIMIT = 256 * 1024

__all__ = ["OUTPUT_LIMIT"]
