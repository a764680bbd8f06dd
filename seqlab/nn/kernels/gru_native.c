/* Fused pointwise kernels for one GRU time step (seqlab.nn.kernels.gru).
 *
 * The recurrent matmul stays in BLAS (torch.addmm); everything elementwise of a step
 * is one call here, so a step costs one matmul plus one C call instead of ~8 ATen ops
 * (../shared/notes/fast-recurrence.md). Equations: seqlab.nn.cells.gru_step, the
 * "reset after" GRU of torch.nn.GRU:
 *
 *   r = sigma(gi_r + gh_r)          gh = W_hh (mask * h_{t-1}) + b_hh
 *   z = sigma(gi_z + gh_z)
 *   n = tanh(gi_n + r * gh_n)
 *   h = (1 - z) * n + z * h_{t-1}
 *
 * Layouts (row-major, contiguous): gi, gh, dgh, dgi (B, 3H) with blocks r | z | n;
 * save (B, 4H) = r | z | n | gh_n; h, mask, carry, mm (B, H). Optional pointers may be NULL.
 * Compiled at first use by seqlab.nn.kernels._cbuild with -O3 -march=native.
 */
#ifndef __FAST_MATH__
/* -fno-finite-math-only undefines __FAST_MATH__, which hides glibc's vectorised expf/tanhf
 * (libmvec) from the compiler; they handle inf/nan correctly, so declare them visible. */
#define __FAST_MATH__ 1
#endif
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Column-major BLAS ?gemm_ (Fortran interface, 32-bit ints) and MKL's
 * mkl_set_num_threads_local (by reference), both resolved from torch's own library
 * (seqlab.nn.kernels._cbuild.torch_blas) and passed in as addresses. */
typedef void (*sgemm_fn)(const char *, const char *, const int *, const int *, const int *, const float *,
                         const float *, const int *, const float *, const int *, const float *, float *, const int *);
typedef void (*dgemm_fn)(const char *, const char *, const int *, const int *, const int *, const double *,
                         const double *, const int *, const double *, const int *, const double *, double *,
                         const int *);
typedef int (*threads_local_fn)(const int *);

/* This thread's block [b0, b1) of the B batch rows. BLAS is made single-threaded for the
 * calling thread even when the loop runs on one thread: the loops split work themselves, and
 * a BLAS team woken for each small matmul was up to 10x slower on a busy 2-core machine.
 * Returns what slice_end must restore (-1: nothing). */
static int slice_begin(int nthreads, int64_t B, int64_t *b0, int64_t *b1, void *tl) {
    int tid = 0, nt = 1;
#ifdef _OPENMP
    if (nthreads > 1) { tid = omp_get_thread_num(); nt = omp_get_num_threads(); }
#endif
    *b0 = B * tid / nt;
    *b1 = B * (tid + 1) / nt;
    if (tl) { const int one = 1; return ((threads_local_fn)tl)(&one); }
    return -1;
}
static void slice_end(int prev, void *tl) {
    if (prev >= 0 && tl) ((threads_local_fn)tl)(&prev);
}

#ifndef SEQLAB_PAR_MIN
#define SEQLAB_PAR_MIN 4096 /* elements per step from which splitting over threads pays (measured: 64x128 step 14.5 -> 8.4 us) */
#endif

