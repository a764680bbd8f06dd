/* Fused C kernels of the LSTM family (seqlab.nn.kernels.lstm_bptt), loaded through ctypes.
 *
 * Why: an ATen call on a small tensor costs ~3-5 us, and an LSTM step is a dozen such calls;
 * one C call per step removes that overhead (../shared/notes/fast-recurrence.md: ~0.9 x
 * torch.nn.LSTM at batch 16 instead of ~0.7 x).
 *
 * - Per family (lstm, peephole, coupled share one set, told apart by `kind`, the values of
 *   lstm_bptt.LSTMKind; layernorm has its own): a forward and a backward step kernel (the
 *   recurrent matmul runs in torch between calls), and *_seq_forward / *_seq_backward that run
 *   the whole time loop, calling BLAS ?gemm_ (an address from _cbuild.torch_blas) for the
 *   recurrent matmul. LSTM_KERNELS stamps them all for float (_f32) and double (_f64, so
 *   gradcheck covers them); the per-row math is shared (*_row functions).
 * - Rows of the batch are independent: the step kernels split large steps over threads with
 *   OpenMP (nthreads; 1 for small steps where waking threads costs more than it saves); the
 *   sequence loops give each thread a block of rows for all T steps (no barrier at all).
 * - sigma and tanh use a vectorisable exp (Cephes' expf polynomial, ~1 ulp) in float; libm's
 *   exp in double.
 * - Compiled at first use by seqlab.nn.kernels._cbuild (about 1 s of gcc CPU time, then cached
 *   on disk) with native.LSTM_FLAGS, which leave out -ffast-math (see there); when that fails
 *   the caller runs the same step in ATen (lstm_bptt).
 *
 * Pointer arguments are raw addresses (tensor.data_ptr()) of contiguous CPU tensors; the
 * forward kernels take NULL for an absent mask/peephole, the backward kernels need every
 * pointer (the caller passes zeros/ones) so that gcc can vectorise their loops. Layouts per
 * row b: gates (G*H,) in torch.nn's block order; states (H,). Inner loops carry GCC ivdep:
 * without it gcc gives up on the four gate blocks of one buffer (possible aliasing) and the
 * forward step ran 10 x slower (192 us vs 19 us at B=64, H=128).
 */
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

/* The variants of lstm_fwd_row/lstm_bwd_row and the step and sequence kernels (the `kind`
 * argument); the values of seqlab.nn.kernels.lstm_bptt.LSTMKind. */
enum lstm_kind { LSTM_STANDARD = 0, LSTM_PEEPHOLE = 1, LSTM_COUPLED = 2 };

/* This thread's number inside a parallel region of nthreads (0 outside one). */
#ifdef _OPENMP
#define THREAD_ID(nthreads) ((nthreads) > 1 ? omp_get_thread_num() : 0)
#else
#define THREAD_ID(nthreads) 0
#endif

/* LSTM_KERNELS(real, SFX) defines every kernel for one floating type: real = float or double,
 * SFX = f32 or f64 (the suffix of every function name). Peephole weights: (3, H) = p_i, p_f,
 * p_o. Layer norm uses the biased variance, like F.layer_norm. */
#define LSTM_KERNELS(real, SFX)                                                                                              \
static inline real sig_##SFX(real x) { return (real)1 / ((real)1 + exp_##SFX(-x)); }                                         \
static inline real tanh_##SFX(real x) { return (real)2 / ((real)1 + exp_##SFX(-2 * x)) - (real)1; }                          \
                                                                                                                             \
/* Column-major BLAS ?gemm_ (Fortran interface, 32-bit ints), resolved from torch's MKL. */                                  \
typedef void (*gemm_##SFX##_t)(const char *, const char *, const int *, const int *, const int *, const real *,              \
                               const real *, const int *, const real *, const int *, const real *, real *, const int *);     \
                                                                                                                             \
