"""InvRL (Du et al., ACM MM 2022): invariant item representations, learned by masking the
multimodal features so that the model's risk stays alike across inferred environments.

Scores: the public code's UltraGCN recommender with masked features,

    s(u, i) = <p_u, [v_i, (g * f_i) W]>,      g = clip(mu + 0.5, 0, 1)

p_u (2d) the user's vector, v_i (d) the item's ID vector, f_i (F) the item's features (each
modality's row l2-normalised, then concatenated: image, text), W (F x d) their projection
and g (F) the mask over feature dimensions, a hard sigmoid of the learned mu (zeros at
start: g = 0.5). The invariant representation is (g * f_i) W; D = 2d.

Loss of a batch of (u, i, j) rows (one sampled negative j per positive i):

    l_r      = (1 + b_u b_i) softplus(-s(u, i)) + (1 + b_u b_j) softplus(s(u, j))
    b_u      = sqrt(deg_u + 1) / deg_u,  b_i = 1 / sqrt(deg_i + 1)      (UltraGCN's constraint)
    mf_loss  = mean of l_r
    irm_loss = irm_weight * sum_e (dR_e / dw_e at w = 1)^2 + mask_decay * sum(mu^2)
    emb_loss = decay * l2(p_u, v_i, v_j) / batch_size + feature_decay * l2(W)

with R_e the mean of l_r over the rows of environment e, and w_e a dummy multiplier of the
feature term of those rows' scores (IRMv1's penalty, Arjovsky et al. 2019: the squared
gradient of each environment's risk with respect to a fixed scale of the representation).

Environments: each row r of a batch is assigned, without gradient, to one of n_envs
environments from gamma_r = d l_r / d w at w = 1, the row's own contribution to that
gradient under the current weights: rows sorted by gamma_r, then cut into n_envs groups of
(nearly) equal size. Grouping rows of like gamma makes each environment's mean gradient as
far from zero as equal groups allow, a closed-form stand-in for inferring the environments
that most violate invariance. Shape letters: model/__init__.py.

Simplifications against the public code (docs/baselines-multimodal.md says the same):
the public code alternates stages (per-environment models trained to convergence and each
interaction moved to the environment whose model scores it highest; then the mask learned
with frozen pre-trained embeddings; five rounds; then UltraGCN retrained with the mask
fixed). Here the environments are re-inferred in every batch in closed form and the mask,
the projection and the embeddings are learned jointly in one train op. Its penalty is the
variance across environments of the gradients of the projection weights; this uses IRMv1's
scalar-multiplier form, cheaper by the feature width. The mask's noise (sigma = 0.01 in
training) is left out: scores are deterministic. UltraGCN's item-item constraint graph
(unused by the public InvRL code) and its 50 negatives per positive are not reproduced:
one negative, as the harness samples. The projection's bias is left out: <p_u, [0, b]> is
the same for every item of a user, so neither the loss's ranking part nor any ranking sees
it (the constraint-weighted loss would, slightly).
"""
import collections

import tensorflow.compat.v1 as tf

from model.base import ROW_SCALED, Recommender, config_record
from model.layers import glorot_weight, l2_penalty, row_dot, zeros_weight
from model.propagation import sparse_product
from model.ranking import inner_product_ranking

DEGREE_FLOOR = 1e-10  # the public code's floor on a user's degree


