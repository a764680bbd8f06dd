"""Backpropagation through time written out for the LSTM family (the fast generic path).

Why a custom ``torch.autograd.Function`` and not autograd over a step loop: a Python
loop records a dozen autograd nodes per step and pays ~3-5 µs per ATen call, which is
the whole gap to torch's fused kernel at small batch (../shared/notes/fast-recurrence.md).
Here, per layer-direction:

* forward: the input projection of all T steps is one matmul ``(T·B, I) @ W_ihᵀ`` before
  the loop; each step does only ``gates_t += h_{t-1} W_hhᵀ`` plus the pointwise cell
  update, and keeps the gate activations for backward;
* backward: one loop from t = T−1 down to 0 computes the gate gradients of the step and
  ``dh_{t-1} = dgates_t @ W_hh`` (times the recurrent-dropout mask); then the weight
  gradients are single large matmuls over all steps: ``dW_hh = dgatesᵀ · h_{t-1}``,
  ``dW_ih = dgatesᵀ · x``, ``dx = dgates · W_ih``, ``db = Σ dgates``.

The "native" path (contiguous float32/float64 CPU tensors, compiler present) runs each
whole time loop in one C call (the ``*_seq_*`` kernels of ``lstm_native.c``, bound by
``native.LSTM_SOURCE``): the recurrent matmul goes to the BLAS torch links
(``_cbuild.torch_blas``), and each thread owns a block of batch rows for all T steps, so
the loop has no barrier and no return to Python per step (2 threads, notes' batch 64 on a
busy machine: the layer's training step 1.9× faster than one torch matmul plus one C call
per step, which stays as the fallback when the BLAS cannot be found). The "aten" path runs
the same equations as a handful of in-place ATen ops per step (any device or dtype). The
input-side matmuls go through ``projection`` (oneDNN for float32). All paths are tested
against the reference loop over ``seqlab.nn.cells``.

Variants (``LSTMKind``): standard, peephole (Gers & Schmidhuber 2000) and coupled
input/forget gate (CIFG) share ``GatedLSTMSequence``; the layer-normalised LSTM (Ba et al.
2016) has its own Function because its recurrent pre-activation is normalised before it is
added to the input part.
"""

from __future__ import annotations

import enum

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from seqlab.nn.cells import LAYERNORM_EPS
from seqlab.nn.kernels import native, projection
from seqlab.nn.kernels.native import NativeKernels, pointer


class LSTMKind(enum.IntEnum):
    """The variants ``GatedLSTMSequence`` runs; the values are ``enum lstm_kind`` in lstm_native.c."""

    STANDARD = 0  # gates i, f, g, o (torch.nn.LSTM)
    PEEPHOLE = 1  # i, f, g, o, with C_{t-1} into i and f and C_t into o (Gers & Schmidhuber 2000)
    COUPLED = 2  # f, g, o with i = 1 - f (CIFG, Greff et al. 2017)


#: A step whose gate buffer has at least this many elements (B·G·H) is split over all
#: torch threads; below it waking the OpenMP team costs more than it saves (batch 16 ×
#: hidden 128 stays on one thread, batch 64 × hidden 128 and up are split).
PARALLEL_MIN_ELEMENTS = 16384


def _threads(elements: int) -> int:
    return torch.get_num_threads() if elements >= PARALLEL_MIN_ELEMENTS else 1