/* Row-major c (rows, N) = beta c + a (rows, K) @ w^T, w (N, K): as column-major, c^T = w^T' a^T. */                         \
static inline void mm_wt_##SFX(gemm_##SFX##_t gemm, int rows, int N, int K, const real *a, const real *w, real beta,         \
                               real *c) {                                                                                    \
    const real one = 1;                                                                                                      \
    if (rows > 0) gemm("T", "N", &N, &rows, &K, &one, w, &K, a, &K, &beta, c, &N);                                           \
}                                                                                                                            \
                                                                                                                             \
/* Row-major c (rows, N) = a (rows, K) @ w, w (K, N). */                                                                     \
static inline void mm_w_##SFX(gemm_##SFX##_t gemm, int rows, int N, int K, const real *a, const real *w, real *c) {          \
    const real one = 1, zero = 0;                                                                                            \
    if (rows > 0) gemm("N", "N", &N, &rows, &K, &one, w, &N, a, &K, &zero, c, &N);                                           \
}                                                                                                                            \
                                                                                                                             \
/* ---- one batch row of one step: shared by the per-step kernels and the sequence loops ---- */                             \
                                                                                                                             \
/* kind: LSTM_STANDARD (i f g o), LSTM_PEEPHOLE (i f g o), LSTM_COUPLED (f g o).                                             \
   g: in = pre-activations (x W_ih^T + b + h W_hh^T), out = activations. hm may be NULL. */                                  \
