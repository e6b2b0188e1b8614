"""Ranking handles shared by every model: the sampled protocol's candidate scores and ranks,
and the full protocol's all-items top-K (shape letters: model/__init__.py).

Every model here scores s(u, x) = <user vector, item vector>. For most, an item's vector
depends on the item alone; for MCLN it depends on the candidate list the item is scored in
(its attention runs within the list), which is why the sampled scores come from a
``score_candidates`` function of the whole list.
"""
import collections

import tensorflow.compat.v1 as tf

# Feed users (G,) and candidates (G x R); read scores (G x R) and ranks (G,).
SampledRanking = collections.namedtuple("SampledRanking", "users candidates scores ranks")
# Run ``refresh`` after the model's refresh; feed users (G,), masked (pairs x 2: row, item) and
# k; read scores (G x I) and top_items (G x k). ``user_table`` (U x D) and ``item_vectors``
# (I x D), current after ``refresh``, are the factors of every score (exported for serving).
FullRanking = collections.namedtuple("FullRanking",
                                     "refresh users masked k scores top_items user_table "
                                     "item_vectors")
# ``refresh`` brings the per-evaluation caches up to date with the weights.
Ranking = collections.namedtuple("Ranking", "refresh sampled full")
# What export.py serves for a model whose scores are not inner products: ``tables`` (name ->
# tensor, current after the refresh) and ``scores(tables, users (G,)) -> G x I``, which
# rebuilds the full ranking's scores from those tables (as tensors) in another graph.
Serving = collections.namedtuple("Serving", "tables scores")


def held_out_rank(scores, candidates):
    """0-based rank of each row's last candidate under a stable descending sort: (G x R) -> (G,).

    The held-out item comes last, so it ranks after every earlier candidate it ties with,
    and after every earlier copy of itself (``--negatives release`` draws it at times) even
    where rounding in a batched product scores that copy a hair lower: copies tie.
    """
    ahead = tf.logical_or(scores[:, :-1] >= scores[:, -1:],
                          tf.equal(candidates[:, :-1], candidates[:, -1:]))
    return tf.reduce_sum(tf.cast(ahead, tf.int32), axis=1)


def cache(tables):
    """Local variables holding ``tables`` (name -> tensor) between refreshes.

    Returns (name -> variable, the refresh op assigning them all).
    """
    variables, updates = {}, []
    for name, value in sorted(tables.items()):
        variable = tf.Variable(tf.zeros(value.shape, tf.float32), trainable=False,
                               name="eval_cache_" + name,
                               collections=[tf.GraphKeys.LOCAL_VARIABLES])
        variables[name] = variable
        updates.append(tf.assign(variable, value))
    return variables, tf.group(*updates)


def grouped(rows, groups):
    """(G*R x D) -> (G x R x D) for batched products; ``groups`` is the pair (G, R).

    ``groups`` None means all rows form one group (training, full ranking): they stay 2-D, as a
    plain matmul is faster than a batch of one.
    """
    if groups is None:
        return rows
    return tf.reshape(rows, [groups[0], groups[1], rows.shape[-1]])


def group_scores(candidate_vectors, user_vectors, groups):
    """<user g, vector of its r-th candidate>: (G*R x D), (G x D) -> (G x R), as one batched
    (R x D)(D x 1) product per group."""
    return tf.matmul(grouped(candidate_vectors, groups), user_vectors[:, :, None])[:, :, 0]


def sampled_ranking(score_candidates, lanes=1):
    """Placeholders of the sampled protocol and the ranks of each list's last candidate.

    ``score_candidates(users (G,), candidates (G x R)) -> scores (G x R)``. The users of one
    call are split into ``lanes`` independent copies of the scoring subgraph: while one lane
    runs small element-wise ops, TensorFlow's inter-op scheduler gives the cores to another's
    products.
    """
    users = tf.placeholder(tf.int32, [None], name="eval_users")
    candidates = tf.placeholder(tf.int32, [None, None], name="eval_items")
    n_users = tf.shape(users)[0]
    bounds = [n_users * lane // lanes for lane in range(lanes + 1)]
    scores = tf.concat([score_candidates(users[begin:end], candidates[begin:end])
                        for begin, end in zip(bounds[:-1], bounds[1:])], axis=0)
    return SampledRanking(users, candidates, scores, held_out_rank(scores, candidates))


def full_ranking(user_table, item_vectors, refresh):
    """Every user against every item: scores = U[users] V^T (G x I), known items -inf, top-k.

    ``user_table`` (U x D) and ``item_vectors`` (I x D) must be current after ``refresh``.
    top_k breaks ties by the lower item id.
    """
    return scored_full_ranking(
        lambda users: tf.matmul(tf.gather(user_table, users), item_vectors, transpose_b=True),
        refresh, user_table, item_vectors)


def scored_full_ranking(score_users, refresh, user_table=None, item_vectors=None):
    """The full protocol from ``score_users(users (G,)) -> scores (G x I)``, for models whose
    scores are not inner products too (their ``user_table`` and ``item_vectors`` are None,
    and export.py serves them from the model's ``serving``)."""
    users = tf.placeholder(tf.int32, [None], name="full_users")
    masked = tf.placeholder(tf.int64, [None, 2], name="full_masked")
    k = tf.placeholder(tf.int32, [], name="full_k")
    scores = score_users(users)
    shape = tf.shape(scores, out_type=tf.int64)
    is_masked = tf.scatter_nd(masked, tf.ones_like(masked[:, 0]), shape) > 0
    scores = tf.where(is_masked, tf.fill(tf.shape(scores), -float("inf")), scores)
    return FullRanking(refresh, users, masked, k, scores, tf.nn.top_k(scores, k).indices,
                       user_table, item_vectors)


def inner_product_ranking(user_vectors, item_vectors):
    """Both protocols for a model whose item vectors do not depend on the candidate list:
    user (U x D) and item (I x D) vectors are cached once per evaluation."""
    tables, refresh = cache({"users": user_vectors, "item_vectors": item_vectors})

    def score_candidates(users, candidates):
        groups = tf.unstack(tf.shape(candidates))
        rows = tf.gather(tables["item_vectors"], tf.reshape(candidates, [-1]))
        return group_scores(rows, tf.gather(tables["users"], users), groups)

    return Ranking(refresh, sampled_ranking(score_candidates),
                   full_ranking(tables["users"], tables["item_vectors"], tf.no_op()))
