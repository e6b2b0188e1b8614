"""MCLN (Li et al., SIGIR 2023) as a static graph: the math of training and scoring.

Default: the authors' release, exactly (``formulation="release"``, ``variant="full"``); the
paper's own equations where they differ (``formulation="paper"``) and the paper's ablation
variants (model/variants.py) are switches of the same code. docs/model.md states the
equations and where release and paper differ; each function below names the equations it
computes. Variable names are the release's, so that its checkpoints restore here.
Shape letters: model/__init__.py.

Rows that attend to each other form a *group*: the whole batch in training, one user's
candidate list in evaluation. Row tensors stay 2-D (rows x width) and are reshaped to
(G x R x width) only for the attention products, so many users are evaluated in one call
without their candidate lists mixing. The counterfactual ("int") items are the items whose
representation enters the counterfactual branch: sampled at random in training, the
candidates themselves in evaluation.
"""
import collections
import math

import tensorflow.compat.v1 as tf

from model import mcln_evaluation
from model.base import AdjacencyKind, Recommender, config_record
from model.layers import (batch_rows, bpr_of_vectors, dense_relu, dense_weights, glorot_weight,
                          id_embeddings, l2_penalty, layer_norm, layer_norm_weights,
                          softmax_mix)
from model.propagation import mean_of_layers, split_nodes
from model.ranking import grouped, inner_product_ranking
from model.variants import resolve

SHORT_NAMES = {"image": "v", "text": "t"}  # the release's suffixes (w1_v, w1_t)

# The weights of counterfactual learning layer l (scopes cd_cl{l} and cd_dense{l}).
LayerWeights = collections.namedtuple(
    "LayerWeights", "Q K V linear Q_int K_int attention_norm inner outer feed_forward_norm")
# What layer l computes with, derived from its weights (c x c each): the attention logits as
# bilinear forms, (h F) h^T for S (Eq. 12) and (z G) z^T for the counterfactual S* (Eq. 13),
# and the value map (V linear in the release, V in the paper).
LayerForms = collections.namedtuple("LayerForms", "factual counterfactual values")


