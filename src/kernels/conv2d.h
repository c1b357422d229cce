/* 2-D convolution over NHWC activations with OHWI weights, forward and backward.
 *
 *   x  (B, H, W, C)               input
 *   w  (OC, K, K, C/groups)       weights, OHWI (PyTorch's OIHW reordered)
 *   b  (OC)                       optional bias
 *   y  (B, OH, OW, OC)            output, OH = (H + 2 pad - K) / stride + 1 (floor)
 *
 * Group g maps input channels [g*ICg, (g+1)*ICg) to output channels [g*OCg, (g+1)*OCg),
 * ICg = C/groups, OCg = OC/groups (PyTorch's grouping; depthwise is groups == C with
 * OC = multiplier * C, output channel c*multiplier + m reading input channel c).
 *
 * Reference implementations of the maths:
 *  - general: im2col + cblas_sgemm per group, the batch taken `chunk` samples at a time
 *    so that the column buffer stays bounded; a 1x1 stride-1 pad-0 conv uses the input
 *    as the matrix directly (no im2col, no scratch);
 *  - depthwise (groups == C > 1): a direct kernel whose inner loop runs over channels.
 * Fast paths (conv2d_fast.c), each tested against the references op by op:
 *  - slots: the general path split into `slots` fixed blocks of samples that run in
 *    parallel, each doing im2col (none for pointwise) and a single-threaded product on
 *    `slot_batch` samples at a time (the block stays in cache; small GEMMs run near peak):
 *    gemm_direct (kernels/gemm_direct.h) at the AVX-512 level, which needs neither packing
 *    nor a zeroed output, else cblas_sgemm;
 *    weight gradients are summed per slot and then over slots in order. For small weights;
 *    big layers keep the reference path (GEMMs split by rp_sgemm);
 *  - Winograd F(2x2, 3x3) (conv2d_winograd.c): 3x3 stride-1 one-group convs with 16+ channels
 *    in and out, at the AVX-512 level: 16 products per 2x2 tile through gemm_direct instead of
 *    36 multiply-adds per (c, o) pair; slot by slot like the slots path for slots-sized weights,
 *    else the batch in chunks with the 16 products shared among threads; equal to the others to
 *    rounding;
 *  - direct: groups == 1, not pointwise and K*K*C <= 32 (first layers on images): no
 *    im2col, vectorised over output channels;
 *  - depthwise with multiplier 1, K <= 7 (dwconv2d_fast.c): the reference's operations in its
 *    order (bit-identical), channels in register blocks; wide layers (C >= 64) whose input
 *    comes from memory read pixel by pixel, every channel block of a pixel before the next;
 *    the weight gradient of all taps in one pass over dy and x, three channel blocks at a time,
 *    each thread on its own channel range.
 * conv2d_forward/backward pick one; all are exported so tests can compare them.
 *
 * Backward accumulates (+=) into dx, dw and db; any of them may be NULL (skipped).
 * Reductions run in a fixed order: results do not depend on the thread count.
 * GEMMs run on OpenMP threads (rp_sgemm, or single-threaded cblas_sgemm inside a region). */
#ifndef RP_KERNELS_CONV2D_H
#define RP_KERNELS_CONV2D_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/activation.h"
#include "kernels/pool.h"

/* Upper bound on im2col column floats per chunk (16 MiB); a chunk is at least 1 sample. */
#define RP_CONV_COLS_BUDGET ((size_t)1 << 22)

typedef struct conv2d_shape {
    int B, H, W, C;             /* input (B, H, W, C) */
    int OC, K, stride, pad, groups;
    int OH, OW;                 /* output (B, OH, OW, OC) */
    int chunk;                  /* samples per im2col pass, 1..B (general path) */
    int slots, slot_batch;      /* slots path: sample blocks, samples per sgemm */
} conv2d_shape;

/* At most this many slots (fixed: the weight-gradient sum order depends on B alone). */
#define RP_CONV_SLOTS 16

/* Output size along one axis (floor); <= 0 when the window does not fit. */
int conv2d_out_size(int n, int K, int stride, int pad);

/* Fill every field for batch B; chunk from RP_CONV_COLS_BUDGET. The caller checks that
 * the configuration is valid (divisibility, OH/OW >= 1). */
conv2d_shape conv2d_shape_make(int B, int H, int W, int C, int OC, int K, int stride, int pad,
                               int groups);

/* True when conv2d_forward/backward take the direct depthwise kernel. */
bool conv2d_uses_depthwise(const conv2d_shape *s);
/* True when the general path needs no im2col (1x1, stride 1, pad 0). */
bool conv2d_is_pointwise(const conv2d_shape *s);

/* Scratch floats that conv2d_forward/backward need for s (0 when none). */
size_t conv2d_scratch_floats(const conv2d_shape *s);

/* A batch norm in evaluation mode after the conv: per-channel mean, invstd (as
 * batchnorm_eval_stats writes them), gamma, beta. */
typedef struct conv_bn {
    const float *mean, *invstd, *gamma, *beta;
} conv_bn;

