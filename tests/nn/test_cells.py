"""Step-wise cells (seqlab/nn/cells.py).

* LSTMCell / GRUCell / RNNCell vs torch.nn's cells with copied weights (load_state_dict).
* Each LSTM variant's step vs the notes' formula written out independently here
  (separate W_i, W_f, ... matrices acting on the concatenation [h_{t-1}, x_t]).
* float64 gradcheck of every cell; the error paths of the public modules.
"""

from __future__ import annotations

import pytest
import torch

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.nn import CoupledLSTMCell, GRUCell, LayerNormLSTMCell, LSTMCell, PeepholeLSTMCell, RNNCell
from seqlab.nn import cells

B, I, H = 3, 4, 5


def _grads(module, *inputs):
    return [t.grad.clone() for t in inputs] + [p.grad.clone() for _, p in sorted(module.named_parameters())]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "ours,theirs,kind",
    [
        (LSTMCell, torch.nn.LSTMCell, "lstm"),
        (GRUCell, torch.nn.GRUCell, "gru"),
        (lambda *a, **k: RNNCell(*a, **k), torch.nn.RNNCell, "rnn_tanh"),
        (lambda *a, **k: RNNCell(*a, nonlinearity="relu", **k),
         lambda *a, **k: torch.nn.RNNCell(*a, nonlinearity="relu", **k), "rnn_relu"),
    ],
)
def test_public_cells_match_torch(ours, theirs, kind, bias):
    torch.manual_seed(0)
    ref = theirs(I, H, bias=bias).double()
    cell = ours(I, H, bias=bias).double()
    cell.load_state_dict(ref.state_dict())
    assert sorted(cell.state_dict()) == sorted(ref.state_dict())
    results = []
    for module in (ref, cell):
        torch.manual_seed(1)
        x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
        h = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
        if kind == "lstm":
            c = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
            h1, c1 = module(x, (h, c))
            (h1.sum() * 2 + (c1 * c1).sum()).backward()
            results.append([h1, c1, *_grads(module, x, h, c)])
        else:
            h1 = module(x, h)
            (h1 * h1).sum().backward()
            results.append([h1, *_grads(module, x, h)])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_cells_default_state_is_zeros():
    torch.manual_seed(0)
    x = torch.randn(B, I)
    z = torch.zeros(B, H)
    lstm = LSTMCell(I, H)
    for a, b in zip(lstm(x), lstm(x, (z, z))):
        torch.testing.assert_close(a, b)
    gru = GRUCell(I, H)
    torch.testing.assert_close(gru(x), gru(x, z))


# ---- each variant against the notes' formula, written with one matrix per gate on [h, x]


def _split(w_ih, w_hh, b, k):
    """Per-gate W_k·[h, x] matrices (H, H+I) and biases, from torch.nn's stacked layout."""
    return [torch.cat((wh, wi), 1) for wh, wi in zip(w_hh.chunk(k), w_ih.chunk(k))], list(b.chunk(k))


def _sigma(z):
    return 1 / (1 + torch.exp(-z))


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x, h, c = (torch.randn(B, n, generator=g, dtype=torch.float64) for n in (I, H, H))
    return x, h, c, torch.cat((h, x), 1)  # hx = [h_{t-1}, x_t]


def test_standard_step_formula():
    cell = LSTMCell(I, H).double()
    x, h, c, hx = _inputs()
    (Wi, Wf, Wc, Wo), (bi, bf, bc, bo) = _split(cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh, 4)
    i, f, o = _sigma(hx @ Wi.T + bi), _sigma(hx @ Wf.T + bf), _sigma(hx @ Wo.T + bo)
    c_new = f * c + i * torch.tanh(hx @ Wc.T + bc)
    h_new = o * torch.tanh(c_new)
    got = cell(x, (h, c))
    torch.testing.assert_close(got[0], h_new, atol=1e-12, rtol=0)
    torch.testing.assert_close(got[1], c_new, atol=1e-12, rtol=0)


def test_peephole_step_formula():
    torch.manual_seed(0)
    cell = PeepholeLSTMCell(I, H).double()
    x, h, c, hx = _inputs()
    (Wi, Wf, Wc, Wo), (bi, bf, bc, bo) = _split(cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh, 4)
    p_i, p_f, p_o = cell.weight_ch
    i = _sigma(hx @ Wi.T + p_i * c + bi)  # gates peep at C_{t-1}
    f = _sigma(hx @ Wf.T + p_f * c + bf)
    c_new = f * c + i * torch.tanh(hx @ Wc.T + bc)
    o = _sigma(hx @ Wo.T + p_o * c_new + bo)  # the output gate peeps at C_t
    got = cell(x, (h, c))
    torch.testing.assert_close(got[0], o * torch.tanh(c_new), atol=1e-12, rtol=0)
    torch.testing.assert_close(got[1], c_new, atol=1e-12, rtol=0)
    # and the peepholes matter: zeroing them changes the result
    with torch.no_grad():
        cell.weight_ch.zero_()
    assert not torch.allclose(cell(x, (h, c))[0], got[0])


