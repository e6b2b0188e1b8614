"""The house rules of docs/architecture.md, checked on the code as text (no imports run)."""
import ast
import os
import subprocess
import sys

from tests.helpers import REPO

STAGES = ("common", "config", "data", "run", "evaluation", "watch", "serve")
# Which packages of utility/ each stage may import (itself included).
ALLOWED = {
    "common": {"common"},
    "config": {"common", "config"},
    "data": {"common", "config", "data"},
    "run": {"common", "config", "data", "run"},
    "evaluation": {"common", "config", "data", "run", "evaluation"},
    "watch": {"common", "config", "watch"},
    "serve": {"common", "config", "data", "run", "evaluation", "serve"},
}


def python_files(folder):
    for root, _, files in os.walk(os.path.join(REPO, folder)):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(root, name)


def imported_modules(path):
    """Every module an ``import`` or ``from ... import`` in ``path`` names (any depth)."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_every_utility_module_is_inside_a_stage_package():
    loose = sorted(name for name in os.listdir(os.path.join(REPO, "utility"))
                   if name.endswith(".py") and name != "__init__.py")
    assert loose == []
    packages = sorted(name for name in os.listdir(os.path.join(REPO, "utility"))
                      if os.path.isdir(os.path.join(REPO, "utility", name))
                      and not name.startswith("__"))
    assert set(packages) <= set(STAGES), packages
    for stage in packages:  # each says what belongs there
        with open(os.path.join(REPO, "utility", stage, "__init__.py")) as handle:
            assert ast.get_docstring(ast.parse(handle.read()))


def test_imports_point_one_way():
    for path in python_files("model"):
        named = [m for m in imported_modules(path)
                 if m.split(".")[0] in ("utility", "experiments", "main")]
        assert named == [], path
    for stage in STAGES:
        for path in python_files(os.path.join("utility", stage)):
            for module in imported_modules(path):
                parts = module.split(".")
                if parts[0] == "utility" and len(parts) > 1:
                    assert parts[1] in ALLOWED[stage], "%s imports %s" % (path, module)
                assert parts[0] != "main", path
    for folder in ("utility", "model", "experiments", "bench"):
        for path in python_files(folder):
            if path.endswith(os.path.join("experiments", "ray_backend.py")):
                continue  # runs main.run in a Ray worker (docs/architecture.md)
            assert "main" not in [m.split(".")[0] for m in imported_modules(path)], path


def test_one_builder_feeds_every_graph():
    callers = []
    for folder in ("utility", "experiments", "bench", "."):
        paths = python_files(folder) if folder != "." else [
            os.path.join(REPO, name) for name in os.listdir(REPO) if name.endswith(".py")]
        for path in paths:
            with open(path) as handle:
                if "feed_data(" in handle.read():
                    callers.append(os.path.relpath(path, REPO))
    assert sorted(set(callers)) == [os.path.join("utility", "run", "build.py")]


def test_commands_keep_their_short_names():
    for command in ("utility.prepare_data", "utility.make_demo", "utility.plot",
                    "utility.features"):
        done = subprocess.run([sys.executable, "-m", command, "--help"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        assert done.returncode == 0, (command, done.stderr)
        assert "usage:" in done.stdout
