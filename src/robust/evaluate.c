#include "robust/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "nn/model.h"
#include "rampart.h"

rp_status rp_check_model_fits(rp_ctx *ctx, const rp_model *m, int H, int W, int C, int K)
{
    if (!m) return rp_fail(ctx, RP_ERR_ARG, "rp_check_model_fits: the model is NULL");
    if (H != m->cfg.H || W != m->cfg.W || C != m->cfg.C)
        return rp_fail(ctx, RP_ERR_SHAPE, "data images are %dx%dx%d but the model expects %dx%dx%d", H, W, C,
                       m->cfg.H, m->cfg.W, m->cfg.C);
    if (K > m->cfg.num_classes)
        return rp_fail(ctx, RP_ERR_SHAPE, "data has %d classes but the model only %d", K, m->cfg.num_classes);
    return RP_OK;
}

rp_status rp_evaluate(rp_ctx *ctx, rp_model *m, const rp_dataset *ds, int n, int batch,
                      double *accuracy, double *mean_loss)
{
    int H, W, C;
    rp_dataset_shape(ds, &H, &W, &C);
    RP_TRY(rp_check_model_fits(ctx, m, H, W, C, rp_dataset_num_classes(ds)));
    if (n <= 0 || n > rp_dataset_size(ds)) n = rp_dataset_size(ds);
    if (batch < 1) batch = 256;
    RP_TRY(rp_model_reserve(m, batch));
    size_t X = (size_t)H * W * C;
    float *x = malloc((size_t)batch * X * sizeof *x);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    int *idx = malloc((size_t)batch * sizeof *idx);
    if (!x || !y || !idx) {
        free(x), free(y), free(idx);
        return rp_fail(ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    }
    long correct = 0;
    double loss_sum = 0.0;
    for (int start = 0; start < n; start += batch) {
        int B = n - start < batch ? n - start : batch;
        for (int i = 0; i < B; i++) idx[i] = start + i;
        rp_dataset_gather(ds, idx, B, x, y);
        const float *logits = rp_model_infer_unchecked(m, x, B);
        int c = 0;
        loss_sum += (double)rp_softmax_xent(logits, y, B, m->cfg.num_classes, 0.0f, NULL, 1.0f, &c) * B;
        correct += c;
    }
    free(x), free(y), free(idx);
    *accuracy = (double)correct / n;
    if (mean_loss) *mean_loss = loss_sum / n;
    return RP_OK;
}

/* ---- the table ------------------------------------------------------------------ */

typedef struct table {
    rp_ctx *ctx;
    rp_model *const *models;
    int M, first, n, batch, H, W, C;
    size_t X;
    const rp_dataset *ds;
    const rp_eval_table_opts *o;
    float *x, *xw;        /* (batch, X): clean, perturbed */
    int32_t *y;
    int *idx;
    unsigned char *clean_ok; /* (M, n) */
    unsigned char *robust;   /* (conds, M, n) */
    double *conf;            /* (conds + 1, M, n): top softmax probability per example (row 0: a
                                clean pass when the table has no clean row) */
} table;

enum { ECE_BINS = 15 };

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int argmax(const float *v, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

/* ok[b] = (prediction of model on x[b] == y[b]) for the batch at start; with conf, also its
 * top softmax probability. With adapt, the batch norms first take this batch's statistics. */
static void score(rp_model *m, const float *x, const int32_t *y, int B, unsigned char *ok, double *conf, bool adapt)
{
    if (adapt) rp_model_adapt_bn_batch(m, x, B);
    const float *logits = rp_model_infer_unchecked(m, x, B);
    int K = m->cfg.num_classes;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        int top = argmax(z, K);
        ok[b] = top == y[b];
        if (!conf) continue;
        double sum = 0.0; /* p_top = 1 / sum_k exp(z_k - z_top) */
        for (int k = 0; k < K; k++) sum += exp((double)z[k] - z[top]);
        conf[b] = 1.0 / sum;
    }
}

static double *conf_of(table *t, int cond, int m)
{
    return t->conf + (((size_t)(cond < 0 ? 0 : cond + 1)) * t->M + m) * t->n;
}

/* Expected calibration error of n examples (confidence, correct), binned in example order. */
static double ece_of(const double *conf, const unsigned char *ok, int n)
{
    double bins[ECE_BINS][3] = {{0}}; /* examples, sum of confidence, correct */
    for (int i = 0; i < n; i++) {
        int b = (int)(conf[i] * ECE_BINS);
        b = b >= ECE_BINS ? ECE_BINS - 1 : b;
        bins[b][0] += 1.0, bins[b][1] += conf[i], bins[b][2] += ok[i];
    }
    double e = 0.0;
    for (int b = 0; b < ECE_BINS; b++)
        if (bins[b][0] > 0.0) e += fabs(bins[b][2] - bins[b][1]) / n;
    return e;
}

static int gather(table *t, int start)
{
    int B = t->n - start < t->batch ? t->n - start : t->batch;
    for (int i = 0; i < B; i++) t->idx[i] = t->first + start + i;
    rp_dataset_gather(t->ds, t->idx, B, t->x, t->y);
    return B;
}

static void progress(table *t, int cond, int start)
{
    if (t->o->progress) t->o->progress(t->o->progress_arg, cond, start, t->n);
}

/* Clean correctness of every model; the first batch goes through twice to check determinism. */
static rp_status run_clean(table *t, int cond, rp_cond_result *res)
{
    double t0 = now_s();
    bool det = true;
    size_t K_max = 0;
    for (int m = 0; m < t->M; m++)
        if ((size_t)t->models[m]->cfg.num_classes > K_max) K_max = (size_t)t->models[m]->cfg.num_classes;
    float *first = malloc((size_t)t->batch * K_max * sizeof *first);
    if (!first) return rp_fail(t->ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    for (int start = 0; start < t->n; start += t->batch) {
        int B = gather(t, start);
        for (int m = 0; m < t->M; m++) {
            rp_model *md = t->models[m];
            size_t KB = (size_t)B * md->cfg.num_classes;
            score(md, t->x, t->y, B, t->clean_ok + (size_t)m * t->n + start, conf_of(t, cond, m) + start,
                  t->o->adapt_bn);
            if (start == 0) { /* twice more, as scored (with adapt_bn, the batch's statistics are in place) */
                memcpy(first, rp_model_infer_unchecked(md, t->x, B), KB * sizeof *first);
                if (memcmp(first, rp_model_infer_unchecked(md, t->x, B), KB * sizeof *first) != 0) det = false;
            }
        }
        progress(t, cond, start + B);
    }
    free(first);
    for (int m = 0; cond >= 0 && m < t->M; m++) {
        rp_cond_result *r = &res[(size_t)cond * t->M + m];
        r->deterministic = det;
        r->seconds = now_s() - t0;
    }
    return RP_OK;
}

static rp_status run_noise(table *t, int cond, const rp_condition *c)
{
    uint32_t bits;
    memcpy(&bits, &c->strength, sizeof bits);
    /* image i's noise from its own stream keyed by (kind, strength, i): it depends neither on
       the other rows nor on the batch or shard the image is in */
    uint64_t cond_key = (uint64_t)c->noise << 32 | bits;
    for (int start = 0; start < t->n; start += t->batch) {
        int B = gather(t, start);
        memcpy(t->xw, t->x, (size_t)B * t->X * sizeof *t->xw);
        for (int i = 0; i < B; i++) {
            rp_rng rng;
            rp_rng_seed_key(&rng, t->o->seed, RP_STREAM_NOISE, cond_key, (uint64_t)(t->first + start + i));
            rp_noise_apply(c->noise, c->strength, t->xw + (size_t)i * t->X, 1, t->H, t->W, t->C, &rng);
        }
        for (int m = 0; m < t->M; m++)
            score(t->models[m], t->xw, t->y, B, t->robust + ((size_t)cond * t->M + m) * t->n + start,
                  conf_of(t, cond, m) + start, t->o->adapt_bn);
        progress(t, cond, start + B);
    }
    return RP_OK;
}

/* The batch corrupted once (image i from the stream of (seed, i)) and scored by every model. */
static rp_status run_corruption(table *t, int cond, const rp_condition *c)
{
    for (int start = 0; start < t->n; start += t->batch) {
        int B = gather(t, start);
        memcpy(t->xw, t->x, (size_t)B * t->X * sizeof *t->xw);
        RP_TRY(rp_corrupt_batch(t->ctx, c->corruption, c->severity, t->xw, B, t->H, t->W, t->C, t->o->seed,
                                (uint64_t)(t->first + start)));
        for (int m = 0; m < t->M; m++)
            score(t->models[m], t->xw, t->y, B, t->robust + ((size_t)cond * t->M + m) * t->n + start,
                  conf_of(t, cond, m) + start, t->o->adapt_bn);
        progress(t, cond, start + B);
    }
    return RP_OK;
}

/* One attack config on every model (or crafted once on the source); ANDs the robust flags
 * into robust + (cond, m) and accumulates the ball check into res. */
static rp_status run_attack(table *t, int cond, const rp_attack_config *cfg, rp_cond_result *res)
{
    int n_att = t->o->source ? 1 : t->M;
    rp_attack *att[64] = {0};
    RP_ASSERT(n_att <= 64);
    rp_status s = RP_OK;
    for (int a = 0; a < n_att && s == RP_OK; a++)
        if ((s = rp_attack_create(t->ctx, t->o->source ? t->o->source : t->models[a], cfg, t->batch, &att[a])) == RP_OK)
            rp_attack_seek(att[a], t->first); /* examples numbered by their place in the data set */
    unsigned char ok[4096];
    RP_ASSERT(t->batch <= 4096);
    for (int start = 0; start < t->n && s == RP_OK; start += t->batch) {
        int B = gather(t, start);
        for (int m = 0; m < t->M && s == RP_OK; m++) {
            if (m < n_att) {
                long passes = 0;
                s = rp_attack_run(att[m], t->x, t->y, NULL, B, t->xw, NULL, &passes);
                if (s != RP_OK) break;
                float mx = 0.0f;
                bool in = rp_attack_check_ball(t->x, t->xw, B, t->X, cfg->norm, cfg->eps, cfg->clip_min,
                                               cfg->clip_max, &mx);
                for (int mm = (t->o->source ? 0 : m); mm < (t->o->source ? t->M : m + 1); mm++) {
                    rp_cond_result *rr = &res[(size_t)cond * t->M + mm];
                    rr->ball_checked = true;
                    rr->in_ball = rr->in_ball && in;
                    if (mx > rr->max_norm) rr->max_norm = mx;
                    rr->passes += passes;
                }
            }
            score(t->models[m], t->xw, t->y, B, ok, NULL, false);
            unsigned char *rb = t->robust + ((size_t)cond * t->M + m) * t->n + start;
            for (int b = 0; b < B; b++) rb[b] = rb[b] && ok[b];
        }
        progress(t, cond, start + B);
    }
    for (int a = 0; a < n_att; a++) rp_attack_destroy(att[a]);
    return s;
}

static bool same_ball(const rp_condition *a, const rp_condition *b)
{
    return a->kind == RP_COND_ATTACK && b->kind == RP_COND_ATTACK && a->attack.norm == b->attack.norm &&
           a->attack.eps == b->attack.eps;
}

/* Per-example worst case over the table's attacks at this ball, plus the library's WORST when
 * APGD-CE, APGD-T and Square are not all among them. */
static rp_status run_worst(table *t, int cond, const rp_condition *conds, int n_conds, rp_cond_result *res)
{
    const rp_condition *c = &conds[cond];
    bool have[RP_ATTACK_WORST + 1] = {0};
    for (int j = 0; j < n_conds; j++)
        if (j != cond && same_ball(&conds[j], c) && conds[j].attack.kind != RP_ATTACK_WORST) {
            have[conds[j].attack.kind] = true;
            for (int m = 0; m < t->M; m++) {
                const unsigned char *src = t->robust + ((size_t)j * t->M + m) * t->n;
                unsigned char *dst = t->robust + ((size_t)cond * t->M + m) * t->n;
                for (int i = 0; i < t->n; i++) dst[i] = dst[i] && src[i];
                const rp_cond_result *rj = &res[(size_t)j * t->M + m];
                rp_cond_result *r = &res[(size_t)cond * t->M + m];
                r->ball_checked = r->ball_checked || rj->ball_checked;
                r->in_ball = r->in_ball && (rj->in_ball || !rj->ball_checked);
                if (rj->max_norm > r->max_norm) r->max_norm = rj->max_norm;
            }
        }
    if (have[RP_ATTACK_APGD_CE] && have[RP_ATTACK_APGD_T] && have[RP_ATTACK_SQUARE]) return RP_OK;
    return run_attack(t, cond, &c->attack, res);
}

static rp_status run_table(table *t, const rp_condition *conds, int n_conds, rp_cond_result *res)
{
    int clean_row = -1;
    for (int c = 0; c < n_conds; c++)
        if (conds[c].kind == RP_COND_CLEAN) clean_row = c;
    RP_TRY(run_clean(t, clean_row, res));
    for (int c = 0; c < n_conds; c++) /* robust flags start as clean correctness */
        for (int m = 0; m < t->M; m++)
            memcpy(t->robust + ((size_t)c * t->M + m) * t->n, t->clean_ok + (size_t)m * t->n, (size_t)t->n);
    for (int pass = 0; pass < 2; pass++) /* worst-case rows after the attacks they combine */
        for (int c = 0; c < n_conds; c++) {
            const rp_condition *cd = &conds[c];
            bool worst = cd->kind == RP_COND_ATTACK && cd->attack.kind == RP_ATTACK_WORST;
            if (cd->kind == RP_COND_CLEAN || worst != (pass == 1)) continue;
            if (cd->kind == RP_COND_CORRUPTION && !rp_corruption_applies(cd->corruption, t->C)) {
                for (int m = 0; m < t->M; m++) res[(size_t)c * t->M + m].not_applicable = true;
                continue;
            }
            double t0 = now_s();
            if (cd->kind == RP_COND_NOISE) RP_TRY(run_noise(t, c, cd));
            else if (cd->kind == RP_COND_CORRUPTION) RP_TRY(run_corruption(t, c, cd));
            else if (worst) RP_TRY(run_worst(t, c, conds, n_conds, res));
            else RP_TRY(run_attack(t, c, &cd->attack, res));
            for (int m = 0; m < t->M; m++) res[(size_t)c * t->M + m].seconds = now_s() - t0;
        }
    return RP_OK;
}

/* Accuracies, calibration and the caller's per-example flags from the per-example rows. */
static void finish_table(table *t, const rp_condition *conds, int n_conds, rp_cond_result *res)
{
    for (int c = 0; c < n_conds; c++)
        for (int m = 0; m < t->M; m++) {
            rp_cond_result *r = &res[(size_t)c * t->M + m];
            if (r->not_applicable) {
                if (t->o->correct) memset(t->o->correct + ((size_t)c * t->M + m) * t->n, 0, (size_t)t->n);
                r->n = 0;
                r->correct = 0;
                r->accuracy = NAN;
                continue;
            }
            const unsigned char *rb = t->robust + ((size_t)c * t->M + m) * t->n;
            if (t->o->correct) memcpy(t->o->correct + ((size_t)c * t->M + m) * t->n, rb, (size_t)t->n);
            long k = 0;
            for (int i = 0; i < t->n; i++) k += rb[i];
            r->n = t->n;
            r->correct = k;
            r->accuracy = (double)k / t->n;
            bool calibrated = conds[c].kind != RP_COND_ATTACK;
            r->ece = calibrated ? ece_of(conf_of(t, c, m), rb, t->n) : NAN;
        }
}

/* ---- shards ------------------------------------------------------------------------------
 * With several processes each evaluates a contiguous run of whole batches (so batch-norm
 * adaptation sees the batches one process would), every draw keyed by the example's index in
 * the data set; then the per-example rows are gathered in rank order and the scalar results
 * combined, and every process finishes the table as one process would. */

/* Rank r's batches of nb: [nb r / N, nb (r + 1) / N). */
static void shard_of(int n_all, int batch, int r, int N, int *start, int *n)
{
    long nb = (n_all + batch - 1) / batch, b0 = nb * r / N, b1 = nb * (r + 1) / N;
    long s0 = b0 * batch, s1 = b1 * batch < n_all ? b1 * batch : n_all;
    *start = (int)s0;
    *n = (int)(s1 - s0);
}

/* rows (R rows of t->n elems of `size` bytes, local) -> (R rows of n_all), shards in rank order. */
static rp_status gather_rows(table *t, rp_dist *d, void **rows, size_t size, size_t R, int n_all)
{
    int N = rp_dist_size(d);
    size_t local = R * (size_t)t->n * size;
    unsigned char *all = malloc(R * (size_t)n_all * size + 1), *full = malloc(R * (size_t)n_all * size + 1);
    rp_status s = all && full ? rp_dist_allgather(d, *rows, local, all, NULL)
                              : rp_fail(t->ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    for (int r = 0, at = 0; s == RP_OK && r < N; r++) { /* rank r's block: R rows of its n_r */
        int start, n_r;
        shard_of(n_all, t->batch, r, N, &start, &n_r);
        for (size_t q = 0; q < R; q++)
            memcpy(full + (q * (size_t)n_all + (size_t)start) * size, all + ((size_t)at + q * (size_t)n_r) * size,
                   (size_t)n_r * size);
        at += (int)(R * (size_t)n_r);
    }
    free(all);
    if (s != RP_OK) {
        free(full);
        return s;
    }
    free(*rows);
    *rows = full;
    return RP_OK;
}

/* Every rank's scalar results combined: checks ANDed, norms maxed, passes summed. */
static rp_status combine_results(table *t, rp_dist *d, rp_cond_result *res, size_t R)
{
    int N = rp_dist_size(d);
    rp_cond_result *all = malloc((size_t)N * R * sizeof *all);
    rp_status s = all ? rp_dist_allgather(d, res, R * sizeof *res, all, NULL)
                      : rp_fail(t->ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    for (size_t q = 0; s == RP_OK && q < R; q++) {
        rp_cond_result *r = &res[q];
        *r = all[q];
        for (int k = 1; k < N; k++) {
            const rp_cond_result *o = &all[(size_t)k * R + q];
            r->ball_checked = r->ball_checked || o->ball_checked;
            r->in_ball = r->in_ball && o->in_ball;
            r->max_norm = o->max_norm > r->max_norm ? o->max_norm : r->max_norm;
            r->deterministic = r->deterministic && o->deterministic;
            r->passes += o->passes;
            r->seconds = o->seconds > r->seconds ? o->seconds : r->seconds;
        }
    }
    free(all);
    return s;
}

static rp_status gather_shards(table *t, rp_dist *d, int n_conds, int n_all, rp_cond_result *res)
{
    size_t R = (size_t)n_conds * t->M;
    void *robust = t->robust, *conf = t->conf;
    rp_status s = gather_rows(t, d, &robust, 1, R, n_all);
    t->robust = robust;
    if (s == RP_OK) s = gather_rows(t, d, &conf, sizeof(double), R + (size_t)t->M, n_all);
    t->conf = conf;
    if (s == RP_OK) s = combine_results(t, d, res, R);
    t->n = n_all;
    return s;
}

rp_status rp_evaluate_table(rp_ctx *ctx, rp_model *const *models, int n_models, const rp_dataset *ds,
                            const rp_condition *conds, int n_conds, const rp_eval_table_opts *o,
                            rp_cond_result *results)
{
    table t = {.ctx = ctx, .models = models, .M = n_models, .ds = ds, .o = o};
    rp_dataset_shape(ds, &t.H, &t.W, &t.C);
    int K = rp_dataset_num_classes(ds);
    if (n_models < 1 || n_models > 64 || n_conds < 1 || o->batch < 1 || o->batch > 4096)
        return rp_fail(ctx, RP_ERR_ARG, "evaluate: need 1..64 models, >= 1 condition, batch 1..4096");
    for (int m = 0; m <= n_models; m++) {
        rp_model *md = m < n_models ? models[m] : o->source;
        if (!md) continue;
        rp_status s = rp_check_model_fits(ctx, md, t.H, t.W, t.C, K);
        if (s != RP_OK) {
            char msg[sizeof ctx->msg];
            snprintf(msg, sizeof msg, "%s", rp_ctx_error(ctx));
            return rp_fail(ctx, s, "%s %d: %s", m < n_models ? "model" : "source model", m + 1, msg);
        }
        RP_TRY(rp_model_reserve(md, o->batch));
    }
    for (int c = 0; c < n_conds; c++) {
        const rp_condition *cd = &conds[c];
        if (cd->kind == RP_COND_NOISE && !(cd->strength >= 0.0f && (cd->noise != RP_NOISE_SHOT || cd->strength > 0.0f)))
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: noise %s needs a positive strength", rp_noise_name(cd->noise));
        if (cd->kind == RP_COND_CORRUPTION &&
            !(cd->corruption >= 0 && cd->corruption < RP_CORR_COUNT && cd->severity >= 1 && cd->severity <= 5))
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: corruption %d at severity %d (corruptions 0..%d, severities 1..5)",
                           (int)cd->corruption, cd->severity, RP_CORR_COUNT - 1);
        if (cd->kind == RP_COND_ATTACK && !(cd->attack.eps >= 0.0f))
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: eps must be >= 0 (got %g)", (double)cd->attack.eps);
        if (cd->kind == RP_COND_ATTACK && o->adapt_bn)
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: batch-norm adaptation is for clean, noise and corruption rows; "
                           "attacks see the model as it is (evaluate them without it)");
    }
    int avail = rp_dataset_size(ds) - o->first;
    if (o->first < 0 || avail < 1)
        return rp_fail(ctx, RP_ERR_ARG, "evaluate: first example %d outside the %d of the data set", o->first,
                       rp_dataset_size(ds));
    int n_all = o->n > 0 && o->n < avail ? o->n : avail, N = o->dist ? rp_dist_size(o->dist) : 1, start = 0;
    t.batch = o->batch;
    t.n = n_all;
    if (N > 1) shard_of(n_all, o->batch, rp_dist_rank(o->dist), N, &start, &t.n);
    t.first = o->first + start;
    t.X = (size_t)t.H * t.W * t.C;
    t.x = malloc((size_t)t.batch * t.X * sizeof *t.x);
    t.xw = malloc((size_t)t.batch * t.X * sizeof *t.xw);
    t.y = malloc((size_t)t.batch * sizeof *t.y);
    t.idx = malloc((size_t)t.batch * sizeof *t.idx);
    t.clean_ok = malloc((size_t)n_models * t.n + 1);
    t.robust = malloc((size_t)n_conds * n_models * t.n + 1);
    t.conf = calloc((size_t)(n_conds + 1) * n_models * t.n + 1, sizeof *t.conf);
    float *kept[64] = {0}; /* adapt_bn: each model's running statistics, restored at the end */
    rp_status s = RP_OK;
    if (!t.x || !t.xw || !t.y || !t.idx || !t.clean_ok || !t.robust || !t.conf)
        s = rp_fail(ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    for (int m = 0; s == RP_OK && o->adapt_bn && m < n_models; m++) {
        s = rp_model_adapt_bn_begin(ctx, models[m], &kept[m]);
        if (s != RP_OK) {
            char msg[sizeof ctx->msg];
            snprintf(msg, sizeof msg, "%s", rp_ctx_error(ctx));
            s = rp_fail(ctx, s, "model %d: %s", m + 1, msg);
        }
    }
    if (s == RP_OK) {
        for (size_t i = 0; i < (size_t)n_conds * n_models; i++)
            results[i] = (rp_cond_result){.in_ball = true, .deterministic = true};
        s = run_table(&t, conds, n_conds, results);
    }
    if (N > 1) { /* every rank learns of any rank's failure: none is left waiting in a collective */
        size_t failed = 0;
        if (rp_dist_total(o->dist, s != RP_OK, &failed) != RP_OK || failed)
            s = s != RP_OK ? s : rp_fail(ctx, RP_ERR_IO, "evaluate: another process failed (see its message)");
        if (s == RP_OK) s = gather_shards(&t, o->dist, n_conds, n_all, results);
    }
    if (s == RP_OK) finish_table(&t, conds, n_conds, results);
    for (int m = 0; m < n_models; m++) rp_model_adapt_bn_end(models[m], kept[m]);
    free(t.x), free(t.xw), free(t.y), free(t.idx), free(t.clean_ok), free(t.robust), free(t.conf);
    return s;
}

/* ---- corruption summaries ------------------------------------------------------------ */

/* sum_s a_s / sum_s b_s, NaN unless the denominator is positive. */
static double ratio(double num, double den) { return den > 0.0 ? num / den : NAN; }

static void summarize_one(const rp_condition *conds, int n_conds, const rp_cond_result *res, int M, int m, int ref,
                          int clean, rp_corruption k, rp_corruption_summary *o)
{
    double acc = 0.0, err = 0.0, err_ref = 0.0, rel = 0.0, rel_ref = 0.0;
    double clean_err = clean >= 0 ? 1.0 - res[(size_t)clean * M + m].accuracy : NAN;
    double clean_err_ref = clean >= 0 && ref >= 0 ? 1.0 - res[(size_t)clean * M + ref].accuracy : NAN;
    *o = (rp_corruption_summary){.accuracy = NAN, .ce = NAN, .relative_ce = NAN};
    for (int c = 0; c < n_conds; c++) {
        if (conds[c].kind != RP_COND_CORRUPTION || conds[c].corruption != k) continue;
        const rp_cond_result *r = &res[(size_t)c * M + m];
        o->present = true;
        if (r->not_applicable) continue;
        o->severities++;
        acc += r->accuracy;
        err += 1.0 - r->accuracy;
        rel += (1.0 - r->accuracy) - clean_err;
        if (ref >= 0) {
            double e = 1.0 - res[(size_t)c * M + ref].accuracy;
            err_ref += e;
            rel_ref += e - clean_err_ref;
        }
    }
    o->applicable = o->severities > 0;
    if (!o->applicable) return;
    o->accuracy = acc / o->severities;
    if (ref < 0) return;
    o->ce = ratio(err, err_ref);
    o->relative_ce = clean >= 0 ? ratio(rel, rel_ref) : NAN;
}

void rp_corruption_summarize(const rp_condition *conds, int n_conds, const rp_cond_result *results, int M, int m,
                             int ref, rp_corruption_summary out[RP_CORR_COUNT], rp_corruption_means *means)
{
    RP_ASSERT(m >= 0 && m < M && ref < M);
    int clean = -1;
    for (int c = 0; c < n_conds; c++)
        if (conds[c].kind == RP_COND_CLEAN) clean = c;
    for (int k = 0; k < RP_CORR_COUNT; k++) summarize_one(conds, n_conds, results, M, m, ref, clean, k, &out[k]);
    rp_corruption_means *o = means;
    *o = (rp_corruption_means){.accuracy = NAN, .mce = NAN, .relative_mce = NAN};
    double fam[RP_FAMILY_COUNT] = {0}, all = 0.0;
    bool imagenet_c = true;
    for (int k = 0; k < RP_CORR_COUNT; k++) {
        if (rp_corruption_in_imagenet_c(k) && !out[k].applicable) imagenet_c = false;
        if (!out[k].applicable) continue;
        fam[rp_corruption_family_of(k)] += out[k].accuracy;
        o->family_count[rp_corruption_family_of(k)]++;
        all += out[k].accuracy;
        o->count++;
    }
    for (int f = 0; f < RP_FAMILY_COUNT; f++) o->family_accuracy[f] = o->family_count[f] ? fam[f] / o->family_count[f] : NAN;
    if (o->count) o->accuracy = all / o->count;
    o->mce_imagenet_c = imagenet_c;
    double ce = 0.0, rce = 0.0;
    for (int k = 0; k < RP_CORR_COUNT; k++) {
        if (!out[k].applicable || (imagenet_c && !rp_corruption_in_imagenet_c(k))) continue;
        o->mce_count++;
        if (isfinite(out[k].ce)) ce += out[k].ce, o->mce_defined++;
        if (isfinite(out[k].relative_ce)) rce += out[k].relative_ce, o->relative_mce_defined++;
    }
    if (o->mce_defined) o->mce = ce / o->mce_defined;
    if (o->relative_mce_defined) o->relative_mce = rce / o->relative_mce_defined;
}
