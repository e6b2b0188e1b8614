"""Tests of utility/data/prepare.py: real splits from the offline mirror, checksums, CLI errors.

The mirror (a byte copy of part of the public MEGCF repository) lives outside the
repository (tests/data_sources.py: ``$MCLN_DATA_MIRROR``); tests that need it are skipped
when it is absent. Outputs go to pytest's tmp_path only.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse

from data_sources import megcf_mirror, missing_mirror
from local_server import serving
from utility.data import download, prepare as prepare_data
from utility.common.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIRROR = megcf_mirror()
OUTPUT_FILES = prepare_data.RAW_FILES + (prepare_data.IMAGE_FEATURES,
                                         prepare_data.TEXT_FEATURES)

EXPECTED = {
    # name: (users, items, train entries, image dim, text dim: None = no title features)
    "amazon": (15576, 8678, 123742, 962, 300),
    "taobao": (12539, 8735, 71109, 1127, None),
}


def needs_mirror(public):
    if not os.path.isdir(os.path.join(MIRROR, "Data", public)):
        pytest.skip(missing_mirror())


def read_matrix(path):
    """Parse an ``iid f1 ... fD`` file into (ids, features) quickly."""
    with open(path) as handle:
        first = handle.readline()
        text = first + handle.read()
    width = len(first.split())
    values = np.array(text.split(), dtype=np.float64)
    assert values.size % width == 0, "ragged rows in %s" % path
    values = values.reshape(-1, width)
    return values[:, 0], values[:, 1:]


def prepare_quietly(name, data_path, mirror):
    lines = []
    folder = prepare_data.prepare(name, data_path=str(data_path), mirror=mirror,
                                  log=lines.append)
    return folder, lines


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Prepare each dataset once per module: {name: (folder, log lines)}."""
    cache = {}

    def get(name):
        if name not in cache:
            needs_mirror(prepare_data.PUBLIC_FOLDERS[name])
            base = tmp_path_factory.mktemp("data_" + name)
            cache[name] = prepare_quietly(name, base, MIRROR)
        return cache[name]
    return get


@pytest.mark.parametrize("name", ["amazon", "taobao"])
def test_counts_and_feature_files(prepared, name):
    folder, lines = prepared(name)
    users, items, train_entries, image_dim, text_dim = EXPECTED[name]
    summary = lines[-1]
    text = "text dim %d" % text_dim if text_dim else "no text features (the release " \
        "uses none on Taobao; --with_titles builds them)"
    assert ("%d users, %d items, %d train entries, image dim %d, %s"
            % (users, items, train_entries, image_dim, text)) in summary
    assert "entity-bag" in summary
    assert os.path.basename(folder) == prepare_data.OUTPUT_FOLDERS[name]
    written = OUTPUT_FILES if text_dim else prepare_data.RAW_FILES + (
        prepare_data.IMAGE_FEATURES,)
    assert sorted(os.listdir(folder)) == sorted(written)

    # The splits are verbatim copies of the mirrored files.
    public = prepare_data.PUBLIC_FOLDERS[name]
    for file_name in prepare_data.RAW_FILES:
        with open(os.path.join(folder, file_name), "rb") as copy, \
                open(os.path.join(MIRROR, "Data", public, file_name), "rb") as original:
            assert copy.read() == original.read()

    ids, image = read_matrix(os.path.join(folder, prepare_data.IMAGE_FEATURES))
    assert image.shape == (items, image_dim)
    assert np.array_equal(ids, np.arange(items))
    norms = np.linalg.norm(image, axis=1)
    zero_rows = np.all(image == 0, axis=1)
    # Values are written with 6 significant digits, hence the tolerance.
    assert np.all(zero_rows | (np.abs(norms - 1.0) < 1e-4))
    assert np.all(image >= 0)

    if text_dim:
        ids, text = read_matrix(os.path.join(folder, prepare_data.TEXT_FEATURES))
        assert text.shape == (items, text_dim)
        assert np.array_equal(ids, np.arange(items))
        assert np.all(np.isfinite(text))


def test_second_preparation_is_byte_identical(prepared, tmp_path):
    folder, _ = prepared("amazon")
    again, _ = prepare_quietly("beauty", tmp_path, MIRROR)
    assert sorted(os.listdir(again)) == sorted(os.listdir(folder))
    for file_name in OUTPUT_FILES:
        with open(os.path.join(folder, file_name), "rb") as first, \
                open(os.path.join(again, file_name), "rb") as second:
            assert first.read() == second.read(), file_name


