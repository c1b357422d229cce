/* 2-D pooling over NHWC activations, forward and backward, PyTorch semantics:
 *   x (B, H, W, C) -> y (B, OH, OW, C), OH = (H + 2 pad - K) / stride + 1 (floor),
 *   pad <= K / 2 (so every window holds at least one real pixel).
 * max: padding acts as -inf; ties keep the first maximum in (kh, kw) order and a NaN
 *      wins (as PyTorch's CPU kernel); argmax (index into one sample's H*W*C input)
 *      is kept for backward.
 * avg: count_include_pad = True: always divides by K*K.
 * global avg: y (B, C) = mean over H*W.
 * Backward accumulates (+=) into dx. */
#ifndef RP_KERNELS_POOL_H
#define RP_KERNELS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/activation.h"

typedef struct pool2d_shape {
    int B, H, W, C;
    int K, stride, pad;
    int OH, OW;
} pool2d_shape;

/* Fills OH, OW (<= 0 when the window does not fit). */
pool2d_shape pool2d_shape_make(int B, int H, int W, int C, int K, int stride, int pad);

/* argmax (B, OH, OW, C). maxpool2d_forward is the SIMD fast path of the reference
 * maxpool2d_forward_ref (bit-identical results, argmax included). */
void maxpool2d_forward(float *y, int32_t *argmax, const float *x, const pool2d_shape *s);
/* maxpool2d_forward's samples [b0, b1) alone, on the calling thread (the same bits): for a
 * producer that pools each sample while it is in cache (conv_epilogue.pool). */
void maxpool2d_forward_samples(float *y, int32_t *argmax, const float *x, const pool2d_shape *s, int b0, int b1);
void maxpool2d_forward_ref(float *y, int32_t *argmax, const float *x, const pool2d_shape *s);
void maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax, const pool2d_shape *s);
/* acc = false: WRITES dx (bit-identical to adding into a zeroed dx). */
void maxpool2d_backward_ex(float *dx, const float *dy, const int32_t *argmax, const pool2d_shape *s,
                           bool acc);
/* Backward through a ReLU (ACT_RELU) or ReLU6 (ACT_RELU6) before the pool as well: dx is the
 * ReLU's input gradient, masked where the pool's output y (the ReLU's output at the argmax)
 * is outside (0, inf) / (0, 6). Bit-identical to the two backwards in turn when dx is
 * written (acc = false). */
void maxpool2d_backward_act(float *dx, const float *dy, const int32_t *argmax, const float *y,
                            const pool2d_shape *s, bool acc, act_kind act);
/* Its reference: zero (unless acc) and scatter g by argmax, sample by sample. The fast path,
 * for windows that tile the input (K == stride, pad 0), writes every pixel of dx in one pass
 * instead, bit-identical to it; other windows take the reference. */
void maxpool2d_backward_act_ref(float *dx, const float *dy, const int32_t *argmax, const float *y,
                                const pool2d_shape *s, bool acc, act_kind act);

void avgpool2d_forward(float *y, const float *x, const pool2d_shape *s);
void avgpool2d_backward(float *dx, const float *dy, const pool2d_shape *s);

/* x (B, HW, C) -> y (B, C). */
void global_avgpool_forward(float *y, const float *x, int B, int HW, int C);
void global_avgpool_backward(float *dx, const float *dy, int B, int HW, int C);

#endif
