"""Vanilla (Elman) RNN cell family with tanh or ReLU (torch.nn.RNN's layout).

The generic path is ``RNNSequence``, a ``torch.autograd.Function`` with
backpropagation-through-time written out: both biases and the input projection of all
steps are one matmul before the loop, each step is one ``addmm`` written straight into
the output buffer followed by the nonlinearity; backward runs one reverse loop
``da_t = (dh_t + (da_{t+1} W_hh) ⊙ mask) ⊙ act'(h_t)`` and then forms the weight, bias
and input gradients as single matmuls over all steps. The pointwise work of a step is one
call of the C kernel in ``rnn_native.c`` ("native") or ATen ops ("aten"); see ``gru.py``.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from seqlab.errors import ConfigurationError
from seqlab.nn import cells
from seqlab.nn.kernels import native
from seqlab.nn.kernels.base import StandardFamily
from seqlab.nn.kernels.native import NativeKernels, pointer


class RNNFamily(StandardFamily):
    """weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh (H)."""

    gate_count = 1
    native_source = native.RNN_SOURCE
    step = staticmethod(cells.rnn_step)

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigurationError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.name = f"rnn_{nonlinearity}"

    def step_options(self) -> dict:
        return {"nonlinearity": self.nonlinearity}

    def _sequence(self, x, h0, w_ih, w_hh, b_ih, b_hh, mask, kernels):
        return RNNSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, mask, self.nonlinearity == "relu", kernels)


class RNNSequence(torch.autograd.Function):
    """One RNN layer-direction over a whole sequence: (x, h0, weights) -> every step's h (T, B, H)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, mask, relu: bool, kernels: NativeKernels | None):
        ctx.set_materialize_grads(False)
        x, h0 = x.contiguous(), h0.contiguous()
        mask = None if mask is None else mask.contiguous()
        T, B, I = x.shape  # noqa: E741
        H = h0.shape[1]
        bias = None if b_ih is None else b_ih + b_hh  # both biases enter the same sum: fold them once
        out = torch.addmm(bias, x.view(T * B, I), w_ih.t()) if bias is not None else x.view(T * B, I) @ w_ih.t()
        out = out.view(T, B, H)  # W_ih x_t + b for all steps; each step adds W_hh h_{t-1} in place
        w_hh_t = w_hh.t()
        outs = out.unbind(0)
        h_in = h0 if mask is None else h0 * mask
        if kernels is not None:
            hm = None if mask is None else h_in
            out_p, mask_p, hm_p, n = out.data_ptr(), pointer(mask), pointer(hm), B * H
            step, fwd = n * kernels.element_size, kernels.forward
            for t in range(T):
                torch.addmm(outs[t], h_in, w_hh_t, out=outs[t])  # (B, H) pre-activation
                fwd(n, out_p + t * step, mask_p, hm_p, relu)
                if mask is None:
                    h_in = outs[t]
        else:
            for t in range(T):
                h = torch.addmm(outs[t], h_in, w_hh_t, out=outs[t])
                h = h.relu_() if relu else h.tanh_()
                h_in = h if mask is None else h * mask
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x, h0, w_ih, w_hh, mask, out)
            ctx.kernels, ctx.relu, ctx.has_bias = kernels, relu, b_ih is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, h0, w_ih, w_hh, mask, out = ctx.saved_tensors
        T, B, I = x.shape  # noqa: E741
        H = h0.shape[1]
        need = ctx.needs_input_grad
        grad_out = None if grad_out is None else grad_out.contiguous()  # (T, B, H) or None
        da = out.new_empty(T, B, H)  # gradient of each step's pre-activation
        das = da.unbind(0)
        mm = None  # da_{t+1} W_hh: the gradient reaching h_t through the recurrence
        if ctx.kernels is not None:
            n = B * H
            step, bwd = n * ctx.kernels.element_size, ctx.kernels.backward
            mm_buf = out.new_empty(B, H)
            g_p, o_p, da_p, mask_p, mm_p = pointer(grad_out), out.data_ptr(), da.data_ptr(), pointer(mask), mm_buf.data_ptr()
            for t in range(T - 1, -1, -1):
                bwd(n, None if g_p is None else g_p + t * step, None if mm is None else mm_p, mask_p,
                    o_p + t * step, da_p + t * step, ctx.relu)  # fmt: skip
                if t > 0 or need[1]:
                    mm = torch.mm(das[t], w_hh, out=mm_buf)
        else:
            act_grad = (out > 0).to(out.dtype) if ctx.relu else 1 - out * out  # act'(pre) from h_t, in bulk
            grads, act_grads = (None if grad_out is None else grad_out.unbind(0)), act_grad.unbind(0)
            for t in range(T - 1, -1, -1):
                if mm is None:
                    dh = grads[t] if grads is not None else torch.zeros_like(das[t])
                else:
                    dh = mm if mask is None else mm * mask
                    dh = dh if grads is None else dh + grads[t]
                torch.mul(dh, act_grads[t], out=das[t])
                if t > 0 or need[1]:
                    mm = das[t] @ w_hh
        dh0 = None
        if need[1]:
            dh0 = mm if mask is None else mm * mask
        da2 = da.view(T * B, H)
        dx = (da2 @ w_ih).view(T, B, I) if need[0] else None
        dw_ih = da2.t() @ x.view(T * B, I) if need[2] else None
        dw_hh = None
        if need[3]:
            h_prev = torch.cat((h0.unsqueeze(0), out[:-1]), 0)  # (T, B, H)
            if mask is not None:
                h_prev = h_prev * mask
            dw_hh = da2.t() @ h_prev.view(T * B, H)
        db = da2.sum(0) if ctx.has_bias and (need[4] or need[5]) else None
        return dx, dh0, dw_ih, dw_hh, db, db, None, None, None
