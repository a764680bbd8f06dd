"""The large input-side matmuls of the generic paths, on oneDNN where that is faster.

A layer's input projection ``x W_ihᵀ`` over all T·B rows (before the time loop) and the
input gradient ``dgates W_ih`` (after it) are the two biggest matmuls of a training step.
``torch.mm`` runs them in MKL, which takes a slower code path on AMD CPUs; oneDNN's inner
product (what torch.nn.LSTM's fused kernel uses) ran them 10-25 % faster on this machine
(benchmarks/rnn_speed.py machine, float32, e.g. (12800×256)·(256×512): 36 → 32 ms on one
thread; (12800×512)·(512×256): 40 → 32 ms). The weight gradient ``dgatesᵀ x`` (a long
reduction dimension) stays in MKL, where it was faster.

oneDNN is reached through ``torch.ops.mkldnn._linear_pointwise`` (the op torch's own CPU
compiler emits for linear layers). Only float32 CPU tensors use it; anything else, or a
build without the op, takes ``torch.addmm``/``torch.mm`` (the first failure is remembered).
"""

from __future__ import annotations

import torch
from torch import Tensor

_ONEDNN: list[bool] = []


def onednn_usable(*tensors: Tensor) -> bool:
    """True when ``linear``/``matmul`` run on oneDNN for these tensors (float32 CPU, op present)."""
    if not _ONEDNN:
        ops = getattr(torch.ops, "mkldnn", None)
        _ONEDNN.append(torch.backends.mkldnn.is_available() and ops is not None and hasattr(ops, "_linear_pointwise"))
    return _ONEDNN[0] and all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors)


def _onednn_linear(a: Tensor, w: Tensor, bias: Tensor | None) -> Tensor | None:
    try:
        return torch.ops.mkldnn._linear_pointwise(a, w, bias, "none", [], "")
    except (RuntimeError, NotImplementedError):  # private op: absent or changed in this build
        _ONEDNN[0] = False
        return None


def linear(a: Tensor, w: Tensor, bias: Tensor | None = None) -> Tensor:
    """``a @ wᵀ + bias``: a (N, K), w (M, K), bias (M,) or None -> (N, M), contiguous."""
    if a.is_contiguous() and onednn_usable(a, w, *(() if bias is None else (bias,))):
        out = _onednn_linear(a, w.contiguous(), None if bias is None else bias.contiguous())
        if out is not None:
            return out
    return torch.addmm(bias, a, w.t()) if bias is not None else a @ w.t()


def matmul(a: Tensor, w: Tensor) -> Tensor:
    """``a @ w``: a (N, K), w (K, M) -> (N, M), contiguous (the input gradient ``dgates W_ih``)."""
    if a.is_contiguous() and onednn_usable(a, w):
        out = _onednn_linear(a, w.t().contiguous(), None)  # (M, K): a small copy of the weight
        if out is not None:
            return out
    return a @ w


class InputProjection(torch.autograd.Function):
    """``x @ W_ihᵀ`` for all T·B rows with ``linear`` forward and ``matmul`` for the input gradient.

    Inputs: x2 (T·B, I), w_ih (G·H, I). Output: (T·B, G·H).
    """

    @staticmethod
    def forward(ctx, x2: Tensor, w_ih: Tensor) -> Tensor:
        ctx.save_for_backward(x2, w_ih)
        return linear(x2, w_ih)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x2, w_ih = ctx.saved_tensors
        grad = grad.contiguous()
        dx = matmul(grad, w_ih) if ctx.needs_input_grad[0] else None
        dw = grad.t() @ x2 if ctx.needs_input_grad[1] else None
        return dx, dw
