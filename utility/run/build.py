"""One way to build and start a model, for main.py, bench/ and the tests: the model's config
record from flags, its adjacency, then graph, session, initialisation and data feed."""
import collections
import time

import tensorflow.compat.v1 as tf

from model import model_class
from model.base import DataShape, config_from
from utility.data.load import cached_adjacency
from utility.run.session import make_session

Started = collections.namedtuple("Started", "graph session model")


def model_and_config(values):
    """(model class, its config record) for ``values`` (parsed flags or a dict with ``model``,
    default mcln, and the hyperparameters)."""
    name = values.get("model", "mcln") if isinstance(values, dict) else values.model
    cls = model_class(name)
    return cls, config_from(cls.Config, values)


def load_adjacency(data_dir, dataset, cls, config, log=print):
    """(indices, values) of the adjacency the model propagates on, or None (no graph)."""
    kind = cls.adjacency_kind(config)
    if kind is None:
        return None
    indices, values, _ = cached_adjacency(data_dir, dataset, kind.column_exponent, log,
                                          self_loops=kind.self_loops)
    return indices, values


def data_shape(dataset, adjacency):
    return DataShape(dataset.n_users, dataset.n_items,
                     {m: matrix.shape[1] for m, matrix in dataset.features.items()},
                     None if adjacency is None else len(adjacency[1]))


def build_graph(cls, config, shape, seed):
    """A new graph holding the model, seeded with ``seed``: (graph, model, initialiser)."""
    tf.disable_eager_execution()
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        model = cls(config, shape)
        initialiser = tf.global_variables_initializer()
    return graph, model, initialiser


def start(cls, config, dataset, adjacency, seed, threads=0, xla=False, timings=None):
    """Build the model for ``dataset``, open a session, initialise it and feed the data.

    ``timings``, a dict if given, receives ``graph_build_seconds`` and
    ``init_and_feed_seconds`` (bench/ reports them). Every graph of the project, bench/
    included, starts here: ``feed_data`` has this one caller outside model/ and tests/.
    """
    began = time.time()
    graph, model, initialiser = build_graph(cls, config, data_shape(dataset, adjacency), seed)
    built = time.time()
    session = make_session(graph, threads, xla)
    session.run(initialiser)
    model.feed_data(session, adjacency, dataset.features)
    if timings is not None:
        timings.update(graph_build_seconds=built - began, init_and_feed_seconds=time.time() - built)
    return Started(graph, session, model)