static inline void lstm_fwd_row_##SFX(int kind, int H, real *g, const real *cp, real *c, real *h, real *hm,                  \
                                      const real *m, const real *peep) {                                                     \
    if (kind == LSTM_STANDARD) {                                                                                             \
        _Pragma("GCC ivdep")                                                                                                 \
        for (int j = 0; j < H; j++) {                                                                                        \
            real i = sig_##SFX(g[j]), f = sig_##SFX(g[H + j]), u = tanh_##SFX(g[2 * H + j]), o = sig_##SFX(g[3 * H + j]);    \
            real cn = f * cp[j] + i * u;                                                                                     \
            g[j] = i; g[H + j] = f; g[2 * H + j] = u; g[3 * H + j] = o;                                                      \
            c[j] = cn; h[j] = o * tanh_##SFX(cn);                                                                            \
        }                                                                                                                    \
    } else if (kind == LSTM_PEEPHOLE) {                                                                                      \
        const real *pi = peep, *pf = peep + H, *po = peep + 2 * H;                                                           \
        _Pragma("GCC ivdep")                                                                                                 \
        for (int j = 0; j < H; j++) {                                                                                        \
            real i = sig_##SFX(g[j] + pi[j] * cp[j]), f = sig_##SFX(g[H + j] + pf[j] * cp[j]);                               \
            real u = tanh_##SFX(g[2 * H + j]);                                                                               \
            real cn = f * cp[j] + i * u;                                                                                     \
            real o = sig_##SFX(g[3 * H + j] + po[j] * cn);                                                                   \
            g[j] = i; g[H + j] = f; g[2 * H + j] = u; g[3 * H + j] = o;                                                      \
            c[j] = cn; h[j] = o * tanh_##SFX(cn);                                                                            \
        }                                                                                                                    \
    } else {                                                                                                                 \
        _Pragma("GCC ivdep")                                                                                                 \
        for (int j = 0; j < H; j++) {                                                                                        \
            real f = sig_##SFX(g[j]), u = tanh_##SFX(g[H + j]), o = sig_##SFX(g[2 * H + j]);                                 \
            real cn = f * cp[j] + ((real)1 - f) * u;                                                                         \
            g[j] = f; g[H + j] = u; g[2 * H + j] = o;                                                                        \
            c[j] = cn; h[j] = o * tanh_##SFX(cn);                                                                            \
        }                                                                                                                    \
    }                                                                                                                        \
    if (hm) {                                                                                                                \
        _Pragma("GCC ivdep")                                                                                                 \
        for (int j = 0; j < H; j++) hm[j] = h[j] * m[j];                                                                     \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
/* One row of backpropagation through time. No pointer may be NULL (loads under a condition                                  \
   would stop gcc from vectorising): the caller passes zeros for an absent gradient and ones                                 \
   for an absent mask.                                                                                                       \
   dh = dh_out + dh_rec * mask: dL/dh_t from the output and through the recurrence.                                          \
   dc: in = dL/dc_t carried from step t+1 (excluding dc_out), out = dL/dc_{t-1}.                                             \
   d: out = dL/d(pre-activation) of every gate block. */                                                                     \
static inline void lstm_bwd_row_##SFX(int kind, int H, const real *a, const real *cp, const real *cc,                        \
                                      const real *dho, const real *dhr, const real *m, const real *dco,                      \
                                      real *dcr, real *d, const real *peep) {                                                \
    if (kind == LSTM_STANDARD) {                                                                                             \
        _Pragma("GCC ivdep")                                                                                                 \
        for (int j = 0; j < H; j++) {                                                                                        \
            real i = a[j], f = a[H + j], u = a[2 * H + j], o = a[3 * H + j];                                                 \
            real tc = tanh_##SFX(cc[j]);                                                                                     \
            real dh = dho[j] + dhr[j] * m[j];                                                                                \
            real dct = dcr[j] + dco[j] + dh * o * ((real)1 - tc * tc);                                                       \
            d[j] = dct * u * i * ((real)1 - i);                                                                              \
            d[H + j] = dct * cp[j] * f * ((real)1 - f);                                                                      \
            d[2 * H + j] = dct * i * ((real)1 - u * u);                                                                      \
            d[3 * H + j] = dh * tc * o * ((real)1 - o);                                                                      \
            dcr[j] = dct * f;                                                                                                \
        }                                                                                                                    \
    } else if (kind == LSTM_PEEPHOLE) {                                                                                      \
        const real *pi = peep, *pf = peep + H, *po = peep + 2 * H;                                                           \
        _Pragma("GCC ivdep")                                                                                                 \
        for (int j = 0; j < H; j++) {                                                                                        \
            real i = a[j], f = a[H + j], u = a[2 * H + j], o = a[3 * H + j];                                                 \
            real tc = tanh_##SFX(cc[j]);                                                                                     \
            real dh = dho[j] + dhr[j] * m[j];                                                                                \
            real d_o = dh * tc * o * ((real)1 - o);                                                                          \
            real dct = dcr[j] + dco[j] + dh * o * ((real)1 - tc * tc) + d_o * po[j];                                         \
            real d_i = dct * u * i * ((real)1 - i);                                                                          \
            real d_f = dct * cp[j] * f * ((real)1 - f);                                                                      \
            d[j] = d_i; d[H + j] = d_f; d[2 * H + j] = dct * i * ((real)1 - u * u); d[3 * H + j] = d_o;                      \
            dcr[j] = dct * f + d_i * pi[j] + d_f * pf[j];                                                                    \
        }                                                                                                                    \
    } else {                                                                                                                 \
        _Pragma("GCC ivdep")                                                                                                 \
        for (int j = 0; j < H; j++) {                                                                                        \
            real f = a[j], u = a[H + j], o = a[2 * H + j];                                                                   \
            real tc = tanh_##SFX(cc[j]);                                                                                     \
            real dh = dho[j] + dhr[j] * m[j];                                                                                \
            real dct = dcr[j] + dco[j] + dh * o * ((real)1 - tc * tc);                                                       \
            d[j] = dct * (cp[j] - u) * f * ((real)1 - f);                                                                    \
            d[H + j] = dct * ((real)1 - f) * ((real)1 - u * u);                                                              \
            d[2 * H + j] = dh * tc * o * ((real)1 - o);                                                                      \
            dcr[j] = dct * f;                                                                                                \
        }                                                                                                                    \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
/* Layer-normalised LSTM (Ba et al. 2016), one row of one step.                                                              \
   n: in = h_{t-1} W_hh^T (raw), out = its normalisation (without gain).                                                     \
   x: LN(x W_ih^T) * gain_ih + bias, computed in bulk before the loop.                                                       \
   bias_c must not be NULL (zeros when the layer has no bias); hm may be. */                                                 \
static inline void ln_fwd_row_##SFX(int H, const real *x, real *n, real *rstd, const real *gain_hh, real *a,                 \
                                    const real *cp, real *c, const real *gain_c, const real *bias_c, real *z,                \
                                    real *rstd_c, real *h, real *hm, const real *m, real eps) {                              \
    const int G = 4 * H;                                                                                                     \
    real mean = 0, var = 0;                                                                                                  \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int k = 0; k < G; k++) mean += n[k];                                                                                \
    mean /= G;                                                                                                               \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int k = 0; k < G; k++) { real v = n[k] - mean; var += v * v; }                                                      \
    real rs = (real)1 / sqrt(var / G + eps);                                                                                 \
    *rstd = rs;                                                                                                              \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int k = 0; k < G; k++) n[k] = (n[k] - mean) * rs;                                                                   \
    real cmean = 0, cvar = 0;                                                                                                \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int j = 0; j < H; j++) {                                                                                            \
        real i = sig_##SFX(n[j] * gain_hh[j] + x[j]);                                                                        \
        real f = sig_##SFX(n[H + j] * gain_hh[H + j] + x[H + j]);                                                            \
        real u = tanh_##SFX(n[2 * H + j] * gain_hh[2 * H + j] + x[2 * H + j]);                                               \
        real o = sig_##SFX(n[3 * H + j] * gain_hh[3 * H + j] + x[3 * H + j]);                                                \
        a[j] = i; a[H + j] = f; a[2 * H + j] = u; a[3 * H + j] = o;                                                          \
        real cn = f * cp[j] + i * u;                                                                                         \
        c[j] = cn;                                                                                                           \
        cmean += cn;                                                                                                         \
    }                                                                                                                        \
    cmean /= H;                                                                                                              \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int j = 0; j < H; j++) { real v = c[j] - cmean; cvar += v * v; }                                                    \
    real rc = (real)1 / sqrt(cvar / H + eps);                                                                                \
    *rstd_c = rc;                                                                                                            \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int j = 0; j < H; j++) {                                                                                            \
        real zz = (c[j] - cmean) * rc;                                                                                       \
        z[j] = zz;                                                                                                           \
        h[j] = a[3 * H + j] * tanh_##SFX(zz * gain_c[j] + bias_c[j]);                                                        \
    }                                                                                                                        \
    if (hm) {                                                                                                                \
        _Pragma("GCC ivdep")                                                                                                 \
        for (int j = 0; j < H; j++) hm[j] = h[j] * m[j];                                                                     \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
/* Backward of one layer-norm row (no NULL pointers, as in lstm_bwd_row). Outputs: d = dL/d(gate                             \
   pre-activation) (also the gradient of xg), dx = dL/d(h_{t-1} W_hh^T), dq = dL/d(LN(c_t)). */                              \
static inline void ln_bwd_row_##SFX(int H, const real *a, const real *nn, real rs, const real *gain_hh,                      \
                                    const real *cp, const real *z, real rc, const real *gain_c, const real *bias_c,          \
                                    const real *dho, const real *dhr, const real *m, const real *dco, real *dcr,             \
                                    real *d, real *dx, real *dq) {                                                           \
    const int G = 4 * H;                                                                                                     \
    real s1 = 0, s2 = 0;                                                                                                     \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int j = 0; j < H; j++) {                                                                                            \
        real o = a[3 * H + j];                                                                                               \
        real tcn = tanh_##SFX(z[j] * gain_c[j] + bias_c[j]);                                                                 \
        real dh = dho[j] + dhr[j] * m[j];                                                                                    \
        d[3 * H + j] = dh * tcn * o * ((real)1 - o);                                                                         \
        real q = dh * o * ((real)1 - tcn * tcn);                                                                             \
        dq[j] = q;                                                                                                           \
        real dz = q * gain_c[j];                                                                                             \
        s1 += dz; s2 += dz * z[j];                                                                                           \
    }                                                                                                                        \
    s1 /= H; s2 /= H;                                                                                                        \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int j = 0; j < H; j++) {                                                                                            \
        real i = a[j], f = a[H + j], u = a[2 * H + j];                                                                       \
        real dct = dcr[j] + dco[j] + rc * (dq[j] * gain_c[j] - s1 - z[j] * s2);                                              \
        d[j] = dct * u * i * ((real)1 - i);                                                                                  \
        d[H + j] = dct * cp[j] * f * ((real)1 - f);                                                                          \
        d[2 * H + j] = dct * i * ((real)1 - u * u);                                                                          \
        dcr[j] = dct * f;                                                                                                    \
    }                                                                                                                        \
    real t1 = 0, t2 = 0;                                                                                                     \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int k = 0; k < G; k++) { real dn = d[k] * gain_hh[k]; t1 += dn; t2 += dn * nn[k]; }                                 \
    t1 /= G; t2 /= G;                                                                                                        \
    _Pragma("GCC ivdep")                                                                                                     \
    for (int k = 0; k < G; k++) dx[k] = rs * (d[k] * gain_hh[k] - t1 - nn[k] * t2);                                          \
}                                                                                                                            \
                                                                                                                             \
