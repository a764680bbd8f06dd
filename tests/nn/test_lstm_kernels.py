"""The LSTM family's fast generic paths (seqlab/nn/kernels/lstm.py, lstm_bptt.py, lstm_native.c).

Both generic paths — the fused C kernel ("native") and the ATen fallback ("aten") — are
checked against the reference loop over seqlab.nn.cells (outputs, every step's states,
gradients of x, h0, c0 and every parameter), standard LSTM also against torch.nn.LSTM
with copied weights, and every family with float64 gradcheck.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

from seqlab.nn.kernels import get_family, lstm_bptt, native

FAMILIES = ("lstm", "peephole", "coupled", "layernorm")
PATHS = ("native", "aten")


def _expected(path: str) -> str:
    """The path a run asked for ``path`` reports: "native" is "aten" where the environment rules
    the C kernels out (SEQLAB_NO_NATIVE=1, no compiler), the check the family itself makes.
    test_native_threads.py fails when they are lost on a normal machine."""
    if path == "native" and native.kernels_for(native.LSTM_SOURCE, torch.zeros(1)) is None:
        return "aten"
    return path


def _make(family, T=5, B=3, I=4, H=3, bias=True, mask=False, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    fam = get_family(family)
    params = {
        s.stem: (torch.randn(s.shape, generator=g, dtype=dtype) * 0.6).requires_grad_()
        for s in fam.parameter_specs(I, H, bias)
    }
    x = torch.randn(T, B, I, generator=g, dtype=dtype, requires_grad=True)
    h0 = torch.randn(B, H, generator=g, dtype=dtype, requires_grad=True)
    c0 = torch.randn(B, H, generator=g, dtype=dtype, requires_grad=True)
    m = (torch.rand(B, H, generator=g) > 0.3).to(dtype) / 0.7 if mask else None
    return fam, x, (h0, c0), params, m


def _run(fam, x, state, params, mask, path, weights_seed=1):
    """Forward + backward of a random linear function of every step's h and c."""
    for t in (x, *state, *params.values()):
        t.grad = None
    if path == "reference":
        hs, cs = fam.forward_sequence(x, state, params, "reference", mask)
    else:
        hs, cs = fam.forward_sequence(x, state, params, "generic", mask, native=path == "native")
    g = torch.Generator().manual_seed(weights_seed)
    wh = torch.randn(hs.shape, generator=g, dtype=hs.dtype)
    wc = torch.randn(cs.shape, generator=g, dtype=cs.dtype)
    ((hs * wh).sum() + (cs * wc).sum()).backward()
    grads = [t.grad.clone() if t.grad is not None else torch.zeros_like(t) for t in (x, *state, *params.values())]
    return [hs.detach(), cs.detach()], grads, fam.last_path()


def _assert_close(got, want, atol, rtol=0.0):
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol, msg=lambda m: f"tensor #{k}: {m}")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bias,mask", [(True, False), (False, False), (True, True), (False, True)])
def test_generic_matches_reference_float64(family, path, bias, mask):
    fam, x, state, params, m = _make(family, bias=bias, mask=mask)
    ref_out, ref_grads, ref_path = _run(fam, x, state, params, m, "reference")
    out, grads, used = _run(fam, x, state, params, m, path)
    assert ref_path == "reference"
    assert used == _expected(path)
    _assert_close(out, ref_out, atol=1e-12)
    _assert_close(grads, ref_grads, atol=1e-11)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("path", PATHS)
def test_generic_matches_reference_float32(family, path):
    # B·G·H = 48·4·96 ≥ PARALLEL_MIN_ELEMENTS: the native kernel runs split over threads.
    B, H = 48, 96
    assert B * 4 * H >= lstm_bptt.PARALLEL_MIN_ELEMENTS
    fam, x, state, params, m = _make(family, T=4, B=B, I=8, H=H, mask=True, dtype=torch.float32)
    with torch.no_grad():
        for p in params.values():
            p.mul_(0.5)
    ref_out, ref_grads, _ = _run(fam, x, state, params, m, "reference")
    out, grads, used = _run(fam, x, state, params, m, path)
    assert used == _expected(path)
    _assert_close(out, ref_out, atol=2e-5, rtol=1e-5)
    _assert_close(grads, ref_grads, atol=5e-4, rtol=1e-4)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("bias", [True, False])