def _sum_of_products(a: Tensor, b: Tensor, chunk_elements: int = 1 << 16) -> Tensor:
    """Σ over the leading dims of a * b -> (last dim,), in cache-sized chunks of dim 0.

    One ``(a * b).sum((0, 1))`` over a (T, B, H) buffer allocates (and page-faults) a
    temporary as large as the buffer; chunks of ~256 KB stay in cache.
    """
    rows = max(1, chunk_elements // max(1, a.shape[1:].numel()))
    total = a.new_zeros(a.shape[-1])
    for a_c, b_c in zip(a.split(rows), b.split(rows)):
        total += (a_c * b_c).sum(tuple(range(a.dim() - 1)))
    return total


def _unbind(t: Tensor | None, n: int) -> list:
    return [None] * n if t is None else list(t.unbind(0))


# ----------------------------------------------------------------------------------------
# Standard / peephole / coupled
# ----------------------------------------------------------------------------------------


def _aten_forward_step(kind: LSTMKind, g: Tensor, c_prev: Tensor, c_out: Tensor, h_out: Tensor, peep: Tensor | None):
    """In place: g (B, G·H) pre-activations -> activations; writes c_t and h_t."""
    if kind == LSTMKind.COUPLED:
        f, u, o = g.chunk(3, 1)
        f.sigmoid_()
        u.tanh_()
        o.sigmoid_()
        torch.sub(c_prev, u, out=c_out)  # C_t = f C_{t-1} + (1 − f) C̃ = C̃ + f (C_{t-1} − C̃)
        c_out.mul_(f).add_(u)
    else:
        i, f, u, o = g.chunk(4, 1)
        if kind == LSTMKind.PEEPHOLE:
            i.addcmul_(c_prev, peep[0])
            f.addcmul_(c_prev, peep[1])
        g[:, : 2 * i.shape[1]].sigmoid_()  # i and f together: one call on a wider slice
        u.tanh_()
        torch.mul(f, c_prev, out=c_out)
        c_out.addcmul_(i, u)
        if kind == LSTMKind.PEEPHOLE:
            o.addcmul_(c_out, peep[2])
        o.sigmoid_()
    torch.tanh(c_out, out=h_out)
    h_out.mul_(o)


def _aten_backward_step(kind, act, c_prev, c_t, dh_out, dh_rec, mask, dc_out, dc, dg, peep):
    """Gate gradients of one step into dg (B, G·H); returns dL/dc_{t-1}."""
    dh = dh_rec if mask is None or dh_rec is None else dh_rec * mask
    if dh_out is not None:
        dh = dh_out if dh is None else dh + dh_out
    if dh is None:
        dh = torch.zeros_like(c_t)
    tc = torch.tanh(c_t)
    o = act.chunk(4 if kind != LSTMKind.COUPLED else 3, 1)[-1]
    dct = dh * o * (1 - tc * tc) + dc
    if dc_out is not None:
        dct += dc_out
    d_o = dh * tc * o * (1 - o)
    if kind == LSTMKind.COUPLED:
        f, u, _ = act.chunk(3, 1)
        d_f = dct * (c_prev - u) * f * (1 - f)
        d_u = dct * (1 - f) * (1 - u * u)
        torch.cat((d_f, d_u, d_o), 1, out=dg)
        return dct * f
    i, f, u, _ = act.chunk(4, 1)
    if kind == LSTMKind.PEEPHOLE:
        dct += d_o * peep[2]
    d_i = dct * u * i * (1 - i)
    d_f = dct * c_prev * f * (1 - f)
    d_u = dct * i * (1 - u * u)
    torch.cat((d_i, d_f, d_u, d_o), 1, out=dg)
    dc_prev = dct * f
    if kind == LSTMKind.PEEPHOLE:
        dc_prev += d_i * peep[0] + d_f * peep[1]
    return dc_prev


class GatedLSTMSequence(torch.autograd.Function):
    """One layer-direction of a standard, peephole or coupled LSTM over T steps.

    Inputs: x (T, B, I), w_ih (G·H, I), bias (G·H,) or None (= b_ih + b_hh), w_hh (G·H, H),
    peep (3, H) or None, h0, c0 (B, H), mask (B, H) or None.
    Outputs: hs, cs (T, B, H): h_t and C_t after every step.
    """

    @staticmethod
    def forward(ctx, kind: LSTMKind, kernels: NativeKernels | None, x, w_ih, bias, w_hh, peep, h0, c0, mask):
        ctx.set_materialize_grads(False)
        T, B, I = x.shape  # noqa: E741
        H = h0.shape[1]
        G = w_hh.shape[0]
        h0, c0 = h0.contiguous(), c0.contiguous()
        mask = None if mask is None else mask.contiguous()
        peep = None if peep is None else peep.contiguous()
        x2 = x.reshape(T * B, I)
        # All steps' input projection in one matmul; the buffer then holds every step's gates.
        gates = projection.linear(x2, w_ih, bias).view(T, B, G)  # (T, B, G)
        hs, cs = x.new_empty(T, B, H), x.new_empty(T, B, H)
        hm = None
        if mask is not None:  # hm[t] = h_{t-1} * mask: the recurrent matmul's input (and dW_hh's)
            hm = x.new_empty(T, B, H)
            if T:
                torch.mul(h0, mask, out=hm[0])
        seq_blas = native.sequence_blas(x.dtype, B) if kernels is not None else None
        if seq_blas is not None:
            gemm, local, nt = seq_blas
            w_hh_c = w_hh.contiguous()
            kernels.lstm_seq_forward(
                kind, T, B, H, gates.data_ptr(), w_hh_c.data_ptr(), h0.data_ptr(), c0.data_ptr(), hs.data_ptr(),
                cs.data_ptr(), pointer(hm), pointer(mask), pointer(peep), nt, gemm, local)
        else:  # per step: the recurrent matmul in torch, the pointwise part in C or ATen
            w_hhT = w_hh.t()
            g_l, h_l, c_l, hm_l = gates.unbind(0), hs.unbind(0), cs.unbind(0), _unbind(hm, T)
            h_prev, c_prev = (h0 if mask is None else hm_l[0] if T else h0), c0
            if kernels is not None:
                fn = kernels.lstm_forward
                nt = _threads(B * G)
                p_mask, p_peep = pointer(mask), pointer(peep)
                for t in range(T):
                    g_l[t].addmm_(h_prev, w_hhT)
                    hm_next = hm_l[t + 1] if mask is not None and t + 1 < T else None
                    fn(kind, B, H, g_l[t].data_ptr(), c_prev.data_ptr(), c_l[t].data_ptr(), h_l[t].data_ptr(),
                       pointer(hm_next), p_mask, p_peep, nt)
                    h_prev = h_l[t] if mask is None else hm_next
                    c_prev = c_l[t]
            else:
                for t in range(T):
                    g_l[t].addmm_(h_prev, w_hhT)
                    _aten_forward_step(kind, g_l[t], c_prev, c_l[t], h_l[t], peep)
                    if mask is not None and t + 1 < T:
                        torch.mul(h_l[t], mask, out=hm_l[t + 1])
                        h_prev = hm_l[t + 1]
                    else:
                        h_prev = h_l[t]
                    c_prev = c_l[t]
        ctx.kind, ctx.kernels = kind, kernels
        ctx.gates, ctx.hm = gates, hm  # activations after the loop
        ctx.save_for_backward(x, w_ih, w_hh, peep, h0, c0, mask, hs, cs)
        ctx.has_bias = bias is not None
        return hs, cs

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs, dcs):
        x, w_ih, w_hh, peep, h0, c0, mask, hs, cs = ctx.saved_tensors
        kind, act, hm = ctx.kind, ctx.gates, ctx.hm
        T, B, I = x.shape  # noqa: E741
        H = h0.shape[1]
        G = w_hh.shape[0]
        needs = ctx.needs_input_grad  # (kind, kernels, x, w_ih, bias, w_hh, peep, h0, c0, mask)
        if (dhs is None and dcs is None) or T == 0:
            zero_h = h0.new_zeros(B, H) if needs[7] else None
            zero_c = c0.new_zeros(B, H) if needs[8] else None
            return (None, None, x.new_zeros(x.shape) if needs[2] else None, torch.zeros_like(w_ih) if needs[3] else None,
                    w_hh.new_zeros(G) if needs[4] else None, torch.zeros_like(w_hh) if needs[5] else None,
                    torch.zeros_like(peep) if peep is not None and needs[6] else None, zero_h, zero_c, None)
        dhs = None if dhs is None else dhs.contiguous()
        dcs = None if dcs is None else dcs.contiguous()
        dgates = x.new_empty(T, B, G)
        dc = c0.new_zeros(B, H)  # dL/dC carried backwards through the recurrence
        dh_rec = h0.new_empty(B, H)  # dgates_{t+1} @ W_hh, unmasked
        seq_blas = native.sequence_blas(x.dtype, B) if ctx.kernels is not None else None
        if seq_blas is not None:
            gemm, local, nt = seq_blas
            zero = h0.new_zeros(B, H)  # an absent gradient: step stride 0 (see lstm_native.c)
            m = mask if mask is not None else h0.new_ones(B, H)
            dh_rec.zero_()
            w_hh_c = w_hh.contiguous()
            # peephole: per-thread sums of the peephole gradients, accumulated by the C loop
            peep_sums = x.new_zeros(nt, 3, H) if peep is not None and needs[6] else None
            ctx.kernels.lstm_seq_backward(
                kind, T, B, H, act.data_ptr(), w_hh_c.data_ptr(), c0.data_ptr(), cs.data_ptr(),
                (zero if dhs is None else dhs).data_ptr(), 0 if dhs is None else B * H,
                (zero if dcs is None else dcs).data_ptr(), 0 if dcs is None else B * H,
                m.data_ptr(), dc.data_ptr(), dh_rec.data_ptr(), dgates.data_ptr(), pointer(peep), pointer(peep_sums),
                nt, gemm, local)
        else:
            a_l, dg_l, c_l = act.unbind(0), dgates.unbind(0), cs.unbind(0)
            dh_l, dc_l = _unbind(dhs, T), _unbind(dcs, T)
            if ctx.kernels is not None:
                fn = ctx.kernels.lstm_backward
                nt = _threads(B * G)
                zero = h0.new_zeros(B, H)  # stands in for an absent gradient / mask (see lstm_native.c)
                dh_rec.zero_()
                p_zero = zero.data_ptr()
                m = mask if mask is not None else h0.new_ones(B, H)
                p_mask, p_peep, p_dc, p_rec = m.data_ptr(), pointer(peep), dc.data_ptr(), dh_rec.data_ptr()
                for t in range(T - 1, -1, -1):
                    c_prev = c_l[t - 1] if t else c0
                    fn(kind, B, H, a_l[t].data_ptr(), c_prev.data_ptr(), c_l[t].data_ptr(),
                       p_zero if dhs is None else dh_l[t].data_ptr(), p_rec, p_mask,
                       p_zero if dcs is None else dc_l[t].data_ptr(), p_dc, dg_l[t].data_ptr(), p_peep, nt)
                    torch.mm(dg_l[t], w_hh, out=dh_rec)
            else:
                for t in range(T - 1, -1, -1):
                    c_prev = c_l[t - 1] if t else c0
                    dc = _aten_backward_step(kind, a_l[t], c_prev, c_l[t], dh_l[t], dh_rec if t < T - 1 else None,
                                             mask, dc_l[t], dc, dg_l[t], peep)
                    torch.mm(dg_l[t], w_hh, out=dh_rec)
        dh0 = dh_rec if mask is None else dh_rec * mask
        # Everything below is one large matmul or reduction over all T·B rows.
        dg2 = dgates.view(T * B, G)
        dx = projection.matmul(dg2, w_ih).view(T, B, I) if needs[2] else None
        dw_ih = dg2.t() @ x.reshape(T * B, I) if needs[3] else None
        dbias = dg2.sum(0) if needs[4] else None
        dw_hh = None
        if needs[5]:
            if hm is not None:
                dw_hh = dg2.t() @ hm.view(T * B, H)
            else:  # h_{t-1} = (h0, hs[0], ..., hs[T-2]) without building the stacked copy
                dw_hh = dgates[0].t() @ h0
                if T > 1:
                    dw_hh.addmm_(dg2[B:].t(), hs[:-1].reshape((T - 1) * B, H))
        dpeep = None
        if seq_blas is not None and peep_sums is not None:
            dpeep = peep_sums.sum(0)  # (3, H)
        elif peep is not None and needs[6]:
            # dp_i = Σ_t,b di_t * C_{t-1}, dp_f likewise, dp_o = Σ do_t * C_t (peepholes are diagonal)
            dg0 = dgates[0]
            dpeep = torch.stack((
                (dg0[:, :H] * c0).sum(0) + _sum_of_products(dgates[1:, :, :H], cs[:-1]),
                (dg0[:, H: 2 * H] * c0).sum(0) + _sum_of_products(dgates[1:, :, H: 2 * H], cs[:-1]),
                _sum_of_products(dgates[..., 3 * H:], cs),
            ))
        return None, None, dx, dw_ih, dbias, dw_hh, dpeep, dh0, dc, None


