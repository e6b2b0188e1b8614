"""A planted spurious-correlation benchmark: training clicks follow a style the test ignores.

    python -m utility.data.spurious --rho R [--out Data/spurious-rho-R] [--seed 0]
        [--users 1500] [--items 1000]

Items have preference-relevant latent factors and an independent, preference-irrelevant
style. Their picture feature (item2imgfeat.npy) mixes both in every dimension: each column
holds the relevant factors, the style and noise in fixed shares of its variance, so no
column can be dropped to remove the style. Users have preferences over the relevant factors
(plus a popularity bias per item) and, in training only, a taste for style: half a trend
shared by everyone, half their own. A user's training items are drawn without replacement
from softmax(preference + rho * style affinity); the validation and test items are drawn
from softmax(preference) over the items the user has not trained on, so at rho > 0 the
training clicks carry a correlation the held-out clicks do not.

Besides the split files the folder holds ceiling.json (the expected metrics of an oracle
ranking by the true preference under the sampled protocol: no model can expect more) and
planted.npz (the planted factors). The same seed gives the same files, and the same seed at
another rho the same users, items, pictures and random draws: only rho changes.
"""
import argparse
import collections
import os

import numpy as np

from utility.common.atomic import write_atomically, write_json_atomically
from utility.common.errors import InputError, exit_on_input_error
from utility.data.demo import id_list_lines, pair_lines, write_lines

RELEVANT_DIM = 8
STYLE_DIM = 4
TEMPERATURE = 0.5  # preference logits = user . item / TEMPERATURE + item bias
POPULARITY_SIGMA = 0.5
STYLE_TREND_SHARE = 0.5  # of each user's style taste: the part every user shares
MIN_TRAIN, MAX_TRAIN = 20, 40  # training items per user, uniform
IMAGE_DIM = 32
RELEVANT_SHARE, STYLE_SHARE = 0.4, 0.4  # of each picture column's variance; the rest noise
MIN_ITEMS = MAX_TRAIN + 2 + 1  # the held-out pair and at least one negative left
EVAL_NEGATIVES = 99  # the sampled protocol's (utility.config.flags.EVAL_NEGATIVES)
KS = (5, 10, 20)

# user_preference (U x R), item_factors (I x R), item_bias (I,), style (I x S, unit
# variance), style_taste (U x S).
Planted = collections.namedtuple(
    "Planted", "user_preference item_factors item_bias style style_taste")


def sample_planted(rng, n_users, n_items):
    """The planted factors: user . item products and style affinities have variance about 1."""
    scale = RELEVANT_DIM ** -0.25
    user_preference = rng.normal(0.0, scale, (n_users, RELEVANT_DIM))
    item_factors = rng.normal(0.0, scale, (n_items, RELEVANT_DIM))
    item_bias = rng.normal(0.0, POPULARITY_SIGMA, n_items)
    style = rng.normal(0.0, 1.0, (n_items, STYLE_DIM))
    trend = rng.normal(0.0, STYLE_DIM ** -0.5, STYLE_DIM)
    own = rng.normal(0.0, STYLE_DIM ** -0.5, (n_users, STYLE_DIM))
    style_taste = np.sqrt(STYLE_TREND_SHARE) * trend + np.sqrt(1.0 - STYLE_TREND_SHARE) * own
    return Planted(user_preference, item_factors, item_bias, style, style_taste)


def preference_logits(planted):
    """(users x items) logits of the true preference: what the held-out clicks follow."""
    return planted.user_preference.dot(planted.item_factors.T) / TEMPERATURE \
        + planted.item_bias


def style_affinity(planted):
    """(users x items) style affinity: what the training clicks follow too, weighted by rho."""
    return planted.style_taste.dot(planted.style.T)


def unit_columns(rng, rows, columns):
    matrix = rng.normal(0.0, 1.0, (rows, columns))
    return matrix / np.linalg.norm(matrix, axis=0, keepdims=True)


