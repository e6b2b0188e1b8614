"""Loading the prepared public Beauty split: the binary cache, and a short training run.

Needs the offline MEGCF mirror (tests/data_sources.py; skipped where absent).
"""
import json
import os
import time

import numpy as np
import pytest

from data_sources import megcf_mirror, missing_mirror
from helpers import run_main
from utility.data import load as load_data
from utility.data import prepare as prepare_data

MIRROR = megcf_mirror()


@pytest.fixture(scope="module")
def beauty(tmp_path_factory):
    if not os.path.isdir(os.path.join(MIRROR, "Data", "amazon-beauty")):
        pytest.skip(missing_mirror())
    base = str(tmp_path_factory.mktemp("real"))
    return prepare_data.prepare("amazon", data_path=base, mirror=MIRROR, log=lambda *a: None)


def load(folder, log):
    dataset = load_data.load_dataset(folder, ["image", "text"], log=log)
    return dataset, load_data.cached_adjacency(folder, dataset, 0.4, log=log)


def fail_if_called(*args, **kwargs):
    raise AssertionError("the cache should have been used")


def test_cache_is_reused_identical_and_invalidated(beauty, monkeypatch):
    cold_log, warm_log = [], []
    start = time.time()
    cold, cold_adjacency = load(beauty, cold_log.append)
    cold_seconds = time.time() - start
    assert len([line for line in cold_log if line.startswith("parsed")]) == 4
    with monkeypatch.context() as patch:  # warm: no text parsing, no adjacency build
        for name in ("read_features", "read_train", "normalized_adjacency"):
            patch.setattr(load_data, name, fail_if_called)
        start = time.time()
        warm, warm_adjacency = load(beauty, warm_log.append)
        warm_seconds = time.time() - start
    print("Beauty load: cold %.2fs, warm %.3fs" % (cold_seconds, warm_seconds))
    assert warm_log == []
    assert (warm.n_users, warm.n_items, warm.n_train) == (15576, 8678, 123742)
    for name in ("train_indptr", "train_items", "test_pairs", "valid_pairs"):
        np.testing.assert_array_equal(getattr(cold, name), getattr(warm, name))
    for modality in ("image", "text"):
        np.testing.assert_array_equal(cold.features[modality], warm.features[modality])
    for a, b in zip(cold_adjacency, warm_adjacency):
        np.testing.assert_array_equal(a, b)

    # Touching a source file rebuilds exactly the caches that depend on it.
    path = os.path.join(beauty, "item2imgfeat.txt")
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    touched_log = []
    load(beauty, touched_log.append)
    assert [line.split()[1] for line in touched_log if line.startswith("parsed")] \
        == ["features_image"]


def test_short_training_run_writes_results(beauty, tmp_path):
    out = str(tmp_path / "out")
    flags = ["--dataset", "amazon", "--data_path", os.path.dirname(beauty), "--out_dir", out,
             "--epochs", "1", "--batch_size", "2048", "--embed_size", "8", "--n_layers", "1",
             "--n_mca", "1", "--eval_users_per_call", "1024"]
    status, stdout, stderr = run_main(flags)
    assert status == 0, stderr
    assert "users 15576, items 8678, train entries 123742" in stdout
    with open(os.path.join(out, "results.json")) as handle:
        results = json.load(handle)
    assert results["epochs_run"] == 1 and results["dataset"] == "amazon"
    assert len(results["history"]) == 1 and np.isfinite(results["history"][0]["loss"])
    assert 0.0 <= results["final"]["hit@10"] <= 1.0 and results["seconds"]["load"] > 0
