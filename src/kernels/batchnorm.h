/* 2-D batch normalisation over NHWC activations seen as N = B*H*W rows of C channels.
 *
 * Per-channel reductions are summed in double — the training forward's statistics per
 * sample, the backward's over a fixed number of row chunks (which depends on N only) — and
 * the partials combined in order, so results do not depend on the thread count. `work` is caller-provided scratch of batchnorm_work_doubles. */
#ifndef RP_KERNELS_BATCHNORM_H
#define RP_KERNELS_BATCHNORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/activation.h"

#define BN_CHUNKS 32 /* fixed: the reduction order must not depend on the thread count */

/* Doubles of work for C channels and `samples` samples (the training forward's statistics are
 * per sample: see batchnorm_forward_train). */
size_t batchnorm_work_doubles(int C, size_t samples);

/* Training: normalise with the batch mean and biased variance.
 * y (N, C) = (x - mean) * invstd * gamma + beta, invstd = 1/sqrt(var + eps).
 * Writes mean[C] and invstd[C] (kept for backward). Updates running_mean/var (C) with
 * momentum and the unbiased variance, as PyTorch does (when N == 1 the unbiased variance
 * is undefined and running_var is left as it is).
 * The rows are N / P samples of P rows (N % P == 0). The statistics are summed per sample,
 * around the sample's first row, in row order (batchnorm_sample_sums), then moved to the
 * batch's first row and added in sample order (batchnorm_stats_combine): a conv that writes x
 * can form those sums while each sample's output is in cache (conv2d_forward with conv_epilogue.sums). */
void batchnorm_forward_train(float *y, float *mean, float *invstd, float *running_mean,
                             float *running_var, const float *x, const float *gamma,
                             const float *beta, size_t N, int C, size_t P, float eps, float momentum,
                             double *work);
/* One channel's batch statistics from its mean and biased variance (double; a negative
 * variance, rounding, counts as 0): mean, invstd = 1/sqrt(var + eps), and the running
 * statistics' update with momentum and the unbiased variance (kept when N == 1). */
void batchnorm_train_channel(float *mean, float *invstd, float *running_mean, float *running_var, double mean_d,
                             double var, size_t N, float eps, float momentum);
/* One sample's sums: q[c] = sum over its P rows in order of u = x - x[first row] (double),
 * q[C + c] = sum of u*u; on the calling thread. */
void batchnorm_sample_sums(double *q, const float *x, size_t P, int C);
/* s1, s2 (C) = the batch's sums around its first row from the S samples' q (S x 2C). */
void batchnorm_stats_combine(double *s1, double *s2, const double *q, const float *x, size_t S, size_t P, int C);

/* Evaluation: normalise with the running statistics. Writes mean[C] = running_mean and
 * invstd[C] = 1/sqrt(running_var + eps) (kept for backward). */
void batchnorm_forward_eval(float *y, float *mean, float *invstd, const float *running_mean,
                            const float *running_var, const float *x, const float *gamma,
                            const float *beta, size_t N, int C, float eps);

/* Backward from the mean/invstd written by the forward. train: the full gradient through
 * the batch statistics; !train: the affine map of evaluation. Accumulates into
 * dx (N, C), dgamma (C), dbeta (C); each may be NULL (skipped). */
void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *mean, const float *invstd, const float *gamma, size_t N,
                        int C, int train, double *work);
/* The forwards with an activation applied to y: act = ACT_RELU or ACT_RELU6 gives,
 * bit for bit, relu_forward / relu6_forward of the plain forward's y (a BN and the ReLU
 * after it in one pass, without writing the BN's own output). */
/* sums: the samples' batchnorm_sample_sums (N/P x 2C doubles) when the producer formed them,
 * else NULL (computed here). bits (N x act_mask_row_bytes(C), or NULL): with act, the
 * activation's mask (kernels/actmask.h) for batchnorm_backward_act. */
void batchnorm_forward_train_ex(float *y, float *mean, float *invstd, float *running_mean,
                                float *running_var, const float *x, const float *gamma,
                                const float *beta, size_t N, int C, size_t P, float eps, float momentum,
                                double *work, act_kind act, const double *sums, uint8_t *bits);
void batchnorm_forward_eval_ex(float *y, float *mean, float *invstd, const float *running_mean,
                               const float *running_var, const float *x, const float *gamma,
                               const float *beta, size_t N, int C, float eps, act_kind act);
/* acc = true: as batchnorm_backward; false: WRITES dx = 0 + ... (bit-identical to adding into
 * a zeroed dx). dgamma and dbeta always accumulate. */
void batchnorm_backward_ex(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                           const float *mean, const float *invstd, const float *gamma, size_t N,
                           int C, int train, double *work, bool acc);

/* batchnorm_backward_ex for a batch norm followed by a ReLU (act = ACT_RELU) or ReLU6
 * (ACT_RELU6) whose forward it did: dy is the activation's output gradient and act_y its
 * output; the gradient used is relu*_backward_ex's (acc = false) from them, bit for bit, so
 * the result equals that backward followed by batchnorm_backward_ex. act = ACT_NONE:
 * batchnorm_backward_ex (act_y unused). bits (not NULL, training or with dgamma/dbeta): the
 * mask from the forward's bits instead of act_y, the same results. */
void batchnorm_backward_act(float *dx, float *dgamma, float *dbeta, const float *dy, const float *act_y,
                            const uint8_t *bits, act_kind act, const float *x, const float *mean, const float *invstd,
                            const float *gamma, size_t N, int C, int train, double *work, bool acc);

