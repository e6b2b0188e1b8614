"""The first hour of a new user (issue 22): early answers, nothing half-made, notes that
survive a dead terminal."""
import os
import re
import subprocess
import sys
import types

import pytest

import main
from data_files import small_files, write_files
from utility.common.errors import InputError, Interrupted
from utility.run.run_lock import RunLock

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------- data errors before TensorFlow (item 13)
CHECK_BEFORE_TF = """
import sys
sys.path.insert(0, %r)
import main
from utility.common.errors import InputError
try:
    main.main(sys.argv[1:])
except InputError as error:
    print("error: %%s" %% error)
print("tensorflow imported: %%s" %% ("tensorflow" in sys.modules))
""" % REPO


def run_until_data_error(tmp_path, files):
    write_files(str(tmp_path / "data" / "custom"), files)
    out = tmp_path / "runs" / "custom"
    done = subprocess.run(
        [sys.executable, "-c", CHECK_BEFORE_TF, "--dataset", "custom", "--data_path",
         str(tmp_path / "data"), "--out_dir", str(out), "--epochs", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), out


@pytest.mark.parametrize("name,content,expected", [
    ("train.txt", b"0 1 2\n1 3 12O\n", "train.txt:2: ids must be integers, got '12O' at "
                                       "column 5"),
    ("test.txt", b"", "test.txt: no test pairs"),
])
def test_data_errors_come_before_tensorflow_and_leave_no_out_dir(tmp_path, name, content,
                                                                 expected):
    files = small_files()
    files[name] = content
    lines, out = run_until_data_error(tmp_path, files)
    assert lines[-2].startswith("error: ") and expected in lines[-2], lines
    assert lines[-1] == "tensorflow imported: False"
    # The lock folder (and the runs/ it was made in) is gone again: nothing half-made.
    assert not out.exists() and not out.parent.exists()


def test_the_lock_removes_only_folders_it_made_and_the_run_left_empty(tmp_path):
    out = tmp_path / "runs" / "a" / "custom"
    with pytest.raises(InputError):
        with RunLock(str(out)):  # a failure after the lock, e.g. a feature file's error
            raise InputError("bad features")
    assert os.listdir(str(tmp_path)) == []
    with RunLock(str(out)):
        (out / "results.json").write_text("{}")
    assert sorted(os.listdir(str(out))) == [".run.lock", "results.json"]
    with RunLock(str(out)):  # there before: kept, even were it empty
        pass
    assert (out / ".run.lock").read_text() == ""


def test_an_existing_out_dir_is_kept_after_an_early_failure(tmp_path):
    files = small_files()
    files["test.txt"] = b""
    out = tmp_path / "runs" / "custom"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    lines, _ = run_until_data_error(tmp_path, files)
    assert lines[-2].startswith("error: ")
    assert sorted(os.listdir(str(out))) == [".run.lock", "notes.txt"]


# ------------------------------------------------ the interruption note in out_dir (item 9)
def test_ctrl_c_writes_the_resume_command_into_out_dir(tmp_path, monkeypatch):
    out = str(tmp_path / "out")
    argv = ["main.py", "--dataset", "custom", "--out_dir", out]
    monkeypatch.setattr(sys, "argv", argv)

    def interrupted(args):
        os.makedirs(os.path.join(args.out_dir, "checkpoints"))
        raise KeyboardInterrupt

    monkeypatch.setattr(main, "run", interrupted)
    with pytest.raises(Interrupted) as caught:
        main.main(argv[1:])
    message = str(caught.value)
    assert message == "no checkpoint was written yet; start again with: %s %s" % (
        sys.executable, " ".join(argv))
    with open(os.path.join(out, "interrupted.txt")) as handle:
        assert handle.read() == "interrupted; %s\n" % message

    monkeypatch.setattr(main, "run", lambda args: {"done": True})
    assert main.main(argv[1:] + ["--resume"]) == {"done": True}
    assert not os.path.exists(os.path.join(out, "interrupted.txt"))  # finished now


# ------------------------------------------------------------ run.sh --mirror (item 1)
def run_sh(tmp_path, *flags):
    env = dict(os.environ, MCLN_NO_VENV="1", PYTHON=sys.executable,
               DATA_PATH=str(tmp_path / "Data"))
    env.pop("MCLN_DATA_MIRROR", None)
    done = subprocess.run(["bash", os.path.join(REPO, "run.sh")] + list(flags), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    return done.returncode, done.stderr


@pytest.mark.parametrize("spelling", ["separate", "joined"])
def test_run_sh_passes_mirror_to_data_preparation(tmp_path, spelling):
    mirror = tmp_path / "mirror"
    (mirror / "Data" / "taobao").mkdir(parents=True)  # a mirror without the files
    flag = ["--mirror", str(mirror)] if spelling == "separate" else ["--mirror=%s" % mirror]
    status, stderr = run_sh(tmp_path, "taobao", *flag)
    assert status == 2, stderr
    assert stderr.strip().splitlines()[-1] == "error: cannot read %s from the mirror: No such " \
        "file or directory" % os.path.join(str(mirror), "Data", "taobao", "train.txt")
    assert not (tmp_path / "Data").exists()  # no empty Data/Taobao left behind


def test_run_sh_keeps_mirror_away_from_main(tmp_path):
    files = small_files()
    files["test.txt"] = b""  # main.py stops at load, before TensorFlow
    write_files(str(tmp_path / "Data" / "Taobao"), files)
    status, stderr = run_sh(tmp_path, "taobao", "--mirror", str(tmp_path), "--out_dir",
                            str(tmp_path / "out"))
    assert status == 2, stderr
    assert stderr.strip().splitlines()[-1].startswith(
        "error: %s: no test pairs" % os.path.join(str(tmp_path), "Data", "Taobao", "test.txt"))


# --------------------------------------- tests find outside data through variables (item 5)
def test_skips_follow_the_mirror_variable_and_are_summed_up_at_the_end(tmp_path):
    env = dict(os.environ, MCLN_DATA_MIRROR=str(tmp_path / "nowhere"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_prepare_data.py", "-k", "counts_and_feature_files or corrupted_file"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.split(" skipped tests ", 1)[1].splitlines()[1:2]
    assert summary == ["3 skipped: no MEGCF mirror (Data/<name>/) at %s; set MCLN_DATA_MIRROR "
                       "to a local copy [test_prepare_data.py 3]" % (tmp_path / "nowhere")]


def test_skip_summary_groups_reasons_by_count_then_name():
    from data_sources import skip_summary

    def skipped(nodeid, reason):
        return types.SimpleNamespace(nodeid=nodeid, longrepr=("x.py", 1, "Skipped: " + reason))
    lines = skip_summary([skipped("tests/test_b.py::t1", "no fixtures"),
                          skipped("tests/test_a.py::t2[x]", "no mirror"),
                          skipped("tests/test_b.py::t3", "no mirror"),
                          skipped("tests/test_a.py::t4", "no mirror")])
    assert lines == ["3 skipped: no mirror [test_a.py 2, test_b.py 1]",
                     "1 skipped: no fixtures [test_b.py 1]"]


# -------------------------------------------------- --help shows the preset (item 12)
@pytest.mark.parametrize("dataset,epochs,lr,batch", [("taobao", 500, 0.001, 2048),
                                                     ("demo", 12, 0.005, 512)])
def test_help_shows_the_chosen_datasets_presets(capsys, dataset, epochs, lr, batch):
    from utility.config.flags import parse_args
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--help", "--dataset", dataset])
    assert stopped.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "training epochs (0: only evaluate) (preset for %s: %d)" % (dataset, epochs) in text
    assert "Adam learning rate (preset for %s: %s)" % (dataset, lr) in text
    assert "emb_loss divisor (preset for %s: %d)" % (dataset, batch) in text
    assert "Defaults marked 'preset' are those of --dataset %s;" % dataset in text


def test_help_of_a_baseline_shows_its_own_preset(capsys):
    from utility.config.flags import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--model", "vbpr", "--dataset", "taobao", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "weight of the embedding L2 term (preset for taobao, vbpr: 0.1)" in text
    assert "those of --dataset taobao --model vbpr;" in text


# ------------------------------------------- the Docker image installs requirements.txt (14)
def dockerfile_instructions():
    """(keyword, arguments) of each Dockerfile instruction, continuation lines joined."""
    with open(os.path.join(REPO, "Dockerfile")) as handle:
        text = handle.read().replace("\\\n", " ")
    return [tuple(line.split(None, 1)) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def requirement_names(lines):
    names = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(re.match(r"[A-Za-z0-9._-]+", line).group().lower())
    return names


def test_docker_image_installs_every_requirement_but_tensorflow(tmp_path):
    """The image's pip step reads requirements.txt itself, filtered of TensorFlow's lines
    only: any line added there (here a made-up one) reaches the image."""
    steps = dockerfile_instructions()
    copied = [arguments.split() for keyword, arguments in steps
              if keyword == "COPY" and arguments.split()[0] == "requirements.txt"]
    assert len(copied) == 1
    copied_to = copied[0][1]
    install, = [arguments for keyword, arguments in steps
                if keyword == "RUN" and "pip install" in arguments]
    assert steps.index(("COPY", " ".join(copied[0]))) < steps.index(("RUN", install))
    commands = [command.strip() for command in install.split("&&")]
    keep_numpy, = [c for c in commands if "numpy.__version__" in c]
    constraint_file = keep_numpy.split(">")[-1].strip()
    filtering, = [c for c in commands if c.startswith("grep") and copied_to in c]
    filtered_file = filtering.split(">")[-1].strip()
    pip, = [c for c in commands if "pip install" in c]
    assert pip.split()[-2:] == ["--requirement", filtered_file]
    assert "--constraint %s" % constraint_file in pip

    with open(os.path.join(REPO, "requirements.txt")) as handle:
        requirements = handle.read().splitlines()
    requirements += ["tensorflow-hub>=0.1  # made up: only TensorFlow itself is left out",
                     "Some_New.package==1.0; python_version >= '3.8'"]
    source, result = str(tmp_path / "requirements.txt"), str(tmp_path / "image.txt")
    with open(source, "w") as handle:
        handle.write("\n".join(requirements) + "\n")
    done = subprocess.run(["bash", "-c", filtering.replace(copied_to, source).replace(
        filtered_file, result)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True)
    assert done.returncode == 0, done.stderr
    with open(result) as handle:
        installed = requirement_names(handle.read().splitlines())
    expected = [name for name in requirement_names(requirements)
                if name not in ("tensorflow", "protobuf")]
    assert installed == expected
    assert "numpy" in installed and "some_new.package" in installed
