"""Mixed precision: under torch.autocast the layers accept lower-precision input like torch.nn's.

The fused kernels are autocast-aware (they run in bf16); the family paths are autograd
Functions with in-place ops on one dtype, so under autocast they run in the weights' dtype
(float32) -- before this, a bf16 input met float32 weights in ``addmm_`` on CUDA.
"""

from __future__ import annotations

import pytest
import torch

import seqlab.nn as snn
from seqlab.errors import ShapeError


@pytest.mark.parametrize("cell", ["standard", "peephole", "coupled", "layernorm"])
def test_family_path_under_autocast_runs_in_float32_and_matches(cell):
    torch.manual_seed(0)
    layer = snn.LSTM(8, 8, cell=cell, impl="generic", bidirectional=True)
    x = torch.randn(6, 3, 8)
    want, (h_want, _) = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, (h, c) = layer(x.bfloat16())  # bf16 input: rounding of x is the only difference
    assert got.dtype == h.dtype == c.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=0.05, rtol=0.05)
    torch.testing.assert_close(h, h_want, atol=0.05, rtol=0.05)
    got.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


def test_fused_path_under_autocast_runs_in_bfloat16():
    layer = snn.LSTM(8, 8, impl="fused")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = layer(torch.randn(6, 3, 8).bfloat16())
    assert out.dtype == torch.bfloat16 and layer.last_impl == "fused"


def test_mismatched_dtype_outside_autocast_is_still_an_error():
    layer = snn.LSTM(8, 8, cell="peephole")
    with pytest.raises(ShapeError, match="input dtype torch.bfloat16 does not match"):
        layer(torch.randn(6, 3, 8).bfloat16())
