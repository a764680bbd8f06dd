"""LSTM cell variants (peephole, coupled, layernorm) in the recurrent wrapper.

No torch.nn counterpart exists, so the oracles are the public step-wise cells
(``seqlab.nn.PeepholeLSTMCell`` ...) looped by hand, the reference path, and running
each padded sequence alone.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import seqlab.nn as snn

T, B, I, H = 5, 3, 4, 5
DT = torch.float64
VARIANTS = ("peephole", "coupled", "layernorm")
CELLS = {
    "standard": snn.LSTMCell,
    "peephole": snn.PeepholeLSTMCell,
    "coupled": snn.CoupledLSTMCell,
    "layernorm": snn.LayerNormLSTMCell,
}

# Expected parameter stems (registration order) and shapes for one layer-direction with input size I.
STEMS = {
    "standard": [("weight_ih", (4 * H, I)), ("weight_hh", (4 * H, H)), ("bias_ih", (4 * H,)), ("bias_hh", (4 * H,))],
    "peephole": [
        ("weight_ih", (4 * H, I)),
        ("weight_hh", (4 * H, H)),
        ("weight_ch", (3, H)),
        ("bias_ih", (4 * H,)),
        ("bias_hh", (4 * H,)),
    ],
    "coupled": [("weight_ih", (3 * H, I)), ("weight_hh", (3 * H, H)), ("bias_ih", (3 * H,)), ("bias_hh", (3 * H,))],
    "layernorm": [
        ("weight_ih", (4 * H, I)),
        ("weight_hh", (4 * H, H)),
        ("gain_ih", (4 * H,)),
        ("gain_hh", (4 * H,)),
        ("gain_c", (H,)),
        ("bias_ih", (4 * H,)),
        ("bias_c", (H,)),
    ],
}
BIAS_STEMS = {"bias_ih", "bias_hh", "bias_c"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only spins on a shared machine
    yield
    torch.set_num_threads(threads)


def randomise(module):
    """Move every parameter off its initial value (LN gains start at exactly 1)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return module


@pytest.mark.parametrize("cell", list(STEMS))
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_names_and_shapes(cell, bias):
    lstm = snn.LSTM(I, H, num_layers=2, bidirectional=True, bias=bias, cell=cell)
    expected = []
    for layer, suffix in itertools.product(range(2), ["", "_reverse"]):
        for stem, shape in STEMS[cell]:
            if not bias and stem in BIAS_STEMS:
                continue
            if layer == 1 and stem == "weight_ih":
                shape = (shape[0], 2 * H)
            expected.append((f"{stem}_l{layer}{suffix}", shape))
    got = [(n, tuple(p.shape)) for n, p in lstm.named_parameters()]
    assert got == expected


def test_layernorm_initialisation():
    lstm = snn.LSTM(I, H, cell="layernorm", bidirectional=True)
    for direction in ("", "_reverse"):
        for stem in ("gain_ih", "gain_hh", "gain_c"):
            assert torch.equal(
                getattr(lstm, f"{stem}_l0{direction}"), torch.ones_like(getattr(lstm, f"{stem}_l0{direction}"))
            )
        assert torch.equal(getattr(lstm, f"bias_c_l0{direction}"), torch.zeros(H))
        assert getattr(lstm, f"weight_hh_l0{direction}").abs().max() <= 1 / H**0.5
    peephole = snn.LSTM(I, H, cell="peephole")
    assert peephole.weight_ch_l0.abs().max() <= 1 / H**0.5 and peephole.weight_ch_l0.std() > 0


