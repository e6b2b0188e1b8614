"""Judging a run: HR/NDCG and the other metrics (``metrics``), the sampled and full-ranking
protocols over the held-out items (``evaluator``), choosing the epoch (``selection``) and
writing results.json (``report``). Imports ``common``, ``config``, ``data`` and ``run``."""
