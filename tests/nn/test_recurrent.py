"""seqlab.nn.RNN / LSTM / GRU against torch.nn with copied weights.

Parity for every constructor combination (outputs, final states, gradients of the input,
the initial state and every parameter), state_dict round trips in both directions,
torch's initialisation, unbatched input, dropout between layers, recurrent dropout,
and which path ran. float64 keeps the gradient comparisons tight.
"""

from __future__ import annotations

import itertools
import logging

import pytest
import torch
from torch import nn

import seqlab.nn as snn
from seqlab.nn import cells

T, B, I, H = 5, 3, 4, 5
DT = torch.float64

# name -> (seqlab constructor, torch constructor); RNN kinds pin the nonlinearity.
KINDS = {
    "rnn_tanh": (
        lambda *a, **k: snn.RNN(*a, nonlinearity="tanh", **k),
        lambda *a, **k: nn.RNN(*a, nonlinearity="tanh", **k),
    ),
    "rnn_relu": (
        lambda *a, **k: snn.RNN(*a, nonlinearity="relu", **k),
        lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
    ),
    "lstm": (snn.LSTM, nn.LSTM),
    "gru": (snn.GRU, nn.GRU),
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Hundreds of tiny modules: a second intra-op thread only adds spin-waiting on a
    # shared 2-core machine (measured: 4x the CPU time). Restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_pair(kind, *, impl="auto", dtype=DT, **options):
    """A torch.nn module and a seqlab module holding the same weights."""
    ours_cls, torch_cls = KINDS[kind]
    reference = torch_cls(I, H, dtype=dtype, **options)
    ours = ours_cls(I, H, dtype=dtype, impl=impl, **options)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


def initial_state(kind, num_layers, bidirectional, batch=B):
    LD = num_layers * (2 if bidirectional else 1)
    h0 = torch.randn(LD, batch, H, dtype=DT, requires_grad=True)
    if kind == "lstm":
        return (h0, torch.randn(LD, batch, H, dtype=DT, requires_grad=True))
    return h0


def flat_state(state):
    return list(state) if isinstance(state, tuple) else [state]


def run_and_grad(module, x, hx, probes):
    """Forward, a random linear loss on output and every final state, backward; returns all results."""
    out, state = module(x) if hx is None else module(x, hx)
    loss = (out * probes[0]).sum() + sum((s * p).sum() for s, p in zip(flat_state(state), probes[1:]))
    inputs = [x] + (flat_state(hx) if hx is not None else []) + list(module.parameters())
    grads = torch.autograd.grad(loss, inputs)
    return out, flat_state(state), grads


def assert_close_all(a, b, atol=1e-10):
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, atol=atol, rtol=1e-8)


def check_parity(kind, impl, num_layers, bidirectional, batch_first, bias, with_state):
    ours, ref = make_pair(
        kind, impl=impl, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias
    )
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape, dtype=DT, requires_grad=True)
    hx = initial_state(kind, num_layers, bidirectional) if with_state else None
    D = 2 if bidirectional else 1
    out_shape = (B, T, D * H) if batch_first else (T, B, D * H)
    probes = [torch.randn(out_shape, dtype=DT)] + [
        torch.randn(num_layers * D, B, H, dtype=DT) for _ in range(2 if kind == "lstm" else 1)
    ]
    got = run_and_grad(ours, x, hx, probes)
    want = run_and_grad(ref, x, hx, probes)
    assert got[0].shape == out_shape
    assert_close_all([got[0]], [want[0]])
    assert_close_all(got[1], want[1])
    assert_close_all(got[2], want[2])
    return ours


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["fused", "generic"])
@pytest.mark.parametrize(
    "num_layers,bidirectional,batch_first,bias,with_state",
    list(itertools.product([1, 2], [False, True], [False, True], [True, False], [False, True])),
)
def test_parity_with_torch(kind, impl, num_layers, bidirectional, batch_first, bias, with_state):
    ours = check_parity(kind, impl, num_layers, bidirectional, batch_first, bias, with_state)
    assert ours.last_impl == "fused" if impl == "fused" else ours.last_impl.startswith("generic:")