#define GRU_KERNELS(T, SUF, EXP, TANH, GEMM)                                                       \
/* One batch row of a forward step (save: r | z | n | gh_n; hm/m may be NULL). */                  \
static inline void gru_fwd_row_##SUF(int64_t H, const T *gi_b, const T *gh_b, const T *h_b,       \
                                     const T *m, T *ho, T *hm, T *s)                               \
{                                                                                                  \
    _Pragma("omp simd")                                                                            \
    for (int64_t j = 0; j < H; ++j) {                                                              \
        T r = (T)1 / ((T)1 + EXP(-(gi_b[j] + gh_b[j])));                                           \
        T z = (T)1 / ((T)1 + EXP(-(gi_b[H + j] + gh_b[H + j])));                                   \
        T hn = gh_b[2 * H + j];                                                                    \
        T n = TANH(gi_b[2 * H + j] + r * hn);                                                      \
        ho[j] = n + z * (h_b[j] - n);                                                              \
        s[j] = r; s[H + j] = z; s[2 * H + j] = n; s[3 * H + j] = hn;                               \
    }                                                                                              \
    if (m) {                                                                                       \
        _Pragma("omp simd")                                                                        \
        for (int64_t j = 0; j < H; ++j) hm[j] = ho[j] * m[j];                                      \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* One batch row of a backward step: dh = carry + grad + mm * mask (the gradient reaching h_t),    \
 * then the local derivatives; carry is overwritten with the z-path dh * z to h_{t-1}. */          \
static inline void gru_bwd_row_##SUF(int64_t H, const T *g, T *c, const T *p, const T *m,         \
                                     const T *s, const T *hp, T *dh_, T *di)                       \
{                                                                                                  \
    if (g) {                                                                                       \
        _Pragma("omp simd")                                                                        \
        for (int64_t j = 0; j < H; ++j) c[j] += g[j];                                              \
    }                                                                                              \
    if (p && m) {                                                                                  \
        _Pragma("omp simd")                                                                        \
        for (int64_t j = 0; j < H; ++j) c[j] += p[j] * m[j];                                       \
    } else if (p) {                                                                                \
        _Pragma("omp simd")                                                                        \
        for (int64_t j = 0; j < H; ++j) c[j] += p[j];                                              \
    }                                                                                              \
    _Pragma("omp simd")                                                                            \
    for (int64_t j = 0; j < H; ++j) {                                                              \
        T dh = c[j], r = s[j], z = s[H + j], n = s[2 * H + j], hn = s[3 * H + j];                  \
        T dn = dh * ((T)1 - z) * ((T)1 - n * n);     /* d pre-activation of n */                   \
        T dz = dh * (hp[j] - n) * z * ((T)1 - z);                                                  \
        T dr = dn * hn * r * ((T)1 - r);                                                           \
        dh_[j] = dr; dh_[H + j] = dz; dh_[2 * H + j] = dn * r; /* r scales W_hn h + b_hn */        \
        di[j] = dr; di[H + j] = dz; di[2 * H + j] = dn;                                            \
        c[j] = dh * z;                                                                             \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
void seqlab_gru_forward_##SUF(int64_t B, int64_t H, const T *gi, const T *gh, const T *h,          \
                              const T *mask, T *h_out, T *hm_out, T *save)                        \
{                                                                                                  \
    _Pragma("omp parallel for if(B * H >= SEQLAB_PAR_MIN) schedule(static)")                      \
    for (int64_t b = 0; b < B; ++b)                                                                \
        gru_fwd_row_##SUF(H, gi + b * 3 * H, gh + b * 3 * H, h + b * H, mask ? mask + b * H : NULL, \
                          h_out + b * H, hm_out ? hm_out + b * H : NULL, save + b * 4 * H);       \
}                                                                                                  \
                                                                                                   \
void seqlab_gru_backward_##SUF(int64_t B, int64_t H, const T *grad, T *carry, const T *mm,          \
                               const T *mask, const T *save, const T *h_prev, T *dgh, T *dgi)     \
{                                                                                                  \
    _Pragma("omp parallel for if(B * H >= SEQLAB_PAR_MIN) schedule(static)")                      \
    for (int64_t b = 0; b < B; ++b)                                                                \
        gru_bwd_row_##SUF(H, grad ? grad + b * H : NULL, carry + b * H, mm ? mm + b * H : NULL,    \
                          mask ? mask + b * H : NULL, save + b * 4 * H, h_prev + b * H,            \
                          dgh + b * 3 * H, dgi + b * 3 * H);                                       \
}                                                                                                  \
                                                                                                   \
/* Whole sequence, recurrent matmul included (through BLAS): batch rows are independent, so each  \
 * thread owns a block of rows for all T steps and the threads never synchronise in the loop.     \
 * gi (T, B, 3H); w_hh (3H, H); b_hh (3H) or NULL; gh (B, 3H) scratch; h0 (B, H); hm (B, H) =     \
 * mask * h0 on entry when mask is given (the matmul's input, rewritten every step);              \
 * out (T, B, H); save (T, B, 4H), or (B, 4H) reused every step when save_step is 0. */           \
