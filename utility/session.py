"""TensorFlow session settings: thread pools and the optional XLA switch."""
import os

import tensorflow.compat.v1 as tf


def session_config(threads=0, xla=False):
    """``threads`` 0 lets TF use every core; ``xla`` turns on auto-clustering (JIT)."""
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    if xla:
        # On CPU, auto-clustering also needs this flag, read when TF builds its first session.
        os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "")
                                      + " --tf_xla_cpu_global_jit").strip()
        config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    return config


def make_session(graph, threads=0, xla=False):
    return tf.Session(graph=graph, config=session_config(threads, xla))
