"""MCLN as a static TensorFlow graph (tensorflow.compat.v1, low-level ops only).

Follows ``mcln-reference.md``: LightGCN-style propagation over L = D^-a (A+I) D^-b, item
image/text projections, ``n_mca`` counterfactual learning layers whose attention runs
across the rows of a batch, a four-branch BPR loss and Adam. Variable names are the
release's so that its checkpoints restore here.

Rows that attend to each other form a *group*: the whole batch in training, one user's
candidate list in evaluation. Tensors of row features are kept 2-D (rows x width) and are
reshaped to (groups, rows per group, width) only for the attention products, so many users
are evaluated in one call without their candidate lists mixing.
"""
import math

import numpy as np
import tensorflow.compat.v1 as tf

try:  # TF >= 2.3: a CSR kernel ~8x faster than SparseTensorDenseMatMul, which regressed in 2.x
    from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as csr_ops
except ImportError:  # TF 1.15, whose SparseTensorDenseMatMul is fast
    csr_ops = None

LAYER_NORM_EPSILON = 1e-12
EVALUATION_LANES = 2


def layer_norm(x, params):
    """Normalise over the feature axis, then scale and shift (gamma, beta).

    Written out rather than with tf.nn.moments/batch_normalization, which materialise
    more full-size intermediates (forwards and backwards).
    """
    centered = x - tf.reduce_mean(x, axis=1, keepdims=True)
    variance = tf.reduce_mean(tf.square(centered), axis=1, keepdims=True)
    return centered * tf.rsqrt(variance + LAYER_NORM_EPSILON) * params["gamma"] + params["beta"]


@tf.custom_gradient
def softmax_mix(logits, values):
    """softmax(logits) @ values over the last two axes, with a leaner gradient than autodiff's.

    The softmax gradient needs rowsum(dP * P) for dP = dO values^T; as P values = O, that is
    rowsum(dO * O), a (rows x c) reduction instead of a (rows x rows) product and reduction.
    """
    probabilities = tf.nn.softmax(logits)
    outputs = tf.matmul(probabilities, values)

    def gradient(d_outputs):
        d_values = tf.matmul(probabilities, d_outputs, transpose_a=True)
        d_probabilities = tf.matmul(d_outputs, values, transpose_b=True)
        row_terms = tf.reduce_sum(d_outputs * outputs, axis=-1, keepdims=True)
        return (d_probabilities - row_terms) * probabilities, d_values

    return outputs, gradient


def held_out_rank(scores):
    """0-based rank of each row's last candidate under a stable descending sort.

    The held-out item comes last, so it ranks after every earlier candidate it ties with.
    """
    return tf.reduce_sum(tf.cast(scores[:, :-1] >= scores[:, -1:], tf.int32), axis=1)


def row_dot(a, b):
    return tf.reduce_sum(a * b, axis=1)


def bpr_loss(users, positive, negative):
    """mean(softplus(-(<u, pos> - <u, neg>))) = mean(-log sigmoid(score difference))."""
    return tf.reduce_mean(tf.nn.softplus(-(row_dot(users, positive) - row_dot(users, negative))))


def build_graph(hp, n_users, n_items, feature_dims, n_adjacency):
    """A new graph holding MCLN, seeded with ``hp.seed``; returns (graph, model, initialiser)."""
    tf.disable_eager_execution()
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(hp.seed)
        model = MCLN(n_users, n_items, feature_dims, n_adjacency, hp)
        initialiser = tf.global_variables_initializer()
    return graph, model, initialiser


