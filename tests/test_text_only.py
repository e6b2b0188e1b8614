"""Text-only data (--modalities text): MCLN's variants that need no image, its paper
formulation and the feature baselines against the numpy transcriptions; each variant's
variables; the variants that need images refused; the flag; the experiments' tables; a
short training run on a text-only demo."""
import json
import os
import sys

import numpy as np
import pytest

from baseline_checks import add_test_only_item, randomise
from experiments import catalogue
from helpers import Built, hyperparameters, random_dataset, run_cli, run_main
from model.variants import resolve
from numpy_feature_baselines import feature_reference_of
from numpy_reference import reference_of
from test_feature_baselines import (BATCH as FEATURE_BATCH, CANDIDATES as FEATURE_CANDIDATES,
                                    EVAL_USERS)
from test_model_reference import BATCH
from test_variants import assert_matches_numpy
from utility.config.flags import parse_args

TEXT_VARIANTS = ("base", "t", "t_cl", "t_id_cl", "full", "no_intra", "no_inter")
IMAGE_VARIANTS = ("v", "v_cl", "v_id_cl", "vt", "vt_cl")
TEXT_DIM = 3


def text_only_dataset(folder, **options):
    """helpers.random_dataset without its image file: (folder, train lists)."""
    folder, train = random_dataset(folder, text_dim=TEXT_DIM, **options)
    os.remove(os.path.join(folder, "item2imgfeat.txt"))
    return folder, train


def text_only_hyperparameters(**overrides):
    return hyperparameters(**dict(dict(modalities="text"), **overrides))


def mcln_and_reference(tmp_path, **overrides):
    hp = text_only_hyperparameters(**dict(dict(lambda_m=0.7), **overrides))
    folder, train = text_only_dataset(str(tmp_path / "data"))
    built = Built(folder, hp)
    return built, reference_of(built, train, hp)


def full_protocol_scores(built):
    """Every user's scores over all items by the full protocol (nothing masked)."""
    dataset, ranking = built.dataset, built.model.ranking
    full = ranking.full
    built.session.run(ranking.refresh)
    built.session.run(full.refresh)  # after the model's own refresh
    users = np.arange(dataset.n_users)
    return users, built.session.run(full.scores, {full.users: users,
                                                  full.masked: np.zeros((0, 2), np.int64)})


# ------------------------------------------------------------------ MCLN against numpy
@pytest.mark.parametrize("variant,formulation",
                         [(v, "release") for v in TEXT_VARIANTS] +
                         [(v, "paper") for v in ("full", "t", "t_cl", "no_intra")])
def test_variant_losses_and_scores_match_numpy(tmp_path, variant, formulation):
    built, reference = mcln_and_reference(tmp_path, variant=variant, formulation=formulation)
    assert list(built.dataset.features) == (["text"] if variant != "base" else [])
    assert_matches_numpy(built, reference)


@pytest.mark.parametrize("formulation", ["release", "paper"])
def test_full_ranking_of_the_full_model_matches_numpy(tmp_path, formulation):
    """One attention group of all items, as the full protocol ranks them."""
    built, reference = mcln_and_reference(tmp_path, formulation=formulation)
    users, scores = full_protocol_scores(built)
    all_items = np.arange(built.dataset.n_items)
    want = [reference.scores(user, all_items) for user in users]
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-6)


def test_lambda_m_weighs_the_text_term_only_in_the_paper_formulation(tmp_path):
    """The release's score weighs only the image term by lambda_m: text-only it has none;
    the paper's Eq. 22 weighs every multimodal term."""
    for formulation, changes in (("release", False), ("paper", True)):
        scores = []
        for lambda_m in (0.3, 1.0):
            built, reference = mcln_and_reference(tmp_path / formulation / str(lambda_m),
                                                  formulation=formulation, lambda_m=lambda_m)
            scores.append(built.eval_scores([2], [[3, 1, 4]]))
            np.testing.assert_allclose(scores[-1][0], reference.scores(2, [3, 1, 4]),
                                       rtol=1e-5, atol=1e-6)
        assert (np.abs(scores[0] - scores[1]).max() > 1e-4) == changes, formulation


