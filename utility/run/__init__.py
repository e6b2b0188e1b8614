"""Building and running a model: the one builder of graph, session, initialisation and data
feed (``build``, with ``session`` and ``tf_setup``), checkpoints and resuming (``checkpoint``)
and the lock that keeps one run per output folder (``run_lock``). Imports ``model``,
``common``, ``config`` and ``data``."""
