"""Pieces every model builds from: weights, ID embeddings, layer norm, the attention mix,
feed-forward units, BPR and the L2 term. Shape letters: see model/__init__.py."""
import tensorflow.compat.v1 as tf

LAYER_NORM_EPSILON = 1e-12


def glorot_weight(name, shape):
    """A variable with Glorot (Xavier) uniform initial values, as every model of the paper."""
    return tf.get_variable(name, shape, tf.float32, tf.glorot_uniform_initializer())


def zeros_weight(name, shape):
    return tf.get_variable(name, shape, tf.float32, tf.zeros_initializer())


def id_embeddings(n_users, n_items, d):
    """The ID tables E_user (U x d) and E_item (I x d), under the release's names."""
    return glorot_weight("user_embedding", [n_users, d]), glorot_weight("item_embedding",
                                                                        [n_items, d])


def layer_norm_weights(width):
    """gamma (ones) and beta (zeros) of a layer norm over ``width``, in scope ``LayerNorm``."""
    with tf.variable_scope("LayerNorm"):
        return {"gamma": tf.get_variable("gamma", [width], tf.float32, tf.ones_initializer()),
                "beta": zeros_weight("beta", [width])}


def dense_weights(scope, shape, bias):
    """``kernel`` (Glorot) and, if ``bias``, ``bias`` (zeros) of a dense unit in ``scope``."""
    with tf.variable_scope(scope):
        weights = {"kernel": glorot_weight("kernel", shape)}
        if bias:
            weights["bias"] = zeros_weight("bias", shape[1:])
        return weights


def layer_norm(x, weights):
    """LayerNorm(x) over the feature axis (variance epsilon 1e-12), then * gamma + beta.

    Written out rather than with tf.nn.moments/batch_normalization, which materialise
    more full-size intermediates (forwards and backwards).
    """
    centered = x - tf.reduce_mean(x, axis=1, keepdims=True)
    variance = tf.reduce_mean(tf.square(centered), axis=1, keepdims=True)
    return centered * tf.rsqrt(variance + LAYER_NORM_EPSILON) * weights["gamma"] \
        + weights["beta"]


def _softmax_mix_plain(logits, values):
    return tf.matmul(tf.nn.softmax(logits), values)


@tf.custom_gradient
def _softmax_mix_by_hand(logits, values):
    """softmax(logits) @ values with a leaner gradient than autodiff's.

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


def softmax_mix(logits, values, hand_gradient=True):
    """softmax(logits) @ values over the last two axes: ([G x] R x R), ([G x] R x c) -> ([G x] R x c).

    ``hand_gradient`` False takes TensorFlow's automatic gradient (same values).
    """
    return (_softmax_mix_by_hand if hand_gradient else _softmax_mix_plain)(logits, values)


def dense_relu(x, weights):
    """relu(x W + b): (rows x in) -> (rows x out).

    bias_add rather than +: TF 1.15's grappler then fuses MatMul, BiasAdd and Relu into one
    kernel (TF 2.x fuses either form).
    """
    return tf.nn.relu(tf.nn.bias_add(tf.matmul(x, weights["kernel"]), weights["bias"]))


def row_dot(a, b):
    """<a_r, b_r> per row: (rows x D), (rows x D) -> (rows,)."""
    return tf.reduce_sum(a * b, axis=1)


def bpr_loss(positive_scores, negative_scores):
    """mean(softplus(-(s_pos - s_neg))) = mean(-log sigmoid(s_pos - s_neg)) over the batch."""
    return tf.reduce_mean(tf.nn.softplus(-(positive_scores - negative_scores)))


def batch_rows(user_table, item_table, inputs):
    """The batch's rows of a user (U x D) and an item (I x D) table: [users, positive items,
    negative items], each (B x D); ``inputs`` has ``users``, ``pos_items``, ``neg_items``."""
    return [tf.gather(user_table, inputs.users), tf.gather(item_table, inputs.pos_items),
            tf.gather(item_table, inputs.neg_items)]


def bpr_of_vectors(users, positive, negative):
    """BPR of inner-product scores: users, positive and negative rows are (B x D)."""
    return bpr_loss(row_dot(users, positive), row_dot(users, negative))


def l2_penalty(tensors, decay, batch_size):
    """decay * sum of l2(x) = sum(x^2)/2 over ``tensors``, divided by the configured batch
    size (a constant, as in the release, not the rows actually fed)."""
    return decay * tf.add_n([tf.nn.l2_loss(x) for x in tensors]) / batch_size