# ------------------------------------------------------------------ MCLN's variables
def variable_shapes(tmp_path, **overrides):
    folder, _ = text_only_dataset(str(tmp_path / "data"))
    built = Built(folder, text_only_hyperparameters(n_mca=1, **overrides))
    return {v.op.name: v.shape.as_list() for v in built.model.parameters}


def counterfactual_variables(c, d, release=True):
    """Names and shapes of one counterfactual layer of width c and the output maps."""
    shapes = {"cd_cl0/%s/kernel" % name: [c, c] for name in ("Q", "K", "V", "Q_int", "K_int")}
    shapes.update({"cd_cl0/LayerNorm/gamma": [c], "cd_cl0/LayerNorm/beta": [c],
                   "cd_dense0/dense/kernel": [c, 4 * c], "cd_dense0/dense/bias": [4 * c],
                   "cd_dense0/dense_1/kernel": [4 * c, c], "cd_dense0/dense_1/bias": [c],
                   "cd_dense0/LayerNorm/gamma": [c], "cd_dense0/LayerNorm/beta": [c],
                   "dense/kernel": [c, d]})
    if release:
        shapes.update({"cd_cl0/linear/kernel": [c, c], "dense_1/kernel": [c, d]})
    return shapes


def test_each_text_variant_has_exactly_its_variables(tmp_path):
    d = hyperparameters().embed_size
    ids = {"user_embedding": [12, d], "item_embedding": [15, d]}
    text = dict(ids, w1_t=[TEXT_DIM, d])
    expected = {
        "base": ids,
        "t": text, "no_inter": text,
        "t_cl": dict(text, **counterfactual_variables(d, d)),
        # No user_embedding_v/_t/_m: the release's never-read tables are image data's only.
        "t_id_cl": dict(text, **counterfactual_variables(2 * d, d)),
        "full": dict(text, **counterfactual_variables(2 * d, d)),
        "no_intra": dict(text, **counterfactual_variables(2 * d, d)),
    }
    for variant in TEXT_VARIANTS:
        assert variable_shapes(tmp_path / variant, variant=variant) == expected[variant], \
            variant
    paper = variable_shapes(tmp_path / "paper", formulation="paper")
    assert paper == dict(text, **counterfactual_variables(2 * d, d, release=False))


def test_full_and_t_id_cl_are_one_model_on_text_only_data(tmp_path):
    """Same switches and same variables: the same initial weights, losses and scores."""
    built = {variant: mcln_and_reference(tmp_path / variant, variant=variant)[0]
             for variant in ("full", "t_id_cl")}
    assert resolve("full", ["text"]) == resolve("t_id_cl", ["text"]) == (("text",),
                                                                          ("id", "text"))
    weights = {variant: b.weights() for variant, b in built.items()}
    assert sorted(weights["full"]) == sorted(weights["t_id_cl"])
    for name, value in weights["full"].items():
        np.testing.assert_array_equal(value, weights["t_id_cl"][name], err_msg=name)
    np.testing.assert_allclose(built["full"].losses(*BATCH), built["t_id_cl"].losses(*BATCH),
                               rtol=1e-6)


# ---------------------------------------------------------------- refusals and the flag
@pytest.mark.parametrize("variant", IMAGE_VARIANTS)
def test_image_variants_refuse_text_only_data(capsys, variant):
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--modalities", "text", "--variant", variant])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "variant %s needs image features, but --modalities is text" % variant)


def test_image_variant_refusal_is_one_line_from_main(tmp_path):
    status, _, stderr = run_main(["--dataset", "demo", "--data_path", str(tmp_path),
                                  "--modalities", "text", "--variant", "v_cl"])
    assert status == 2 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "main.py: error: variant v_cl needs image features, but --modalities is text")


@pytest.mark.parametrize("given,names", [
    ("text", ["text"]), ("image", ["image"]), ("image,text", ["image", "text"]),
    ("text,image", ["image", "text"]), (" text , image ", ["image", "text"])])