def test_coupled_step_formula():
    torch.manual_seed(0)
    cell = CoupledLSTMCell(I, H).double()
    assert cell.weight_ih.shape == (3 * H, I)
    x, h, c, hx = _inputs()
    (Wf, Wc, Wo), (bf, bc, bo) = _split(cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh, 3)
    f, o = _sigma(hx @ Wf.T + bf), _sigma(hx @ Wo.T + bo)
    c_new = f * c + (1 - f) * torch.tanh(hx @ Wc.T + bc)
    got = cell(x, (h, c))
    torch.testing.assert_close(got[0], o * torch.tanh(c_new), atol=1e-12, rtol=0)
    torch.testing.assert_close(got[1], c_new, atol=1e-12, rtol=0)


def test_layernorm_step_formula():
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(I, H).double()
    with torch.no_grad():  # non-trivial gains and shifts
        for p in (cell.gain_ih, cell.gain_hh, cell.gain_c, cell.bias_c):
            p.uniform_(0.5, 1.5)
    x, h, c, _ = _inputs()

    def ln(v, gain, shift=0.0):
        mu = v.mean(1, keepdim=True)
        var = ((v - mu) ** 2).mean(1, keepdim=True)  # biased, as in Ba et al. 2016
        return (v - mu) / torch.sqrt(var + cells.LAYERNORM_EPS) * gain + shift

    a = ln(x @ cell.weight_ih.T, cell.gain_ih) + ln(h @ cell.weight_hh.T, cell.gain_hh) + cell.bias_ih
    ai, af, ag, ao = a.chunk(4, 1)
    c_new = _sigma(af) * c + _sigma(ai) * torch.tanh(ag)
    h_new = _sigma(ao) * torch.tanh(ln(c_new, cell.gain_c, cell.bias_c))
    got = cell(x, (h, c))
    torch.testing.assert_close(got[0], h_new, atol=1e-12, rtol=0)
    torch.testing.assert_close(got[1], c_new, atol=1e-12, rtol=0)
    assert sorted(n for n, _ in cell.named_parameters()) == [
        "bias_c", "bias_ih", "gain_c", "gain_hh", "gain_ih", "weight_hh", "weight_ih"]


def test_recurrent_mask_applies_to_recurrent_input_only():
    torch.manual_seed(0)
    cell = LSTMCell(I, H).double()
    x, h, c, _ = _inputs()
    mask = (torch.rand(B, H) > 0.5).double() * 2
    got = cells.lstm_step(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, recurrent_mask=mask)
    want = cells.lstm_step(x, h * mask, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "make", [LSTMCell, PeepholeLSTMCell, CoupledLSTMCell, LayerNormLSTMCell, GRUCell, RNNCell,
             lambda i, h: RNNCell(i, h, nonlinearity="relu")]
)
def test_gradcheck_cells(make):
    torch.manual_seed(0)
    cell = make(3, 2).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    params = [p for _, p in cell.named_parameters()]
    names = [n for n, _ in cell.named_parameters()]

    if isinstance(cell, (GRUCell, RNNCell)):
        def fn(x, h, *ps):
            return torch.func.functional_call(cell, dict(zip(names, ps)), (x, h))
        args = (x, h, *params)
    else:
        c = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)

        def fn(x, h, c, *ps):
            return torch.func.functional_call(cell, dict(zip(names, ps)), (x, (h, c)))
        args = (x, h, c, *params)
    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-7)


def test_cell_errors():
    with pytest.raises(ConfigurationError, match="positive"):
        LSTMCell(0, 4)
    with pytest.raises(ConfigurationError, match="nonlinearity"):
        RNNCell(3, 4, nonlinearity="sigmoid")
    cell = LSTMCell(I, H)
    with pytest.raises(ShapeError, match=r"\(batch, 4\)"):
        cell(torch.zeros(2, 7, I))  # a sequence given to a cell
    with pytest.raises(ShapeError, match="floating-point"):
        cell(torch.zeros(2, I, dtype=torch.long))
    with pytest.raises(ShapeError, match="must have shape"):
        cell(torch.zeros(2, I), (torch.zeros(2, H + 1), torch.zeros(2, H)))
    with pytest.raises(ShapeError, match="tuple"):
        cell(torch.zeros(2, I), torch.zeros(2, H))
    with pytest.raises(ShapeError, match="must have shape"):
        GRUCell(I, H)(torch.zeros(2, I), torch.zeros(3, H))