def test_rerun_reuses_files_without_network(prepared, tmp_path):
    folder, _ = prepared("taobao")
    copy = tmp_path / "Taobao"
    shutil.copytree(folder, str(copy))
    os.remove(str(copy / prepare_data.IMAGE_FEATURES))
    # An unreachable mirror proves that nothing is downloaded again.
    again, lines = prepare_quietly("taobao", tmp_path, "http://127.0.0.1:9/")
    assert os.path.samefile(again, str(copy))
    assert sum("reusing verified" in line for line in lines) == len(prepare_data.RAW_FILES)
    assert not (copy / prepare_data.TEXT_FEATURES).exists()  # image only, as released
    with open(os.path.join(folder, prepare_data.IMAGE_FEATURES), "rb") as original, \
            open(str(copy / prepare_data.IMAGE_FEATURES), "rb") as rebuilt:
        assert original.read() == rebuilt.read()


def test_taobao_title_features_only_when_asked(prepared, tmp_path):
    folder, _ = prepared("taobao")
    shutil.copytree(folder, str(tmp_path / "Taobao"))
    again = prepare_data.prepare("taobao", data_path=str(tmp_path),
                                 mirror="http://127.0.0.1:9/", log=[].append, with_titles=True)
    ids, text = read_matrix(os.path.join(again, prepare_data.TEXT_FEATURES))
    assert text.shape == (EXPECTED["taobao"][1], prepare_data.TEXT_DIM)
    assert np.array_equal(ids, np.arange(EXPECTED["taobao"][1]))


def test_corrupted_file_is_rejected(tmp_path):
    needs_mirror("amazon-beauty")
    mirror = tmp_path / "mirror"
    shutil.copytree(os.path.join(MIRROR, "Data", "amazon-beauty"),
                    str(mirror / "Data" / "amazon-beauty"))
    broken = mirror / "Data" / "amazon-beauty" / "test.txt"
    data = bytearray(broken.read_bytes())
    data[100] ^= 0x01
    broken.write_bytes(bytes(data))

    with pytest.raises(InputError) as caught:
        prepare_quietly("amazon", tmp_path / "out", str(mirror))
    message = str(caught.value)
    assert "test.txt" in message
    assert prepare_data.SHA256["amazon-beauty"]["test.txt"] in message
    assert prepare_data.sha256_of(str(broken)) in message
    # Nothing half-made: the new folder was filled under a temporary name, now removed,
    # with the parent made for it.
    assert not (tmp_path / "out").exists()


def test_download_over_http(tmp_path):
    """The urllib path, served offline by a local HTTP server over the mirror."""
    needs_mirror("taobao")
    out = tmp_path / "Taobao"
    out.mkdir()
    with serving(MIRROR) as url:
        for file_name in prepare_data.RAW_FILES:
            source = prepare_data.source_of("taobao", file_name, url)
            assert source == ("url", url + "Data/taobao/" + file_name)
            download.fetch(source, str(out / file_name),
                           prepare_data.SHA256["taobao"][file_name], url)
    for file_name in prepare_data.RAW_FILES:
        assert (prepare_data.sha256_of(str(out / file_name))
                == prepare_data.SHA256["taobao"][file_name])