/* ---- per-step kernels (the recurrent matmul runs in torch between calls) ---- */                                          \
                                                                                                                             \
void lstm_forward_##SFX(int kind, int B, int H, real *gates, const real *c_prev, real *c_out,                                \
                        real *h_out, real *hm_out, const real *mask, const real *peep, int nthreads) {                       \
    const int G = (kind == LSTM_COUPLED ? 3 : 4) * H;                                                                        \
    _Pragma("omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)")                                     \
    for (int b = 0; b < B; b++) {                                                                                            \
        const ptrdiff_t r = (ptrdiff_t)b * H;                                                                                \
        lstm_fwd_row_##SFX(kind, H, gates + (ptrdiff_t)b * G, c_prev + r, c_out + r, h_out + r,                              \
                           hm_out ? hm_out + r : NULL, mask ? mask + r : NULL, peep);                                        \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
void lstm_backward_##SFX(int kind, int B, int H, const real *act, const real *c_prev, const real *c_t,                       \
                         const real *dh_out, const real *dh_rec, const real *mask, const real *dc_out,                       \
                         real *dc, real *dgates, const real *peep, int nthreads) {                                           \
    const int G = (kind == LSTM_COUPLED ? 3 : 4) * H;                                                                        \
    _Pragma("omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)")                                     \
    for (int b = 0; b < B; b++) {                                                                                            \
        const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;                                                         \
        lstm_bwd_row_##SFX(kind, H, act + rg, c_prev + r, c_t + r, dh_out + r, dh_rec + r, mask + r, dc_out + r,             \
                           dc + r, dgates + rg, peep);                                                                       \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
void layernorm_forward_##SFX(int B, int H, const real *xg, real *hh, real *rstd, const real *gain_hh,                        \
                             real *act, const real *c_prev, real *c_out, const real *gain_c, const real *bias_c,             \
                             real *nc, real *rstd_c, real *h_out, real *hm_out, const real *mask, real eps,                  \
                             int nthreads) {                                                                                 \
    const int G = 4 * H;                                                                                                     \
    _Pragma("omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)")                                     \
    for (int b = 0; b < B; b++) {                                                                                            \
        const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;                                                         \
        ln_fwd_row_##SFX(H, xg + rg, hh + rg, rstd + b, gain_hh, act + rg, c_prev + r, c_out + r, gain_c, bias_c,            \
                         nc + r, rstd_c + b, h_out + r, hm_out ? hm_out + r : NULL, mask ? mask + r : NULL, eps);            \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
void layernorm_backward_##SFX(int B, int H, const real *act, const real *n, const real *rstd,                                \
                              const real *gain_hh, const real *c_prev, const real *nc, const real *rstd_c,                   \
                              const real *gain_c, const real *bias_c, const real *dh_out, const real *dh_rec,                \
                              const real *mask, const real *dc_out, real *dc, real *da, real *dhh, real *dcn,                \
                              int nthreads) {                                                                                \
    const int G = 4 * H;                                                                                                     \
    _Pragma("omp parallel for num_threads(nthreads) if (nthreads > 1) schedule(static)")                                     \
    for (int b = 0; b < B; b++) {                                                                                            \
        const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;                                                         \
        ln_bwd_row_##SFX(H, act + rg, n + rg, rstd[b], gain_hh, c_prev + r, nc + r, rstd_c[b], gain_c, bias_c,               \
                         dh_out + r, dh_rec + r, mask + r, dc_out + r, dc + r, da + rg, dhh + rg, dcn + r);                  \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
/* ---- whole-sequence loops: the recurrent matmul through BLAS, no return to Python per step ----                           \
   Batch rows are independent through the whole recurrence, so each thread owns a block of                                   \
   rows for all T steps (its own small gemm and pointwise work) and the threads never                                        \
   synchronise inside the loop; a per-step split needs two barriers per step and the                                         \
   per-step matmul's own threading. Buffers are (T, B, ·) time-major, contiguous. */                                         \
                                                                                                                             \
void lstm_seq_forward_##SFX(int kind, int T, int B, int H, real *gates, const real *w_hh, const real *h0,                    \
                            const real *c0, real *hs, real *cs, real *hm, const real *mask, const real *peep,                \
                            int nthreads, void *gemm_p, void *tl_p) {                                                        \
    const gemm_##SFX##_t gemm = (gemm_##SFX##_t)gemm_p;                                                                      \
    const int G = (kind == LSTM_COUPLED ? 3 : 4) * H;                                                                        \
    const ptrdiff_t sg = (ptrdiff_t)B * G, sh = (ptrdiff_t)B * H;                                                            \
    _Pragma("omp parallel num_threads(nthreads) if (nthreads > 1)")                                                          \
    {                                                                                                                        \
        int b0, b1;                                                                                                          \
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl_p);                                                           \
        for (int t = 0; t < T; t++) {                                                                                        \
            const real *hp = hm ? hm + t * sh : (t ? hs + (t - 1) * sh : h0);  /* h_{t-1} entering the matmul */             \
            const real *cp = t ? cs + (t - 1) * sh : c0;                                                                     \
            real *g = gates + t * sg;                                                                                        \
            mm_wt_##SFX(gemm, b1 - b0, G, H, hp + (ptrdiff_t)b0 * H, w_hh, (real)1, g + (ptrdiff_t)b0 * G);                  \
            for (int b = b0; b < b1; b++) {                                                                                  \
                const ptrdiff_t r = (ptrdiff_t)b * H;                                                                        \
                lstm_fwd_row_##SFX(kind, H, g + (ptrdiff_t)b * G, cp + r, cs + t * sh + r, hs + t * sh + r,                  \
                                   hm && t + 1 < T ? hm + (t + 1) * sh + r : NULL, mask ? mask + r : NULL, peep);            \
            }                                                                                                                \
        }                                                                                                                    \
        slice_end(prev, tl_p);                                                                                               \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
