/* Attacks: batched, on any model, inputs in [0,1] (pixel space), L-inf and L2, untargeted
 * and targeted, seeded. They run the model in EVAL mode on logits and use only
 * rp_model_forward / rp_model_backward(..., RP_GRAD_INPUT) — never parameter gradients.
 *
 * Every attack writes x_adv with ||x_adv - x|| <= eps (per example, in its norm) and
 * clip_min <= x_adv <= clip_max; rp_attack_check_ball verifies that on the output. */
#ifndef RP_ROBUST_ATTACK_H
#define RP_ROBUST_ATTACK_H

#include <stdbool.h>
#include <stdint.h>

#include "nn/model.h"
#include "rampart.h"

typedef enum rp_attack_kind {
    RP_ATTACK_FGSM,    /* one signed-gradient (L-inf) / normalised-gradient (L2) step of size eps */
    RP_ATTACK_FGSM_RS, /* FGSM from a uniform random start, step alpha (Wong et al. 2020) */
    RP_ATTACK_PGD,     /* Madry et al.: steps x step_size, random start, restarts */
    RP_ATTACK_APGD_CE, /* Croce & Hein 2020, cross-entropy loss */
    RP_ATTACK_APGD_T,  /* Croce & Hein 2020, targeted DLR loss over the top classes */
    RP_ATTACK_SQUARE,  /* Andriushchenko et al. 2020, L-inf score-based, no gradients */
    RP_ATTACK_NOISE,   /* uniform random sign noise of the same eps (a baseline, not an attack) */
    RP_ATTACK_WORST,   /* AutoAttack-style: APGD-CE, APGD-T, Square in turn on the still-robust points */
} rp_attack_kind;

typedef enum rp_attack_loss { RP_LOSS_CE, RP_LOSS_MARGIN, RP_LOSS_DLR } rp_attack_loss;

typedef struct rp_attack_config {
    rp_attack_kind kind;
    rp_norm norm;        /* RP_NORM_LINF or RP_NORM_L2 */
    float eps;           /* radius; INFINITY = unbounded (only the [clip] box) */
    float step_size;     /* PGD / FGSM-RS step; <= 0: the attack's default (PGD: 2.5*eps/steps) */
    int steps;           /* iterations (PGD, APGD); queries for Square */
    int restarts;        /* >= 1 */
    bool random_start;   /* PGD */
    rp_attack_loss loss; /* PGD: CE or margin */
    bool targeted;       /* then `target` gives the classes to reach */
    int n_target_classes;/* APGD-T: how many top classes to target (AutoAttack: 9) */
    float clip_min, clip_max;
    uint64_t seed;
    int square_queries;  /* WORST: Square's queries (AutoAttack: 5000) */
    float p_init;        /* Square: initial fraction of pixels per square (AutoAttack: 0.8) */
} rp_attack_config;

/* Defaults per kind: L-inf, CE loss, clip [0, 1], 1 restart, seed 0; steps FGSM/FGSM-RS 1,
 * PGD 10 (random start), APGD 100, Square 5000 queries; FGSM-RS step 1.25 eps, PGD
 * 2.5 eps / steps, APGD 2 eps (halved at checkpoints); APGD-T 9 target classes. */
rp_attack_config rp_attack_defaults(rp_attack_kind kind, float eps);
/* Short name: "fgsm", "fgsm-rs", "pgd", "apgd-ce", "apgd-t", "square", "noise", "worst". */
const char *rp_attack_name(rp_attack_kind kind);
/* The kind named s (as rp_attack_name), or -1. */
int rp_attack_kind_from_name(const char *s);

typedef struct rp_attack rp_attack;

/* OWNED. All buffers for batches up to max_batch are allocated here. */
rp_status rp_attack_create(rp_ctx *ctx, rp_model *m, const rp_attack_config *cfg, int max_batch,
                           rp_attack **out);
void rp_attack_destroy(rp_attack *a);
/* BORROWED: the configuration in use, defaults resolved (e.g. PGD's step size). */
const rp_attack_config *rp_attack_get_config(const rp_attack *a);

/* Attack B examples x (B,H,W,C) with labels y (targets when targeted). Writes x_adv (a
 * separate buffer, not overlapping x) and,
 * when non-NULL, success[i] = model's eval-mode prediction on x_adv[i] != y[i] (targeted:
 * == target). Returns the number of forward passes used (each with its backward when the
 * attack needs a gradient; PGD-k costs k + 1) in *passes if non-NULL.
 * Semantics shared by all: an example stops being attacked at the first iterate that fools
 * the model (that iterate is its x_adv); restarts run only on the examples not yet fooled and
 * keep, for the others, the highest-loss point. */
rp_status rp_attack_run(rp_attack *a, const float *x, const int32_t *y, const int32_t *target, int B,
                        float *x_adv, bool *success, long *passes);
/* Random draws (starts, restarts, Square's squares, noise) come from each example's own
 * stream, keyed by (seed, the example's number): the examples of successive runs are numbered
 * on from 0 (the first run's are 0..B-1, the next run's B, B+1, ...), so an example's attack
 * does not depend on the batch it is in. seek sets the number of the next run's first example
 * (a shard of a test set starting at image `first` attacks as the whole set's run would). */
void rp_attack_seek(rp_attack *a, int64_t first);

/* Max over examples of the perturbation norm (in double), and whether it is <= eps and every
 * pixel is in [clip]. Float rounding of x + delta is allowed for: the norm may exceed eps by
 * 1e-6 + 1e-6 * eps. */
bool rp_attack_check_ball(const float *x, const float *x_adv, int B, size_t X, rp_norm norm, float eps,
                          float clip_min, float clip_max, float *max_norm);

#endif
