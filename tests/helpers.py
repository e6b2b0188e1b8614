"""Shared test utilities: tiny datasets on disk and a model built in its own graph."""
import os
import subprocess
import sys
import types

import numpy as np
import tensorflow.compat.v1 as tf

from data_sources import SHARED  # noqa: F401  (data outside the repository: see there)
from utility.run.build import load_adjacency, model_and_config, start
from utility.data.load import load_dataset
from utility.data.sampler import Batch

tf.disable_eager_execution()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hyperparameters(**overrides):
    values = dict(embed_size=8, lr=0.01, batch_size=4, n_layers=2, decay=0.1, lambda_m=0.3,
                  n_mca=2, adj_b=0.4, modalities="image,text", feature_decay=0.0)
    values.update(overrides)
    return types.SimpleNamespace(**values)


def write_dataset(folder, train, test, image, text=None):
    """train: {uid: [items]}, test: [(uid, iid)], image/text: arrays (n_items, D)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train.txt"), "w") as f:
        for user, items in sorted(train.items()):
            f.write(" ".join(map(str, [user] + list(items))) + "\n")
    with open(os.path.join(folder, "test.txt"), "w") as f:
        f.writelines("%d %d\n" % pair for pair in test)
    for name, matrix in (("item2imgfeat.txt", image), ("itemtitle2vec.txt", text)):
        if matrix is not None:
            with open(os.path.join(folder, name), "w") as f:
                for item, row in enumerate(matrix):
                    f.write("%d %s\n" % (item, " ".join("%.6f" % v for v in row)))
    return folder


def random_dataset(folder, n_users=12, n_items=15, seed=0, image_dim=5, text_dim=3):
    rng = np.random.RandomState(seed)
    train, test = {}, []
    for user in range(n_users):
        items = rng.choice(n_items, rng.randint(3, 7), replace=False)
        train[user] = list(items[:-1]) + [items[0]]  # one repeat, as Art has
        test.append((user, int(items[-1])))
    image = rng.rand(n_items, image_dim).astype(np.float32)
    text = rng.rand(n_items, text_dim).astype(np.float32) if text_dim else None
    return write_dataset(folder, train, test, image, text), train


class Built(object):
    """A dataset loaded from ``folder`` and a model (MCLN unless ``hp.model`` says otherwise)
    with a live session, built as main.py builds it."""

    def __init__(self, folder, hp, seed=0):
        quiet = lambda *args: None
        values = dict(vars(hp))
        self.cls, self.config = model_and_config(values)
        modalities = self.cls.feature_modalities(self.config, hp.modalities.split(","))
        self.dataset = load_dataset(folder, modalities, log=quiet)
        adjacency = load_adjacency(folder, self.dataset, self.cls, self.config, log=quiet)
        self.graph, self.session, self.model = start(self.cls, self.config, self.dataset,
                                                     adjacency, seed)

    def weights(self):
        return {v.op.name: value for v, value in
                zip(self.model.parameters, self.session.run(self.model.parameters))}

    def feed(self, users, pos, neg, int_items=None):
        return self.model.training_feed(Batch(users, pos, neg, int_items))

    def losses(self, *batch):
        training = self.model.training
        return self.session.run([training.loss] + list(training.parts.values()),
                                self.feed(*batch))

    def train_step(self, *batch):
        self.session.run(self.model.training.train_op, self.feed(*batch))

    def eval_scores(self, users, candidates):
        sampled = self.model.ranking.sampled
        self.session.run(self.model.ranking.refresh)
        return self.session.run(sampled.scores, {sampled.users: users,
                                                 sampled.candidates: candidates})


def run_cli(args, env=None, cwd=REPO):
    """Run a command line in the repo; returns (exit status, stdout, stderr)."""
    full_env = dict(os.environ, **(env or {}))
    done = subprocess.run(args, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    return done.returncode, done.stdout, done.stderr


def run_main(flags, **kwargs):
    return run_cli([sys.executable, "main.py"] + flags, **kwargs)
