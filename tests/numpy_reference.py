"""An independent numpy transcription of MCLN: the release's semantics (the reference's
sections 2, 4 and 5), the paper's ablation variants and the paper's own equations
(Eqs. 12-14, 19-25; the choices docs/model.md records where the paper is silent).

Written from those texts, not from model/MCLN.py, so the two can check each other.
Weights are a dict keyed by the release's variable names.
"""
import numpy as np

from model.variants import resolve


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


def stack(weights, h, zc, n_mca, paper=False):
    """n_mca layers over one attention group h (N x c); zc None drops the counterfactual term.

    Release: softmax(S - S*) (h V) linear. Paper (Eq. 14): (softmax(S) - softmax(S*)) (h V).
    """
    c = h.shape[1]
    for l in range(n_mca):
        w = lambda name: weights["cd_cl%d/%s" % (l, name)]
        f = lambda name: weights["cd_dense%d/%s" % (l, name)]
        s = (h @ w("Q/kernel")) @ (h @ w("K/kernel")).T / np.sqrt(c)
        s_int = 0.0 if zc is None else \
            (zc @ w("Q_int/kernel")) @ (zc @ w("K_int/kernel")).T / np.sqrt(c)
        if paper:
            difference = _softmax(s) - (0.0 if zc is None else _softmax(s_int))
            e_cl = difference @ (h @ w("V/kernel"))
        else:
            e_cl = _softmax(s - s_int) @ (h @ w("V/kernel")) @ w("linear/kernel")
        o = _layer_norm(e_cl + h, w("LayerNorm/gamma"), w("LayerNorm/beta"))
        inner = _relu(o @ f("dense/kernel") + f("dense/bias"))
        h = _layer_norm(_relu(inner @ f("dense_1/kernel") + f("dense_1/bias")) + o,
                        f("LayerNorm/gamma"), f("LayerNorm/beta"))
    return h


class Reference(object):
    """``hp`` may name ``variant`` (default full) and ``formulation`` (default release)."""

    def __init__(self, weights, features, laplacian, n_users, hp):
        self.w, self.features, self.hp = weights, features, hp
        self.paper = getattr(hp, "formulation", "release") == "paper"
        self.score_terms, self.cl_inputs = resolve(getattr(hp, "variant", "full"),
                                                   list(features))
        self.modalities = [m for m in features if m in self.score_terms + self.cl_inputs]
        self.ug, self.ig = propagate(weights, laplacian, hp.n_layers, n_users)

    def branches(self, items):
        out = {"g": self.ig[items]}
        short = {"image": "v", "text": "t"}
        for m in self.modalities:
            out[m] = self.features[m][items] @ self.w["w1_" + short[m]]
        return out

    def z(self, items):
        b = self.branches(items)
        return np.concatenate([b["g" if name == "id" else name] for name in self.cl_inputs],
                              axis=1)

    def positive_m(self, items, int_items):
        h = stack(self.w, self.z(items), self.z(int_items), self.hp.n_mca, self.paper)
        return _relu(h @ self.w["dense/kernel"])

    def negative_m(self, items, int_items):
        """Release: no counterfactual term, own kernel dense_1. Paper: like a positive."""
        if self.paper:
            return self.positive_m(items, int_items)
        return _relu(stack(self.w, self.z(items), None, self.hp.n_mca) @ self.w["dense_1/kernel"])

    def multimodal(self, branches):
        """The terms of e_i (Eq. 19) the variant keeps: scored modalities and m."""
        return [branches[k] for k in ("image", "text", "m")
                if k in branches and (k == "m" or k in self.score_terms)]

    def scores(self, user, items):
        """Ranking scores of one candidate list (int items = the list itself)."""
        b = self.branches(items)
        u = self.ug[user]
        if self.cl_inputs:
            b["m"] = self.positive_m(items, items)
        if self.paper:  # Eq. 22: y_base + lambda_m <e_u, e_v + e_t + e^(M)>
            return b["g"] @ u + self.hp.lambda_m * sum(x @ u for x in self.multimodal(b))
        s = b["g"] @ u
        if "image" in self.score_terms:
            s = s + self.hp.lambda_m * (b["image"] @ u)
        return s + sum(b[k] @ u for k in ("text", "m") if k in b and
                       (k == "m" or k in self.score_terms))

    def losses(self, users, pos, neg, int_items):
        u = self.ug[users]
        bp, bn = self.branches(pos), self.branches(neg)
        if self.cl_inputs:
            bp["m"], bn["m"] = self.positive_m(pos, int_items), self.negative_m(neg, int_items)

        def bpr(p, n):
            diff = (u * p).sum(1) - (u * n).sum(1)
            return np.mean(np.log1p(np.exp(-diff)))

        if self.paper:  # L_base (Eq. 23) + L_m (Eq. 24)
            mf = bpr(bp["g"], bn["g"])
            if self.multimodal(bp):
                mf += bpr(sum(self.multimodal(bp)), sum(self.multimodal(bn)))
        else:  # one BPR term per scored branch
            mf = sum(bpr(bp[k], bn[k]) for k in bp if k in ("g", "m") or k in self.score_terms)
        l2 = lambda x: np.sum(x ** 2) / 2
        reg = l2(self.w["user_embedding"][users]) + l2(self.w["item_embedding"][pos]) \
            + l2(self.w["item_embedding"][neg])
        reg += sum(l2(bp[k]) + l2(bn[k]) for k in self.modalities + ["m"] if k in bp)
        emb = self.hp.decay * reg / self.hp.batch_size
        return mf + emb, mf, emb


def reference_of(built, train_lists, hp):
    """The numpy Reference holding ``built``'s current weights, on its training graph."""
    dataset = built.dataset
    laplacian = normalized_adjacency_dense(train_lists, dataset.n_users, dataset.n_items,
                                           hp.adj_b)
    return Reference(built.weights(), dataset.features, laplacian, dataset.n_users, hp)