class InvRL(Recommender):
    """Masked-feature UltraGCN with an IRMv1 penalty over batch-inferred environments."""
    Config = config_record("InvRLConfig", embed_size=64, lr=0.001, batch_size=2048, decay=1e-2,
                           feature_decay=1e-2, n_envs=10, irm_weight=1.0, mask_decay=0.1)

    reads_all_features = True
    # Only the degrees are read: rows of D^-0.5 A sum to sqrt(degree).
    fixed_adjacency = ROW_SCALED

    def _build(self):
        d = self.config.embed_size
        self.modalities = list(self.data.features)
        self.features = tf.concat([tf.nn.l2_normalize(self.data.features[m], axis=1)
                                   for m in self.modalities], axis=1)  # I x F
        width = sum(self.shape.feature_dims[m] for m in self.modalities)
        self.user_embedding = glorot_weight("user_embedding", [self.n_users, 2 * d])
        self.item_embedding = glorot_weight("item_embedding", [self.n_items, d])
        self.feature_projection = glorot_weight("feature_projection", [width, d])
        self.mask_logits = zeros_weight("mask_logits", [width])
        self.mask = tf.clip_by_value(self.mask_logits + 0.5, 0.0, 1.0)
        self.training = self._build_training()
        self.ranking = inner_product_ranking(self.user_embedding, self.item_vectors(None))

    def invariant_features(self, items):
        """(g * f_i) W of ``items`` ((B,), or None for all): rows x d."""
        rows = self.features if items is None else tf.gather(self.features, items)
        return tf.matmul(rows * self.mask, self.feature_projection)

    def item_vectors(self, items):
        ids = self.item_embedding if items is None else tf.gather(self.item_embedding, items)
        return tf.concat([ids, self.invariant_features(items)], axis=1)

    def constraint_weights(self):
        """UltraGCN's b_u (U,) and b_i (I,) from the training graph's degrees."""
        n_nodes = self.n_users + self.n_items
        adjacency = self.data.adjacency
        root_degrees = sparse_product(adjacency.indices, adjacency.values, n_nodes)(
            tf.ones([n_nodes, 1]))[:, 0]
        users, items = tf.split(tf.square(root_degrees), [self.n_users, self.n_items])
        return (tf.sqrt(users + 1.0) / tf.maximum(users, DEGREE_FLOOR),
                tf.rsqrt(items + 1.0))

    def _build_training(self):
        config, inputs = self.config, self.inputs
        d = config.embed_size
        user_weight, item_weight = self.constraint_weights()
        b_u = tf.gather(user_weight, inputs.users)
        users = tf.gather(self.user_embedding, inputs.users)
        parts = {}
        for name, items in (("pos", inputs.pos_items), ("neg", inputs.neg_items)):
            ids = tf.gather(self.item_embedding, items)
            parts[name] = (row_dot(users[:, :d], ids),
                           row_dot(users[:, d:], self.invariant_features(items)),
                           1.0 + b_u * tf.gather(item_weight, items))
        # Kept for inspection (tests): each batch row's environment.
        self.batch_environments = environments = self.environments(parts)
        scales = tf.ones([config.n_envs])  # w: IRMv1's dummy multipliers, one per environment
        row_scales = tf.gather(scales, environments)
        losses = row_losses(parts, row_scales)
        counts = tf.unsorted_segment_sum(tf.ones_like(losses), environments, config.n_envs)
        risks = tf.unsorted_segment_sum(losses, environments, config.n_envs) \
            / tf.maximum(counts, 1.0)
        risk_gradients = tf.gradients(tf.reduce_sum(risks), scales)[0]
        mf_loss = tf.reduce_mean(losses)
        irm_loss = config.irm_weight * tf.reduce_sum(tf.square(risk_gradients)) \
            + config.mask_decay * tf.reduce_sum(tf.square(self.mask_logits))
        regularised = [users] + [tf.gather(self.item_embedding, items)
                                 for items in (inputs.pos_items, inputs.neg_items)]
        emb_loss = l2_penalty(regularised, config.decay, config.batch_size)
        if config.feature_decay:
            emb_loss += l2_penalty([self.feature_projection], config.feature_decay, 1)
        return self._optimise(mf_loss + emb_loss + irm_loss, collections.OrderedDict(
            [("mf_loss", mf_loss), ("emb_loss", emb_loss), ("irm_loss", irm_loss)]), config.lr)

    def environments(self, parts):
        """Each row's environment (B,), int32: rows ranked by gamma_r (their gradient with
        respect to the feature terms' scale), cut into n_envs groups of equal size."""
        (id_pos, feature_pos, weight_pos), (id_neg, feature_neg, weight_neg) = \
            parts["pos"], parts["neg"]
        gamma = tf.stop_gradient(
            -weight_pos * tf.sigmoid(-(id_pos + feature_pos)) * feature_pos
            + weight_neg * tf.sigmoid(id_neg + feature_neg) * feature_neg)
        ranks = tf.invert_permutation(tf.argsort(gamma, stable=True))
        return ranks * self.config.n_envs // tf.size(gamma)


def row_losses(parts, row_scales):
    """l_r of every row, the feature terms scaled by ``row_scales`` (B,)."""
    (id_pos, feature_pos, weight_pos), (id_neg, feature_neg, weight_neg) = \
        parts["pos"], parts["neg"]
    return (weight_pos * tf.nn.softplus(-(id_pos + row_scales * feature_pos))
            + weight_neg * tf.nn.softplus(id_neg + row_scales * feature_neg))
