"""Benchmarks: `python -m bench.pipeline` measures the lifecycle event pipeline against a raw AMQP baseline."""
