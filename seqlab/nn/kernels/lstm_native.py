"""Fused pointwise C kernels for one time step of the LSTM family, loaded through ctypes.

Why: per ATen call on a small tensor costs ~3-5 µs, and an LSTM step is a dozen such
calls; one C call per step removes that overhead (../shared/notes/fast-recurrence.md:
~0.9 × torch.nn.LSTM at batch 16 instead of ~0.7 ×). The matmuls stay in torch (MKL).

* Per family (lstm, peephole, coupled share one set; layernorm its own): a forward and a
  backward step kernel, and ``*_seq_forward``/``*_seq_backward`` that run the whole time
  loop, calling BLAS ``?gemm_`` (an address from ``_cbuild.torch_blas``) for the recurrent
  matmul; all stamped for ``float`` (``_f32``) and ``double`` (``_f64``, so gradcheck
  covers them). The per-row math is shared (``*_row`` functions).
* Rows of the batch are independent: the step kernels split large steps over threads with
  OpenMP (``nthreads``; 1 for small steps where waking threads costs more than it saves);
  the sequence loops give each thread a block of rows for all T steps (no barrier at all).
* σ and tanh use a vectorisable exp (Cephes' ``expf`` polynomial, ~1 ulp) in float;
  libm's ``exp`` in double.
* Built at first use by ``_cbuild.load_c_library`` (≈1 s of gcc CPU time, then cached on
  disk; built without ``-ffast-math``, see ``FLAGS``); when that
  returns ``None`` the caller runs the same step in ATen (``lstm_bptt``).

Pointer arguments are raw addresses (``tensor.data_ptr()``) of contiguous CPU tensors;
the forward kernels take ``None`` for an absent mask/peephole, the backward kernels need
every pointer (the caller passes zeros/ones) so that gcc can vectorise their loops.
Layouts per row b: gates (G·H,) in torch.nn's block order; states (H,). Inner loops carry
``#pragma GCC ivdep``: without it gcc gives up on the four gate blocks of one buffer
(possible aliasing) and the forward step ran 10 × slower (192 µs vs 19 µs at B=64, H=128).
"""

from __future__ import annotations

import ctypes

import torch

from seqlab.nn.kernels._cbuild import load_c_library

_HEADER = r"""
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* MKL's mkl_set_num_threads_local (Fortran interface, by reference): the calling thread's
   BLAS thread count; 0 means "the global setting again". Returns the previous value. */
typedef int (*threads_local_t)(const int *);

/* This thread's block [b0, b1) of the B batch rows. BLAS is made single-threaded for the
   calling thread even when the loop runs on one thread: the loops split work themselves, and
   a BLAS team woken for each small matmul was up to 10x slower on a busy 2-core machine.
   Returns what slice_end must restore (-1: nothing). */
static int slice_begin(int nthreads, int B, int *b0, int *b1, void *tl_p) {
    int tid = 0, nt = 1;
#ifdef _OPENMP
    if (nthreads > 1) { tid = omp_get_thread_num(); nt = omp_get_num_threads(); }
#endif
    *b0 = (int)((int64_t)B * tid / nt);
    *b1 = (int)((int64_t)B * (tid + 1) / nt);
    if (tl_p) { const int one = 1; return ((threads_local_t)tl_p)(&one); }
    return -1;
}
static void slice_end(int prev, void *tl_p) {
    if (prev >= 0 && tl_p) ((threads_local_t)tl_p)(&prev);
}

/* Cephes expf: range reduction by ln 2 in two parts, degree-5 polynomial, 2^n by bits.
   Written so gcc vectorises loops that call it (libm's expf is not vectorised without
   -ffinite-math-only). Input clamped so the result is a normal float. */
static inline float exp_f32(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float z = r * r;
    float y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r
                + 4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    union { int32_t i; float f; } s;
    s.i = ((int32_t)n + 127) << 23;
    return y * s.f;
}
static inline double exp_f64(double x) { return exp(x); }
"""

