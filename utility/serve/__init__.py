"""Using a trained run: top-K recommendations from a checkpoint (``recommend``) and the
SavedModel export that serves without this code (``export``). Imports every earlier stage;
nothing of the project imports it but the ``recommend.py`` and ``export.py`` commands."""