@pytest.mark.parametrize(
    "kind,expected", [("lstm", "fused"), ("gru", "generic"), ("rnn_tanh", "generic"), ("rnn_relu", "generic")]
)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_auto_parity_and_dispatch_on_cpu(kind, expected, bidirectional):
    # auto: torch's fused oneDNN LSTM on CPU; the generic path for GRU/RNN, whose CPU
    # versions in torch are not fused kernels.
    ours = check_parity(kind, "auto", 2, bidirectional, True, True, True)
    assert ours.last_impl.split(":")[0] == expected


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_parity_reference_path(kind, bidirectional):
    ours = check_parity(kind, "reference", 2, bidirectional, True, True, True)
    assert ours.last_impl == "reference"


@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_matches_torch_bitwise(kind):
    ours, ref = make_pair(kind, impl="fused", num_layers=2, bidirectional=True, dtype=torch.float32)
    x = torch.randn(T, B, I)
    assert torch.equal(ours(x)[0], ref(x)[0])
    assert ours.last_impl == "fused"


@pytest.mark.parametrize("kind", list(KINDS))
def test_float32_generic_matches_torch(kind):
    ours, ref = make_pair(kind, impl="generic", num_layers=2, bidirectional=True, dtype=torch.float32)
    x = torch.randn(T, B, I)
    out, state = ours(x)
    out_ref, state_ref = ref(x)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    assert_close_all(flat_state(state), flat_state(state_ref), atol=1e-5)


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_names_order_and_init_match_torch(kind, bias):
    ours_cls, torch_cls = KINDS[kind]
    torch.manual_seed(7)
    ref = torch_cls(I, H, num_layers=2, bidirectional=True, bias=bias)
    torch.manual_seed(7)
    ours = ours_cls(I, H, num_layers=2, bidirectional=True, bias=bias)
    ours_named, ref_named = list(ours.named_parameters()), list(ref.named_parameters())
    assert [n for n, _ in ours_named] == [n for n, _ in ref_named]
    # Same seed, same order, same U(-1/sqrt(H), 1/sqrt(H)): identical values.
    for (_, p), (_, q) in zip(ours_named, ref_named):
        assert p.shape == q.shape and torch.equal(p, q)
    bound = 1 / H**0.5
    assert all(p.abs().max() <= bound for p in ours.parameters())
    assert [[n for n in group] for group in ours._all_weights] == ref._all_weights
    assert [[p.shape for p in g] for g in ours.all_weights] == [[p.shape for p in g] for g in ref.all_weights]


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_round_trip_both_directions(kind):
    ours_cls, torch_cls = KINDS[kind]
    options = dict(num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(B, T, I)
    # torch -> seqlab
    ref = torch_cls(I, H, **options)
    ours = ours_cls(I, H, **options, impl="generic")
    ours.load_state_dict(ref.state_dict())
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)
    # seqlab -> torch (fresh modules, so the weights really move)
    ours2 = ours_cls(I, H, **options)
    ref2 = torch_cls(I, H, **options)
    assert not torch.equal(ours2(x)[0], ref2(x)[0])
    result = ref2.load_state_dict(ours2.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(ref2(x)[0], ours2(x)[0], atol=1e-6, rtol=1e-6)
    assert set(ours2.state_dict()) == set(ref2.state_dict())


def test_dtype_and_device_arguments():
    lstm = snn.LSTM(I, H, dtype=torch.float64, device="cpu")
    assert all(p.dtype == torch.float64 and p.device.type == "cpu" for p in lstm.parameters())
    out, (h, c) = lstm(torch.randn(T, B, I, dtype=torch.float64))
    assert out.dtype == h.dtype == c.dtype == torch.float64


def test_to_dtype_after_construction_keeps_working():
    gru = snn.GRU(I, H, impl="generic").double()
    out, h = gru(torch.randn(T, B, I, dtype=torch.float64))
    assert out.dtype == torch.float64 and h.shape == (1, B, H)


@pytest.mark.parametrize(
    "options",
    [dict(), dict(num_layers=2, dropout=0.5), dict(bias=False, batch_first=True, bidirectional=True)],
)
def test_extra_repr_matches_torch(options):
    assert repr(snn.LSTM(I, H, **options)) == repr(nn.LSTM(I, H, **options))
    assert repr(snn.GRU(I, H, **options)) == repr(nn.GRU(I, H, **options))
    assert "cell='peephole'" in repr(snn.LSTM(I, H, cell="peephole"))
    assert "nonlinearity='relu'" in repr(snn.RNN(I, H, nonlinearity="relu"))


def test_torch_attributes_and_flatten_parameters():
    lstm = snn.LSTM(I, H, num_layers=2)
    ref = nn.LSTM(I, H, num_layers=2)
    for attr in (
        "mode",
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "proj_size",
    ):
        assert getattr(lstm, attr) == getattr(ref, attr), attr
    x = torch.randn(T, B, I)
    before = lstm(x)[0]
    assert lstm.flatten_parameters() is None
    assert torch.equal(lstm(x)[0], before)
    assert snn.RNN(I, H, nonlinearity="relu").mode == "RNN_RELU"
    assert snn.GRU(I, H).mode == "GRU"


def test_positional_arguments_follow_torch_order():
    rnn = snn.RNN(I, H, 2, "relu", False, True)  # num_layers, nonlinearity, bias, batch_first
    assert (rnn.num_layers, rnn.nonlinearity, rnn.bias, rnn.batch_first) == (2, "relu", False, True)
    lstm = snn.LSTM(I, H, 2, False, True, 0.0, True)
    assert (lstm.num_layers, lstm.bias, lstm.batch_first, lstm.bidirectional) == (2, False, True, True)


# ----------------------------------------------------------------------------- unbatched


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["fused", "generic"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input_matches_torch(kind, impl, batch_first):
    ours, ref = make_pair(kind, impl=impl, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(T, I, dtype=DT)
    hx = initial_state(kind, 2, True, batch=1)
    hx = tuple(s[:, 0].detach() for s in hx) if kind == "lstm" else hx[:, 0].detach()
    for args in [(x,), (x, hx)]:
        out, state = ours(*args)
        out_ref, state_ref = ref(*args)
        assert out.shape == (T, 2 * H)
        assert_close_all([out], [out_ref])
        assert_close_all(flat_state(state), flat_state(state_ref))
        assert flat_state(state)[0].shape == (4, H)


# ----------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_dropout_between_layers_only_in_training(kind):
    ours, _ = make_pair(kind, impl="generic", num_layers=2, dropout=0.5, dtype=torch.float32)
    plain, _ = make_pair(kind, impl="generic", num_layers=2, dtype=torch.float32)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    ours.eval()
    torch.testing.assert_close(ours(x)[0], plain(x)[0])
    ours.train()
    torch.manual_seed(3)
    first = ours(x)[0]
    torch.manual_seed(3)
    again = ours(x)[0]
    assert torch.equal(first, again), "dropout must be deterministic for a fixed seed"
    assert not torch.allclose(first, plain(x)[0], atol=1e-4), "dropout had no effect in training"


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_masks_match_torch_for_a_seed_on_cpu(kind):
    # The generic path calls the same dropout op on the same shape as torch's kernel,
    # so for one seed even the training-mode outputs agree with torch.nn.
    ours, ref = make_pair(kind, impl="generic", num_layers=3, bidirectional=True, dropout=0.4)
    ours.train(), ref.train()
    x = torch.randn(T, B, I, dtype=DT)
    torch.manual_seed(11)
    out = ours(x)[0]
    torch.manual_seed(11)
    out_ref = ref(x)[0]
    torch.testing.assert_close(out, out_ref, atol=1e-10, rtol=1e-8)


def test_dropout_not_applied_after_last_layer():
    ours, _ = make_pair("lstm", impl="generic", num_layers=1, dtype=torch.float32)
    with pytest.warns(UserWarning, match="num_layers=1"):
        dropped = snn.LSTM(I, H, dropout=0.9, impl="generic")
    dropped.load_state_dict(ours.state_dict())
    dropped.train()
    x = torch.randn(T, B, I)
    torch.testing.assert_close(dropped(x)[0], ours(x)[0])


def _masked_reference_loop(module, x, mask):
    """One-layer LSTM with the recurrent mask applied by hand through the public step function."""
    h = c = x.new_zeros(x.shape[1], H)
    outs = []
    for x_t in x.unbind(0):
        h, c = cells.lstm_step(
            x_t, h, c, module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0,
            recurrent_mask=mask,
        )  # fmt: skip
        outs.append(h)
    return torch.stack(outs), h, c


def test_recurrent_dropout_uses_one_mask_per_sequence():
    lstm = snn.LSTM(I, H, recurrent_dropout=0.5, dtype=DT)
    x = torch.randn(T, B, I, dtype=DT)
    lstm.train()
    torch.manual_seed(5)
    out, (h, c) = lstm(x)
    assert lstm.last_impl.startswith("generic:"), "auto must leave the fused kernel when recurrent dropout is on"
    torch.manual_seed(5)
    mask = torch.empty(B, H, dtype=DT).bernoulli_(0.5).div_(0.5)
    want_out, want_h, want_c = _masked_reference_loop(lstm, x, mask)
    assert_close_all([out, h[0], c[0]], [want_out, want_h, want_c])
    # Not a no-op: the unmasked run differs.
    lstm.eval()
    out_eval, _ = lstm(x)
    assert lstm.last_impl == "fused"
    assert not torch.allclose(out, out_eval)
    assert_close_all([out_eval], [_masked_reference_loop(lstm, x, None)[0]])


@pytest.mark.parametrize("kind", list(KINDS))
def test_recurrent_dropout_trains_every_family(kind):
    ours_cls, _ = KINDS[kind]
    layer = ours_cls(I, H, num_layers=2, bidirectional=True, recurrent_dropout=0.3)
    layer.train()
    out, state = layer(torch.randn(T, B, I), lengths=[5, 3, 1])
    out.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    assert (out[3:, 2] == 0).all()


# ----------------------------------------------------------------------------- which path ran


def test_last_impl_and_debug_log(caplog):
    x = torch.randn(T, B, I)
    with caplog.at_level(logging.DEBUG, logger="seqlab.nn.recurrent"):
        lstm = snn.LSTM(I, H)
        lstm(x)
        assert lstm.last_impl == "fused"
        peephole = snn.LSTM(I, H, cell="peephole")
        peephole(x)
        assert peephole.last_impl.startswith("generic:")
        assert peephole.last_impl.split(":")[1] in ("native", "aten", "reference")
        reference = snn.GRU(I, H, impl="reference")
        reference(x)
        assert reference.last_impl == "reference"
    messages = [r.getMessage() for r in caplog.records if r.name == "seqlab.nn.recurrent"]
    assert any("fused" in m for m in messages)
    assert any("peephole" in m and "generic" in m for m in messages)
    assert any("reference" in m for m in messages)


def test_gradcheck_through_wrapper_with_lengths_and_both_directions():
    # The wrapper's own gathers (reverse within length, final-state pick) under gradcheck.
    gru = snn.GRU(2, 2, num_layers=2, bidirectional=True, impl="generic", dtype=DT)
    x = torch.randn(4, 3, 2, dtype=DT, requires_grad=True)
    h0 = torch.randn(4, 3, 2, dtype=DT, requires_grad=True)
    lengths = torch.tensor([4, 2, 1])

    def f(x, h0):
        out, h = gru(x, h0, lengths=lengths)
        return out, h

    assert torch.autograd.gradcheck(f, (x, h0))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["fused", "generic"])
def test_non_contiguous_input_and_state(kind, impl):
    ours, ref = make_pair(kind, impl=impl, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(T, B, I, dtype=DT).transpose(0, 1)  # (B, T, I), not contiguous
    h = torch.randn(B, 4, H, dtype=DT).transpose(0, 1)  # (4, B, H), not contiguous
    hx = (h, torch.randn(4, H, B, dtype=DT).transpose(1, 2)) if kind == "lstm" else h
    assert not x.is_contiguous() and not h.is_contiguous()
    out, state = ours(x, hx, lengths=[5, 2, 4])
    out_ref, state_ref = ours(
        x.contiguous(), tuple(s.contiguous() for s in hx) if kind == "lstm" else h.contiguous(), lengths=[5, 2, 4]
    )
    assert_close_all([out, *flat_state(state)], [out_ref, *flat_state(state_ref)])
    out, state = ours(x, hx)
    assert_close_all([out, *flat_state(state)], [ref(x, hx)[0], *flat_state(ref(x, hx)[1])])
