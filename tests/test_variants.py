"""MCLN's ablation variants, the paper's formulation and the gradient switch, against the
numpy transcription (tests/numpy_reference.py)."""
import numpy as np
import pytest

from helpers import Built, hyperparameters, random_dataset, run_main
from model.variants import VARIANTS, same_model
from test_model_reference import BATCH, built_and_reference

CANDIDATES = [[3, 1, 4, 14, 5, 9], [2, 6, 5, 3, 8, 0]]


def assert_matches_numpy(built, reference):
    np.testing.assert_allclose(built.losses(*BATCH), reference.losses(*BATCH), rtol=1e-5)
    got = built.eval_scores([2, 7], CANDIDATES)
    want = [reference.scores(2, CANDIDATES[0]), reference.scores(7, CANDIDATES[1])]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


CASES = [(variant, "release", "image,text") for variant in VARIANTS] + [
    (variant, "paper", "image,text") for variant in ("full", "base", "v_cl", "no_intra", "t")
] + [("full", "release", "image"), ("v_cl", "release", "image"), ("full", "paper", "image")]


@pytest.mark.parametrize("variant,formulation,modalities", CASES)
def test_variant_losses_and_scores_match_numpy(tmp_path, variant, formulation, modalities):
    built, reference = built_and_reference(tmp_path, variant=variant, formulation=formulation,
                                           modalities=modalities, lambda_m=0.7)
    assert_matches_numpy(built, reference)


def variable_shapes(tmp_path, **overrides):
    built = Built(random_dataset(str(tmp_path / "data"))[0], hyperparameters(**overrides))
    return {v.op.name: v.shape.as_list() for v in built.model.parameters}


def test_each_variant_has_exactly_its_variables(tmp_path):
    d = hyperparameters().embed_size
    base = variable_shapes(tmp_path, variant="base")
    assert set(base) == {"user_embedding", "item_embedding"}
    visual = variable_shapes(tmp_path, variant="v")
    assert set(visual) == {"user_embedding", "item_embedding", "w1_v"}
    visual_cl = variable_shapes(tmp_path, variant="v_cl", n_mca=1)
    assert visual_cl["cd_cl0/Q/kernel"] == [d, d]  # the attention's width is one input's
    assert visual_cl["dense/kernel"] == [d, d] and "w1_t" not in visual_cl
    text_id_cl = variable_shapes(tmp_path, variant="t_id_cl", n_mca=1)
    assert text_id_cl["cd_cl0/K_int/kernel"] == [2 * d, 2 * d] and "w1_v" not in text_id_cl
    full = variable_shapes(tmp_path, n_mca=1)
    assert full["cd_cl0/linear/kernel"] == [3 * d, 3 * d]
    assert {"user_embedding_v", "user_embedding_t", "dense_1/kernel"} <= set(full)
    paper = variable_shapes(tmp_path, n_mca=1, formulation="paper")
    assert set(full) - set(paper) == {"cd_cl0/linear/kernel", "dense_1/kernel",
                                      "user_embedding_v", "user_embedding_t"}


def test_variants_counted_as_one_model_build_one_run(tmp_path):
    """The runner copies Table 4's no_inter from Table 3's vt (same_model): on image and text
    data the two start from the same values and give the same losses and train steps. full
    and v_id_cl resolve alike on image-only data, but full first creates the release's unused
    weights, which shift the seeded starts: not one model."""
    data = random_dataset(str(tmp_path / "data"))[0]
    vt = Built(data, hyperparameters(variant="vt"))
    no_inter = Built(data, hyperparameters(variant="no_inter"))
    assert same_model("vt", "no_inter", ["image", "text"])
    start, other_start = vt.weights(), no_inter.weights()
    assert start.keys() == other_start.keys()
    for name, value in start.items():
        np.testing.assert_array_equal(value, other_start[name], err_msg=name)
    for built in (vt, no_inter):
        built.train_step(*BATCH)
    np.testing.assert_array_equal(vt.losses(*BATCH), no_inter.losses(*BATCH))
    assert not same_model("v_id_cl", "full", ["image"])
    assert not same_model("vt", "vt_cl", ["image", "text"])
    assert not same_model("no_inter", "vt", ["image"])  # vt needs text: no model at all
    full = Built(data, hyperparameters(modalities="image")).weights()
    v_id_cl = Built(data, hyperparameters(variant="v_id_cl", modalities="image")).weights()
    assert set(full) - set(v_id_cl) == {"user_embedding_v", "user_embedding_m"}
    assert not np.array_equal(full["w1_v"], v_id_cl["w1_v"])


def test_gradient_switch_gives_the_same_gradients(tmp_path):
    """Hand-written gradients (attention mix, propagation) equal TensorFlow's own."""
    import tensorflow.compat.v1 as tf
    gradients = {}
    for mode in ("hand", "auto"):
        built = Built(random_dataset(str(tmp_path / mode))[0], hyperparameters(gradients=mode))
        with built.graph.as_default():
            trained = [v for v in built.model.parameters if v.trainable]
            pairs = [(v.op.name, g) for v, g in zip(
                trained, tf.gradients(built.model.training.loss, trained)) if g is not None]
            values = built.session.run([g for _, g in pairs], built.feed(*BATCH))
        gradients[mode] = dict(zip([name for name, _ in pairs], values))
    assert set(gradients["hand"]) == set(gradients["auto"])
    assert {"user_embedding", "item_embedding", "cd_cl1/Q_int/kernel"} <= set(gradients["hand"])
    for name, hand in gradients["hand"].items():
        np.testing.assert_allclose(hand, gradients["auto"][name], rtol=1e-4,
                                   atol=1e-6 * np.abs(hand).max() + 1e-9, err_msg=name)


def test_text_variant_on_image_only_data_is_a_flag_error(tmp_path):
    status, _, stderr = run_main(["--dataset", "taobao", "--variant", "t_cl"])
    assert status == 2 and "Traceback" not in stderr
    assert "variant t_cl needs text features, but --modalities is image" in stderr


@pytest.mark.parametrize("flags", [["--variant", "base"], ["--variant", "no_inter"],
                                   ["--formulation", "paper"]])
def test_variants_train_from_the_command_line(tmp_path, flags):
    folder, _ = random_dataset(str(tmp_path / "data" / "tiny"))
    status, stdout, stderr = run_main(
        ["--dataset", "tiny", "--data_path", str(tmp_path / "data"), "--out_dir",
         str(tmp_path / "out"), "--batch_size", "4", "--embed_size", "8", "--n_layers", "1",
         "--n_mca", "1", "--epochs", "2", "--eval_interval", "1", "--no_checkpoints"] + flags)
    assert status == 0, stderr
    assert stdout.count("Epoch ") == 2 and "hit@10=" in stdout
