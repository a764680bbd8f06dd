"""TokenEmbedding: Kim (2014) §3.1's four modes against hand-built nn.Embedding tables."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.nn.embedding import EMBEDDING_MODES, TokenEmbedding


def _vectors(V: int = 6, E: int = 3) -> torch.Tensor:
    return torch.arange(V * E, dtype=torch.float32).reshape(V, E) + 1.0  # no zero entries


def test_rand_mode_draws_kims_uniform_in_the_same_rng_order_as_before():
    # The code TextCNN ran before the component existed: nn.Embedding, then U[-0.25, 0.25], then pad row 0.
    torch.manual_seed(4)
    before = nn.Embedding(20, 5, padding_idx=0)
    nn.init.uniform_(before.weight, -0.25, 0.25)
    with torch.no_grad():
        before.weight[0].zero_()
    torch.manual_seed(4)
    emb = TokenEmbedding(20, 5)
    assert torch.equal(emb.weight, before.weight)
    assert emb.weight.abs().max() <= 0.25 and emb.weight[0].abs().sum() == 0 and emb.weight.requires_grad


def test_lookup_golden_and_padding_row():
    emb = TokenEmbedding(6, 3, mode="non-static", pretrained=_vectors())
    out = emb(torch.tensor([[2, 0, 5]]))
    assert out.shape == (1, 3, 3)
    assert out[0].tolist() == [[7.0, 8.0, 9.0], [0.0, 0.0, 0.0], [16.0, 17.0, 18.0]]  # row 0 (padding) zeroed


def test_static_is_fixed_and_non_static_is_trained():
    ids = torch.tensor([[1, 2, 0]])
    static = TokenEmbedding(6, 3, mode="static", pretrained=_vectors())
    assert not static.weight.requires_grad
    assert torch.equal(static.weight[1:], _vectors()[1:])
    nonstatic = TokenEmbedding(6, 3, mode="non-static", pretrained=_vectors())
    nonstatic(ids).sum().backward()
    grad = nonstatic.weight.grad
    assert grad[1].tolist() == [1.0, 1.0, 1.0] and grad[2].tolist() == [1.0, 1.0, 1.0]
    assert grad[0].abs().sum() == 0 and grad[3:].abs().sum() == 0  # padding row never trained


def test_multichannel_concatenates_a_trained_and_a_fixed_copy():
    emb = TokenEmbedding(6, 3, mode="multichannel", pretrained=_vectors())
    assert emb.channels == 2 and emb.output_size == 6
    ids = torch.tensor([[3, 1]])
    out = emb(ids)  # (1, 2, 6): [fine-tuned; fixed]
    assert out[0, 0].tolist() == [10.0, 11.0, 12.0, 10.0, 11.0, 12.0]
    opt = torch.optim.SGD([p for p in emb.parameters() if p.requires_grad], lr=1.0)
    emb(ids).sum().backward()
    opt.step()
    out = emb(ids)
    assert out[0, 0].tolist() == [9.0, 10.0, 11.0, 10.0, 11.0, 12.0]  # first channel moved by -1, second fixed
    assert emb.static.weight.grad is None


def test_is_an_nn_embedding_so_lazy_rows_and_unk_zeroing_see_it():
    emb = TokenEmbedding(6, 3, mode="multichannel", pretrained=_vectors())
    assert isinstance(emb, nn.Embedding)
    assert [type(m) for m in emb.modules()] == [TokenEmbedding, nn.Embedding]
    assert list(emb.state_dict()) == ["weight", "static.weight"]


def test_from_pretrained():
    emb = TokenEmbedding.from_pretrained(_vectors(), mode="static", padding_idx=None)
    assert torch.equal(emb.weight, _vectors()) and emb.mode == "static" and emb.embedding_dim == 3


def test_errors_say_what_to_do():
    assert EMBEDDING_MODES == ("rand", "static", "non-static", "multichannel")
    with pytest.raises(ConfigurationError, match="valid modes: rand, static, non-static, multichannel"):
        TokenEmbedding(6, 3, mode="dynamic")
    with pytest.raises(ConfigurationError, match="load_vectors"):
        TokenEmbedding(6, 3, mode="non-static")
    with pytest.raises(ShapeError, match=r"\(5, 3\).*\(6, 3\)"):
        TokenEmbedding(6, 3, mode="static", pretrained=torch.zeros(5, 3))
