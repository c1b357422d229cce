#include "kernels/activation.h"

#include <math.h>

#include "kernels/simd.h"

/* Reference kernels ------------------------------------------------------------------------ */

void relu_forward_ref(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward_ref(float *dx, const float *dy, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

void relu6_forward_ref(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i] > 0.0f ? x[i] : 0.0f;
        y[i] = v < 6.0f ? v : 6.0f;
    }
}

void relu6_backward_ref(float *dx, const float *dy, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] += (x[i] > 0.0f && x[i] < 6.0f) ? dy[i] : 0.0f;
}

/* Fast kernels: the same expressions with every load unconditional (so the selects become
 * vector blends), in blocks that threads share out, each block through the SIMD variant. */

#define relu_fwd_blk_BODY                                                       \
    _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                        \
        float v = x[i];                                                         \
        y[i] = v > 0.0f ? v : 0.0f;                                             \
    }
RP_SIMD_VARIANTS(relu_fwd_blk, (float *restrict y, const float *restrict x, size_t n))

/* acc: dx += J^T dy; else dx = 0 + J^T dy (the bits of adding into zeros). */
#define relu_bwd_blk_BODY                                                       \
    if (acc) {                                                                  \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                    \
            float g = dy[i];                                                    \
            dx[i] += x[i] > 0.0f ? g : 0.0f;                                    \
        }                                                                       \
    } else {                                                                    \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                    \
            float g = dy[i];                                                    \
            dx[i] = 0.0f + (x[i] > 0.0f ? g : 0.0f);                            \
        }                                                                       \
    }
RP_SIMD_VARIANTS(relu_bwd_blk, (float *restrict dx, const float *restrict dy, const float *restrict x,
                                size_t n, bool acc))

#define relu6_fwd_blk_BODY                                                      \
    _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                        \
        float v = x[i] > 0.0f ? x[i] : 0.0f;                                    \
        y[i] = v < 6.0f ? v : 6.0f;                                             \
    }
RP_SIMD_VARIANTS(relu6_fwd_blk, (float *restrict y, const float *restrict x, size_t n))

#define relu6_bwd_blk_BODY                                                      \
    if (acc) {                                                                  \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                    \
            float g = dy[i], v = x[i];                                          \
            dx[i] += (v > 0.0f && v < 6.0f) ? g : 0.0f;                         \
        }                                                                       \
    } else {                                                                    \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                    \
            float g = dy[i], v = x[i];                                          \
            dx[i] = 0.0f + ((v > 0.0f && v < 6.0f) ? g : 0.0f);                 \
        }                                                                       \
    }
RP_SIMD_VARIANTS(relu6_bwd_blk, (float *restrict dx, const float *restrict dy, const float *restrict x,
                                 size_t n, bool acc))

#define act_blk_BODY                                                            \
    if (act == ACT_RELU) {                                                      \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                    \
            float v = y[i];                                                     \
            y[i] = v > 0.0f ? v : 0.0f;                                         \
        }                                                                       \
    } else if (act == ACT_RELU6) {                                              \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                    \
            float v = y[i] > 0.0f ? y[i] : 0.0f;                                \
            y[i] = v < 6.0f ? v : 6.0f;                                         \
        }                                                                       \
    }
RP_SIMD_VARIANTS(act_blk, (float *y, size_t n, act_kind act))

void act_inplace(float *y, size_t n, act_kind act)
{
    if (act != ACT_NONE) RP_SIMD_CALL(rp_simd_level(), act_blk, (y, n, act));
}

enum { BLK = 8192 }; /* floats per block: 32 KiB */

/* Blocks [0, n) among the threads; `call` runs one block i0..i0+len. */
#define FOR_BLOCKS(n, call)                                                     \
    do {                                                                        \
        rp_simd simd_ = rp_simd_level();                                        \
        long nblk_ = (long)(((n) + BLK - 1) / BLK);                             \
        _Pragma("omp parallel for schedule(static) if (nblk_ > 8)")             \
        for (long b_ = 0; b_ < nblk_; b_++) {                                   \
            size_t i0 = (size_t)b_ * BLK, len = (n) - i0 < BLK ? (n) - i0 : BLK; \
            call;                                                               \
        }                                                                       \
    } while (0)

void act_inplace_parallel(float *y, size_t n, act_kind act)
{
    if (act != ACT_NONE) FOR_BLOCKS(n, RP_SIMD_CALL(simd_, act_blk, (y + i0, len, act)));
}

void relu_forward(float *y, const float *x, size_t n)
{
    FOR_BLOCKS(n, RP_SIMD_CALL(simd_, relu_fwd_blk, (y + i0, x + i0, len)));
}

void relu_backward(float *dx, const float *dy, const float *x, size_t n)
{
    relu_backward_ex(dx, dy, x, n, true);
}

void relu_backward_ex(float *dx, const float *dy, const float *x, size_t n, bool acc)
{
    FOR_BLOCKS(n, RP_SIMD_CALL(simd_, relu_bwd_blk, (dx + i0, dy + i0, x + i0, len, acc)));
}

void relu6_forward(float *y, const float *x, size_t n)
{
    FOR_BLOCKS(n, RP_SIMD_CALL(simd_, relu6_fwd_blk, (y + i0, x + i0, len)));
}

void relu6_backward(float *dx, const float *dy, const float *x, size_t n)
{
    relu6_backward_ex(dx, dy, x, n, true);
}

void relu6_backward_ex(float *dx, const float *dy, const float *x, size_t n, bool acc)
{
    FOR_BLOCKS(n, RP_SIMD_CALL(simd_, relu6_bwd_blk, (dx + i0, dy + i0, x + i0, len, acc)));
}

/* Smooth activations --------------------------------------------------------------------- */

/* 1 / (1 + exp(-v)): exp overflows to +inf for v < -88, giving exactly 0 (no NaN). */
static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

enum { PAR_MIN = 65536 }; /* below this many floats one thread does it */

void sigmoid_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = sigmoidf(x[i]);
}

void sigmoid_backward_ex(float *dx, const float *dy, const float *y, size_t n, bool acc)
{
    if (acc) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * (y[i] * (1.0f - y[i]));
    } else {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] = 0.0f + dy[i] * (y[i] * (1.0f - y[i]));
    }
}

void silu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf(x[i]);
}

/* d/dx x s(x) = s + x s (1 - s) = s (1 + x (1 - s)) */
static inline float silu_grad(float v)
{
    float s = sigmoidf(v);
    return s * (1.0f + v * (1.0f - s));
}

void silu_backward_ex(float *dx, const float *dy, const float *x, size_t n, bool acc)
{
    if (acc) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * silu_grad(x[i]);
    } else {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] = 0.0f + dy[i] * silu_grad(x[i]);
    }
}