/* What the forward does to each block of output rows while it is in cache, in this order (every
 * field optional: {0} or NULL is the plain conv):
 *   bn    a batch norm in evaluation mode (bit-identical to batchnorm_forward_eval_ex of the
 *         conv's y);
 *   act   an activation (bit-identical to relu*_forward of the result);
 *   bits  the activation's mask of the result (kernels/actmask.h: rows of
 *         act_mask_row_bytes(OC); act ACT_RELU or ACT_RELU6), for a batch norm done by the conv
 *         in training (kernels/pwbn.h);
 *   sums  training: each sample's batch-norm sums of y (batchnorm_sample_sums: B x 2 OC
 *         doubles), for the batch norm after the conv (batchnorm_forward_train_ex); only where
 *         conv2d_forms_sums, and alone (no bn, act or bits);
 *   pool  the max-pool after the conv (and its bn and act): each sample of y, once its rows are
 *         done, pooled into pool->y and pool->argmax (maxpool2d_forward_samples; the same bits
 *         as maxpool2d_forward of the whole y, which is written as well); not with sums. */
typedef struct conv_pool {
    pool2d_shape s;
    float *y;
    int32_t *argmax;
} conv_pool;
typedef struct conv_epilogue {
    const conv_bn *bn;
    act_kind act;
    uint8_t *bits;
    double *sums;
    const conv_pool *pool;
} conv_epilogue;

/* y = conv(x, w) + b, then e's epilogue (e may be NULL). The one forward: it picks the path. */
void conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s, float *scratch,
                    const conv_epilogue *e);
/* Whether e->sums is allowed: the paths that form them (depthwise, direct, slots). */
bool conv2d_forms_sums(const conv2d_shape *s);
/* The backward: dx += J^T dy, dw += ..., db += ... (each may be NULL: skipped); acc = false WRITES
 * dx = 0 + J^T dy (bit-identical to adding into a zeroed dx), so a caller that owns dx need not
 * zero it. dw, db always accumulate. */
void conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                     const conv2d_shape *s, float *scratch, bool acc);

/* A conv whose forward is a row kernel (dwconv2d_fast_rows, conv2d_direct_rows: output rows
 * [r0, r1) of the B*OH rows from reordered weights wt, with bn and act): over the whole batch,
 * rows in parallel, each row's mask packed after it; with e->sums, a sample at a time, each
 * sample's batchnorm_sample_sums formed while it is in cache. */
typedef void (*conv2d_rows_fn)(float *y, const float *x, const float *wt, const float *b, const conv2d_shape *s,
                               int r0, int r1, const conv_bn *bn, act_kind act);
void conv2d_rows_forward(conv2d_rows_fn rows, float *y, const float *x, const float *wt, const float *b,
                         const conv2d_shape *s, const conv_epilogue *e);
/* The fast paths' epilogue: bn (unless NULL) then act over rows of OC channels. */
void conv2d_epilogue(float *y, size_t rows, int OC, const conv_bn *bn, act_kind act);

/* The general path; scratch: conv2d_gemm_scratch_floats(s). */
size_t conv2d_gemm_scratch_floats(const conv2d_shape *s);
void conv2d_gemm_forward(float *y, const float *x, const float *w, const float *b,
                         const conv2d_shape *s, float *scratch);
void conv2d_gemm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const conv2d_shape *s, float *scratch);

/* The depthwise path (groups == C); scratch: dwconv2d_scratch_floats(s). Its weight gradient
 * sums each (tap, channel) over the samples in dw_chunks(B) consecutive chunks of samples (the
 * output pixels (b, oh, ow) of a chunk in order, from 0), then adds the chunks' sums in chunk
 * order (from 0) and that into dw: a fixed order, whatever the threads, that the fast kernels
 * (dwconv2d_fast.c) share and that lets them split the batch among threads. */
#define DW_CHUNKS 16
static inline int dw_chunks(int B) { return B < DW_CHUNKS ? B : DW_CHUNKS; }
size_t dwconv2d_scratch_floats(const conv2d_shape *s);
void dwconv2d_forward(float *y, const float *x, const float *w, const float *b,
                      const conv2d_shape *s, float *scratch);
void dwconv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, const conv2d_shape *s, float *scratch);

/* The fast paths; conv2d_uses_* say whether conv2d_forward/backward take them. Their
 * forward's epilogue and their backward's acc are conv2d_forward's and conv2d_backward's. */
bool conv2d_uses_slots(const conv2d_shape *s);
size_t conv2d_slots_scratch_floats(const conv2d_shape *s);
void conv2d_slots_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                          float *scratch, const conv_epilogue *e);
void conv2d_slots_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const conv2d_shape *s, float *scratch, bool acc);
/* Winograd F(2x2, 3x3) (conv2d_winograd.c): 3x3, stride 1, pad <= 2, one group, at least 16
 * channels in and out, at most 2^20 (c, o) pairs, at the AVX-512 level. */