def picture_features(rng, planted):
    """(items x IMAGE_DIM): every column = relevant part + style part + noise, with variance
    shares RELEVANT_SHARE, STYLE_SHARE and the rest (each part's loadings have unit norm
    over standardised factors)."""
    relevant = planted.item_factors * RELEVANT_DIM ** 0.25  # unit variance per factor
    relevant_loadings = unit_columns(rng, RELEVANT_DIM, IMAGE_DIM)
    style_loadings = unit_columns(rng, STYLE_DIM, IMAGE_DIM)
    noise = rng.normal(0.0, 1.0, (len(relevant), IMAGE_DIM))
    return (np.sqrt(RELEVANT_SHARE) * relevant.dot(relevant_loadings)
            + np.sqrt(STYLE_SHARE) * planted.style.dot(style_loadings)
            + np.sqrt(1.0 - RELEVANT_SHARE - STYLE_SHARE) * noise)


def gumbel(rng, shape):
    return -np.log(-np.log(rng.uniform(1e-12, 1.0, shape)))


def cover_every_item(train_lists, train_logits):
    """Give each item nobody drew to the user whose training logit for it is highest, so
    that n_items = max id + 1 is the requested number."""
    seen = np.zeros(train_logits.shape[1], dtype=bool)
    for items in train_lists:
        seen[items] = True
    for item in np.flatnonzero(~seen):
        user = int(np.argmax(train_logits[:, item]))
        train_lists[user] = np.append(train_lists[user], item)


def sample_splits(rng, preference, affinity, rho):
    """(train lists, test items, validation items). The draws do not depend on rho: the
    same seed at another rho uses the same random numbers."""
    n_users, n_items = preference.shape
    counts = rng.randint(MIN_TRAIN, MAX_TRAIN + 1, n_users)
    train_noise = gumbel(rng, (n_users, n_items))
    held_out_noise = gumbel(rng, (n_users, n_items))
    train_logits = preference + rho * affinity
    # Gumbel top-k: the first k of the perturbed logits are a draw without replacement.
    order = np.argsort(-(train_logits + train_noise), axis=1, kind="stable")
    train_lists = [order[user, :count] for user, count in enumerate(counts)]
    cover_every_item(train_lists, train_logits)
    perturbed = preference + held_out_noise
    for user, items in enumerate(train_lists):
        perturbed[user, items] = -np.inf
    first_two = np.argsort(-perturbed, axis=1, kind="stable")[:, :2]
    return [np.sort(items) for items in train_lists], first_two[:, 0], first_two[:, 1]


def binomial_head(n, p, k):
    """P(X = x) for x < k, X ~ Binomial(n, p); p: array (rows,) -> (rows, k)."""
    p = np.asarray(p, dtype=np.float64)[:, None]
    x = np.arange(k)
    coefficients = np.ones(k)
    for j in range(1, k):
        coefficients[j] = coefficients[j - 1] * (n - j + 1) / float(j)
    return coefficients * np.power(p, x) * np.power(1.0 - p, np.maximum(n - x, 0))


def oracle_metrics(scores, held_out, excluded, n_negatives=EVAL_NEGATIVES, Ks=KS):
    """Expected HR@K and NDCG@K of ranking every user's candidates by ``scores``.

    The sampled protocol under --negatives clean: user u's negatives are ``n_negatives``
    draws, uniform and with repeats, from the items outside ``excluded[u]`` other than its
    held-out item; the held-out item ranks after every candidate scoring at least as high.
    Its rank is then Binomial(n_negatives, share of the pool scoring at least as high).
    """
    shares = np.empty(len(held_out))
    for user, (target, known) in enumerate(zip(held_out, excluded)):
        pool = np.ones(scores.shape[1], dtype=bool)
        pool[known] = False
        pool[target] = False
        if not pool.any():
            raise ValueError("user %d has no item left to draw negatives from" % user)
        shares[user] = np.mean(scores[user, pool] >= scores[user, target])
    rank_probability = binomial_head(n_negatives, shares, max(Ks))
    discounts = 1.0 / np.log2(np.arange(max(Ks)) + 2.0)
    metrics = {}
    for k in Ks:
        metrics["hit@%d" % k] = float(rank_probability[:, :k].sum(axis=1).mean())
        metrics["ndcg@%d" % k] = float(rank_probability[:, :k].dot(discounts[:k]).mean())
    return metrics


