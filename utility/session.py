"""TensorFlow session settings: thread pools and the optional XLA switch.

XLA on CPU needs two things: the session's ``global_jit_level`` and the process-wide flag
``--tf_xla_cpu_global_jit`` in ``TF_XLA_FLAGS``. TensorFlow (1.15 and 2.x alike) reads that
environment variable once, when the first session of the process is created; set later, it
is silently ignored and nothing gets compiled. ``make_session(xla=True)`` therefore sets it
itself and warns when an earlier session may already have frozen the flags;
``xla_cluster_count`` tells whether XLA really compiled part of a graph.
"""
import os
import warnings

import tensorflow.compat.v1 as tf

XLA_CPU_FLAG = "--tf_xla_cpu_global_jit"
_sessions_made = {"any": False}


def enable_xla_flags():
    """Put the CPU auto-clustering flag in TF_XLA_FLAGS (call before any session exists)."""
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if XLA_CPU_FLAG not in flags.split():
        if _sessions_made["any"]:
            warnings.warn("TF_XLA_FLAGS set after a session was created in this process; "
                          "TensorFlow may ignore it (XLA would then compile nothing)")
        os.environ["TF_XLA_FLAGS"] = (flags + " " + XLA_CPU_FLAG).strip()


def session_config(threads=0, xla=False):
    """``threads`` 0 lets TF use every core; ``xla`` turns on auto-clustering (JIT)."""
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    if xla:
        enable_xla_flags()
        config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    return config


def make_session(graph, threads=0, xla=False):
    config = session_config(threads, xla)
    _sessions_made["any"] = True
    return tf.Session(graph=graph, config=config)


def xla_cluster_count(session, fetches, feed_dict=None):
    """Run ``fetches`` once and count the XLA clusters executed (``_XlaRun`` nodes)."""
    options = tf.RunOptions(output_partition_graphs=True)
    metadata = tf.RunMetadata()
    session.run(fetches, feed_dict, options=options, run_metadata=metadata)
    return sum(node.op in ("_XlaRun", "XlaLaunch")
               for graph in metadata.partition_graphs for node in graph.node)
