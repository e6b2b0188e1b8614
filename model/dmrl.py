"""DMRL (Liu et al., IEEE TMM 2022): disentangled multimodal representations, each split into
n_factors factors, mixed per factor by a user-aware attention over the modalities.

Sources s: the item's ID embedding and one projected representation per modality of the
data (image, then text), each d wide. Every d-vector splits into K = n_factors factors of
width d/K; x_{s,k}(i) is factor k of source s of item i, u_k factor k of user u.

    x_m(i)     = l2norm(LeakyReLU(l2norm(f_m(i)) W1_m + b1_m)) W2_m + b2_m    (per modality)
    a_k(u, i)  = softmax(tanh(l2norm([u_k, x_{1,k}(i), ..., x_{S,k}(i)]) Wh + bh) Wo)
    s(u, i)    = sum_k sum_s a_{k,s}(u, i) softplus(<u_k, x_{s,k}(i)>)

Wh ((S + 1) d/K x S), bh (S), Wo (S x S) are shared by the factors. The attention depends on
the user and the item, so scores are not inner products of a user and an item vector: both
protocols score (user, item) pairs (the full protocol all items of a group of users at once).

Loss of a batch: BPR on s(u, i) - s(u, j), plus

    emb_loss  = decay * l2(u, v_i, v_j, x_m(i), x_m(j) for every m) / batch_size
    dcor_loss = dcor_weight * sum over k < K - 1 of dCor(y_k, y_{k+1}) / (K (K + 1) / 2)

summed over y = the batch's users, positive items' ID embeddings and each modality's
positive items' representations: consecutive factors are pushed apart by their (sample)
distance correlation over the batch's rows. Shape letters: model/__init__.py.

Choices, following the public code where the paper leaves room (docs/baselines-multimodal.md):
hidden widths 512 for image and 256 for text features (its 2 x 256 and 2 x 128); its dropout
is inactive there (tf.layers.dropout outside training) and left out; LeakyReLU slope 0.2;
the distance correlation with its epsilons (1e-8 under each square root, 1e-10 in the
ratio). Unlike the public code, which hands Adam only the ID tables (the projections and
the attention stay at their random initial values), every weight is trained. One sampled
negative per positive and the batch mean, as the harness samples (public: the hardest of
four negatives, the batch sum).
"""
import collections

import tensorflow.compat.v1 as tf

from model.base import Recommender, config_record
from model.layers import bpr_loss, dense_weights, glorot_weight, id_embeddings, l2_penalty
from model.ranking import Ranking, Serving, cache, sampled_ranking, scored_full_ranking

HIDDEN_WIDTHS = {"image": 512, "text": 256}
LEAKY_RELU_SLOPE = 0.2
DISTANCE_EPSILON, DCOV_EPSILON, DCOR_EPSILON = 1e-8, 1e-8, 1e-10
NORM_EPSILON = 1e-12  # tf.nn.l2_normalize's floor on the squared norm


def centred_distances(rows):
    """Double-centred Euclidean distances between ``rows`` (B x w): B x B."""
    squares = tf.reduce_sum(tf.square(rows), axis=1, keepdims=True)
    # The diagonal set to its exact 0: float32 cancellation would leave ~1e-7 there, ten
    # times the epsilon.
    squared = tf.matrix_set_diag(squares - 2.0 * tf.matmul(rows, rows, transpose_b=True)
                                 + tf.transpose(squares), tf.zeros_like(squares[:, 0]))
    distances = tf.sqrt(tf.maximum(squared, 0.0) + DISTANCE_EPSILON)
    return distances - tf.reduce_mean(distances, axis=0, keepdims=True) \
        - tf.reduce_mean(distances, axis=1, keepdims=True) + tf.reduce_mean(distances)


def distance_covariance(a, b):
    """Sample distance covariance from two double-centred distance matrices (B x B): a
    scalar."""
    n = tf.cast(tf.shape(a)[0], tf.float32)
    return tf.sqrt(tf.maximum(tf.reduce_sum(a * b) / (n * n), 0.0) + DCOV_EPSILON)


def consecutive_distance_correlations(factors):
    """sum over k of dCor(factors[k], factors[k + 1]) for a list of B x w tensors. Each
    factor's centred distances and distance variance are built once, although a middle
    factor takes part in two pairs: the B x B matrices are most of DMRL's training time."""
    if len(factors) < 2:
        return tf.constant(0.0)
    centred = [centred_distances(rows) for rows in factors]
    variances = [distance_covariance(c, c) for c in centred]
    return tf.add_n([distance_covariance(centred[k], centred[k + 1])
                     / (tf.sqrt(tf.maximum(variances[k] * variances[k + 1], 0.0))
                        + DCOR_EPSILON) for k in range(len(factors) - 1)])