bool conv2d_uses_winograd(const conv2d_shape *s);
size_t conv2d_winograd_scratch_floats(const conv2d_shape *s);
void conv2d_winograd_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                             float *scratch, const conv_epilogue *e);
void conv2d_winograd_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, const conv2d_shape *s, float *scratch, bool acc);
/* The slots' and Winograd's pieces: e's epilogue on the output rows of samples [bs, bs + nb)
 * of y; db += column sums of dy (rows, OC) in a fixed order (double sums). */
void conv2d_block_epilogue(float *y, const conv2d_shape *s, int bs, int nb, const conv_epilogue *e);
void conv2d_bias_grad_fast(float *db, const float *dy, size_t rows, int OC);
bool conv2d_uses_direct(const conv2d_shape *s);
size_t conv2d_direct_scratch_floats(const conv2d_shape *s);
void conv2d_direct_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                           float *scratch, const conv_epilogue *e);
/* dx through the slots path (the input gradient of a direct conv is a GEMM-shaped sum). */
void conv2d_direct_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const conv2d_shape *s, float *scratch, bool acc);

/* Its pieces on the calling thread, for kernels/chain.h: wt (taps, OC) from w; output rows
 * [r0, r1) of the B*OH rows with bn and act (bit-identical to conv2d_direct_forward's). */
void conv2d_direct_weights(float *wt, const float *w, const conv2d_shape *s);
void conv2d_direct_rows(float *y, const float *x, const float *wt, const float *b, const conv2d_shape *s, int r0,
                        int r1, const conv_bn *bn, act_kind act);
/* The input gradient of one sample of a one-group, not pointwise conv on the calling thread:
 * cols (OH*OW, K*K*C) = dyb x w, then added into dxb output pixel by output pixel (acc adds
 * to dxb, else writes it) — the slots path's sums in another order (equal to rounding). */
void conv2d_dx_sample(float *dxb, const float *dyb, const float *w, const conv2d_shape *s, float *cols, bool acc);

/* Depthwise, multiplier 1: same scratch as dwconv2d_*. */
bool dwconv2d_fast_applies(const conv2d_shape *s);
void dwconv2d_fast_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                           float *scratch, const conv_epilogue *e);
void dwconv2d_fast_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const conv2d_shape *s, float *scratch, bool acc);

/* Its pieces on the calling thread, for kernels that run a depthwise conv inside their own
 * blocks (kernels/chain.h): wt (K*K, C) from w (C, K*K); output rows [r0, r1) of the B*OH
 * rows with bn and act (as conv2d_forward's epilogue); input-gradient rows [r0, r1) of the B*H rows
 * (acc as conv2d_backward's). Bit-identical to the whole-tensor calls. */
void dwconv2d_fast_weights(float *wt, const float *w, const conv2d_shape *s);
/* The backward of a depthwise conv and the training batch norm after it (with its ReLU/ReLU6),
 * without the batch norm's input gradient ever in memory: threads take the chunks of samples
 * (dw_chunks) and, sample by sample, form that gradient's tile (batchnorm_dx_bits_tile: k = the
 * batch norm's k0, k1, k2 of batchnorm_dx_coeffs, g its activation's output gradient, bits the
 * activation's mask, y the conv's output, mean the batch mean), then the conv's input gradient
 * (dx, acc: add) and its chunk's weight-gradient sums (dw, added at the end; NULL: skipped) from
 * it while it is in cache. Every element gets dwconv2d_fast_backward's operations in its order
 * from the gradient batchnorm_backward_dx writes: the same bits, on any number of threads.
 * Runs on 3x3 depthwise convs of whole channel blocks; applies (the plan takes it) where a
 * sample's tile (OH x OW x C) stays in L2 beside the rows it reads: at most DW_BN_TILE_MAX
 * floats. No bias. scratch: dwconv2d_fast_bn_scratch_floats(s, threads). */
#define DW_BN_TILE_MAX ((size_t)1 << 17)
typedef struct dw_bn_grad {
    const float *g, *y, *mean, *k;
    const uint8_t *bits;
} dw_bn_grad;
bool dwconv2d_fast_bn_applies(const conv2d_shape *s);
size_t dwconv2d_fast_bn_scratch_floats(const conv2d_shape *s, int threads);
void dwconv2d_fast_backward_bn(float *dx, float *dw, const dw_bn_grad *g, const float *x, const float *w,
                               const conv2d_shape *s, float *scratch, int threads, bool acc);
void dwconv2d_fast_rows(float *y, const float *x, const float *wt, const float *b, const conv2d_shape *s,
                        int r0, int r1, const conv_bn *bn, act_kind act);
void dwconv2d_fast_dx_rows(float *dx, const float *dy, const float *wt, const conv2d_shape *s, int r0, int r1,
                           bool acc);

/* db (OC) += column sums of dy (rows, OC), in double, rows in order. */
void conv2d_bias_grad(float *db, const float *dy, size_t rows, int OC);

/* Weight layout conversions for files and tests: PyTorch (O, IC, K, K) <-> ours (O, K, K, IC). */
void conv_weight_oihw_to_ohwi(float *dst, const float *src, int O, int IC, int K);
void conv_weight_ohwi_to_oihw(float *dst, const float *src, int O, int IC, int K);

#endif
