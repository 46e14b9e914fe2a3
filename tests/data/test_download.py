"""The download path, exercised offline with file:// URLs and a small file built here."""

import gzip
import hashlib
import json

import pytest

from bulkmod.data import download, loaders
from bulkmod.errors import BulkmodError


@pytest.fixture
def small_matbench(tmp_path, mp_small):
    doc = {
        "index": [0, 1, 2],
        "columns": ["structure", "log10(K_VRH)"],
        "data": [[s.as_dict(), 2.0] for s in mp_small.structures[:3]],
    }
    path = tmp_path / "src" / "matbench_log_kvrh.json.gz"
    path.parent.mkdir()
    with gzip.open(path, "wt") as fh:
        json.dump(doc, fh)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_caches_and_verifies(tmp_path, monkeypatch, small_matbench):
    monkeypatch.setenv("BULKMOD_CACHE", str(tmp_path / "cache"))
    src, digest = small_matbench
    got = download.fetch(src.as_uri(), digest, "mb.json.gz")
    assert got.read_bytes() == src.read_bytes()
    assert str(got).startswith(str(tmp_path / "cache"))
    src.unlink()  # second call is served from the cache, no network
    assert download.fetch("file:///nonexistent", digest, "mb.json.gz") == got


def test_fetch_refuses_wrong_hash_and_leaves_no_file(tmp_path, monkeypatch, small_matbench):
    monkeypatch.setenv("BULKMOD_CACHE", str(tmp_path / "cache"))
    src, _ = small_matbench
    with pytest.raises(BulkmodError, match="sha256"):
        download.fetch(src.as_uri(), "0" * 64, "mb.json.gz")
    assert not list((tmp_path / "cache" / "downloads").iterdir())


def test_tampered_cache_is_refused(tmp_path, monkeypatch, small_matbench):
    monkeypatch.setenv("BULKMOD_CACHE", str(tmp_path / "cache"))
    src, digest = small_matbench
    got = download.fetch(src.as_uri(), digest, "mb.json.gz")
    got.write_bytes(b"tampered")
    with pytest.raises(BulkmodError, match="does not match"):
        download.fetch(src.as_uri(), digest, "mb.json.gz")


def test_matbench_structures_through_the_download_path(tmp_path, monkeypatch, small_matbench):
    monkeypatch.setenv("BULKMOD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(loaders.MATBENCH_KVRH_ENV, raising=False)
    src, digest = small_matbench
    monkeypatch.setattr(loaders, "MATBENCH_KVRH_URL", src.as_uri())
    monkeypatch.setattr(loaders, "MATBENCH_KVRH_SHA256", digest)
    with pytest.raises(BulkmodError, match="downloading is off"):
        loaders.load_matbench_structures()
    path = loaders.matbench_structure_file(allow_download=True)
    ds = loaders.load_matbench_structures()
    assert path.exists() and len(ds) == 3 and ds.has_structures


def test_local_copy_with_wrong_hash_is_refused(small_matbench):
    src, _ = small_matbench
    with pytest.raises(BulkmodError, match="not the published"):
        loaders.matbench_structure_file(src)
