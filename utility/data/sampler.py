"""Training batches (reference section 6) and evaluation negatives (section 7), vectorised.

"Not interacted" tests use sorted ``u * n_items + i`` keys and ``np.searchsorted``: memory
stays O(interactions) however many items there are, and rejection sampling redraws only the
rows that hit an interacted item.
"""
import collections

import numpy as np

from utility.common.errors import InputError

# One training step's rows: users, a positive and a negative item each, and a counterfactual
# ("int") item each (read by MCLN only).
Batch = collections.namedtuple("Batch", "users pos_items neg_items int_items")


def contains(sorted_keys, keys):
    """Element-wise membership of ``keys`` in the sorted array ``sorted_keys``."""
    position = np.searchsorted(sorted_keys, keys)
    position[position == len(sorted_keys)] = 0
    return sorted_keys[position] == keys if len(sorted_keys) else np.zeros(keys.shape, bool)


def sample_excluding(rng, users, n_items, excluded_keys, per_user=1):
    """Items drawn uniformly for each user from those whose key is not excluded.

    Returns an int64 array (len(users), per_user); repeats within a row are allowed.
    """
    users = np.asarray(users, dtype=np.int64)
    items = rng.randint(0, n_items, size=(len(users), per_user)).astype(np.int64)
    base = users[:, None] * n_items
    bad = contains(excluded_keys, base + items)
    while bad.any():
        items[bad] = rng.randint(0, n_items, size=int(bad.sum()))
        bad[bad] = contains(excluded_keys, (base + items)[bad])
    return items


class TrainSampler(object):
    """Draws ``Batch``es as the release does (reference section 6)."""

    def __init__(self, dataset, batch_size, rng):
        self.dataset = dataset
        self.batch_size = batch_size
        self.rng = rng
        self.users = dataset.train_users
        self.keys = dataset.interaction_keys()
        if batch_size > len(self.users):
            raise InputError("%s: only %d users have train entries, fewer than --batch_size %d"
                             % (dataset.train_path, len(self.users), batch_size))
        distinct = np.bincount(self.keys // dataset.n_items, minlength=dataset.n_users)
        full = np.flatnonzero(distinct >= dataset.n_items)
        if len(full):
            raise InputError("user %d interacted with every item: no negative can be drawn"
                             % full[0])

    @property
    def steps_per_epoch(self):
        return self.dataset.n_train // self.batch_size + 1

    def sample(self):
        data = self.dataset
        users = self.rng.choice(self.users, self.batch_size, replace=False)
        start = data.train_indptr[users]
        length = data.train_indptr[users + 1] - start
        pos = data.train_items[start + (self.rng.random_sample(len(users)) * length)
                               .astype(np.int64)]
        neg = sample_excluding(self.rng, users, data.n_items, self.keys)[:, 0]
        int_items = sample_excluding(self.rng, users, data.n_items, self.keys)[:, 0]
        return Batch(users, pos, neg, int_items)
