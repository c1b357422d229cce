/* rampart train: robust-objective flags, and the catastrophic-overfitting watch for fast
 * adversarial training (Wong et al. 2020: FGSM-trained models can suddenly lose all
 * robustness to PGD while FGSM accuracy keeps rising). */
#include "train_robust.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { HOLDOUT = 256 };

struct train_robust_watch {
    float *x, *xa;
    int32_t *y;
    bool *succ;
    rp_attack *pgd, *fgsm;
    rp_attack_config pc, fc;
    double best_pgd, fgsm_at_best;
    int best_epoch;
    uint64_t seed; /* the objective's */
};

/* "0.1" or "8/255"; -1 when neither. */
static double parse_eps(const char *s)
{
    char *end;
    double a = strtod(s, &end);
    if (end == s) return -1.0;
    if (*end == '/') {
        const char *d = end + 1;
        double b = strtod(d, &end);
        if (end == d || !(b > 0)) return -1.0;
        a /= b;
    }
    return *end || !isfinite(a) ? -1.0 : a;
}

static int parse_norm(const char *flag, const char *v, bool allow_l1, rp_norm *out)
{
    if (!strcmp(v, "infinity") || !strcmp(v, "linf")) *out = RP_NORM_LINF;
    else if (!strcmp(v, "l2")) *out = RP_NORM_L2;
    else if (!strcmp(v, "l1") && allow_l1) *out = RP_NORM_L1;
    else {
        fprintf(stderr, "rampart train: unknown norm '%s' for %s (one of: infinity l2%s)\n", v, flag,
                allow_l1 ? " l1" : "");
        return -1;
    }
    return 0;
}

int train_robust_config(train_robust_opts *r, rp_objective_config *cfg)
{
    rp_norm norm, adv_norm;
    if (parse_norm("--norm", r->norm, false, &norm) || parse_norm("--adv-norm", r->adv_norm, true, &adv_norm))
        return -1;
    double eps = parse_eps(r->eps);
    if (eps < 0) {
        fprintf(stderr, "rampart train: --eps '%s': expected a number >= 0 such as 0.1 or 8/255\n", r->eps);
        return -1;
    }
    float lo, hi;
    int used = 0;
    if (sscanf(r->adv_clip, "%f,%f%n", &lo, &hi, &used) != 2 || r->adv_clip[used] || !(lo < hi)) {
        fprintf(stderr, "rampart train: --adv-clip '%s': expected MIN,MAX with MIN < MAX, such as 0,1\n", r->adv_clip);
        return -1;
    }
    const char *bad = NULL;
    if (r->steps < 1) bad = "--steps must be >= 1";
    else if (r->adv_pgd_steps < 1) bad = "--adv-pgd-steps must be >= 1";
    else if (r->adv_pgd_eps < 0) bad = "--adv-pgd-eps must be >= 0";
    else if (r->attack_step < 0) bad = "--attack-step must be >= 0";
    else if (!(r->adv_step > 0)) bad = "--adv-step must be > 0";
    else if (r->adv_multiplier < 0) bad = "--adv-multiplier must be >= 0";
    else if (r->alpha < 0 || r->alpha > 1) bad = "--alpha must be in [0, 1]";
    else if (r->beta < 0) bad = "--beta must be >= 0";
    else if (r->adv_random_init && !(r->adv_pgd_eps > 0)) bad = "--adv-random-init needs --adv-pgd-eps > 0";
    if (bad) {
        fprintf(stderr, "rampart train: %s\n", bad);
        return -1;
    }
    cfg->clip_min = lo, cfg->clip_max = hi;
    if (cfg->kind == RP_OBJ_ADVREG) {
        cfg->norm = adv_norm, cfg->step = r->adv_step, cfg->steps = r->adv_pgd_steps, cfg->eps = r->adv_pgd_eps;
        cfg->random_init = r->adv_random_init, cfg->multiplier = r->adv_multiplier;
        return 0;
    }
    if (cfg->kind == RP_OBJ_ERM) return 0;
    if (!(eps > 0)) {
        fprintf(stderr, "rampart train: --eps must be > 0 for --objective %s\n",
                cfg->kind == RP_OBJ_FGSM ? "fgsm" : cfg->kind == RP_OBJ_FAST ? "fast" :
                cfg->kind == RP_OBJ_PGD ? "pgd" : "trades");
        return -1;
    }
    cfg->norm = norm, cfg->eps = (float)eps, cfg->step = r->attack_step, cfg->steps = r->steps;
    cfg->random_init = cfg->kind == RP_OBJ_PGD && r->random_start;
    cfg->alpha = r->alpha, cfg->beta = r->beta;
    return 0;
}

