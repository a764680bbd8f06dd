"""Attention: every score against numbers worked out by hand (numpy), masking, shapes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.nn.attention import SCORES, Attention, SpatialAttention

# One example, B=1, S=3, H=2, used by several goldens.
Q = np.array([1.0, 2.0])
K = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
V = np.array([[1.0, 10.0, 100.0], [2.0, 20.0, 200.0], [3.0, 30.0, 300.0]])  # Hv = 3


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _t(a: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(a, dtype=dtype)


def _run(attn: Attention, q=Q, k=K, v=V, mask=None):
    ctx, w = attn(_t(q)[None], _t(k)[None], _t(v)[None], mask=mask)
    return ctx[0].detach().numpy(), w[0].detach().numpy()


# ----------------------------------------------------------------------------- goldens


def test_dot_score_hand_example():
    attn = Attention("dot", query_size=2).double()
    ctx, w = _run(attn)
    # q·k = [1, 2, 3] by hand
    expected_w = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(w, expected_w, rtol=1e-12)
    np.testing.assert_allclose(w, [0.09003057, 0.24472847, 0.66524096], atol=1e-8)
    np.testing.assert_allclose(ctx, expected_w @ V, rtol=1e-12)


def test_scaled_dot_score_hand_example():
    attn = Attention("scaled_dot", query_size=2).double()
    _, w = _run(attn)
    # q·k / sqrt(2) = [1, 2, 3] / 1.41421...
    expected = _softmax(np.array([1.0, 2.0, 3.0]) / math.sqrt(2.0))
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    # Differs from plain dot: the scaling matters.
    assert not np.allclose(w, _softmax(np.array([1.0, 2.0, 3.0])))


def test_bilinear_score_hand_example_with_different_sizes():
    # Hq = 2, Hk = 3: q^T W k with an explicit W.
    attn = Attention("general", query_size=2, key_size=3).double()
    W = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    keys = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [2.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    values = np.arange(8.0).reshape(4, 2)
    with torch.no_grad():
        attn.weight.copy_(_t(W))
    ctx, w = _run(attn, k=keys, v=values)
    # q^T W = [1 + 1, 0 + 4, -1 + 0] = [2, 4, -1]; scores = [5, 4, 3, 0]
    np.testing.assert_allclose(Q @ W, [2.0, 4.0, -1.0])
    expected = _softmax(np.array([5.0, 4.0, 3.0, 0.0]))
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    np.testing.assert_allclose(ctx, expected @ values, rtol=1e-12)


def test_mlp_score_matches_the_notes_concatenated_formula():
    # a(q, k) = w2^T tanh(W1 [q; k]) with W1 = [W_q | W_k], A = 2.
    attn = Attention("additive", query_size=2, key_size=2, attention_size=2).double()
    Wq = np.array([[0.5, -1.0], [0.0, 0.25]])
    Wk = np.array([[1.0, 0.0], [-0.5, 2.0]])
    w2 = np.array([1.5, -2.0])
    with torch.no_grad():
        attn.query_projection.weight.copy_(_t(Wq))
        attn.key_projection.weight.copy_(_t(Wk))
        attn.energy.weight.copy_(_t(w2)[None])
    ctx, w = _run(attn)
    W1 = np.concatenate([Wq, Wk], axis=1)  # (A, Hq + Hk)
    scores = np.array([w2 @ np.tanh(W1 @ np.concatenate([Q, k])) for k in K])
    # first key by hand: W1 [1, 2, 1, 0] = [0.5 - 2 + 1, 0.5 - 0.5] = [-0.5, 0]
    np.testing.assert_allclose(scores[0], 1.5 * math.tanh(-0.5), rtol=1e-12)
    np.testing.assert_allclose(w, _softmax(scores), rtol=1e-12)
    np.testing.assert_allclose(ctx, _softmax(scores) @ V, rtol=1e-12)


def test_values_default_to_keys():
    attn = Attention("dot", query_size=2).double()
    ctx, w = attn(_t(Q)[None], _t(K)[None])
    np.testing.assert_allclose(ctx[0].numpy(), w[0].numpy() @ K, rtol=1e-12)


# ----------------------------------------------------------------------------- masking


@pytest.mark.parametrize("score", ["mlp", "bilinear", "dot", "scaled_dot"])
def test_mask_gives_exact_zeros_and_rows_sum_to_one(score):
    attn = Attention(score, query_size=4)
    q, k, v = torch.randn(3, 4), torch.randn(3, 5, 4), torch.randn(3, 5, 6)
    lengths = torch.tensor([5, 2, 1])
    mask = torch.arange(5)[None, :] < lengths[:, None]  # (B, S), True = real key
    ctx, w = attn(q, k, v, mask=mask)
    assert w.shape == (3, 5) and ctx.shape == (3, 6)
    assert torch.all(w[~mask] == 0.0)
    assert torch.all(w[mask] > 0.0)
    torch.testing.assert_close(w.sum(-1), torch.ones(3))
    # Masking must equal dropping the padded keys altogether.
    for b in range(3):
        n = int(lengths[b])
        ctx_b, w_b = attn(q[b : b + 1], k[b : b + 1, :n], v[b : b + 1, :n])
        torch.testing.assert_close(w[b, :n], w_b[0])
        torch.testing.assert_close(ctx[b], ctx_b[0])


def test_padding_values_do_not_leak_into_context():
    attn = Attention("dot", query_size=2)
    q, k, v = torch.randn(1, 2), torch.randn(1, 4, 2), torch.randn(1, 4, 3)
    mask = torch.tensor([[True, True, False, False]])
    k2, v2 = k.clone(), v.clone()
    k2[:, 2:] = 1e3  # garbage keys would dominate the softmax if not masked
    v2[:, 2:] = 1e6
    ctx_a, _ = attn(q, k, v, mask=mask)
    ctx_b, _ = attn(q, k2, v2, mask=mask)
    torch.testing.assert_close(ctx_a, ctx_b)


def test_fully_masked_row_raises_instead_of_nan():
    attn = Attention("dot", query_size=2)
    mask = torch.tensor([[True, False], [False, False]])
    with pytest.raises(ShapeError, match=r"no real key.*\[\[1\]\]"):
        attn(torch.randn(2, 2), torch.randn(2, 2, 2), mask=mask)


def test_per_query_mask_3d_and_its_empty_row_error():
    attn = Attention("scaled_dot", query_size=3)
    q, k = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    causal = torch.tril(torch.ones(4, 4, dtype=torch.bool)).expand(2, 4, 4)
    _, w = attn(q, k, mask=causal)
    assert torch.all(w[~causal] == 0.0)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4))
    torch.testing.assert_close(w[:, 0, 0], torch.ones(2))  # first query sees only key 0
    bad = causal.clone()
    bad[1, 2] = False
    with pytest.raises(ShapeError, match=r"\[\[1, 2\]\]"):
        attn(q, k, mask=bad)


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("score", ["mlp", "bilinear", "dot", "scaled_dot"])
def test_3d_query_equals_one_2d_query_at_a_time(score):
    key_size = 4 if score in ("dot", "scaled_dot") else 5
    attn = Attention(score, query_size=4, key_size=key_size).double()
    q = torch.randn(2, 3, 4, dtype=torch.float64)
    k = torch.randn(2, 6, key_size, dtype=torch.float64)
    v = torch.randn(2, 6, 7, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    ctx, w = attn(q, k, v, mask=mask)
    assert ctx.shape == (2, 3, 7) and w.shape == (2, 3, 6)
    for t in range(3):
        ctx_t, w_t = attn(q[:, t], k, v, mask=mask)
        torch.testing.assert_close(ctx[:, t], ctx_t)
        torch.testing.assert_close(w[:, t], w_t)


@pytest.mark.parametrize("score", ["mlp", "bilinear", "dot", "scaled_dot"])
def test_projected_keys_cache_gives_same_result(score):
    attn = Attention(score, query_size=4, key_size=None if "dot" in score else 6, attention_size=None).double()
    k = torch.randn(2, 5, attn.key_size, dtype=torch.float64)
    cache = attn.project_keys(k)
    for _ in range(2):  # reused across "decoding steps"
        q = torch.randn(2, 4, dtype=torch.float64)
        ctx_a, w_a = attn(q, k)
        ctx_b, w_b = attn(q, k, projected_keys=cache)
        torch.testing.assert_close(ctx_a, ctx_b)
        torch.testing.assert_close(w_a, w_b)


def test_module_is_stateless_between_calls():
    attn = Attention("mlp", query_size=3, key_size=4)
    names_before = sorted(n for n, _ in attn.named_buffers()) + sorted(attn.state_dict())
    q, k = torch.randn(2, 3), torch.randn(2, 5, 4)
    first = attn(q, k)
    attn(torch.randn(7, 3), torch.randn(7, 9, 4))  # a different batch in between
    again = attn(q, k)
    torch.testing.assert_close(first, again)
    assert sorted(n for n, _ in attn.named_buffers()) + sorted(attn.state_dict()) == names_before


def test_spatial_attention_shapes_and_equivalence_to_flat_keys():
    torch.manual_seed(1)
    spatial = SpatialAttention("mlp", query_size=5, channels=3, attention_size=4)
    flat = Attention("mlp", query_size=5, key_size=3, attention_size=4)
    flat.load_state_dict(spatial.state_dict())
    fmap = torch.randn(2, 3, 4, 6)  # (B, C, H, W)
    q = torch.randn(2, 5)
    ctx, w = spatial(q, fmap)
    assert ctx.shape == (2, 3) and w.shape == (2, 4, 6)
    keys = fmap.permute(0, 2, 3, 1).reshape(2, 24, 3)  # row-major positions (h, w)
    ctx_f, w_f = flat(q, keys)
    torch.testing.assert_close(ctx, ctx_f)
    torch.testing.assert_close(w, w_f.view(2, 4, 6))
    # Weight at (h, w) belongs to feature vector fmap[:, :, h, w].
    torch.testing.assert_close(ctx, torch.einsum("bhw,bchw->bc", w, fmap))
    # 3-D query, mask, and the projected-keys cache.
    q3 = torch.randn(2, 2, 5)
    mask = torch.ones(2, 4, 6, dtype=torch.bool)
    mask[1, :, 3:] = False
    ctx3, w3 = spatial(q3, fmap, mask=mask, projected_keys=spatial.project_keys(fmap))
    assert ctx3.shape == (2, 2, 3) and w3.shape == (2, 2, 4, 6)
    assert torch.all(w3[1, :, :, 3:] == 0.0)
    torch.testing.assert_close(w3.sum((-1, -2)), torch.ones(2, 2))


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("score", ["mlp", "bilinear", "dot", "scaled_dot"])
def test_gradcheck_float64(score):
    key_size = 3 if score in ("dot", "scaled_dot") else 4
    attn = Attention(score, query_size=3, key_size=key_size, attention_size=2 if score == "mlp" else None).double()
    q = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 4, key_size, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    params = tuple(attn.parameters())

    def f(q, k, v, *ps):
        return attn(q, k, v, mask=mask)

    assert torch.autograd.gradcheck(f, (q, k, v, *params))
    # Every parameter receives a gradient.
    ctx, w = attn(q, k, v, mask=mask)
    (ctx.sum() + (w * torch.arange(4.0, dtype=torch.float64)).sum()).backward()
    for p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- errors


def test_unknown_score_lists_valid_names():
    with pytest.raises(ConfigurationError) as err:
        Attention("cosine", query_size=2)
    for name in SCORES:
        assert name in str(err.value)


def test_dot_scores_need_equal_sizes():
    for score in ("dot", "scaled_dot"):
        with pytest.raises(ConfigurationError, match="query_size == key_size"):
            Attention(score, query_size=2, key_size=3)


def test_bad_constructor_arguments():
    with pytest.raises(ConfigurationError, match="only used by score='mlp'"):
        Attention("dot", query_size=2, attention_size=8)
    with pytest.raises(ConfigurationError, match="query_size must be a positive int"):
        Attention("mlp", query_size=0)
    with pytest.raises(ConfigurationError, match="key_size must be a positive int"):
        Attention("bilinear", query_size=2, key_size=-1)
    with pytest.raises(ConfigurationError, match="attention_size must be a positive int"):
        Attention("mlp", query_size=2, attention_size=0)


@pytest.mark.parametrize(
    "query, keys, values, mask, pattern",
    [
        (torch.randn(2), torch.randn(2, 3, 4), None, None, r"query has shape \(2\); expected \(B, Hq\)"),
        (torch.randn(2, 5), torch.randn(2, 3, 4), None, None, r"query has shape \(2, 5\).*Hq=4"),
        (torch.randn(2, 4), torch.randn(2, 3), None, None, r"keys has shape \(2, 3\); expected \(B, S, Hk\)"),
        (torch.randn(2, 4), torch.randn(2, 3, 5), None, None, r"keys has shape \(2, 3, 5\).*Hk=4"),
        (torch.randn(2, 4), torch.randn(2, 0, 4), None, None, r"at least one key"),
        (torch.randn(3, 4), torch.randn(2, 3, 4), None, None, r"query has batch size 3"),
        (torch.randn(2, 4), torch.randn(2, 3, 4), torch.randn(2, 2, 6), None, r"values has shape \(2, 2, 6\)"),
        (torch.ones(2, 4, dtype=torch.long), torch.randn(2, 3, 4), None, None, r"query has dtype torch.int64"),
        (torch.randn(2, 4), torch.randn(2, 3, 4).double(), None, None, r"keys has dtype torch.float64"),
        (torch.randn(2, 4).double(), torch.randn(2, 3, 4), None, None, r"query has dtype torch.float64"),
        (torch.randn(2, 4), torch.randn(2, 3, 4), torch.randn(2, 3, 2).double(), None, r"values has dtype"),
        (torch.randn(2, 4), torch.randn(2, 3, 4), None, torch.ones(2, 3), r"mask has dtype torch.float32"),
        (torch.randn(2, 4), torch.randn(2, 3, 4), None, torch.ones(2, 4, dtype=torch.bool), r"mask has shape \(2, 4\)"),
        (torch.randn(2, 4), torch.randn(2, 3, 4), None, torch.ones(2, 1, 3, dtype=torch.bool), r"mask has shape"),
    ],
)
def test_shape_and_dtype_errors_name_the_argument(query, keys, values, mask, pattern):
    attn = Attention("bilinear", query_size=4)
    with pytest.raises(ShapeError, match=pattern):
        attn(query, keys, values, mask=mask)


def test_projected_keys_shape_error():
    attn = Attention("mlp", query_size=4, attention_size=6)
    k = torch.randn(2, 3, 4)
    with pytest.raises(ShapeError, match=r"projected_keys has shape \(2, 3, 4\); expected \(2, 3, 6\)"):
        attn(torch.randn(2, 4), k, projected_keys=k)


def test_spatial_errors():
    spatial = SpatialAttention("dot", query_size=3, channels=3)
    with pytest.raises(ShapeError, match=r"feature_map has shape \(2, 4, 5, 5\).*C=3"):
        spatial(torch.randn(2, 3), torch.randn(2, 4, 5, 5))
    with pytest.raises(ShapeError, match=r"feature_map has shape \(2, 3, 25\)"):
        spatial(torch.randn(2, 3), torch.randn(2, 3, 25))
    with pytest.raises(ShapeError, match=r"mask has shape \(2, 25\); expected \(B, H, W\)"):
        spatial(torch.randn(2, 3), torch.randn(2, 3, 5, 5), mask=torch.ones(2, 25, dtype=torch.bool))
