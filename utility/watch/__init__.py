"""Watching a run while it trains and after: TensorBoard events (``tensorboard``), curves of
one or several runs (``plot``) and the monitor that feeds both and estimates the time left
(``monitor``). Imports ``common`` and ``config``; no stage imports it but ``main.py``."""
