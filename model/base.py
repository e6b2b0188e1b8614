"""What every model offers training and both evaluation protocols, whatever the model.

A model is built from its ``Config`` (a namedtuple of its hyperparameters only) and a
``DataShape``, inside a graph. It then exposes:

- ``inputs``: the training placeholders (``TrainInputs``), filled by ``training_feed(batch)``
  from a sampled batch (utility/data/sampler.py);
- ``training``: ``Training(train_op, loss, parts)``, ``parts`` the named terms of the loss in
  print order (``mf_loss``, ``emb_loss``);
- ``ranking``: ``model.ranking.Ranking(refresh, sampled, full)``, the handles of both
  evaluation protocols;
- ``parameters``: the model's variables (what checkpoints restore by name);
- ``feed_data(session, adjacency, features)``: fills the data the graph holds (features,
  normalised adjacency) once per session.
Shape letters: model/__init__.py.
"""
import collections

import numpy as np
import tensorflow.compat.v1 as tf

from model.propagation import Adjacency

TrainInputs = collections.namedtuple("TrainInputs", "users pos_items neg_items int_items")
DataShape = collections.namedtuple("DataShape", "n_users n_items feature_dims n_adjacency")
Training = collections.namedtuple("Training", "train_op loss parts")
# The normalisation D^-0.5 (A [+ I]) D^-column_exponent of the adjacency a model propagates on.
AdjacencyKind = collections.namedtuple("AdjacencyKind", "self_loops column_exponent")
# Without self-loops: D^-0.5 A, rows scaled and columns not; LightGCN's D^-0.5 A D^-0.5.
ROW_SCALED = AdjacencyKind(self_loops=False, column_exponent=0.0)
SYMMETRIC = AdjacencyKind(self_loops=False, column_exponent=0.5)


def config_from(config_class, values):
    """``config_class`` filled from ``values`` (a mapping or a namespace such as parsed flags):
    every field it has; fields it lacks keep the class's defaults."""
    get = values.get if isinstance(values, dict) else lambda name, _: getattr(values, name, _)
    missing = object()
    fields = {}
    for name in config_class._fields:
        value = get(name, missing)
        if value is not missing:
            fields[name] = value
    return config_class(**fields)


def config_record(name, **defaults):
    """A namedtuple class ``name`` whose fields are ``defaults``' keys, each with its default."""
    record = collections.namedtuple(name, list(defaults))
    record.__new__.__defaults__ = tuple(defaults.values())
    return record


class DataHolders(object):
    """Features and adjacency live in local variables filled once from placeholders.

    Feeding them (instead of embedding constants, as the release does) keeps the GraphDef
    small whatever the number of items or the feature width.
    """

    def __init__(self, n_items, feature_dims, n_adjacency, n_nodes):
        self.feeds = {}
        # Read as plain tensors: a gather from a resource variable itself (ResourceGather)
        # switches it to copy-on-read, and every later full read (the evaluation refresh)
        # would then copy the whole feature matrix.
        self.features = {m: self._holder("features_" + m, tf.float32, [n_items, dim])
                         for m, dim in feature_dims.items()}   # each I x F
        self.adjacency = None
        if n_adjacency is not None:
            # A + I (and A) are symmetric: L^T has L's indices, its values permuted (feed).
            self.adjacency = Adjacency(
                self._holder("adjacency_indices", tf.int64, [n_adjacency, 2]),
                self._holder("adjacency_values", tf.float32, [n_adjacency]),
                self._holder("adjacency_transposed_values", tf.float32, [n_adjacency]),
                n_nodes)

    def _holder(self, name, dtype, shape):
        value = tf.placeholder(dtype, shape, name=name + "_value")
        self.feeds[name] = value
        return tf.Variable(value, trainable=False, name=name,
                           collections=[tf.GraphKeys.LOCAL_VARIABLES]).read_value()

    def feed_dict(self, adjacency, features):
        """The feed filling the holders: ``adjacency`` (indices in row-major order with a
        symmetric pattern, values) or None, ``features`` modality -> (I x F) array."""
        feed = {}
        if self.adjacency is not None:
            indices, values = adjacency
            by_column = np.lexsort((indices[:, 0], indices[:, 1]))
            if not np.array_equal(indices[by_column][:, ::-1], indices):
                raise ValueError("the adjacency needs row-major indices and a symmetric pattern")
            feed.update({self.feeds["adjacency_indices"]: indices,
                         self.feeds["adjacency_values"]: values,
                         self.feeds["adjacency_transposed_values"]: values[by_column]})
        for modality in self.features:
            feed[self.feeds["features_" + modality]] = features[modality]
        return feed


class Recommender(object):
    """Base of every model: placeholders, data holders, and the interface above.

    Subclasses set ``Config`` and implement ``_build()``, which creates the variables and sets
    ``self.training`` and ``self.ranking``; they say what data they read by the two class
    attributes below, or, where their config decides it, by overriding the class methods.
    """
    Config = None
    # The adjacency the model propagates on (an AdjacencyKind; None: it uses no graph).
    fixed_adjacency = None
    # Whether the model reads the features of every modality of the data (False: of none).
    reads_all_features = False
    # Whether training feeds counterfactual ("int") items: MCLN's counterfactual inputs.
    uses_int_items = False
    # A model whose scores are not inner products sets a ``model.ranking.Serving`` here, what
    # export.py serves it from.
    serving = None

    @classmethod
    def adjacency_kind(cls, config):
        """The adjacency this model propagates on (None: it uses no graph)."""
        return cls.fixed_adjacency

    @classmethod
    def feature_modalities(cls, config, modalities):
        """Which of the data's ``modalities`` the model reads (their features are fed)."""
        return list(modalities) if cls.reads_all_features else []

    def __init__(self, config, shape):
        self.config, self.shape = config, shape
        self.n_users, self.n_items = shape.n_users, shape.n_items
        self.inputs = TrainInputs(*[tf.placeholder(tf.int32, [None], name=name) for name in (
            "users", "pos_items", "neg_items")] + [
            tf.placeholder(tf.int32, [None], name="int_items") if self.uses_int_items else None])
        used = self.feature_modalities(config, list(shape.feature_dims))
        self.data = DataHolders(shape.n_items, {m: shape.feature_dims[m] for m in used},
                                None if self.adjacency_kind(config) is None else shape.n_adjacency,
                                shape.n_users + shape.n_items)
        self.training, self.ranking, self.parameters = None, None, None
        self._build()
        self._initialise_data = tf.local_variables_initializer()

    def _build(self):
        raise NotImplementedError

    def _optimise(self, loss, parts, learning_rate):
        """Training handles: Adam on ``loss``; the model's variables are those made so far."""
        self.parameters = tf.global_variables()
        optimizer = tf.train.AdamOptimizer(learning_rate)
        return Training(optimizer.minimize(loss), loss, parts)

    def training_feed(self, batch):
        """The feed of one sampled batch (users, pos_items, neg_items, int_items)."""
        feed = {self.inputs.users: batch.users, self.inputs.pos_items: batch.pos_items,
                self.inputs.neg_items: batch.neg_items}
        if self.uses_int_items:
            feed[self.inputs.int_items] = batch.int_items
        return feed

    def feed_data(self, session, adjacency, features):
        """Fill the data holders (and reset the evaluation caches)."""
        session.run(self._initialise_data, feed_dict=self.data.feed_dict(adjacency, features))