/* dhs/dcs: (T, B, H) output gradients, or a (B, H) zero buffer with step stride 0. dc and                                   \
   dh_rec (B, H) must start at zero; on return dc = dL/dC_0-input and dh_rec = dgates_0 W_hh. */                             \
void lstm_seq_backward_##SFX(int kind, int T, int B, int H, const real *act, const real *w_hh, const real *c0,               \
                             const real *cs, const real *dhs, int64_t dhs_step, const real *dcs, int64_t dcs_step,           \
                             const real *mask, real *dc, real *dh_rec, real *dgates, const real *peep,                       \
                             real *acc, int nthreads, void *gemm_p, void *tl_p) {                                            \
    const gemm_##SFX##_t gemm = (gemm_##SFX##_t)gemm_p;                                                                      \
    const int G = (kind == LSTM_COUPLED ? 3 : 4) * H;                                                                        \
    const ptrdiff_t sg = (ptrdiff_t)B * G, sh = (ptrdiff_t)B * H;                                                            \
    _Pragma("omp parallel num_threads(nthreads) if (nthreads > 1)")                                                          \
    {                                                                                                                        \
        int b0, b1;                                                                                                          \
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl_p);                                                           \
        const int tid = THREAD_ID(nthreads);                                                                                 \
        /* Peephole only: this thread's partial sums of the peephole gradients, accumulated while                            \
           the row is in cache: acc (nthreads, 3, H) = sum di C_{t-1} | df C_{t-1} | do C_t, zeros                           \
           on entry (NULL for the other kinds); the caller sums over threads. */                                             \
        real *api = acc ? acc + (ptrdiff_t)tid * 3 * H : NULL, *apf = api ? api + H : NULL, *apo = api ? api + 2 * H : NULL; \
        for (int t = T - 1; t >= 0; t--) {                                                                                   \
            const real *cp = t ? cs + (t - 1) * sh : c0;                                                                     \
            const real *dho = dhs + t * dhs_step, *dco = dcs + t * dcs_step;                                                 \
            real *d = dgates + t * sg;                                                                                       \
            for (int b = b0; b < b1; b++) {                                                                                  \
                const ptrdiff_t r = (ptrdiff_t)b * H, rg = (ptrdiff_t)b * G;                                                 \
                lstm_bwd_row_##SFX(kind, H, act + t * sg + rg, cp + r, cs + t * sh + r, dho + r, dh_rec + r, mask + r,       \
                                   dco + r, dc + r, d + rg, peep);                                                           \
                if (api) {                                                                                                   \
                    const real *dr = d + rg, *c_p = cp + r, *c_t = cs + t * sh + r;                                          \
                    _Pragma("GCC ivdep")                                                                                     \
                    for (int j = 0; j < H; j++) {                                                                            \
                        api[j] += dr[j] * c_p[j]; apf[j] += dr[H + j] * c_p[j]; apo[j] += dr[3 * H + j] * c_t[j];            \
                    }                                                                                                        \
                }                                                                                                            \
            }                                                                                                                \
            mm_w_##SFX(gemm, b1 - b0, H, G, d + (ptrdiff_t)b0 * G, w_hh, dh_rec + (ptrdiff_t)b0 * H);                        \
        }                                                                                                                    \
        slice_end(prev, tl_p);                                                                                               \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