# ----------------------------------------------------------------------------------------
# Layer-normalised LSTM
# ----------------------------------------------------------------------------------------


def _ln_forward_step_aten(xg, hh, rstd, gain_hh, act, c_prev, c_out, gain_c, bias_c, nc, rstd_c, h_out):
    """ATen version of ``layernorm_forward`` in lstm_native.c (one step, in place)."""
    var, mean = torch.var_mean(hh, 1, unbiased=False, keepdim=True)
    rs = (var + LAYERNORM_EPS).rsqrt_()
    rstd.copy_(rs.squeeze(1))
    hh.sub_(mean).mul_(rs)  # n: the normalised recurrent pre-activation
    torch.addcmul(xg, hh, gain_hh, out=act)
    H = c_prev.shape[1]
    i, f, u, o = act.chunk(4, 1)
    u.tanh_()
    act[:, : 2 * H].sigmoid_()
    o.sigmoid_()
    torch.mul(f, c_prev, out=c_out)
    c_out.addcmul_(i, u)
    var_c, mean_c = torch.var_mean(c_out, 1, unbiased=False, keepdim=True)
    rc = (var_c + LAYERNORM_EPS).rsqrt_()
    rstd_c.copy_(rc.squeeze(1))
    torch.sub(c_out, mean_c, out=nc).mul_(rc)
    cn = nc * gain_c if bias_c is None else torch.addcmul(bias_c, nc, gain_c)
    torch.tanh(cn, out=h_out)
    h_out.mul_(o)


