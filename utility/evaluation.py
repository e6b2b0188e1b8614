"""Sampled leave-one-out evaluation (reference section 7).

Each test user's 99 negatives are followed by its held-out item; all 100 are scored as one
attention group. Many users' groups go through the graph per session call.
"""
import numpy as np

from utility.errors import InputError, located
from utility.metrics import rank_metrics
from utility.parser import EVAL_NEGATIVES
from utility.sampler import sample_excluding


def held_out_items(dataset):
    """(users, held-out item) with one item per user: the first listed, as in the release."""
    pairs = dataset.test_pairs
    users, first = np.unique(pairs[:, 0], return_index=True)
    if len(users) < len(pairs):
        print("note: %d test users have several test items; the sampled protocol uses the "
              "first of each, as the release does" % int((np.bincount(pairs[:, 0]) > 1).sum()))
    return users, pairs[first, 1]


def _excluded_keys(dataset, users, held_out):
    test_keys = users.astype(np.int64) * dataset.n_items + held_out
    return np.union1d(dataset.interaction_keys(), test_keys)


def sample_test_negatives(rng, dataset, users, held_out):
    """99 items per user, not in its train list and not its test item (repeats allowed)."""
    return sample_excluding(rng, users, dataset.n_items,
                            _excluded_keys(dataset, users, held_out), EVAL_NEGATIVES)


def read_test_negatives(path, dataset, users, held_out):
    """``uid n1 ... n99`` lines; every test user needs one, with valid negatives."""
    try:
        handle = open(path)
    except IOError as error:
        raise InputError("%s: cannot open (%s)" % (path, error.strerror))
    rows = {}
    excluded = _excluded_keys(dataset, users, held_out)
    with handle:
        for line_no, line in enumerate(handle, 1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                ids = np.array([int(t) for t in tokens], dtype=np.int64)
            except ValueError:
                raise located(path, line_no, "ids must be integers")
            if len(ids) != EVAL_NEGATIVES + 1:
                raise located(path, line_no, "expected a user id and %d negatives, got %d ids"
                              % (EVAL_NEGATIVES, len(ids)))
            user, negatives = ids[0], ids[1:]
            if negatives.min() < 0 or negatives.max() >= dataset.n_items:
                raise located(path, line_no, "item id out of range 0..%d" % (dataset.n_items - 1))
            if np.isin(user * dataset.n_items + negatives, excluded).any():
                raise located(path, line_no, "a negative is a train or test item of user %d"
                              % user)
            rows[int(user)] = negatives
    missing = [int(u) for u in users if int(u) not in rows]
    if missing:
        raise InputError("%s: no negatives for test user %d (and %d more)"
                         % (path, missing[0], len(missing) - 1))
    return np.stack([rows[int(u)] for u in users])


def write_test_negatives(path, users, negatives):
    with open(path, "w") as handle:
        for user, row in zip(users, negatives):
            handle.write("%d %s\n" % (user, " ".join(map(str, row))))


def evaluate(session, model, users, candidates, Ks, users_per_call):
    """HR@K and NDCG@K of the last candidate of each row (the held-out item)."""
    session.run(model.refresh_eval_cache)
    ranks = [session.run(model.eval_ranks, {model.eval_users: users[start:start + users_per_call],
                                            model.eval_items: candidates[start:start + users_per_call]})
             for start in range(0, len(users), users_per_call)]
    return rank_metrics(np.concatenate(ranks) if ranks else np.zeros(0), Ks)
