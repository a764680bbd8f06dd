/* Fused pointwise kernels for one vanilla-RNN time step (seqlab.nn.kernels.rnn).
 *
 *   h_t = act(W_ih x_t + b_ih + W_hh (mask * h_{t-1}) + b_hh),  act = tanh or relu
 *
 * The pre-activation is produced by torch.addmm directly in the output buffer; the
 * forward kernel applies act in place and writes the masked copy that feeds the next
 * matmul. The backward kernel forms da = (grad + mm * mask) * act'(h_t), where
 * mm = da_{t+1} W_hh. All buffers (B, H) contiguous, flattened to n = B * H; optional
 * pointers may be NULL. Compiled at first use by seqlab.nn.kernels._cbuild.
 */
#ifndef __FAST_MATH__
/* see gru_native.c: makes glibc's vectorised tanh/tanhf (libmvec) visible */
#define __FAST_MATH__ 1
#endif
#include <math.h>
#include <stdint.h>

#ifndef SEQLAB_PAR_MIN
#define SEQLAB_PAR_MIN 4096
#endif
#define SEQLAB_CHUNK 1024

#define RNN_KERNELS(T, SUF, TANH)                                                                  \
void seqlab_rnn_forward_##SUF(int64_t n, T *h, const T *mask, T *hm_out, int relu)                 \
{                                                                                                  \
    _Pragma("omp parallel for if(n >= SEQLAB_PAR_MIN) schedule(static)")                          \
    for (int64_t k = 0; k < n; k += SEQLAB_CHUNK) {                                                \
        int64_t e = k + SEQLAB_CHUNK < n ? k + SEQLAB_CHUNK : n;                                   \
        if (relu) {                                                                                \
            _Pragma("omp simd")                                                                    \
            for (int64_t i = k; i < e; ++i) h[i] = h[i] > (T)0 ? h[i] : (T)0;                      \
        } else {                                                                                   \
            _Pragma("omp simd")                                                                    \
            for (int64_t i = k; i < e; ++i) h[i] = TANH(h[i]);                                     \
        }                                                                                          \
        if (mask) {                                                                                \
            _Pragma("omp simd")                                                                    \
            for (int64_t i = k; i < e; ++i) hm_out[i] = h[i] * mask[i];                            \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
void seqlab_rnn_backward_##SUF(int64_t n, const T *grad, const T *mm, const T *mask, const T *h,   \
                               T *da, int relu)                                                    \
{                                                                                                  \
    _Pragma("omp parallel for if(n >= SEQLAB_PAR_MIN) schedule(static)")                          \
    for (int64_t k = 0; k < n; k += SEQLAB_CHUNK) {                                                \
        int64_t e = k + SEQLAB_CHUNK < n ? k + SEQLAB_CHUNK : n;                                   \
        _Pragma("omp simd")                                                                        \
        for (int64_t i = k; i < e; ++i) da[i] = grad ? grad[i] : (T)0;                            \
        if (mm && mask) {                                                                          \
            _Pragma("omp simd")                                                                    \
            for (int64_t i = k; i < e; ++i) da[i] += mm[i] * mask[i];                              \
        } else if (mm) {                                                                           \
            _Pragma("omp simd")                                                                    \
            for (int64_t i = k; i < e; ++i) da[i] += mm[i];                                        \
        }                                                                                          \
        if (relu) {                                                                                \
            _Pragma("omp simd")                                                                    \
            for (int64_t i = k; i < e; ++i) da[i] = h[i] > (T)0 ? da[i] : (T)0;                    \
        } else {                                                                                   \
            _Pragma("omp simd")                                                                    \
            for (int64_t i = k; i < e; ++i) da[i] *= (T)1 - h[i] * h[i];                           \
        }                                                                                          \
    }                                                                                              \
}

RNN_KERNELS(float, f32, tanhf)
RNN_KERNELS(double, f64, tanh)