def _ln_backward_step_aten(act, n, rstd, gain_hh, c_prev, nc, rstd_c, gain_c, bias_c, dh_out, dh_rec, mask,
                           dc_out, dc, da, dhh, dcn):
    """ATen version of ``layernorm_backward``; returns dL/dC_{t-1}."""
    dh = dh_rec if mask is None or dh_rec is None else dh_rec * mask
    if dh_out is not None:
        dh = dh_out if dh is None else dh + dh_out
    if dh is None:
        dh = torch.zeros_like(nc)
    i, f, u, o = act.chunk(4, 1)
    cn = nc * gain_c if bias_c is None else torch.addcmul(bias_c, nc, gain_c)
    tcn = torch.tanh(cn)
    d_o = dh * tcn * o * (1 - o)
    torch.mul(dh * o, 1 - tcn * tcn, out=dcn)
    dz = dcn * gain_c  # LayerNorm backward over H: rstd (dz − mean(dz) − z mean(dz z))
    dc_ln = rstd_c.unsqueeze(1) * (dz - dz.mean(1, keepdim=True) - nc * (dz * nc).mean(1, keepdim=True))
    dct = dc + dc_ln
    if dc_out is not None:
        dct += dc_out
    torch.cat((dct * u * i * (1 - i), dct * c_prev * f * (1 - f), dct * i * (1 - u * u), d_o), 1, out=da)
    dn = da * gain_hh
    torch.sub(dn, dn.mean(1, keepdim=True), out=dhh)
    dhh.sub_(n * (dn * n).mean(1, keepdim=True)).mul_(rstd.unsqueeze(1))
    return dct * f


