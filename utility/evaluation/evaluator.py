"""Evaluation protocols on the held-out splits.

sampled (reference section 7, the release's): each user's 99 negatives are followed by its
held-out item and all 100 are scored as one attention group; many users' groups go through
the graph per session call. One held-out item per user (the first listed).

full: every user ranks every item with the item vectors of ``MCLN._build_full_ranking``
(the counterfactual attention runs once across all items); the items the user is known to
like from elsewhere (``HeldOut.known``) are masked from the ranking, its held-out items
never are. Recall, NDCG, precision and HR at each K; any number of held-out items per user.

Splits: ``test``; with ``--valid`` also ``valid`` (validation.txt), whose metrics are
recorded with a ``valid_`` prefix. Known items: for validation, the train lists the model
was fed (validation removed); for test, those plus the validation items. Sampled negatives
avoid the known items, and under ``--negatives clean`` the split's own held-out items too;
under ``release`` (the default without --valid) they may include the held-out item, as the
release's do: its exclusion of the test item never fires (reference section 7).
"""
import numpy as np

from utility.common.errors import InputError, located
from utility.data.load import id_lines, pair_keys
from utility.evaluation.metrics import rank_metrics
from utility.common.progress import progress
from utility.config.flags import EVAL_NEGATIVES, FULL_METRICS, NEGATIVES_MODES, negatives_mode
from utility.data.sampler import contains, sample_excluding

# Offsets from --seed of the generators of the sampled negatives (the train sampler uses
# the seed itself); each split's negatives are drawn once per run.
NEGATIVES_SEED_OFFSET = {"test": 1, "valid": 2}


def first_items(pairs, split="test"):
    """(users, held-out item) with one item per user: the first listed, as in the release."""
    users, first = np.unique(pairs[:, 0], return_index=True)
    if len(users) < len(pairs):
        print("note: %d %s users have several %s items; the sampled protocol uses the first "
              "of each, as the release does (the full protocol uses all)"
              % (int((np.bincount(pairs[:, 0]) > 1).sum()), split, split))
    return users, pairs[first, 1]


def sample_test_negatives(rng, split, users):
    """99 items per user, none in ``split.excluded`` (repeats allowed)."""
    return sample_excluding(rng, users, split.n_items, split.excluded, EVAL_NEGATIVES)


def read_test_negatives(path, split, users):
    """``uid n1 ... n99`` lines; every user of ``users`` needs one, with valid negatives.

    A negative may not be in ``split.excluded``: a known item of its user and, under
    ``--negatives clean``, its held-out item (accepted under ``release``).
    """
    rows = {}
    forbidden = "known or held-out" if split.negatives == "clean" else "known"
    for line_no, ids in id_lines(path):
        if len(ids) != EVAL_NEGATIVES + 1:
            raise located(path, line_no, "expected a user id and %d negatives, got %d ids"
                          % (EVAL_NEGATIVES, len(ids)))
        user, negatives = ids[0], np.array(ids[1:], dtype=np.int64)
        if user in rows:
            raise located(path, line_no, "user %d already has a line" % user)
        if negatives.max() >= split.n_items:
            raise located(path, line_no, "item id out of range 0..%d" % (split.n_items - 1))
        if contains(split.excluded, user * split.n_items + negatives).any():
            raise located(path, line_no, "a negative is a %s item of user %d (--negatives %s)"
                          % (forbidden, user, split.negatives))
        rows[user] = negatives
    missing = [int(u) for u in users if int(u) not in rows]
    if missing:
        raise InputError("%s: no negatives for %s user %d (and %d more)"
                         % (path, split.name, missing[0], len(missing) - 1))
    return np.stack([rows[int(u)] for u in users])


def sampled_candidates(split, rng, negatives_path=None):
    """(users, 100 candidates per user: 99 negatives, then the held-out item).

    The negatives are read from ``negatives_path`` if given, else drawn with ``rng``.
    """
    users, held_out = first_items(split.pairs, split.name)
    if negatives_path:
        negatives = read_test_negatives(negatives_path, split, users)
    else:
        negatives = sample_test_negatives(rng, split, users)
    return users, np.concatenate([negatives, held_out[:, None]], axis=1)


def negatives_file(args, split_name):
    """The file of ``split_name``'s negatives: --test_negatives or --valid_negatives."""
    return getattr(args, "%s_negatives" % split_name, None)


def negatives_text(users, negatives):
    """The ``uid n1 ... n99`` lines of ``users`` and their rows of ``negatives``."""
    return "".join("%d %s\n" % (user, " ".join(map(str, row)))
                   for user, row in zip(users, negatives))


def write_test_negatives(path, users, negatives):
    with open(path, "w") as handle:
        handle.write(negatives_text(users, negatives))


