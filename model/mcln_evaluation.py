"""MCLN's evaluation: per-item tables cached once per evaluation, then candidate lists scored
in lanes (sampled protocol) or all items as one group (full protocol).

In evaluation the counterfactual ("int") items are the candidates themselves, so everything
that depends on one item only is computed once per evaluation (after one propagation) by
the refresh: z(x), the item part of the ranking vector (g + lambda_m v + t in the release),
layer 0's value rows and logit queries, and each later layer's counterfactual queries z G.
In the release layer 0's two logit terms add up to one, z (F + G) z^T, since there h = z is
the int rows too. The later layers' forms F and values map, which depend on weights only,
are cached too rather than multiplied out in every call. Shape letters: model/__init__.py.
"""
import collections

import tensorflow.compat.v1 as tf

from model.ranking import Ranking, cache, full_ranking, group_scores, sampled_ranking

# The cached tables of one layer: ``queries`` of its counterfactual term (I x c, z G), and for
# layer 0 its factual queries (I x c: z F, or z (F + G) in the release where the two terms
# merge) and value rows (I x c); ``forms``: the layer's forms (model/MCLN.py LayerForms), read
# from the cache.
CachedLayer = collections.namedtuple("CachedLayer",
                                     "counterfactual_queries first_queries first_values forms")


def _tables(model, items_g):
    """name -> tensor of everything the refresh caches, and the names of each layer's."""
    branches = model.item_branches(None, items_g)
    z = model.joint(branches)  # I x c
    tables = {"z": z, "item_vectors": model.ranking_vectors(branches)}
    first = model.forms[0]
    merged = not model.paper
    tables["layer0_first_queries"] = tf.matmul(
        z, first.factual + first.counterfactual if merged else first.factual)
    tables["layer0_first_values"] = tf.matmul(z, first.values)
    names = [CachedLayer(None if merged else "layer0_counterfactual_queries",
                         "layer0_first_queries", "layer0_first_values", None)]
    if not merged:
        tables["layer0_counterfactual_queries"] = tf.matmul(z, first.counterfactual)
    for l, form in enumerate(model.forms[1:], 1):
        prefix = "layer%d_" % l
        tables[prefix + "counterfactual_queries"] = tf.matmul(z, form.counterfactual)
        tables[prefix + "factual"], tables[prefix + "values"] = form.factual, form.values
        names.append(CachedLayer(prefix + "counterfactual_queries", None, None,
                                 form._replace(factual=prefix + "factual", counterfactual=None,
                                               values=prefix + "values")))
    return tables, names


def _candidate_vectors(model, lookup, layers, groups):
    """Ranking vectors (rows x d) of rows read by ``lookup(table name)``; each group of rows
    attends within itself, int items = the rows."""
    z = lookup("z")
    first = layers[0]
    first_counterfactual = (lookup(first.counterfactual_queries), z) \
        if first.counterfactual_queries else None
    first_layer = ((lookup(first.first_queries), z), first_counterfactual,
                   lookup(first.first_values))
    counterfactual = [None] + [(lookup(layer.counterfactual_queries), z) for layer in layers[1:]]
    forms = model.forms[:1] + [layer.forms for layer in layers[1:]]
    h = model.learning_stack(z, counterfactual, groups, first_layer, forms)
    m = model.counterfactual_output(h)
    return lookup("item_vectors") + (model.config.lambda_m * m if model.paper else m)


def build(model, lanes):
    """The ``Ranking`` of an MCLN with counterfactual layers, ``lanes`` lanes per call."""
    users_g, items_g = model.propagate()
    tables, names = _tables(model, items_g)
    tables["users"] = users_g
    cached, refresh = cache(tables)
    # The later layers' forms as evaluation reads them: from the cache.
    layers = names[:1] + [layer._replace(forms=layer.forms._replace(
        factual=cached[layer.forms.factual], values=cached[layer.forms.values]))
        for layer in names[1:]]

    def score_candidates(users, candidates):
        groups = tf.unstack(tf.shape(candidates))
        items = tf.reshape(candidates, [-1])
        vectors = _candidate_vectors(model, lambda name: tf.gather(cached[name], items),
                                     layers, groups)
        return group_scores(vectors, tf.gather(cached["users"], users), groups)

    # Full ranking: ONE attention group of all I items whose int items are the same items
    # (the release's evaluation with the candidate list = every item): I^2 logits per layer,
    # computed once per evaluation; users are then scored by one product with all vectors.
    full_vectors = tf.Variable(tf.zeros([model.n_items, model.d]), trainable=False,
                               name="eval_cache_full_item_vectors",
                               collections=[tf.GraphKeys.LOCAL_VARIABLES])
    refresh_full = tf.assign(full_vectors, _candidate_vectors(
        model, lambda name: cached[name], layers, None))
    return Ranking(refresh, sampled_ranking(score_candidates, lanes),
                   full_ranking(cached["users"], full_vectors, refresh_full))
