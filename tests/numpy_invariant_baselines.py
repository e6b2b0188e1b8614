"""Independent numpy transcriptions of InvRL and DMRL, written from the equations their model
modules state, one (user, item) pair at a time where the models batch:

- InvRL: UltraGCN's constraint weights from the train lists' degrees, the hard-sigmoid mask,
  each row's environment from its gradient gamma_r, and the IRMv1 penalty in closed form
  (d R_e / d w_e is the mean of gamma_r over the environment's rows);
- DMRL: each factor's attention from the normalised concatenation, the softplus mix, and
  the distance correlation written from its definition with the model's epsilons.

Weights are a dict keyed by the models' variable names; features a dict modality -> (I x F).
"""
import numpy as np

from numpy_feature_baselines import MODALITY_ORDER, as_float64, bpr, half_squares, sigmoid


def softplus(x):
    return np.logaddexp(0.0, x)


def l2_normalise(x):
    return x / np.sqrt(np.maximum(np.sum(x * x, axis=-1, keepdims=True), 1e-12))


class InvRLReference(object):
    def __init__(self, weights, features, train_lists, n_users, n_items, hp):
        self.w, self.hp = as_float64(weights), hp
        self.d = hp.embed_size
        self.features = np.concatenate([l2_normalise(features[m].astype(np.float64))
                                        for m in MODALITY_ORDER if m in features], axis=1)
        user_degree, item_degree = np.zeros(n_users), np.zeros(n_items)
        for user, items in train_lists.items():
            for item in set(items):
                user_degree[user] += 1
                item_degree[item] += 1
        self.b_user = np.sqrt(user_degree + 1) / np.maximum(user_degree, 1e-10)
        self.b_item = 1 / np.sqrt(item_degree + 1)
        self.gate = np.clip(self.w["mask_logits"] + 0.5, 0.0, 1.0)

    def parts(self, user, item):
        """(ID term, feature term) of s(user, item)."""
        w, d = self.w, self.d
        p = w["user_embedding"][user]
        invariant = (self.gate * self.features[item]) @ w["feature_projection"]
        return p[:d] @ w["item_embedding"][item], p[d:] @ invariant

    def scores(self, user, items):
        return np.array([sum(self.parts(user, item)) for item in items])

    def environments(self, users, pos, neg):
        gammas = []
        for u, i, j in zip(users, pos, neg):
            (id_i, f_i), (id_j, f_j) = self.parts(u, i), self.parts(u, j)
            weight_i, weight_j = 1 + self.b_user[u] * self.b_item[i], \
                1 + self.b_user[u] * self.b_item[j]
            gammas.append(-weight_i * sigmoid(-(id_i + f_i)) * f_i
                          + weight_j * sigmoid(id_j + f_j) * f_j)
        order = np.argsort(gammas, kind="stable")
        ranks = np.empty(len(order), int)
        ranks[order] = np.arange(len(order))
        return ranks * self.hp.n_envs // len(order), np.array(gammas)

    def losses(self, users, pos, neg):
        w, hp = self.w, self.hp
        rows = []
        for u, i, j in zip(users, pos, neg):
            weight_i = 1 + self.b_user[u] * self.b_item[i]
            weight_j = 1 + self.b_user[u] * self.b_item[j]
            rows.append(weight_i * softplus(-sum(self.parts(u, i)))
                        + weight_j * softplus(sum(self.parts(u, j))))
        mf = np.mean(rows)
        environments, gammas = self.environments(users, pos, neg)
        penalty = sum(np.mean(gammas[environments == e]) ** 2
                      for e in range(hp.n_envs) if np.any(environments == e))
        irm = hp.irm_weight * penalty + hp.mask_decay * np.sum(w["mask_logits"] ** 2)
        emb = hp.decay * half_squares(w["user_embedding"][users], w["item_embedding"][pos],
                                      w["item_embedding"][neg]) / hp.batch_size
        emb += hp.feature_decay * half_squares(w["feature_projection"])
        return mf + emb + irm, mf, emb, irm


def distance_correlation(x, y):
    def centred(z):
        distances = np.sqrt(np.array([[max(np.sum((a - b) ** 2), 0.0) for b in z] for a in z])
                            + 1e-8)
        return distances - distances.mean(axis=0, keepdims=True) \
            - distances.mean(axis=1, keepdims=True) + distances.mean()

    def covariance(a, b):
        return np.sqrt(max(np.sum(a * b) / len(a) ** 2, 0.0) + 1e-8)

    a, b = centred(x), centred(y)
    return covariance(a, b) / (np.sqrt(max(covariance(a, a) * covariance(b, b), 0.0)) + 1e-10)


class DMRLReference(object):
    def __init__(self, weights, features, hp):
        w = as_float64(weights)
        self.w, self.hp = w, hp
        self.modalities = [m for m in MODALITY_ORDER if m in features]
        self.k = hp.n_factors
        self.represented = {}
        for m in self.modalities:
            hidden = l2_normalise(features[m].astype(np.float64)) @ w[m + "/hidden/kernel"] \
                + w[m + "/hidden/bias"]
            hidden = np.where(hidden > 0, hidden, 0.2 * hidden)
            self.represented[m] = l2_normalise(hidden) @ w[m + "/output/kernel"] \
                + w[m + "/output/bias"]

    def sources(self, item):
        return [self.w["item_embedding"][item]] + [self.represented[m][item]
                                                  for m in self.modalities]

    def score(self, user, item):
        w = self.w
        user_factors = np.split(w["user_embedding"][user], self.k)
        source_factors = [np.split(source, self.k) for source in self.sources(item)]
        total = 0.0
        for k in range(self.k):
            parts = [user_factors[k]] + [factors[k] for factors in source_factors]
            hidden = np.tanh(l2_normalise(np.concatenate(parts)) @ w["attention/hidden/kernel"]
                             + w["attention/hidden/bias"])
            logits = hidden @ w["attention/output/kernel"]
            attention = np.exp(logits - logits.max())
            attention /= attention.sum()
            total += sum(a * softplus(user_factors[k] @ factors[k])
                         for a, factors in zip(attention, source_factors))
        return total

    def scores(self, user, items):
        return np.array([self.score(user, item) for item in items])

    def losses(self, users, pos, neg):
        w, hp = self.w, self.hp
        mf = bpr([self.score(u, i) for u, i in zip(users, pos)],
                 [self.score(u, j) for u, j in zip(users, neg)])
        positive = [np.array([self.sources(i)[s] for i in pos])
                    for s in range(1 + len(self.modalities))]
        negative = [np.array([self.sources(j)[s] for j in neg])
                    for s in range(1 + len(self.modalities))]
        users_rows = w["user_embedding"][users]
        emb = hp.decay * half_squares(users_rows, *(positive + negative)) / hp.batch_size
        correlation = 0.0
        for rows in [users_rows] + positive:
            factors = np.split(rows, self.k, axis=1)
            correlation += sum(distance_correlation(a, b)
                               for a, b in zip(factors[:-1], factors[1:]))
        dcor = hp.dcor_weight * correlation / ((self.k + 1.0) * self.k / 2.0)
        return mf + emb + dcor, mf, emb, dcor
