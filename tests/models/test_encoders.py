"""RecurrentEncoder and Pooling: hand-computed pooling, torch.nn parity, masks, checkpoint names."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

import seqlab.nn as snn
from seqlab.errors import ConfigurationError, ShapeError
from seqlab.models import RecurrentClassifier
from seqlab.models.encoders import Pooling, RecurrentEncoder


def _ids(lengths, T, vocab=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (len(lengths), T), generator=g)
    for b, n in enumerate(lengths):
        ids[b, n:] = 0
    return ids, torch.tensor(lengths)


def test_encoder_matches_torch_nn_lstm_with_copied_weights_on_each_sequence_alone():
    torch.manual_seed(0)
    embedding = nn.Embedding(30, 6, padding_idx=0)
    encoder = RecurrentEncoder(embedding, snn.LSTM(6, 5, batch_first=True, bidirectional=True)).eval()
    reference = nn.LSTM(6, 5, batch_first=True, bidirectional=True)
    reference.load_state_dict(encoder.rnn.state_dict())
    ids, lengths = _ids([6, 2, 4], T=6)
    outputs, (h_n, c_n), mask = encoder(ids, lengths)
    assert outputs.shape == (3, 6, 10) and encoder.output_size == 10
    assert mask.tolist() == [[True] * 6, [True] * 2 + [False] * 4, [True] * 4 + [False] * 2]
    assert outputs[~mask].abs().sum() == 0  # padded steps are exactly 0
    for b, n in enumerate(lengths.tolist()):
        ref_out, (ref_h, _) = reference(embedding(ids[b : b + 1, :n]))
        torch.testing.assert_close(outputs[b, :n], ref_out[0])
        torch.testing.assert_close(h_n[:, b], ref_h[:, 0])


def test_encoder_without_embedding_reads_feature_frames_and_takes_a_state():
    torch.manual_seed(1)
    encoder = RecurrentEncoder(None, snn.GRU(4, 3, batch_first=True))
    frames = torch.randn(2, 5, 4)
    h0 = torch.randn(1, 2, 3)
    outputs, h_n, mask = encoder(frames, state=h0)
    expected, expected_h = encoder.rnn(frames, h0)
    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close(h_n, expected_h)
    assert mask.all()
    with pytest.raises(ShapeError, match=r"\(B, T, E\) features"):
        encoder(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ConfigurationError, match="batch_first=True"):
        RecurrentEncoder(None, snn.GRU(4, 3))


def test_pooling_golden_by_hand():
    outputs = torch.tensor([[[1.0, -1.0], [3.0, -5.0], [9.0, 9.0]],
                            [[2.0, 4.0], [0.0, 0.0], [0.0, 0.0]]])  # (B=2, T=3, 2)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    h_n = torch.tensor([[[7.0], [8.0]], [[-7.0], [-8.0]]])  # (L·D=2, B=2, H=1): forward, backward
    assert Pooling("max")(outputs, h_n, mask).tolist() == [[3.0, -1.0], [2.0, 4.0]]  # step 2 (9, 9) is padding
    assert Pooling("mean")(outputs, h_n, mask).tolist() == [[2.0, -3.0], [2.0, 4.0]]
    # last: both directions' final states of the top layer, concatenated: D·H = 2
    assert Pooling("last")(outputs, (h_n, torch.zeros_like(h_n)), mask).tolist() == [[7.0, -7.0], [8.0, -8.0]]
    with pytest.raises(ConfigurationError, match="last, max, mean"):
        Pooling("attention")


def test_classifier_from_parts_equals_the_flat_constructor():
    torch.manual_seed(5)
    flat = RecurrentClassifier(30, 3, embedding_dim=6, hidden_size=4, rnn_type="gru", bidirectional=True,
                               pooling="mean", dropout=0.0).eval()
    encoder = RecurrentEncoder(nn.Embedding(30, 6, padding_idx=0),
                               snn.GRU(6, 4, batch_first=True, bidirectional=True))
    parts = RecurrentClassifier.from_parts(encoder, 3, pooling="mean", dropout=0.0).eval()
    parts.load_state_dict(flat.state_dict())
    ids, lengths = _ids([5, 3], T=5)
    torch.testing.assert_close(parts(ids, lengths), flat(ids, lengths), rtol=0, atol=0)
    assert parts.output.in_features == 8


@pytest.mark.parametrize("kwargs, rnn_keys", [
    (dict(rnn_type="lstm"), ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]),
    (dict(rnn_type="gru", bidirectional=True), ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                "weight_ih_l0_reverse", "weight_hh_l0_reverse",
                                                "bias_ih_l0_reverse", "bias_hh_l0_reverse"]),
])
def test_classifier_state_dict_keeps_the_checkpoint_names(kwargs, rnn_keys):
    # the names written before the classifier was assembled from RecurrentEncoder (issue 12)
    model = RecurrentClassifier(20, 2, embedding_dim=4, hidden_size=3, **kwargs)
    state = model.state_dict()
    assert list(state) == ["embedding.weight", *[f"encoder.{k}" for k in rnn_keys], "output.weight", "output.bias"]
    assert [p.shape for p in model.parameters()] == [v.shape for v in state.values()]  # optimizer-state order
    other = RecurrentClassifier(20, 2, embedding_dim=4, hidden_size=3, **kwargs)
    other.load_state_dict({k: v * 2.0 for k, v in state.items()})
    assert torch.equal(other.embedding.weight, model.embedding.weight * 2.0)
    assert torch.equal(other.encoder.rnn.weight_hh_l0, model.encoder.rnn.weight_hh_l0 * 2.0)
    pickle.loads(pickle.dumps(other)).load_state_dict(state)  # the name hooks survive pickling
