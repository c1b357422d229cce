/* The evaluation table's public face (include/rampart.h): conditions named by the caller
 * (corruptions and noises by name) checked and translated into evaluate.c's rows, which do the
 * work; the checklist (report.c) and the corruption summary over the public rows and results. */
#include <stdlib.h>

#include "data/noise.h"
#include "robust/evaluate.h"
#include "robust/report.h"

rp_status rp_eval_noise_strength(rp_ctx *ctx, const char *name, int severity, int H, int W, float *strength,
                                 const char **canonical)
{
    rp_noise_kind k;
    if (!name || !strength)
        return rp_fail(ctx, RP_ERR_ARG, "rp_eval_noise_strength: %s is NULL", !name ? "name" : "strength");
    if (!rp_noise_parse(name, &k))
        return rp_fail(ctx, RP_ERR_ARG, "unknown noise '%s' (one of: gaussian, shot, impulse, speckle)", name);
    if (severity < 1 || severity > 5)
        return rp_fail(ctx, RP_ERR_ARG, "noise %s at severity %d (1..5)", name, severity);
    if (H < 1 || W < 1) return rp_fail(ctx, RP_ERR_ARG, "rp_eval_noise_strength: images of %d x %d", H, W);
    *strength = rp_noise_strength(k, severity, rp_corrupt_table_for(H, W));
    if (canonical) *canonical = rp_noise_name(k);
    return RP_OK;
}

/* The internal row of public condition c (index i for messages; H x W: the data's images, for
 * a noise's strength by severity). */
static rp_status to_condition(rp_ctx *ctx, const rp_eval_condition *c, int i, int H, int W, rp_condition *out)
{
    *out = (rp_condition){.kind = RP_COND_CLEAN};
    switch (c->kind) {
    case RP_EVAL_CLEAN: return RP_OK;
    case RP_EVAL_CORRUPTION: {
        int k;
        if (rp_corruption_find(ctx, c->corruption, &k) != RP_OK)
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: condition %d: unknown corruption '%s'", i,
                           c->corruption ? c->corruption : "(null)");
        if (c->severity < 1 || c->severity > 5)
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: condition %d: corruption %s at severity %d (1..5)", i,
                           c->corruption, c->severity);
        *out = (rp_condition){.kind = RP_COND_CORRUPTION, .corruption = (rp_corruption)k, .severity = c->severity};
        return RP_OK;
    }
    case RP_EVAL_NOISE: {
        rp_noise_kind k;
        if (!c->noise || !rp_noise_parse(c->noise, &k))
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: condition %d: unknown noise '%s'", i,
                           c->noise ? c->noise : "(null)");
        float strength = c->strength;
        if (!(strength > 0.0f) && rp_eval_noise_strength(ctx, c->noise, c->severity, H, W, &strength, NULL) != RP_OK)
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: condition %d: noise %s at severity %d (1..5) without a strength",
                           i, c->noise, c->severity);
        *out = (rp_condition){.kind = RP_COND_NOISE, .noise = k, .severity = c->severity, .strength = strength};
        return RP_OK;
    }
    case RP_EVAL_ATTACK:
        if ((unsigned)c->attack.kind > RP_ATTACK_WORST)
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: condition %d: unknown attack kind %d", i, (int)c->attack.kind);
        *out = (rp_condition){.kind = RP_COND_ATTACK, .attack = c->attack};
        return RP_OK;
    }
    return rp_fail(ctx, RP_ERR_ARG, "evaluate: condition %d: unknown kind %d", i, (int)c->kind);
}

/* The internal rows of conds into *out (OWNED, free()), or an error in ctx (RP_ERR_NOMEM, or
 * RP_ERR_ARG naming the bad condition). H, W: 28 when there is no data set (the strength only
 * matters to the evaluation itself). */