# The template is stamped once per dtype: `real` -> float/double, `SFX` -> f32/f64.
# Peephole weights: (3, H) = p_i, p_f, p_o. Layer norm uses the biased variance, like F.layer_norm.
_TEMPLATE = r"""
static inline real sig_SFX(real x) { return (real)1 / ((real)1 + exp_SFX(-x)); }
static inline real tanh_SFX(real x) { return (real)2 / ((real)1 + exp_SFX(-2 * x)) - (real)1; }

/* Column-major BLAS ?gemm_ (Fortran interface, 32-bit ints), resolved from torch's MKL. */
typedef void (*gemm_SFX_t)(const char *, const char *, const int *, const int *, const int *, const real *,
                           const real *, const int *, const real *, const int *, const real *, real *, const int *);

/* Row-major c (rows, N) = beta c + a (rows, K) @ w^T, w (N, K): as column-major, c^T = w^T' a^T. */
static inline void mm_wt_SFX(gemm_SFX_t gemm, int rows, int N, int K, const real *a, const real *w, real beta,
                             real *c) {
    const real one = 1;
    if (rows > 0) gemm("T", "N", &N, &rows, &K, &one, w, &K, a, &K, &beta, c, &N);
}

/* Row-major c (rows, N) = a (rows, K) @ w, w (K, N). */
static inline void mm_w_SFX(gemm_SFX_t gemm, int rows, int N, int K, const real *a, const real *w, real *c) {
    const real one = 1, zero = 0;
    if (rows > 0) gemm("N", "N", &N, &rows, &K, &one, w, &N, a, &K, &zero, c, &N);
}

/* ---- one batch row of one step: shared by the per-step kernels and the sequence loops ---- */

/* kind: 0 standard (i f g o), 1 peephole (i f g o), 2 coupled (f g o).
   g: in = pre-activations (x W_ih^T + b + h W_hh^T), out = activations. hm may be NULL. */
static inline void lstm_fwd_row_SFX(int kind, int H, real *g, const real *cp, real *c, real *h, real *hm,
                                    const real *m, const real *peep) {
    if (kind == 0) {
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) {
            real i = sig_SFX(g[j]), f = sig_SFX(g[H + j]), u = tanh_SFX(g[2 * H + j]), o = sig_SFX(g[3 * H + j]);
            real cn = f * cp[j] + i * u;
            g[j] = i; g[H + j] = f; g[2 * H + j] = u; g[3 * H + j] = o;
            c[j] = cn; h[j] = o * tanh_SFX(cn);
        }
    } else if (kind == 1) {
        const real *pi = peep, *pf = peep + H, *po = peep + 2 * H;
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) {
            real i = sig_SFX(g[j] + pi[j] * cp[j]), f = sig_SFX(g[H + j] + pf[j] * cp[j]);
            real u = tanh_SFX(g[2 * H + j]);
            real cn = f * cp[j] + i * u;
            real o = sig_SFX(g[3 * H + j] + po[j] * cn);
            g[j] = i; g[H + j] = f; g[2 * H + j] = u; g[3 * H + j] = o;
            c[j] = cn; h[j] = o * tanh_SFX(cn);
        }
    } else {
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) {
            real f = sig_SFX(g[j]), u = tanh_SFX(g[H + j]), o = sig_SFX(g[2 * H + j]);
            real cn = f * cp[j] + ((real)1 - f) * u;
            g[j] = f; g[H + j] = u; g[2 * H + j] = o;
            c[j] = cn; h[j] = o * tanh_SFX(cn);
        }
    }
    if (hm) {
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) hm[j] = h[j] * m[j];
    }
}

/* One row of backpropagation through time. No pointer may be NULL (loads under a condition
   would stop gcc from vectorising): the caller passes zeros for an absent gradient and ones
   for an absent mask.
   dh = dh_out + dh_rec * mask: dL/dh_t from the output and through the recurrence.
   dc: in = dL/dc_t carried from step t+1 (excluding dc_out), out = dL/dc_{t-1}.
   d: out = dL/d(pre-activation) of every gate block. */
static inline void lstm_bwd_row_SFX(int kind, int H, const real *a, const real *cp, const real *cc,
                                    const real *dho, const real *dhr, const real *m, const real *dco,
                                    real *dcr, real *d, const real *peep) {
    if (kind == 0) {
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) {
            real i = a[j], f = a[H + j], u = a[2 * H + j], o = a[3 * H + j];
            real tc = tanh_SFX(cc[j]);
            real dh = dho[j] + dhr[j] * m[j];
            real dct = dcr[j] + dco[j] + dh * o * ((real)1 - tc * tc);
            d[j] = dct * u * i * ((real)1 - i);
            d[H + j] = dct * cp[j] * f * ((real)1 - f);
            d[2 * H + j] = dct * i * ((real)1 - u * u);
            d[3 * H + j] = dh * tc * o * ((real)1 - o);
            dcr[j] = dct * f;
        }
    } else if (kind == 1) {
        const real *pi = peep, *pf = peep + H, *po = peep + 2 * H;
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) {
            real i = a[j], f = a[H + j], u = a[2 * H + j], o = a[3 * H + j];
            real tc = tanh_SFX(cc[j]);
            real dh = dho[j] + dhr[j] * m[j];
            real d_o = dh * tc * o * ((real)1 - o);
            real dct = dcr[j] + dco[j] + dh * o * ((real)1 - tc * tc) + d_o * po[j];
            real d_i = dct * u * i * ((real)1 - i);
            real d_f = dct * cp[j] * f * ((real)1 - f);
            d[j] = d_i; d[H + j] = d_f; d[2 * H + j] = dct * i * ((real)1 - u * u); d[3 * H + j] = d_o;
            dcr[j] = dct * f + d_i * pi[j] + d_f * pf[j];
        }
    } else {
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) {
            real f = a[j], u = a[H + j], o = a[2 * H + j];
            real tc = tanh_SFX(cc[j]);
            real dh = dho[j] + dhr[j] * m[j];
            real dct = dcr[j] + dco[j] + dh * o * ((real)1 - tc * tc);
            d[j] = dct * (cp[j] - u) * f * ((real)1 - f);
            d[H + j] = dct * ((real)1 - f) * ((real)1 - u * u);
            d[2 * H + j] = dh * tc * o * ((real)1 - o);
            dcr[j] = dct * f;
        }
    }
}

/* Layer-normalised LSTM (Ba et al. 2016), one row of one step.
   n: in = h_{t-1} W_hh^T (raw), out = its normalisation (without gain).
   x: LN(x W_ih^T) * gain_ih + bias, computed in bulk before the loop.
   bias_c must not be NULL (zeros when the layer has no bias); hm may be. */
static inline void ln_fwd_row_SFX(int H, const real *x, real *n, real *rstd, const real *gain_hh, real *a,
                                  const real *cp, real *c, const real *gain_c, const real *bias_c, real *z,
                                  real *rstd_c, real *h, real *hm, const real *m, real eps) {
    const int G = 4 * H;
    real mean = 0, var = 0;
    #pragma GCC ivdep
    for (int k = 0; k < G; k++) mean += n[k];
    mean /= G;
    #pragma GCC ivdep
    for (int k = 0; k < G; k++) { real v = n[k] - mean; var += v * v; }
    real rs = (real)1 / sqrt(var / G + eps);
    *rstd = rs;
    #pragma GCC ivdep
    for (int k = 0; k < G; k++) n[k] = (n[k] - mean) * rs;
    real cmean = 0, cvar = 0;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        real i = sig_SFX(n[j] * gain_hh[j] + x[j]);
        real f = sig_SFX(n[H + j] * gain_hh[H + j] + x[H + j]);
        real u = tanh_SFX(n[2 * H + j] * gain_hh[2 * H + j] + x[2 * H + j]);
        real o = sig_SFX(n[3 * H + j] * gain_hh[3 * H + j] + x[3 * H + j]);
        a[j] = i; a[H + j] = f; a[2 * H + j] = u; a[3 * H + j] = o;
        real cn = f * cp[j] + i * u;
        c[j] = cn;
        cmean += cn;
    }
    cmean /= H;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) { real v = c[j] - cmean; cvar += v * v; }
    real rc = (real)1 / sqrt(cvar / H + eps);
    *rstd_c = rc;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        real zz = (c[j] - cmean) * rc;
        z[j] = zz;
        h[j] = a[3 * H + j] * tanh_SFX(zz * gain_c[j] + bias_c[j]);
    }
    if (hm) {
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) hm[j] = h[j] * m[j];
    }
}

/* Backward of one layer-norm row (no NULL pointers, as in lstm_bwd_row). Outputs: d = dL/d(gate
   pre-activation) (also the gradient of xg), dx = dL/d(h_{t-1} W_hh^T), dq = dL/d(LN(c_t)). */
static inline void ln_bwd_row_SFX(int H, const real *a, const real *nn, real rs, const real *gain_hh,
                                  const real *cp, const real *z, real rc, const real *gain_c, const real *bias_c,
                                  const real *dho, const real *dhr, const real *m, const real *dco, real *dcr,
                                  real *d, real *dx, real *dq) {
    const int G = 4 * H;
    real s1 = 0, s2 = 0;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        real o = a[3 * H + j];
        real tcn = tanh_SFX(z[j] * gain_c[j] + bias_c[j]);
        real dh = dho[j] + dhr[j] * m[j];
        d[3 * H + j] = dh * tcn * o * ((real)1 - o);
        real q = dh * o * ((real)1 - tcn * tcn);
        dq[j] = q;
        real dz = q * gain_c[j];
        s1 += dz; s2 += dz * z[j];
    }
    s1 /= H; s2 /= H;
    #pragma GCC ivdep
    for (int j = 0; j < H; j++) {
        real i = a[j], f = a[H + j], u = a[2 * H + j];
        real dct = dcr[j] + dco[j] + rc * (dq[j] * gain_c[j] - s1 - z[j] * s2);
        d[j] = dct * u * i * ((real)1 - i);
        d[H + j] = dct * cp[j] * f * ((real)1 - f);
        d[2 * H + j] = dct * i * ((real)1 - u * u);
        dcr[j] = dct * f;
    }
    real t1 = 0, t2 = 0;
    #pragma GCC ivdep
    for (int k = 0; k < G; k++) { real dn = d[k] * gain_hh[k]; t1 += dn; t2 += dn * nn[k]; }
    t1 /= G; t2 /= G;
    #pragma GCC ivdep
    for (int k = 0; k < G; k++) dx[k] = rs * (d[k] * gain_hh[k] - t1 - nn[k] * t2);
}

/* ---- per-step kernels (the recurrent matmul runs in torch between calls) ---- */

void lstm_forward_SFX(int kind, int B, int H, real *gates, const real *c_prev, real *c_out,
                      real *h_out, real *hm_out, const real *mask, const real *peep, int nthreads) {
    const int G = (kind == 2 ? 3 : 4) * H;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int b = 0; b < B; b++) {
        const ptrdiff_t r = (ptrdiff_t)b * H;
        lstm_fwd_row_SFX(kind, H, gates + (ptrdiff_t)b * G, c_prev + r, c_out + r, h_out + r,
                         hm_out ? hm_out + r : NULL, mask ? mask + r : NULL, peep);
    }
}

void lstm_backward_SFX(int kind, int B, int H, const real *act, const real *c_prev, const real *c_t,
                       const real *dh_out, const real *dh_rec, const real *mask, const real *dc_out,
                       real *dc, real *dgates, const real *peep, int nthreads) {
    const int G = (kind == 2 ? 3 : 4) * H;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int b = 0; b < B; b++) {
        const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;
        lstm_bwd_row_SFX(kind, H, act + rg, c_prev + r, c_t + r, dh_out + r, dh_rec + r, mask + r, dc_out + r,
                         dc + r, dgates + rg, peep);
    }
}

void layernorm_forward_SFX(int B, int H, const real *xg, real *hh, real *rstd, const real *gain_hh,
                           real *act, const real *c_prev, real *c_out, const real *gain_c, const real *bias_c,
                           real *nc, real *rstd_c, real *h_out, real *hm_out, const real *mask, real eps,
                           int nthreads) {
    const int G = 4 * H;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int b = 0; b < B; b++) {
        const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;
        ln_fwd_row_SFX(H, xg + rg, hh + rg, rstd + b, gain_hh, act + rg, c_prev + r, c_out + r, gain_c, bias_c,
                       nc + r, rstd_c + b, h_out + r, hm_out ? hm_out + r : NULL, mask ? mask + r : NULL, eps);
    }
}

void layernorm_backward_SFX(int B, int H, const real *act, const real *n, const real *rstd,
                            const real *gain_hh, const real *c_prev, const real *nc, const real *rstd_c,
                            const real *gain_c, const real *bias_c, const real *dh_out, const real *dh_rec,
                            const real *mask, const real *dc_out, real *dc, real *da, real *dhh, real *dcn,
                            int nthreads) {
    const int G = 4 * H;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int b = 0; b < B; b++) {
        const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;
        ln_bwd_row_SFX(H, act + rg, n + rg, rstd[b], gain_hh, c_prev + r, nc + r, rstd_c[b], gain_c, bias_c,
                       dh_out + r, dh_rec + r, mask + r, dc_out + r, dc + r, da + rg, dhh + rg, dcn + r);
    }
}

/* ---- whole-sequence loops: the recurrent matmul through BLAS, no return to Python per step ----
   Batch rows are independent through the whole recurrence, so each thread owns a block of
   rows for all T steps (its own small gemm and pointwise work) and the threads never
   synchronise inside the loop; a per-step split needs two barriers per step and the
   per-step matmul's own threading. Buffers are (T, B, ·) time-major, contiguous. */

void lstm_seq_forward_SFX(int kind, int T, int B, int H, real *gates, const real *w_hh, const real *h0,
                          const real *c0, real *hs, real *cs, real *hm, const real *mask, const real *peep,
                          int nthreads, void *gemm_p, void *tl_p) {
    const gemm_SFX_t gemm = (gemm_SFX_t)gemm_p;
    const int G = (kind == 2 ? 3 : 4) * H;
    const ptrdiff_t sg = (ptrdiff_t)B * G, sh = (ptrdiff_t)B * H;
    #pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int b0, b1;
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl_p);
        for (int t = 0; t < T; t++) {
            const real *hp = hm ? hm + t * sh : (t ? hs + (t - 1) * sh : h0);  /* h_{t-1} entering the matmul */
            const real *cp = t ? cs + (t - 1) * sh : c0;
            real *g = gates + t * sg;
            mm_wt_SFX(gemm, b1 - b0, G, H, hp + (ptrdiff_t)b0 * H, w_hh, (real)1, g + (ptrdiff_t)b0 * G);
            for (int b = b0; b < b1; b++) {
                const ptrdiff_t r = (ptrdiff_t)b * H;
                lstm_fwd_row_SFX(kind, H, g + (ptrdiff_t)b * G, cp + r, cs + t * sh + r, hs + t * sh + r,
                                 hm && t + 1 < T ? hm + (t + 1) * sh + r : NULL, mask ? mask + r : NULL, peep);
            }
        }
        slice_end(prev, tl_p);
    }
}

/* dhs/dcs: (T, B, H) output gradients, or a (B, H) zero buffer with step stride 0. dc and
   dh_rec (B, H) must start at zero; on return dc = dL/dC_0-input and dh_rec = dgates_0 W_hh. */
void lstm_seq_backward_SFX(int kind, int T, int B, int H, const real *act, const real *w_hh, const real *c0,
                           const real *cs, const real *dhs, int64_t dhs_step, const real *dcs, int64_t dcs_step,
                           const real *mask, real *dc, real *dh_rec, real *dgates, const real *peep,
                           real *acc, int nthreads, void *gemm_p, void *tl_p) {
    const gemm_SFX_t gemm = (gemm_SFX_t)gemm_p;
    const int G = (kind == 2 ? 3 : 4) * H;
    const ptrdiff_t sg = (ptrdiff_t)B * G, sh = (ptrdiff_t)B * H;
    #pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int b0, b1;
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl_p);
#ifdef _OPENMP
        const int tid = nthreads > 1 ? omp_get_thread_num() : 0;
#else
        const int tid = 0;
#endif
        /* Peephole only: this thread's partial sums of the peephole gradients, accumulated while
           the row is in cache: acc (nthreads, 3, H) = sum di C_{t-1} | df C_{t-1} | do C_t, zeros
           on entry (NULL for the other kinds); the caller sums over threads. */
        real *api = acc ? acc + (ptrdiff_t)tid * 3 * H : NULL, *apf = api ? api + H : NULL, *apo = api ? api + 2 * H : NULL;
        for (int t = T - 1; t >= 0; t--) {
            const real *cp = t ? cs + (t - 1) * sh : c0;
            const real *dho = dhs + t * dhs_step, *dco = dcs + t * dcs_step;
            real *d = dgates + t * sg;
            for (int b = b0; b < b1; b++) {
                const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;
                lstm_bwd_row_SFX(kind, H, act + t * sg + rg, cp + r, cs + t * sh + r, dho + r, dh_rec + r, mask + r,
                                 dco + r, dc + r, d + rg, peep);
                if (api) {
                    const real *dr = d + rg, *c_p = cp + r, *c_t = cs + t * sh + r;
                    #pragma GCC ivdep
                    for (int j = 0; j < H; j++) {
                        api[j] += dr[j] * c_p[j]; apf[j] += dr[H + j] * c_p[j]; apo[j] += dr[3 * H + j] * c_t[j];
                    }
                }
            }
            mm_w_SFX(gemm, b1 - b0, H, G, d + (ptrdiff_t)b0 * G, w_hh, dh_rec + (ptrdiff_t)b0 * H);
        }
        slice_end(prev, tl_p);
    }
}

void layernorm_seq_forward_SFX(int T, int B, int H, const real *xg, real *hh, real *rstd, const real *gain_hh,
                               real *act, const real *h0, const real *c0, real *hs, real *cs, const real *gain_c,
                               const real *bias_c, real *nc, real *rstd_c, real *hm, const real *mask, real eps,
                               const real *w_hh, int nthreads, void *gemm_p, void *tl_p) {
    const gemm_SFX_t gemm = (gemm_SFX_t)gemm_p;
    const int G = 4 * H;
    const ptrdiff_t sg = (ptrdiff_t)B * G, sh = (ptrdiff_t)B * H;
    #pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int b0, b1;
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl_p);
        for (int t = 0; t < T; t++) {
            const real *hp = hm ? hm + t * sh : (t ? hs + (t - 1) * sh : h0);
            const real *cp = t ? cs + (t - 1) * sh : c0;
            mm_wt_SFX(gemm, b1 - b0, G, H, hp + (ptrdiff_t)b0 * H, w_hh, (real)0, hh + t * sg + (ptrdiff_t)b0 * G);
            for (int b = b0; b < b1; b++) {
                const ptrdiff_t r = (ptrdiff_t)b * H, rg = t * sg + (ptrdiff_t)b * G, rt = t * sh + r;
                ln_fwd_row_SFX(H, xg + rg, hh + rg, rstd + (ptrdiff_t)t * B + b, gain_hh, act + rg, cp + r, cs + rt,
                               gain_c, bias_c, nc + rt, rstd_c + (ptrdiff_t)t * B + b, hs + rt,
                               hm && t + 1 < T ? hm + (t + 1) * sh + r : NULL, mask ? mask + r : NULL, eps);
            }
        }
        slice_end(prev, tl_p);
    }
}

void layernorm_seq_backward_SFX(int T, int B, int H, const real *act, const real *n, const real *rstd,
                                const real *gain_hh, const real *c0, const real *cs, const real *nc,
                                const real *rstd_c, const real *gain_c, const real *bias_c, const real *dhs,
                                int64_t dhs_step, const real *dcs, int64_t dcs_step, const real *mask, real *dc,
                                real *dh_rec, real *da, real *dhh, real *dcn, const real *w_hh, real *acc,
                                int nthreads, void *gemm_p, void *tl_p) {
    const gemm_SFX_t gemm = (gemm_SFX_t)gemm_p;
    const int G = 4 * H;
    const ptrdiff_t sg = (ptrdiff_t)B * G, sh = (ptrdiff_t)B * H;
    #pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        int b0, b1;
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl_p);
#ifdef _OPENMP
        const int tid = nthreads > 1 ? omp_get_thread_num() : 0;
#else
        const int tid = 0;
#endif
        /* This thread's partial sums of the gain/shift gradients, accumulated while the row's
           values are still in cache: acc (nthreads, 4H + 2H) = dgain_hh | dgain_c | dbias_c,
           zeros on entry; the caller sums over threads. */
        real *ag = acc + (ptrdiff_t)tid * (G + 2 * H), *ac = ag + G, *ab = ac + H;
        for (int t = T - 1; t >= 0; t--) {
            const real *cp = t ? cs + (t - 1) * sh : c0;
            const real *dho = dhs + t * dhs_step, *dco = dcs + t * dcs_step;
            for (int b = b0; b < b1; b++) {
                const ptrdiff_t r = (ptrdiff_t)b * H, rg = t * sg + (ptrdiff_t)b * G, rt = t * sh + r;
                const ptrdiff_t rb = (ptrdiff_t)t * B + b;
                ln_bwd_row_SFX(H, act + rg, n + rg, rstd[rb], gain_hh, cp + r, nc + rt, rstd_c[rb], gain_c, bias_c,
                               dho + r, dh_rec + r, mask + r, dco + r, dc + r, da + rg, dhh + rg, dcn + rt);
                const real *d = da + rg, *nn = n + rg, *q = dcn + rt, *z = nc + rt;
                #pragma GCC ivdep
                for (int k = 0; k < G; k++) ag[k] += d[k] * nn[k];
                #pragma GCC ivdep
                for (int j = 0; j < H; j++) { ac[j] += q[j] * z[j]; ab[j] += q[j]; }
            }
            mm_w_SFX(gemm, b1 - b0, H, G, dhh + t * sg + (ptrdiff_t)b0 * G, w_hh, dh_rec + (ptrdiff_t)b0 * H);
        }
        slice_end(prev, tl_p);
    }
}
"""

