"""A static-mode Kim CNN trained by ``run_recipe`` from a GloVe file the test writes: the vectors
reach the model, stay frozen, their coverage is recorded, and ``load_run`` rebuilds the model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from seqlab.config import Config, apply_overrides
from seqlab.recipes.runner import run_recipe
from seqlab.tasks import load_run

WORDS = {"the": [0.1, 0.2, 0.3, 0.4], "film": [1.0, -1.0, 0.5, 0.0], "funny": [0.0, 2.0, 0.0, -2.0],
         "not-in-sst": [9.0, 9.0, 9.0, 9.0]}


def test_static_vectors_run(tmp_path):
    if not os.environ.get("SEQLAB_DATA_DIR") or not Path(os.environ["SEQLAB_DATA_DIR"]).is_dir():
        pytest.skip("real datasets not found: set SEQLAB_DATA_DIR")
    glove = tmp_path / "tiny.glove.txt"
    glove.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in WORDS.items()), encoding="utf-8")
    config = apply_overrides(Config(), [
        "data.dataset=sst2", "data.limit=300", "data.eval_limit=100", "model.kind=text_cnn",
        "model.embedding_mode=static", f"model.vectors={glove}", "model.embedding_dim=4", "model.num_filters=4",
        "train.epochs=1", "train.device=cpu", "train.num_threads=1"])
    run_dir = tmp_path / "run"
    run_recipe(config, run_dir=run_dir, verbose=0)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["vectors"]["found"] == 3 and info["vectors"]["total"] == info["vocab_size"] - 2  # <pad>, <unk>
    loaded = load_run(run_dir)  # rebuilt with placeholder vectors, then the checkpoint's weights
    for word in ("the", "film", "funny"):  # static: still the file's vectors after training
        assert torch.equal(loaded.model.embedding.weight[loaded.vocab.token_to_id(word)], torch.tensor(WORDS[word]))
    assert not loaded.model.embedding.weight.requires_grad
    with pytest.raises(Exception, match="dimension 4, expected 5"):
        run_recipe(apply_overrides(config, ["model.embedding_dim=5"]), run_dir=tmp_path / "bad", verbose=0)
    assert not (tmp_path / "bad").exists()  # checked before the run directory is written
