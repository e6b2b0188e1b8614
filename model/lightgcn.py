"""LightGCN (He et al., SIGIR 2020): ID embeddings propagated without transforms.

E(k+1) = L E(k) with L = D^-0.5 A D^-0.5, A = [[0, R], [R^T, 0]] the user-item graph without
self-loops; the user and item vectors are the mean of E(0)..E(n_layers), no weights, no
non-linearity. Loss and L2 (on the batch's ego, layer-0, rows) are BPRMF's
(model/bprmf.py). Shape letters: model/__init__.py.
"""
import tensorflow.compat.v1 as tf

from model.base import SYMMETRIC, config_record
from model.bprmf import BPRMF
from model.propagation import mean_of_layers, split_nodes


class LightGCN(BPRMF):
    """Mean of the layer embeddings over D^-0.5 A D^-0.5, scored by inner product."""
    Config = config_record("LightGCNConfig", embed_size=64, lr=0.001, batch_size=2048,
                           n_layers=4, decay=1e-2)

    fixed_adjacency = SYMMETRIC

    def vectors(self, training):
        """(U x d), (I x d): the mean of the layer embeddings; no dropout, so ``training``
        changes nothing."""
        nodes = tf.concat([self.user_embedding, self.item_embedding], axis=0)  # N x d
        mean = mean_of_layers(nodes, self.data.adjacency, self.config.n_layers)
        return split_nodes(mean, self.n_users, self.n_items)
