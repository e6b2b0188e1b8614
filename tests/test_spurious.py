"""The planted spurious-correlation benchmark: the generator plants what it says (style in
the training clicks only, pictures mixing style into every column), is deterministic, and
its ceiling is the sampled protocol's exact expectation; the sweep's catalogue and report."""
import itertools
import json
import os

import numpy as np
import pytest

from experiments import catalogue, spurious
from experiments.run import main as run_main
from test_experiments import fake_trainer
from utility.common.errors import InputError
from utility.data import spurious as generator
from utility.data.load import load_dataset, pair_keys, without_validation
from utility.evaluation.evaluator import HeldOut, sample_test_negatives

N_USERS, N_ITEMS = 300, 200
FILES = ("train.txt", "test.txt", "validation.txt", "item2imgfeat.npy", "planted.npz",
         "ceiling.json")


def quiet(*_):
    pass


def generate(folder, rho, seed=0, n_users=N_USERS, n_items=N_ITEMS):
    generator.make_spurious(str(folder), rho, seed=seed, n_users=n_users, n_items=n_items,
                            log=quiet)
    return str(folder)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """{rho: folder} of one seed at rho 0 and 2."""
    root = tmp_path_factory.mktemp("spurious")
    return dict((rho, generate(root / ("rho-%g" % rho), rho)) for rho in (0, 2))


def planted_of(folder):
    with np.load(os.path.join(folder, "planted.npz")) as arrays:
        return generator.Planted(**dict((key, arrays[key]) for key in arrays.files))


def read_lists(folder):
    with open(os.path.join(folder, "train.txt")) as f:
        lists = [[int(v) for v in line.split()] for line in f]
    pairs = {}
    for name in ("test.txt", "validation.txt"):
        with open(os.path.join(folder, name)) as f:
            pairs[name] = np.array([int(line.split()[1]) for line in f])
    return dict((row[0], np.array(row[1:])) for row in lists), pairs["test.txt"], \
        pairs["validation.txt"]


def standardised_style(folder):
    affinity = generator.style_affinity(planted_of(folder))
    return (affinity - affinity.mean()) / affinity.std()


def train_click_style(folder):
    """Mean standardised style affinity of the training clicks (validation items aside)."""
    style = standardised_style(folder)
    train, _, validation = read_lists(folder)
    values = [style[user, items[items != validation[user]]] for user, items in train.items()]
    return float(np.concatenate(values).mean())


def test_training_clicks_follow_style_only_when_rho_is_positive(tmp_path, made):
    at_zero, at_two = train_click_style(made[0]), train_click_style(made[2])
    assert abs(at_zero) < 0.1  # style is independent of preference: no pull at rho 0
    at_one = train_click_style(generate(tmp_path / "rho-1", 1.0))
    assert 0.5 < at_one < at_two  # about 0.7 and 1.2 sd on the full-size data


def held_out_style_gap(folder, logits):
    """Mean over users of (style of the test item - its expectation when the test item is
    drawn from softmax(``logits``) over the items the user did not train on), and the
    standard error of that mean."""
    style = standardised_style(folder)
    train, test, _ = read_lists(folder)
    gaps, variances = [], []
    for user, items in train.items():
        pool = np.ones(style.shape[1], dtype=bool)
        pool[items] = False
        weights = np.exp(logits[user, pool] - logits[user, pool].max())
        weights /= weights.sum()
        expected = weights.dot(style[user, pool])
        gaps.append(style[user, test[user]] - expected)
        variances.append(weights.dot(style[user, pool] ** 2) - expected ** 2)
    return np.mean(gaps), np.sqrt(np.sum(variances)) / len(gaps)


def test_held_out_items_follow_the_preference_alone(made):
    """At rho 2 the test item's style is what softmax(preference) over the user's remaining
    items predicts; a draw that used the training clicks' logits would be far off."""
    planted = planted_of(made[2])
    preference = generator.preference_logits(planted)
    gap, error = held_out_style_gap(made[2], preference)
    assert abs(gap) < 4 * error
    biased_gap, biased_error = held_out_style_gap(
        made[2], preference + 2.0 * generator.style_affinity(planted))
    assert biased_gap < -10 * biased_error


