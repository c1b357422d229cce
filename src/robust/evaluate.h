/* The evaluation table: accuracy of several models under several conditions (clean, noise
 * corruptions at a severity, attacks at an eps), all on the same images.
 *
 * Semantics (AutoAttack's): an example counts as robust under an attack only when the model
 * classifies both x and x_adv correctly, so robust accuracy <= clean accuracy. A "worst"
 * condition is the per-example worst case over every attack condition of the table at its
 * norm and eps; when the table does not hold APGD-CE, APGD-T and Square at that eps, the
 * attack library's WORST (APGD-CE, APGD-T, Square on the still-robust points) runs first and
 * joins the worst case. Noise images are drawn once per batch and shared by all models.
 *
 * Corruption conditions (data/corrupt.h) corrupt each batch once, shared by all models;
 * image i of the data set is corrupted from the stream of (seed, i), so every model, batch
 * size and thread count sees the same images. A corruption that is the identity on the
 * data (saturate on grayscale) is not run: its results say not_applicable, n = 0 and
 * accuracy NaN, never a row of zeros. */
#ifndef RP_ROBUST_EVALUATE_H
#define RP_ROBUST_EVALUATE_H

#include <stdbool.h>

#include "data/corrupt.h"
#include "data/noise.h"
#include "dist/dist.h"
#include "rampart.h"
#include "robust/attack.h"

typedef enum rp_cond_kind { RP_COND_CLEAN, RP_COND_NOISE, RP_COND_ATTACK, RP_COND_CORRUPTION } rp_cond_kind;

typedef struct rp_condition {
    rp_cond_kind kind;
    rp_noise_kind noise;     /* RP_COND_NOISE */
    int severity;            /* RP_COND_NOISE: 1..5, or 0 when strength is given directly;
                                RP_COND_CORRUPTION: 1..5 */
    float strength;          /* RP_COND_NOISE: sigma, c or amount (filled from severity) */
    rp_attack_config attack; /* RP_COND_ATTACK */
    rp_corruption corruption; /* RP_COND_CORRUPTION */
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
    bool not_applicable; /* corruption that is the identity on this data: not run (n 0, accuracy NaN) */
    double ece;       /* clean, noise, corruption: expected calibration error (15 equal-width bins of
                         the top softmax probability, sum over bins of n_b / n |acc_b - conf_b|,
                         Guo et al. 2017); NaN for attacks */
} rp_cond_result;

typedef struct rp_eval_table_opts {
    int first;        /* a shard: examples first, first + 1, ... of the data set (0); every random
                         draw is keyed by an example's index in the data set, so the shards of a
                         set give exactly the rows of the whole set */
    int n;            /* examples: the first n from `first` (<= 0: all the rest) */
    rp_dist *dist;    /* optional (dist/dist.h): the job's processes share the examples, each a
                         contiguous run of whole batches, and every process gets the rows (and
                         `correct`) of all n examples, exactly as one process computes them.
                         Every process must call with the same arguments */
    int batch;        /* batch size (models must accept it) */
    uint64_t seed;    /* noise and corruption streams; attacks use their own config's seed */
    rp_model *source; /* NULL: white-box; else every attack is crafted on source (transfer) */
    bool adapt_bn;    /* clean, noise and corruption rows: test-time batch-norm adaptation, each
                         batch normalised with its own statistics (rp_model_adapt_bn_*); the
                         attacks see the stored statistics. Models without batch norm: RP_ERR_ARG */
    /* optional: called after each batch of each condition */
    void (*progress)(void *arg, int cond, int done, int total);
    void *progress_arg;
    /* optional, caller-owned (n_conds, n_models, n) bytes: per-example correctness (robust
       correctness for attacks, 0 for rows not applicable), for paired statistics */
    unsigned char *correct;
} rp_eval_table_opts;

/* Fill results[c * n_models + m] for every condition c and model m. Models and source
 * must fit the data's image size and classes (RP_ERR_SHAPE otherwise, naming the model's
 * index; callers that know file names should check first). */
rp_status rp_evaluate_table(rp_ctx *ctx, rp_model *const *models, int n_models, const rp_dataset *ds,
                            const rp_condition *conds, int n_conds, const rp_eval_table_opts *o,
                            rp_cond_result *results);

/* rp_corruption_summary and rp_corruption_means (the summaries below) are public: rampart.h. */
_Static_assert(RP_FAMILY_COUNT == RP_CORRUPTION_FAMILIES, "rampart.h's family count");

/* Summaries of model m (and means) from a table's results (conds x M, as rp_evaluate_table
 * fills them). ref: the column of the reference model for CE (-1: none). Needs a clean row
 * for the relative CE (NaN without one). */
void rp_corruption_summarize(const rp_condition *conds, int n_conds, const rp_cond_result *results, int M, int m,
                             int ref, rp_corruption_summary out[RP_CORR_COUNT], rp_corruption_means *means);

/* rp_check_model_fits (whether a model takes a data set's images and classes) is public:
 * rampart.h. */

#endif
