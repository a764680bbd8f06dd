"""The ``seqlab datasets`` command."""

from __future__ import annotations

import json

import pytest

from seqlab.cli.main import main
from seqlab.data import available


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path / "cache"))


def test_table(data_dir_without, capsys):
    data_dir_without("mnist/train-images-idx3-ubyte.gz")
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in available():
        assert name in out
    assert "present" in out and "partial" in out and "Pang & Lee (2005)" in out
    assert "seqlab datasets --download mnist" in out


def test_json(data_dir_without, capsys):
    partial = data_dir_without("mnist/train-images-idx3-ubyte.gz")
    assert main(["datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(available())
    assert rows["ptb"]["status"] == "present" and rows["ptb"]["found_at"] == [str(partial)]
    assert rows["mnist"]["status"] == "partial" and rows["mnist"]["missing"] == ["mnist/train-images-idx3-ubyte.gz"]
    assert rows["fsdd"]["files_total"] == 3000 and rows["fsdd"]["bytes_present"] == 21_128_848
    assert rows["mr"]["license"] and rows["mr"]["citation"]


def test_json_missing_everywhere(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("SEQLAB_DATA_DIR", raising=False)
    assert main(["datasets", "--json", "--data-dir", str(tmp_path / "none")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in rows} == {"missing"}


def test_verify_reports_a_corrupt_copy(real_data_dir, tmp_path, capsys):
    bad = tmp_path / "d" / "kim2014" / "TREC.test.all"
    bad.parent.mkdir(parents=True)
    raw = bytearray((real_data_dir / "kim2014" / "TREC.test.all").read_bytes())
    raw[10] ^= 1  # same size, one bit flipped
    bad.write_bytes(bytes(raw))
    assert main(["datasets", "--verify", "--json", "--data-dir", str(tmp_path / "d")]) == 1
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["trec"]["verified"] is False and "checksum mismatch" in rows["trec"]["problems"][0]
    assert rows["mpqa"]["verified"] is True


def test_download_offline_is_an_error(data_dir_without, capsys):
    data_dir_without("mnist/train-images-idx3-ubyte.gz")
    assert main(["datasets", "--download", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "SEQLAB_OFFLINE" in err and "train-images-idx3-ubyte.gz" in err
    assert main(["datasets", "--download", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["datasets", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--verify" in out and "--download NAME" in out and "--json" in out and "SEQLAB_DATA_DIR" in out


def test_download_over_loopback(real_data_dir, http_server, monkeypatch, tmp_path, capsys):
    import dataclasses

    from seqlab.data import registry

    spec = registry.REGISTRY["tinyshakespeare"]
    (remote,) = spec.files
    http_server.serve("/input.txt", (real_data_dir / remote.path).read_bytes())
    local = dataclasses.replace(spec, files=(dataclasses.replace(remote, url=http_server.url("/input.txt")),))
    monkeypatch.setitem(registry.REGISTRY, "tinyshakespeare", local)
    monkeypatch.delenv("SEQLAB_OFFLINE")
    monkeypatch.delenv("SEQLAB_DATA_DIR")
    assert main(["datasets", "--download", "tinyshakespeare", "--json"]) == 0
    captured = capsys.readouterr()
    assert "tinyshakespeare: downloaded 1 file(s)" in captured.err
    rows = {r["name"]: r for r in json.loads(captured.out)}
    assert rows["tinyshakespeare"]["status"] == "present"
    assert rows["tinyshakespeare"]["found_at"] == [str(tmp_path / "cache" / "data")]
    assert main(["datasets", "--download", "tinyshakespeare", "--json"]) == 0  # second time: nothing to do
    assert "already present" in capsys.readouterr().err
    assert http_server.hits == ["/input.txt"]
