/* Training objectives wrap the base model: they call its forward/backward as often as
 * they need, and the model never knows it was wrapped.
 *
 * Modes: every loss that trains the parameters is a TRAINING-mode pass (batch statistics,
 * dropout). The inner maximisations that only craft x_adv (fast, pgd, trades, and advreg's
 * iterations after the first) run in EVAL mode, so crafting never moves BatchNorm's running
 * statistics and sees the model as it will be evaluated. advreg's first step reuses the
 * gradient of the clean training-mode pass, as NSL does.
 *
 * Costs in forward+backward passes of a batch (erm = 1): advreg 2 (+ 1 per extra PGD
 * iteration), fgsm 2, fast 2 + a clean forward, pgd steps + 1 (+ a clean forward with random
 * init), trades steps + 1 clean forward + one pass of the doubled batch [x; x_adv]. */
#ifndef RP_ROBUST_OBJECTIVE_H
#define RP_ROBUST_OBJECTIVE_H

#include "core/rng.h"
#include "dist/dist.h"
#include "nn/model.h"
#include "rampart.h"

struct rp_objective {
    rp_ctx *ctx;
    rp_model *m;
    rp_objective_config cfg; /* defaults resolved (step sizes) */
    int max_batch;
    float *dlogits;  /* (3 max_batch, K): trades uses [clean | adversarial | scratch] */
    float *logits;   /* (max_batch, K) copy of the clean logits */
    float *x_adv;    /* (max_batch, H, W, C) */
    float *dx;       /* (max_batch, H, W, C) */
    float *xcat;     /* trades: (2 max_batch, H, W, C) = [x; x_adv]; consistency: (3 max_batch, ...) = [x; views] */
    float *dir;      /* (H, W, C) one example's step direction / sort scratch */
    rp_rng *rngs;    /* (max_batch) each example's stream in the current step (random starts) */
    int64_t next_index;    /* examples numbered on from 0 when the caller names none */
    int key_epoch;         /* rp_objective_set_examples: the next step's epoch and samples */
    const int *key_idx;    /* BORROWED for one step, or NULL */
    rp_dist *dist;         /* BORROWED: data-parallel steps (rp_objective_set_dist), or NULL */
    float *gbuf;           /* (trainable scalars) the gradients packed for one all-reduce */
    float sam_rho;         /* rp_objective_set_sam: 0, or the radius of SAM's weight perturbation */
    float *sam_w;          /* (trainable scalars) the weights before SAM's ascent */
    float *sam_buffers;    /* (buffer scalars) batch norms' running statistics before SAM's second pass */
};

/* Per-example step direction of gradient row g (X floats), NSL's maximiser of <g, d> over
 * the unit ball: sign(g) (L-inf); g / max(||g||_2, 1e-6) (L2); for L1 the unit vector at the
 * largest |g_k| with its sign, shared equally among ties. Non-finite entries count as 0. */
void rp_obj_direction(rp_norm norm, const float *g, float *d, size_t X);
/* Euclidean projection of v - x onto the eps-ball of the norm (eps <= 0 or infinite: none),
 * then clip to [lo, hi]; scratch holds X floats (L1 sorts there). */
void rp_obj_project(float *v, const float *x, size_t X, rp_norm norm, float eps, float lo, float hi,
                    float *scratch);

/* The corruption families (bits 1u << rp_corruption_family, data/corrupt.h) an objective's
 * training touches; rp_objective_corruption_families (rampart.h) is the checked form. */
unsigned rp_objective_families(const rp_objective_config *c);

/* rp_objective_set_dist (data-parallel steps) and rp_objective_set_sam (sharpness-aware
 * minimisation) are public: rampart.h. */

#endif
