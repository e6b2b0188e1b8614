"""Per-user outcomes of the evaluations a run reports, for paired comparisons between runs.

Every evaluation that results.json reports (the validation-selected epoch's validation and
test evaluations, the release's best-on-test epoch and the last epoch) leaves one file per
split, ``<out_dir>/outcomes/epoch-<N>-<split>.npz`` (numpy's compressed archive):

- ``users`` (int32): the users of the sampled protocol, ascending;
- ``sampled_rank`` (int16): each one's 0-based rank of its held-out item among its 100
  candidates, ties as the evaluator breaks them (``model.ranking.held_out_rank``);
- with the full protocol, one row per held-out (user, item) pair, users ascending:
  ``full_users`` (int32), ``full_items`` (int32) and ``full_rank`` (int32): the item's
  0-based position in the user's full ranking when it is among the first ``full_cut``
  (the largest K), else -1; ``full_cut`` (int32, a scalar).

HR@K is the mean of [rank < K] and NDCG@K that of [rank < K] / log2(rank + 2), as
``metrics.rank_metrics``; the full protocol's recall and NDCG follow ``full_metric_sums``.
Files of evaluations no longer reported are removed as the run goes on.
"""
import os
import re

import numpy as np

from utility.common.atomic import remove_quietly, write_atomically
from utility.evaluation.metrics import rank_metrics

FOLDER = "outcomes"
FILE_PATTERN = re.compile(r"^epoch-(\d+)-(test|valid)\.npz$")


def file_name(epoch, split):
    return "epoch-%d-%s.npz" % (epoch, split)


def write_outcome(path, outcome):
    """``outcome`` ({name: array}) to ``path``, atomically."""
    write_atomically(path, lambda handle: np.savez_compressed(handle, **outcome), binary=True)


def read_outcome(path):
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def sampled_outcome(users, ranks):
    return {"users": np.asarray(users, dtype=np.int32),
            "sampled_rank": np.asarray(ranks, dtype=np.int16)}


def full_outcome(users, counts, items, ranks, cut):
    """The full protocol's arrays: one row per held-out pair of ``users`` (``counts`` each)."""
    return {"full_users": np.repeat(users, counts).astype(np.int32),
            "full_items": np.asarray(items, dtype=np.int32),
            "full_rank": np.asarray(ranks, dtype=np.int32),
            "full_cut": np.int32(cut)}


def _sampled_values(ranks, name, k):
    ranks = ranks.astype(np.float64)
    hit = ranks < k
    if name == "hit":
        return hit.astype(np.float64)
    if name == "ndcg":
        return np.where(hit, 1.0 / np.log2(ranks + 2), 0.0)
    raise ValueError("no per-user %s for the sampled protocol" % name)


def _full_values(outcome, name, k):
    """(users, per-user value of the full protocol's ``name``@``k``)."""
    if k > int(outcome["full_cut"]):
        raise ValueError("full ranks are kept to %d, not %d" % (outcome["full_cut"], k))
    pair_users, ranks = outcome["full_users"], outcome["full_rank"]
    users, first, counts = np.unique(pair_users, return_index=True, return_counts=True)
    hit = (ranks >= 0) & (ranks < k)
    gain = np.where(hit, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)
    n_hits = np.add.reduceat(hit.astype(np.float64), first) if len(first) else np.zeros(0)
    dcg = np.add.reduceat(gain, first) if len(first) else np.zeros(0)
    ideal = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))
    values = {"recall": n_hits / counts, "ndcg": dcg / ideal[np.minimum(counts, k) - 1],
              "precision": n_hits / k, "hit": (n_hits > 0).astype(np.float64)}
    return users, values[name]


def per_user(outcome, metric):
    """(users, each user's value of ``metric``: ``hit@5``, ``ndcg@10``, ``full_recall@20``,
    ...); a validation metric (``valid_...``) is read from that split's file the same way."""
    if metric.startswith("valid_"):
        metric = metric[len("valid_"):]
    name, _, k = metric.partition("@")
    if name.startswith("full_"):
        if "full_rank" not in outcome:
            raise ValueError("no full-ranking outcomes for %s" % metric)
        return _full_values(outcome, name[len("full_"):], int(k))
    if "sampled_rank" not in outcome:
        raise ValueError("no sampled outcomes for %s" % metric)
    return outcome["users"], _sampled_values(outcome["sampled_rank"], name, int(k))


def metrics_of(outcome, Ks):
    """The metrics an evaluation reports, recomputed from its outcomes (for checking)."""
    metrics = {}
    if "sampled_rank" in outcome:
        metrics.update(rank_metrics(outcome["sampled_rank"], Ks))
    if "full_rank" in outcome:
        for k in Ks:
            for name in ("recall", "ndcg", "precision", "hit"):
                metrics["full_%s@%d" % (name, k)] = float(
                    np.mean(_full_values(outcome, name, k)[1]))
    return metrics


class OutcomeFiles(object):
    """The outcome files of one run directory: written per evaluation, pruned to those the
    run still reports."""

    def __init__(self, out_dir):
        self.directory = os.path.join(out_dir, FOLDER)

    def path(self, epoch, split):
        return os.path.join(self.directory, file_name(epoch, split))

    def write(self, epoch, outcomes):
        """``outcomes``: {split: {name: array}} of the evaluation after ``epoch``."""
        os.makedirs(self.directory, exist_ok=True)
        for split, outcome in outcomes.items():
            write_outcome(self.path(epoch, split), outcome)

    def keep(self, epochs):
        """Remove the files of every epoch not in ``epochs``."""
        if not os.path.isdir(self.directory):
            return
        for name in os.listdir(self.directory):
            match = FILE_PATTERN.match(name)
            if match and int(match.group(1)) not in epochs:
                remove_quietly(os.path.join(self.directory, name))

    def named(self, epochs):
        """{results.json section: file relative to the run directory} for ``epochs``
        ({section: (epoch, split)}), of the files that exist."""
        found = {}
        for section, (epoch, split) in sorted(epochs.items()):
            if os.path.exists(self.path(epoch, split)):
                found[section] = os.path.join(FOLDER, file_name(epoch, split))
        return found
