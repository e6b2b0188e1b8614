"""Everything around the models, one sub-package per stage of a run:

- ``common``: errors a user can act on, atomic file writes, progress bars (imports nothing
  of the project);
- ``config``: the flags, their roles and the presets per dataset and model;
- ``data``: datasets on disk, their preparation and features, the training sampler;
- ``run``: building a graph and session, checkpoints, the run lock;
- ``evaluation``: metrics, both ranking protocols, epoch selection, results.json;
- ``watch``: TensorBoard events, curves, the live monitor;
- ``serve``: recommendations and SavedModel export of a trained run.

A stage imports ``common``, ``config`` and earlier stages only (data -> run -> evaluation ->
watch -> serve); ``model/`` imports nothing of ``utility``. docs/architecture.md has the
whole map.

The commands users type keep short names: ``python -m utility.prepare_data`` runs
``utility.data.prepare`` (the table below); nothing else is aliased.
"""
import importlib.abc
import importlib.util
import sys

COMMANDS = {
    "utility.prepare_data": "utility.data.prepare",
    "utility.make_demo": "utility.data.demo",
    "utility.features": "utility.data.features.command",
    "utility.plot": "utility.watch.plot",
}


class _CommandFinder(importlib.abc.MetaPathFinder):
    """Finds a command's short name as the file of the staged module it names, for
    ``python -m``: the module runs as ``__main__`` either way."""

    def find_spec(self, name, path=None, target=None):
        if name not in COMMANDS:
            return None
        staged = importlib.util.find_spec(COMMANDS[name])
        return importlib.util.spec_from_file_location(name, staged.origin)


if not any(isinstance(finder, _CommandFinder) for finder in sys.meta_path):
    sys.meta_path.append(_CommandFinder())
