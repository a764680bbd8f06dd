"""RNNLanguageModel: state shapes, state carried across windows, weight tying."""

from __future__ import annotations

import pytest
import torch

from seqlab.errors import ConfigurationError
from seqlab.models import RNNLanguageModel
from seqlab.tasks import build_model, model_config


@pytest.mark.parametrize("rnn_type,cell", [("lstm", "standard"), ("lstm", "coupled"), ("gru", "standard"), ("rnn", "standard")])
def test_shapes_and_state(rnn_type, cell):
    lm = RNNLanguageModel(25, embedding_dim=8, hidden_size=12, num_layers=2, rnn_type=rnn_type, cell=cell).eval()
    ids = torch.randint(0, 25, (3, 9))
    logits, state = lm(ids)
    assert logits.shape == (3, 9, 25)
    states = state if isinstance(state, tuple) else (state,)
    assert len(states) == (2 if rnn_type == "lstm" else 1)
    assert all(s.shape == (2, 3, 12) for s in states)
    # feeding the stream in two windows with the state carried equals one window
    with torch.no_grad():
        first, s1 = lm(ids[:, :4])
        second, _ = lm(ids[:, 4:], s1)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits.detach(), rtol=1e-5, atol=1e-6)


def test_weight_tying_shares_storage():
    lm = RNNLanguageModel(30, embedding_dim=16, hidden_size=16, tie_weights=True)
    assert lm.decoder.weight is lm.embedding.weight
    assert lm.decoder.weight.data_ptr() == lm.embedding.weight.data_ptr()
    n_untied = sum(p.numel() for p in RNNLanguageModel(30, embedding_dim=16, hidden_size=16).parameters())
    assert sum(p.numel() for p in lm.parameters()) == n_untied - 30 * 16
    logits, _ = lm(torch.randint(0, 30, (2, 5)))
    logits.sum().backward()
    assert lm.embedding.weight.grad is not None
    with torch.no_grad():
        lm.embedding.weight[0, 0] = 123.0
    assert lm.decoder.weight[0, 0].item() == 123.0


def test_tying_needs_equal_sizes():
    with pytest.raises(ConfigurationError, match="embedding_dim == hidden_size"):
        RNNLanguageModel(30, embedding_dim=8, hidden_size=16, tie_weights=True)


def test_dropout_only_in_training():
    lm = RNNLanguageModel(20, embedding_dim=8, hidden_size=8, dropout=0.5)
    ids = torch.randint(0, 20, (2, 6))
    lm.eval()
    with torch.no_grad():
        torch.testing.assert_close(lm(ids)[0], lm(ids)[0])
    lm.train()
    with torch.no_grad():
        assert not torch.allclose(lm(ids)[0], lm(ids)[0])


def test_build_model_language_model():
    lm = build_model(model_config(kind="language_model", hidden_size=16, embedding_dim=16, tie_weights=True), 40)
    assert isinstance(lm, RNNLanguageModel) and lm.decoder.weight is lm.embedding.weight
    with pytest.raises(ConfigurationError, match="bidirectional"):
        build_model(model_config(kind="language_model", bidirectional=True), 40)
