"""NGCF (Wang et al., SIGIR 2019): ID embeddings propagated with transforms and an
affinity message, layer outputs concatenated.

Layer l (the paper's matrix form, Eq. 7), from E = E(l-1) (N x d):

    E(l) = LeakyReLU( (L + I) E W1 + (L E * E) W2 + b )

with L = D^-0.5 A D^-0.5, A = [[0, R], [R^T, 0]], and * the element-wise product (the
affinity e_i * e_u of a user-item pair, weighted by p_ui = 1/sqrt(|N_u| |N_i|)). The user
and item vectors are [E(0), E(1)/|E(1)|, ..., E(n)/|E(n)|] per row (D = (n_layers + 1) d);
scores and loss are BPRMF's (model/bprmf.py). Shape letters: model/__init__.py.

Choices where the paper and the authors' public code differ, or the paper is silent:

- Normalisation: the paper's symmetric L without self-loops, the self-connection added as
  the explicit ``+ I`` of the W1 term only, as Eq. 7 writes it. (The authors' code
  propagates over D^-1 (A + I), which also puts the node itself into the affinity term.)
  It is LightGCN's adjacency, so both share one cached normalisation.
- One LeakyReLU over the sum of the messages (Eqs. 4 and 7), slope 0.2 (TensorFlow's
  default, which the authors' code uses; the paper gives none). The code applies one
  LeakyReLU per transform, each with its own bias; under the paper's single activation
  those two biases would only add up, so each layer has one bias ``b`` (kept with W1).
- Each propagated layer is l2-normalised per row before the concatenation, as in the
  authors' code, with which NGCF's published numbers were made (the paper is silent): it
  keeps every layer's share of the inner product bounded whatever the scale W1 and W2
  learn. E(l) itself, not its normalised copy, feeds layer l+1.
- L2: on the batch's ego (layer-0) rows, as BPRMF and LightGCN. The authors' code
  regularises the batch's final vectors, whose normalised parts have constant norm: that is
  the same gradient, without the constant.
- Message dropout (``message_dropout``): each E(l) is dropped out (kept entries scaled by
  1 / (1 - rate)) before it is concatenated and propagated further.
- Node dropout (``node_dropout``): entries of L are dropped out (scaled likewise), one mask
  per training step shared by all layers, as the authors' code does (the paper describes
  dropping whole nodes). The ``+ I`` self-connection is kept.
Both dropouts act in training only; evaluation propagates without them.
"""
import tensorflow.compat.v1 as tf

from model.base import SYMMETRIC, config_record
from model.bprmf import BPRMF
from model.layers import dense_weights
from model.propagation import sparse_product, split_nodes

LEAKY_RELU_SLOPE = 0.2


class NGCF(BPRMF):
    """NGCF message passing with W1, W2 and LeakyReLU; see the module docstring."""
    Config = config_record("NGCFConfig", embed_size=64, lr=0.001, batch_size=2048,
                           n_layers=1, decay=1e-1, message_dropout=0.0, node_dropout=0.0)

    fixed_adjacency = SYMMETRIC

    def _build_weights(self):
        """Per layer l: ``layer{l}/W1`` (kernel d x d, bias d), the transform of the node and
        its neighbours' sum, and ``layer{l}/W2`` (kernel d x d), that of the affinity."""
        d = self.config.embed_size
        self.layer_weights = []
        for l in range(self.config.n_layers):
            with tf.variable_scope("layer%d" % l):
                self.layer_weights.append((dense_weights("W1", [d, d], True),
                                           dense_weights("W2", [d, d], False)["kernel"]))

    def vectors(self, training):
        """(U x D), (I x D) with D = (n_layers + 1) d; dropout only if ``training``."""
        config, adjacency = self.config, self.data.adjacency
        values = adjacency.values
        if training and config.node_dropout > 0:
            values = tf.nn.dropout(values, rate=config.node_dropout)
        propagate = sparse_product(adjacency.indices, values, adjacency.n_nodes)
        layer = tf.concat([self.user_embedding, self.item_embedding], axis=0)  # N x d
        outputs = [layer]
        for node_and_neighbours, affinity_kernel in self.layer_weights:
            neighbours = propagate(layer)  # L E
            messages = tf.nn.bias_add(tf.matmul(neighbours + layer,
                                                node_and_neighbours["kernel"]),
                                      node_and_neighbours["bias"]) \
                + tf.matmul(neighbours * layer, affinity_kernel)
            layer = tf.nn.leaky_relu(messages, alpha=LEAKY_RELU_SLOPE)
            if training and config.message_dropout > 0:
                layer = tf.nn.dropout(layer, rate=config.message_dropout)
            outputs.append(tf.nn.l2_normalize(layer, axis=1))
        return split_nodes(tf.concat(outputs, axis=1), self.n_users, self.n_items)