def run_cli(args, tmp_path, env_mirror=None):
    env = dict(os.environ)
    env.pop(download.MIRROR_ENV, None)
    if env_mirror is not None:
        env[download.MIRROR_ENV] = env_mirror
    return subprocess.run(
        [sys.executable, "-m", "utility.prepare_data"] + args
        + ["--data_path", str(tmp_path / "Data")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=120)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_cli_unknown_name(tmp_path):
    result = run_cli(["movies"], tmp_path)
    assert_one_line_error(result, "movies", "taobao")
    assert not (tmp_path / "Data").exists()


def test_cli_mirror_missing_file(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "Data" / "amazon-beauty").mkdir(parents=True)
    result = run_cli(["amazon", "--mirror", str(mirror)], tmp_path)
    assert_one_line_error(result, os.path.join(str(mirror), "Data", "amazon-beauty",
                                               "train.txt"))
    assert not (tmp_path / "Data").exists()  # no empty folder a run would mistake for data


def test_cli_unreachable_url_mirror(tmp_path):
    result = run_cli(["taobao", "--mirror", "http://127.0.0.1:9/"], tmp_path)
    assert_one_line_error(result, "network fetch failed", "127.0.0.1:9", "--mirror")
    assert not (tmp_path / "Data").exists()


def test_cli_mirror_from_environment(tmp_path):
    result = run_cli(["art"], tmp_path, env_mirror="http://127.0.0.1:9/")
    assert_one_line_error(result, "127.0.0.1:9", "Data/Art/train.txt",
                          download.MIRROR_ENV)


def test_cli_bad_flag(tmp_path):
    result = run_cli(["amazon", "--no-such-flag"], tmp_path)
    assert_one_line_error(result, "--no-such-flag")


# ---------------------------------------------------------------------------------------
# The feature builder on a hand-made example


def test_entity_lists_and_tfidf_by_hand(tmp_path):
    path = tmp_path / "i2e.txt"
    # Item 2 has an empty list, item 3 no line at all, item 9 is beyond n_items.
    path.write_text("1 7 9\n0 5 7 7\n\n2\n9 5\n")
    lists, ignored = prepare_data.read_entity_lists(str(path), n_items=4)
    assert lists == {0: [5, 7, 7], 1: [7, 9], 2: []}
    assert ignored == 1

    counts, entity_ids = prepare_data.count_matrix(lists, n_items=4)
    assert list(entity_ids) == [5, 7, 9]
    expected_counts = np.array([[1, 2, 0], [0, 1, 1], [0, 0, 0], [0, 0, 0]], dtype=float)
    assert np.array_equal(counts.toarray(), expected_counts)

    # Smooth idf over all rows, then l2-normalised rows (zero rows stay zero).
    n = expected_counts.shape[0]
    df = (expected_counts > 0).sum(axis=0)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    tfidf = expected_counts * idf
    norms = np.linalg.norm(tfidf, axis=1, keepdims=True)
    tfidf = tfidf / np.where(norms > 0, norms, 1.0)

    image = prepare_data.image_features(counts)
    assert scipy.sparse.issparse(image)
    assert np.allclose(image.toarray(), tfidf, atol=1e-6, rtol=0)

    # Fewer entities than the text dimension: the tf-idf itself, zero-padded.
    text = prepare_data.text_features(counts, n_components=5)
    assert text.shape == (4, 5)
    assert np.allclose(text[:, :3], tfidf, atol=1e-6, rtol=0)
    assert np.all(text[:, 3:] == 0)


def test_text_features_reduce_with_svd():
    rng = np.random.RandomState(0)
    counts = scipy.sparse.csr_matrix(rng.poisson(0.3, size=(40, 30)).astype(float))
    first = prepare_data.text_features(counts, n_components=8)
    second = prepare_data.text_features(counts, n_components=8)
    assert first.shape == (40, 8)
    assert np.array_equal(first, second)


def test_written_features_format(tmp_path):
    sparse = scipy.sparse.csr_matrix(np.array([[0.0, 0.5], [0.0, 0.0], [1.0 / 3.0, 0.0]]))
    path = tmp_path / "sparse.txt"
    prepare_data.write_features(str(path), sparse)
    assert path.read_text() == "0 0 0.5\n1 0 0\n2 0.333333 0\n"

    dense = np.array([[-0.0, 1e-7], [2.0, -1.5]])
    path = tmp_path / "dense.txt"
    prepare_data.write_features(str(path), dense)
    assert path.read_text() == "0 0 1e-07\n1 2 -1.5\n"
    assert sorted(os.listdir(str(tmp_path))) == ["dense.txt", "sparse.txt"]


def test_feature_writing_reports_progress(tmp_path, monkeypatch):
    """Long preparation steps go through utility.common.progress (a bar on a terminal only)."""
    seen = []

    def recording(iterable, total, description):
        seen.append((total, description))
        return iterable

    monkeypatch.setattr(prepare_data, "progress", recording)
    path = str(tmp_path / "item2imgfeat.txt")
    prepare_data.write_features(path, np.eye(3))
    assert seen == [(3, "writing item2imgfeat.txt")]
    assert open(path).read().splitlines()[1].split()[:3] == ["1", "0", "1"]
