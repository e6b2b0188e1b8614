"""Rerun the paper's tables: ``python -m experiments.run NAME --dataset D`` (see run.py)."""
