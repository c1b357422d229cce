#include "robust/objective.h"

#include <math.h>
#include <string.h>

rp_objective_config rp_objective_defaults(void)
{
    return (rp_objective_config){
        .kind = RP_OBJ_ERM,
        .label_smoothing = 0.0f,
        .norm = RP_NORM_L2,
        .eps = 0.0f,
        .step = 0.001f,
        .steps = 1,
        .random_init = false,
        .clip_min = 0.0f,
        .clip_max = 1.0f,
        .multiplier = 0.2f,
        .alpha = 0.5f,
        .beta = 6.0f,
        .seed = 0,
    };
}

rp_status rp_objective_create(rp_ctx *ctx, rp_model *m, const rp_objective_config *cfg,
                              int max_batch, rp_objective **out)
{
    *out = NULL;
    if (max_batch < 1) return rp_fail(ctx, RP_ERR_ARG, "objective: batch %d < 1", max_batch);
    if (cfg->label_smoothing < 0.0f || cfg->label_smoothing >= 1.0f)
        return rp_fail(ctx, RP_ERR_ARG, "label smoothing %g outside [0, 1)", (double)cfg->label_smoothing);
    if (cfg->kind != RP_OBJ_ERM)
        return rp_fail(ctx, RP_ERR_UNSUPPORTED, "objective %d is not built yet", (int)cfg->kind);
    RP_TRY(rp_model_reserve(m, max_batch));
    rp_objective *o = calloc(1, sizeof *o);
    if (!o) return rp_fail(ctx, RP_ERR_NOMEM, "out of memory");
    size_t K = (size_t)m->cfg.num_classes, X = (size_t)m->cfg.H * m->cfg.W * m->cfg.C;
    o->ctx = ctx;
    o->m = m;
    o->cfg = *cfg;
    o->max_batch = max_batch;
    o->dlogits = malloc((size_t)max_batch * K * sizeof(float));
    o->logits = malloc((size_t)max_batch * K * sizeof(float));
    o->x_adv = malloc((size_t)max_batch * X * sizeof(float));
    o->dx = malloc((size_t)max_batch * X * sizeof(float));
    rp_rng_seed(&o->rng, cfg->seed, RP_STREAM_ATTACK);
    if (!o->dlogits || !o->logits || !o->x_adv || !o->dx) {
        rp_objective_destroy(o);
        return rp_fail(ctx, RP_ERR_NOMEM, "objective: out of memory for batch %d", max_batch);
    }
    *out = o;
    return RP_OK;
}

void rp_objective_destroy(rp_objective *o)
{
    if (!o) return;
    free(o->dlogits);
    free(o->logits);
    free(o->x_adv);
    free(o->dx);
    free(o);
}

static rp_status erm_step(rp_objective *o, const float *x, const int32_t *y, int B, rp_step_stats *st)
{
    int K = o->m->cfg.num_classes;
    const float *logits = rp_model_forward(o->m, x, B, true);
    st->clean_loss = rp_softmax_xent(logits, y, B, K, o->cfg.label_smoothing, o->dlogits, 1.0f, &st->correct);
    st->loss = st->clean_loss;
    rp_model_backward(o->m, o->dlogits, NULL, RP_GRAD_PARAMS);
    return RP_OK;
}

rp_status rp_train_step(rp_objective *o, rp_optim *opt, const float *x, const int32_t *y, int B,
                        rp_step_stats *stats)
{
    RP_ASSERT(B >= 1 && B <= o->max_batch);
    rp_step_stats st = {0};
    rp_model_zero_grad(o->m);
    switch (o->cfg.kind) {
    case RP_OBJ_ERM: RP_TRY(erm_step(o, x, y, B, &st)); break;
    default: return rp_fail(o->ctx, RP_ERR_UNSUPPORTED, "objective %d is not built yet", (int)o->cfg.kind);
    }
    if (!isfinite(st.loss))
        return rp_fail(o->ctx, RP_ERR_NUMERIC, "training loss is %g; %s", (double)st.loss,
                       rp_model_check_finite(o->ctx, o->m) == RP_OK ? "parameters are finite (lower the learning rate?)"
                                                                     : rp_ctx_error(o->ctx));
    RP_TRY(rp_model_check_finite(o->ctx, o->m));
    rp_optim_step(opt);
    if (stats) *stats = st;
    return RP_OK;
}