class DMRL(Recommender):
    """Factor-wise attention over ID and modality representations; see the docstring."""
    Config = config_record("DMRLConfig", embed_size=64, lr=0.001, batch_size=2048, decay=1e-2,
                           n_factors=4, dcor_weight=1.0)

    reads_all_features = True

    def _build(self):
        config = self.config
        if config.embed_size % config.n_factors:
            raise ValueError("DMRL needs --embed_size divisible by --n_factors")
        self.modalities = list(self.data.features)
        self.n_sources = 1 + len(self.modalities)
        self.factor_width = config.embed_size // config.n_factors
        self.user_embedding, self.item_embedding = id_embeddings(
            self.n_users, self.n_items, config.embed_size)
        self.projections = {}
        for m in self.modalities:
            with tf.variable_scope(m):
                self.projections[m] = (
                    dense_weights("hidden", [self.shape.feature_dims[m], HIDDEN_WIDTHS[m]],
                                  bias=True),
                    dense_weights("output", [HIDDEN_WIDTHS[m], config.embed_size], bias=True))
        with tf.variable_scope("attention"):
            # Wh by rows: the user factor's block, then each source's.
            self.attention = FactorAttention({
                "hidden": glorot_weight("hidden/kernel", [(self.n_sources + 1)
                                                          * self.factor_width,
                                                          self.n_sources]),
                "bias": tf.get_variable("hidden/bias", [self.n_sources], tf.float32,
                                        tf.zeros_initializer()),
                "output": glorot_weight("output/kernel", [self.n_sources, self.n_sources])},
                config.n_factors)
        self.training = self._build_training()
        self.ranking = self._build_ranking()

    def represent(self, modality, rows):
        """x_m of feature ``rows`` (B x F_m): B x d."""
        hidden_weights, output_weights = self.projections[modality]
        hidden = tf.nn.leaky_relu(tf.nn.bias_add(tf.matmul(tf.nn.l2_normalize(rows, axis=1),
                                                           hidden_weights["kernel"]),
                                                 hidden_weights["bias"]), alpha=LEAKY_RELU_SLOPE)
        return tf.nn.bias_add(tf.matmul(tf.nn.l2_normalize(hidden, axis=1),
                                        output_weights["kernel"]), output_weights["bias"])

    def sources(self, items):
        """[ID, x_m for each modality] of ``items`` ((B,), or None for all): each B x d."""
        pick = (lambda table: table) if items is None else (lambda table: tf.gather(table, items))
        return [pick(self.item_embedding)] + [self.represent(m, pick(self.data.features[m]))
                                              for m in self.modalities]

    def _build_training(self):
        config, inputs = self.config, self.inputs
        users = tf.gather(self.user_embedding, inputs.users)
        positive, negative = self.sources(inputs.pos_items), self.sources(inputs.neg_items)
        mf_loss = bpr_loss(self.attention.pair_scores(users, positive),
                           self.attention.pair_scores(users, negative))
        emb_loss = l2_penalty([users] + positive + negative, config.decay, config.batch_size)
        dcor_loss = config.dcor_weight * self.factor_correlation([users] + positive)
        return self._optimise(mf_loss + emb_loss + dcor_loss, collections.OrderedDict(
            [("mf_loss", mf_loss), ("emb_loss", emb_loss), ("dcor_loss", dcor_loss)]),
            config.lr)

    def factor_correlation(self, tables):
        """Mean-normalised sum of dCor between consecutive factors of each of ``tables``."""
        k = self.config.n_factors
        return tf.add_n([consecutive_distance_correlations(tf.split(rows, k, axis=1))
                         for rows in tables]) / ((k + 1.0) * k / 2.0)

    def _build_ranking(self):
        """Per-item source rows cached once per evaluation; pairs scored from the cache."""
        tables, refresh = cache({"users": self.user_embedding,
                                 "item_sources": tf.concat(self.sources(None), axis=1)})
        attention = self.attention

        def score_candidates(users, candidates):
            groups = tf.unstack(tf.shape(candidates))
            user_rows = tf.gather(tables["users"], users)
            repeated = tf.reshape(tf.tile(user_rows[:, None], [1, groups[1], 1]),
                                  [-1, self.config.embed_size])
            items = tf.gather(tables["item_sources"], tf.reshape(candidates, [-1]))
            return tf.reshape(attention.pair_scores(repeated, attention.split_sources(items)),
                              groups)

        self.serving = Serving(dict(tables, **{"attention_" + name: weight for name, weight
                                               in attention.weights.items()}), serving_scores)
        return Ranking(refresh, sampled_ranking(score_candidates), scored_full_ranking(
            lambda users: attention.all_items(tf.gather(tables["users"], users),
                                              tables["item_sources"]), tf.no_op()))


