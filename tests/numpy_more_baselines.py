"""Numpy transcriptions of SVD++ and MGAT, written from their equations and the choices the
model modules state, not from the TensorFlow code:

- SVD++ (Koren, KDD 2008, implicit feedback with BPR): one score per (user, item), the
  implicit sum over the user's distinct training items in a loop;
- MGAT (Tao et al., IP&M 2020, as its public code computes it): node by node, each node's
  neighbours' gated attention and softmax written out.

Weights are a dict keyed by the models' variable names; features modality -> (I x F);
``train`` maps a user to its training items (repeats count once).
"""
import numpy as np

from numpy_feature_baselines import (MODALITY_ORDER, NodeVectorsReference, PairScoresReference,
                                     as_float64, half_squares, leaky_relu, sigmoid)


class SVDPPReference(PairScoresReference):
    def __init__(self, weights, train, hp):
        self.w, self.hp = as_float64(weights), hp
        self.history = {user: sorted(set(items)) for user, items in train.items()}

    def user_factor(self, user):
        """p_u + |N(u)|^-1/2 sum over j in N(u) of y_j."""
        w, items = self.w, self.history.get(user, [])
        implicit = sum((w["implicit_embedding"][j] for j in items),
                       np.zeros_like(w["user_embedding"][user]))
        if items:
            implicit = implicit / np.sqrt(len(items))
        return w["user_embedding"][user] + implicit

    def score(self, user, item):
        return self.w["item_bias"][item, 0] + self.w["item_embedding"][item] @ self.user_factor(
            user)

    def losses(self, users, pos, neg):
        w = self.w
        mf = self.pair_bpr(users, pos, neg)
        reg = half_squares(w["user_embedding"][users], w["item_embedding"][pos],
                           w["item_bias"][pos], w["item_embedding"][neg], w["item_bias"][neg])
        for user in users:  # Koren: each y_j the user's update touches
            reg += half_squares(*[w["implicit_embedding"][j] for j in self.history.get(user, [])])
        emb = self.hp.decay * reg / self.hp.batch_size
        return mf + emb, mf, emb


def unit_rows(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class MGATReference(NodeVectorsReference):
    def __init__(self, weights, features, train, n_users, n_items, hp):
        w = as_float64(weights)
        self.w, self.hp, self.n_users = w, hp, n_users
        self.modalities = [m for m in MODALITY_ORDER if m in features]
        neighbours = [set() for _ in range(n_users + n_items)]
        for user, items in train.items():
            for item in items:
                neighbours[user].add(n_users + item)
                neighbours[n_users + item].add(user)
        self.neighbours = [sorted(others) for others in neighbours]
        ids = np.concatenate([w["user_embedding"], w["item_embedding"]])
        total = 0.0
        for m in self.modalities:
            projected = np.tanh(features[m].astype(np.float64) @ w[m + "/feature_projection/kernel"]
                                + w[m + "/feature_projection/bias"])
            x = unit_rows(np.concatenate([w[m + "/user_preference"], projected]))
            layers = []
            for l in range(hp.n_layers):
                layer = lambda name: (w["%s/layer%d/%s/kernel" % (m, l, name)],
                                      w["%s/layer%d/%s/bias" % (m, l, name)])
                aggregated = self.gated_attention(x, *layer("attention"))
                kernel, bias = layer("own")
                node = leaky_relu(x @ kernel + bias) + ids
                kernel, bias = layer("combination")
                x = leaky_relu(leaky_relu(aggregated) @ kernel + bias + node)
                layers.append(x)
            total = total + np.concatenate(layers, axis=1)
        total = total / len(self.modalities)
        self.users, self.items = total[:n_users], total[n_users:]

    def gated_attention(self, x, kernel, bias):
        z = x @ kernel
        out = np.zeros_like(z)
        for h, others in enumerate(self.neighbours):
            summed = np.zeros(z.shape[1])
            if others:
                logits = []
                for t in others:
                    score = z[h] @ leaky_relu(z[t])
                    gate = sigmoid(score / np.sqrt(len(self.neighbours[t])))
                    logits.append(score * gate)
                logits = np.array(logits)
                attention = np.exp(logits - logits.max())
                attention /= attention.sum()
                for a, t in zip(attention, others):
                    summed += a * z[t]
            out[h] = unit_rows(summed + bias)
        return out
