"""SVD++ (Koren, KDD 2008) for implicit feedback, trained with BPR as the MCLN paper's baseline.

    s(u, i) = b_i + <q_i, p_u + |N(u)|^-1/2 sum over j in N(u) of y_j>

p_u (U x d) and q_i (I x d) are the ID factors, y_j (I x d) the implicit factor of each item
a user has trained on, N(u) the user's training items (under ``--valid`` without its
validation item), b_i the item bias. Koren's global mean mu and user bias b_u are left out:
they add the same amount to all of a user's scores, so they cancel in the BPR difference
s(u, pos) - s(u, neg) and never change a ranking; they would get no gradient.

The implicit sum for every user at once is one sparse product M Y, M = D_U^-1/2 R (U x I)
the train matrix with each user's row scaled by |N(u)|^-1/2. M comes from the adjacency the
harness builds with column exponent 0 and no self-loops, L = D^-1/2 A: its user rows are
exactly [0, M]. Every score is then one inner product, user vector [p_u + (M Y)_u, 1] and
item vector [q_i, b_i] (D = d + 1), so both protocols are the shared cached ones and full
ranking costs what BPRMF's does.

Loss: BPR plus emb_loss = decay * l2 / batch_size over the batch's rows: p_u of its users,
q_i and b_i of its positive and negative items, and y_j for every j in N(u) of each of its
users (Koren's SGD regularises exactly the y_j a user's update touches). Shape letters:
model/__init__.py.
"""
import collections

import tensorflow.compat.v1 as tf

from model.base import ROW_SCALED, Recommender, config_record
from model.layers import bpr_of_vectors, glorot_weight, id_embeddings, l2_penalty, zeros_weight
from model.propagation import sparse_product
from model.ranking import inner_product_ranking


class SVDPP(Recommender):
    """Matrix factorisation with the implicit-feedback user term of SVD++."""
    Config = config_record("SVDPPConfig", embed_size=64, lr=0.001, batch_size=2048, decay=1e-1)

    # Rows scaled by |N|^-1/2, columns not: the user rows are M (MMGCN's cached graph).
    fixed_adjacency = ROW_SCALED

    def _build(self):
        config, inputs = self.config, self.inputs
        self.user_embedding, self.item_embedding = id_embeddings(self.n_users, self.n_items,
                                                                 config.embed_size)  # p, q
        self.implicit_embedding = glorot_weight("implicit_embedding",
                                                [self.n_items, config.embed_size])  # y
        self.item_bias = zeros_weight("item_bias", [self.n_items, 1])  # b_i
        users, items = self.user_vectors(), self.item_vectors()
        batch = [tf.gather(users, inputs.users), tf.gather(items, inputs.pos_items),
                 tf.gather(items, inputs.neg_items)]
        mf_loss = bpr_of_vectors(*batch)
        regularised = [tf.gather(self.user_embedding, inputs.users)]
        for rows in (inputs.pos_items, inputs.neg_items):
            regularised += [tf.gather(self.item_embedding, rows), tf.gather(self.item_bias, rows)]
        emb_loss = l2_penalty(regularised, config.decay, config.batch_size)
        emb_loss += config.decay * tf.reduce_sum(
            tf.gather(self.history_squares(), inputs.users)) / 2.0 / config.batch_size
        self.training = self._optimise(mf_loss + emb_loss, collections.OrderedDict(
            [("mf_loss", mf_loss), ("emb_loss", emb_loss)]), config.lr)
        self.ranking = inner_product_ranking(users, items)

    def user_rows_of(self, item_values):
        """M item_values: each user's |N(u)|^-1/2-scaled sum over its training items,
        (I x k) -> (U x k), as the user rows of L [0; item_values]."""
        adjacency = self.data.adjacency
        multiply = sparse_product(adjacency.indices, adjacency.values, adjacency.n_nodes)
        padded = tf.concat([tf.zeros([self.n_users, item_values.shape[1]]), item_values], 0)
        return multiply(padded)[:self.n_users]

    def implicit_sums(self):
        """|N(u)|^-1/2 sum over j in N(u) of y_j for every user: U x d."""
        return self.user_rows_of(self.implicit_embedding)

    def history_squares(self):
        """sum over j in N(u) of |y_j|^2 per user (U,): M |y|^2 times |N(u)|^1/2 = M 1."""
        squares = tf.reduce_sum(tf.square(self.implicit_embedding), axis=1, keepdims=True)
        scaled = self.user_rows_of(tf.concat([squares, tf.ones_like(squares)], axis=1))
        return scaled[:, 0] * scaled[:, 1]

    def user_vectors(self):
        """[p_u + implicit sum, 1] of every user: U x (d + 1)."""
        return tf.concat([self.user_embedding + self.implicit_sums(),
                          tf.ones([self.n_users, 1])], axis=1)

    def item_vectors(self):
        """[q_i, b_i] of every item: I x (d + 1)."""
        return tf.concat([self.item_embedding, self.item_bias], axis=1)