static rp_status to_conditions(rp_ctx *ctx, const rp_eval_condition *conds, int n_conds, int H, int W,
                               rp_condition **out)
{
    rp_condition *rows = malloc((size_t)n_conds * sizeof *rows);
    *out = NULL;
    if (!rows) return rp_fail(ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    for (int c = 0; c < n_conds; c++) {
        rp_status s = to_condition(ctx, &conds[c], c, H, W, &rows[c]);
        if (s != RP_OK) {
            free(rows);
            return s;
        }
    }
    *out = rows;
    return RP_OK;
}

static rp_eval_result public_result(const rp_cond_result *r)
{
    return (rp_eval_result){.n = r->n, .correct = r->correct, .accuracy = r->accuracy,
                            .not_applicable = r->not_applicable, .ece = r->ece, .ball_checked = r->ball_checked,
                            .in_ball = r->in_ball, .deterministic = r->deterministic, .max_norm = r->max_norm,
                            .passes = r->passes, .seconds = r->seconds};
}

static rp_cond_result internal_result(const rp_eval_result *r)
{
    return (rp_cond_result){.n = r->n, .correct = r->correct, .accuracy = r->accuracy,
                            .not_applicable = r->not_applicable, .ece = r->ece, .ball_checked = r->ball_checked,
                            .in_ball = r->in_ball, .deterministic = r->deterministic, .max_norm = r->max_norm,
                            .passes = r->passes, .seconds = r->seconds};
}

rp_status rp_evaluate_conditions(rp_ctx *ctx, rp_model *const *models, int n_models, const rp_dataset *ds,
                                 const rp_eval_condition *conds, int n_conds, const rp_eval_options *opts,
                                 rp_eval_result *results)
{
    if (!models || !ds || !conds || !opts || !results)
        return rp_fail(ctx, RP_ERR_ARG, "evaluate: %s is NULL",
                       !models ? "models" : !ds ? "the data set" : !conds ? "conds" : !opts ? "opts" : "results");
    if (n_models < 1 || n_conds < 1)
        return rp_fail(ctx, RP_ERR_ARG, "evaluate: %d models and %d conditions (need >= 1 of each)", n_models, n_conds);
    for (int m = 0; m < n_models; m++)
        if (!models[m]) return rp_fail(ctx, RP_ERR_ARG, "evaluate: model %d is NULL", m + 1);
    int H, W, C;
    rp_dataset_shape(ds, &H, &W, &C);
    rp_condition *rows;
    RP_TRY(to_conditions(ctx, conds, n_conds, H, W, &rows));
    rp_cond_result *res = malloc((size_t)n_conds * n_models * sizeof *res);
    rp_status s = res ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    rp_eval_table_opts o = {.first = opts->first, .n = opts->n, .batch = opts->batch, .seed = opts->seed,
                            .correct = opts->correct, .source = opts->source, .adapt_bn = opts->adapt_bn,
                            .dist = opts->dist, .progress = opts->progress, .progress_arg = opts->progress_arg};
    if (s == RP_OK) s = rp_evaluate_table(ctx, models, n_models, ds, rows, n_conds, &o, res);
    for (size_t k = 0; s == RP_OK && k < (size_t)n_conds * n_models; k++) results[k] = public_result(&res[k]);
    free(rows);
    free(res);
    return s;
}

/* The checks every reader of a filled table shares; the internal rows and results into
 * *rows and *res (OWNED) on success. */
static rp_status table_args(rp_ctx *ctx, const char *fn, const rp_eval_condition *conds, int n_conds,
                            const rp_eval_result *results, int n_models, int m, rp_condition **rows,
                            rp_cond_result **res)
{
    if (!conds || !results) return rp_fail(ctx, RP_ERR_ARG, "%s: %s is NULL", fn, !conds ? "conds" : "results");
    if (n_conds < 1 || n_models < 1)
        return rp_fail(ctx, RP_ERR_ARG, "%s: %d conditions and %d models (need >= 1 of each)", fn, n_conds, n_models);
    if (m < 0 || m >= n_models) return rp_fail(ctx, RP_ERR_ARG, "%s: model %d of %d", fn, m, n_models);
    RP_TRY(to_conditions(ctx, conds, n_conds, 28, 28, rows));
    *res = malloc((size_t)n_conds * n_models * sizeof **res);
    if (!*res) {
        free(*rows);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", fn);
    }
    for (size_t k = 0; k < (size_t)n_conds * n_models; k++) (*res)[k] = internal_result(&results[k]);
    return RP_OK;
}

rp_status rp_evaluate_checklist(rp_ctx *ctx, const rp_eval_condition *conds, int n_conds, const rp_eval_result *results,
                                int n_models, int m, int num_classes, bool transfer, double slack, rp_warning *out,
                                int max_out, int *count)
{
    const char *fn = "rp_evaluate_checklist";
    if (!count || (!out && max_out > 0))
        return rp_fail(ctx, RP_ERR_ARG, "%s: %s is NULL", fn, !count ? "count" : "out");
    if (num_classes < 1 || !(slack >= 0.0) || max_out < 0)
        return rp_fail(ctx, RP_ERR_ARG, "%s: %d classes, slack %g, max_out %d (need >= 1, >= 0, >= 0)", fn,
                       num_classes, slack, max_out);
    rp_condition *rows;
    rp_cond_result *res;
    RP_TRY(table_args(ctx, fn, conds, n_conds, results, n_models, m, &rows, &res));
    rp_report_row *checked = malloc((size_t)n_conds * sizeof *checked);
    if (!checked) {
        free(rows), free(res);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", fn);
    }
    int n_rows = 0; /* the checklist is about attacks and noise: corruption rows stay out */
    for (int c = 0; c < n_conds; c++)
        if (rows[c].kind != RP_COND_CORRUPTION)
            checked[n_rows++] = rp_report_row_of(&rows[c], &res[(size_t)c * n_models + m], transfer);
    *count = rp_report_check(checked, n_rows, num_classes, slack, out, max_out);
    free(checked), free(rows), free(res);
    return RP_OK;
}

rp_status rp_evaluate_corruption_summary(rp_ctx *ctx, const rp_eval_condition *conds, int n_conds,
                                         const rp_eval_result *results, int n_models, int m, int ref,
                                         rp_corruption_summary *out, int n_out, rp_corruption_means *means)
{
    const char *fn = "rp_evaluate_corruption_summary";
    if (!out || !means) return rp_fail(ctx, RP_ERR_ARG, "%s: %s is NULL", fn, !out ? "out" : "means");
    if (n_out < RP_CORR_COUNT)
        return rp_fail(ctx, RP_ERR_ARG, "%s: room for %d summaries, %d corruptions", fn, n_out, RP_CORR_COUNT);
    if (ref < -1 || ref >= n_models)
        return rp_fail(ctx, RP_ERR_ARG, "%s: reference column %d of %d (-1: none)", fn, ref, n_models);
    rp_condition *rows;
    rp_cond_result *res;
    RP_TRY(table_args(ctx, fn, conds, n_conds, results, n_models, m, &rows, &res));
    rp_corruption_summarize(rows, n_conds, res, n_models, m, ref, out, means);
    free(rows), free(res);
    return RP_OK;
}