void train_robust_free(train_robust_opts *r)
{
    train_robust_watch *w = r->watch;
    if (!w) return;
    rp_attack_destroy(w->pgd);
    rp_attack_destroy(w->fgsm);
    free(w->x), free(w->xa), free(w->y), free(w->succ);
    free(w);
    r->watch = NULL;
}

int train_robust_holdout(train_robust_opts *r, const rp_objective_config *cfg, rp_ctx *ctx, rp_dataset *train)
{
    (void)ctx;
    r->watch = NULL;
    if (cfg->kind != RP_OBJ_FAST) return 0;
    int n = rp_dataset_size(train), H, W, C;
    if (n < 2 * HOLDOUT) {
        fprintf(stderr, "rampart train: only %d training images: no held-out batch to watch for catastrophic "
                        "overfitting (needs %d)\n", n, 2 * HOLDOUT);
        return 0;
    }
    rp_dataset_shape(train, &H, &W, &C);
    size_t X = (size_t)H * W * C;
    train_robust_watch *w = calloc(1, sizeof *w);
    int *idx = malloc(HOLDOUT * sizeof *idx);
    if (w) {
        w->x = malloc(HOLDOUT * X * sizeof(float));
        w->xa = malloc(HOLDOUT * X * sizeof(float));
        w->y = malloc(HOLDOUT * sizeof(int32_t));
        w->succ = malloc(HOLDOUT * sizeof(bool));
    }
    r->watch = w;
    if (!w || !idx || !w->x || !w->xa || !w->y || !w->succ) {
        free(idx);
        train_robust_free(r);
        fprintf(stderr, "rampart train: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < HOLDOUT; i++) idx[i] = n - HOLDOUT + i;
    rp_dataset_gather(train, idx, HOLDOUT, w->x, w->y);
    free(idx);
    rp_dataset_truncate(train, n - HOLDOUT);
    w->pc = rp_attack_defaults(RP_ATTACK_PGD, cfg->eps);
    w->fc = rp_attack_defaults(RP_ATTACK_FGSM, cfg->eps);
    w->pc.norm = w->fc.norm = cfg->norm;
    w->seed = cfg->seed;
    w->pc.clip_min = w->fc.clip_min = cfg->clip_min;
    w->pc.clip_max = w->fc.clip_max = cfg->clip_max;
    w->best_pgd = -1.0;
    fprintf(stderr, "rampart train: fast: holding out the last %d training images to watch PGD-10 and FGSM accuracy "
                    "(catastrophic overfitting)\n", HOLDOUT);
    return 0;
}

static int accuracy(rp_ctx *ctx, rp_attack *a, train_robust_watch *w, double *acc)
{
    if (rp_attack_run(a, w->x, w->y, NULL, HOLDOUT, w->xa, w->succ, NULL) != RP_OK) return cli_fail("train", ctx);
    int hit = 0;
    for (int i = 0; i < HOLDOUT; i++) hit += !w->succ[i];
    *acc = (double)hit / HOLDOUT;
    return 0;
}

int train_robust_epoch(const train_robust_opts *r, rp_ctx *ctx, rp_model *m, int epoch, const jsonl_run *run,
                       const char *out, FILE *log)
{
    train_robust_watch *w = r->watch;
    if (!w) return 0;
    /* fresh attacks every epoch, their random starts keyed by (seed, epoch): nothing carried
       from one epoch to the next, so a resumed run checks the same points */
    rp_attack_destroy(w->pgd), rp_attack_destroy(w->fgsm);
    w->pgd = w->fgsm = NULL;
    w->pc.seed = w->fc.seed = w->seed ^ ((uint64_t)(uint32_t)epoch << 32);
    if (rp_attack_create(ctx, m, &w->pc, HOLDOUT, &w->pgd) != RP_OK ||
        rp_attack_create(ctx, m, &w->fc, HOLDOUT, &w->fgsm) != RP_OK)
        return cli_fail("train", ctx);
    double pgd, fgsm;
    int e = accuracy(ctx, w->pgd, w, &pgd);
    if (!e) e = accuracy(ctx, w->fgsm, w, &fgsm);
    if (e) return e;
    if (pgd > w->best_pgd) w->best_pgd = pgd, w->best_epoch = epoch, w->fgsm_at_best = fgsm;
    bool co = pgd < 0.2 * w->best_pgd && fgsm > w->fgsm_at_best;
    fprintf(log, "epoch %d: held-out PGD-10 accuracy %.4f, FGSM accuracy %.4f (eps %g, %d images)\n", epoch, pgd, fgsm,
            (double)w->pc.eps, HOLDOUT);
    if (co)
        fprintf(stderr, "rampart train: warning: catastrophic overfitting at epoch %d: held-out PGD-10 accuracy fell "
                        "to %.4f (best %.4f at epoch %d) while FGSM accuracy rose to %.4f; the model no longer resists "
                        "multi-step attacks. Keep the epoch-%d weights (train with --epochs %d), lower --attack-step, "
                        "or use --objective pgd\n",
                epoch, pgd, w->best_pgd, w->best_epoch, fgsm, w->best_epoch, w->best_epoch);
    if (run) {
        cJSON *j = jsonl_row(run, "train_event");
        cJSON_AddStringToObject(j, "model", out);
        cJSON_AddStringToObject(j, "event", "robust_check");
        cJSON_AddNumberToObject(j, "epoch", epoch);
        cJSON_AddNumberToObject(j, "pgd_accuracy", pgd);
        cJSON_AddNumberToObject(j, "fgsm_accuracy", fgsm);
        cJSON_AddNumberToObject(j, "eps", w->pc.eps);
        cJSON_AddBoolToObject(j, "catastrophic_overfitting", co);
        jsonl_emit(j);
    }
    return 0;
}

char *train_robust_state(const train_robust_opts *r)
{
    const train_robust_watch *w = r->watch;
    if (!w) return NULL;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "best_pgd", w->best_pgd);
    cJSON_AddNumberToObject(j, "best_epoch", w->best_epoch);
    cJSON_AddNumberToObject(j, "fgsm_at_best", w->fgsm_at_best);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

int train_robust_restore(const train_robust_opts *r, const char *json)
{
    train_robust_watch *w = r->watch;
    if (!json || !w) return !json && !w ? 0 : -1;
    cJSON *j = cJSON_Parse(json);
    const cJSON *bp = cJSON_GetObjectItemCaseSensitive(j, "best_pgd"),
                *be = cJSON_GetObjectItemCaseSensitive(j, "best_epoch"),
                *fa = cJSON_GetObjectItemCaseSensitive(j, "fgsm_at_best");
    bool ok = cJSON_IsNumber(bp) && cJSON_IsNumber(be) && cJSON_IsNumber(fa);
    if (ok) w->best_pgd = bp->valuedouble, w->best_epoch = be->valueint, w->fgsm_at_best = fa->valuedouble;
    cJSON_Delete(j);
    return ok ? 0 : -1;
}
