"""Write a small synthetic multimodal dataset in the official on-disk format.

    python -m utility.make_demo [--out Data/demo] [--seed 0] [--users 3000] [--items 2000]

Users and items get planted latent factors; each user's items are drawn without replacement
from softmax(user·item / temperature + item bias), so a collaborative model can learn the
preferences in a few epochs. Image and title features are noisy linear views of the item
factors. The same seed gives byte-identical files (numpy's legacy RandomState stream is
stable across numpy versions).
"""
import argparse
import os

import numpy as np

from utility.common.atomic import write_atomically
from utility.common.errors import InputError, exit_on_input_error

LATENT_DIM = 8
TEMPERATURE = 0.5  # lower = sharper preferences = easier to learn
POPULARITY_SIGMA = 1.0  # log-popularity spread: exp(bias) is lognormal, a long-tailed head
MIN_INTERACTIONS, MAX_INTERACTIONS = 10, 40
MEAN_EXTRA_INTERACTIONS = 10  # on top of the minimum: about 20 per user, long-tailed
IMAGE_DIM, TEXT_DIM = 64, 32
MIN_ITEMS = 100  # evaluation draws 99 negatives per user


def sample_factors(rng, n_users, n_items):
    """Planted user and item factors (unit-variance scores) plus a popularity bias per item."""
    scale = LATENT_DIM ** -0.25  # so that a user·item product has variance about 1
    user_factors = rng.normal(0.0, scale, (n_users, LATENT_DIM))
    item_factors = rng.normal(0.0, scale, (n_items, LATENT_DIM))
    item_bias = rng.normal(0.0, POPULARITY_SIGMA, n_items)
    return user_factors, item_factors, item_bias


def sample_interaction_counts(rng, n_users):
    # Geometric: most users are light, a few are heavy, as in real logs.
    extra = rng.geometric(1.0 / (MEAN_EXTRA_INTERACTIONS + 1), n_users) - 1
    return np.minimum(MIN_INTERACTIONS + extra, MAX_INTERACTIONS)


def sample_user_items(rng, logits, count):
    """Draw `count` distinct items from softmax(logits) with the Gumbel top-k trick."""
    gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, logits.shape[0])))
    return np.argsort(-(logits + gumbel), kind="stable")[:count]


def split_leave_one_out(rng, items):
    """Hold one item out for test; pick another, kept in train, as validation."""
    test_pos = rng.randint(len(items))
    train_items = np.delete(items, test_pos)
    validation_item = train_items[rng.randint(len(train_items))]
    return np.sort(train_items), items[test_pos], validation_item


def ensure_every_item_in_train(train_lists, test_items, preference):
    """Give each item nobody drew to the user who likes it most (and isn't holding it out),
    so n_items = max iid + 1 is exactly the requested number."""
    seen = np.zeros(preference.shape[1], dtype=bool)
    for items in train_lists:
        seen[items] = True
    for item in np.flatnonzero(~seen):
        for user in np.argsort(-preference[:, item], kind="stable"):
            if test_items[user] != item:
                train_lists[user] = np.sort(np.append(train_lists[user], item))
                break


def sample_interactions(rng, user_factors, item_factors, item_bias):
    logits = (user_factors @ item_factors.T) / TEMPERATURE + item_bias
    counts = sample_interaction_counts(rng, len(user_factors))
    train_lists, test_items, validation_items = [], [], []
    for user, count in enumerate(counts):
        items = sample_user_items(rng, logits[user], count)
        train_items, test_item, validation_item = split_leave_one_out(rng, items)
        train_lists.append(train_items)
        test_items.append(test_item)
        validation_items.append(validation_item)
    ensure_every_item_in_train(train_lists, test_items, logits)
    return train_lists, test_items, validation_items


def noisy_view(rng, item_factors, dim, signal_share, pure_noise_dims):
    """A random linear map of the item factors mixed with preference-irrelevant noise.

    signal_share is the signal's share of the variance in the informative dimensions; the
    last pure_noise_dims dimensions carry no signal at all. Every dimension has unit variance,
    so the pure-noise ones cannot be told apart by their scale."""
    projection = rng.normal(0.0, 1.0, (item_factors.shape[1], dim))
    signal = item_factors @ projection
    signal /= signal.std(axis=0, keepdims=True)
    noise = rng.normal(0.0, 1.0, signal.shape)
    share = np.full(dim, signal_share)
    share[dim - pure_noise_dims:] = 0.0
    return np.sqrt(share) * signal + np.sqrt(1.0 - share) * noise


def write_lines(path, lines):
    """Write all lines or nothing: a crash never leaves a half-written data file."""
    write_atomically(path, lambda out: out.writelines(line + "\n" for line in lines))


def id_list_lines(lists):
    return ["%d %s" % (uid, " ".join(str(i) for i in items)) for uid, items in enumerate(lists)]


def pair_lines(items):
    return ["%d %d" % (uid, item) for uid, item in enumerate(items)]


def feature_lines(features):
    # A fixed float format keeps the files byte-identical for one seed.
    return ["%d %s" % (iid, " ".join("%.5g" % value for value in row))
            for iid, row in enumerate(features.tolist())]


def check_sizes(n_users, n_items):
    if n_users < 1:
        raise InputError("--users must be at least 1, got %d" % n_users)
    if n_items < MIN_ITEMS:
        raise InputError("--items must be at least %d (evaluation samples 99 negatives), got %d"
                         % (MIN_ITEMS, n_items))


def make_demo(out_dir, seed=0, n_users=3000, n_items=2000, log=print):
    """Write train/test/validation and image/title feature files into out_dir."""
    check_sizes(n_users, n_items)
    rng = np.random.RandomState(seed)
    user_factors, item_factors, item_bias = sample_factors(rng, n_users, n_items)
    train_lists, test_items, validation_items = sample_interactions(
        rng, user_factors, item_factors, item_bias)
    image = noisy_view(rng, item_factors, IMAGE_DIM, signal_share=0.5,
                       pure_noise_dims=IMAGE_DIM // 4)
    text = noisy_view(rng, item_factors, TEXT_DIM, signal_share=0.3,
                      pure_noise_dims=TEXT_DIM // 4)

    os.makedirs(out_dir, exist_ok=True)
    files = {
        "train.txt": id_list_lines(train_lists),
        "test.txt": pair_lines(test_items),
        "validation.txt": pair_lines(validation_items),
        "item2imgfeat.txt": feature_lines(image),
        "itemtitle2vec.txt": feature_lines(text),
    }
    for name, lines in files.items():
        write_lines(os.path.join(out_dir, name), lines)

    n_train = sum(len(items) for items in train_lists)
    log("demo data in %s: %d users, %d items, %d train entries, image %d-d, text %d-d (seed %d)"
        % (out_dir, n_users, n_items, n_train, IMAGE_DIM, TEXT_DIM, seed))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("Data", "demo"), help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--items", type=int, default=2000)
    return parser.parse_args()


def main():
    args = parse_args()
    make_demo(args.out, seed=args.seed, n_users=args.users, n_items=args.items)


if __name__ == "__main__":
    exit_on_input_error(main)
