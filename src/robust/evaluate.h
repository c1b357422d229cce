/* The evaluation table: accuracy of several models under several conditions (clean, noise
 * corruptions at a severity, attacks at an eps), all on the same images.
 *
 * Semantics (AutoAttack's): an example counts as robust under an attack only when the model
 * classifies both x and x_adv correctly, so robust accuracy <= clean accuracy. A "worst"
 * condition is the per-example worst case over every attack condition of the table at its
 * norm and eps; when the table does not hold APGD-CE, APGD-T and Square at that eps, the
 * attack library's WORST (APGD-CE, APGD-T, Square on the still-robust points) runs first and
 * joins the worst case. Noise images are drawn once per batch and shared by all models. */
#ifndef RP_ROBUST_EVALUATE_H
#define RP_ROBUST_EVALUATE_H

#include <stdbool.h>

#include "data/noise.h"
#include "robust/attack.h"

typedef enum rp_cond_kind { RP_COND_CLEAN, RP_COND_NOISE, RP_COND_ATTACK } rp_cond_kind;

typedef struct rp_condition {
    rp_cond_kind kind;
    rp_noise_kind noise;     /* RP_COND_NOISE */
    int severity;            /* RP_COND_NOISE: 1..5, or 0 when strength is given directly */
    float strength;          /* RP_COND_NOISE: sigma, c or amount (filled from severity) */
    rp_attack_config attack; /* RP_COND_ATTACK */
} rp_condition;

typedef struct rp_cond_result {
    int n;            /* examples evaluated */
    long correct;     /* correct (robust) examples */
    double accuracy;  /* correct / n */
    bool ball_checked;/* attacks: rp_attack_check_ball was run on every batch */
    bool in_ball;     /* ... and every perturbation was inside the eps-ball and [clip] */
    float max_norm;   /* largest perturbation norm seen */
    bool deterministic; /* clean: the same batch forwarded twice gave identical logits */
    long passes;      /* forward+backward passes the attack reported */
    double seconds;   /* wall time of the condition (all models) */
} rp_cond_result;

typedef struct rp_eval_table_opts {
    int n;            /* examples: the first n of the data set (<= 0: all) */
    int batch;        /* batch size (models must accept it) */
    uint64_t seed;    /* noise stream; attacks use their own config's seed */
    rp_model *source; /* NULL: white-box; else every attack is crafted on source (transfer) */
    /* optional: called after each batch of each condition */
    void (*progress)(void *arg, int cond, int done, int total);
    void *progress_arg;
} rp_eval_table_opts;

/* Fill results[c * n_models + m] for every condition c and model m. Models and source
 * must fit the data's image size and classes (RP_ERR_SHAPE otherwise, naming the model's
 * index; callers that know file names should check first). */
rp_status rp_evaluate_table(rp_ctx *ctx, rp_model *const *models, int n_models, const rp_dataset *ds,
                            const rp_condition *conds, int n_conds, const rp_eval_table_opts *o,
                            rp_cond_result *results);

/* Whether model m can be evaluated on images (H, W, C) with K classes; on failure the
 * message says what differs (the caller prefixes the file name). */
rp_status rp_check_model_fits(rp_ctx *ctx, const rp_model *m, int H, int W, int C, int K);

#endif