class LayerNormLSTMSequence(torch.autograd.Function):
    """One layer-direction of the layer-normalised LSTM over T steps.

    Inputs: xg (T, B, 4H) = LN(x W_ihᵀ; gain_ih) + bias_ih, computed in bulk by the caller
    (autograd handles that part); w_hh (4H, H); gain_hh (4H,); gain_c (H,); bias_c (H,) or
    None; h0, c0 (B, H); mask (B, H) or None. Outputs: hs, cs (T, B, H).
    """

    @staticmethod
    def forward(ctx, kernels: NativeKernels | None, xg, w_hh, gain_hh, gain_c, bias_c, h0, c0, mask):
        ctx.set_materialize_grads(False)
        T, B, G = xg.shape
        H = h0.shape[1]
        xg = xg.contiguous()
        h0, c0 = h0.contiguous(), c0.contiguous()
        mask = None if mask is None else mask.contiguous()
        gain_hh, gain_c = gain_hh.contiguous(), gain_c.contiguous()
        bias_c = None if bias_c is None else bias_c.contiguous()
        new = xg.new_empty
        hh, act, nc = new(T, B, G), new(T, B, G), new(T, B, H)
        rstd, rstd_c = new(T, B), new(T, B)
        hs, cs = new(T, B, H), new(T, B, H)
        hm = None
        if mask is not None:
            hm = new(T, B, H)
            if T:
                torch.mul(h0, mask, out=hm[0])
        seq_blas = native.sequence_blas(xg.dtype, B) if kernels is not None else None
        if seq_blas is None:  # per-step loop below: views of every step's slices
            w_hhT = w_hh.t()
            x_l, hh_l, a_l, nc_l = xg.unbind(0), hh.unbind(0), act.unbind(0), nc.unbind(0)
            r_l, rc_l, h_l, c_l, hm_l = rstd.unbind(0), rstd_c.unbind(0), hs.unbind(0), cs.unbind(0), _unbind(hm, T)
            h_prev, c_prev = (h0 if mask is None else hm_l[0] if T else h0), c0
        if kernels is not None:
            fn = kernels.layernorm_forward
            nt = _threads(B * G)
            shift_c = bias_c if bias_c is not None else gain_c.new_zeros(H)  # no NULL (see lstm_native.c)
            p_ghh, p_gc, p_bc, p_mask = gain_hh.data_ptr(), gain_c.data_ptr(), shift_c.data_ptr(), pointer(mask)
        if seq_blas is not None:
            gemm, local, nt = seq_blas
            w_hh_c = w_hh.contiguous()
            kernels.layernorm_seq_forward(
                T, B, H, xg.data_ptr(), hh.data_ptr(), rstd.data_ptr(), p_ghh, act.data_ptr(), h0.data_ptr(),
                c0.data_ptr(), hs.data_ptr(), cs.data_ptr(), p_gc, p_bc, nc.data_ptr(), rstd_c.data_ptr(), pointer(hm),
                p_mask, LAYERNORM_EPS, w_hh_c.data_ptr(), nt, gemm, local)
        for t in range(T if seq_blas is None else 0):
            torch.mm(h_prev, w_hhT, out=hh_l[t])
            hm_next = hm_l[t + 1] if mask is not None and t + 1 < T else None
            if kernels is not None:
                fn(B, H, x_l[t].data_ptr(), hh_l[t].data_ptr(), r_l[t].data_ptr(), p_ghh, a_l[t].data_ptr(),
                   c_prev.data_ptr(), c_l[t].data_ptr(), p_gc, p_bc, nc_l[t].data_ptr(), rc_l[t].data_ptr(),
                   h_l[t].data_ptr(), pointer(hm_next), p_mask, LAYERNORM_EPS, nt)
            else:
                _ln_forward_step_aten(x_l[t], hh_l[t], r_l[t], gain_hh, a_l[t], c_prev, c_l[t], gain_c, bias_c,
                                      nc_l[t], rc_l[t], h_l[t])
                if hm_next is not None:
                    torch.mul(h_l[t], mask, out=hm_next)
            h_prev = h_l[t] if mask is None else hm_next
            c_prev = c_l[t]
        ctx.kernels = kernels
        ctx.buffers = (hh, act, nc, rstd, rstd_c, hm)
        ctx.save_for_backward(w_hh, gain_hh, gain_c, bias_c, h0, c0, mask, hs, cs)
        return hs, cs

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs, dcs):
        w_hh, gain_hh, gain_c, bias_c, h0, c0, mask, hs, cs = ctx.saved_tensors
        n, act, nc, rstd, rstd_c, hm = ctx.buffers
        T, B, G = act.shape
        H = h0.shape[1]
        needs = ctx.needs_input_grad  # (kernels, xg, w_hh, gain_hh, gain_c, bias_c, h0, c0, mask)
        if (dhs is None and dcs is None) or T == 0:
            z = torch.zeros_like
            return (None, z(act) if needs[1] else None, z(w_hh) if needs[2] else None,
                    z(gain_hh) if needs[3] else None, z(gain_c) if needs[4] else None,
                    z(bias_c) if bias_c is not None and needs[5] else None,
                    z(h0) if needs[6] else None, z(c0) if needs[7] else None, None)
        dhs = None if dhs is None else dhs.contiguous()
        dcs = None if dcs is None else dcs.contiguous()
        new = act.new_empty
        da, dhh, dcn = new(T, B, G), new(T, B, G), new(T, B, H)
        dc = c0.new_zeros(B, H)
        dh_rec = h0.new_empty(B, H)
        seq_blas = native.sequence_blas(act.dtype, B) if ctx.kernels is not None else None
        if seq_blas is None:  # per-step loop below: views of every step's slices
            a_l, n_l, r_l, nc_l, rc_l, c_l = (t.unbind(0) for t in (act, n, rstd, nc, rstd_c, cs))
            da_l, dhh_l, dcn_l = da.unbind(0), dhh.unbind(0), dcn.unbind(0)
            dh_l, dc_l = _unbind(dhs, T), _unbind(dcs, T)
        if ctx.kernels is not None:
            fn = ctx.kernels.layernorm_backward
            nt = _threads(B * G)
            # The backward kernel takes no NULL pointers (see lstm_native.c): zeros and ones stand in.
            zero = h0.new_zeros(B, H)
            shift_c = bias_c if bias_c is not None else gain_c.new_zeros(H)
            m = mask if mask is not None else h0.new_ones(B, H)
            dh_rec.zero_()
            p_ghh, p_gc, p_bc, p_mask = gain_hh.data_ptr(), gain_c.data_ptr(), shift_c.data_ptr(), m.data_ptr()
            p_dc, p_rec, p_zero = dc.data_ptr(), dh_rec.data_ptr(), zero.data_ptr()
        sums = None  # the C loop's per-thread sums: dgain_hh | dgain_c | dbias_c
        if seq_blas is not None:
            gemm, local, nt = seq_blas
            w_hh_c = w_hh.contiguous()
            sums = act.new_zeros(nt, G + 2 * H)
            ctx.kernels.layernorm_seq_backward(
                T, B, H, act.data_ptr(), n.data_ptr(), rstd.data_ptr(), p_ghh, c0.data_ptr(), cs.data_ptr(),
                nc.data_ptr(), rstd_c.data_ptr(), p_gc, p_bc, p_zero if dhs is None else dhs.data_ptr(),
                0 if dhs is None else B * H, p_zero if dcs is None else dcs.data_ptr(), 0 if dcs is None else B * H,
                p_mask, p_dc, p_rec, da.data_ptr(), dhh.data_ptr(), dcn.data_ptr(), w_hh_c.data_ptr(),
                sums.data_ptr(), nt, gemm, local)
            sums = sums.sum(0)
        for t in range(T - 1, -1, -1) if seq_blas is None else ():
            c_prev = c_l[t - 1] if t else c0
            if ctx.kernels is not None:
                fn(B, H, a_l[t].data_ptr(), n_l[t].data_ptr(), r_l[t].data_ptr(), p_ghh, c_prev.data_ptr(),
                   nc_l[t].data_ptr(), rc_l[t].data_ptr(), p_gc, p_bc,
                   p_zero if dhs is None else dh_l[t].data_ptr(), p_rec, p_mask,
                   p_zero if dcs is None else dc_l[t].data_ptr(), p_dc, da_l[t].data_ptr(), dhh_l[t].data_ptr(),
                   dcn_l[t].data_ptr(), nt)
            else:
                rec = dh_rec if t < T - 1 else None
                dc = _ln_backward_step_aten(a_l[t], n_l[t], r_l[t], gain_hh, c_prev, nc_l[t], rc_l[t], gain_c,
                                            bias_c, dh_l[t], rec, mask, dc_l[t], dc, da_l[t], dhh_l[t], dcn_l[t])
            torch.mm(dhh_l[t], w_hh, out=dh_rec)
        dh0 = dh_rec if mask is None else dh_rec * mask
        dw_hh = None
        if needs[2]:
            dhh2 = dhh.view(T * B, G)
            if hm is not None:
                dw_hh = dhh2.t() @ hm.view(T * B, H)
            else:
                dw_hh = dhh[0].t() @ h0
                if T > 1:
                    dw_hh.addmm_(dhh2[B:].t(), hs[:-1].reshape((T - 1) * B, H))
        if sums is not None:
            dgain_hh, dgain_c, dbias_c = sums[:G], sums[G: G + H], sums[G + H:]
        else:
            dgain_hh = _sum_of_products(da, n) if needs[3] else None
            dgain_c = _sum_of_products(dcn, nc) if needs[4] else None
            dbias_c = dcn.sum((0, 1)) if bias_c is not None and needs[5] else None
        dgain_hh = dgain_hh if needs[3] else None
        dgain_c = dgain_c if needs[4] else None
        dbias_c = dbias_c if bias_c is not None and needs[5] else None
        return None, da, dw_hh, dgain_hh, dgain_c, dbias_c, dh0, dc, None
