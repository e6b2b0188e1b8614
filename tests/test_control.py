"""The random-feature control: same shapes and row norms, no content, seeded."""
import json
import os
import subprocess
import sys

import numpy as np

from tests.helpers import REPO
from utility.data.load import random_features


def real_features():
    rng = np.random.RandomState(5)
    image = np.abs(rng.standard_normal((30, 7))).astype(np.float32)
    image[3] = 0.0  # an item without a picture
    return {"image": image, "text": rng.standard_normal((30, 4)).astype(np.float32)}


def test_shapes_and_row_norms_are_kept_and_zero_rows_stay_zero():
    real = real_features()
    control = random_features(real, seed=1)
    for modality, matrix in real.items():
        assert control[modality].shape == matrix.shape
        assert control[modality].dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(control[modality], axis=1),
                                   np.linalg.norm(matrix, axis=1), rtol=1e-5, atol=1e-7)
    assert not control["image"][3].any()


def test_the_content_is_gone_and_the_draw_is_seeded():
    real = real_features()
    first, again, other = (random_features(real, seed) for seed in (1, 1, 2))
    for modality in real:
        np.testing.assert_array_equal(first[modality], again[modality])
        assert not np.allclose(first[modality], other[modality])
        # Directions unrelated to the real rows: cosine near 0 on average, not near 1.
        a, b = real[modality].astype(np.float64), first[modality].astype(np.float64)
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        cosine = (a * b).sum(axis=1)[norms > 0] / norms[norms > 0]
        assert abs(cosine.mean()) < 0.35
    assert not np.allclose(first["image"][:, :4], first["text"])  # modalities drawn apart


def test_main_records_the_control_and_trains_on_it(tmp_path):
    data = tmp_path / "data"
    subprocess.check_call([sys.executable, "-m", "utility.make_demo", "--out",
                           str(data / "tiny"), "--users", "120", "--items", "120"], cwd=REPO,
                          stdout=subprocess.DEVNULL)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "main.py", "--dataset", "tiny", "--data_path",
                           str(data), "--model", "vbpr", "--epochs", "1", "--batch_size", "32",
                           "--threads", "1", "--no_checkpoints", "--random_features", "3",
                           "--out_dir", str(out)], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert done.returncode == 0, done.stderr
    with open(os.path.join(str(out), "results.json")) as handle:
        results = json.load(handle)
    assert results["hyperparameters"]["random_features"] == 3


def test_the_control_experiment_pairs_each_model_with_its_random_twin():
    from experiments.catalogue import plan
    _, configs, claims = plan("control", "ml100k", ["image", "text"])
    flags = {c.name: dict(c.flags) for c in configs}
    assert flags == {"mcln": {"--model": "mcln"},
                     "mcln-random": {"--model": "mcln", "--random_features": 0},
                     "vbpr": {"--model": "vbpr"},
                     "vbpr-random": {"--model": "vbpr", "--random_features": 0},
                     "v": {"--model": "mcln", "--variant": "v"},
                     "v-random": {"--model": "mcln", "--variant": "v", "--random_features": 0},
                     "t": {"--model": "mcln", "--variant": "t"},
                     "t-random": {"--model": "mcln", "--variant": "t", "--random_features": 0}}
    assert [(c.better, c.worse, c.kind) for c in claims] == [
        ((name,), (name + "-random",), "greater") for name in ("mcln", "vbpr", "v", "t")]


def test_the_control_has_the_one_modality_rows_the_data_allows():
    from experiments.catalogue import plan
    for modalities, rows in ((["image"], ["v"]), (["text"], ["t"])):
        _, configs, _ = plan("control", "d", modalities)
        names = [c.name for c in configs]
        assert names == ["mcln", "mcln-random", "vbpr", "vbpr-random"] + [
            n + suffix for n in rows for suffix in ("", "-random")]
