"""The generic GRU and vanilla-RNN kernels (seqlab/nn/kernels/gru.py, rnn.py).

Both generic paths — the fused C pointwise kernel ("native") and pure ATen ("aten") —
are checked against the reference Python loop over ``seqlab.nn.cells`` and against
``torch.nn.GRU`` / ``torch.nn.RNN`` with copied weights: outputs, every step's state,
and gradients w.r.t. the input, the initial state and every parameter.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from seqlab.errors import ConfigurationError
from seqlab.nn.kernels import _cbuild, get_family, native
from seqlab.nn.kernels.gru import GRUFamily
from seqlab.nn.kernels.rnn import RNNFamily

FAMILIES = ("gru", "rnn_tanh", "rnn_relu")
T, B, I, H = 6, 3, 5, 7  # noqa: E741

needs_compiler = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="no C compiler")
PATHS = [pytest.param("native", marks=needs_compiler), "aten"]


@pytest.fixture
def path(request, monkeypatch):
    """Select the generic path: "aten" disables native kernels through SEQLAB_NO_NATIVE."""
    monkeypatch.setenv("SEQLAB_NO_NATIVE", "1" if request.param == "aten" else "0")
    return request.param


def _torch_module(name: str, bias: bool) -> nn.Module:
    if name == "gru":
        return nn.GRU(I, H, bias=bias).double()
    return nn.RNN(I, H, bias=bias, nonlinearity=name.split("_")[1]).double()


def _params_from(module: nn.Module, family) -> dict[str, torch.Tensor]:
    """Copy the torch.nn layer-0 parameters into a stem -> tensor dict (``weight_ih_l0`` -> ``weight_ih``)."""
    stems = [spec.stem for spec in family.parameter_specs(I, H, module.bias)]
    return {s: getattr(module, f"{s}_l0").detach().clone().requires_grad_(True) for s in stems}


def _run(family, x, h0, params, impl, mask=None):
    (out,) = family.forward_sequence(x, (h0,), params, impl=impl, recurrent_mask=mask)
    return out


def _grads(out, weights, inputs):
    """Gradients of a loss that uses every step's state and, separately, the final state."""
    loss = (out * weights[0]).sum() + (out[-1] * weights[1]).sum()
    return torch.autograd.grad(loss, inputs)


