/* A chain of convolutions run a few samples at a time, in evaluation mode: each unit is a
 * pointwise conv (1x1, stride 1, no padding, one group), a depthwise conv that dwconv2d_fast
 * takes, or a small conv that the direct path takes (a first layer), followed by an evaluation-mode batch norm and optionally a ReLU or
 * ReLU6; the last unit has no activation, and the chain's input may be added to its output
 * (a residual). MobileNetV2's inverted residual block is such a chain: expand, depthwise,
 * project (and MobileNetV2's first layer, 3x3 stride 2, joins the first block's chain).
 *
 * Run unit by unit over the whole batch, every intermediate tensor goes to memory and back;
 * the expanded ones are 6x the block's input, and those passes, not the arithmetic, bound
 * the early blocks. Here each thread takes a tile of samples through the whole chain with
 * the intermediates in its own buffers (which stay in L2), and only the chain's output is
 * written.
 *
 * chain_backward is the input gradient alone (an attack's or an explanation's pass: no
 * parameter gradients), which needs no activation but the activations' masks: the forward
 * keeps them as bits (1/32 of the floats) and the backward runs the units' transposed maps
 * back to the input per tile — batch norm k1 = gamma * invstd with the mask, the conv's
 * input gradient — and adds the chain's output gradient for the residual.
 *
 * Every unit does the operations of its own kernels: the depthwise rows and the batch-norm
 * pieces are the same functions (bit-identical), the pointwise convs are one single-threaded
 * product per tile (gemm_direct at AVX-512, else cblas_sgemm) where the whole-batch path
 * splits rows otherwise (equal to float rounding). */
#ifndef RP_KERNELS_CHAIN_H
#define RP_KERNELS_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/conv2d.h"

#define CHAIN_MAX 4

typedef struct chain_unit {
    conv2d_shape s;       /* this conv for the whole batch (tiles take their own B) */
    const float *w, *b;   /* OHWI weights; bias or NULL */
    conv_bn bn;           /* the batch norm after it (evaluation mode; all four set) */
    act_kind act;              /* ACT_NONE, ACT_RELU, ACT_RELU6 (kernels/activation.h) */
} chain_unit;

typedef struct conv_chain {
    int n;                /* units, 1..CHAIN_MAX; each one's input is the one before's output */
    chain_unit u[CHAIN_MAX];
    bool residual;        /* y = chain(x) + x */
} conv_chain;

/* Whether a conv can be a unit. */
bool chain_unit_applies(const conv2d_shape *s);
/* Samples per tile for batch B (the same for any thread count, and so are the results). */
int chain_tile(const conv_chain *c, int B);
/* Scratch floats for batch B on at most `threads` threads (forward and backward). */
size_t chain_scratch_floats(const conv_chain *c, int B, int threads);

/* Bytes of the activation masks of a batch of B. */
size_t chain_mask_bytes(const conv_chain *c, int B);

/* y (B, OH, OW, OC of the last unit) = the chain on x; threads: at most that many. masks
 * (chain_mask_bytes, or NULL): the bits chain_backward needs. Every unit but the last has an
 * activation, the last none. */
void chain_forward(float *y, const float *x, const conv_chain *c, int B, float *scratch, int threads,
                   uint8_t *masks);
/* dx (B, H, W, C of the first unit) = J^T dy (acc: dx +=) at the point of the forward that
 * wrote masks, the chain's weights and batch norms held fixed. */
void chain_backward(float *dx, const float *dy, const uint8_t *masks, const conv_chain *c, int B, float *scratch,
                    int threads, bool acc);

#endif
