"""Performance measurements of the MCLN graph (see bench/benchmark.py)."""
