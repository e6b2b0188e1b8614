"""VBPR and MMGCN against numpy transcriptions of their papers (forward pass, loss parts, both
ranking protocols), with and without text; training on demo data through main.py."""
import numpy as np
import pytest

from baseline_checks import built_on_random_data, check_both_protocols, check_trains_on_demo
from helpers import hyperparameters
from numpy_feature_baselines import feature_reference_of

BATCH = ([0, 3, 5, 7, 11], [1, 4, 2, 9, 0], [6, 8, 13, 1, 3])
EVAL_USERS = [2, 7, 0]
CANDIDATES = [[3, 1, 4, 14, 5, 9], [2, 6, 5, 3, 8, 0], [0, 1, 2, 3, 4, 5]]
CASES = [("vbpr", "image,text", {}), ("vbpr", "image", {"decay": 0.5, "feature_decay": 0.02}),
         ("mmgcn", "image,text", {"n_layers": 2}), ("mmgcn", "image", {"n_layers": 3})]


def built_and_reference(tmp_path, model, modalities, **overrides):
    hp = hyperparameters(model=model, modalities=modalities, **overrides)
    built, train = built_on_random_data(tmp_path, hp)
    return built, feature_reference_of(built, train, hp)


@pytest.mark.parametrize("model,modalities,overrides", CASES)
def test_loss_parts_and_both_protocols_match_numpy(tmp_path, model, modalities, overrides):
    built, reference = built_and_reference(tmp_path, model, modalities, **overrides)
    dataset = built.dataset
    assert dataset.n_items == 16 and sorted(dataset.features) == sorted(modalities.split(","))

    want = reference.losses(*BATCH)
    np.testing.assert_allclose(built.losses(*BATCH), want, rtol=1e-5)
    assert want[1] > 1e-2 and want[2] > 1e-4  # both parts are there to be checked

    check_both_protocols(built, reference, EVAL_USERS, CANDIDATES)


# ------------------------------------------------------------------- demo, end to end
# HR@10 on the demo test split after 6 epochs of the demo presets (seed 2023), measured on
# TF 2.x / 1.15 (random ranking: 0.10): vbpr 0.527 / 0.502, mmgcn 0.445 / 0.457.
DEMO_FLOOR = 0.35


@pytest.mark.parametrize("model", ["vbpr", "mmgcn"])
def test_trains_on_demo_well_above_random(tmp_path_factory, tmp_path, model):
    check_trains_on_demo(tmp_path_factory, tmp_path, model, DEMO_FLOOR)