def test_the_same_seed_makes_the_same_files_and_rho_changes_only_the_clicks(tmp_path, made):
    def contents(folder):
        return dict((name, open(os.path.join(folder, name), "rb").read()) for name in FILES)
    again = contents(generate(tmp_path / "again", 2))
    assert again == contents(made[2])
    other_seed = contents(generate(tmp_path / "seed-1", 2, seed=1))
    assert other_seed["train.txt"] != again["train.txt"]
    other_rho = contents(made[0])
    for name in ("item2imgfeat.npy", "planted.npz"):
        assert other_rho[name] == again[name]
    assert other_rho["train.txt"] != again["train.txt"]


def r_squared(targets, regressors):
    """Per column of ``targets``: the share of its variance a least-squares fit explains."""
    design = np.hstack([np.ones((len(regressors), 1)), regressors])
    coefficients = np.linalg.lstsq(design, targets, rcond=None)[0]
    residual = targets - design.dot(coefficients)
    return 1.0 - residual.var(axis=0) / targets.var(axis=0)


def test_every_picture_column_mixes_preference_and_style(made):
    image = np.load(os.path.join(made[0], "item2imgfeat.npy"))
    planted = planted_of(made[0])
    assert image.shape == (N_ITEMS, generator.IMAGE_DIM) and image.dtype == np.float32
    relevant = r_squared(image, planted.item_factors)
    style = r_squared(image, planted.style)
    # Planted shares 0.4 and 0.4 (noise 0.2): no column is pure style, none pure preference.
    assert relevant.min() > 0.2 and style.min() > 0.2
    assert relevant.max() < 0.65 and style.max() < 0.65
    both = r_squared(image, np.hstack([planted.item_factors, planted.style]))
    assert np.allclose(both, 0.8, atol=0.1)


def enumerated_metrics(scores, held_out, excluded, n_negatives, Ks):
    """Every ordered draw of ``n_negatives`` from each user's pool, equally likely; the
    held-out item ranks after every candidate scoring at least as high."""
    totals = dict(("%s@%d" % (name, k), 0.0) for name in ("hit", "ndcg") for k in Ks)
    for user, target in enumerate(held_out):
        pool = [i for i in range(scores.shape[1]) if i not in excluded[user] and i != target]
        draws = list(itertools.product(pool, repeat=n_negatives))
        for draw in draws:
            rank = sum(scores[user, i] >= scores[user, target] for i in draw)
            for k in Ks:
                if rank < k:
                    totals["hit@%d" % k] += 1.0 / len(draws)
                    totals["ndcg@%d" % k] += 1.0 / np.log2(rank + 2) / len(draws)
    return dict((name, value / len(held_out)) for name, value in totals.items())


def test_ceiling_is_the_exact_expectation_of_the_sampled_protocol():
    scores = np.array([[0.9, 0.5, 0.5, 0.1, 0.7, 0.3],   # a tie with the held-out item
                       [0.2, 0.8, 0.6, 0.4, 0.0, 1.0],
                       [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]])  # all tied: always last
    held_out = [2, 3, 5]
    excluded = [[0], [1, 5], [0, 1]]
    Ks = (1, 2, 3)
    expected = enumerated_metrics(scores, held_out, excluded, 3, Ks)
    found = generator.oracle_metrics(scores, held_out, [np.array(e) for e in excluded],
                                     n_negatives=3, Ks=Ks)
    assert sorted(found) == sorted(expected)
    for name in expected:
        assert found[name] == pytest.approx(expected[name], abs=1e-12)
    # By hand, user 2: every negative ties, so the held-out item is always last (rank 3).
    alone = generator.oracle_metrics(scores[2:], [5], [np.array([0, 1])], 3, Ks)
    assert alone == dict.fromkeys(expected, 0.0)
    assert generator.oracle_metrics(scores[2:], [5], [np.array([0, 1])], 3, (4,)) == \
        {"hit@4": 1.0, "ndcg@4": pytest.approx(1.0 / np.log2(5))}


