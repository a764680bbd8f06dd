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
#include <stdint.h>

#ifndef SEQLAB_PAR_MIN
#define SEQLAB_PAR_MIN 4096 /* elements per step from which splitting over threads pays (measured: 64x128 step 14.5 -> 8.4 us) */
#endif

#define GRU_KERNELS(T, SUF, EXP, TANH)                                                             \
void seqlab_gru_forward_##SUF(int64_t B, int64_t H, const T *gi, const T *gh, const T *h,          \
                              const T *mask, T *h_out, T *hm_out, T *save)                        \
{                                                                                                  \
    _Pragma("omp parallel for if(B * H >= SEQLAB_PAR_MIN) schedule(static)")                      \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        const T *gi_b = gi + b * 3 * H, *gh_b = gh + b * 3 * H, *h_b = h + b * H;                  \
        T *ho = h_out + b * H, *s = save + b * 4 * H;                                              \
        _Pragma("omp simd")                                                                        \
        for (int64_t j = 0; j < H; ++j) {                                                          \
            T r = (T)1 / ((T)1 + EXP(-(gi_b[j] + gh_b[j])));                                       \
            T z = (T)1 / ((T)1 + EXP(-(gi_b[H + j] + gh_b[H + j])));                               \
            T hn = gh_b[2 * H + j];                                                                \
            T n = TANH(gi_b[2 * H + j] + r * hn);                                                  \
            ho[j] = n + z * (h_b[j] - n);                                                          \
            s[j] = r; s[H + j] = z; s[2 * H + j] = n; s[3 * H + j] = hn;                           \
        }                                                                                          \
        if (mask) {                                                                                \
            const T *m = mask + b * H; T *hm = hm_out + b * H;                                     \
            _Pragma("omp simd")                                                                    \
            for (int64_t j = 0; j < H; ++j) hm[j] = ho[j] * m[j];                                  \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* dh = carry + grad + mm * mask (the gradient reaching h_t), then the local derivatives;         \
 * carry is overwritten with the z-path dh * z that flows to h_{t-1} directly. */                 \
void seqlab_gru_backward_##SUF(int64_t B, int64_t H, const T *grad, T *carry, const T *mm,          \
                               const T *mask, const T *save, const T *h_prev, T *dgh, T *dgi)     \
{                                                                                                  \
    _Pragma("omp parallel for if(B * H >= SEQLAB_PAR_MIN) schedule(static)")                      \
    for (int64_t b = 0; b < B; ++b) {                                                              \
        T *c = carry + b * H;                                                                      \
        if (grad) {                                                                                \
            const T *g = grad + b * H;                                                             \
            _Pragma("omp simd")                                                                    \
            for (int64_t j = 0; j < H; ++j) c[j] += g[j];                                          \
        }                                                                                          \
        if (mm && mask) {                                                                          \
            const T *p = mm + b * H, *m = mask + b * H;                                            \
            _Pragma("omp simd")                                                                    \
            for (int64_t j = 0; j < H; ++j) c[j] += p[j] * m[j];                                   \
        } else if (mm) {                                                                           \
            const T *p = mm + b * H;                                                               \
            _Pragma("omp simd")                                                                    \
            for (int64_t j = 0; j < H; ++j) c[j] += p[j];                                          \
        }                                                                                          \
        const T *s = save + b * 4 * H, *hp = h_prev + b * H;                                       \
        T *dh_ = dgh + b * 3 * H, *di = dgi + b * 3 * H;                                           \
        _Pragma("omp simd")                                                                        \
        for (int64_t j = 0; j < H; ++j) {                                                          \
            T dh = c[j], r = s[j], z = s[H + j], n = s[2 * H + j], hn = s[3 * H + j];              \
            T dn = dh * ((T)1 - z) * ((T)1 - n * n);     /* d pre-activation of n */               \
            T dz = dh * (hp[j] - n) * z * ((T)1 - z);                                              \
            T dr = dn * hn * r * ((T)1 - r);                                                       \
            dh_[j] = dr; dh_[H + j] = dz; dh_[2 * H + j] = dn * r; /* r scales W_hn h + b_hn */    \
            di[j] = dr; di[H + j] = dz; di[2 * H + j] = dn;                                        \
            c[j] = dh * z;                                                                         \
        }                                                                                          \
    }                                                                                              \
}

GRU_KERNELS(float, f32, expf, tanhf)
GRU_KERNELS(double, f64, exp, tanh)