class MCLN(object):
    """Builds the training step, the evaluation cache and the evaluation scores.

    ``feature_dims`` maps modality name ("image", then optionally "text") to its width.
    ``n_adjacency`` is the number of non-zeros of the normalised adjacency.
    """

    def __init__(self, n_users, n_items, feature_dims, n_adjacency, hp):
        self.n_users, self.n_items = n_users, n_items
        self.modalities = list(feature_dims)
        self.d = hp.embed_size
        self.width = (1 + len(self.modalities)) * self.d
        self.n_layers, self.n_mca = hp.n_layers, hp.n_mca
        self.lambda_m, self.decay, self.batch_size = hp.lambda_m, hp.decay, hp.batch_size

        self.users = tf.placeholder(tf.int32, [None], name="users")
        self.pos_items = tf.placeholder(tf.int32, [None], name="pos_items")
        self.neg_items = tf.placeholder(tf.int32, [None], name="neg_items")
        self.int_items = tf.placeholder(tf.int32, [None], name="int_items")

        self._build_data_holders(feature_dims, n_adjacency)
        self._build_parameters(feature_dims)
        self._build_training(hp.lr)
        self._build_evaluation()
        self._build_full_ranking()
        self._initialise_local = tf.local_variables_initializer()

    # ----------------------------------------------------------------------------- inputs
    def _build_data_holders(self, feature_dims, n_adjacency):
        """Features and adjacency live in local variables filled once from placeholders.

        Feeding them (instead of embedding constants, as the release does) keeps the
        GraphDef small whatever the number of items or the feature width.
        """
        self.data_feeds = {}

        def holder(name, dtype, shape):
            value = tf.placeholder(dtype, shape, name=name + "_value")
            self.data_feeds[name] = value
            return tf.Variable(value, trainable=False, name=name,
                               collections=[tf.GraphKeys.LOCAL_VARIABLES])

        # Read as plain tensors: a gather from a resource variable itself (ResourceGather)
        # switches it to copy-on-read, and every later full read (the evaluation refresh)
        # would then copy the whole feature matrix.
        self.features = {m: holder("features_" + m, tf.float32, [self.n_items, dim]).read_value()
                         for m, dim in feature_dims.items()}
        # (indices, values of L, values of L^T): A + I is symmetric, so L^T has L's indices
        # and its values permuted (feed_data).
        self.adjacency = (holder("adjacency_indices", tf.int64, [n_adjacency, 2]).read_value(),
                          holder("adjacency_values", tf.float32, [n_adjacency]).read_value(),
                          holder("adjacency_transposed_values", tf.float32,
                                 [n_adjacency]).read_value())

    def feed_data(self, session, adjacency_indices, adjacency_values, features):
        """Fill the data holders and reset the evaluation cache.

        ``adjacency_indices`` are in row-major order, with a symmetric sparsity pattern.
        """
        by_column = np.lexsort((adjacency_indices[:, 0], adjacency_indices[:, 1]))
        if not np.array_equal(adjacency_indices[by_column][:, ::-1], adjacency_indices):
            raise ValueError("the adjacency needs row-major indices and a symmetric pattern")
        feed = {self.data_feeds["adjacency_indices"]: adjacency_indices,
                self.data_feeds["adjacency_values"]: adjacency_values,
                self.data_feeds["adjacency_transposed_values"]: adjacency_values[by_column]}
        for modality in self.modalities:
            feed[self.data_feeds["features_" + modality]] = features[modality]
        session.run(self._initialise_local, feed_dict=feed)

    # ------------------------------------------------------------------------- parameters
    def _build_parameters(self, feature_dims):
        glorot = tf.glorot_uniform_initializer()

        def weight(name, shape, initializer=glorot):
            return tf.get_variable(name, shape, tf.float32, initializer)

        def norm_params():
            with tf.variable_scope("LayerNorm"):
                return {"gamma": weight("gamma", [self.width], tf.ones_initializer()),
                        "beta": weight("beta", [self.width], tf.zeros_initializer())}

        def dense(scope, shape, bias):
            with tf.variable_scope(scope):
                params = {"kernel": weight("kernel", shape)}
                if bias:
                    params["bias"] = weight("bias", shape[1:], tf.zeros_initializer())
                return params

        c, d = self.width, self.d
        self.user_embedding = weight("user_embedding", [self.n_users, d])
        self.item_embedding = weight("item_embedding", [self.n_items, d])
        # Created by the release but never read: kept so checkpoints interchange.
        for suffix in ("v", "t") if "text" in feature_dims else ("v", "m"):
            weight("user_embedding_" + suffix, [self.n_users, d])
        short = {"image": "v", "text": "t"}
        self.projections = {m: weight("w1_" + short[m], [dim, d])
                            for m, dim in feature_dims.items()}
        self.layers = []
        for l in range(self.n_mca):
            with tf.variable_scope("cd_cl%d" % l):
                layer = {name: dense(name, [c, c], False)["kernel"]
                         for name in ("Q", "K", "V", "linear", "Q_int", "K_int")}
                layer["attention_norm"] = norm_params()
            with tf.variable_scope("cd_dense%d" % l):
                layer["inner"] = dense("dense", [c, 4 * c], True)
                layer["outer"] = dense("dense_1", [4 * c, c], True)
                layer["feed_forward_norm"] = norm_params()
            # V then linear, fused: P(hV)L = P(h(VL)) saves a c x c product per row.
            layer["value_linear"] = tf.matmul(layer["V"], layer["linear"])
            # The logits as bilinear forms: (hQ)(hK)^T/sqrt(c) - (zQi)(zKi)^T/sqrt(c)
            #   = (h F) h^T + (z G) z^T,  F = QK^T/sqrt(c),  G = -Qi Ki^T/sqrt(c)  (c x c),
            # one row product per term instead of two, and no B x B tensor is scaled or
            # subtracted (nor, backwards, differentiated).
            scale = 1.0 / math.sqrt(c)
            layer["factual_form"] = scale * tf.matmul(layer["Q"], layer["K"], transpose_b=True)
            layer["counterfactual_form"] = -scale * tf.matmul(layer["Q_int"], layer["K_int"],
                                                              transpose_b=True)
            self.layers.append(layer)
        self.positive_output = dense("dense", [c, d], False)["kernel"]
        self.negative_output = dense("dense_1", [c, d], False)["kernel"]
        self.parameters = tf.global_variables()

    # ----------------------------------------------------------------------- graph pieces
    def _sparse_product(self, indices, values):
        """dense -> M · dense for the (nodes x nodes) matrix M given by indices and values."""
        n_nodes = self.n_users + self.n_items
        matrix = tf.SparseTensor(indices, values, [n_nodes, n_nodes])
        if csr_ops is not None:
            compressed = csr_ops.CSRSparseMatrix(matrix)
            return lambda dense: csr_ops.matmul(compressed, dense)
        return lambda dense: tf.sparse_tensor_dense_matmul(matrix, dense)

    def propagate(self):
        """Mean of H0..H(n_layers) with H(k+1) = L H(k); split into users and items."""
        n_layers = self.n_layers

        # The adjacency's tensors are arguments: a custom gradient may not read variables
        # (the local ones holding them) from inside.
        @tf.custom_gradient
        def mean_of_layers(embeddings, indices, values, transposed_values):
            multiply = self._sparse_product(indices, values)
            layers = [embeddings]
            for _ in range(n_layers):
                layers.append(multiply(layers[-1]))

            def gradient(d_mean):
                # sum over k of (L^T)^k d_mean / (n_layers + 1), by Horner's rule, with L^T
                # stored as such: a transposed product runs ~2x slower.
                multiply_transposed = self._sparse_product(indices, transposed_values)
                total = d_mean
                for _ in range(n_layers):
                    total = d_mean + multiply_transposed(total)
                return total / float(n_layers + 1), None, None, None

            # Sum, then divide: no (nodes x layers x d) stacked copy.
            return tf.add_n(layers) / float(n_layers + 1), gradient

        mean = mean_of_layers(tf.concat([self.user_embedding, self.item_embedding], axis=0),
                              *self.adjacency)
        return tf.split(mean, [self.n_users, self.n_items], axis=0)

    def item_branches(self, items, propagated_items):
        """Per-branch item representations: g (graph) and one projected feature per modality.

        ``items`` None means every item in id order: the tables are used as they are (a
        gather of all rows would copy the feature matrices).
        """
        pick = (lambda table: table) if items is None else (lambda table: tf.gather(table, items))
        branches = {"g": pick(propagated_items)}
        for modality in self.modalities:
            # Gather then project: only the batch's rows, same values and gradients.
            branches[modality] = tf.matmul(pick(self.features[modality]),
                                           self.projections[modality])
        return branches

    def joint(self, branches):
        """z(x) = concat[g, image, (text)]."""
        return tf.concat([branches["g"]] + [branches[m] for m in self.modalities], axis=1)

    @staticmethod
    def _grouped(rows, groups):
        """(groups x rows-per-group x width) for batched products; ``groups`` is the pair
        (number of groups, rows per group).

        ``groups`` None means all rows form one group (training, full ranking): they stay
        2-D, as a plain matmul is faster than a batch of one.
        """
        if groups is None:
            return rows
        return tf.reshape(rows, [groups[0], groups[1], rows.shape[-1]])

    @staticmethod
    def attention_term(rows, form):
        """(rows F, rows): the pair whose product (rows F) rows^T is a bilinear logit term."""
        return tf.matmul(rows, form), rows

    @staticmethod
    def _dense_relu(x, params):
        # bias_add rather than +: TF 1.15's grappler then fuses MatMul, BiasAdd and Relu into
        # one kernel (TF 2.x fuses either form).
        return tf.nn.relu(tf.nn.bias_add(tf.matmul(x, params["kernel"]), params["bias"]))

    def learning_layer(self, h, layer, terms, values, groups):
        """One counterfactual learning layer plus its feed-forward block.

        ``terms`` are (queries, keys) pairs whose products sum to the attention logits: the
        factual term of h, then on the positive path the counterfactual term of the int
        items; ``values`` = h V linear.
        """
        if groups is None and len(terms) > 1:
            # One group (training, full ranking): all terms in ONE product over their
            # joint width, [hF, zG] [h, z]^T, instead of one (B x B) product per term and a
            # sum. Many small groups (sampled evaluation) take a batched product per term:
            # there the concatenations would cost more than they save.
            terms = [(tf.concat([q for q, _ in terms], 1), tf.concat([k for _, k in terms], 1))]
        logits = tf.add_n([tf.matmul(self._grouped(queries, groups), self._grouped(keys, groups),
                                     transpose_b=True) for queries, keys in terms])
        mixed = softmax_mix(logits, self._grouped(values, groups))
        attended = layer_norm(tf.reshape(mixed, [-1, self.width]) + h, layer["attention_norm"])
        inner = self._dense_relu(attended, layer["inner"])
        outer = self._dense_relu(inner, layer["outer"])
        return layer_norm(outer + attended, layer["feed_forward_norm"])

    def learning_stack(self, z, counterfactual, groups, first_layer=None, layers=None):
        """All n_mca layers from z. ``counterfactual[l]`` is layer l's counterfactual term
        (or ``counterfactual`` is None: negative path). ``first_layer`` = (terms, values)
        replaces the first layer's own, when they were precomputed; ``layers`` replaces
        ``self.layers`` (evaluation reads their derived weights from its cache)."""
        h = z
        for l, layer in enumerate(layers or self.layers):
            if l == 0 and first_layer:
                terms, values = first_layer
            else:
                terms = [self.attention_term(h, layer["factual_form"])]
                terms += [counterfactual[l]] if counterfactual else []
                values = tf.matmul(h, layer["value_linear"])
            h = self.learning_layer(h, layer, terms, values, groups)
        return h

    # --------------------------------------------------------------------------- training
    def _build_training(self, learning_rate):
        users_g, items_g = self.propagate()
        pos = self.item_branches(self.pos_items, items_g)
        neg = self.item_branches(self.neg_items, items_g)
        z_int = self.joint(self.item_branches(self.int_items, items_g))
        counterfactual = [self.attention_term(z_int, layer["counterfactual_form"])
                          for layer in self.layers]
        # Same layers on both paths; the negative path has no counterfactual term and its
        # own output projection.
        positive_h = self.learning_stack(self.joint(pos), counterfactual, None)
        negative_h = self.learning_stack(self.joint(neg), None, None)
        pos["m"] = tf.nn.relu(tf.matmul(positive_h, self.positive_output))
        neg["m"] = tf.nn.relu(tf.matmul(negative_h, self.negative_output))
        users = tf.gather(users_g, self.users)
        self.mf_loss = tf.add_n([bpr_loss(users, pos[k], neg[k]) for k in sorted(pos)])
        # ID terms use the un-propagated tables; the divisor is the configured batch size.
        regularised = [tf.gather(self.user_embedding, self.users),
                       tf.gather(self.item_embedding, self.pos_items),
                       tf.gather(self.item_embedding, self.neg_items)]
        regularised += [branches[k] for k in self.modalities + ["m"] for branches in (pos, neg)]
        self.emb_loss = self.decay * tf.add_n([tf.nn.l2_loss(x) for x in regularised]) \
            / self.batch_size
        self.loss = self.mf_loss + self.emb_loss
        self.optimizer = tf.train.AdamOptimizer(learning_rate)
        self.train_op = self.optimizer.minimize(self.loss)

    def ranking_vectors(self, branches):
        """w(x) = g + lambda_m image + text (+ m, if given): s(u, x) = <u, w(x)> (ranking only)."""
        terms = [branches["g"], self.lambda_m * branches["image"]]
        terms += [branches[k] for k in ("text", "m") if k in branches]
        return tf.add_n(terms)

    # ------------------------------------------------------------------------- evaluation
    def _build_evaluation(self):
        """Evaluation reads per-item tables refreshed once per evaluation.

        In evaluation the int items are the candidates themselves, so everything that
        depends on one item only is computed once per evaluation by ``refresh_eval_cache``
        (after one propagation): z(x), the item part g + lambda_m image + text of the
        ranking vector, the first layer's values, its queries of both terms (there h = z
        is the int rows too, so the two terms add up to one: z (F + G) z^T), and each
        later layer's counterfactual queries z G. The later layers' F and V linear, which
        depend on weights only, are cached too rather than multiplied out in every call.
        """
        users_g, items_g = self.propagate()
        branches = self.item_branches(None, items_g)
        z_all = self.joint(branches)
        first = self.layers[0]
        tables = {"users": users_g, "z": z_all, "item_vectors": self.ranking_vectors(branches),
                  "first_queries": tf.matmul(z_all, first["factual_form"]
                                             + first["counterfactual_form"]),
                  "first_values": tf.matmul(z_all, first["value_linear"])}
        weight_only = ("factual_form", "value_linear")
        for l, layer in enumerate(self.layers[1:], 1):
            tables["cf%d_queries" % l] = tf.matmul(z_all, layer["counterfactual_form"])
            tables.update(("%s%d" % (weight, l), layer[weight]) for weight in weight_only)
        self.eval_cache = {}
        updates = []
        for name, value in sorted(tables.items()):
            cache = tf.Variable(tf.zeros(value.shape, tf.float32), trainable=False,
                                name="eval_cache_" + name,
                                collections=[tf.GraphKeys.LOCAL_VARIABLES])
            self.eval_cache[name] = cache
            updates.append(tf.assign(cache, value))
        self.refresh_eval_cache = tf.group(*updates)
        # The layers as evaluation runs them: later layers read their cached weight products.
        self._eval_layers = self.layers[:1] + [
            dict(layer, **{weight: self.eval_cache["%s%d" % (weight, l)] for weight in weight_only})
            for l, layer in enumerate(self.layers[1:], 1)]

        self.eval_users = tf.placeholder(tf.int32, [None], name="eval_users")
        self.eval_items = tf.placeholder(tf.int32, [None, None], name="eval_items")
        # The call's users are split into independent lanes: while one lane runs its small
        # element-wise ops, the inter-op scheduler gives the cores to the other's products
        # (7 % faster on 2 cores, both TF lines).
        n_users = tf.shape(self.eval_users)[0]
        bounds = [n_users * lane // EVALUATION_LANES for lane in range(EVALUATION_LANES + 1)]
        self.eval_scores = tf.concat(
            [self._sampled_scores(self.eval_users[begin:end], self.eval_items[begin:end])
             for begin, end in zip(bounds[:-1], bounds[1:])], axis=0)
        self.eval_ranks = held_out_rank(self.eval_scores)

    def _sampled_scores(self, users, candidates):
        """Scores of each user's candidate row, the row attending within itself."""
        groups = tf.unstack(tf.shape(candidates))
        items = tf.reshape(candidates, [-1])
        vectors = self._cached_ranking_vectors(lambda name: tf.gather(self.eval_cache[name],
                                                                      items), groups)
        # Each user's vector against its own rows: a batched (rows x d)(d x 1) product.
        users = tf.gather(self.eval_cache["users"], users)[:, :, None]
        return tf.matmul(self._grouped(vectors, groups), users)[:, :, 0]

    def _cached_ranking_vectors(self, lookup, groups):
        """Ranking vectors of rows read by ``lookup(table name)`` from the evaluation cache;
        each group of rows attends within itself, int items = the rows."""
        z = lookup("z")
        counterfactual = [None] + [(lookup("cf%d_queries" % l), z)
                                   for l in range(1, self.n_mca)]
        first_layer = ([(lookup("first_queries"), z)], lookup("first_values"))
        h = self.learning_stack(z, counterfactual, groups, first_layer, self._eval_layers)
        return lookup("item_vectors") + tf.nn.relu(tf.matmul(h, self.positive_output))

    # ------------------------------------------------------------- full-ranking evaluation
    def _build_full_ranking(self):
        """Every user against every item: the full protocol (utility/evaluation.py).

        ``refresh_full_ranking``, run after ``refresh_eval_cache``, computes each item's
        ranking vector g + lambda_m v + t + m once; m comes from ONE attention group of all
        n_items rows whose int items are the same items (the release's evaluation with the
        candidate list = every item), which holds n_items^2 logits per layer. Since s(u, x)
        is linear in the user's vector, a batch of users is then scored by one matmul.
        ``full_masked`` lists (row of the batch, item) pairs to rank last (-inf).
        """
        cache = self.eval_cache
        vectors = tf.Variable(tf.zeros([self.n_items, self.d]), trainable=False,
                              name="eval_cache_full_item_vectors",
                              collections=[tf.GraphKeys.LOCAL_VARIABLES])
        self.full_item_vectors = vectors
        self.refresh_full_ranking = tf.assign(
            vectors, self._cached_ranking_vectors(lambda name: cache[name], None))

        self.full_users = tf.placeholder(tf.int32, [None], name="full_users")
        self.full_masked = tf.placeholder(tf.int64, [None, 2], name="full_masked")
        self.full_k = tf.placeholder(tf.int32, [], name="full_k")
        scores = tf.matmul(tf.gather(cache["users"], self.full_users), vectors,
                           transpose_b=True)
        shape = tf.shape(scores, out_type=tf.int64)
        masked = tf.scatter_nd(self.full_masked, tf.ones_like(self.full_masked[:, 0]), shape) > 0
        self.full_scores = tf.where(masked, tf.fill(tf.shape(scores), -float("inf")), scores)
        # top_k breaks ties by the lower item id.
        self.full_top_items = tf.nn.top_k(self.full_scores, self.full_k, sorted=True).indices
