"""results/ and the README: experiments.keep copies exactly the summaries, results.json
files and named outcomes; experiments.readme remakes the tables between the markers; the
repository's README agrees with its results/ folder."""
import csv
import json
import os

import pytest

from experiments import keep, readme
from utility.common.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(path, text=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def write_csv(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


SUMMARY = [
    {"config": "base", "label": "(1) Base", "n": "2", "hit@5_mean": "0.400000",
     "hit@5_std": "0.020000", "paper_hit@5": "0.3933", "ndcg@5_mean": "0.300000",
     "ndcg@5_std": "", "paper_ndcg@5": "0.2950"},
    {"config": "v", "label": "(2) Base w/ V", "n": "2", "hit@5_mean": "0.500000",
     "hit@5_std": "0.010000", "paper_hit@5": "0.3994", "ndcg@5_mean": "0.310000",
     "ndcg@5_std": "0.001000", "paper_ndcg@5": "0.2993"},
    {"config": "full", "label": "(10) MCLN", "n": "0", "hit@5_mean": "", "hit@5_std": "",
     "paper_hit@5": "0.4067", "ndcg@5_mean": "", "ndcg@5_std": "", "paper_ndcg@5": "0.3060"}]
CLAIMS = [
    {"claim": "V > Base", "metric": "hit@5", "difference": "0.100000", "ci_low": "0.050000",
     "ci_high": "0.150000", "p": "0.0001", "p_holm": "0.0002", "verdict": "holds"},
    {"claim": "V > Base", "metric": "ndcg@5", "difference": "", "ci_low": "", "ci_high": "",
     "p": "", "p_holm": "", "verdict": "no per-user outcomes: not tested"},
    {"claim": "MCLN > V", "metric": "hit@5", "difference": "", "ci_low": "", "ci_high": "",
     "p": "", "p_holm": "", "verdict": "no finished runs on one side"}]


def runner_output(root):
    """A runner's output: table3/taobao with two runs (checkpoints, logs, a stale outcome)."""
    folder = os.path.join(root, "table3", "taobao")
    write_csv(os.path.join(folder, "summary.csv"), SUMMARY)
    write_csv(os.path.join(folder, "claims.csv"), CLAIMS)
    for name in ("summary.md", "summary.png", "rho.png",
                 "negatives/seed-0-clean+valid-test.txt"):
        write(os.path.join(folder, name), "x")
    for config in ("base", "v"):
        run = os.path.join(folder, config, "seed-0")
        named = {"test_at_best": "outcomes/epoch-2-test.npz",
                 "valid": "outcomes/epoch-2-valid.npz", "final": "outcomes/epoch-4-test.npz",
                 "best": "outcomes/epoch-4-test.npz"}
        write(os.path.join(run, "results.json"), json.dumps({"outcomes": named}))
        for name in set(named.values()) | {"outcomes/epoch-3-test.npz", "log.txt",
                                           "checkpoints/last.index", "curves.png"}:
            write(os.path.join(run, name), name)
    write(os.path.join(root, "table5", "taobao", "n_mca-1", "seed-0", "results.json"), "{}")
    return folder


def listing(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, files in os.walk(folder) for f in files)


def test_keep_copies_summaries_results_and_named_outcomes_only(tmp_path):
    runner_output(str(tmp_path / "out"))
    results = str(tmp_path / "results")
    write(os.path.join(results, "table3", "taobao", "stale.txt"))
    assert keep.keep(str(tmp_path / "out"), results) == ["table3/taobao"]
    run = ["results.json", "outcomes/epoch-2-test.npz", "outcomes/epoch-2-valid.npz",
           "outcomes/epoch-4-test.npz"]
    assert listing(os.path.join(results, "table3", "taobao")) == sorted(
        ["claims.csv", "summary.csv", "summary.md", "summary.png", "rho.png"] +
        [os.path.join(c, "seed-0", f) for c in ("base", "v") for f in run])
    with pytest.raises(InputError, match="no summary for table5/taobao"):
        keep.keep(str(tmp_path / "out"), results, only=["table5/taobao"])
    with pytest.raises(InputError, match="no <NAME>/<dataset>/summary.csv"):
        keep.keep(str(tmp_path / "nothing"), results)


EXPECTED = """<!-- results:table3/taobao -->
| configuration | seeds | HR@5 | paper | NDCG@5 | paper |
| --- | --- | --- | --- | --- | --- |
| (1) Base | 2 | 0.4000 ± 0.0200 | 0.3933 | 0.3000 | 0.2950 |
| (2) Base w/ V | 2 | 0.5000 ± 0.0100 | 0.3994 | 0.3100 ± 0.0010 | 0.2993 |

| claim | metric | A - B | 95 % interval | p | Holm p | verdict |
| --- | --- | --- | --- | --- | --- | --- |
| V > Base | HR@5 | +0.1000 | [+0.0500, +0.1500] | 0.0001 | 0.0002 | holds |
| V > Base | NDCG@5 |  |  |  |  | no per-user outcomes: not tested |

![table3/taobao: rho.png](results/table3/taobao/rho.png)
<!-- /results -->"""


def test_readme_tables_are_remade_between_markers_and_checked(tmp_path, capsys):
    results = str(tmp_path / "results")
    runner_output(str(tmp_path / "out"))
    keep.keep(str(tmp_path / "out"), results)
    path = str(tmp_path / "README.md")
    write(path, "# Title\n\nProse stays.\n\n<!-- results:table3/taobao -->\nold\n"
                "<!-- /results -->\n\nMore prose.\n")
    argv = ["--results", results, "--readme", path]
    assert readme.main(argv + ["--check"]) == 1
    assert "differ from %s for table3/taobao" % results in capsys.readouterr().out
    assert readme.main(argv) == 0
    with open(path) as f:
        assert f.read() == "# Title\n\nProse stays.\n\n" + EXPECTED + "\n\nMore prose.\n"
    assert readme.main(argv + ["--check"]) == 0
    write(path, "<!-- results:table3/art -->\n<!-- /results -->\n")
    with pytest.raises(InputError, match="results:table3/art"):
        readme.main(argv)
    write(path, "<!-- results:table3/taobao -->\nno end\n")
    with pytest.raises(InputError, match="has no <!-- /results -->"):
        readme.main(argv)


def test_the_repository_readme_matches_its_results_folder():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    assert readme.differing(text, os.path.join(REPO, "results"), REPO) == []
