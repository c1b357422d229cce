/* The evaluation table's public face (include/rampart.h): conditions named by the caller
 * (corruptions by name) checked and translated into evaluate.c's rows, which do the work. */
#include <stdlib.h>

#include "robust/evaluate.h"

/* The internal row of public condition c (index i for messages). */
static rp_status to_condition(rp_ctx *ctx, const rp_eval_condition *c, int i, rp_condition *out)
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
    case RP_EVAL_ATTACK:
        if ((unsigned)c->attack.kind > RP_ATTACK_WORST)
            return rp_fail(ctx, RP_ERR_ARG, "evaluate: condition %d: unknown attack kind %d", i, (int)c->attack.kind);
        *out = (rp_condition){.kind = RP_COND_ATTACK, .attack = c->attack};
        return RP_OK;
    }
    return rp_fail(ctx, RP_ERR_ARG, "evaluate: condition %d: unknown kind %d", i, (int)c->kind);
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
    rp_condition *rows = malloc((size_t)n_conds * sizeof *rows);
    rp_cond_result *res = malloc((size_t)n_conds * n_models * sizeof *res);
    rp_status s = rows && res ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    for (int c = 0; s == RP_OK && c < n_conds; c++) s = to_condition(ctx, &conds[c], c, &rows[c]);
    rp_eval_table_opts o = {.first = opts->first, .n = opts->n, .batch = opts->batch, .seed = opts->seed,
                            .correct = opts->correct};
    if (s == RP_OK) s = rp_evaluate_table(ctx, models, n_models, ds, rows, n_conds, &o, res);
    for (size_t k = 0; s == RP_OK && k < (size_t)n_conds * n_models; k++)
        results[k] = (rp_eval_result){.n = res[k].n, .correct = res[k].correct, .accuracy = res[k].accuracy,
                                      .not_applicable = res[k].not_applicable, .ece = res[k].ece,
                                      .in_ball = res[k].in_ball, .max_norm = res[k].max_norm,
                                      .passes = res[k].passes, .seconds = res[k].seconds};
    free(rows);
    free(res);
    return s;
}
