"""Finding, checking and downloading dataset files, against a loopback HTTP server."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
from pathlib import Path

import pytest

from seqlab.data import registry
from seqlab.data.download import (
    RemoteFile,
    check_file,
    data_search_dirs,
    download_file,
    ensure_files,
    git_blob_id,
)
from seqlab.errors import DataError, DatasetNotFoundError

BODY = b"the quick brown fox\njumps over the lazy dog\n" * 50
SHA = hashlib.sha256(BODY).hexdigest()
BLOB = hashlib.sha1(b"blob %d\0" % len(BODY) + BODY).hexdigest()


def _remote(url: str, **kw) -> RemoteFile:
    return RemoteFile(path="toy/corpus.txt", url=url, sha256=kw.pop("sha256", SHA), size=kw.pop("size", len(BODY)), **kw)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", f"{tmp_path / 'env1'}{os.pathsep}{tmp_path / 'env2'}")
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path / "cache"))
    assert data_search_dirs(tmp_path / "arg") == [tmp_path / "arg", tmp_path / "env1", tmp_path / "env2", tmp_path / "cache" / "data"]
    monkeypatch.delenv("SEQLAB_CACHE_DIR")
    assert data_search_dirs()[-1] == Path.home() / ".cache" / "seqlab" / "data"


def test_first_directory_wins_and_nothing_is_downloaded(isolated_dirs, http_server):
    for name in ("a", "b"):
        (isolated_dirs / name / "toy").mkdir(parents=True)
        (isolated_dirs / name / "toy" / "corpus.txt").write_bytes(BODY)
    found = ensure_files("toy", [_remote(http_server.url("/x"))], data_dir=isolated_dirs / "b", verify=True)
    assert found["toy/corpus.txt"] == isolated_dirs / "b" / "toy" / "corpus.txt"
    assert http_server.hits == []


def test_good_download_lands_in_cache(isolated_dirs, http_server):
    http_server.serve("/corpus.txt", BODY)
    remote = _remote(http_server.url("/corpus.txt"), git_blob=BLOB)
    found = ensure_files("toy", [remote], data_dir=isolated_dirs / "empty", progress=True)
    path = found["toy/corpus.txt"]
    assert path == isolated_dirs / "cache" / "data" / "toy" / "corpus.txt"
    assert path.read_bytes() == BODY
    assert _leftovers(path.parent) == ["corpus.txt"]  # the temporary file was renamed away
    # second call: found locally, no new request
    ensure_files("toy", [remote], data_dir=isolated_dirs / "empty")
    assert http_server.hits == ["/corpus.txt"]


def test_corrupt_download_is_rejected_and_removed(isolated_dirs, http_server):
    bad = BODY[:-4] + b"FOX\n"  # same size, different bytes
    http_server.serve("/corpus.txt", bad)
    dest = isolated_dirs / "out" / "corpus.txt"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        download_file(_remote(http_server.url("/corpus.txt")), dest, progress=False)
    message = str(info.value)
    assert SHA in message and hashlib.sha256(bad).hexdigest() in message and "toy/corpus.txt" in message
    assert not dest.exists() and _leftovers(dest.parent) == []


def test_git_blob_id_is_checked_when_no_sha256(isolated_dirs, http_server):
    http_server.serve("/corpus.txt", BODY + b"!")
    remote = RemoteFile(path="toy/corpus.txt", url=http_server.url("/corpus.txt"), git_blob=BLOB)
    with pytest.raises(DataError, match=f"expected git blob id {BLOB}"):
        download_file(remote, isolated_dirs / "corpus.txt", progress=False)
    http_server.serve("/good.txt", BODY)
    good = RemoteFile(path="toy/corpus.txt", url=http_server.url("/good.txt"), git_blob=BLOB)
    assert download_file(good, isolated_dirs / "corpus.txt", progress=False).read_bytes() == BODY


def test_short_file_is_a_size_error(isolated_dirs, http_server):
    http_server.serve("/corpus.txt", BODY[:100])  # complete HTTP response, but the file is short
    dest = isolated_dirs / "corpus.txt"
    with pytest.raises(DataError, match=f"has 100 bytes but toy/corpus.txt should have {len(BODY):,}"):
        download_file(_remote(http_server.url("/corpus.txt")), dest, progress=False)
    assert _leftovers(isolated_dirs) == []


def test_truncated_transfer_is_detected(isolated_dirs, http_server):
    http_server.serve("/corpus.txt", BODY[:500], extra=len(BODY) - 500)  # announces the full size, then hangs up
    with pytest.raises(DataError, match=f"announced {len(BODY):,} bytes.*sent 500"):
        download_file(_remote(http_server.url("/corpus.txt")), isolated_dirs / "corpus.txt", progress=False)
    assert _leftovers(isolated_dirs) == []


def test_404_names_dataset_paths_and_url(isolated_dirs, http_server):
    url = http_server.url("/missing.txt")
    with pytest.raises(DatasetNotFoundError) as info:
        ensure_files("toy", [_remote(url)], data_dir=isolated_dirs / "d")
    message = str(info.value)
    assert "'toy'" in message and "HTTP 404" in message and url in message
    assert str(isolated_dirs / "d" / "toy" / "corpus.txt") in message
    assert str(isolated_dirs / "cache" / "data" / "toy" / "corpus.txt") in message
    assert not (isolated_dirs / "cache" / "data" / "toy" / "corpus.txt").exists()


def test_mirror_is_tried_after_failure(isolated_dirs, http_server):
    http_server.serve("/mirror.txt", BODY)
    remote = _remote(http_server.url("/gone.txt"), mirrors=(http_server.url("/mirror.txt"),))
    assert download_file(remote, isolated_dirs / "c.txt", progress=False).read_bytes() == BODY
    assert http_server.hits == ["/gone.txt", "/mirror.txt"]


def test_offline_env_forbids_download(isolated_dirs, http_server, monkeypatch):
    http_server.serve("/corpus.txt", BODY)
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="SEQLAB_OFFLINE") as info:
        ensure_files("toy", [_remote(http_server.url("/corpus.txt"))], data_dir=isolated_dirs / "d")
    assert http_server.url("/corpus.txt") in str(info.value)
    assert http_server.hits == []


def test_server_down(isolated_dirs):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    url = f"http://127.0.0.1:{port}/corpus.txt"
    with pytest.raises(DatasetNotFoundError, match="download failed") as info:
        ensure_files("toy", [_remote(url)], data_dir=isolated_dirs / "d")
    assert url in str(info.value)


def test_local_file_checks(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(BODY[:-1])
    remote = _remote("http://127.0.0.1:9/none")
    with pytest.raises(DataError, match="truncated"):
        check_file(path, remote)
    path.write_bytes(BODY[:-1] + b"?")
    check_file(path, remote)  # size matches: the cheap check passes
    with pytest.raises(DataError, match="checksum mismatch"):
        check_file(path, remote, full=True)
    assert git_blob_id(tmp_path / "f.txt") != BLOB


def test_load_downloads_a_real_dataset_over_loopback(real_data_dir, isolated_dirs, http_server, monkeypatch):
    """The registry path end to end: tinyshakespeare served by the local server, real sha256 checked."""
    spec = registry.REGISTRY["tinyshakespeare"]
    (remote,) = spec.files
    http_server.serve("/input.txt", (real_data_dir / remote.path).read_bytes())
    local = dataclasses.replace(spec, files=(dataclasses.replace(remote, url=http_server.url("/input.txt")),))
    monkeypatch.setitem(registry.REGISTRY, "tinyshakespeare", local)
    corpus = registry.load("tinyshakespeare", "valid", data_dir=isolated_dirs / "nothing-here")
    assert len(corpus) == 111_540
    assert (isolated_dirs / "cache" / "data" / "tinyshakespeare" / "input.txt").is_file()


def test_missing_mnist_train_images_names_url(data_dir_without, monkeypatch, tmp_path):
    partial = data_dir_without("mnist/train-images-idx3-ubyte.gz")
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        registry.load("mnist", "train")
    message = str(info.value)
    assert "'mnist'" in message and "train-images-idx3-ubyte.gz" in message
    assert registry.get_spec("mnist").file("mnist/train-images-idx3-ubyte.gz").url in message
    assert str(partial / "mnist" / "train-images-idx3-ubyte.gz") in message
