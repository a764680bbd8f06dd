"""Padded batches (``lengths=``) and PackedSequence input for seqlab.nn.RNN / LSTM / GRU.

The oracles: running each sequence alone without padding, and torch.nn on the packed
batch (pack_padded_sequence with enforce_sorted=False), gradients included.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqlab.nn as snn

T, B, I, H = 6, 4, 3, 4
DT = torch.float64
LENGTHS = [4, 6, 1, 3]  # unsorted, with a full-length and a length-1 sequence

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
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only spins on a shared machine
    yield
    torch.set_num_threads(threads)


def make_pair(kind, impl="auto", **options):
    ours_cls, torch_cls = KINDS[kind]
    ref = torch_cls(I, H, dtype=DT, **options)
    ours = ours_cls(I, H, dtype=DT, impl=impl, **options)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def states(state):
    return list(state) if isinstance(state, tuple) else [state]


def random_state(kind, LD, batch=B, requires_grad=False):
    n = 2 if kind == "lstm" else 1
    s = [torch.randn(LD, batch, H, dtype=DT, requires_grad=requires_grad) for _ in range(n)]
    return tuple(s) if kind == "lstm" else s[0]


def select_batch(state, b):
    if isinstance(state, tuple):
        return tuple(s[:, b : b + 1] for s in state)
    return state[:, b : b + 1]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["fused", "generic"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_final_state_equals_running_each_sequence_alone(kind, impl, batch_first):
    ours, _ = make_pair(kind, impl, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(T, B, I, dtype=DT)
    hx = random_state(kind, 4)
    x_in = x.transpose(0, 1) if batch_first else x
    out, state = ours(x_in, hx, lengths=torch.tensor(LENGTHS))
    out = out.transpose(0, 1) if batch_first else out  # (T, B, 2H)
    for b, n in enumerate(LENGTHS):
        alone_x = x[:n, b : b + 1]
        alone_x = alone_x.transpose(0, 1) if batch_first else alone_x
        alone_out, alone_state = ours(alone_x, select_batch(hx, b))
        alone_out = alone_out.transpose(0, 1) if batch_first else alone_out
        torch.testing.assert_close(out[:n, b : b + 1], alone_out, atol=1e-12, rtol=1e-10)
        for s, a in zip(states(state), states(alone_state)):
            torch.testing.assert_close(s[:, b : b + 1], a, atol=1e-12, rtol=1e-10)
        assert (out[n:, b] == 0).all(), "outputs at padded steps must be exactly zero"


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["fused", "generic"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_lengths_match_torch_on_packed_batch_with_gradients(kind, impl, batch_first, with_state):
    compare_with_torch_packed(kind, impl, batch_first, with_state, LENGTHS)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["fused", "generic"])
@pytest.mark.parametrize("lengths", [[3, 2, 3, 1], [2, 2, 2, 2]], ids=["longest-below-T", "all-equal-below-T"])
def test_lengths_shorter_than_the_padded_length(kind, impl, lengths):
    # Steps after the longest sequence are skipped, and an all-equal batch runs unpadded.
    compare_with_torch_packed(kind, impl, True, True, lengths)


def compare_with_torch_packed(kind, impl, batch_first, with_state, lengths):
    ours, ref = make_pair(kind, impl, num_layers=2, bidirectional=True, batch_first=batch_first)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape, dtype=DT, requires_grad=True)
    hx = random_state(kind, 4, requires_grad=True) if with_state else None
    lengths = torch.tensor(lengths)

    out, state = ours(x, hx, lengths=lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out_p, state_ref = ref(packed, hx)
    out_ref, _ = pad_packed_sequence(out_p, batch_first=batch_first, total_length=T)

    torch.testing.assert_close(out, out_ref, atol=1e-12, rtol=1e-10)
    for s, r in zip(states(state), states(state_ref)):
        torch.testing.assert_close(s, r, atol=1e-12, rtol=1e-10)

    probe = torch.randn_like(out)
    probes = [torch.randn_like(s) for s in states(state)]
    inputs = [x] + (states(hx) if with_state else [])
    grads = torch.autograd.grad(
        (out * probe).sum() + sum((s * p).sum() for s, p in zip(states(state), probes)),
        inputs + list(ours.parameters()),
    )
    grads_ref = torch.autograd.grad(
        (out_ref * probe).sum() + sum((s * p).sum() for s, p in zip(states(state_ref), probes)),
        inputs + list(ref.parameters()),
    )
    for g, r in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, r, atol=1e-10, rtol=1e-8)
    assert ours.last_impl == "fused" if impl == "fused" else ours.last_impl.startswith("generic:")
    assert out.shape == x.shape[:2] + (2 * H,)


@pytest.mark.parametrize("impl", ["fused", "generic"])
def test_bidirectional_reverse_starts_at_last_valid_step(impl):
    lstm, _ = make_pair("lstm", impl, bidirectional=True)
    x = torch.randn(T, B, I, dtype=DT)
    out, (h, _) = lstm(x, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS):
        # forward direction ends at step n-1; reverse direction ends at step 0 after starting at n-1
        torch.testing.assert_close(h[0, b], out[n - 1, b, :H])
        torch.testing.assert_close(h[1, b], out[0, b, H:])
    # ... and its first step (at n-1) saw only x[n-1]: equal to a one-step reverse run from zeros.
    b, n = 0, LENGTHS[0]
    one_step, _ = lstm(x[n - 1 : n, b : b + 1])
    torch.testing.assert_close(out[n - 1, b, H:], one_step[0, 0, H:])


@pytest.mark.parametrize("impl", ["fused", "generic"])
def test_padding_values_never_matter(impl):
    gru, _ = make_pair("gru", impl, num_layers=2, bidirectional=True)
    lengths = torch.tensor(LENGTHS)
    valid = torch.arange(T)[:, None] < lengths[None, :]  # (T, B)
    clean = torch.randn(T, B, I, dtype=DT)
    noisy = torch.where(valid[..., None], clean, torch.full_like(clean, 5e2))
    clean = clean.masked_fill(~valid[..., None], 0.0).requires_grad_()
    noisy.requires_grad_()
    out_c, h_c = gru(clean, lengths=lengths)
    out_n, h_n = gru(noisy, lengths=lengths)
    torch.testing.assert_close(out_c, out_n, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_c, h_n, atol=1e-12, rtol=0)
    (grad,) = torch.autograd.grad(out_n.sum() + h_n.sum(), noisy)
    assert (grad[~valid] == 0).all(), "padded inputs must get zero gradient"


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("impl", ["fused", "generic"])
def test_nan_padding_cannot_poison_gradients(kind, impl):
    ours, _ = make_pair(kind, impl, num_layers=2, bidirectional=True)
    lengths = torch.tensor(LENGTHS)
    valid = torch.arange(T)[:, None] < lengths[None, :]  # (T, B)
    x = torch.randn(T, B, I, dtype=DT).masked_fill(~valid[..., None], float("nan")).requires_grad_()
    out, state = ours(x, lengths=lengths)
    loss = out.sum() + sum(s.sum() for s in states(state))
    grads = torch.autograd.grad(loss, [x, *ours.parameters()])
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)
    assert (grads[0][~valid] == 0).all()


@pytest.mark.parametrize("impl", ["fused", "generic"])
def test_lengths_forms_and_full_lengths(impl):
    lstm, ref = make_pair("lstm", impl, bidirectional=True)
    x = torch.randn(T, B, I, dtype=DT)
    want = lstm(x, lengths=torch.tensor(LENGTHS))[0]
    for form in (LENGTHS, tuple(LENGTHS), torch.tensor(LENGTHS, dtype=torch.int32), torch.tensor(LENGTHS).numpy()):
        torch.testing.assert_close(lstm(x, lengths=form)[0], want, atol=0, rtol=0)
    full = lstm(x, lengths=[T] * B)
    plain = ref(x)
    torch.testing.assert_close(full[0], plain[0], atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(full[1][0], plain[1][0], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["fused", "generic"])
@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_packed_sequence_in_and_out_matches_torch(kind, impl, enforce_sorted, with_state):
    ours, ref = make_pair(kind, impl, num_layers=2, bidirectional=True)
    lengths = torch.tensor(sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS)
    x = torch.randn(T, B, I, dtype=DT, requires_grad=True)
    hx = random_state(kind, 4, requires_grad=True) if with_state else None
    packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)

    out, state = ours(packed, hx)
    out_ref, state_ref = ref(packed, hx)
    assert type(out) is type(out_ref)
    torch.testing.assert_close(out.data, out_ref.data, atol=1e-12, rtol=1e-10)
    assert torch.equal(out.batch_sizes, out_ref.batch_sizes)
    for a, b in ((out.sorted_indices, out_ref.sorted_indices), (out.unsorted_indices, out_ref.unsorted_indices)):
        assert (a is None and b is None) or torch.equal(a, b)
    for s, r in zip(states(state), states(state_ref)):
        torch.testing.assert_close(s, r, atol=1e-12, rtol=1e-10)

    inputs = [x] + (states(hx) if with_state else [])

    def loss(o, st):
        return (o.data**2).sum() + sum((s * (k + 1)).sum() for k, s in enumerate(states(st)))

    grads = torch.autograd.grad(loss(out, state), inputs + list(ours.parameters()), retain_graph=True)
    grads_ref = torch.autograd.grad(loss(out_ref, state_ref), inputs + list(ref.parameters()))
    for g, r in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, r, atol=1e-10, rtol=1e-8)


def test_packed_output_unpacks_to_the_lengths_result():
    lstm = snn.LSTM(I, H, bidirectional=True, batch_first=True, cell="peephole", dtype=DT)
    x = torch.randn(B, T, I, dtype=DT)
    packed_out, (h, c) = lstm(pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False))
    padded, out_lengths = pad_packed_sequence(packed_out, batch_first=True, total_length=T)
    out, (h2, c2) = lstm(x, lengths=LENGTHS)
    assert out_lengths.tolist() == LENGTHS
    torch.testing.assert_close(padded, out, atol=0, rtol=0)
    torch.testing.assert_close(h, h2, atol=0, rtol=0)
    torch.testing.assert_close(c, c2, atol=0, rtol=0)
