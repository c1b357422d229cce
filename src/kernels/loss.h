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

/* AugMix's Jensen-Shannon consistency over V views of B examples (Hendrycks et al. 2020):
 * z (V*B, K) holds the views' logits, view v in rows v*B .. v*B+B-1 (AugMix: clean, aug1,
 * aug2). With p_v = softmax(z_v) and M = clamp(mean_v p_v, 1e-7, 1),
 *     JS = (1/V) sum_v KL(p_v || M), KL summed over classes and averaged over the B rows
 * (PyTorch: mean of F.kl_div(log M, p_v, reduction='batchmean'), as the paper's code).
 * When dz is non-NULL, scale * d(JS)/dz is ADDED into dz (V*B, K). Returns JS. */
float rp_jsd_logits(const float *z, int V, int B, int K, float *dz, float scale);

#endif