def test_modalities_flag_accepts_each_set_in_one_order(given, names):
    args = parse_args(["--modalities", given])
    assert args.modality_list == names and args.modalities == ",".join(names)


@pytest.mark.parametrize("given", ["audio", "image,image", "", ",", "text,audio",
                                   "image,text,text", "Image"])
def test_modalities_flag_refuses_anything_else(capsys, given):
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--modalities", given])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "error: --modalities must be 'image,text', 'image' or 'text', got %r" % given)


def test_experiment_tables_on_text_only_data():
    """Table 3: Base, T, T&CL and the full model, which is T&ID&CL there (one model, run
    once, as Taobao's full model is V&ID&CL); Table 4 keeps its three rows."""
    _, configs, claims = catalogue.plan("table3", "beauty14", ["text"])
    assert [c.name for c in configs] == ["base", "t", "t_cl", "full"]
    assert [c.label for c in configs] == ["(1) Base", "(5) Base w/ T", "(6) Base w/ T&CL",
                                          "(10) MCLN"]
    assert [c.text for c in claims] == ["T > Base", "T&CL > T", "MCLN > T&CL", "MCLN > Base"]
    _, configs, claims = catalogue.plan("table4", "beauty14", ["text"])
    assert [c.name for c in configs] == ["no_intra", "no_inter", "full"]
    assert len(claims) == 2


# --------------------------------------------------------------------- feature baselines
@pytest.mark.parametrize("model,overrides", [("vbpr", {"feature_decay": 0.02}),
                                             ("mmgcn", {"n_layers": 2})])
def test_feature_baselines_match_numpy_on_text_only_data(tmp_path, model, overrides):
    hp = text_only_hyperparameters(model=model, **overrides)
    folder, train = text_only_dataset(str(tmp_path / "data"))
    add_test_only_item(folder, user=4, item=15)
    built = Built(folder, hp, seed=1)
    randomise(built)
    dataset = built.dataset
    assert list(dataset.features) == ["text"] and dataset.n_items == 16
    reference = feature_reference_of(built, train, hp)
    names = {v.op.name for v in built.model.parameters}
    assert not any("image" in name for name in names)
    np.testing.assert_allclose(built.losses(*FEATURE_BATCH), reference.losses(*FEATURE_BATCH),
                               rtol=1e-5)
    want = [reference.scores(u, c) for u, c in zip(EVAL_USERS, FEATURE_CANDIDATES)]
    np.testing.assert_allclose(built.eval_scores(EVAL_USERS, FEATURE_CANDIDATES), want,
                               rtol=1e-5, atol=1e-6)
    users, scores = full_protocol_scores(built)
    all_items = np.arange(dataset.n_items)
    np.testing.assert_allclose(scores, [reference.scores(u, all_items) for u in users],
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------- training, end to end
# HR@10 after 4 epochs of MCLN on a 300-user, 200-item text-only demo, measured on TF 2.x:
# 0.45 (random ranking: 0.10).
TRAINED_FLOOR = 0.25


def test_mcln_trains_on_a_text_only_demo_well_above_random(tmp_path):
    status, _, stderr = run_cli([sys.executable, "-m", "utility.make_demo", "--users", "300",
                                 "--items", "200", "--out", str(tmp_path / "data" / "demo")])
    assert status == 0, stderr
    os.remove(str(tmp_path / "data" / "demo" / "item2imgfeat.txt"))
    out = str(tmp_path / "out")
    status, stdout, stderr = run_main(
        ["--dataset", "demo", "--data_path", str(tmp_path / "data"), "--modalities", "text",
         "--out_dir", out, "--epochs", "4", "--eval_interval", "4", "--batch_size", "64",
         "--threads", "1", "--no_checkpoints"])
    assert status == 0, stderr
    assert "text features: 32-d" in stdout and "image features" not in stdout
    with open(os.path.join(out, "results.json")) as handle:
        results = json.load(handle)
    assert results["hyperparameters"]["modalities"] == "text"
    assert results["final"]["hit@10"] > TRAINED_FLOOR, stdout
