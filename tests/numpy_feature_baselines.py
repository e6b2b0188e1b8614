"""Independent numpy transcriptions of the two feature baselines, written from their papers'
equations and the choices the model modules state, not from the TensorFlow code:

- VBPR (He & McAuley, AAAI 2016, Eq. 3 without alpha and beta_u): one score per (user,
  item) from the concatenated features;
- MMGCN (Wei et al., MM 2019, Eqs. 2, 5 and 6, mean aggregation, concatenating
  combination): a dense neighbour-mean matrix, one loop over nodes' layers per modality.

Weights are a dict keyed by the models' variable names; features a dict modality -> (I x F).
The numpy pieces and the references' shared parts come first: numpy_more_baselines.py and
numpy_invariant_baselines.py import them from here.
"""
import numpy as np

MODALITY_ORDER = ("image", "text")


def bpr(positive_scores, negative_scores):
    return np.mean(np.log1p(np.exp(-(np.asarray(positive_scores) - negative_scores))))


def half_squares(*arrays):
    return sum(np.sum(np.square(a)) / 2.0 for a in arrays)


def as_float64(weights):
    return {name: value.astype(np.float64) for name, value in weights.items()}


def leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class PairScoresReference(object):
    """Scores and the BPR part of the loss from a subclass's ``score(user, item)``, one pair
    at a time."""

    def scores(self, user, items):
        return np.array([self.score(user, item) for item in items])

    def pair_bpr(self, users, pos, neg):
        return bpr([self.score(u, i) for u, i in zip(users, pos)],
                   [self.score(u, j) for u, j in zip(users, neg)])


class NodeVectorsReference(object):
    """Scores and losses of a graph model from its nodes' vectors ``self.users`` and
    ``self.items``, which a subclass sets beside ``self.w``, ``self.hp`` and
    ``self.modalities``: inner products, BPR, and emb_loss over the batch's rows of the ID
    embeddings (users, positive and negative items) and of every modality's user preference."""

    def scores(self, user, items):
        return self.items[items] @ self.users[user]

    def losses(self, users, pos, neg):
        u = self.users[users]
        mf = bpr(np.sum(u * self.items[pos], axis=1), np.sum(u * self.items[neg], axis=1))
        w = self.w
        reg = half_squares(w["user_embedding"][users], w["item_embedding"][pos],
                           w["item_embedding"][neg],
                           *[w[m + "/user_preference"][users] for m in self.modalities])
        emb = self.hp.decay * reg / self.hp.batch_size
        return mf + emb, mf, emb


class VBPRReference(PairScoresReference):
    def __init__(self, weights, features, hp):
        self.w = as_float64(weights)
        self.hp = hp
        self.features = np.concatenate([features[m].astype(np.float64)
                                        for m in MODALITY_ORDER if m in features], axis=1)

    def score(self, user, item):
        w, f = self.w, self.features[item]
        return (w["item_bias"][item, 0]
                + w["user_embedding"][user] @ w["item_embedding"][item]
                + w["user_feature_preference"][user] @ (f @ w["feature_projection"])
                + f @ w["feature_bias"][:, 0])

    def losses(self, users, pos, neg):
        w = self.w
        mf = self.pair_bpr(users, pos, neg)
        reg = half_squares(w["user_embedding"][users], w["user_feature_preference"][users],
                           w["item_embedding"][pos], w["item_bias"][pos],
                           w["item_embedding"][neg], w["item_bias"][neg])
        emb = self.hp.decay * reg / self.hp.batch_size
        emb += self.hp.feature_decay * half_squares(w["feature_projection"], w["feature_bias"])
        return mf + emb, mf, emb


def neighbour_mean_matrix(train_lists, n_users, n_items):
    """D^-1 A of the user-item graph (no self-loops; repeats count once); empty rows stay 0."""
    n = n_users + n_items
    adjacency = np.zeros((n, n))
    for user, items in train_lists.items():
        for item in items:
            adjacency[user, n_users + item] = adjacency[n_users + item, user] = 1.0
    degree = adjacency.sum(axis=1, keepdims=True)
    return np.divide(adjacency, degree, out=np.zeros_like(adjacency), where=degree > 0)


class MMGCNReference(NodeVectorsReference):
    def __init__(self, weights, features, mean_matrix, n_users, hp):
        w = as_float64(weights)
        self.w, self.hp, self.n_users = w, hp, n_users
        self.modalities = [m for m in MODALITY_ORDER if m in features]
        ids = np.concatenate([w["user_embedding"], w["item_embedding"]])
        total = 0.0
        for m in self.modalities:
            x = np.concatenate([w[m + "/user_preference"],
                                features[m].astype(np.float64) @ w[m + "/feature_projection"]])
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
            for l in range(hp.n_layers):
                layer = lambda name: w["%s/layer%d/%s" % (m, l, name)]
                h = leaky_relu(mean_matrix @ x @ layer("aggregation"))       # Eq. 2
                x_hat = leaky_relu(x @ layer("own")) + ids                    # Eq. 5
                x = leaky_relu(np.concatenate([h, x_hat], axis=1) @ layer("combination"))
            total = total + x
        self.users, self.items = total[:n_users], total[n_users:]


def feature_reference_of(built, train_lists, hp):
    """The VBPR or MMGCN reference (by ``hp.model``) holding ``built``'s current weights."""
    dataset = built.dataset
    if hp.model == "vbpr":
        return VBPRReference(built.weights(), dataset.features, hp)
    mean = neighbour_mean_matrix(train_lists, dataset.n_users, dataset.n_items)
    return MMGCNReference(built.weights(), dataset.features, mean, dataset.n_users, hp)
