/* A pointwise convolution (1x1, stride 1, one group) followed by a batch norm in training mode,
 * and optionally a ReLU or ReLU6, without the convolution's output E = X W^T + b (N rows of OC
 * channels from X's N rows of C). For MobileNetV2's expand convolutions E is six times as wide
 * as X and is the largest tensor of the block: the separate layers write it, read it for the
 * statistics, read it again to normalise, and in the backward read it twice more and write and
 * read its gradient — memory passes, not arithmetic, bound those layers.
 *
 * Statistics. E's batch mean and biased variance follow from X's mean mu and covariance S:
 *     mean_E = W mu + b,    var_E[o] = w_o^T S w_o
 * (pwbn_moments). With them the
 * convolution writes the batch norm's output directly, as in evaluation (conv2d_forward with a
 * batch-norm epilogue).
 *
 * Backward. With G the gradient of the batch norm's output (masked by the activation's bits),
 * s1 = sum over rows of G and P = G^T X (OC x C), the batch norm's input gradient
 *     dE = k1 G + k0 + k2 (E - mean_E),   k1 = gamma invstd, k0 = -k1 s1 / N,
 *     k2 = -k1 invstd^2 S2 / N,   S2[o] = sum_rows G (E - mean_E) = w_o . (P_o - s1_o mu)
 * meets the convolution's backward without E or dE:
 *     dgamma += invstd S2,  dbeta += s1,  db += k1 s1 + N k0 (zero up to rounding),
 *     dW += k1 P + N (k0 mu^T + k2 (W S)),
 *     dX (+)= G (k1 W) + X M + (W^T k0 - M mu),   M = W^T diag(k2) W (C x C).
 * This is batchnorm_backward followed by conv2d_backward in another order: equal to float
 * rounding (tests/test_pwbn.c, and whole models against PyTorch in tests/test_models_ref.c).
 * The extra arithmetic is N C^2 (moments, X M) + ~3 OC C^2 multiply-adds: worth it where X is
 * narrow and N large (pwbn_worth). Results do not depend on the thread count. */
#ifndef RP_KERNELS_PWBN_H
#define RP_KERNELS_PWBN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the fused path pays for a conv of C -> OC channels over N rows: its extra
 * multiply-adds (in double) against the memory passes over E it saves. */
bool pwbn_worth(size_t N, int C, int OC);

/* Doubles of mu (C) then S (C x C): what the forward keeps for the backward. */
size_t pwbn_moment_doubles(int C);
/* Doubles of work, floats of scratch, for pwbn_moments and pwbn_backward. */
size_t pwbn_work_doubles(size_t N, int C, int OC);
size_t pwbn_scratch_floats(int C, int OC);

/* m (pwbn_moment_doubles): the mean and biased covariance of x's N rows of C channels: the rows
 * shifted by the first one (u = x - x_0, a copy in fwork), summed in double and multiplied out
 * as u^T u in float, in fixed chunks of rows added in double in order; S = u^T u / N - d d^T
 * with d = mean(u), of the order of the spread (no cancellation to speak of). fwork:
 * pwbn_moment_floats. */
size_t pwbn_moment_floats(size_t N, int C);
void pwbn_moments(double *m, const float *x, size_t N, int C, double *work, float *fwork);
/* mean (OC), var (OC) of E = x w^T + b from the moments m; w (OC, C), b (OC) or NULL. */
void pwbn_stats(double *mean, double *var, const double *m, const float *w, const float *b, int C, int OC);

/* The gradients the backward accumulates into; any of them may be NULL (skipped). dx: written
 * when !acc_dx, else added to. */
typedef struct pwbn_grads {
    float *dx, *dw, *db, *dgamma, *dbeta;
    bool acc_dx;
} pwbn_grads;

/* g (N, OC): the gradient of the batch norm's output; with bits (kernels/actmask.h, the
 * activation's mask from the forward) it is masked IN PLACE first. x (N, C), w (OC, C), gamma
 * and invstd (OC) of the forward, m its moments. */
void pwbn_backward(const pwbn_grads *d, float *g, const uint8_t *bits, const float *x, const float *w,
                   const float *gamma, const float *invstd, const double *m, size_t N, int C, int OC,
                   float *scratch, double *work);

#endif
