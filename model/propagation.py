"""Graph propagation over a normalised user-item adjacency (shape letters: model/__init__.py).

The adjacency's normalisation is chosen per model on the data side
(utility/load_data.normalized_adjacency): MCLN's L = D^-0.5 (A+I) D^-b (Eqs. 2-3 with
b = 0.5 - alpha) or LightGCN's D^-0.5 A D^-0.5. Here it arrives as three tensors: indices
(E x 2, row-major), values of L (E,), and values of L^T in the same index order (E,).
"""
import collections

import tensorflow.compat.v1 as tf

try:  # TF >= 2.3: a CSR kernel ~8x faster than SparseTensorDenseMatMul, which regressed in 2.x
    from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as csr_ops
except ImportError:  # TF 1.15, whose SparseTensorDenseMatMul is fast
    csr_ops = None

Adjacency = collections.namedtuple("Adjacency", "indices values transposed_values n_nodes")


def sparse_product(indices, values, n_nodes):
    """dense -> M · dense for the (N x N) matrix M given by ``indices`` and ``values``."""
    matrix = tf.SparseTensor(indices, values, [n_nodes, n_nodes])
    if csr_ops is not None:
        compressed = csr_ops.CSRSparseMatrix(matrix)
        return lambda dense: csr_ops.matmul(compressed, dense)
    return lambda dense: tf.sparse_tensor_dense_matmul(matrix, dense)


def _layers(embeddings, multiply, n_layers):
    layers = [embeddings]
    for _ in range(n_layers):
        layers.append(multiply(layers[-1]))
    return layers


def mean_of_layers(embeddings, adjacency, n_layers, hand_gradient=True):
    """Eqs. 1-5: the mean of H0..H(n_layers), H(k+1) = L H(k); (N x d) -> (N x d).

    ``hand_gradient``: the gradient sum_k (L^T)^k dMean / (n_layers + 1) by Horner's rule with
    L^T stored as such (a transposed sparse product runs ~2x slower); False takes TensorFlow's
    automatic gradient (same values).
    """
    n_nodes, count = adjacency.n_nodes, float(n_layers + 1)
    if not hand_gradient:
        return tf.add_n(_layers(embeddings, sparse_product(adjacency.indices, adjacency.values,
                                                           n_nodes), n_layers)) / count

    # The adjacency's tensors are arguments: a custom gradient may not read variables (the
    # local ones holding them) from inside.
    @tf.custom_gradient
    def mean(embeddings, indices, values, transposed_values):
        layers = _layers(embeddings, sparse_product(indices, values, n_nodes), n_layers)

        def gradient(d_mean):
            multiply_transposed = sparse_product(indices, transposed_values, n_nodes)
            total = d_mean
            for _ in range(n_layers):
                total = d_mean + multiply_transposed(total)
            return total / count, None, None, None

        # Sum, then divide: no (N x layers x d) stacked copy.
        return tf.add_n(layers) / count, gradient

    return mean(embeddings, adjacency.indices, adjacency.values, adjacency.transposed_values)


def split_nodes(nodes, n_users, n_items):
    """(N x D) -> users (U x D), items (I x D)."""
    return tf.split(nodes, [n_users, n_items], axis=0)


def neighbour_mean(adjacency):
    """dense -> each node's mean over its neighbours, D^-1 A dense: (N x D) -> (N x D).

    Needs the adjacency normalised with column exponent 0 (rows scaled, columns not): such
    an L = diag(r) A divided by its row sums is D^-1 A whatever r. A node without
    neighbours gets zeros.
    """
    multiply = sparse_product(adjacency.indices, adjacency.values, adjacency.n_nodes)
    inverse_sums = tf.math.divide_no_nan(1.0, multiply(tf.ones([adjacency.n_nodes, 1])))
    return lambda dense: multiply(dense) * inverse_sums
