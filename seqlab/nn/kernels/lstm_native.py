"""Fused pointwise C kernels for one time step of the LSTM family, loaded through ctypes.

Why: per ATen call on a small tensor costs ~3-5 µs, and an LSTM step is a dozen such
calls; one C call per step removes that overhead (../shared/notes/fast-recurrence.md:
~0.9 × torch.nn.LSTM at batch 16 instead of ~0.7 ×). The matmuls stay in torch (MKL).

* One forward and one backward kernel per family (lstm, peephole, coupled, layernorm),
  each stamped for ``float`` (``_f32``) and ``double`` (``_f64``, so gradcheck covers it).
* Rows of the batch are independent, so large steps are split over threads with OpenMP
  (``nthreads`` argument; 1 for small steps where waking threads costs more than it saves).
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

/* kind: 0 standard (i f g o), 1 peephole (i f g o), 2 coupled (f g o).
   gates: in = pre-activations (x W_ih^T + b + h W_hh^T), out = activations. */
void lstm_forward_SFX(int kind, int B, int H, real *gates, const real *c_prev, real *c_out,
                      real *h_out, real *hm_out, const real *mask, const real *peep, int nthreads) {
    const int G = kind == 2 ? 3 : 4;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int b = 0; b < B; b++) {
        real *g = gates + (ptrdiff_t)b * G * H;
        const real *cp = c_prev + (ptrdiff_t)b * H;
        real *c = c_out + (ptrdiff_t)b * H, *h = h_out + (ptrdiff_t)b * H;
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
        if (hm_out) {
            real *hm = hm_out + (ptrdiff_t)b * H;
            const real *m = mask + (ptrdiff_t)b * H;
            #pragma GCC ivdep
            for (int j = 0; j < H; j++) hm[j] = h[j] * m[j];
        }
    }
}

/* One step of backpropagation through time. No pointer may be NULL here (loads under a
   condition would stop gcc from vectorising): the caller passes zeros for an absent
   gradient and ones for an absent mask.
   dh = dh_out + dh_rec * mask: dL/dh_t from the output and through the recurrence.
   dc: in = dL/dc_t carried from step t+1 (excluding dc_out), out = dL/dc_{t-1}.
   dgates: out = dL/d(pre-activation) of every gate block. */
void lstm_backward_SFX(int kind, int B, int H, const real *act, const real *c_prev, const real *c_t,
                       const real *dh_out, const real *dh_rec, const real *mask, const real *dc_out,
                       real *dc, real *dgates, const real *peep, int nthreads) {
    const int G = kind == 2 ? 3 : 4;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int b = 0; b < B; b++) {
        const ptrdiff_t r = (ptrdiff_t)b * H;
        const real *a = act + (ptrdiff_t)b * G * H;
        real *d = dgates + (ptrdiff_t)b * G * H;
        const real *dho = dh_out + r, *dhr = dh_rec + r, *m = mask + r, *dco = dc_out + r;
        const real *cp = c_prev + r, *cc = c_t + r;
        real *dcr = dc + r;
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
}

/* Layer-normalised LSTM (Ba et al. 2016), one step.
   hh: in = h_{t-1} W_hh^T (raw), out = its normalisation n (without gain).
   xg: LN(x W_ih^T) * gain_ih + bias, computed in bulk before the loop.
   bias_c must not be NULL (zeros when the layer has no bias); hm_out/mask may be. */
void layernorm_forward_SFX(int B, int H, const real *xg, real *hh, real *rstd, const real *gain_hh,
                           real *act, const real *c_prev, real *c_out, const real *gain_c, const real *bias_c,
                           real *nc, real *rstd_c, real *h_out, real *hm_out, const real *mask, real eps,
                           int nthreads) {
    const int G = 4 * H;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int b = 0; b < B; b++) {
        const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;
        real *n = hh + rg, *a = act + rg;
        const real *x = xg + rg;
        real mean = 0, var = 0;
        #pragma GCC ivdep
        for (int k = 0; k < G; k++) mean += n[k];
        mean /= G;
        #pragma GCC ivdep
        for (int k = 0; k < G; k++) { real v = n[k] - mean; var += v * v; }
        real rs = (real)1 / sqrt(var / G + eps);
        rstd[b] = rs;
        #pragma GCC ivdep
        for (int k = 0; k < G; k++) n[k] = (n[k] - mean) * rs;
        const real *cp = c_prev + r;
        real *c = c_out + r;
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
        rstd_c[b] = rc;
        real *z = nc + r, *h = h_out + r;
        #pragma GCC ivdep
        for (int j = 0; j < H; j++) {
            real zz = (c[j] - cmean) * rc;
            z[j] = zz;
            real cn = zz * gain_c[j] + bias_c[j];
            h[j] = a[3 * H + j] * tanh_SFX(cn);
        }
        if (hm_out) {
            real *hm = hm_out + r;
            const real *m = mask + r;
            #pragma GCC ivdep
            for (int j = 0; j < H; j++) hm[j] = h[j] * m[j];
        }
    }
}

/* Backward of one layer-norm step (no NULL pointers, as in lstm_backward). Outputs: da = dL/d(gate pre-activation) (also the
   gradient of xg), dhh = dL/d(h_{t-1} W_hh^T), dcn = dL/d(LN(c_t)) (for gain_c/bias_c). */
void layernorm_backward_SFX(int B, int H, const real *act, const real *n, const real *rstd,
                            const real *gain_hh, const real *c_prev, const real *nc, const real *rstd_c,
                            const real *gain_c, const real *bias_c, const real *dh_out, const real *dh_rec,
                            const real *mask, const real *dc_out, real *dc, real *da, real *dhh, real *dcn,
                            int nthreads) {
    const int G = 4 * H;
    #pragma omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)
    for (int b = 0; b < B; b++) {
        const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;
        const real *a = act + rg, *nn = n + rg, *z = nc + r, *cp = c_prev + r;
        const real *dho = dh_out + r, *dhr = dh_rec + r, *m = mask + r, *dco = dc_out + r;
        real *d = da + rg, *dq = dcn + r, *dcr = dc + r, *dx = dhh + rg;
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
        const real rc = rstd_c[b];
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
        const real rs = rstd[b];
        #pragma GCC ivdep
        for (int k = 0; k < G; k++) dx[k] = rs * (d[k] * gain_hh[k] - t1 - nn[k] * t2);
    }
}
"""

SOURCE = _HEADER + "".join(
    _TEMPLATE.replace("real", ctype).replace("SFX", sfx) for ctype, sfx in (("float", "f32"), ("double", "f64"))
)

_P = ctypes.c_void_p
_I = ctypes.c_int
_SIGNATURES = {
    "lstm_forward": [_I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _I],
    "lstm_backward": [_I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _I],
    "layernorm_forward": [_I, _I] + [_P] * 14 + ["eps", _I],
    "layernorm_backward": [_I, _I] + [_P] * 17 + [_I],
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