SOURCE = _HEADER + "".join(
    _TEMPLATE.replace("real", ctype).replace("SFX", sfx) for ctype, sfx in (("float", "f32"), ("double", "f64"))
)

_P = ctypes.c_void_p
_I = ctypes.c_int
_L = ctypes.c_int64
_SIGNATURES = {
    "lstm_forward": [_I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _I],
    "lstm_backward": [_I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _I],
    "layernorm_forward": [_I, _I] + [_P] * 14 + ["eps", _I],
    "layernorm_backward": [_I, _I] + [_P] * 17 + [_I],
    "lstm_seq_forward": [_I, _I, _I, _I] + [_P] * 9 + [_I, _P, _P],
    "lstm_seq_backward": [_I, _I, _I, _I, _P, _P, _P, _P, _P, _L, _P, _L, _P, _P, _P, _P, _P, _P, _I, _P, _P],
    "layernorm_seq_forward": [_I, _I, _I] + [_P] * 15 + ["eps", _P, _I, _P, _P],
    "layernorm_seq_backward": [_I, _I, _I] + [_P] * 11 + [_L, _P, _L] + [_P] * 8 + [_I, _P, _P],
}
_DTYPES = {torch.float32: ("f32", ctypes.c_float), torch.float64: ("f64", ctypes.c_double)}