def serving_scores(tables, users):
    """G x I scores of ``users`` (G,) from the tables of ``DMRL.serving`` (tensors, in any
    graph): what export.py's SavedModel computes."""
    attention = FactorAttention({name[len("attention_"):]: value
                                 for name, value in tables.items()
                                 if name.startswith("attention_")},
                                int(tables["users"].shape[1])
                                // attention_factor_width(tables["attention_hidden"],
                                                          tables["attention_output"]))
    return attention.all_items(tf.gather(tables["users"], users), tables["item_sources"])


def attention_factor_width(hidden, output):
    """The factor width w of an attention whose Wh is ``hidden`` ((S + 1) w x S)."""
    return int(hidden.shape[0]) // (int(output.shape[0]) + 1)


class FactorAttention(object):
    """a_k(u, i) and the score s(u, i) from the attention's ``weights`` (``hidden`` Wh,
    ``bias`` bh, ``output`` Wo), for ``n_factors`` factors of S sources."""

    def __init__(self, weights, n_factors):
        self.weights, self.n_factors = weights, n_factors
        self.n_sources = int(weights["output"].shape[0])
        self.width = attention_factor_width(weights["hidden"], weights["output"])

    def factors(self, rows):
        """(B x d) -> (B x K x w)."""
        return tf.reshape(rows, [-1, self.n_factors, self.width])

    def split_sources(self, rows):
        """(B x S d) -> S tensors B x d."""
        return tf.split(rows, self.n_sources, axis=1)

    def user_side(self, users):
        """What the score needs of user rows (B x d): factors (B x K x w), their part of the
        attention's hidden pre-activation (B x K x S) and squared norms (B x K x 1)."""
        factors = self.factors(users)
        return factors, self._project(factors, 0), tf.reduce_sum(tf.square(factors), 2,
                                                                 keepdims=True)

    def item_side(self, sources):
        """The same of item source rows (S tensors B x d): factors (B x S x K x w), hidden
        part (B x K x S) and squared norms (B x K x 1)."""
        factors = tf.stack([self.factors(rows) for rows in sources], axis=1)
        hidden = tf.add_n([self._project(factors[:, s], s + 1) for s in range(self.n_sources)])
        return factors, hidden, tf.reduce_sum(tf.square(factors), [1, 3])[:, :, None]

    def _project(self, factors, block):
        """factors (B x K x w) times rows ``block`` of Wh: B x K x S."""
        w = self.width
        kernel = self.weights["hidden"][block * w:(block + 1) * w]
        return tf.reshape(tf.matmul(tf.reshape(factors, [-1, w]), kernel),
                          [-1, self.n_factors, self.n_sources])

    def mix(self, products, user_hidden, item_hidden, user_norms, item_norms):
        """s from broadcastable parts: products <u_k, x_{s,k}> (... x K x S), hidden parts
        (... x K x S), squared norms (... x K x 1); sums over K and S."""
        scale = tf.rsqrt(tf.maximum(user_norms + item_norms, NORM_EPSILON))
        hidden = tf.tanh((user_hidden + item_hidden) * scale + self.weights["bias"])
        logits = tf.reduce_sum(hidden[..., None] * self.weights["output"], axis=-2)
        return tf.reduce_sum(tf.nn.softmax(logits) * tf.nn.softplus(products), axis=[-2, -1])

    def pair_scores(self, users, sources):
        """s(u_r, i_r) of row pairs: user rows (P x d), item source rows (S tensors P x d)."""
        user_factors, user_hidden, user_norms = self.user_side(users)
        item_factors, item_hidden, item_norms = self.item_side(sources)
        products = tf.transpose(tf.reduce_sum(user_factors[:, None] * item_factors, axis=3),
                                [0, 2, 1])  # P x K x S
        return self.mix(products, user_hidden, item_hidden, user_norms, item_norms)

    def all_items(self, users, item_sources):
        """G x I: user rows (G x d) against every item's source rows (I x S d)."""
        item_factors, item_hidden, item_norms = self.item_side(self.split_sources(item_sources))
        user_factors, user_hidden, user_norms = self.user_side(users)
        by_factor = tf.transpose(user_factors, [1, 0, 2])  # K x G x w
        # K x G x I x S: per factor, (G x w) times (w x I) for each source.
        products = tf.stack([tf.matmul(by_factor, tf.transpose(item_factors[:, s], [1, 2, 0]))
                             for s in range(self.n_sources)], axis=3)
        return self.mix(tf.transpose(products, [1, 2, 0, 3]), user_hidden[:, None],
                        item_hidden[None], user_norms[:, None], item_norms[None])
