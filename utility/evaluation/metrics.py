"""Leave-one-out ranking metrics from the 0-based rank of each user's held-out item."""
import numpy as np


def rank_metrics(ranks, Ks):
    """Mean HR@K and NDCG@K over users: HR = [r < K], NDCG = [r < K] / log2(r + 2)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    result = {}
    for k in Ks:
        hit = ranks < k
        result["hit@%d" % k] = float(hit.mean()) if len(ranks) else 0.0
        result["ndcg@%d" % k] = float(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0).mean()) \
            if len(ranks) else 0.0
    return result
