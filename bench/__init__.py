"""Performance measurements of the MCLN graph (python -m bench.benchmark)."""
