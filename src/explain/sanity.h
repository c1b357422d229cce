/* Checks that an explanation explains the model (Adebayo et al. 2018) and the prediction
 * (Petsiuk et al. 2018), for `rampart explain --sanity` and the tests. */
#ifndef RP_EXPLAIN_SANITY_H
#define RP_EXPLAIN_SANITY_H

#include "explain/explain.h"

/* *rho = Spearman rank correlation of a and b (n values): the Pearson correlation of their ranks,
 * ties given their average rank. A constant input has no ranking: *rho is then 0. */
rp_status rp_spearman(rp_ctx *ctx, const float *a, const float *b, int n, double *rho);

/* rp_sanity_row, rp_sanity_randomization, rp_xai_deletion_insertion and rp_xai_random_map are
 * public: include/rampart.h declares and documents them. */

#endif