def sampled_ranks(session, model, users, candidates, users_per_call,
                  description="sampled ranking"):
    """0-based rank of each row's last candidate; needs a refreshed evaluation cache."""
    ranks = []
    starts = range(0, len(users), users_per_call)
    for start in progress(starts, len(starts), description):
        stop = start + users_per_call
        sampled = model.ranking.sampled
        ranks.append(session.run(sampled.ranks, {sampled.users: users[start:stop],
                                                 sampled.candidates: candidates[start:stop]}))
    return np.concatenate(ranks) if ranks else np.zeros(0)


def evaluate(session, model, users, candidates, Ks, users_per_call):
    """HR@K and NDCG@K of the last candidate of each row (the held-out item)."""
    session.run(model.ranking.refresh)
    return rank_metrics(sampled_ranks(session, model, users, candidates, users_per_call), Ks)


# ------------------------------------------------------------------------ full ranking
def rows_of(keys, users, n_items):
    """CSR (indptr, items) of the sorted unique ``keys`` whose user is in sorted ``users``."""
    keys = keys[np.isin(keys // n_items, users)]
    bounds = np.append(users, users[-1] + 1 if len(users) else 0).astype(np.int64) * n_items
    return np.searchsorted(keys, bounds), keys % n_items


class HeldOut(object):
    """One held-out split: its users, their held-out items and their known items.

    ``known`` (sorted unique keys ``u * n_items + i``) is what the ranking of this split
    excludes: masked from the full ranking, never drawn as a sampled negative. A user's own
    held-out items are never masked, even where they are also known. ``excluded``, the keys
    no sampled negative may have, adds the held-out items under ``negatives="clean"`` only.
    """

    def __init__(self, name, pairs, known, n_items, negatives="release"):
        if negatives not in NEGATIVES_MODES:
            raise ValueError("negatives must be one of %s, not %r" % (NEGATIVES_MODES, negatives))
        self.name, self.pairs, self.n_items, self.negatives = name, pairs, n_items, negatives
        targets = np.unique(pair_keys(pairs, n_items))
        self.users = np.unique(pairs[:, 0])
        self.target_indptr, self.target_items = rows_of(targets, self.users, n_items)
        self.mask_indptr, self.mask_items = rows_of(np.setdiff1d(known, targets), self.users,
                                                    n_items)
        self.excluded = known if negatives == "release" else np.union1d(known, targets)

    @classmethod
    def test_split_of(cls, dataset, negatives="release"):
        """The test split of a model trained on all of ``dataset``'s train lists."""
        return cls("test", dataset.test_pairs, dataset.interaction_keys(), dataset.n_items,
                   negatives)

    def masked_pairs(self, start, stop):
        """(row in the batch, item) pairs to mask for the users ``start:stop``."""
        counts = np.diff(self.mask_indptr[start:stop + 1])
        rows = np.repeat(np.arange(stop - start), counts)
        items = self.mask_items[self.mask_indptr[start]:self.mask_indptr[stop]]
        return np.stack([rows, items], axis=1).astype(np.int64)

    def targets(self, start, stop):
        """(held-out counts per user, keys ``row * n_items + item``) for users start:stop."""
        indptr = self.target_indptr[start:stop + 1]
        counts = np.diff(indptr)
        rows = np.repeat(np.arange(stop - start), counts).astype(np.int64)
        return counts, rows * self.n_items + self.target_items[indptr[0]:indptr[-1]]


def full_metric_sums(top_items, counts, target_keys, n_items, Ks):
    """Per-K sums over the rows of recall, NDCG, precision and HR of ranked ``top_items``.

    recall = hits / #held-out; NDCG = DCG / ideal DCG over min(#held-out, K) positions.
    """
    rows = np.arange(len(top_items), dtype=np.int64)[:, None] * n_items
    hits = contains(target_keys, rows + top_items).astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(top_items.shape[1]) + 2.0)
    ideal = np.cumsum(discounts)
    sums = {}
    for k in Ks:
        n_hits = hits[:, :k].sum(axis=1)
        dcg = (hits[:, :k] * discounts[:k]).sum(axis=1)
        sums["recall@%d" % k] = (n_hits / counts).sum()
        sums["ndcg@%d" % k] = (dcg / ideal[np.minimum(counts, k) - 1]).sum()
        sums["precision@%d" % k] = n_hits.sum() / k
        sums["hit@%d" % k] = (n_hits > 0).sum()
    return sums


def target_positions(top_items, target_keys, n_items):
    """Each target key's (``row * n_items + item``, sorted) 0-based position in its row of
    ``top_items``, -1 where the row's top does not reach it."""
    rows = np.arange(len(top_items), dtype=np.int64)[:, None] * n_items
    ranked = (rows + top_items).ravel()
    where = np.searchsorted(target_keys, ranked)
    found = where < len(target_keys)
    found[found] = target_keys[where[found]] == ranked[found]
    positions = np.full(len(target_keys), -1, dtype=np.int64)
    positions[where[found]] = np.tile(np.arange(top_items.shape[1]), len(top_items))[found]
    return positions


def full_ranking(session, model, split, Ks, users_per_call):
    """(full-ranking metrics of ``split``, its per-user outcome arrays); needs refreshed
    evaluation and full-ranking caches."""
    from utility.evaluation.outcomes import full_outcome
    k = min(max(Ks), model.n_items)
    totals = dict.fromkeys(("%s@%d" % (name, cut) for name in FULL_METRICS for cut in Ks), 0.0)
    positions = []
    starts = range(0, len(split.users), users_per_call)
    for start in progress(starts, len(starts), "full ranking, %s users" % split.name):
        stop = min(start + users_per_call, len(split.users))
        full = model.ranking.full
        top = session.run(full.top_items, {full.users: split.users[start:stop],
                                           full.masked: split.masked_pairs(start, stop),
                                           full.k: k})
        counts, target_keys = split.targets(start, stop)
        for name, value in full_metric_sums(top, counts, target_keys, model.n_items, Ks).items():
            totals[name] += value
        positions.append(target_positions(top, target_keys, model.n_items))
    metrics = {name: float(value) / max(1, len(split.users)) for name, value in totals.items()}
    return metrics, full_outcome(split.users, np.diff(split.target_indptr), split.target_items,
                                 np.concatenate(positions) if positions else np.zeros(0), k)


def full_metrics(session, model, split, Ks, users_per_call):
    """Full-ranking metrics of ``split``; needs refreshed evaluation and full-ranking caches."""
    return full_ranking(session, model, split, Ks, users_per_call)[0]


# ------------------------------------------------------------------ one evaluation
class Evaluator(object):
    """Evaluates the splits (validation with --valid, then test) under --eval_protocol.

    ``dataset`` is the one the model trains on (validation removed with --valid). Returns
    flat metric names: ``hit@10`` (sampled), ``full_recall@10`` (full), and for the
    validation split the same with a ``valid_`` prefix.
    """

    def __init__(self, args, dataset):
        self.Ks, self.users_per_call = args.Ks, args.eval_users_per_call
        self.sampled = args.eval_protocol in ("sampled", "both")
        self.full = args.eval_protocol in ("full", "both")
        known, negatives = dataset.interaction_keys(), negatives_mode(args)
        self.splits = []
        if args.valid:
            self.splits.append(HeldOut("valid", dataset.valid_pairs, known, dataset.n_items,
                                       negatives))
            known = np.union1d(known, pair_keys(dataset.valid_pairs, dataset.n_items))
        self.splits.append(HeldOut("test", dataset.test_pairs, known, dataset.n_items,
                                   negatives))
        self.candidates = {}
        if self.sampled:
            for split in self.splits:
                self.candidates[split.name] = self._sampled_candidates(args, split)

    @staticmethod
    def _sampled_candidates(args, split):
        """One seeded draw of negatives per run (or --test_negatives), reused at every
        evaluation so that epochs are comparable."""
        rng = np.random.RandomState(args.seed + NEGATIVES_SEED_OFFSET[split.name])
        from_file = negatives_file(args, split.name)
        users, candidates = sampled_candidates(split, rng, from_file)
        if split.name == "test" and args.save_test_negatives:
            write_test_negatives(args.save_test_negatives, users, candidates[:, :-1])
        return users, candidates

    @property
    def random_hit10(self):
        """HR@10 of a random ranking under the sampled protocol (None under full only)."""
        return 10.0 / (EVAL_NEGATIVES + 1) if self.sampled else None

    def negatives_files(self, args):
        """{split: {"file", "sha256"}} of the negatives read from files (none drawn here)."""
        from utility.common.atomic import sha256_of
        found = {}
        for split in self.splits:
            path = negatives_file(args, split.name) if self.sampled else None
            if path:
                found[split.name] = {"file": path, "sha256": sha256_of(path)}
        return found

    def __call__(self, session, model):
        """The metrics record of one evaluation; its per-user outcomes ({split: arrays},
        see ``outcomes``) are left in ``self.outcomes``."""
        from utility.evaluation.outcomes import sampled_outcome
        session.run(model.ranking.refresh)
        if self.full:
            session.run(model.ranking.full.refresh)
        record, self.outcomes = {}, {}
        for split in self.splits:
            metrics, outcome = {}, {}
            if self.sampled:
                users, candidates = self.candidates[split.name]
                ranks = sampled_ranks(session, model, users, candidates, self.users_per_call,
                                      "sampled ranking, %s users" % split.name)
                metrics.update(rank_metrics(ranks, self.Ks))
                outcome.update(sampled_outcome(users, ranks))
            if self.full:
                full, arrays = full_ranking(session, model, split, self.Ks,
                                            self.users_per_call)
                metrics.update(("full_" + name, value) for name, value in full.items())
                outcome.update(arrays)
            prefix = "valid_" if split.name == "valid" else ""
            record.update((prefix + name, value) for name, value in metrics.items())
            self.outcomes[split.name] = outcome
        return record
