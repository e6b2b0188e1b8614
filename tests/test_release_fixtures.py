"""The release's own numbers (found as tests/data_sources.py says: ``$MCLN_FIXTURES``):
losses and ranking scores for given weights, before and after one Adam step."""
import json
import os
import shutil
import types

import numpy as np
import pytest

from data_sources import missing_fixtures, release_fixtures
from helpers import Built
from utility.run.checkpoint import restore_variables

FIXTURES = release_fixtures()


@pytest.mark.parametrize("name", ["beauty", "taobao"])
def test_reproduces_release_outputs(tmp_path, name):
    base = os.path.join(FIXTURES, name)
    if not os.path.isdir(base):
        pytest.skip(missing_fixtures())
    with open(os.path.join(base, "expected.json")) as handle:
        expected = json.load(handle)
    data = str(tmp_path / "data")
    shutil.copytree(os.path.join(base, "data"), data)  # the loader writes a cache beside it
    built = Built(data, types.SimpleNamespace(**expected["hyperparameters"]))
    restore_variables(built.session, built.model.parameters, os.path.join(base, "ckpt", "model"))
    batch = expected["batch"]
    batch = (batch["users"], batch["pos_items"], batch["neg_items"], batch["int_items"])

    def check(loss_key, scores_key):
        want = expected[loss_key]
        np.testing.assert_allclose(built.losses(*batch),
                                   [want["loss"], want["mf_loss"], want["emb_loss"]], rtol=1e-5)
        for user, candidates in expected["candidates"].items():
            np.testing.assert_allclose(built.eval_scores([int(user)], [candidates])[0],
                                       expected[scores_key][user], rtol=1e-5, atol=2e-6)

    check("loss_before", "scores_before")
    built.train_step(*batch)
    check("loss_after_one_adam_step", "scores_after_one_adam_step")
