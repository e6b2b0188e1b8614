"""An independent numpy transcription of mcln-reference.md sections 2, 4 and 5.

Written from the reference text, not from model/MCLN.py, so the two can check each other.
Weights are a dict keyed by the release's variable names.
"""
import numpy as np


def normalized_adjacency_dense(train_lists, n_users, n_items, b, a=0.5):
    n = n_users + n_items
    adjacency = np.eye(n)
    for user, items in train_lists.items():
        for item in set(items):
            adjacency[user, n_users + item] = adjacency[n_users + item, user] = 1.0
    r = adjacency.sum(axis=1)
    return np.diag(r ** -a) @ adjacency @ np.diag(r ** -b)


def propagate(weights, laplacian, n_layers, n_users):
    h = np.concatenate([weights["user_embedding"], weights["item_embedding"]])
    layers = [h]
    for _ in range(n_layers):
        h = laplacian @ h
        layers.append(h)
    mean = np.mean(layers, axis=0)
    return mean[:n_users], mean[n_users:]


def _layer_norm(x, gamma, beta):
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * gamma + beta


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _relu(x):
    return np.maximum(x, 0.0)


def stack(weights, h, zc, n_mca):
    """n_mca layers over one attention group h (N x c); zc None drops the counterfactual term."""
    c = h.shape[1]
    for l in range(n_mca):
        w = lambda name: weights["cd_cl%d/%s" % (l, name)]
        f = lambda name: weights["cd_dense%d/%s" % (l, name)]
        s = (h @ w("Q/kernel")) @ (h @ w("K/kernel")).T / np.sqrt(c)
        if zc is not None:
            s = s - (zc @ w("Q_int/kernel")) @ (zc @ w("K_int/kernel")).T / np.sqrt(c)
        o = _layer_norm(_softmax(s) @ (h @ w("V/kernel")) @ w("linear/kernel") + h,
                        w("LayerNorm/gamma"), w("LayerNorm/beta"))
        inner = _relu(o @ f("dense/kernel") + f("dense/bias"))
        h = _layer_norm(_relu(inner @ f("dense_1/kernel") + f("dense_1/bias")) + o,
                        f("LayerNorm/gamma"), f("LayerNorm/beta"))
    return h


class Reference(object):
    def __init__(self, weights, features, laplacian, n_users, hp):
        self.w, self.features, self.hp = weights, features, hp
        self.modalities = list(features)
        self.ug, self.ig = propagate(weights, laplacian, hp.n_layers, n_users)

    def branches(self, items):
        out = {"g": self.ig[items]}
        short = {"image": "v", "text": "t"}
        for m in self.modalities:
            out[m] = self.features[m][items] @ self.w["w1_" + short[m]]
        return out

    def z(self, items):
        b = self.branches(items)
        return np.concatenate([b["g"]] + [b[m] for m in self.modalities], axis=1)

    def positive_m(self, items, int_items):
        h = stack(self.w, self.z(items), self.z(int_items), self.hp.n_mca)
        return _relu(h @ self.w["dense/kernel"])

    def negative_m(self, items):
        return _relu(stack(self.w, self.z(items), None, self.hp.n_mca) @ self.w["dense_1/kernel"])

    def scores(self, user, items):
        """Ranking scores of one candidate list (int items = the list itself)."""
        b = self.branches(items)
        u = self.ug[user]
        m = self.positive_m(items, items)
        s = b["g"] @ u + self.hp.lambda_m * (b["image"] @ u) + m @ u
        return s + (b["text"] @ u if "text" in b else 0.0)

    def losses(self, users, pos, neg, intervention):
        u = self.ug[users]
        bp, bn = self.branches(pos), self.branches(neg)
        bp["m"], bn["m"] = self.positive_m(pos, intervention), self.negative_m(neg)
        mf = 0.0
        for k in bp:
            diff = (u * bp[k]).sum(1) - (u * bn[k]).sum(1)
            mf += np.mean(np.log1p(np.exp(-diff)))
        l2 = lambda x: np.sum(x ** 2) / 2
        reg = l2(self.w["user_embedding"][users]) + l2(self.w["item_embedding"][pos]) \
            + l2(self.w["item_embedding"][neg])
        reg += sum(l2(bp[k]) + l2(bn[k]) for k in self.modalities + ["m"])
        emb = self.hp.decay * reg / self.hp.batch_size
        return mf + emb, mf, emb
