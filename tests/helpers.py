"""Shared test utilities: tiny datasets on disk and a model built in its own graph."""
import os
import subprocess
import sys
import types

import numpy as np
import tensorflow.compat.v1 as tf

from model.MCLN import MCLN
from utility.load_data import cached_adjacency, load_dataset

tf.disable_eager_execution()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")


def hyperparameters(**overrides):
    values = dict(embed_size=8, lr=0.01, batch_size=4, n_layers=2, decay=0.1, lambda_m=0.3,
                  n_mca=2, adj_b=0.4, modalities="image,text")
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
    """A dataset loaded from ``folder`` and an MCLN graph with a live session."""

    def __init__(self, folder, hp, seed=0):
        modalities = hp.modalities.split(",")
        quiet = lambda *args: None
        self.dataset = load_dataset(folder, modalities, log=quiet)
        indices, values, _ = cached_adjacency(folder, self.dataset, hp.adj_b, log=quiet)
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.set_random_seed(seed)
            dims = {m: self.dataset.features[m].shape[1] for m in modalities}
            self.model = MCLN(self.dataset.n_users, self.dataset.n_items, dims, len(values), hp)
            init = tf.global_variables_initializer()
        self.session = tf.Session(graph=self.graph)
        self.session.run(init)
        self.model.feed_data(self.session, indices, values, self.dataset.features)

    def weights(self):
        return {v.op.name: value for v, value in
                zip(self.model.parameters, self.session.run(self.model.parameters))}

    def feed(self, users, pos, neg, intervention):
        m = self.model
        return {m.users: users, m.pos_items: pos, m.neg_items: neg, m.int_items: intervention}

    def losses(self, *batch):
        m = self.model
        return self.session.run([m.loss, m.mf_loss, m.emb_loss], self.feed(*batch))

    def eval_scores(self, users, candidates):
        self.session.run(self.model.refresh_eval_cache)
        return self.session.run(self.model.eval_scores, {self.model.eval_users: users,
                                                         self.model.eval_items: candidates})


def run_cli(args, env=None, cwd=REPO):
    """Run a command line in the repo; returns (exit status, stdout, stderr)."""
    full_env = dict(os.environ, **(env or {}))
    done = subprocess.run(args, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    return done.returncode, done.stdout, done.stderr


def run_main(flags, **kwargs):
    return run_cli([sys.executable, "main.py"] + flags, **kwargs)
