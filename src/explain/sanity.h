/* Checks that an explanation explains the model (Adebayo et al. 2018) and the prediction
 * (Petsiuk et al. 2018), for `rampart explain --sanity` and the tests. */
#ifndef RP_EXPLAIN_SANITY_H
#define RP_EXPLAIN_SANITY_H

#include "explain/explain.h"

/* *rho = Spearman rank correlation of a and b (n values): the Pearson correlation of their ranks,
 * ties given their average rank. A constant input has no ranking: *rho is then 0. */
rp_status rp_spearman(rp_ctx *ctx, const float *a, const float *b, int n, double *rho);

typedef struct rp_sanity_row {
    char layer[64];    /* the node re-randomized at this step (cumulative from the top) */
    double rho_map;    /* mean over images of Spearman(original, randomized) importance maps */
    double rho_signed; /* the same for the signed maps */
} rp_sanity_row;

/* Cascading model-parameter randomization: for every node with trainable parameters, from the
 * logits down to the input, re-draw its trainable parameters from their initialiser (seeded;
 * buffers such as BatchNorm statistics are kept), recompute the maps of method m for the SAME
 * targets, and compare them with the maps of the intact model. rows has room for one row per
 * parametrised node (at most max_rows; *n_rows gets the count). The model's parameters are
 * restored before returning, also on error. Passing methods' correlations fall towards 0;
 * guided backprop's stay high (the paper's finding). */
rp_status rp_sanity_randomization(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *t, int B,
                                  uint64_t seed, rp_sanity_row *rows, int max_rows, int *n_rows);

/* Deletion and insertion (Petsiuk et al. 2018, RISE) for maps (B,H,W): pixels are ranked by
 * map value, highest first (ties in a seeded random order: a constant map ranks exactly as
 * rp_xai_random_map with the same seed). Deletion sets the top fraction k/steps of pixels (all channels) to 0 (black);
 * insertion starts from the image blurred (rp_xai_blur_sigma) and puts the top pixels back.
 * The curve is the softmax probability of the target class at k = 0..steps; the AUC is its
 * trapezoid area over [0, 1]. LOWER deletion AUC and HIGHER insertion AUC are better.
 * del_auc, ins_auc: (B), either may be NULL. */
rp_status rp_xai_deletion_insertion(rp_explainer *ex, const float *x, const int32_t *t, int B, const float *map,
                                    int steps, uint64_t seed, double *del_auc, double *ins_auc);

/* A map of n uniform values from a seeded stream: the baseline a map must beat. */
void rp_xai_random_map(float *map, size_t n, uint64_t seed);

#endif
