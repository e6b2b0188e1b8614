"""VBPR (He & McAuley, AAAI 2016): matrix factorisation with a visual preference term.

    s(u, i) = beta_i + <gamma_u, gamma_i> + <theta_u, E f_i> + <beta', f_i>

gamma: ID factors (d), theta_u: the user's preference over the projected features (d),
f_i: the item's features, the image row and (when the data has text) the title row
concatenated (F), E (F x d) their projection, beta' (F) the feature bias and beta_i the item
bias of the paper's Eq. 3. The paper's global offset alpha and user bias beta_u are left out:
they add the same amount to every item of a user, so neither the BPR loss nor any ranking
sees them (the paper drops them for the same reason).

Every score is one inner product: user vector [gamma_u, theta_u, 1, 1] and item vector
[gamma_i, f_i E, f_i beta', beta_i], so D = 2d + 2. The concatenated f_i is never built:
f_i [E beta'] is the sum over modalities of each row times its block of rows of [E beta'].

Loss: BPR on s(u, i) plus emb_loss = decay * l2 / batch_size over the batch's rows of
gamma_u, theta_u (users) and gamma_i, beta_i (positive and negative items), plus, with
feature_decay > 0, the paper's lambda_E term on E and beta': feature_decay * l2(E, beta'),
not divided by the batch size (they are shared by every sample, so this is the per-sample
penalty of the paper's SGD averaged over the batch). Shape letters: model/__init__.py.
"""
import collections

import tensorflow.compat.v1 as tf

from model.base import Recommender, config_record
from model.layers import bpr_of_vectors, glorot_weight, id_embeddings, l2_penalty, zeros_weight
from model.ranking import inner_product_ranking


class VBPR(Recommender):
    """Visual Bayesian Personalised Ranking over every feature modality of the data."""
    Config = config_record("VBPRConfig", embed_size=64, lr=0.001, batch_size=2048, decay=1e-1,
                           feature_decay=1e-2)

    reads_all_features = True

    def _build(self):
        d = self.config.embed_size
        self.modalities = list(self.data.features)
        widths = [self.shape.feature_dims[m] for m in self.modalities]
        self.user_embedding, self.item_embedding = id_embeddings(self.n_users, self.n_items, d)
        self.user_feature_preference = glorot_weight("user_feature_preference",
                                                     [self.n_users, d])   # theta
        self.feature_projection = glorot_weight("feature_projection", [sum(widths), d])  # E
        self.feature_bias = glorot_weight("feature_bias", [sum(widths), 1])  # beta'
        self.item_bias = zeros_weight("item_bias", [self.n_items, 1])  # beta_i
        # [E beta'] split into each modality's rows: F_m x (d + 1).
        self.feature_blocks = tf.split(
            tf.concat([self.feature_projection, self.feature_bias], axis=1), widths, axis=0)
        self.training = self._build_training()
        self.ranking = inner_product_ranking(self.user_vectors(None), self.item_vectors(None))

    def user_vectors(self, users):
        """[gamma_u, theta_u, 1, 1] of ``users`` ((B,), or None for all users): rows x D."""
        rows = [self.user_embedding, self.user_feature_preference]
        if users is not None:
            rows = [tf.gather(table, users) for table in rows]
        return tf.concat(rows + [tf.ones_like(rows[0][:, :2])], axis=1)

    def item_vectors(self, items):
        """[gamma_i, f_i E, f_i beta', beta_i] of ``items`` ((B,), or None for all): rows x D.

        Rows are gathered before the projection: a batch projects only its own features.
        """
        pick = (lambda table: table) if items is None else (lambda table: tf.gather(table, items))
        feature_terms = tf.add_n([tf.matmul(pick(self.data.features[m]), block)
                                  for m, block in zip(self.modalities, self.feature_blocks)])
        return tf.concat([pick(self.item_embedding), feature_terms, pick(self.item_bias)], axis=1)

    def _build_training(self):
        inputs, config = self.inputs, self.config
        mf_loss = bpr_of_vectors(self.user_vectors(inputs.users),
                                 self.item_vectors(inputs.pos_items),
                                 self.item_vectors(inputs.neg_items))
        regularised = [tf.gather(self.user_embedding, inputs.users),
                       tf.gather(self.user_feature_preference, inputs.users)]
        for items in (inputs.pos_items, inputs.neg_items):
            regularised += [tf.gather(table, items) for table in (self.item_embedding,
                                                                  self.item_bias)]
        emb_loss = l2_penalty(regularised, config.decay, config.batch_size)
        if config.feature_decay:
            emb_loss += l2_penalty([self.feature_projection, self.feature_bias],
                                   config.feature_decay, 1)
        return self._optimise(mf_loss + emb_loss, collections.OrderedDict(
            [("mf_loss", mf_loss), ("emb_loss", emb_loss)]), config.lr)