def test_ceiling_matches_the_evaluator_drawing_negatives(made):
    """The evaluator's own negatives (main.py --valid: clean, the validation item out of
    training) ranked by the planted preference average to ceiling.json's test figure."""
    folder = made[2]
    with open(os.path.join(folder, "ceiling.json")) as f:
        ceiling = json.load(f)
    dataset = without_validation(load_dataset(folder, [], log=quiet))
    known = np.union1d(dataset.interaction_keys(), pair_keys(dataset.valid_pairs,
                                                             dataset.n_items))
    split = HeldOut("test", dataset.test_pairs, known, dataset.n_items, "clean")
    preference = generator.preference_logits(planted_of(folder))
    users, targets = dataset.test_pairs[:, 0], dataset.test_pairs[:, 1]
    rng = np.random.RandomState(0)
    hits = []
    for _ in range(40):
        negatives = sample_test_negatives(rng, split, users)
        ranks = (preference[users[:, None], negatives] >=
                 preference[users, targets][:, None]).sum(axis=1)
        hits.append(np.mean(ranks < 10))
    assert np.mean(hits) == pytest.approx(ceiling["test"]["hit@10"], abs=0.015)
    assert ceiling["test_training_oracle"]["hit@10"] < ceiling["test"]["hit@10"]
    assert ceiling["random"]["hit@10"] == 0.1 and ceiling["rho"] == 2


def test_bad_arguments_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="--rho must be"):
        generator.make_spurious(str(tmp_path), -1.0, log=quiet)
    with pytest.raises(InputError, match="--items must be at least"):
        generator.make_spurious(str(tmp_path), 1.0, n_items=20, log=quiet)


def test_catalogue_lists_every_model_at_every_rho():
    _, configs, claims = catalogue.plan("spurious", "spurious", ["image"])
    names = [c.name for c in configs]
    assert len(configs) == len(spurious.RHOS) * len(spurious.MODELS) == 24
    assert names[:6] == ["base-rho-0", "v-rho-0", "v_cl-rho-0", "full-rho-0", "vbpr-rho-0",
                         "invrl-rho-0"]
    flags = dict((c.name, dict(c.flags)) for c in configs)
    assert flags["v_cl-rho-0.5"] == {"--dataset": "spurious-rho-0.5", "--model": "mcln",
                                     "--variant": "v_cl"}
    assert flags["vbpr-rho-2"] == {"--dataset": "spurious-rho-2", "--model": "vbpr"}
    assert sorted(set(c.x for c in configs)) == [0, 0.5, 1, 2]
    assert flags["invrl-rho-1"] == {"--dataset": "spurious-rho-1", "--model": "invrl"}
    assert [(c.text, c.better, c.worse) for c in claims[4:6]] == [
        ("V&CL > V at rho=2", ("v_cl-rho-2",), ("v-rho-2",)),
        ("MCLN > V at rho=2", ("full-rho-2",), ("v-rho-2",))]
    assert [(c.text, c.better, c.worse) for c in claims[6:]] == [
        ("MCLN > InvRL at rho=%g" % rho, ("full-rho-%g" % rho,), ("invrl-rho-%g" % rho,))
        for rho in (0.5, 1, 2)]
    with pytest.raises(InputError, match="--dataset spurious"):
        catalogue.plan("spurious", "taobao", ["image"])


def test_presets_name_every_rho():
    from utility.config.flags import parse_args
    args = parse_args(["--dataset", "spurious-rho-0.5", "--variant", "v"])
    assert args.data_dir == os.path.join("Data", "spurious-rho-0.5")
    assert args.modality_list == ["image"] and args.epochs == 40
    assert parse_args(["--dataset", "spurious"]).data_dir == os.path.join("Data",
                                                                          "spurious-rho-0")


