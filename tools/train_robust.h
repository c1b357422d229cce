/* rampart train's robust-objective flags and the catastrophic-overfitting watch of fast
 * adversarial training. cmd_train.c splices TRAIN_ROBUST_FLAGS into its flag table. */
#ifndef RP_TOOLS_TRAIN_ROBUST_H
#define RP_TOOLS_TRAIN_ROBUST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "jsonl.h"

typedef struct train_robust_watch train_robust_watch;

typedef struct train_robust_opts {
    const char *eps, *norm, *adv_norm, *adv_clip;
    int steps, adv_pgd_steps;
    float attack_step, alpha, beta, adv_multiplier, adv_step, adv_pgd_eps;
    bool random_start, adv_random_init;
    train_robust_watch *watch; /* fast: held-out batch and its attacks (owned) */
} train_robust_opts;

#define TRAIN_ROBUST_FLAGS(r)                                                                                      \
    {"--eps", CLI_STRING, &(r).eps, "0.1", "fgsm, fast, pgd, trades: radius of the ball around x, as 0.1 or 8/255"}, \
    {"--norm", CLI_STRING, &(r).norm, "infinity", "fgsm, fast, pgd, trades: norm of that ball (infinity, l2)"},      \
    {"--steps", CLI_INT, &(r).steps, "10", "pgd, trades: attack iterations per training step"},                     \
    {"--attack-step", CLI_FLOAT, &(r).attack_step, "0", "fast, pgd, trades: attack step size (0: fast 1.25 eps, "  \
     "pgd and trades 2.5 eps / steps)"},                                                                             \
    {"--random-start", CLI_BOOL, &(r).random_start, "true", "pgd: start each attack uniformly inside the ball"},      \
    {"--alpha", CLI_FLOAT, &(r).alpha, "0.5", "fgsm: weight of the clean loss (Goodfellow et al.)"},                  \
    {"--beta", CLI_FLOAT, &(r).beta, "6", "trades: weight of the KL term"},                                          \
    {"--adv-multiplier", CLI_FLOAT, &(r).adv_multiplier, "0.2", "advreg: weight of the adversarial loss (NSL)"},    \
    {"--adv-step", CLI_FLOAT, &(r).adv_step, "0.001", "advreg: adversarial step size (NSL adv_step_size)"},          \
    {"--adv-norm", CLI_STRING, &(r).adv_norm, "l2", "advreg: gradient normalisation (l2, infinity, l1)"},           \
    {"--adv-pgd-steps", CLI_INT, &(r).adv_pgd_steps, "1", "advreg: PGD iterations (NSL pgd_iterations)"},           \
    {"--adv-pgd-eps", CLI_FLOAT, &(r).adv_pgd_eps, "0", "advreg: PGD projection radius (0: none; NSL pgd_epsilon)"}, \
    {"--adv-random-init", CLI_BOOL, &(r).adv_random_init, "false", "advreg: start inside the --adv-pgd-eps ball"},   \
    {"--adv-clip", CLI_STRING, &(r).adv_clip, "0,1", "pixel range MIN,MAX of every adversarial point (all objectives)"}

/* Check the flags and fill cfg (kind already set); prints the problem and returns -1. */
int train_robust_config(train_robust_opts *r, rp_objective_config *cfg);
/* "Fast": hold out the last 256 training images (the set is truncated) for the watch. */
int train_robust_holdout(train_robust_opts *r, const rp_objective_config *cfg, rp_ctx *ctx, rp_dataset *train);
/* After each epoch: PGD-10 and FGSM accuracy on the held-out batch; a warning naming
 * catastrophic overfitting when PGD accuracy collapses (below 20% of its best) while FGSM
 * accuracy rises. Returns 0 or an exit code. Nothing happens without a held-out batch. */
/* With run, also a JSON row (kind train_event, event robust_check) naming the checkpoint out. */
int train_robust_epoch(const train_robust_opts *r, rp_ctx *ctx, rp_model *m, int epoch, const jsonl_run *run,
                       const char *out, FILE *log);
void train_robust_free(train_robust_opts *r);

/* The watch's bookkeeping (best PGD accuracy so far, its epoch, FGSM accuracy then) as JSON
 * for the training state, OWNED (free()); NULL without a watch. */
char *train_robust_state(const train_robust_opts *r);
/* Restore it; json NULL means none was saved. Returns 0, or -1 when the record does not fit
 * (malformed, or saved with a watch this run lacks, or the other way round). */
int train_robust_restore(const train_robust_opts *r, const char *json);

#endif
