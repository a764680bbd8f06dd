"""Long-range experiments: the --quick sweep writes its files; clipping tames an exploding RNN."""

import json
import math

import pytest
import torch

from seqlab.errors import ConfigurationError
from seqlab.experiments.long_range import (
    MODELS,
    QUICK_CLIPPING,
    ClippingConfig,
    LongRangeModel,
    clipping_demo,
    main,
)


def test_quick_run_writes_every_plot_and_json(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert main(["--quick", "--out", str(tmp_path), "--threads", "1"]) == 0
    assert torch.get_num_threads() == threads  # restored
    for name in ("copy_accuracy_vs_delay.png", "adding_mse_vs_length.png", "copy_gradient_flow_rnn.png",
                 "copy_gradient_flow_lstm.png", "adding_gradient_flow_rnn.png", "clipping_loss.png",
                 "clipping_grad_norm.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert set(sweep["results"]) == {"copy", "adding"}
    assert set(sweep["results"]["copy"]) == {"rnn", "lstm"}
    for by_delay in sweep["results"]["copy"].values():
        assert set(by_delay) == {"2", "4"}
        assert all(0.0 <= r["metric"] <= 1.0 for r in by_delay.values())
    for by_delay in sweep["results"]["adding"].values():
        assert all(r["metric"] > 0 and r["chance"] == pytest.approx(1 / 6) for r in by_delay.values())
    clip = json.loads((tmp_path / "clipping.json").read_text())
    assert set(clip["runs"]) == {"unclipped", "clipped"}
    assert "recall acc" in capsys.readouterr().out


@pytest.fixture(scope="module")
def quick_clipping():
    return clipping_demo(QUICK_CLIPPING, log=lambda *_: None)


def test_clipping_keeps_the_exploding_rnn_finite(quick_clipping):
    runs = quick_clipping
    unclipped, clipped = runs["unclipped"], runs["clipped"]
    # without clipping the loss leaves the finite numbers (the run stops there) ...
    assert not math.isfinite(unclipped["loss"][-1])
    assert len(unclipped["loss"]) < QUICK_CLIPPING.steps
    finite = [v for v in unclipped["loss"] if math.isfinite(v)]
    assert max(finite) > 1e6  # it blew up on the way
    # ... with clipping every step is finite and stays in the range of the start (~1-2 nats of MSE)
    assert len(clipped["loss"]) == QUICK_CLIPPING.steps
    assert all(math.isfinite(v) for v in clipped["loss"])
    assert max(clipped["loss"]) < 10.0
    # the gradients really exploded in both runs (clipping bounds the step, not the gradient)
    assert max(clipped["grad_norm"]) > 100 * QUICK_CLIPPING.clip_norm


def test_no_explosion_without_a_large_recurrent_matrix():
    """The control: same lr and steps, spectral radius 0.9: the unclipped run stays finite (the explosion is W_hh's)."""
    runs = clipping_demo(ClippingConfig(steps=QUICK_CLIPPING.steps, recurrent_scale=0.9), log=lambda *_: None)
    assert all(math.isfinite(v) for v in runs["unclipped"]["loss"])
    assert len(runs["unclipped"]["loss"]) == QUICK_CLIPPING.steps
    assert max(runs["unclipped"]["grad_norm"]) < 100


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_builds_for_both_tasks(name):
    copy = LongRangeModel("copy", name, 4, num_classes=10)
    assert copy(torch.randint(0, 10, (2, 7))).shape == (2, 7, 10)
    adding = LongRangeModel("adding", name, 4)
    assert adding(torch.rand(2, 7, 2)).shape == (2,)


def test_unknown_task_or_model():
    with pytest.raises(ConfigurationError, match="copy, adding"):
        LongRangeModel("sort", "rnn", 4)
    with pytest.raises(ConfigurationError, match="peephole"):
        LongRangeModel("copy", "transformer", 4)