def _inputs(seq_len=T, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(seq_len, B, I, dtype=dtype, generator=gen).requires_grad_(True)
    h0 = (0.5 * torch.randn(B, H, dtype=dtype, generator=gen)).requires_grad_(True)
    weights = (torch.randn(seq_len, B, H, dtype=dtype, generator=gen), torch.randn(B, H, dtype=dtype, generator=gen))
    return x, h0, weights


def _mask(dtype=torch.float64, p=0.4, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(B, H, generator=gen) > p).to(dtype) / (1 - p)


@pytest.mark.parametrize("path", PATHS, indirect=True)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("seq_len", [T, 1])
@pytest.mark.parametrize("name", FAMILIES)
def test_generic_matches_torch_nn_and_reference(name, bias, seq_len, path):
    torch.manual_seed(0)
    family = get_family(name)
    module = _torch_module(name, bias)
    params = _params_from(module, family)
    x, h0, weights = _inputs(seq_len)
    inputs = [x, h0, *params.values()]

    out = _run(family, x, h0, params, "generic")
    assert family.last_path() == path
    grads = _grads(out, weights, inputs)

    expected_out, expected_hn = module(x, h0.unsqueeze(0))
    expected_grads = torch.autograd.grad(
        (expected_out * weights[0]).sum() + (expected_hn[0] * weights[1]).sum(), [x, h0, *module.parameters()]
    )
    torch.testing.assert_close(out, expected_out)
    for got, want, what in zip(grads, expected_grads, ["x", "h0", *params]):
        torch.testing.assert_close(got, want, msg=lambda m, w=what: f"d{w}: {m}")

    ref = _run(family, x, h0, params, "reference")
    assert family.last_path() == "reference"
    torch.testing.assert_close(out, ref)
    for got, want in zip(grads, _grads(ref, weights, inputs)):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("path", PATHS, indirect=True)
@pytest.mark.parametrize("name", FAMILIES)
def test_recurrent_mask_matches_reference(name, path):
    family = get_family(name)
    params = _params_from(_torch_module(name, True), family)
    x, h0, weights = _inputs()
    mask = _mask()
    inputs = [x, h0, *params.values()]
    out = _run(family, x, h0, params, "generic", mask)
    assert family.last_path() == path
    ref = _run(family, x, h0, params, "reference", mask)
    torch.testing.assert_close(out, ref)
    for got, want, what in zip(_grads(out, weights, inputs), _grads(ref, weights, inputs), ["x", "h0", *params]):
        torch.testing.assert_close(got, want, msg=lambda m, w=what: f"d{w}: {m}")
    # The mask must change the result: otherwise this test would not exercise it.
    assert not torch.allclose(out, _run(family, x, h0, params, "generic"))


@pytest.mark.parametrize("path", PATHS, indirect=True)
@pytest.mark.parametrize("name", FAMILIES)
def test_float32_and_inference_mode(name, path):
    """float32 (the native kernel's main dtype) and the no-grad forward that keeps no activations."""
    family = get_family(name)
    params = {k: v.detach().float() for k, v in _params_from(_torch_module(name, True), family).items()}
    x, h0, _ = _inputs(dtype=torch.float32)
    mask = _mask(torch.float32)
    with torch.no_grad():
        for m in (None, mask):
            out = _run(family, x, h0, params, "generic", m)
            assert family.last_path() == path
            torch.testing.assert_close(out, _run(family, x, h0, params, "reference", m), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", PATHS, indirect=True)
@pytest.mark.parametrize("name", FAMILIES)
def test_gradcheck_float64(name, path):
    family = get_family(name)
    gen = torch.Generator().manual_seed(3)
    specs = family.parameter_specs(3, 4, True)
    params = [(0.6 * torch.randn(s.shape, dtype=torch.float64, generator=gen)).requires_grad_() for s in specs]
    x = torch.randn(4, 2, 3, dtype=torch.float64, generator=gen).requires_grad_()
    h0 = torch.randn(2, 4, dtype=torch.float64, generator=gen).requires_grad_()
    mask = (torch.rand(2, 4, generator=gen) > 0.3).double() * 1.5

    def fn(x, h0, *ps, mask=None):
        out = _run(family, x, h0, dict(zip((s.stem for s in specs), ps)), "generic", mask)
        assert family.last_path() == path
        return out

    assert torch.autograd.gradcheck(fn, (x, h0, *params))
    assert torch.autograd.gradcheck(lambda *a: fn(*a, mask=mask), (x, h0, *params))


@pytest.mark.parametrize("name", FAMILIES)
def test_other_dtypes_use_aten_path(name):
    family = get_family(name)
    params = {k: v.detach().to(torch.bfloat16) for k, v in _params_from(_torch_module(name, True), family).items()}
    x, h0, _ = _inputs(dtype=torch.bfloat16)
    out = _run(family, x.detach(), h0.detach(), params, "generic")
    assert family.last_path() == "aten"
    ref = _run(family, x.detach(), h0.detach(), params, "reference")
    torch.testing.assert_close(out.float(), ref.float(), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("path", PATHS, indirect=True)
def test_empty_sequence(path):
    for name in FAMILIES:
        family = get_family(name)
        params = _params_from(_torch_module(name, True), family)
        x, h0, _ = _inputs()
        out = _run(family, x[:0], h0, params, "generic")
        assert out.shape == (0, B, H)


@needs_compiler
def test_native_build_failure_falls_back_to_aten_with_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQLAB_NO_NATIVE", "0")
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", shutil.which("false") or "false")  # a "compiler" that always fails
    monkeypatch.setattr(native, "_BOUND", {})  # forget the libraries bound earlier in this process
    for name in ("gru", "rnn_tanh"):
        family = get_family(name)
        params = _params_from(_torch_module(name, True), family)
        x, h0, _ = _inputs()
        if name == "gru":
            with pytest.warns(RuntimeWarning, match="building the 'gru_native' kernel failed"):
                out = _run(family, x, h0, params, "generic")
        else:
            with pytest.warns(RuntimeWarning, match="rnn_native"):
                out = _run(family, x, h0, params, "generic")
        assert family.last_path() == "aten"
        torch.testing.assert_close(out, _run(family, x, h0, params, "reference"))


@needs_compiler
def test_native_kernels_build_and_are_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQLAB_NO_NATIVE", "0")
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_BOUND", {})
    monkeypatch.setattr(_cbuild, "_LOADED", {})
    for source in (native.GRU_SOURCE, native.RNN_SOURCE):
        kernels = native.kernels_for(source, torch.zeros(1))
        assert kernels is not None and kernels.element_size == 4
        assert native.kernels_for(source, torch.zeros(1, dtype=torch.float64)).element_size == 8
        assert native.kernels_for(source, torch.zeros(1), torch.zeros(1, dtype=torch.float64)) is None
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "kernels").glob("*.so")) == ["gru_native", "rnn_native"]


def test_rnn_family_rejects_unknown_nonlinearity():
    with pytest.raises(ConfigurationError, match="'tanh' or 'relu'"):
        RNNFamily("sigmoid")
    assert isinstance(get_family("gru"), GRUFamily)
