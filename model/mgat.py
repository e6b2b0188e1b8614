"""MGAT (Tao et al., Information Processing & Management 2020): one user-item graph per
modality, as MMGCN, but each node weighs its neighbours by a gated attention instead of
averaging them.

Per modality m (image; text when the data has it), over all N nodes at once:

    x(0)     = rownorm([P_m; tanh(X_m W0_m + b0_m)])      users' preference P_m (U x d), the
                                                           items' features projected (I x d)
    z        = x(l) Wa                                     (N x d)
    s(h, t)  = <z_h, LeakyReLU(z_t)>                       for each edge h <- t of the graph
    g(h, t)  = sigmoid(s(h, t) / sqrt(|N(t)|))             the gate
    a(h, .)  = softmax over t in N(h) of s(h, t) g(h, t)   the gated attention
    n_h      = rownorm(sum over t in N(h) of a(h, t) z_t + ba)
    x(l+1)   = LeakyReLU( LeakyReLU(n) Wg + bg + LeakyReLU(x(l) Wo + bo) + e_id )

with e_id the node's ID embedding (users and items, d), shared by every modality's graph; Wa,
Wo, Wg (d x d) and their biases are the layer's own in each modality. A node's vector is
[x(1), ..., x(n_layers)] (D = n_layers d); u* and i* are the mean over modalities of those,
and s(u, i) = <u*, i*>. Shape letters: model/__init__.py.

Where the paper leaves the details open, this follows the authors' public code (its
GraphGAT layer and GNN module):

- The attention score is the inner product of the transformed node and its transformed,
  LeakyReLU-ed neighbour; the gate is the "inner product gate", the same score scaled by the
  inverse square root of the neighbour's degree (the code's deg[row], row being the message's
  source), through a sigmoid; the gate multiplies the score before the softmax over the
  node's neighbours. The aggregate gets a bias and is l2-normalised per row.
- Features are projected to d by a dense layer with tanh (the code projects to a latent
  width per modality, 256 for video; here d, so that every layer is d x d), and the layer-0
  rows are l2-normalised.
- Dense layers have biases and LeakyReLU slope 0.01 (PyTorch's default), as in the code.
- Layers: the code defines a second layer whose output is concatenated to the first's, but
  returns after the first; here ``n_layers`` layers run and are concatenated (preset 1, what
  the code runs). x(0) itself is not part of the node's vector, as in the code.
- Modalities: the mean of their node vectors, then one inner product (the code's mean), so
  a score holds cross-modality products as MMGCN's does.
- Loss: BPR (the code sums -log2 sigmoid over the batch; here the mean of -ln sigmoid, as
  every model of this harness) plus emb_loss = decay * l2 / batch_size over the batch's rows
  of the ID embeddings (users, positive and negative items) and of every modality's
  preference P_m (users), as MMGCN here; the code's Adam weight decay on all weights is not
  used. The graph is the train interactions without self-loops (repeats count once).
"""
import collections

import tensorflow.compat.v1 as tf

from model.base import ROW_SCALED, Recommender, config_record
from model.layers import (batch_rows, bpr_of_vectors, dense_weights, glorot_weight,
                          id_embeddings, l2_penalty)
from model.propagation import split_nodes
from model.ranking import inner_product_ranking

LEAKY_RELU_SLOPE = 0.01

# The graph's edges h <- t as (targets, sources) node ids (E,), sorted by target, the
# (E x 2) indices they come from, and |N(t)|^-1/2 per edge.
Edges = collections.namedtuple("Edges", "indices targets sources source_scale n_nodes")


def leaky_relu(x):
    return tf.nn.leaky_relu(x, alpha=LEAKY_RELU_SLOPE)


def dense(x, weights):
    return tf.nn.bias_add(tf.matmul(x, weights["kernel"]), weights["bias"])


def gated_attention(x, weights, edges):
    """n = rownorm(sum over t in N(h) of a(h, t) (x Wa)_t + ba) for every node h: N x d."""
    z = tf.matmul(x, weights["kernel"])
    neighbours = tf.gather(z, edges.sources)  # E x d
    scores = tf.reduce_sum(tf.gather(z, edges.targets) * leaky_relu(neighbours), axis=1)
    gated = scores * tf.sigmoid(scores * edges.source_scale)
    # Softmax over each row's entries: a node's neighbours.
    attention = tf.sparse.softmax(tf.SparseTensor(edges.indices, gated,
                                                  [edges.n_nodes, edges.n_nodes])).values
    summed = tf.math.unsorted_segment_sum(attention[:, None] * neighbours, edges.targets,
                                     edges.n_nodes)
    return tf.nn.l2_normalize(tf.nn.bias_add(summed, weights["bias"]), axis=1)


class MGAT(Recommender):
    """Multimodal Graph Attention Network; see the module docstring."""
    Config = config_record("MGATConfig", embed_size=64, lr=0.001, batch_size=2048,
                           n_layers=1, decay=1e-2)

    reads_all_features = True
    # L = D^-1/2 A: entry (h, t) is |N(h)|^-1/2, so L^T's entry (h, t) is |N(t)|^-1/2.
    fixed_adjacency = ROW_SCALED

    def _build(self):
        config, inputs, adjacency = self.config, self.inputs, self.data.adjacency
        self.modalities = list(self.data.features)
        self.user_embedding, self.item_embedding = id_embeddings(self.n_users, self.n_items,
                                                                 config.embed_size)
        edges = Edges(adjacency.indices, adjacency.indices[:, 0], adjacency.indices[:, 1],
                      adjacency.transposed_values, adjacency.n_nodes)
        self.preferences = {}
        ids = tf.concat([self.user_embedding, self.item_embedding], axis=0)  # N x d
        nodes = tf.add_n([self.modality_graph(m, ids, edges) for m in self.modalities]) \
            / float(len(self.modalities))
        users, items = split_nodes(nodes, self.n_users, self.n_items)
        mf_loss = bpr_of_vectors(*batch_rows(users, items, inputs))
        regularised = batch_rows(self.user_embedding, self.item_embedding, inputs)
        regularised += [tf.gather(self.preferences[m], inputs.users) for m in self.modalities]
        emb_loss = l2_penalty(regularised, config.decay, config.batch_size)
        self.training = self._optimise(mf_loss + emb_loss, collections.OrderedDict(
            [("mf_loss", mf_loss), ("emb_loss", emb_loss)]), config.lr)
        self.ranking = inner_product_ranking(users, items)

    def modality_graph(self, modality, ids, edges):
        """[x_m(1), ..., x_m(n_layers)] of every node (N x n_layers d); its variables in scope
        ``modality``."""
        d = self.config.embed_size
        with tf.variable_scope(modality):
            self.preferences[modality] = glorot_weight("user_preference", [self.n_users, d])
            projection = dense_weights("feature_projection",
                                       [self.shape.feature_dims[modality], d], True)
            x = tf.nn.l2_normalize(tf.concat([
                self.preferences[modality],
                tf.tanh(dense(self.data.features[modality], projection))], axis=0), axis=1)
            outputs = []
            for l in range(self.config.n_layers):
                with tf.variable_scope("layer%d" % l):
                    attention = dense_weights("attention", [d, d], True)
                    own = dense_weights("own", [d, d], True)
                    combination = dense_weights("combination", [d, d], True)
                neighbours = leaky_relu(gated_attention(x, attention, edges))
                node = leaky_relu(dense(x, own)) + ids
                x = leaky_relu(dense(neighbours, combination) + node)
                outputs.append(x)
        return tf.concat(outputs, axis=1)
