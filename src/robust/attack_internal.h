/* Inside the attacks: the attack object, per-example losses and the pieces shared by
 * attack.c (FGSM, FGSM-RS, PGD, noise, worst case), attack_apgd.c and attack_square.c.
 *
 * Examples are addressed by their index i in [0, B) of the current call; the iterates
 * (cur, prev, best, grad, ...) are full-batch buffers indexed by i. Only the examples
 * still being attacked ("active", listed in act[0..n)) are gathered into the compact
 * work buffer xw for each forward, so points that were already fooled cost nothing. */
#ifndef RP_ROBUST_ATTACK_INTERNAL_H
#define RP_ROBUST_ATTACK_INTERNAL_H

#include "core/rng.h"
#include "core/status.h"
#include "robust/attack.h"

/* What an iterate tries to MAXIMISE, per example (y: label, t: target). */
typedef enum rp_atk_obj {
    RP_AOBJ_CE,       /* CE(z, y) */
    RP_AOBJ_CE_T,     /* -CE(z, t) */
    RP_AOBJ_MARGIN,   /* max_{j != y} z_j - z_y */
    RP_AOBJ_MARGIN_T, /* z_t - max_{j != t} z_j */
    RP_AOBJ_DLR,      /* -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12) */
    RP_AOBJ_DLR_T,    /* -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12) */
} rp_atk_obj;

struct rp_attack {
    rp_ctx *ctx;
    rp_model *m;
    rp_attack_config cfg;
    int max_batch, K;
    size_t X;     /* floats per example */
    rp_rng *rngs;       /* (max_batch) each example's stream in the current run, keyed by
                           (seed, example number): no draw depends on the batch */
    int64_t next_index; /* the number of the next run's first example (rp_attack_seek) */
    long passes;  /* forward passes of the current run (a backward rides on its forward) */
    /* compact work buffers (rows = active examples) */
    float *xw, *gw;        /* (max_batch, X) */
    float *logits, *dlogits; /* (max_batch, K) */
    /* full-batch buffers (rows = examples) */
    float *cur, *prev, *best, *grad, *gbest; /* (max_batch, X) */
    float *loss, *loss_best, *loss_prev, *loss_check, *eta; /* (max_batch) */
    int *act, *count;      /* (max_batch) */
    int *upd;              /* (max_batch) PGD: the gradient row of each running example */
    bool *flag, *succ;     /* (max_batch) */
    int32_t *tw;           /* (max_batch) per-example targets */
    /* the current call's orchestration */
    int *list;             /* (max_batch) examples a single run attacks */
    float *out_loss;       /* (max_batch) loss of the x_adv written so far (not fooled) */
    float *clean;          /* (max_batch, K) clean logits (APGD-T targets) */
    float *scratch;        /* (X) */
};

/* Loss of one row of logits z (K) for what to maximise; writes d(loss)/dz into dz when
 * non-NULL. DLR needs K >= 3, targeted DLR K >= 4. */
float rp_atk_row_loss(rp_atk_obj obj, const float *z, int K, int y, int t, float *dz);
/* Index of the first maximum of z (K). */
int rp_atk_argmax(const float *z, int K);
/* Whether row z fools the model: argmax != y (untargeted) or argmax == t (targeted). */
bool rp_atk_fooled(const float *z, int K, int y, int t, bool targeted);

/* Gather src rows act[0..n) into a->xw (src NULL: a->xw is already filled), forward in eval mode, copy the logits into
 * a->logits, compute per-row losses into loss[j] (when non-NULL) and, with want_grad, the
 * input gradients of the per-example losses into a->gw. Counts one pass. */
void rp_atk_eval(rp_attack *a, rp_atk_obj obj, const float *src, const int *act, int n,
                 const int32_t *y, const int32_t *t, bool want_grad, float *loss);

/* x_adv row := clip(x + projection of (v - x) onto the eps-ball), in place on v (X floats). */
void rp_atk_project(float *v, const float *x, size_t X, rp_norm norm, float eps, float lo, float hi);
/* v += step * dir(g): sign(g) for L-inf, g / ||g||_2 for L2 (zero when g == 0). */
void rp_atk_ascend(float *v, const float *g, size_t X, rp_norm norm, float step);
/* A uniform random start: x + U(-eps, eps) per pixel (L-inf), or x + eps * u on a random
 * direction (L2, u uniform); clipped. Unbounded L-inf draws uniformly in the box. */
void rp_atk_random_start(rp_attack *a, rp_rng *rng, float *v, const float *x, float eps, float lo, float hi);

/* Single runs. Each attacks the examples list[0..n) of x (B rows, full-batch indexed) and,
 * per listed example i: when an iterate fools the model, writes it to x_adv[i] and sets
 * succ[i]; otherwise writes its highest-loss point to x_adv[i] when that loss beats
 * out_loss[i] (which it updates). So restarts keep the per-example worst case, and
 * out_loss = +INFINITY means "write only successes". */
void rp_atk_pgd_run(rp_attack *a, const rp_attack_config *c, rp_atk_obj obj, const float *x,
                    const int32_t *y, const int32_t *t, int B, const int *list, int n, float *x_adv,
                    bool *succ, float *out_loss);
/* APGD (attack_apgd.c): obj RP_AOBJ_CE / RP_AOBJ_DLR (untargeted) or RP_AOBJ_DLR_T with
 * targets t; success is always argmax != y. */
void rp_atk_apgd_run(rp_attack *a, const rp_attack_config *c, rp_atk_obj obj, const float *x,
                     const int32_t *y, const int32_t *t, int B, const int *list, int n,
                     float *x_adv, bool *succ, float *out_loss);
/* Square (attack_square.c): L-inf, untargeted margin loss, `queries` forward passes. */
void rp_atk_square_run(rp_attack *a, const rp_attack_config *c, int queries, const float *x,
                       const int32_t *y, int B, const int *list, int n, float *x_adv, bool *succ,
                       float *out_loss);
/* Orchestration (attack_apgd.c): APGD-CE with restarts, and APGD-T over the top
 * n_target_classes of the clean logits, each only on the examples with !succ[i]. */
void rp_atk_apgd_ce(rp_attack *a, const rp_attack_config *c, const float *x, const int32_t *y,
                    int B, float *x_adv, bool *succ);
void rp_atk_apgd_t(rp_attack *a, const rp_attack_config *c, const float *x, const int32_t *y,
                   int B, float *x_adv, bool *succ);
/* Build a->list from the examples with !succ[i]; returns their number. */
int rp_atk_list_open(rp_attack *a, const bool *succ, int B);

#endif
