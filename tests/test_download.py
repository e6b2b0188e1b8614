"""utility/data/download.py on hand-made files: a checked copy from a folder or over HTTP
(a local server), and the one-line errors of a missing file, a failed download and a
changed file. Needs no mirror, so it always runs."""
import hashlib
import os

import pytest

from local_server import serving
from utility.common.atomic import is_temporary
from utility.common.errors import InputError
from utility.data import download

PAYLOAD = b"user item\n" * 300_000  # 3 MB: several CHUNK_BYTES pieces


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def served(tmp_path):
    """The base URL of a local server over a folder holding train.txt."""
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "train.txt").write_bytes(PAYLOAD)
    with serving(folder) as url:
        yield url


def leftovers(folder):
    return sorted(name for name in os.listdir(str(folder)) if is_temporary(name))


@pytest.mark.parametrize("text, expected", [
    ("https://example.org/x", True), ("http://127.0.0.1:9/", True), ("ftp://host/", True),
    ("/data/mirror", False), ("mirror", False), ("C:/mirror", False), ("./http://x", False)])
def test_is_url_tells_a_base_url_from_a_folder(text, expected):
    assert download.is_url(text) is expected


def test_fetch_from_a_folder_copies_a_file_whose_sha256_matches(tmp_path):
    source = tmp_path / "train.txt"
    source.write_bytes(PAYLOAD)
    target = tmp_path / "out" / "train.txt"
    target.parent.mkdir()
    download.fetch(("file", str(source)), str(target), sha256(PAYLOAD), str(tmp_path))
    assert target.read_bytes() == PAYLOAD
    assert leftovers(target.parent) == []


def test_a_changed_file_is_one_error_naming_both_checksums_and_the_target_is_untouched(
        tmp_path):
    source = tmp_path / "train.txt"
    source.write_bytes(PAYLOAD[:-1] + b"X")
    target = tmp_path / "out" / "train.txt"
    target.parent.mkdir()
    target.write_bytes(b"what was there before")
    with pytest.raises(InputError) as caught:
        download.fetch(("file", str(source)), str(target), sha256(PAYLOAD), str(tmp_path))
    message = str(caught.value)
    assert message.startswith(str(source) + ": SHA-256 mismatch for train.txt")
    assert sha256(PAYLOAD) in message and sha256(source.read_bytes()) in message
    assert "\n" not in message
    assert target.read_bytes() == b"what was there before"
    assert leftovers(target.parent) == []


def test_a_missing_file_or_mirror_folder_is_named(tmp_path):
    target = tmp_path / "train.txt"
    with pytest.raises(InputError) as caught:
        download.fetch(("file", str(tmp_path / "nope.txt")), str(target), "0" * 64,
                       str(tmp_path))
    assert str(tmp_path / "nope.txt") in str(caught.value)
    with pytest.raises(InputError) as caught:
        download.fetch(("file", str(tmp_path / "gone" / "a.txt")), str(target), "0" * 64,
                       str(tmp_path / "gone"))
    assert str(caught.value) == "mirror folder %s does not exist" % (tmp_path / "gone")
    assert not target.exists()


def test_fetch_over_http_checks_the_download_and_names_an_http_error(served, tmp_path):
    url = served
    target = tmp_path / "train.txt"
    download.fetch(("url", url + "train.txt"), str(target), sha256(PAYLOAD), url)
    assert target.read_bytes() == PAYLOAD

    with pytest.raises(InputError) as caught:
        download.fetch(("url", url + "missing.txt"), str(tmp_path / "missing.txt"), "0" * 64,
                       url)
    assert "HTTP 404" in str(caught.value) and url + "missing.txt" in str(caught.value)
    assert "--mirror or %s" % download.MIRROR_ENV in str(caught.value)
    assert not (tmp_path / "missing.txt").exists()

    with pytest.raises(InputError) as caught:
        download.fetch(("url", url + "train.txt"), str(tmp_path / "other.txt"), "0" * 64, url)
    assert "SHA-256 mismatch for other.txt" in str(caught.value)
    assert not (tmp_path / "other.txt").exists()
    assert leftovers(tmp_path) == []


def test_an_unreachable_public_address_hints_at_the_mirror_layout(tmp_path):
    with pytest.raises(InputError) as caught:
        download.fetch(("url", "http://127.0.0.1:9/a.txt"), str(tmp_path / "a.txt"), "0" * 64,
                       layout=download.CONTENT_LAYOUT)
    message = str(caught.value)
    assert message.startswith("network fetch failed for http://127.0.0.1:9/a.txt")
    assert download.CONTENT_LAYOUT in message and download.MIRROR_ENV in message
    assert not (tmp_path / "a.txt").exists()
