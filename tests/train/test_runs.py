"""seqlab.train.runs: run directory naming and creation; seqlab.tasks.load_run: rebuilding a model from one."""

from __future__ import annotations

import datetime as dt

import pytest
import torch

from seqlab.config import Config, apply_overrides, load_config, to_dict
from seqlab.data.vocab import Vocabulary
from seqlab.errors import CheckpointError, ConfigurationError
from seqlab.tasks import build_model, load_run
from seqlab.train.checkpoint import save_checkpoint
from seqlab.train.runs import (
    CONFIG_FILE,
    RUN_INFO_FILE,
    VOCAB_FILE,
    find_checkpoint,
    init_run_dir,
    new_run_dir,
    read_json,
)


def test_new_run_dir_name_and_uniqueness(tmp_path):
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    first = new_run_dir("lstm-sst2", tmp_path, now=when)
    assert first == tmp_path / "lstm-sst2-20260102-030405"
    first.mkdir()
    assert new_run_dir("lstm-sst2", tmp_path, now=when).name == "lstm-sst2-20260102-030405-2"
    assert new_run_dir("my recipe/x", tmp_path, now=when).name == "my_recipe_x-20260102-030405"


def test_init_run_dir_writes_config_and_refuses_reuse(tmp_path):
    cfg = Config()
    path = init_run_dir(tmp_path / "run", to_dict(cfg), info={"num_classes": 2})
    assert load_config(path / CONFIG_FILE) == cfg
    assert read_json(path / RUN_INFO_FILE) == {"num_classes": 2}
    assert (path / "checkpoints").is_dir() and (path / "plots").is_dir()
    with pytest.raises(ConfigurationError, match="already holds a run.*--resume"):
        init_run_dir(path, to_dict(cfg))


def _write_run(tmp_path, kind: str):
    task = "language_modeling" if kind == "language_model" else "classification"
    tied = ["model.tie_weights=true"] if kind == "language_model" else []
    cfg = apply_overrides(Config(), [f"recipe.task={task}", f"model.kind={kind}", "model.embedding_dim=8",
                                     "model.hidden_size=8", "model.dropout=0.0", *tied])
    model_cfg = cfg.model
    vocab = Vocabulary(["a", "b", "c", "d"])
    path = init_run_dir(tmp_path / kind, to_dict(cfg), info={"num_classes": 3, "class_names": ["x", "y", "z"]})
    vocab.save(path / VOCAB_FILE)
    torch.manual_seed(3)
    model = build_model(model_cfg, len(vocab), 3, padding_idx=vocab.pad_id)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # (cloned: tied weights become two tensors)
    save_checkpoint(path / "checkpoints" / "best.safetensors", {"model": state}, metadata={"epoch": 1})
    return path, model


def test_load_run_rebuilds_the_same_model(tmp_path):
    path, model = _write_run(tmp_path, "classifier")
    run = load_run(path)
    assert run.checkpoint.name == "best.safetensors" and run.class_names == ["x", "y", "z"]
    assert len(run.vocab) == 6 and run.checkpoint_meta["epoch"] == 1
    ids = torch.tensor([[2, 3, 4], [5, 0, 0]])
    lengths = torch.tensor([3, 1])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(run.model(ids, lengths), model(ids, lengths))
    assert not run.model.training


def test_load_run_language_model_with_tied_weights(tmp_path):
    path, model = _write_run(tmp_path, "language_model")
    run = load_run(path)
    assert run.model.decoder.weight is run.model.embedding.weight
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(run.model(ids)[0], model.eval()(ids)[0])


def test_load_run_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="not a run directory.*config.json"):
        load_run(tmp_path / "empty")
    path = init_run_dir(tmp_path / "novocab", to_dict(Config()), info={"num_classes": 2})
    with pytest.raises(ConfigurationError, match="vocab.json"):
        load_run(path)
    Vocabulary(["a"]).save(path / VOCAB_FILE)
    with pytest.raises(CheckpointError, match="best.safetensors or last.safetensors"):
        load_run(path)
    with pytest.raises(CheckpointError, match="last.safetensors"):
        find_checkpoint(path, "last")
    with pytest.raises(ConfigurationError, match="'best' or 'last'"):
        find_checkpoint(path, "middle")