def ceiling(preference, train_logits, train_lists, test_items, validation_items):
    """ceiling.json's figures: the oracle on the true preference (``test``, ``valid``) and,
    for scale, an oracle of the training distribution (``test_training_oracle``: a model
    that learnt the training clicks perfectly, style included). Both splits as main.py
    --valid evaluates them: the validation item out of training, clean negatives, the test
    negatives avoiding the validation item too."""
    test_excluded = [np.append(items, v) for items, v in zip(train_lists, validation_items)]
    valid_excluded = [items[items != v] for items, v in zip(train_lists, validation_items)]
    return {
        "test": oracle_metrics(preference, test_items, test_excluded),
        "valid": oracle_metrics(preference, validation_items, valid_excluded),
        "test_training_oracle": oracle_metrics(train_logits, test_items, test_excluded),
        "random": dict(("hit@%d" % k, k / (EVAL_NEGATIVES + 1.0)) for k in KS),
    }


def standardised(values):
    return (values - values.mean()) / values.std()


def style_of_clicks(affinity, train_lists, test_items):
    """Mean standardised style affinity of the training clicks and of the test items."""
    z = standardised(affinity)
    train = np.concatenate([z[user, items] for user, items in enumerate(train_lists)])
    return float(train.mean()), float(z[np.arange(len(test_items)), test_items].mean())


def check_arguments(rho, n_users, n_items):
    if not np.isfinite(rho) or rho < 0:
        raise InputError("--rho must be a number >= 0, got %r" % rho)
    if n_users < 1:
        raise InputError("--users must be at least 1, got %d" % n_users)
    if n_items < MIN_ITEMS:
        raise InputError("--items must be at least %d (up to %d training items and a held-out "
                         "pair per user), got %d" % (MIN_ITEMS, MAX_TRAIN, n_items))


def make_spurious(out_dir, rho, seed=0, n_users=1500, n_items=1000, log=print):
    """Write the splits, item2imgfeat.npy, ceiling.json and planted.npz into ``out_dir``."""
    check_arguments(rho, n_users, n_items)
    rng = np.random.RandomState(seed)
    planted = sample_planted(rng, n_users, n_items)
    image = picture_features(rng, planted)
    preference, affinity = preference_logits(planted), style_affinity(planted)
    train_lists, test_items, validation_items = sample_splits(rng, preference, affinity, rho)
    # validation.txt's item is listed in train.txt as well, as in the public splits;
    # main.py --valid takes it out of training.
    listed = [np.sort(np.append(items, v)) for items, v in zip(train_lists, validation_items)]
    figures = ceiling(preference, preference + rho * affinity, listed, test_items,
                      validation_items)
    train_style, test_style = style_of_clicks(affinity, train_lists, test_items)
    figures.update(rho=rho, seed=seed, n_negatives=EVAL_NEGATIVES,
                   style_affinity_of_clicks={"train": train_style, "test": test_style})

    os.makedirs(out_dir, exist_ok=True)
    write_lines(os.path.join(out_dir, "train.txt"), id_list_lines(listed))
    write_lines(os.path.join(out_dir, "test.txt"), pair_lines(test_items))
    write_lines(os.path.join(out_dir, "validation.txt"), pair_lines(validation_items))
    write_atomically(os.path.join(out_dir, "item2imgfeat.npy"),
                     lambda out: np.save(out, image.astype(np.float32)), binary=True)
    write_atomically(os.path.join(out_dir, "planted.npz"),
                     lambda out: np.savez(out, **planted._asdict()), binary=True)
    write_json_atomically(os.path.join(out_dir, "ceiling.json"), figures)
    log("spurious data (rho %g) in %s: %d users, %d items, %d train entries, image %d-d "
        "(seed %d); style affinity of train clicks %+.3f, of test items %+.3f (sd units); "
        "oracle test hit@10 %.4f (training-distribution oracle %.4f, random 0.1)"
        % (rho, out_dir, n_users, n_items, sum(len(items) for items in listed), IMAGE_DIM,
           seed, train_style, test_style, figures["test"]["hit@10"],
           figures["test_training_oracle"]["hit@10"]))
    return figures


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rho", type=float, required=True,
                        help="weight of the style affinity in the training clicks (0: no shift)")
    parser.add_argument("--out", help="output folder (default Data/spurious-rho-<rho>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--items", type=int, default=1000)
    return parser.parse_args()


def main():
    args = parse_args()
    out = args.out or os.path.join("Data", "spurious-rho-%g" % args.rho)
    make_spurious(out, args.rho, seed=args.seed, n_users=args.users, n_items=args.items)


if __name__ == "__main__":
    exit_on_input_error(main)
