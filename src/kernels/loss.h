/* Losses over logits (B, K). rp_softmax_xent is declared in rampart.h (public). */
#ifndef RP_KERNELS_LOSS_H
#define RP_KERNELS_LOSS_H

#include "rampart.h"

/* KL(softmax(p) || softmax(q)) summed over the K classes and averaged over the B rows,
 * i.e. PyTorch's KLDivLoss(reduction='batchmean')(log_softmax(q), softmax(p)), as TRADES
 * uses it (p: natural logits, q: adversarial logits). When non-NULL, dp and dq (B, K) are
 * WRITTEN with scale * d(loss)/dp and scale * d(loss)/dq. Returns the loss. */
float rp_kl_div_logits(const float *p_logits, const float *q_logits, int B, int K, float *dp,
                       float *dq, float scale);

#endif
