"""Seeded synthetic datasets built in memory, at any size, for timing runs.

Nothing is written to disk: a 100,000 x 4096 feature matrix would be gigabytes of text.
Interactions follow a long-tailed item popularity and user activity; a user's train list
may repeat an item, as real ones can. Every user gets one test item outside its train list.
"""
import numpy as np

from utility.data.load import Dataset
from utility.data.sampler import sample_excluding

POPULARITY_EXPONENT = 0.8  # item of popularity rank r is drawn with weight (r + 10)^-0.8
ACTIVITY_SIGMA = 1.0  # user activity weights are lognormal


def parse_size(text):
    """'USERS,ITEMS,INTERACTIONS,IMAGE_DIM[,TEXT_DIM]' -> dict; accepts 10k / 1M suffixes."""
    def number(token):
        token = token.strip().lower()
        scale = {"k": 10 ** 3, "m": 10 ** 6}.get(token[-1:], 1)
        return int(float(token[:-1] if scale > 1 else token) * scale)

    parts = [number(t) for t in text.split(",")]
    if len(parts) not in (4, 5) or min(parts) <= 0:
        raise ValueError("--synthetic wants USERS,ITEMS,INTERACTIONS,IMAGE_DIM[,TEXT_DIM] "
                         "(positive numbers), got %r" % text)
    names = ("users", "items", "interactions", "image_dim", "text_dim")
    return dict(zip(names, parts))


def make_synthetic(users, items, interactions, image_dim, text_dim=None, seed=0):
    """A ``utility.data.load.Dataset`` with exactly ``interactions`` train entries."""
    if interactions < users:
        raise ValueError("need at least one train entry per user (%d < %d)"
                         % (interactions, users))
    if items < 101:
        raise ValueError("need at least 101 items (evaluation draws 99 negatives)")
    rng = np.random.RandomState(seed)
    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, users)
    counts = 1 + rng.multinomial(interactions - users, activity / activity.sum())
    popularity = (np.arange(items) + 10.0) ** -POPULARITY_EXPONENT
    item_of_rank = rng.permutation(items)
    train_items = item_of_rank[rng.choice(items, interactions, p=popularity / popularity.sum())]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    owners = np.repeat(np.arange(users, dtype=np.int64), counts)
    keys = np.unique(owners * items + train_items)
    everyone = np.arange(users, dtype=np.int64)
    test_items = sample_excluding(rng, everyone, items, keys)[:, 0]
    generator = np.random.default_rng(seed)
    features = {"image": generator.standard_normal((items, image_dim), dtype=np.float32)}
    if text_dim:
        features["text"] = generator.standard_normal((items, text_dim), dtype=np.float32)
    return Dataset("<synthetic>", users, items, indptr, train_items.astype(np.int64),
                   np.stack([everyone, test_items], axis=1), np.zeros((0, 2), np.int64),
                   features)