#: _cbuild's default flags minus ``-ffast-math``: with it gcc links crtfastmath.o, whose
#: constructor turns on flush-to-zero for the whole process when the library is loaded
#: (torch.tensor([1e-39]) * 1 became 0). The subset kept still lets gcc vectorise the
#: reductions; ``-ffp-contract=fast`` allows FMA.
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fno-signed-zeros",
         "-fassociative-math", "-freciprocal-math", "-ffp-contract=fast", "-fPIC", "-shared", "-fopenmp")

_KERNELS: dict | None = None
_TRIED = False


def kernels() -> dict | None:
    """``{(name, dtype): ctypes function}`` for every kernel, or ``None`` when unavailable.

    The library is compiled on the first call of the process (or loaded from the cache).
    """
    global _KERNELS, _TRIED
    if not _TRIED:
        _TRIED = True
        lib = load_c_library("seqlab_lstm", SOURCE, FLAGS)
        if lib is not None:
            table = {}
            for dtype, (sfx, real) in _DTYPES.items():
                for name, sig in _SIGNATURES.items():
                    fn = getattr(lib, f"{name}_{sfx}")
                    fn.argtypes = [real if a == "eps" else a for a in sig]
                    fn.restype = None
                    table[name, dtype] = fn
            _KERNELS = table
    return _KERNELS

