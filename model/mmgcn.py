"""MMGCN (Wei et al., ACM MM 2019): one user-item graph per modality, each learning the users'
preference in that modality from the items' features, scores from their sum.

Per modality m (image; text when the data has it), over all N nodes at once:

    x(0) = rownorm([P_m; X_m W0_m])                      users' preference P_m (U x d), the
                                                         items' features projected (I x d)
    h    = LeakyReLU(mean over the node's neighbours of x(l) W1)     aggregation (Eq. 2)
    x^   = LeakyReLU(x(l) W2) + e_id                                 (Eq. 5)
    x(l+1) = LeakyReLU([h, x^] W3)                                   combination (Eq. 6)

with e_id the node's ID embedding (users and items, d), shared by every modality's graph;
W1, W2 (d x d) and W3 (2d x d) are the layer's own in each modality. After n_layers layers,
u* = sum over m of x_m(L)[u], i* likewise, and s(u, i) = <u*, i*> (the paper's prediction;
D = d). Shape letters: model/__init__.py.

Choices, where the paper leaves room or its public code differs:

- Aggregation: the paper's mean aggregation f_avg (D^-1 A, the graph without self-loops),
  which the public code also runs; the max variant is not offered.
- Combination: the concatenation g_co, which the public code runs (its ``concate`` flag is
  the string 'False', which Python reads as true); the paper offers it beside g_ele.
- The ID enters each modality's graph through Eq. 5, as in the paper and its public code;
  there is no separate graph of ID embeddings alone.
- Features are first projected to d (W0_m, no bias), as the public code projects its visual
  features (to 256) before the graph: the paper's preference vectors in each feature's own
  space would hold 4,096 floats per user for VGG features. The layer-0 rows are
  l2-normalised (the public code's F.normalize; the paper is silent), so that features of
  any scale start alike.
- Users and items go through the same layer weights (the public code runs all nodes through
  one layer); no biases, as in the paper's equations. LeakyReLU slope 0.01, the public
  code's (PyTorch's default); the paper gives none.
- Scores: the sum of the modalities' representations, then one inner product, as the
  paper's prediction; the public code takes their mean, which only scales every score. So
  a score holds cross-modality products <x_image[u], x_text[i]> as well.
- Loss: BPR plus emb_loss = decay * l2 / batch_size over the batch's rows of the ID
  embeddings (users, positive and negative items) and of every modality's preference P_m
  (users). The weight matrices are not regularised.
"""
import collections

import tensorflow.compat.v1 as tf

from model.base import ROW_SCALED, Recommender, config_record
from model.layers import batch_rows, bpr_of_vectors, glorot_weight, id_embeddings, l2_penalty
from model.propagation import neighbour_mean, split_nodes
from model.ranking import inner_product_ranking

LEAKY_RELU_SLOPE = 0.01


def leaky_relu(x):
    return tf.nn.leaky_relu(x, alpha=LEAKY_RELU_SLOPE)


class MMGCN(Recommender):
    """Multi-modal Graph Convolution Network; see the module docstring."""
    Config = config_record("MMGCNConfig", embed_size=64, lr=0.001, batch_size=2048,
                           n_layers=2, decay=1e-2)

    reads_all_features = True
    # Rows scaled, columns not: neighbour_mean turns it into D^-1 A.
    fixed_adjacency = ROW_SCALED

    def _build(self):
        config, inputs = self.config, self.inputs
        self.modalities = list(self.data.features)
        self.user_embedding, self.item_embedding = id_embeddings(self.n_users, self.n_items,
                                                                 config.embed_size)
        self.preferences = {}
        aggregate = neighbour_mean(self.data.adjacency)
        ids = tf.concat([self.user_embedding, self.item_embedding], axis=0)  # N x d
        nodes = tf.add_n([self.modality_graph(m, ids, aggregate) for m in self.modalities])
        users, items = split_nodes(nodes, self.n_users, self.n_items)
        mf_loss = bpr_of_vectors(*batch_rows(users, items, inputs))
        regularised = batch_rows(self.user_embedding, self.item_embedding, inputs)
        regularised += [tf.gather(self.preferences[m], inputs.users) for m in self.modalities]
        emb_loss = l2_penalty(regularised, config.decay, config.batch_size)
        self.training = self._optimise(mf_loss + emb_loss, collections.OrderedDict(
            [("mf_loss", mf_loss), ("emb_loss", emb_loss)]), config.lr)
        self.ranking = inner_product_ranking(users, items)

    def modality_graph(self, modality, ids, aggregate):
        """x_m(n_layers) of every node (N x d); its variables in scope ``modality``."""
        d = self.config.embed_size
        with tf.variable_scope(modality):
            self.preferences[modality] = glorot_weight("user_preference", [self.n_users, d])
            projection = glorot_weight("feature_projection",
                                       [self.shape.feature_dims[modality], d])
            x = tf.nn.l2_normalize(tf.concat([
                self.preferences[modality],
                tf.matmul(self.data.features[modality], projection)], axis=0), axis=1)
            for l in range(self.config.n_layers):
                with tf.variable_scope("layer%d" % l):
                    aggregation = glorot_weight("aggregation", [d, d])
                    own = glorot_weight("own", [d, d])
                    combination = glorot_weight("combination", [2 * d, d])
                neighbours = leaky_relu(aggregate(tf.matmul(x, aggregation)))
                node = leaky_relu(tf.matmul(x, own)) + ids
                x = leaky_relu(tf.matmul(tf.concat([neighbours, node], axis=1), combination))
        return x
