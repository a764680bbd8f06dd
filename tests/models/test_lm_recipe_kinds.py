"""Issue 6 plumbing: the Exercise 2 baselines as ``model.kind`` values trained by ``run_recipe`` on a
real stream, the tokenization level in ``run.json``, and the gradient-flow plot of a trained
recurrent language model."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path

import pytest
import torch

from seqlab.config import Config, apply_overrides
from seqlab.models.window_lm import BagOfWordsLM, FixedWindowLM
from seqlab.tasks import build_model, model_config, task_for
from seqlab.recipes.runner import run_recipe

PTB_SMALL = ["recipe.task=language_modeling", "recipe.metric=val_loss", "recipe.higher_is_better=false",
             "data.dataset=ptb", "data.eval_split=valid", "data.test_split=", "data.lowercase=false",
             "data.batch_size=16", "data.eval_batch_size=16", "data.bptt=32", "data.limit=20000", "data.min_freq=3",
             "data.eval_limit=4000", "model.embedding_dim=32",
             "train.epochs=2", "train.lr=0.01", "train.monitor=val_loss", "train.device=cpu", "train.num_threads=1"]


def _need_data() -> None:
    if not os.environ.get("SEQLAB_DATA_DIR") or not Path(os.environ["SEQLAB_DATA_DIR"]).is_dir():
        pytest.skip("real datasets not found: set SEQLAB_DATA_DIR")


def test_builder_maps_window_size():
    window = build_model(model_config(kind="window_lm", window_size=5, embedding_dim=8, hidden_size=16), 50)
    bow = build_model(model_config(kind="bow_lm", window_size=3, embedding_dim=8), 50)
    assert isinstance(window, FixedWindowLM) and window.context_size == 5 and window.hidden.out_features == 16
    assert isinstance(bow, BagOfWordsLM) and bow.context_size == 3
    logits, state = window(torch.randint(0, 50, (2, 7)))
    assert logits.shape == (2, 7, 50) and state.shape == (2, 5)


def _unigram_perplexity(config: Config, run_dir: Path) -> float:
    """Perplexity of add-one unigram counts of the training sample on the validation sample, in the
    run's vocabulary (rare words are ``<unk>`` there too)."""
    from seqlab.data.vocab import Vocabulary

    vocab = Vocabulary.load(run_dir / "vocab.json")
    train = task_for(config).load_split(config, "train", training=True).encode(vocab).tolist()
    valid = task_for(config).load_split(config, "valid").encode(vocab).tolist()
    counts = Counter(train)
    total = len(train) + len(vocab)
    return math.exp(-sum(math.log((counts[t] + 1) / total) for t in valid) / len(valid))


@pytest.mark.parametrize("kind, overrides", [
    ("window_lm", ["model.window_size=3", "model.hidden_size=64", "model.dropout=0.0"]),
    ("bow_lm", ["model.window_size=2", "train.epochs=5", "train.lr=0.02"]),  # one linear layer: learns slower
])
def test_window_baselines_train_on_ptb_and_beat_unigrams(tmp_path, capsys, kind, overrides):
    _need_data()
    config = apply_overrides(Config(), [*PTB_SMALL, f"model.kind={kind}", *overrides])
    result = run_recipe(config, run_dir=tmp_path / kind, verbose=0)
    info = json.loads((tmp_path / kind / "run.json").read_text())
    results = json.loads((tmp_path / kind / "results.json").read_text())
    assert info["level"] == "word"
    # the context models use the previous words: better than the unigram distribution
    assert result.metrics["val_perplexity"] < 0.95 * _unigram_perplexity(config, tmp_path / kind), result.metrics
    assert result.headline == pytest.approx(result.metrics["val_loss"])
    # no recurrent layer: the gradient-flow plot is skipped cleanly
    assert not (tmp_path / kind / "plots" / "gradient_flow.png").exists()
    assert "plots/gradient_flow.png" not in results["plots"] and "plots/loss.png" in results["plots"]
    # `seqlab eval` and `seqlab generate` treat the run as a language model (not as a classifier)
    from seqlab.cli.main import main

    run_dir = str(tmp_path / kind)
    assert main(["eval", run_dir, "--split", "valid", "--limit", "4000", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluated["loss"] == pytest.approx(result.metrics["val_loss"], rel=1e-4)
    texts = []
    for _ in range(2):
        assert main(["generate", run_dir, "--prompt", "the", "--length", "12", "--seed", "3"]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and len(texts[0].split()) >= 10  # same seed, same words


def test_recurrent_lm_run_saves_its_gradient_flow_plot(tmp_path):
    _need_data()
    config = apply_overrides(Config(), [
        "recipe.task=language_modeling", "recipe.metric=val_loss", "data.dataset=tinyshakespeare",
        "data.eval_split=valid", "data.test_split=", "data.lowercase=false", "data.batch_size=8",
        "data.eval_batch_size=4", "data.bptt=24", "data.limit=6000", "data.eval_limit=2000",
        "model.kind=language_model", "model.rnn_type=lstm", "model.embedding_dim=16", "model.hidden_size=32",
        "model.num_layers=2", "train.epochs=1", "train.monitor=val_loss", "train.device=cpu", "train.num_threads=1"])
    run_recipe(config, run_dir=tmp_path / "lm", verbose=0)
    plots = tmp_path / "lm" / "plots"
    assert (plots / "gradient_flow.png").stat().st_size > 1000
    flow = json.loads((plots / "gradient_flow.json").read_text())
    assert len(flow["layers"]) == 2 and all(len(row) == 24 for row in flow["norms"])  # (layers, bptt window)
    assert all(v > 0 for row in flow["norms"] for v in row)
    assert json.loads((tmp_path / "lm" / "run.json").read_text())["level"] == "char"
    assert "plots/gradient_flow.png" in json.loads((tmp_path / "lm" / "results.json").read_text())["plots"]
