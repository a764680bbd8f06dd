"""Every error path of seqlab.nn.RNN / LSTM / GRU: the type, and that the message says what to do."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import seqlab.nn as snn
from seqlab.errors import ConfigurationError, SeqlabError, ShapeError

T, B, I, H = 4, 2, 3, 5


# ----------------------------------------------------------------------------- constructor


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: snn.LSTM(I, H, cell="gated"), r"cell='gated'.*standard, peephole, coupled, layernorm"),
        (lambda: snn.LSTM(I, H, cell="peephole", impl="fused"), r"no fused kernel.*impl='auto' or impl='generic'"),
        (lambda: snn.LSTM(I, H, cell="layernorm", impl="fused"), r"no fused kernel"),
        (lambda: snn.LSTM(I, H, proj_size=2), r"proj_size=2 is not supported.*nn.Linear"),
        (lambda: snn.GRU(I, H, proj_size=2), r"proj_size"),
        (lambda: snn.GRU(I, H, impl="fast"), r"impl='fast'.*auto, fused, generic, reference"),
        (lambda: snn.RNN(I, H, nonlinearity="sigmoid"), r"'tanh' or 'relu'"),
        (lambda: snn.LSTM(I, H, impl="fused", recurrent_dropout=0.2), r"recurrent_dropout.*fused"),
        (lambda: snn.LSTM(I, H, recurrent_dropout=1.0), r"recurrent_dropout must be a probability in \[0, 1\)"),
        (lambda: snn.LSTM(I, H, 2, dropout=1.5), r"dropout must be a probability"),
        (lambda: snn.LSTM(I, 0), r"hidden_size must be a positive int"),
        (lambda: snn.LSTM(0, H), r"input_size must be a positive int"),
        (lambda: snn.LSTM(I, H, num_layers=0), r"num_layers must be a positive int"),
        (lambda: snn.LSTM(I, 5.0), r"hidden_size must be a positive int"),
        (lambda: snn.LSTM(I, H, batch_first="yes"), r"batch_first must be True or False"),
    ],
)
def test_constructor_errors(build, match):
    with pytest.raises(ConfigurationError, match=match):
        build()


def test_errors_are_seqlab_and_value_errors():
    with pytest.raises(SeqlabError):
        snn.LSTM(I, H, proj_size=1)
    with pytest.raises(ValueError):
        snn.LSTM(I, H, proj_size=1)


# ----------------------------------------------------------------------------- input


@pytest.fixture(params=["lstm", "gru", "rnn"])
def layer(request):
    return {"lstm": snn.LSTM, "gru": snn.GRU, "rnn": snn.RNN}[request.param](I, H, impl="generic")


def test_wrong_rank(layer):
    with pytest.raises(ShapeError, match=r"3-D input \(T, B, I\).*got 4-D \(1, 4, 2, 3\)"):
        layer(torch.randn(1, T, B, I))
    with pytest.raises(ShapeError, match=r"got 1-D"):
        layer(torch.randn(I))


def test_wrong_feature_size(layer):
    with pytest.raises(ShapeError, match=r"input_size=3, got \(4, 2, 7\).*batch_first"):
        layer(torch.randn(T, B, 7))


def test_integer_input(layer):
    with pytest.raises(ShapeError, match=r"floating-point input, got dtype torch.int64.*nn.Embedding"):
        layer(torch.ones(T, B, I, dtype=torch.long))


def test_dtype_mismatch_with_parameters(layer):
    with pytest.raises(
        ShapeError, match=r"torch.float64 does not match the parameters' dtype torch.float32.*module.to"
    ):
        layer(torch.randn(T, B, I, dtype=torch.float64))


def test_not_a_tensor(layer):
    with pytest.raises(ShapeError, match="tensor or a PackedSequence"):
        layer([[0.0] * I])


def test_no_time_steps(layer):
    with pytest.raises(ShapeError, match="no time steps"):
        layer(torch.randn(0, B, I))


# ----------------------------------------------------------------------------- state


def test_state_of_wrong_shape():
    gru = snn.GRU(I, H, num_layers=2, bidirectional=True)
    x = torch.randn(T, B, I)
    with pytest.raises(ShapeError, match=r"h_0 must have shape \(4, 2, 5\).*got \(2, 2, 5\).*torch.zeros"):
        gru(x, torch.zeros(2, B, H))
    with pytest.raises(ShapeError, match=r"h_0 must have shape \(4, 5\)"):
        gru(torch.randn(T, I), torch.zeros(4, B, H))  # unbatched input needs unbatched state
    lstm = snn.LSTM(I, H)
    with pytest.raises(ShapeError, match=r"c_0 must have shape \(1, 2, 5\)"):
        lstm(x, (torch.zeros(1, B, H), torch.zeros(1, B, H + 1)))


def test_state_of_wrong_kind():
    x = torch.randn(T, B, I)
    with pytest.raises(ShapeError, match=r"tuple \(h_0, c_0\)"):
        snn.LSTM(I, H)(x, torch.zeros(1, B, H))
    with pytest.raises(ShapeError, match=r"one tensor h_0"):
        snn.GRU(I, H)(x, (torch.zeros(1, B, H),))


def test_state_of_wrong_dtype():
    with pytest.raises(ShapeError, match=r"h_0 has dtype torch.float64.*h_0.to\(x\)"):
        snn.RNN(I, H)(torch.randn(T, B, I), torch.zeros(1, B, H, dtype=torch.float64))


# ----------------------------------------------------------------------------- lengths


@pytest.mark.parametrize("impl", ["fused", "generic"])
@pytest.mark.parametrize(
    "lengths,match",
    [
        ([4, 0], r"every length must be in 1..4.*min 0"),
        ([5, 2], r"every length must be in 1..4.*max 5"),
        ([-1, 2], r"min -1"),
        ([4, 2, 1], r"lengths must have shape \(2,\)"),
        (torch.tensor([[4, 2]]), r"lengths must have shape \(2,\)"),
        (torch.tensor([4.0, 2.0]), r"lengths must hold integers.*lengths.long\(\)"),
        ([4.5, 2], r"lengths must hold integers"),
        (torch.tensor([True, True]), r"lengths must hold integers"),
        ("44", r"lengths must be a \(B,\) integer tensor"),
    ],
)
def test_bad_lengths(impl, lengths, match):
    lstm = snn.LSTM(I, H, impl=impl)
    with pytest.raises(ShapeError, match=match):
        lstm(torch.randn(T, B, I), lengths=lengths)


def test_lengths_with_packed_or_unbatched_input():
    lstm = snn.LSTM(I, H)
    packed = pack_padded_sequence(torch.randn(T, B, I), torch.tensor([4, 2]))
    with pytest.raises(ShapeError, match="carries its own lengths"):
        lstm(packed, lengths=[4, 2])
    with pytest.raises(ShapeError, match="needs batched 3-D input"):
        lstm(torch.randn(T, I), lengths=[4])


def test_packed_with_wrong_feature_size():
    packed = pack_padded_sequence(torch.randn(T, B, I + 1), torch.tensor([4, 2]))
    with pytest.raises(ShapeError, match=r"PackedSequence data must have shape \(N, 3\)"):
        snn.GRU(I, H)(packed)
