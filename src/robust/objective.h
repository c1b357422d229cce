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

/* Data-parallel steps' gradient sum (robust/grad_sync.c): the trainable parameters' gradients,
 * weighted by B / (the global batch), packed into gbuf in parameter order and summed over the
 * processes in buckets of consecutive parameters, started from the last as the final
 * param-gradient pass makes them final (the graph's grad_ready hook), or all at once after the
 * passes (overlap off, rp_dist_set_overlap). */
typedef struct rp_grad_sync {
    rp_dist *dist;        /* BORROWED: the one bsum was made for */
    rp_dist_bsum *bsum;   /* the buckets' sum over gbuf, or NULL (no trainable values) */
    int n_buckets;
    int *bucket_param;    /* (n_buckets + 1) bucket k: parameters [bucket_param[k], bucket_param[k + 1]) */
    size_t *offset;       /* (n_params + 1) parameter i's gradient at gbuf + offset[i] (trainable) */
    int next;             /* this step: buckets 0 .. next have not started */
    bool overlapping;     /* this step's buckets start during the backward (rp_obj_sync_begin) */
    bool in_round;        /* buckets may be under way: the wait is owed */
    float weight;         /* this step's B / (the global batch) */
    int early;            /* buckets the last step's backward started (the rest: after the passes) */
} rp_grad_sync;

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
    float *gbuf;           /* (trainable scalars) the gradients packed for the all-reduce */
    rp_grad_sync sync;     /* how gbuf is summed (grad_sync.c) */
    size_t bucket_floats;  /* tests: the buckets' size, read by rp_objective_set_dist (0: grad_sync.c's) */
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

/* Data-parallel steps (grad_sync.c; o->dist set): rp_obj_sync_init after gbuf exists (the
 * buckets, once per dist); rp_obj_sync_begin before the step's passes (the global batch, and
 * whether the sum overlaps the backward); rp_obj_sync_arm(o, true) around the step's LAST pass
 * that adds parameter gradients (false after it: earlier passes' gradients are not final);
 * rp_obj_sync_reduce after the passes (the statistics and the gradients, summed). */
rp_status rp_obj_sync_init(rp_objective *o);
void rp_obj_sync_free(rp_objective *o);
rp_status rp_obj_sync_begin(rp_objective *o, int B);
void rp_obj_sync_arm(rp_objective *o, bool last_param_pass);
rp_status rp_obj_sync_reduce(rp_objective *o, int B, rp_step_stats *st);

/* rp_objective_set_dist (data-parallel steps) and rp_objective_set_sam (sharpness-aware
 * minimisation) are public: rampart.h. */

#endif