void seqlab_gru_seq_forward_##SUF(int64_t T_, int64_t B, int64_t H, const T *gi, const T *w_hh,   \
                                  const T *b_hh, T *gh, const T *h0, const T *mask, T *hm, T *out, \
                                  T *save, int64_t save_step, int nthreads, void *gemm_p, void *tl) \
{                                                                                                  \
    const GEMM gemm = (GEMM)gemm_p;                                                                \
    const int G = (int)(3 * H), K = (int)H;                                                        \
    _Pragma("omp parallel num_threads(nthreads) if (nthreads > 1)")                               \
    {                                                                                              \
        int64_t b0, b1;                                                                            \
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl);                                   \
        const int rows = (int)(b1 - b0);                                                           \
        const T one = 1, zero = 0;                                                                 \
        for (int64_t t = 0; t < T_ && rows > 0; ++t) {                                             \
            const T *hp = t ? out + (t - 1) * B * H : h0;                                          \
            const T *hin = mask ? hm : hp;                                                         \
            T *ghr = gh + b0 * G;                                                                  \
            if (b_hh)                                                                              \
                for (int64_t b = b0; b < b1; ++b) memcpy(gh + b * G, b_hh, sizeof(T) * G);         \
            gemm("T", "N", &G, &rows, &K, &one, w_hh, &K, hin + b0 * H, &K, b_hh ? &one : &zero,   \
                 ghr, &G);                                                                         \
            for (int64_t b = b0; b < b1; ++b)                                                      \
                gru_fwd_row_##SUF(H, gi + (t * B + b) * G, gh + b * G, hp + b * H,                 \
                                  mask ? mask + b * H : NULL, out + (t * B + b) * H,               \
                                  mask ? hm + b * H : NULL, save + t * save_step + b * 4 * H);     \
        }                                                                                          \
        slice_end(prev, tl);                                                                       \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* Backward over the whole sequence: grad (T, B, H) or NULL; carry (B, H) zeros on entry, on      \
 * return the z-path part of dh_0; mm (B, H) on return dgh_0 W_hh (when need_mm0) -- so            \
 * dh_0 = carry + mm * mask. */                                                                   \
void seqlab_gru_seq_backward_##SUF(int64_t T_, int64_t B, int64_t H, const T *grad, const T *w_hh, \
                                   T *carry, T *mm, const T *mask, const T *save, const T *out,    \
                                   const T *h0, T *dgh, T *dgi, int need_mm0, int nthreads,        \
                                   void *gemm_p, void *tl)                                         \
{                                                                                                  \
    const GEMM gemm = (GEMM)gemm_p;                                                                \
    const int G = (int)(3 * H), N = (int)H;                                                        \
    _Pragma("omp parallel num_threads(nthreads) if (nthreads > 1)")                               \
    {                                                                                              \
        int64_t b0, b1;                                                                            \
        const int prev = slice_begin(nthreads, B, &b0, &b1, tl);                                   \
        const int rows = (int)(b1 - b0);                                                           \
        const T one = 1, zero = 0;                                                                 \
        for (int64_t t = T_ - 1; t >= 0 && rows > 0; --t) {                                        \
            const T *hp = t ? out + (t - 1) * B * H : h0;                                          \
            for (int64_t b = b0; b < b1; ++b)                                                      \
                gru_bwd_row_##SUF(H, grad ? grad + (t * B + b) * H : NULL, carry + b * H,          \
                                  t < T_ - 1 ? mm + b * H : NULL, mask ? mask + b * H : NULL,      \
                                  save + (t * B + b) * 4 * H, hp + b * H, dgh + (t * B + b) * G,   \
                                  dgi + (t * B + b) * G);                                          \
            if (t > 0 || need_mm0)                                                                 \
                gemm("N", "N", &N, &rows, &G, &one, w_hh, &N, dgh + (t * B + b0) * G, &G, &zero,   \
                     mm + b0 * H, &N);                                                             \
        }                                                                                          \
        slice_end(prev, tl);                                                                       \
    }                                                                                              \
}

GRU_KERNELS(float, f32, expf, tanhf, sgemm_fn)
GRU_KERNELS(double, f64, exp, tanh, dgemm_fn)
