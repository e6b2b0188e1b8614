"""A trained run as a SavedModel that TensorFlow Serving (or ``tf.saved_model``) can load.

The training graph is not exported. The run's best checkpoint is restored once, its
evaluation caches refreshed, and what the full ranking scores with is read out: the user
table (U x D) and the item vectors (I x D; for MCLN those of the full ranking, where every
item attends over all items). A new, small graph holds them as constants (as reference
variables beyond 1 GB, a GraphDef's limit being 2 GB) together with
the items each user must not be offered (CSR: ``excluded_indptr`` (U + 1), and
``excluded_items``, the test split's full-ranking mask of utility/serve/recommend.py), and
computes

    scores = user_table[user_ids] item_vectors^T,  excluded items -inf,  top-k

A model whose scores are not inner products (DMRL) names its own tables and the ops scoring
from them instead (``model.ranking.Serving``); the rest is the same.

so that its answers are recommend.py's. Signature ``serving_default`` (predict):
inputs ``user_ids`` (int64, any number) and ``k`` (int32 scalar, clipped to 0..I); outputs
``item_ids`` (int64, users x k, best first) and ``scores`` (float32, users x k). A user with
fewer than k items left gets -inf scores at the end of its row. An id outside the run's
users fails the request with ``unknown user ids (this model knows users 0 to U-1): [...]``.

TensorFlow Serving loads numbered versions under a base directory: the model is written to
``<export_dir>/<version>`` (by default one more than the highest version there), first
under a hidden temporary name and renamed once complete, so that a server watching the
directory never loads half a model.
"""
import os

import numpy as np

from utility.common.errors import InputError

SIGNATURE = "serving_default"
# Up to this many bytes of tables the serving graph holds them as constants; beyond, as
# variables, since a GraphDef (a protocol buffer) cannot pass 2 GB.
EMBEDDED_BYTES = 1 << 30
INPUTS = ("user_ids", "k")
OUTPUTS = ("item_ids", "scores")


def versions(export_dir):
    """The numbered versions already in ``export_dir``."""
    if not os.path.isdir(export_dir):
        return []
    return sorted(int(name) for name in os.listdir(export_dir) if name.isdigit())


def version_dir(export_dir, version=None):
    """Where the new version goes; an InputError if it exists or ``version`` is not >= 1."""
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise InputError("--export_dir %s is a file, not a directory" % export_dir)
    if version is None:
        version = (versions(export_dir) or [0])[-1] + 1
    if version < 1:
        raise InputError("--version must be a positive integer, got %d" % version)
    path = os.path.join(export_dir, str(version))
    if os.path.exists(path):
        raise InputError("%s already exists; export another --version or remove it" % path)
    return path


def excluded_csr(excluded, n_users, n_items):
    """(indptr (U + 1), items) of the sorted excluded keys ``user * n_items + item``."""
    bounds = np.arange(n_users + 1, dtype=np.int64) * n_items
    return np.searchsorted(excluded, bounds).astype(np.int64), excluded % n_items


def inner_product_scores(tables, users):
    """G x I scores of ``users`` (G,): user_table[users] item_vectors^T."""
    import tensorflow.compat.v1 as tf
    return tf.matmul(tf.gather(tables["user_table"], users), tables["item_vectors"],
                     transpose_b=True)


