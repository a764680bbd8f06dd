"""Losses and metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.errors import ShapeError
from seqlab.train import get_loss, get_metric


def test_binary_crossentropy_on_probabilities_clamps_like_keras():
    p = torch.tensor([[0.9], [0.2], [1.0]])
    t = torch.tensor([1, 0, 0])
    # p=1 with target 0 is clipped to 1-1e-7, which rounds to 1-2**-23 in float32 (as in Keras' torch backend)
    clipped = float(torch.tensor(1 - 1e-7, dtype=torch.float32))
    expected = -(math.log(0.9) + math.log(0.8) + math.log(1 - clipped)) / 3
    assert get_loss("binary_crossentropy")(p, t).item() == pytest.approx(expected, rel=1e-4)


def test_bce_with_logits_matches_the_formula():
    z = torch.tensor([2.0, -1.0])
    t = torch.tensor([1.0, 1.0])
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2
    assert get_loss("bce_with_logits")(z, t).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_on_sequences_and_keras_sparse_on_probabilities():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # (B=1, T=2, V=3)
    t = torch.tensor([[0, 2]])
    ce = -(math.log(math.exp(2) / (math.exp(2) + 2)) + math.log(1 / (math.e + 2))) / 2
    assert get_loss("cross_entropy")(logits, t).item() == pytest.approx(ce, rel=1e-6)
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    expected = -(math.log(0.7) + math.log(1e-7)) / 2
    assert get_loss("sparse_categorical_crossentropy")(probs, torch.tensor([0, 0])).item() == pytest.approx(
        expected, rel=1e-4)
    onehot = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    assert get_loss("categorical_crossentropy")(probs, onehot).item() == pytest.approx(
        -(math.log(0.7) + math.log(0.5)) / 2, rel=1e-6)
    with pytest.raises(ShapeError, match="do not match outputs"):
        get_loss("cross_entropy")(logits, torch.tensor([0, 1]))


def test_mse_mae_nll():
    out, t = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0])
    assert get_loss("mse")(out, t).item() == pytest.approx((1 + 4) / 2)
    assert get_loss("mae")(out, t).item() == pytest.approx((1 + 2) / 2)
    logp = torch.log(torch.tensor([[0.25, 0.75]]))
    assert get_loss("nll")(logp, torch.tensor([1])).item() == pytest.approx(-math.log(0.75), rel=1e-6)


def _metric(name, batches):
    m = get_metric(name)
    for out, t in batches:
        m.update(out, t)
    return m.compute()


def test_accuracy_binary_probabilities_logits_multiclass_tokens_onehot():
    probs = torch.tensor([[0.9], [0.4], [0.6], [0.1]])  # all in [0, 1]: threshold 0.5
    assert _metric("accuracy", [(probs, torch.tensor([1, 0, 0, 0]))]) == 0.75
    logits = torch.tensor([2.0, -0.5, 0.3, -3.0])  # outside [0, 1]: threshold 0
    assert _metric("accuracy", [(logits, torch.tensor([1, 0, 0, 1]))]) == 0.5
    mc = torch.tensor([[0.1, 2.0, 0.3], [1.0, 0.0, 0.0]])
    assert _metric("accuracy", [(mc, torch.tensor([1, 2])), (mc[:1], torch.tensor([1]))]) == pytest.approx(2 / 3)
    tokens = torch.zeros(1, 3, 4)
    tokens[0, :, 2] = 1.0  # predicts class 2 everywhere
    assert _metric("accuracy", [(tokens, torch.tensor([[2, 2, -100]]))]) == 1.0  # -100 ignored
    assert _metric("accuracy", [(mc, torch.tensor([[0.0, 1, 0], [0, 0, 1]]))]) == 0.5


def test_perplexity_and_bits_per_char():
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.25, 0.75]]]))  # (1, 2, 2)
    t = torch.tensor([[0, 1]])
    nats = -(math.log(0.5) + math.log(0.75)) / 2
    assert _metric("perplexity", [(logits, t)]) == pytest.approx(math.exp(nats), rel=1e-6)
    assert _metric("bits_per_char", [(logits, t)]) == pytest.approx(nats / math.log(2), rel=1e-6)


def test_metric_update_never_syncs_to_python():
    m = get_metric("accuracy")
    m.update(torch.tensor([[0.2, 0.8]]), torch.tensor([1]))
    assert isinstance(m.total, torch.Tensor) and isinstance(m.count, torch.Tensor)
    state = m.state_dict()
    m.reset("cpu")
    assert math.isnan(m.compute())
    m.load_state_dict(state)
    assert m.compute() == 1.0
