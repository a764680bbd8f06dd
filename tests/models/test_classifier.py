"""RecurrentClassifier: padding invariance, pooling against hand computation, errors."""

from __future__ import annotations

import pytest
import torch

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.models import RecurrentClassifier
from seqlab.models.encoders import Pooling
from seqlab.tasks import build_model, model_config


def _batch(lengths: list[int], T: int, vocab: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, vocab, (len(lengths), T), generator=g)
    for b, n in enumerate(lengths):
        ids[b, n:] = 0
    return ids, torch.tensor(lengths)


def _model(**kw) -> RecurrentClassifier:
    kw.setdefault("dropout", 0.0)
    return RecurrentClassifier(40, 3, embedding_dim=8, hidden_size=6, **kw).eval()


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
@pytest.mark.parametrize("rnn_type,cell,bidirectional", [
    ("lstm", "standard", False),
    ("lstm", "standard", True),
    ("gru", "standard", True),
    ("rnn", "standard", False),
    ("lstm", "peephole", True),
])
def test_padding_more_does_not_change_logits(pooling, rnn_type, cell, bidirectional):
    model = _model(pooling=pooling, rnn_type=rnn_type, cell=cell, bidirectional=bidirectional, num_layers=2)
    ids, lengths = _batch([7, 3, 5, 1], T=7)
    padded = torch.cat([ids, torch.zeros(4, 6, dtype=torch.long)], dim=1)  # (B, 13)
    with torch.no_grad():
        a = model(ids, lengths)
        b = model(padded, lengths)
        # each sentence alone, without any padding
        alone = torch.cat([model(ids[i : i + 1, : int(n)], lengths[i : i + 1]) for i, n in enumerate(lengths)])
    assert a.shape == (4, 3)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a, alone, rtol=1e-5, atol=1e-6)


def test_pooling_matches_hand_computation():
    ids, lengths = _batch([5, 2, 4], T=5)
    torch.manual_seed(0)
    last = _model(pooling="last", bidirectional=True)
    with torch.no_grad():
        out, _ = last.encoder.rnn(last.embedding(ids), lengths=lengths)  # (B, T, 2H)
        H = 6
        # forward direction: output at the last valid step; backward: output at step 0
        want_last = torch.stack([torch.cat([out[b, n - 1, :H], out[b, 0, H:]]) for b, n in enumerate(lengths.tolist())])
        want_max = torch.stack([out[b, :n].max(dim=0).values for b, n in enumerate(lengths.tolist())])
        want_mean = torch.stack([out[b, :n].mean(dim=0) for b, n in enumerate(lengths.tolist())])
        for pooling, want in (("last", want_last), ("max", want_max), ("mean", want_mean)):
            last.pooling = Pooling(pooling)
            got = last(ids, lengths)
            torch.testing.assert_close(got, last.output(want))


def test_no_lengths_means_full_length():
    model = _model(pooling="mean")
    ids, _ = _batch([6, 6], T=6)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(ids, torch.tensor([6, 6])))


def test_learns_a_toy_task():
    # label = whether token 3 occurs anywhere in the sentence (needs memory across steps)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 20, (256, 10), generator=g)
    labels = torch.randint(0, 2, (256,), generator=g)
    pos = torch.randint(0, 10, (256,), generator=g)
    ids[labels == 1, pos[labels == 1]] = 3
    model = RecurrentClassifier(20, 2, embedding_dim=16, hidden_size=16, pooling="max", dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(ids), labels)
        loss.backward()
        opt.step()
    acc = (model.eval()(ids).argmax(-1) == labels).float().mean()
    assert acc > 0.95


def test_errors():
    with pytest.raises(ConfigurationError, match="pooling"):
        _model(pooling="attention")
    with pytest.raises(ConfigurationError, match="rnn_type=lstm"):
        _model(rnn_type="gru", cell="peephole")
    with pytest.raises(ShapeError, match=r"\(B, T\)"):
        _model()(torch.zeros(5, dtype=torch.long))


def test_build_model_from_config():
    cfg = model_config(kind="classifier", rnn_type="gru", bidirectional=True, hidden_size=10, embedding_dim=12)
    model = build_model(cfg, vocab_size=30, num_classes=4)
    assert isinstance(model, RecurrentClassifier)
    assert model.output.in_features == 20 and model.output.out_features == 4
    with pytest.raises(ConfigurationError, match="num_classes"):
        build_model(cfg, vocab_size=30)


@pytest.mark.parametrize("rnn_type,cell,gates,forget", [
    ("lstm", "standard", 4, 1), ("lstm", "peephole", 4, 1), ("lstm", "coupled", 3, 0), ("gru", "standard", 3, None),
])
def test_keras_init_matches_keras_defaults(rnn_type, cell, gates, forget):
    torch.manual_seed(0)
    H, E = 6, 8
    model = RecurrentClassifier(40, 3, embedding_dim=E, hidden_size=H, rnn_type=rnn_type, cell=cell,
                                bidirectional=True, num_layers=2, init="keras")
    emb = model.embedding.weight
    assert emb[0].abs().sum() == 0  # the padding row stays zero
    assert emb.abs().max() <= 0.05 and emb[1:].std() > 0.02  # U(-0.05, 0.05)
    names = [name for name, _ in model.encoder.rnn.named_parameters()]
    assert sum(n.startswith(("weight_hh", "weight_ih", "bias_hh", "bias_ih")) for n in names) == 16  # 2 layers × 2 dirs
    for name, p in model.encoder.rnn.named_parameters():
        if name.startswith("weight_hh"):
            torch.testing.assert_close(p.T @ p, torch.eye(H), atol=1e-5, rtol=0)  # orthogonal over all gates
        elif name.startswith("weight_ih"):
            limit = (6.0 / (p.shape[0] + p.shape[1])) ** 0.5  # glorot-uniform, torch fans = Keras fans
            assert p.abs().max() <= limit and p.abs().max() > 0.8 * limit
        elif name.startswith("bias_hh"):
            assert p.abs().sum() == 0
        elif name.startswith("bias_ih"):
            expected = torch.zeros(gates * H)
            if forget is not None:
                expected[forget * H:(forget + 1) * H] = 1.0  # Keras' unit_forget_bias
            torch.testing.assert_close(p.detach(), expected)
    assert model.output.bias.abs().sum() == 0
    limit = (6.0 / sum(model.output.weight.shape)) ** 0.5
    assert model.output.weight.abs().max() <= limit


def test_init_is_checked():
    with pytest.raises(ConfigurationError, match="model.init='glorot'"):
        _model(init="glorot")
    with pytest.raises(ConfigurationError, match="unknown key 'init' in \\[model\\] of model.kind='text_cnn'"):
        model_config(kind="text_cnn", init="keras")
    cfg = model_config(kind="classifier", init="keras", hidden_size=5)
    model = build_model(cfg, vocab_size=30, num_classes=2)
    assert model.encoder.rnn.bias_ih_l0[5:10].tolist() == [1.0] * 5