def results_with(hit10):
    figures = {"hit@5": hit10 / 2, "ndcg@5": hit10 / 3, "hit@10": hit10, "ndcg@10": hit10 / 2,
               "epoch": 2}
    return {"epochs_run": 4, "final": figures, "best": figures, "test_at_best": figures,
            "seconds": {"load": 1.0, "train_epoch_mean": 2.0}, "history": [],
            "hyperparameters": {"model": "mcln"}}


def test_report_tables_the_drops_against_the_ceiling(tmp_path):
    """Hand-made runs: V drops 0.20 (sd 0.01 each end), V&CL 0.05, MCLN 0.19 (sd 0.02)."""
    out_dir = str(tmp_path / "out")
    by_model = {"v": ((0.60, 0.01), (0.40, 0.01)), "v_cl": ((0.60, 0.01), (0.55, 0.01)),
                "full": ((0.62, 0.02), (0.43, 0.02))}
    for model, ends in by_model.items():
        for rho, (mean, sd) in zip((0, 2), ends):
            for seed, value in enumerate((mean - sd, mean, mean + sd)):
                directory = os.path.join(out_dir, spurious.config_name(model, rho),
                                         "seed-%d" % seed)
                os.makedirs(directory)
                with open(os.path.join(directory, "results.json"), "w") as f:
                    json.dump(results_with(value), f)
    data = tmp_path / "data"
    generate(data / spurious.dataset_name(2), 2)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("# summary\n")
    _, configs, _ = catalogue.plan("spurious", "spurious", ["image"])
    assert "rho.png" in spurious.write_report(out_dir, configs, str(data))
    assert os.path.getsize(os.path.join(out_dir, "rho.png")) > 0
    markdown = open(os.path.join(out_dir, "summary.md")).read()
    assert markdown.startswith("# summary\n") and "## The planted shift" in markdown
    assert "| V | 0.6000 ± 0.0100 |  |  | 0.4000 ± 0.0100 |" in markdown
    assert "- V: +0.2000 (sd sum 0.0200)" in markdown and "- Base: no finished runs" in markdown
    assert ("- **V loses more than V&CL**: drop V +0.2000, drop V&CL +0.0500, difference "
            "+0.1500 (sd sum 0.0400): holds beyond the spread") in markdown
    assert ("- **V loses more than MCLN**: drop V +0.2000, drop MCLN +0.1900, difference "
            "+0.0100 (sd sum 0.0600): within the spread: not shown") in markdown
    ceiling_line = [l for l in markdown.splitlines() if l.startswith("| oracle: the planted")]
    with open(str(data / spurious.dataset_name(2) / "ceiling.json")) as f:
        assert ceiling_line[0].endswith("|  |  |  | %.4f |" % json.load(f)["test"]["hit@10"])


def test_runner_trains_each_configuration_on_its_own_rho(tmp_path, capsys):
    """The stand-in trainer on pre-made tiny datasets: every run names its rho's dataset,
    and the report is written beside the summary."""
    trainer, _ = fake_trainer(tmp_path)
    data = tmp_path / "data"
    for rho in spurious.RHOS:
        generate(data / spurious.dataset_name(rho), rho, n_users=40, n_items=100)
    argv = ["spurious", "--dataset", "spurious", "--data_path", str(data), "--out",
            str(tmp_path / "out"), "--epochs", "1", "--configs", "v-rho-0,v_cl-rho-2"]
    assert run_main(argv, trainer) == 0
    out_dir = tmp_path / "out" / "spurious" / "spurious"
    for name, dataset in (("v-rho-0", "spurious-rho-0"), ("v_cl-rho-2", "spurious-rho-2")):
        with open(str(out_dir / name / "seed-0" / "results.json")) as f:
            flags = json.load(f)["hyperparameters"]["flags"]
        assert flags[flags.index("--dataset", 2) + 1] == dataset  # the config's, after the base
    assert not (out_dir / "base-rho-0").exists()
    assert (out_dir / "rho.png").exists()
    assert "## The planted shift" in (out_dir / "summary.md").read_text()
    assert "the planted shift: rho.png" in capsys.readouterr().out