def serving_graph(tables, score, indptr, items):
    """(graph, feed initialising its variables, inputs, outputs) of the serving model:
    ``tables`` (name -> array) stored in it, ``score(stored tables, user ids) -> G x I``."""
    import tensorflow.compat.v1 as tf
    graph = tf.Graph()
    feed = {}
    with graph.as_default():
        embedded = sum(value.nbytes for value in list(tables.values()) + [indptr, items]) \
            <= EMBEDDED_BYTES

        def stored(name, value):
            if embedded:
                # Constants in the graph: no variables, so TF 2.x's loader has no reference
                # variables to warn about, and TF 1.15 reads the same graph.
                return tf.constant(value, name=name)
            holder = tf.placeholder(tf.as_dtype(value.dtype), value.shape, name=name + "_value")
            feed[holder] = value
            # A reference variable (VariableV2): TF 2.x's resource handles carry attributes
            # that TF 1.15 and older TensorFlow Serving builds reject.
            return tf.Variable(holder, trainable=False, name=name, use_resource=False)

        stored_tables = {name: stored(name, value) for name, value in sorted(tables.items())}
        excluded_indptr = stored("excluded_indptr", indptr)
        excluded_items = stored("excluded_items", items)
        user_ids = tf.placeholder(tf.int64, [None], name="user_ids")
        k = tf.placeholder(tf.int32, [], name="k")
        # Checked before any gather: a gather's own error would name an index of the CSR
        # bounds (user + 1, out of U + 1 rows), not the user asked for.
        n_users = len(indptr) - 1
        known = tf.logical_and(user_ids >= 0, user_ids < n_users)
        check = tf.Assert(tf.reduce_all(known), [
            "unknown user ids (this model knows users 0 to %d):" % (n_users - 1),
            tf.boolean_mask(user_ids, tf.logical_not(known))], summarize=10)
        with tf.control_dependencies([check]):
            user_ids_checked = tf.identity(user_ids)
        scores = score(stored_tables, user_ids_checked)  # G x I
        # The excluded (row, item) pairs of this request, from each user's slice of the CSR.
        slices = tf.ragged.range(tf.gather(excluded_indptr, user_ids_checked),
                                 tf.gather(excluded_indptr, user_ids_checked + 1))
        pairs = tf.stack([slices.value_rowids(), tf.gather(excluded_items, slices.values)], 1)
        is_excluded = tf.scatter_nd(pairs, tf.ones_like(pairs[:, 0]),
                                    tf.shape(scores, out_type=tf.int64)) > 0
        scores = tf.where(is_excluded, tf.fill(tf.shape(scores), -float("inf")), scores)
        top = tf.nn.top_k(scores, tf.clip_by_value(k, 0, tf.shape(scores)[1]))
        outputs = {"item_ids": tf.cast(top.indices, tf.int64, name="top_item_ids"),
                   "scores": tf.identity(top.values, name="top_scores")}
    return graph, feed, {"user_ids": user_ids, "k": k}, outputs


def save(path, graph, feed, inputs, outputs):
    """Write the serving graph as a SavedModel at ``path`` (a temporary name first)."""
    import tensorflow.compat.v1 as tf
    from utility.run.session import make_session
    temporary = os.path.join(os.path.dirname(path),
                             ".tmp-%s-%d" % (os.path.basename(path), os.getpid()))
    with make_session(graph) as session:
        with graph.as_default():
            session.run(tf.global_variables_initializer(), feed)
            builder = tf.saved_model.builder.SavedModelBuilder(temporary)
            signature = tf.saved_model.signature_def_utils.predict_signature_def(inputs, outputs)
            builder.add_meta_graph_and_variables(
                session, [tf.saved_model.tag_constants.SERVING],
                signature_def_map={SIGNATURE: signature},
                strip_default_attrs=True)  # loadable by older TensorFlow Serving builds too
            builder.save()
    os.rename(temporary, path)


def export(run_dir, export_dir, checkpoint=None, data_path=None, version=None, tf_log=False):
    """Export the run in ``run_dir`` (its best checkpoint, or ``checkpoint``) as a new
    version under ``export_dir``; returns (the version's path, the checkpoint prefix)."""
    from utility.serve.recommend import checkpoint_of, load_run, restored_model
    path = version_dir(export_dir, version)
    run = load_run(run_dir, data_path)
    restored = restored_model(run, checkpoint_of(run_dir, checkpoint), tf_log)
    with restored.session:
        full, serving = restored.model.ranking.full, restored.model.serving
        if full.user_table is not None:
            tables = restored.session.run({"user_table": full.user_table,
                                           "item_vectors": full.item_vectors})
            score = inner_product_scores
        else:  # scores that are not inner products (DMRL's): the model's own tables
            tables, score = restored.session.run(serving.tables), serving.scores
    indptr, items = excluded_csr(run.excluded, run.dataset.n_users, run.dataset.n_items)
    if not os.path.isdir(export_dir):
        os.makedirs(export_dir)
    save(path, *serving_graph(tables, score, indptr, items))
    return path, restored.checkpoint