class MCLN(Recommender):
    """The Multimodal Counterfactual Learning Network; see the module docstring."""
    Config = config_record(
        "MCLNConfig", embed_size=64, lr=0.001, batch_size=2048, n_layers=4, decay=1e-2,
        lambda_m=0.3, n_mca=2, adj_b=0.4, variant="full", formulation="release",
        gradients="hand", eval_lanes=2)
    uses_int_items = True

    @classmethod
    def adjacency_kind(cls, config):
        return AdjacencyKind(self_loops=True, column_exponent=config.adj_b)

    @classmethod
    def feature_modalities(cls, config, modalities):
        score_terms, cl_inputs = resolve(config.variant, modalities)
        return [m for m in modalities if m in score_terms or m in cl_inputs]

    def _build(self):
        config = self.config
        self.modalities = list(self.data.features)
        self.score_terms, self.cl_inputs = resolve(config.variant, list(self.shape.feature_dims))
        self.paper = config.formulation == "paper"
        self.hand_gradients = config.gradients == "hand"
        self.d = config.embed_size
        self.width = len(self.cl_inputs) * self.d  # c
        self._build_parameters()
        self.training = self._build_training()
        if self.cl_inputs:
            self.ranking = mcln_evaluation.build(self, config.eval_lanes)
        else:  # no counterfactual layers: an item's vector is its own, whatever the list
            users, items = self.propagate()
            self.ranking = inner_product_ranking(users, self.ranking_vectors(
                self.item_branches(None, items)))

    # ------------------------------------------------------------------------- parameters
    def _build_parameters(self):
        d, c = self.d, self.width
        self.user_embedding, self.item_embedding = id_embeddings(self.n_users, self.n_items, d)
        if not self.paper and self.config.variant == "full" and "image" in self.modalities:
            # Created by the release but never read: kept so checkpoints interchange. The
            # release has no text-only model, so text-only data creates none (docs/model.md).
            for suffix in ("v", "t") if "text" in self.modalities else ("v", "m"):
                glorot_weight("user_embedding_" + suffix, [self.n_users, d])
        self.projections = {m: glorot_weight("w1_" + SHORT_NAMES[m],
                                             [self.shape.feature_dims[m], d])
                            for m in self.modalities}  # each F x d
        self.layers, self.forms = [], []
        for l in range(self.config.n_mca if self.cl_inputs else 0):
            self.layers.append(self._layer_weights(l))
            # Derived right after the layer's weights, as the release's graph orders its ops
            # (the op order fixes the seeds of the variables created after it).
            self.forms.append(self._layer_forms(self.layers[-1]))
        if self.cl_inputs:
            self.positive_output = dense_weights("dense", [c, d], False)["kernel"]
            self.negative_output = self.positive_output if self.paper else \
                dense_weights("dense_1", [c, d], False)["kernel"]

    def _layer_weights(self, l):
        c = self.width
        with tf.variable_scope("cd_cl%d" % l):
            names = ("Q", "K", "V") + (() if self.paper else ("linear",)) + ("Q_int", "K_int")
            attention = {name: dense_weights(name, [c, c], False)["kernel"] for name in names}
            attention_norm = layer_norm_weights(c)
        with tf.variable_scope("cd_dense%d" % l):
            inner = dense_weights("dense", [c, 4 * c], True)
            outer = dense_weights("dense_1", [4 * c, c], True)
            feed_forward_norm = layer_norm_weights(c)
        return LayerWeights(attention["Q"], attention["K"], attention["V"],
                            attention.get("linear"), attention["Q_int"], attention["K_int"],
                            attention_norm, inner, outer, feed_forward_norm)

    def _layer_forms(self, weights):
        """Eqs. 10-13 as c x c forms: (hQ)(hK)^T/sqrt(c) = (h F) h^T with F = QK^T/sqrt(c), and
        (zQi)(zKi)^T/sqrt(c) = (z G*) z^T. One row product per term instead of two.

        The release subtracts S* from S before ONE softmax, so its G is -G* and the two terms
        add; the paper takes a softmax of each (Eq. 14), G = +G*. Values: h V linear (release;
        P(hV)L = P(h(VL)) saves a c x c product per row) or h V (paper, Eq. 10).
        """
        scale = 1.0 / math.sqrt(self.width)
        sign = 1.0 if self.paper else -1.0
        values = weights.V if self.paper else tf.matmul(weights.V, weights.linear)
        return LayerForms(scale * tf.matmul(weights.Q, weights.K, transpose_b=True),
                          sign * scale * tf.matmul(weights.Q_int, weights.K_int,
                                                   transpose_b=True),
                          values)

    # ----------------------------------------------------------------------- graph pieces
    def propagate(self):
        """Eqs. 1-5: users' and items' base embeddings, (U x d) and (I x d)."""
        nodes = tf.concat([self.user_embedding, self.item_embedding], axis=0)  # N x d
        mean = mean_of_layers(nodes, self.data.adjacency, self.config.n_layers,
                              self.hand_gradients)
        return split_nodes(mean, self.n_users, self.n_items)

    def item_branches(self, items, propagated_items):
        """Per-branch item representations (rows x d): ``g`` the base embedding (Eq. 5) and
        e_v = X_v W1_v, e_t = X_t W1_t, the projected features (Eq. 6's parts).

        ``items`` None means every item in id order: the tables are used as they are (a
        gather of all rows would copy the feature matrices).
        """
        pick = (lambda table: table) if items is None else (lambda table: tf.gather(table, items))
        branches = {"g": pick(propagated_items)}
        for modality in self.modalities:
            # Gather then project: only the batch's rows, same values and gradients.
            branches[modality] = tf.matmul(pick(self.data.features[modality]),
                                           self.projections[modality])
        return branches

    def joint(self, branches):
        """Eq. 6, X_i = concat of the counterfactual inputs (release: [g, v, t]): rows x c."""
        return tf.concat([branches["g" if name == "id" else name] for name in self.cl_inputs],
                         axis=1)

    @staticmethod
    def attention_term(rows, form):
        """(rows F, rows): the pair whose product (rows F) rows^T is one logit term (Eq. 12/13)."""
        return tf.matmul(rows, form), rows

    def attention(self, factual, counterfactual, values, groups):
        """Eqs. 12-14: the attention output e_cl of one layer, (rows x c).

        ``factual`` and ``counterfactual`` are (queries, keys) pairs of the logit terms S and
        S* (``counterfactual`` None: no counterfactual term, the release's negative path).
        Release: softmax(S - S*) (h V linear). Paper: (softmax(S) - softmax(S*)) (h V).
        """
        def logits(*terms):
            return tf.add_n([tf.matmul(grouped(queries, groups), grouped(keys, groups),
                                       transpose_b=True) for queries, keys in terms])

        def mix(*terms):
            return softmax_mix(logits(*terms), grouped(values, groups), self.hand_gradients)

        if counterfactual is None:
            mixed = mix(factual)
        elif self.paper:
            mixed = mix(factual) - mix(counterfactual)
        elif groups is None:
            # One group (training, full ranking): both terms in ONE product over their joint
            # width, [hF, zG] [h, z]^T, instead of one (B x B) product per term and a sum.
            # Many small groups (sampled evaluation) take a batched product per term: there
            # the concatenations would cost more than they save.
            mixed = mix((tf.concat([factual[0], counterfactual[0]], 1),
                         tf.concat([factual[1], counterfactual[1]], 1)))
        else:
            mixed = mix(factual, counterfactual)
        return tf.reshape(mixed, [-1, self.width])

    def learning_layer(self, h, weights, attended):
        """Eqs. 15-17 around the attention output: e_ln = LayerNorm(e_cl + h), then the
        feed-forward block. The release applies ReLU to the outer unit too:
        h' = LayerNorm(relu(relu(e_ln W1 + b1) W2 + b2) + e_ln). (rows x c) -> (rows x c)."""
        normed = layer_norm(attended + h, weights.attention_norm)
        inner = dense_relu(normed, weights.inner)
        return layer_norm(dense_relu(inner, weights.outer) + normed, weights.feed_forward_norm)

    def learning_stack(self, z, counterfactual, groups, first_layer=None, forms=None):
        """Eq. 18: the n_mca layers from h = z (rows x c).

        ``counterfactual[l]`` is layer l's counterfactual (queries, keys) pair, or
        ``counterfactual`` None (the release's negative path). ``first_layer`` = (factual,
        counterfactual, values) replaces layer 0's own when precomputed (evaluation), and
        ``forms`` the layers' forms (evaluation reads them from its cache).
        """
        h = z
        for l, (weights, form) in enumerate(zip(self.layers, forms or self.forms)):
            if l == 0 and first_layer:
                factual, counterfactual_term, values = first_layer
            else:
                factual = self.attention_term(h, form.factual)
                counterfactual_term = counterfactual[l] if counterfactual else None
                values = tf.matmul(h, form.values)
            h = self.learning_layer(h, weights, self.attention(factual, counterfactual_term,
                                                                values, groups))
        return h

    def counterfactual_output(self, h, positive=True):
        """e^(M) in the score's width: relu(h W_out) with W_out = ``dense/kernel`` (c x d); the
        release's negative path has its own ``dense_1/kernel``."""
        return tf.nn.relu(tf.matmul(h, self.positive_output if positive
                                    else self.negative_output))

    def ranking_vectors(self, branches):
        """w(x) such that the score is <e_u, w(x)> (Eqs. 19-22), rows x d.

        Release: g + lambda_m v + t (+ m): lambda_m weighs only the image term.
        Paper (Eq. 22): g + lambda_m (v + t + m).
        """
        multimodal = [branches[k] for k in ("image", "text", "m")
                      if k in branches and (k == "m" or k in self.score_terms)]
        if self.paper:
            return branches["g"] + self.config.lambda_m * tf.add_n(multimodal) if multimodal \
                else branches["g"]
        terms = [branches["g"]]
        terms += [self.config.lambda_m * branches["image"]] if "image" in self.score_terms else []
        terms += [branches[k] for k in ("text", "m") if k in branches and
                  (k == "m" or k in self.score_terms)]
        return tf.add_n(terms)

    # --------------------------------------------------------------------------- training
    def _build_training(self):
        """One batch: the positive and negative paths and the loss (Eqs. 23-25 or the
        release's four BPR terms)."""
        users_g, items_g = self.propagate()
        inputs = self.inputs
        pos = self.item_branches(inputs.pos_items, items_g)
        neg = self.item_branches(inputs.neg_items, items_g)
        if self.layers:
            z_int = self.joint(self.item_branches(inputs.int_items, items_g))  # B x c
            counterfactual = [self.attention_term(z_int, form.counterfactual)
                              for form in self.forms]
            # Same layers on both paths. Release: the negative path has no counterfactual
            # term and its own output projection; paper: every item is treated alike.
            positive_h = self.learning_stack(self.joint(pos), counterfactual, None)
            negative_h = self.learning_stack(self.joint(neg),
                                             counterfactual if self.paper else None, None)
            pos["m"] = self.counterfactual_output(positive_h)
            neg["m"] = self.counterfactual_output(negative_h, positive=False)
        users = tf.gather(users_g, inputs.users)
        mf_loss = tf.add_n([bpr_of_vectors(users, pos[k], neg[k])
                            for k in self._loss_branches(pos)])
        if self.paper and len(pos) > 1:  # L_m (Eq. 24) on y = <e_u, e_v + e_t + e^(M)>
            multimodal = sorted(k for k in pos if k != "g" and (k == "m" or k in self.score_terms))
            mf_loss += bpr_of_vectors(users, tf.add_n([pos[k] for k in multimodal]),
                                      tf.add_n([neg[k] for k in multimodal]))
        # ID terms use the un-propagated tables; the divisor is the configured batch size.
        regularised = batch_rows(self.user_embedding, self.item_embedding, inputs)
        regularised += [branches[k] for k in self.modalities + ["m"] if k in pos
                        for branches in (pos, neg)]
        emb_loss = l2_penalty(regularised, self.config.decay, self.config.batch_size)
        loss = mf_loss + emb_loss
        return self._optimise(loss, collections.OrderedDict(
            [("mf_loss", mf_loss), ("emb_loss", emb_loss)]), self.config.lr)

    def _loss_branches(self, branches):
        """The branches with a BPR term of their own: release g, the scored modalities and m
        (in sorted order, as the release sums them); paper only g (L_base, Eq. 23)."""
        if self.paper:
            return ["g"]
        return sorted(k for k in branches if k in ("g", "m") or k in self.score_terms)
