"""TensorFlow session settings: thread pools and the optional XLA switch.

XLA on CPU needs two things: the session's ``global_jit_level`` and the process-wide flag
``--tf_xla_cpu_global_jit`` in ``TF_XLA_FLAGS``. TensorFlow (1.15 and 2.x alike) reads that
environment variable once, when the first session of the process is created; set later, it
is silently ignored and nothing gets compiled. ``make_session(xla=True)`` therefore sets it
itself and warns when an earlier session may already have frozen the flags;
``xla_cluster_count`` tells whether XLA really compiled part of a graph.

Threads: ``intra_op_parallelism_threads`` sizes TensorFlow's process-wide intra-op pool,
which the FIRST session of the process creates; later sessions asking for another size
share that pool anyway (a 1-thread session first pins later 2-thread sessions to about
one core, on 1.15 and 2.x alike). ``make_session`` warns when that happens. The evaluation's
lanes need 2 inter-op threads to run side by side. Measured effects of the thread settings
are in the README's Performance section.
"""
import os
import warnings

import tensorflow.compat.v1 as tf

XLA_CPU_FLAG = "--tf_xla_cpu_global_jit"
_sessions_made = {"any": False, "threads": None}


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
    if _sessions_made["any"] and _sessions_made["threads"] != threads:
        warnings.warn("this process's first session set %s intra-op threads; TensorFlow keeps "
                      "that pool, so threads=%d has no effect here (use a new process)"
                      % (_sessions_made["threads"] or "all", threads))
    elif not _sessions_made["any"]:
        _sessions_made["threads"] = threads
    _sessions_made["any"] = True
    return tf.Session(graph=graph, config=config)


def xla_cluster_count(session, fetches, feed_dict=None):
    """Run ``fetches`` once and count the XLA clusters executed (``_XlaRun`` nodes)."""
    options = tf.RunOptions(output_partition_graphs=True)
    metadata = tf.RunMetadata()
    session.run(fetches, feed_dict, options=options, run_metadata=metadata)
    return sum(node.op in ("_XlaRun", "XlaLaunch")
               for graph in metadata.partition_graphs for node in graph.node)
