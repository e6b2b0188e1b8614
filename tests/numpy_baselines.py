"""Numpy transcriptions of the baselines, written from their papers, not from model/.

Weights are dicts keyed by the TF variable names (``user_embedding``, ``item_embedding``,
``layer0/W1/kernel``, ...). Every ``*_vectors`` function returns (user vectors, item
vectors) whose inner products are the model's scores.
"""
import numpy as np


# ---------------------------------------------------------------- ID-only graph models
# BPRMF (Rendle et al., UAI 2009), LightGCN (He et al., SIGIR 2020), NGCF (Wang et al.,
# SIGIR 2019). The functions of the feature-based baselines come after this part.

def neighbours_of(train, n_users):
    """Node -> its distinct neighbours in the user-item graph (items are n_users + iid)."""
    neighbours = {}
    for user, items in train.items():
        for item in set(items):
            neighbours.setdefault(user, set()).add(n_users + item)
            neighbours.setdefault(n_users + item, set()).add(user)
    return neighbours


def symmetric_laplacian(train, n_users, n_items):
    """Dense L = D^-1/2 A D^-1/2 without self-loops: L[a, b] = 1/sqrt(|N_a| |N_b|) for an
    edge a-b, else 0."""
    neighbours = neighbours_of(train, n_users)
    laplacian = np.zeros((n_users + n_items, n_users + n_items))
    for node, others in neighbours.items():
        for other in others:
            laplacian[node, other] = 1.0 / np.sqrt(len(others) * len(neighbours[other]))
    return laplacian


def bprmf_vectors(weights):
    return weights["user_embedding"], weights["item_embedding"]


def _nodes(weights):
    return np.concatenate([weights["user_embedding"], weights["item_embedding"]])


def lightgcn_vectors(weights, laplacian, n_layers):
    """LightGCN Eqs. 3-4 in matrix form: e = sum_k E(k) / (K + 1), E(k+1) = L E(k)."""
    n_users = len(weights["user_embedding"])
    layer, total = _nodes(weights), _nodes(weights)
    for _ in range(n_layers):
        layer = laplacian @ layer
        total = total + layer
    mean = total / (n_layers + 1)
    return mean[:n_users], mean[n_users:]


def _leaky_relu(x, slope):
    return np.where(x > 0, x, slope * x)


def ngcf_vectors(weights, laplacian, n_layers, slope=0.2):
    """NGCF in its per-node form (Eqs. 3-5), node by node:

    e_a' = LeakyReLU(m_a<-a + sum_b m_a<-b), m_a<-a = e_a W1 + b,
    m_a<-b = p_ab (e_b W1 + (e_b * e_a) W2) over the neighbours b of a, p_ab = L[a, b];
    the one bias ``b`` of a layer sits in the self message. Readout (Eq. 9): the layers
    concatenated, each propagated layer scaled to unit length per row.
    """
    n_users = len(weights["user_embedding"])
    layer = _nodes(weights)
    outputs = [layer]
    for l in range(n_layers):
        w1 = weights["layer%d/W1/kernel" % l]
        bias = weights["layer%d/W1/bias" % l]
        w2 = weights["layer%d/W2/kernel" % l]
        following = np.zeros_like(layer)
        for a in range(len(layer)):
            message = layer[a] @ w1 + bias
            for b in np.flatnonzero(laplacian[a]):
                message = message + laplacian[a, b] * (layer[b] @ w1 + (layer[b] * layer[a]) @ w2)
            following[a] = _leaky_relu(message, slope)
        layer = following
        norms = np.sqrt((layer ** 2).sum(axis=1, keepdims=True))
        outputs.append(layer / norms)
    vectors = np.concatenate(outputs, axis=1)
    return vectors[:n_users], vectors[n_users:]


def bpr_losses(user_vectors, item_vectors, weights, batch, decay, batch_size):
    """[loss, mf_loss, emb_loss] of one batch (users, positives, negatives).

    mf_loss = mean -ln sigmoid(s_pos - s_neg); emb_loss = decay * (sum of squares of the
    batch's ID-embedding rows) / 2 / batch_size.
    """
    users, positives, negatives = [np.asarray(rows) for rows in batch]
    u = user_vectors[users]
    difference = (u * item_vectors[positives]).sum(1) - (u * item_vectors[negatives]).sum(1)
    mf_loss = np.mean(-np.log(1.0 / (1.0 + np.exp(-difference))))
    squares = sum((rows ** 2).sum() for rows in (weights["user_embedding"][users],
                                                 weights["item_embedding"][positives],
                                                 weights["item_embedding"][negatives]))
    emb_loss = decay * squares / 2.0 / batch_size
    return [mf_loss + emb_loss, mf_loss, emb_loss]


def full_ranking(user_vectors, item_vectors, users, known, k):
    """Scores of every item for each of ``users`` (known items -inf) and the top k items,
    ties to the lower item id. ``known``: user -> items to mask."""
    scores = user_vectors[users] @ item_vectors.T
    for row, user in enumerate(users):
        scores[row, sorted(known.get(user, ()))] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return scores, top