@pytest.mark.parametrize("cell", list(STEMS))
@pytest.mark.parametrize("impl", ["auto", "generic", "reference"])
def test_one_layer_equals_looping_the_public_cell(cell, impl):
    lstm = randomise(snn.LSTM(I, H, cell=cell, impl=impl, dtype=DT))
    step = CELLS[cell](I, H).double()
    step.load_state_dict({name.removesuffix("_l0"): p for name, p in lstm.state_dict().items()})
    x = torch.randn(T, B, I, dtype=DT)
    h0, c0 = torch.randn(1, B, H, dtype=DT), torch.randn(1, B, H, dtype=DT)
    out, (h_n, c_n) = lstm(x, (h0, c0))
    h, c = h0[0], c0[0]
    for t in range(T):
        h, c = step(x[t], (h, c))
        torch.testing.assert_close(out[t], h, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(h_n[0], h, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(c_n[0], c, atol=1e-12, rtol=1e-10)


def _grads(module, x, hx, lengths):
    out, (h, c) = module(x, hx, lengths=lengths)
    loss = (out * torch.linspace(-1, 1, out.numel(), dtype=DT).view_as(out)).sum() + (h * 0.3).sum() + (c * 0.7).sum()
    inputs = [x] + (list(hx) if hx is not None else []) + list(module.parameters())
    return [out, h, c, *torch.autograd.grad(loss, inputs)]


@pytest.mark.parametrize("cell", VARIANTS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_generic_matches_reference_with_gradients(cell, bidirectional, with_lengths, with_state):
    generic = randomise(snn.LSTM(I, H, 2, bidirectional=bidirectional, cell=cell, impl="generic", dtype=DT))
    reference = snn.LSTM(I, H, 2, bidirectional=bidirectional, cell=cell, impl="reference", dtype=DT)
    reference.load_state_dict(generic.state_dict())
    LD = 4 if bidirectional else 2
    x = torch.randn(T, B, I, dtype=DT, requires_grad=True)
    hx = (
        (torch.randn(LD, B, H, dtype=DT, requires_grad=True), torch.randn(LD, B, H, dtype=DT, requires_grad=True))
        if with_state
        else None
    )
    lengths = [5, 2, 4] if with_lengths else None
    got = _grads(generic, x, hx, lengths)
    want = _grads(reference, x, hx, lengths)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-10, rtol=1e-8)
    assert generic.last_impl.startswith("generic:") and reference.last_impl == "reference"


@pytest.mark.parametrize("cell", VARIANTS)
def test_variant_lengths_equal_running_each_sequence_alone(cell):
    lstm = randomise(snn.LSTM(I, H, 2, bidirectional=True, batch_first=True, cell=cell, dtype=DT))
    x = torch.randn(B, T, I, dtype=DT)
    lengths = [2, 5, 1]
    out, (h, c) = lstm(x, lengths=torch.tensor(lengths))
    for b, n in enumerate(lengths):
        alone, (h_b, c_b) = lstm(x[b : b + 1, :n])
        torch.testing.assert_close(out[b : b + 1, :n], alone, atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(h[:, b : b + 1], h_b, atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(c[:, b : b + 1], c_b, atol=1e-12, rtol=1e-10)
        assert (out[b, n:] == 0).all()


@pytest.mark.parametrize("cell", VARIANTS)
def test_variant_state_dict_round_trip_and_mismatch(cell):
    a = randomise(snn.LSTM(I, H, 2, bidirectional=True, cell=cell))
    b = snn.LSTM(I, H, 2, bidirectional=True, cell=cell)
    b.load_state_dict(a.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(a(x)[0], b(x)[0], atol=0, rtol=0)
    # A standard LSTM checkpoint does not silently load into a variant.
    with pytest.raises(RuntimeError):
        b.load_state_dict(torch.nn.LSTM(I, H, 2, bidirectional=True).state_dict())


@pytest.mark.parametrize("cell", VARIANTS)
def test_variant_dropout_between_layers(cell):
    lstm = snn.LSTM(I, H, 2, dropout=0.5, cell=cell)
    x = torch.randn(T, B, I)
    lstm.eval()
    eval_out = lstm(x)[0]
    torch.testing.assert_close(lstm(x)[0], eval_out, atol=0, rtol=0)
    lstm.train()
    torch.manual_seed(1)
    a = lstm(x)[0]
    torch.manual_seed(1)
    assert torch.equal(a, lstm(x)[0])
    assert not torch.allclose(a, eval_out)
