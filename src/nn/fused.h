/* What the conv and batch-norm layers offer the plan's fused steps (nn/plan.h) beyond their
 * rp_layer_ops: a conv's forward into another node's output with an epilogue (the batch norm
 * after it, an activation, the activation's mask bits, the batch norm's statistics), the
 * training fold of kernels/pwbn.h, and a batch norm's forward and backward with the ReLU/ReLU6
 * after it. */
#ifndef RP_NN_FUSED_H
#define RP_NN_FUSED_H

#include <stdint.h>

#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "nn/graph.h"

/* What a conv that did the training batch norm after it needs of that batch norm for the
 * backward of both (kernels/pwbn.h; filled by rp_bn_fold_grads). */
typedef struct rp_fold_grads {
    float *g;             /* the gradient of the batch norm's output, or of its activation's (masked
                           * in place with bits) */
    const uint8_t *bits;  /* the activation's mask, or NULL: g is the batch norm output's gradient */
    const float *gamma, *invstd;
    float *dgamma, *dbeta; /* NULL when not wanted */
} rp_fold_grads;

/* The activation a ReLU (ACT_RELU) or ReLU6 (ACT_RELU6) node applies; ACT_NONE for other
 * nodes (nn/relu.c). */
act_kind rp_node_act(const rp_node *n);

/* Conv (nn/conv2d.c) ---------------------------------------------------------------- */
/* y = conv(n->x[0]) then the epilogue e (kernels/conv2d.h: the batch norm after it, its
 * activation, the activation's mask, or the batch norm's sums; NULL: none). */
void rp_conv2d_forward_to(rp_node *n, const rp_pass *p, float *y, const conv_epilogue *e);
/* Whether its training forward can form the batch norm's sums of its output. */
bool rp_conv2d_forms_sums(const rp_node *n);
/* The training fold (kernels/pwbn.h): whether it applies at batch B (a pointwise one-group conv
 * that widens its input, OC >= 2 C) where it pays, or wherever it can (always, or B == 0). */
bool rp_conv2d_bn_train_applies(const rp_node *n, int B, bool always);
/* Floats it keeps from forward to backward (its input's moments), and of scratch at batch B. */
size_t rp_conv2d_bn_train_mem_floats(const rp_node *n);
size_t rp_conv2d_bn_train_scratch_floats(const rp_node *n, int B);
/* The batch norm's batch mean and variance of the conv's output (OC doubles each) from its
 * input's moments, which it keeps in mem. */
void rp_conv2d_bn_train_stats(rp_node *n, int B, float *mem, double *mean, double *var);
/* Both layers' backward: n->dx[0] (n->dx_write[0]) and, with p->param_grads, the conv's
 * parameter gradients; f the batch norm's. */
void rp_conv2d_bn_train_backward(rp_node *n, const rp_pass *p, const rp_fold_grads *f, const float *mem);

/* The depthwise conv's backward that does the training batch norm's after it, with its
 * ReLU/ReLU6 (kernels/conv2d.h, dwconv2d_fast_backward_bn): whether it applies (a 3x3 depthwise
 * conv without bias, whole channel blocks, a sample's output small enough to stay in cache), its
 * scratch at batch B on `threads` threads, and the backward: n->dx[0] (n->dx_write[0]) and, with
 * p->param_grads, the conv's weight gradient, from g (rp_bn_backward_map), scratch its own. */
bool rp_conv2d_dw_bn_applies(const rp_node *n);
size_t rp_conv2d_dw_bn_scratch_floats(const rp_node *n, int B, int threads);
void rp_conv2d_dw_bn_backward(rp_node *n, const rp_pass *p, const dw_bn_grad *g, float *scratch, int threads);

/* Max-pool (nn/pool.c) ---------------------------------------------------------------- */
/* The backward of the ReLU/ReLU6 act before the pool too: dx[0] is that activation's input's
 * gradient, the mask from the pool's output (a max-pool of ReLU outputs). */
void rp_maxpool_backward_act(rp_node *n, const rp_pass *p, act_kind act);
/* Max-pool node n as the epilogue of the conv before it (conv_epilogue.pool): its shape at batch
 * B, its output and the argmax its backward reads. */
void rp_maxpool_epilogue(rp_node *n, int B, conv_pool *cp);

/* Batch norm (nn/batchnorm.c) --------------------------------------------------------- */
/* Its evaluation-mode map (computing the mean/invstd its backward reads). */
void rp_bn_eval_map(rp_node *n, conv_bn *f);
/* The forward with the activation act after it applied, written to y (the activation's
 * output); training: sums (the conv's, or NULL) and the mask bits (or NULL). */
void rp_bn_forward_act(rp_node *n, const rp_pass *p, float *y, act_kind act, const double *sums, uint8_t *bits);
/* The backward of the batch norm and the activation act after it: dy is act's output gradient,
 * the mask from bits (training) or from act's output act_y. */
void rp_bn_backward_act(rp_node *n, const rp_pass *p, const float *dy, act_kind act, const float *act_y,
                        const uint8_t *bits);
/* The training backward of the batch norm and the ReLU/ReLU6 act after it (dy: act's output
 * gradient, bits: the forward's mask) up to its input gradient, which a consumer forms (the
 * depthwise conv before it): the gradient's sums (every process's under a dist), the batch
 * norm's parameter gradients, and g's map (g->k in the node's scratch: batchnorm_dx_coeffs).
 * The same bits as rp_bn_backward_act's. */
void rp_bn_backward_map(rp_node *n, const rp_pass *p, const float *dy, act_kind act, const uint8_t *bits,
                        dw_bn_grad *g);
/* Floats of its backward's scratch at batch B, where the map lives, rounded up to 64 bytes: the
 * consumer's own scratch starts after them. */
size_t rp_bn_map_floats(const rp_node *n, int B);
/* Floats of an activation mask of its output at batch B. */
size_t rp_bn_mask_floats(const rp_node *n, int B);
/* The training fold: the batch statistics (mean, biased variance over N rows) from the conv;
 * updates the running statistics and fills f. */
void rp_bn_train_from_stats(rp_node *n, const double *mean, const double *var, size_t N, conv_bn *f);
/* ... and what the conv's backward needs of it: g the gradient of its output, or of its
 * activation's with that activation's mask bits. */
void rp_bn_fold_grads(rp_node *n, const rp_pass *p, float *g, const uint8_t *bits, rp_fold_grads *out);

#endif