void layernorm_seq_forward_##SFX(int T, int B, int H, const real *xg, real *hh, real *rstd, const real *gain_hh,             \
                                 real *act, const real *h0, const real *c0, real *hs, real *cs, const real *gain_c,          \
                                 const real *bias_c, real *nc, real *rstd_c, real *hm, const real *mask, real eps,           \
                                 const real *w_hh, int nthreads, void *gemm_p, void *tl_p) {                                 \
    const gemm_##SFX##_t gemm = (gemm_##SFX##_t)gemm_p;                                                                      \
    const int G = 4 * H;                                                                                                     \
    const ptrdiff_t sg = (ptrdiff_t)B * G, sh = (ptrdiff_t)B * H;                                                            \
    _Pragma("omp parallel num_threads(nthreads) if (nthreads > 1)")                                                          \
    {                                                                                                                        \
        int b0, b1;                                                                                                          \
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl_p);                                                           \
        for (int t = 0; t < T; t++) {                                                                                        \
            const real *hp = hm ? hm + t * sh : (t ? hs + (t - 1) * sh : h0);                                                \
            const real *cp = t ? cs + (t - 1) * sh : c0;                                                                     \
            mm_wt_##SFX(gemm, b1 - b0, G, H, hp + (ptrdiff_t)b0 * H, w_hh, (real)0, hh + t * sg + (ptrdiff_t)b0 * G);        \
            for (int b = b0; b < b1; b++) {                                                                                  \
                const ptrdiff_t r = (ptrdiff_t)b * H, rg = t * sg + (ptrdiff_t)b * G, rt = t * sh + r;                       \
                ln_fwd_row_##SFX(H, xg + rg, hh + rg, rstd + (ptrdiff_t)t * B + b, gain_hh, act + rg, cp + r, cs + rt,       \
                                 gain_c, bias_c, nc + rt, rstd_c + (ptrdiff_t)t * B + b, hs + rt,                            \
                                 hm && t + 1 < T ? hm + (t + 1) * sh + r : NULL, mask ? mask + r : NULL, eps);               \
            }                                                                                                                \
        }                                                                                                                    \
        slice_end(prev, tl_p);                                                                                               \
    }                                                                                                                        \
}                                                                                                                            \
                                                                                                                             \