def test_standard_lstm_matches_torch_nn_lstm(path, dtype, atol, bias):
    T, B, I, H = 6, 4, 5, 7
    torch.manual_seed(0)
    ref = torch.nn.LSTM(I, H, bias=bias).to(dtype)
    fam = get_family("lstm")
    params = {s.stem: getattr(ref, f"{s.stem}_l0").detach().clone().requires_grad_()
              for s in fam.parameter_specs(I, H, bias)}
    x = torch.randn(T, B, I, dtype=dtype, requires_grad=True)
    h0 = torch.randn(B, H, dtype=dtype, requires_grad=True)
    c0 = torch.randn(B, H, dtype=dtype, requires_grad=True)
    out_ref, (hn, cn) = ref(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
    w = torch.randn(T, B, H, dtype=dtype)
    ((out_ref * w).sum() + hn.sum() * 2 + (cn * 3).sum()).backward()
    want = [out_ref, hn[0], cn[0], x.grad, h0.grad, c0.grad] + [getattr(ref, f"{k}_l0").grad for k in params]
    x.grad = h0.grad = c0.grad = None

    hs, cs = fam.forward_sequence(x, (h0, c0), params, "generic", native=path == "native")
    assert fam.last_path() == _expected(path)
    # The wrapper gathers final states from the per-step outputs, as here.
    ((hs * w).sum() + hs[-1].sum() * 2 + (cs[-1] * 3).sum()).backward()
    got = [hs, hs[-1], cs[-1], x.grad, h0.grad, c0.grad] + [params[k].grad for k in params]
    _assert_close(got, want, atol=atol, rtol=atol)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("path", PATHS)
def test_single_step_and_empty_sequence(family, path):
    fam, x, state, params, m = _make(family, T=1, mask=True)
    ref_out, ref_grads, _ = _run(fam, x, state, params, m, "reference")
    out, grads, _ = _run(fam, x, state, params, m, path)
    _assert_close(out, ref_out, atol=1e-12)
    _assert_close(grads, ref_grads, atol=1e-12)

    fam, x, state, params, _ = _make(family, T=0)
    hs, cs = fam.forward_sequence(x, state, params, "generic", native=path == "native")
    assert hs.shape == cs.shape == (0, 3, 3)
    (hs.sum() + cs.sum() + state[0].sum()).backward()  # no error; gradients are zero or untouched
    assert x.grad is None or torch.count_nonzero(x.grad) == 0


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("path", PATHS)
def test_only_some_outputs_used(family, path):
    """Unused state outputs get no gradient (None in backward) and that must be handled."""
    fam, x, state, params, _ = _make(family)
    kw = dict(native=path == "native")
    hs, cs = fam.forward_sequence(x, state, params, "generic", **kw)
    hs[-1].sum().backward()  # only h: dcs is None
    gx = x.grad.clone()
    x.grad = None
    hs_r, _ = fam.forward_sequence(x, state, params, "reference")
    hs_r[-1].sum().backward()
    torch.testing.assert_close(gx, x.grad, atol=1e-12, rtol=0)

    x.grad = None
    hs, cs = fam.forward_sequence(x, state, params, "generic", **kw)
    cs.sum().backward()  # only c: dhs is None
    gx = x.grad.clone()
    x.grad = None
    _, cs_r = fam.forward_sequence(x, state, params, "reference")
    cs_r.sum().backward()
    torch.testing.assert_close(gx, x.grad, atol=1e-12, rtol=0)

    with torch.no_grad():  # inference: no graph, same values
        hs2, _ = fam.forward_sequence(x, state, params, "generic", **kw)
    torch.testing.assert_close(hs2, hs.detach(), atol=0, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("path", PATHS)
def test_gradcheck_float64(family, path):
    fam, x, state, params, m = _make(family, T=3, B=2, I=3, H=2, mask=True)
    names = list(params)

    def fn(x, h0, c0, *ps):
        return fam.forward_sequence(x, (h0, c0), dict(zip(names, ps)), "generic", m, native=path == "native")

    assert torch.autograd.gradcheck(fn, (x, *state, *params.values()), eps=1e-6, atol=1e-7)
    assert fam.last_path() == _expected(path)


def test_no_native_env_var_forces_aten(monkeypatch):
    fam, x, state, params, _ = _make("peephole")
    monkeypatch.setenv("SEQLAB_NO_NATIVE", "1")
    fam.forward_sequence(x, state, params, "generic")
    assert fam.last_path() == "aten"
    monkeypatch.delenv("SEQLAB_NO_NATIVE")
    fam.forward_sequence(x, state, params, "generic")
    assert fam.last_path() == "native"


@pytest.mark.skipif(not (os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")),
                    reason="no C compiler (gcc/cc/$CC): native kernels cannot be built here")
def test_loading_the_kernels_keeps_denormals(monkeypatch):
    """The library is built without -ffast-math, whose crtfastmath.o would set flush-to-zero process-wide."""
    monkeypatch.setenv("SEQLAB_NO_NATIVE", "0")  # load it even in a SEQLAB_NO_NATIVE=1 run of the suite
    assert native.kernels_for(native.LSTM_SOURCE, torch.zeros(1)) is not None
    assert (torch.tensor([1e-39]) * 1.0).item() != 0.0


def test_unsupported_dtype_uses_aten():
    fam, x, state, params, _ = _make("coupled", dtype=torch.bfloat16)
    hs, _ = fam.forward_sequence(x, state, params, "generic")
    assert fam.last_path() == "aten"
    assert hs.dtype == torch.bfloat16


def test_build_failure_falls_back_to_aten_with_warning(tmp_path):
    script = textwrap.dedent(
        """
        import warnings, torch
        from seqlab.nn.kernels import get_family
        fam = get_family("layernorm")
        torch.manual_seed(0)
        params = {s.stem: torch.randn(s.shape, dtype=torch.float64) for s in fam.parameter_specs(3, 2, True)}
        x, h0, c0 = torch.randn(4, 2, 3, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hs, cs = fam.forward_sequence(x, (h0, c0), params, "generic")
        ref, _ = fam.forward_sequence(x, (h0, c0), params, "reference")
        torch.testing.assert_close(hs, ref)
        print("WARN:", " | ".join(str(w.message).splitlines()[0] for w in caught))
        fam.forward_sequence(x, (h0, c0), params, "generic")
        print("PATH:", fam.last_path())
        """
    )
    env = dict(os.environ, CC=str(tmp_path / "no-such-compiler"), SEQLAB_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("SEQLAB_NO_NATIVE", None)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "WARN: seqlab: could not build the 'seqlab_lstm' kernel" in result.stdout
    assert "PATH: aten" in result.stdout
