"""GRU cell family (torch.nn.GRU's equations and parameter layout; gate blocks r, z, n).

The generic path is ``GRUSequence``, a ``torch.autograd.Function`` with
backpropagation-through-time written out (../shared/notes/fast-recurrence.md):

* forward: the input projection of all T steps is one matmul before the loop; each
  step is one recurrent matmul (``addmm``) plus the pointwise gate math, saving
  r, z, n and ``W_hn h + b_hn`` for the backward pass;
* backward: one reverse loop computes the per-step gate gradients and
  ``dh_{t-1} = dh_t ⊙ z + (dgates_h W_hh) ⊙ mask``; the weight, bias and input gradients
  are single large matmuls over all steps after the loop.

On the "native" path (float32/float64 on CPU) the whole time loop, recurrent matmul
included, is one call of ``gru_native.c``'s ``seq_*`` kernels (BLAS from torch's own
library, batch rows split over threads for all steps: no barrier per step); when torch's
BLAS cannot be found, each step is one torch matmul plus one fused C call. The "aten"
path is a handful of ATen ops per step (any device and dtype, and the fallback when no
compiler is available). Recorded in ``GRUFamily._last_path``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from seqlab.nn import cells
from seqlab.nn.kernels import native, projection
from seqlab.nn.kernels.base import StandardFamily
from seqlab.nn.kernels.native import NativeKernels, pointer


class GRUFamily(StandardFamily):
    """weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H)."""

    name = "gru"
    gate_count = 3
    native_source = native.GRU_SOURCE
    step = staticmethod(cells.gru_step)

    def _sequence(self, x, h0, w_ih, w_hh, b_ih, b_hh, mask, kernels):
        return GRUSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, mask, kernels)


def _contiguous(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


class GRUSequence(torch.autograd.Function):
    """One GRU layer-direction over a whole sequence: (x, h0, weights) -> every step's h (T, B, H)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, mask, kernels: NativeKernels | None):
        ctx.set_materialize_grads(False)
        x, h0, mask = x.contiguous(), h0.contiguous(), _contiguous(mask)
        T, B, I = x.shape  # noqa: E741
        H = h0.shape[1]
        training = any(ctx.needs_input_grad)
        gi = projection.linear(x.view(T * B, I), w_ih, b_ih)
        gi = gi.view(T, B, 3 * H)  # (T, B, 3H): W_i{r,z,n} x_t + b_i{r,z,n} for all steps at once
        out = x.new_empty(T, B, H)
        hm0 = h0 if mask is None else h0 * mask  # h_{t-1} as it enters the recurrent matmul
        if kernels is not None:
            saved = _forward_native(kernels, gi, h0, hm0, w_hh, b_hh, mask, out, training)
        else:
            saved = _forward_aten(gi, h0, hm0, w_hh, b_hh, mask, out)
        if training:
            ctx.save_for_backward(x, h0, w_ih, w_hh, mask, out, *saved)
            ctx.kernels = kernels
            ctx.has_bias = (b_ih is not None, b_hh is not None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, h0, w_ih, w_hh, mask, out, *saved = ctx.saved_tensors
        T, B, I = x.shape  # noqa: E741
        H = h0.shape[1]
        grad_out = _contiguous(grad_out)  # (T, B, H) or None when no output had a gradient
        if ctx.kernels is not None:
            dgh, dgi, dh0 = _backward_native(ctx.kernels, grad_out, saved[0], h0, w_hh, mask, out, ctx.needs_input_grad[1])
        else:
            dgh, dgi, dh0 = _backward_aten(grad_out, saved, h0, w_hh, mask, out)
        dgh2, dgi2 = dgh.view(T * B, 3 * H), dgi.view(T * B, 3 * H)
        need = ctx.needs_input_grad
        dx = projection.matmul(dgi2, w_ih).view(T, B, I) if need[0] else None
        dw_ih = dgi2.t() @ x.view(T * B, I) if need[2] else None
        dw_hh = None
        if need[3]:
            h_prev = torch.cat((h0.unsqueeze(0), out[:-1]), 0)  # (T, B, H)
            if mask is not None:
                h_prev = h_prev * mask
            dw_hh = dgh2.t() @ h_prev.view(T * B, H)  # (3H, H)
        db_ih = dgi2.sum(0) if ctx.has_bias[0] and need[4] else None
        db_hh = dgh2.sum(0) if ctx.has_bias[1] and need[5] else None  # n block: r ⊙ dn (reset after)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None


def _forward_native(kernels, gi, h0, hm0, w_hh, b_hh, mask, out, training):
    T, B, H3 = gi.shape
    H = H3 // 3
    esize = kernels.element_size
    save = gi.new_empty(T if training else 1, B, 4 * H)  # r | z | n | W_hn h + b_hn per step
    gh = gi.new_empty(B, H3)
    hm = None if mask is None else hm0  # overwritten each step with mask ⊙ h_t by the kernel
    seq = native.sequence_blas(gi.dtype, B)
    if seq is not None:
        gemm, local, nt = seq
        w_hh_c, b_hh_c = w_hh.contiguous(), _contiguous(b_hh)
        kernels.seq_forward(T, B, H, gi.data_ptr(), w_hh_c.data_ptr(), pointer(b_hh_c), gh.data_ptr(),
                            h0.data_ptr(), pointer(mask), pointer(hm), out.data_ptr(), save.data_ptr(),
                            B * 4 * H if training else 0, nt, gemm, local)
        return (save,) if training else ()
    w_hh_t = w_hh.t()
    outs = out.unbind(0)
    gi_p, out_p, save_p, gh_p, mask_p, hm_p = (pointer(t) for t in (gi, out, save, gh, mask, hm))
    h_p = h0.data_ptr()
    step_g, step_h, step_s = B * H3 * esize, B * H * esize, (B * 4 * H * esize if training else 0)
    fwd = kernels.forward
    h_in = h0 if mask is None else hm
    for t in range(T):
        if b_hh is None:
            torch.mm(h_in, w_hh_t, out=gh)
        else:
            torch.addmm(b_hh, h_in, w_hh_t, out=gh)  # (B, 3H)
        fwd(B, H, gi_p + t * step_g, gh_p, h_p, mask_p, out_p + t * step_h, hm_p, save_p + t * step_s)
        h_p = out_p + t * step_h
        if mask is None:
            h_in = outs[t]
    return (save,) if training else ()


def _backward_native(kernels, grad_out, save, h0, w_hh, mask, out, need_dh0):
    T, B, H = out.shape
    esize = kernels.element_size
    dgh = out.new_empty(T, B, 3 * H)
    dgi = out.new_empty(T, B, 3 * H)
    carry = out.new_zeros(B, H)  # dh_t ⊙ z_t: the part of dh_{t-1} that skips the matmul
    mm = out.new_empty(B, H)  # dgates_h W_hh
    seq = native.sequence_blas(out.dtype, B)
    if seq is not None:
        gemm, local, nt = seq
        w_hh_c = w_hh.contiguous()
        kernels.seq_backward(T, B, H, pointer(grad_out), w_hh_c.data_ptr(), carry.data_ptr(), mm.data_ptr(),
                             pointer(mask), save.data_ptr(), out.data_ptr(), h0.data_ptr(), dgh.data_ptr(),
                             dgi.data_ptr(), int(need_dh0), nt, gemm, local)
        dh0 = None
        if need_dh0:
            dh0 = carry + mm if mask is None else torch.addcmul(carry, mm, mask)
        return dgh, dgi, dh0
    dghs = dgh.unbind(0)
    g_p, s_p, o_p, dgh_p, dgi_p = (pointer(t) for t in (grad_out, save, out, dgh, dgi))
    carry_p, mm_p, mask_p, h0_p = carry.data_ptr(), mm.data_ptr(), pointer(mask), h0.data_ptr()
    step_h, step_g, step_s = B * H * esize, B * 3 * H * esize, B * 4 * H * esize
    bwd = kernels.backward
    have_mm = False
    for t in range(T - 1, -1, -1):
        bwd(
            B, H,
            None if g_p is None else g_p + t * step_h,
            carry_p,
            mm_p if have_mm else None,
            mask_p,
            s_p + t * step_s,
            h0_p if t == 0 else o_p + (t - 1) * step_h,
            dgh_p + t * step_g,
            dgi_p + t * step_g,
        )  # fmt: skip
        if t > 0 or need_dh0:
            torch.mm(dghs[t], w_hh, out=mm)  # (B, H)
            have_mm = True
    dh0 = None
    if need_dh0:
        dh0 = carry + mm if mask is None else torch.addcmul(carry, mm, mask)
    return dgh, dgi, dh0


def _forward_aten(gi, h0, hm0, w_hh, b_hh, mask, out):
    T, B, H3 = gi.shape
    H = H3 // 3
    gh = gi.new_empty(T, B, H3)  # W_hh h_{t-1} + b_hh; its n block is saved for backward
    rz = gi.new_empty(T, B, 2 * H)
    n = gi.new_empty(T, B, H)
    w_hh_t = w_hh.t()
    gi_rz, gi_n = gi[..., : 2 * H].unbind(0), gi[..., 2 * H :].unbind(0)
    ghs, gh_rz, gh_n = gh.unbind(0), gh[..., : 2 * H].unbind(0), gh[..., 2 * H :].unbind(0)
    rzs, rs, zs, ns, outs = rz.unbind(0), rz[..., :H].unbind(0), rz[..., H:].unbind(0), n.unbind(0), out.unbind(0)
    h, h_in = h0, hm0
    for t in range(T):
        if b_hh is None:
            torch.mm(h_in, w_hh_t, out=ghs[t])
        else:
            torch.addmm(b_hh, h_in, w_hh_t, out=ghs[t])  # (B, 3H)
        torch.add(gi_rz[t], gh_rz[t], out=rzs[t]).sigmoid_()  # r | z
        torch.addcmul(gi_n[t], rs[t], gh_n[t], out=ns[t]).tanh_()  # n
        h = torch.addcmul(ns[t], zs[t], h - ns[t], out=outs[t])  # (1 - z) n + z h_{t-1}
        h_in = h if mask is None else h * mask
    return rz, n, gh


def _backward_aten(grad_out, saved, h0, w_hh, mask, out):
    rz, n, gh = saved
    T, B, H = out.shape
    r, z, hn = rz[..., :H], rz[..., H:], gh[..., 2 * H :]
    h_prev = torch.cat((h0.unsqueeze(0), out[:-1]), 0)
    # Local derivatives that do not depend on the recurrence, in bulk over all steps:
    dn_dh = (1 - z) * (1 - n * n)  # d a_n / d h_t (a_n: pre-activation of n)
    dz_dh = (h_prev - n) * z * (1 - z)  # d a_z / d h_t
    dr_dn = hn * r * (1 - r)  # d a_r / d a_n
    dgh = out.new_empty(T, B, 3 * H)
    dn_all = out.new_empty(T, B, H)
    dghs = dgh.unbind(0)
    dr_o, dz_o, dhn_o = (dgh[..., k * H : (k + 1) * H].unbind(0) for k in range(3))
    grads = None if grad_out is None else grad_out.unbind(0)
    rs, zs, dns = r.unbind(0), z.unbind(0), dn_all.unbind(0)
    dn_dhs, dz_dhs, dr_dns = dn_dh.unbind(0), dz_dh.unbind(0), dr_dn.unbind(0)
    dh = out.new_zeros(B, H)
    for t in range(T - 1, -1, -1):
        if grads is not None:
            dh = dh + grads[t]
        dn = torch.mul(dh, dn_dhs[t], out=dns[t])
        torch.mul(dn, dr_dns[t], out=dr_o[t])
        torch.mul(dh, dz_dhs[t], out=dz_o[t])
        torch.mul(dn, rs[t], out=dhn_o[t])  # r multiplies (W_hn h + b_hn): reset-after form
        if mask is None:
            dh = torch.addmm(dh * zs[t], dghs[t], w_hh)
        else:
            dh = torch.addcmul(dh * zs[t], dghs[t] @ w_hh, mask)
    dgi = torch.cat((dgh[..., : 2 * H], dn_all), -1)  # (T, B, 3H)
    return dgh, dgi, dh