/* The pieces of the training forward and backward for batch statistics formed over several
 * processes (nn/batchnorm.c under a dist):
 * batchnorm_moments: the rows' per-channel mean and M2 = sum (x - mean)^2 (double), from the
 * samples' sums (as batchnorm_forward_train_ex: around each sample's first row, combined around
 * the rows' first; sums NULL: computed here), N >= 1. work: batchnorm_work_doubles.
 * batchnorm_normalise: y = act((x - mean) * (invstd * gamma) + beta), bits as the forward's.
 * batchnorm_grad_sums: work's first 2C doubles <- sdy[c] = sum of the (masked) gradient,
 * sdyx[c] = sum of it times (x - mean), as batchnorm_backward_act forms them.
 * batchnorm_backward_dx: batchnorm_backward_act's dx from the sums in work's first 2C doubles,
 * divided by n_div (N for one process's batch) instead of N; param_rows: the backward forms
 * dgamma or dbeta (it picks the same row kernel as batchnorm_backward_act). */
void batchnorm_moments(double *mean, double *m2, const float *x, size_t N, int C, size_t P, const double *sums,
                       double *work);
void batchnorm_normalise(float *y, const float *x, const float *mean, const float *invstd, const float *gamma,
                         const float *beta, size_t N, int C, act_kind act, uint8_t *bits);
void batchnorm_grad_sums(double *work, const float *dy, const float *act_y, const uint8_t *bits, act_kind act,
                         const float *x, const float *mean, size_t N, int C);
void batchnorm_backward_dx(float *dx, const float *dy, const float *act_y, const uint8_t *bits, act_kind act,
                           const float *x, const float *mean, const float *invstd, const float *gamma, size_t N,
                           int C, int train, bool param_rows, double n_div, double *work, bool acc);

/* The map from the sums in work's first 2C doubles to the input gradient, as batchnorm_backward_dx
 * forms it: k0[c], k1[c], k2[c] (3C floats in work from its 4C-th double on; the pointer to
 * k0 returned), dx = k1 * (masked) dy + k0 + k2 * (x - mean).
 * batchnorm_dx_bits_tile: that map applied in write mode to rows x C of a training batch norm's
 * gradient with its activation's mask bits, channels [c0, c1) alone (multiples of 16, or 0 and
 * C), on the calling thread: batchnorm_backward_dx's elements bit for bit (a consumer that
 * forms the gradient a tile at a time: dwconv2d_fast_backward_bn). k: k0, k1, k2 in a row. */
/* dbeta[c] += sdy[c], dgamma[c] += sdyx[c] * invstd[c] from the sums in work's first 2C doubles
 * (either NULL: skipped). */
void batchnorm_param_grads(float *dgamma, float *dbeta, const double *work, const float *invstd, int C);
const float *batchnorm_dx_coeffs(double *work, const float *invstd, const float *gamma, int C, int train,
                                 double n_div);
void batchnorm_dx_bits_tile(float *dx, const float *g, const uint8_t *bits, const float *x, const float *mean,
                            const float *k, size_t rows, int C, int c0, int c1);

/* Evaluation-mode pieces for a producer that does the batch norm after it (conv2d_forward, conv_epilogue.bn):
 * the per-channel mean/invstd batchnorm_forward_eval writes, and its rows applied in place
 * on the calling thread (bit-identical to batchnorm_forward_eval_ex's y). In evaluation mode
 * without dgamma/dbeta the backward never reads x. */
void batchnorm_eval_stats(float *mean, float *invstd, const float *running_mean, const float *running_var, int C,
                          float eps);
void batchnorm_eval_apply(float *y, size_t rows, int C, const float *mean, const float *invstd, const float *gamma,
                          const float *beta, act_kind act);

/* The evaluation-mode input gradient without parameter gradients on the calling thread, for
 * a kernel that runs a batch norm inside its own blocks (kernels/chain.h): k1[c] = gamma[c] *
 * invstd[c] as batchnorm_backward_act forms it, then dx (rows, C) = k1 * dy, dy masked by act
 * (BN_ACT_*) from act_y, or from bits (kernels/actmask.h; write mode only) when given; acc
 * adds into dx. Bit-identical to batchnorm_backward_act's dx. */
void batchnorm_eval_k1(float *k1, const float *gamma, const float *invstd, int C);
void batchnorm_eval_dx_rows(float *dx, const float *dy, const float *act_y, const uint8_t *bits, act_kind act,
                            const float *k1, size_t rows, int C, bool acc);

/* The reference kernels: the same maths in plain loops. The kernels above are SIMD versions
 * (batchnorm_fast.c) that do the same double/float operations in the same order, so their
 * results are bit-identical (tests/test_kernels_fast.c). */
void batchnorm_forward_train_ref(float *y, float *mean, float *invstd, float *running_mean,
                                 float *running_var, const float *x, const float *gamma,
                                 const float *beta, size_t N, int C, size_t P, float eps, float momentum,
                                 double *work);
void batchnorm_forward_eval_ref(float *y, float *mean, float *invstd, const float *running_mean,
                                const float *running_var, const float *x, const float *gamma,
                                const float *beta, size_t N, int C, float eps);
void batchnorm_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                            const float *mean, const float *invstd, const float *gamma, size_t N,
                            int C, int train, double *work);

#endif
