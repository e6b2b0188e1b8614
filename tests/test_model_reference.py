"""The TF graph against an independent numpy transcription of the reference."""
import numpy as np
import pytest

from helpers import Built, hyperparameters, random_dataset
from numpy_reference import Reference, normalized_adjacency_dense, reference_of


def built_and_reference(tmp_path, **overrides):
    hp = hyperparameters(**overrides)
    folder, train = random_dataset(str(tmp_path / "data"),
                                   text_dim=3 if "text" in hp.modalities else 0)
    built = Built(folder, hp)
    return built, reference_of(built, train, hp)


BATCH = ([0, 3, 5, 7, 11], [1, 4, 2, 9, 0], [6, 8, 13, 1, 3], [10, 14, 7, 2, 5])


@pytest.mark.parametrize("modalities,n_mca", [("image,text", 2), ("image", 3)])
def test_losses_and_scores_match_numpy(tmp_path, modalities, n_mca):
    built, reference = built_and_reference(tmp_path, modalities=modalities, n_mca=n_mca)
    np.testing.assert_allclose(built.losses(*BATCH), reference.losses(*BATCH), rtol=1e-5)
    candidates = [[3, 1, 4, 14, 5, 9], [2, 6, 5, 3, 8, 0]]
    got = built.eval_scores([2, 7], candidates)
    want = [reference.scores(2, candidates[0]), reference.scores(7, candidates[1])]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_counterfactual_term_and_batch_mixing_matter(tmp_path):
    """The int items change the positive path; a batch-mate changes an item's score."""
    built, reference = built_and_reference(tmp_path)
    users, pos, neg, int_items = BATCH
    other = [1, 2, 3, 4, 6]
    assert abs(built.losses(users, pos, neg, other)[1] - built.losses(*BATCH)[1]) > 1e-4
    np.testing.assert_allclose(built.losses(users, pos, neg, other),
                               reference.losses(users, pos, neg, other), rtol=1e-5)
    alone = built.eval_scores([2], [[3, 1, 4]])[0]
    mixed = built.eval_scores([2], [[3, 1, 5]])[0]
    assert abs(alone[0] - mixed[0]) > 1e-5


def test_positive_and_negative_paths_share_layers_but_not_output(tmp_path):
    """Changing dense_1 moves only the negative path; changing a layer moves both."""
    built, _ = built_and_reference(tmp_path)
    session, model = built.session, built.model
    by_name = {v.op.name: v for v in model.parameters}
    scores_before = built.eval_scores([2], [[3, 1, 4]])
    loss_before = built.losses(*BATCH)[1]
    session.run(by_name["dense_1/kernel"].assign(by_name["dense_1/kernel"] * 3.0))
    np.testing.assert_allclose(built.eval_scores([2], [[3, 1, 4]]), scores_before, rtol=1e-6)
    assert abs(built.losses(*BATCH)[1] - loss_before) > 1e-4
    session.run(by_name["cd_dense0/dense/bias"].assign(by_name["cd_dense0/dense/bias"] + 0.5))
    assert np.abs(built.eval_scores([2], [[3, 1, 4]]) - scores_before).max() > 1e-5


def test_lambda_m_weighs_only_the_ranking_score(tmp_path):
    a, _ = built_and_reference(tmp_path / "a", lambda_m=0.3)
    b, _ = built_and_reference(tmp_path / "b", lambda_m=1.0)
    b.session.run([v.assign(w) for v, w in zip(b.model.parameters,
                                               a.session.run(a.model.parameters))])
    np.testing.assert_allclose(a.losses(*BATCH), b.losses(*BATCH), rtol=1e-6)
    assert np.abs(a.eval_scores([2], [[3, 1, 4]]) - b.eval_scores([2], [[3, 1, 4]])).max() > 1e-4


def test_variable_names_are_the_releases(tmp_path):
    built, _ = built_and_reference(tmp_path, modalities="image", n_mca=1)
    names = {v.op.name for v in built.model.parameters}
    assert names == {"user_embedding", "item_embedding", "user_embedding_v", "user_embedding_m",
                     "w1_v", "dense/kernel", "dense_1/kernel",
                     "cd_cl0/Q/kernel", "cd_cl0/K/kernel", "cd_cl0/V/kernel",
                     "cd_cl0/linear/kernel", "cd_cl0/Q_int/kernel", "cd_cl0/K_int/kernel",
                     "cd_cl0/LayerNorm/gamma", "cd_cl0/LayerNorm/beta",
                     "cd_dense0/dense/kernel", "cd_dense0/dense/bias",
                     "cd_dense0/dense_1/kernel", "cd_dense0/dense_1/bias",
                     "cd_dense0/LayerNorm/gamma", "cd_dense0/LayerNorm/beta"}


def test_gradients_match_finite_differences_of_numpy(tmp_path):
    """The graph's gradients (its own for the propagation and the attention softmax) against
    central differences of the numpy reference's loss, in float64, for every trained
    variable: its largest-gradient entries and a few random ones."""
    import tensorflow.compat.v1 as tf
    built, _ = built_and_reference(tmp_path)
    hp = hyperparameters()
    _, train = random_dataset(str(tmp_path / "data"))
    laplacian = normalized_adjacency_dense(train, built.dataset.n_users, built.dataset.n_items,
                                           hp.adj_b)
    weights = {name: w.astype(np.float64) for name, w in built.weights().items()}
    features = {m: f.astype(np.float64) for m, f in built.dataset.features.items()}
    with built.graph.as_default():
        trained = [v for v in built.model.parameters if v.trainable]
        gradients = tf.gradients(built.model.training.loss, trained)
    pairs = [(v.op.name, g) for v, g in zip(trained, gradients) if g is not None]
    values = built.session.run([g for _, g in pairs], built.feed(*BATCH))

    def loss_with(name, index, delta):
        changed = dict(weights)
        changed[name] = weights[name].copy()
        changed[name][index] += delta
        reference = Reference(changed, features, laplacian, built.dataset.n_users, hp)
        return reference.losses(*BATCH)[0]

    rng = np.random.RandomState(0)
    step = 1e-6
    assert {name for name, _ in pairs} >= {"user_embedding", "item_embedding", "w1_v",
                                           "cd_cl0/Q_int/kernel", "cd_cl1/V/kernel"}
    for (name, _), analytic in zip(pairs, values):
        flat = np.abs(analytic).ravel()
        picks = set(np.argsort(flat)[-3:]) | set(rng.choice(flat.size, 2, replace=False))
        for pick in picks:
            index = np.unravel_index(pick, analytic.shape)
            numeric = (loss_with(name, index, step) - loss_with(name, index, -step)) / (2 * step)
            assert abs(analytic[index] - numeric) <= 1e-3 * abs(numeric) + 1e-5 * flat.max() \
                + 1e-7, (name, index, analytic[index], numeric)
