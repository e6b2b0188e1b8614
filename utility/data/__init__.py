"""Datasets: reading a folder of split files and features and refusing bad input with file
and line (``load``), building the public datasets from pinned sources (``prepare``,
``content``, ``mmrec``; the checked fetching they share: ``download``), the synthetic demo
(``demo``), the planted spurious-correlation benchmark (``spurious``), item features from
real titles and pictures (``features``) and the training sampler (``sampler``). Imports
``common`` and ``config`` only; never TensorFlow at import time (data errors must surface
before TensorFlow loads)."""
