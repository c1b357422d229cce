/* Fully connected layer on raw pointers: y = x W^T + b, W in PyTorch's (OUT, IN) layout.
 * GEMMs go through rp_sgemm (split over OpenMP threads); call these outside OpenMP regions.
 * Backward accumulates (+=) into every non-NULL output. */
#ifndef RP_KERNELS_LINEAR_H
#define RP_KERNELS_LINEAR_H

#include <stdbool.h>

/* y (B, OUT) = x (B, IN) . w^T (IN, OUT) + b (OUT); b may be NULL. y is written. */
void linear_forward(float *y, const float *x, const float *w, const float *b, int B, int IN,
                    int OUT);

/* dx (B, IN) += dy . w;  dw (OUT, IN) += dy^T . x;  db (OUT) += sum over B of dy.
 * Any of dx, dw, db may be NULL (skipped). */
void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, int B, int IN, int OUT);
/* acc = false: WRITES dx (as adding into a zeroed dx). */
void linear_backward_ex(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int B, int IN, int OUT, bool acc);

#endif