void layernorm_seq_backward_##SFX(int T, int B, int H, const real *act, const real *n, const real *rstd,                     \
                                  const real *gain_hh, const real *c0, const real *cs, const real *nc,                       \
                                  const real *rstd_c, const real *gain_c, const real *bias_c, const real *dhs,               \
                                  int64_t dhs_step, const real *dcs, int64_t dcs_step, const real *mask, real *dc,           \
                                  real *dh_rec, real *da, real *dhh, real *dcn, const real *w_hh, real *acc,                 \
                                  int nthreads, void *gemm_p, void *tl_p) {                                                  \
    const gemm_##SFX##_t gemm = (gemm_##SFX##_t)gemm_p;                                                                      \
    const int G = 4 * H;                                                                                                     \
    const ptrdiff_t sg = (ptrdiff_t)B * G, sh = (ptrdiff_t)B * H;                                                            \
    _Pragma("omp parallel num_threads(nthreads) if (nthreads > 1)")                                                          \
    {                                                                                                                        \
        int b0, b1;                                                                                                          \
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl_p);                                                           \
        const int tid = THREAD_ID(nthreads);                                                                                 \
        /* This thread's partial sums of the gain/shift gradients, accumulated while the row's                               \
           values are still in cache: acc (nthreads, 4H + 2H) = dgain_hh | dgain_c | dbias_c,                                \
           zeros on entry; the caller sums over threads. */                                                                  \
        real *ag = acc + (ptrdiff_t)tid * (G + 2 * H), *ac = ag + G, *ab = ac + H;                                           \
        for (int t = T - 1; t >= 0; t--) {                                                                                   \
            const real *cp = t ? cs + (t - 1) * sh : c0;                                                                     \
            const real *dho = dhs + t * dhs_step, *dco = dcs + t * dcs_step;                                                 \
            for (int b = b0; b < b1; b++) {                                                                                  \
                const ptrdiff_t r = (ptrdiff_t)b * H, rg = t * sg + (ptrdiff_t)b * G, rt = t * sh + r;                       \
                const ptrdiff_t rb = (ptrdiff_t)t * B + b;                                                                   \
                ln_bwd_row_##SFX(H, act + rg, n + rg, rstd[rb], gain_hh, cp + r, nc + rt, rstd_c[rb], gain_c, bias_c,        \
                                 dho + r, dh_rec + r, mask + r, dco + r, dc + r, da + rg, dhh + rg, dcn + rt);               \
                const real *d = da + rg, *nn = n + rg, *q = dcn + rt, *z = nc + rt;                                          \
                _Pragma("GCC ivdep")                                                                                         \
                for (int k = 0; k < G; k++) ag[k] += d[k] * nn[k];                                                           \
                _Pragma("GCC ivdep")                                                                                         \
                for (int j = 0; j < H; j++) { ac[j] += q[j] * z[j]; ab[j] += q[j]; }                                         \
            }                                                                                                                \
            mm_w_##SFX(gemm, b1 - b0, H, G, dhh + t * sg + (ptrdiff_t)b0 * G, w_hh, dh_rec + (ptrdiff_t)b0 * H);             \
        }                                                                                                                    \
        slice_end(prev, tl_p);                                                                                               \
    }                                                                                                                        \
}

LSTM_KERNELS(float, f32)
LSTM_KERNELS(double, f64)
