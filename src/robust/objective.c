/* The training objectives: erm, advreg (NSL), fgsm (Goodfellow), fast (Wong), pgd (Madry),
 * trades (Zhang). See objective.h for which passes run in which mode. */
#include "robust/objective.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/corrupt.h"
#include "kernels/loss.h"
#include "robust/attack_internal.h"

static const char *const OBJ_NAMES[] = {"erm", "advreg", "fgsm", "fast", "pgd", "trades"};

rp_objective_config rp_objective_defaults(void)
{
    return (rp_objective_config){
        .kind = RP_OBJ_ERM,
        .label_smoothing = 0.0f,
        .norm = RP_NORM_L2,
        .eps = 0.0f,
        .step = 0.0f, /* by objective: advreg 0.001 (NSL), fast 1.25 eps, pgd/trades 2.5 eps/steps */
        .steps = 1,
        .random_init = false,
        .clip_min = 0.0f,
        .clip_max = 1.0f,
        .multiplier = 0.2f,
        .alpha = 0.5f,
        .beta = 6.0f,
        .seed = 0,
        .consistency = 0.0f,
    };
}

/* ---- directions and projections ------------------------------------------------------- */

void rp_obj_direction(rp_norm norm, const float *g, float *d, size_t X)
{
    if (norm == RP_NORM_LINF) {
#pragma omp simd
        for (size_t k = 0; k < X; k++) d[k] = (float)((g[k] > 0.0f) - (g[k] < 0.0f)); /* sign(g), 0 at 0 and NaN */
        return;
    }
    if (norm == RP_NORM_L2) {
        double s = 0.0;
        for (size_t k = 0; k < X; k++)
            if (isfinite(g[k])) s += (double)g[k] * g[k];
        double f = 1.0 / (sqrt(s) > 1e-6 ? sqrt(s) : 1e-6);
        for (size_t k = 0; k < X; k++) d[k] = isfinite(g[k]) ? (float)(g[k] * f) : 0.0f;
        return;
    }
    float mx = 0.0f;
    for (size_t k = 0; k < X; k++)
        if (isfinite(g[k]) && fabsf(g[k]) > mx) mx = fabsf(g[k]);
    size_t ties = 0;
    for (size_t k = 0; k < X; k++) ties += mx > 0.0f && fabsf(g[k]) == mx;
    for (size_t k = 0; k < X; k++)
        d[k] = mx > 0.0f && fabsf(g[k]) == mx ? (g[k] > 0.0f ? 1.0f : -1.0f) / (float)ties : 0.0f;
}

static int cmp_desc(const void *a, const void *b)
{
    float u = *(const float *)a, v = *(const float *)b;
    return (u < v) - (u > v);
}

/* Duchi et al. 2008: project delta onto {||delta||_1 <= eps} by soft-thresholding at theta. */
static void project_l1(float *v, const float *x, size_t X, float eps, float *scratch)
{
    double n1 = 0.0;
    for (size_t k = 0; k < X; k++) n1 += fabs((double)v[k] - x[k]);
    if (n1 <= eps) return;
    for (size_t k = 0; k < X; k++) scratch[k] = fabsf(v[k] - x[k]);
    qsort(scratch, X, sizeof *scratch, cmp_desc);
    double cum = 0.0, theta = 0.0;
    for (size_t k = 0; k < X; k++) {
        cum += scratch[k];
        double t = (cum - eps) / (double)(k + 1);
        if (scratch[k] > t) theta = t;
    }
    for (size_t k = 0; k < X; k++) {
        double d = (double)v[k] - x[k], m = fabs(d) - theta;
        v[k] = (float)(x[k] + (m > 0.0 ? (d > 0.0 ? m : -m) : 0.0));
    }
}

void rp_obj_project(float *v, const float *x, size_t X, rp_norm norm, float eps, float lo, float hi,
                    float *scratch)
{
    bool bounded = eps > 0.0f && isfinite(eps);
    if (norm == RP_NORM_L1 && bounded) project_l1(v, x, X, eps, scratch);
    rp_atk_project(v, x, X, norm == RP_NORM_L1 ? RP_NORM_L2 : norm, bounded && norm != RP_NORM_L1 ? eps : INFINITY,
                   lo, hi);
}

/* ---- the object -------------------------------------------------------------------------- */

static rp_status validate(rp_ctx *ctx, rp_objective_config *c)
{
    if ((unsigned)c->kind > RP_OBJ_TRADES) return rp_fail(ctx, RP_ERR_ARG, "unknown objective %d", (int)c->kind);
    const char *name = OBJ_NAMES[c->kind];
    if (!(c->label_smoothing >= 0.0f && c->label_smoothing < 1.0f))
        return rp_fail(ctx, RP_ERR_ARG, "label smoothing %g outside [0, 1)", (double)c->label_smoothing);
    if (!(c->consistency >= 0.0f && isfinite(c->consistency)))
        return rp_fail(ctx, RP_ERR_ARG, "consistency weight %g must be finite and >= 0", (double)c->consistency);
    if (c->kind == RP_OBJ_ERM) return RP_OK;
    if (!(c->clip_min < c->clip_max))
        return rp_fail(ctx, RP_ERR_ARG, "objective %s: clip range [%g, %g] is empty", name, (double)c->clip_min,
                       (double)c->clip_max);
    if (c->norm != RP_NORM_LINF && c->norm != RP_NORM_L2 && (c->norm != RP_NORM_L1 || c->kind != RP_OBJ_ADVREG))
        return rp_fail(ctx, RP_ERR_ARG, "objective %s: norm must be infinity or l2%s", name,
                       c->kind == RP_OBJ_ADVREG ? " or l1" : "");
    if (!(c->eps >= 0.0f)) return rp_fail(ctx, RP_ERR_ARG, "objective %s: eps %g must be >= 0", name, (double)c->eps);
    if (c->steps < 1) return rp_fail(ctx, RP_ERR_ARG, "objective %s: steps %d must be >= 1", name, c->steps);
    if (c->kind == RP_OBJ_ADVREG) {
        if (c->step <= 0.0f) c->step = 0.001f;
        if (!(c->step > 0.0f && isfinite(c->step)))
            return rp_fail(ctx, RP_ERR_ARG, "objective advreg: adversarial step %g must be finite and > 0", (double)c->step);
        if (!(c->multiplier >= 0.0f && isfinite(c->multiplier)))
            return rp_fail(ctx, RP_ERR_ARG, "objective advreg: multiplier %g must be finite and >= 0",
                           (double)c->multiplier);
        if (c->random_init && !(c->eps > 0.0f && isfinite(c->eps)))
            return rp_fail(ctx, RP_ERR_ARG, "objective advreg: random init needs a finite PGD epsilon > 0");
        return RP_OK;
    }
    if (!(c->eps > 0.0f && isfinite(c->eps)))
        return rp_fail(ctx, RP_ERR_ARG, "objective %s: eps %g must be finite and > 0 (e.g. 0.1 for Fashion-MNIST, "
                       "8/255 = 0.0314 for CIFAR-10)", name, (double)c->eps);
    if (c->kind == RP_OBJ_FGSM && !(c->alpha >= 0.0f && c->alpha <= 1.0f))
        return rp_fail(ctx, RP_ERR_ARG, "objective fgsm: alpha %g outside [0, 1]", (double)c->alpha);
    if (c->kind == RP_OBJ_TRADES && !(c->beta >= 0.0f && isfinite(c->beta)))
        return rp_fail(ctx, RP_ERR_ARG, "objective trades: beta %g must be finite and >= 0", (double)c->beta);
    if (c->kind == RP_OBJ_FGSM) c->step = c->eps, c->steps = 1;
    if (c->kind == RP_OBJ_FAST) {
        c->steps = 1;
        if (!(c->step > 0.0f)) c->step = 1.25f * c->eps;
    }
    if ((c->kind == RP_OBJ_PGD || c->kind == RP_OBJ_TRADES) && !(c->step > 0.0f))
        c->step = 2.5f * c->eps / (float)c->steps;
    if (!isfinite(c->step))
        return rp_fail(ctx, RP_ERR_ARG, "objective %s: step %g must be finite", name, (double)c->step);
    return RP_OK;
}

rp_status rp_objective_create(rp_ctx *ctx, rp_model *m, const rp_objective_config *cfg,
                              int max_batch, rp_objective **out)
{
    *out = NULL;
    if (max_batch < 1) return rp_fail(ctx, RP_ERR_ARG, "objective: batch %d < 1", max_batch);
    rp_objective_config c = *cfg;
    RP_TRY(validate(ctx, &c));
    int views = c.consistency > 0.0f ? 3 : c.kind == RP_OBJ_TRADES ? 2 : 1; /* rows of the widest pass */
    RP_TRY(rp_model_reserve(m, views * max_batch));
    rp_objective *o = calloc(1, sizeof *o);
    if (!o) return rp_fail(ctx, RP_ERR_NOMEM, "out of memory");
    size_t K = (size_t)m->cfg.num_classes, X = (size_t)m->cfg.H * m->cfg.W * m->cfg.C;
    o->ctx = ctx;
    o->m = m;
    o->cfg = c;
    o->max_batch = max_batch;
    o->dlogits = malloc(3 * (size_t)max_batch * K * sizeof(float));
    o->logits = malloc((size_t)max_batch * K * sizeof(float));
    o->x_adv = malloc((size_t)max_batch * X * sizeof(float));
    o->dx = malloc((size_t)max_batch * X * sizeof(float));
    o->dir = malloc((size_t)max_batch * X * sizeof(float)); /* a row per example: steps run in parallel */
    if (views > 1) o->xcat = malloc((size_t)views * max_batch * X * sizeof(float));
    o->rngs = malloc((size_t)max_batch * sizeof *o->rngs);
    if (!o->dlogits || !o->logits || !o->x_adv || !o->dx || !o->dir || (views > 1 && !o->xcat) || !o->rngs) {
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
    free(o->xcat);
    free(o->dir);
    free(o->rngs);
    rp_obj_sync_free(o);
    free(o->gbuf);
    free(o->sam_w);
    free(o->sam_buffers);
    free(o);
}

/* ---- pieces shared by the objectives -------------------------------------------------- */

static size_t numel(const rp_objective *o) { return (size_t)o->m->cfg.H * o->m->cfg.W * o->m->cfg.C; }

/* x_adv = x + a uniform draw from the eps-ball of the norm (L1 / L2: NSL's samplers), clipped. */
static void random_init(rp_objective *o, const float *x, int B)
{
    size_t X = numel(o);
    const rp_objective_config *c = &o->cfg;
    for (int i = 0; i < B; i++) {
        float *v = o->x_adv + (size_t)i * X;
        const float *xi = x + (size_t)i * X;
        rp_rng *rng = &o->rngs[i];
        if (c->norm == RP_NORM_LINF) {
            for (size_t k = 0; k < X; k++) v[k] = xi[k] + c->eps * (2.0f * rp_rng_uniform(rng) - 1.0f);
        } else {
            /* L2: Gaussian of X + 2 coordinates scaled to the sphere, keep X (uniform in the ball);
               L1: Laplace of X coordinates and one extra |Laplace| (uniform in the ball) */
            double s = 0.0, extra = 0.0;
            for (size_t k = 0; k < X; k++) {
                float r = c->norm == RP_NORM_L2 ? rp_rng_normal(rng)
                                                : -logf(1.0f - rp_rng_uniform(rng)) + logf(1.0f - rp_rng_uniform(rng));
                v[k] = r;
                s += c->norm == RP_NORM_L2 ? (double)r * r : fabs(r);
            }
            if (c->norm == RP_NORM_L2) {
                for (int e = 0; e < 2; e++) {
                    double r = rp_rng_normal(rng);
                    extra += r * r;
                }
                s = sqrt(s + extra);
            } else {
                s += -log(1.0 - rp_rng_uniform(rng));
            }
            for (size_t k = 0; k < X; k++) v[k] = (float)(xi[k] + v[k] * (c->eps / s));
        }
        rp_obj_project(v, xi, X, c->norm, c->eps, c->clip_min, c->clip_max, o->dir);
    }
}

/* x_adv += step * direction(g) per example, then projection (eps) and clipping. */
static void step_all(rp_objective *o, const float *x, int B, float step)
{
    size_t X = numel(o);
    const rp_objective_config *c = &o->cfg;
    /* each example on its own rows (dir included): any thread count gives the same bits */
#pragma omp parallel for schedule(static) if ((size_t)B * X > 32768)
    for (int i = 0; i < B; i++) {
        float *v = o->x_adv + (size_t)i * X, *dir = o->dir + (size_t)i * X;
        rp_obj_direction(c->norm, o->dx + (size_t)i * X, dir, X);
#pragma omp simd
        for (size_t k = 0; k < X; k++) v[k] += step * dir[k];
        rp_obj_project(v, x + (size_t)i * X, X, c->norm, c->eps, c->clip_min, c->clip_max, dir);
    }
}

/* A consistency pass follows the objective's own (its gradients add to theirs). */
static bool consistency_follows(const rp_objective *o)
{
    return o->cfg.consistency > 0.0f && o->cfg.kind != RP_OBJ_ERM;
}

/* Backward of dlogits adding parameter gradients (and dx with RP_GRAD_INPUT); last: no later
 * pass of the step adds to them, so a data-parallel step sums them over the processes while
 * this backward still runs (grad_sync.c). */
static void param_backward(rp_objective *o, float *dx, int flags, bool last)
{
    rp_obj_sync_arm(o, last);
    rp_model_backward(o->m, o->dlogits, dx, flags);
    rp_obj_sync_arm(o, false);
}

/* dx = d CE(x_adv) / d x_adv in eval mode (the inner maximisation's gradient). */
static void eval_grad_ce(rp_objective *o, const int32_t *y, int B)
{
    int K = o->m->cfg.num_classes;
    const float *z = rp_model_forward(o->m, o->x_adv, B, false);
    rp_softmax_xent(z, y, B, K, o->cfg.label_smoothing, o->dlogits, 1.0f, NULL);
    rp_model_backward(o->m, o->dlogits, o->dx, RP_GRAD_INPUT);
}

/* Training-mode pass on x_adv adding weight * d CE(x_adv) / d params; returns the CE. */
static float train_adv(rp_objective *o, const int32_t *y, int B, float weight, int *correct)
{
    int K = o->m->cfg.num_classes;
    const float *z = rp_model_forward(o->m, o->x_adv, B, true);
    float l = rp_softmax_xent(z, y, B, K, o->cfg.label_smoothing, o->dlogits, weight, correct);
    param_backward(o, NULL, RP_GRAD_PARAMS, !consistency_follows(o)); /* the objective's last pass */
    return l;
}

/* Clean statistics from an eval-mode forward (objectives whose loss has no clean term). */
static void clean_stats(rp_objective *o, const float *x, const int32_t *y, int B, rp_step_stats *st)
{
    const float *z = rp_model_forward(o->m, x, B, false);
    st->clean_loss = rp_softmax_xent(z, y, B, o->m->cfg.num_classes, o->cfg.label_smoothing, NULL, 1.0f, &st->correct);
}

/* ---- the objectives ---------------------------------------------------------------------- */

static void erm_step(rp_objective *o, const float *x, const int32_t *y, int B, rp_step_stats *st)
{
    int K = o->m->cfg.num_classes;
    const float *logits = rp_model_forward(o->m, x, B, true);
    st->clean_loss = rp_softmax_xent(logits, y, B, K, o->cfg.label_smoothing, o->dlogits, 1.0f, &st->correct);
    st->loss = st->clean_loss;
    param_backward(o, NULL, RP_GRAD_PARAMS, true);
}

/* NSL: the clean pass keeps its parameter gradients and gives g = d CE(x) / dx (of the batch
 * mean, as NSL); x_adv = clip(x + step * direction(g)); further iterations (eval mode) step
 * from x_adv and project onto the eps-ball; random init starts inside the ball instead (and
 * then the first gradient is taken there). loss = CE(x) + multiplier * CE(x_adv). */
static void advreg_step(rp_objective *o, const float *x, const int32_t *y, int B, rp_step_stats *st)
{
    const rp_objective_config *c = &o->cfg;
    int K = o->m->cfg.num_classes;
    size_t X = numel(o);
    const float *z = rp_model_forward(o->m, x, B, true);
    st->clean_loss = rp_softmax_xent(z, y, B, K, c->label_smoothing, o->dlogits, 1.0f, &st->correct);
    param_backward(o, o->dx, RP_GRAD_PARAMS | RP_GRAD_INPUT, !(c->multiplier > 0.0f) && !consistency_follows(o));
    if (c->random_init) random_init(o, x, B);
    else memcpy(o->x_adv, x, (size_t)B * X * sizeof(float));
    for (int it = 0; it < c->steps; it++) {
        if (it > 0 || c->random_init) eval_grad_ce(o, y, B);
        step_all(o, x, B, c->step);
    }
    st->loss = st->clean_loss;
    if (c->multiplier > 0.0f) {
        st->adv_loss = train_adv(o, y, B, c->multiplier, &st->adv_correct);
        st->loss += c->multiplier * st->adv_loss;
    }
}

/* Goodfellow et al.: x_fgsm = clip(x + eps sign(d CE(x) / dx)) from the clean training pass;
 * loss = alpha CE(x) + (1 - alpha) CE(x_fgsm). */
static void fgsm_step(rp_objective *o, const float *x, const int32_t *y, int B, rp_step_stats *st)
{
    const rp_objective_config *c = &o->cfg;
    int K = o->m->cfg.num_classes;
    const float *z = rp_model_forward(o->m, x, B, true);
    float w = c->alpha > 0.0f ? c->alpha : 1.0f; /* alpha = 0: the input gradient alone */
    st->clean_loss = rp_softmax_xent(z, y, B, K, c->label_smoothing, o->dlogits, w, &st->correct);
    param_backward(o, o->dx, (c->alpha > 0.0f ? RP_GRAD_PARAMS : 0) | RP_GRAD_INPUT,
                   !(c->alpha < 1.0f) && !consistency_follows(o));
    memcpy(o->x_adv, x, (size_t)B * numel(o) * sizeof(float));
    step_all(o, x, B, c->eps);
    st->loss = c->alpha * st->clean_loss;
    if (c->alpha < 1.0f) {
        st->adv_loss = train_adv(o, y, B, 1.0f - c->alpha, &st->adv_correct);
        st->loss += (1.0f - c->alpha) * st->adv_loss;
    }
}

/* Wong et al. 2020: x_adv = P(x + U(-eps, eps) + step sign(g)), step 1.25 eps by default;
 * loss = CE(x_adv). Madry et al.: PGD from x (or a random start) for `steps` steps;
 * loss = CE(x_pgd). */
static void pgd_step(rp_objective *o, const float *x, const int32_t *y, int B, rp_step_stats *st)
{
    const rp_objective_config *c = &o->cfg;
    int K = o->m->cfg.num_classes;
    bool rs = c->random_init || c->kind == RP_OBJ_FAST;
    if (rs) random_init(o, x, B);
    else memcpy(o->x_adv, x, (size_t)B * numel(o) * sizeof(float));
    for (int it = 0; it < c->steps; it++) {
        const float *z = rp_model_forward(o->m, o->x_adv, B, false);
        float l = rp_softmax_xent(z, y, B, K, c->label_smoothing, o->dlogits, 1.0f, it == 0 ? &st->correct : NULL);
        if (it == 0) st->clean_loss = l; /* exact when the first point is x itself */
        rp_model_backward(o->m, o->dlogits, o->dx, RP_GRAD_INPUT);
        step_all(o, x, B, c->step);
    }
    if (rs) clean_stats(o, x, y, B, st);
    st->adv_loss = train_adv(o, y, B, 1.0f, &st->adv_correct);
    st->loss = st->adv_loss;
}

/* Zhang et al. 2019: x_adv maximises KL(f(x) || f(x_adv)) from x + 0.001 N(0, 1) (eval
 * mode); loss = CE(x) + beta KL(f(x) || f(x_adv)), both halves in one training-mode pass of
 * the batch [x; x_adv] (BatchNorm statistics over the joint batch). */
static void trades_step(rp_objective *o, const float *x, const int32_t *y, int B, rp_step_stats *st)
{
    const rp_objective_config *c = &o->cfg;
    int K = o->m->cfg.num_classes;
    size_t X = numel(o), BK = (size_t)B * K;
    memcpy(o->logits, rp_model_forward(o->m, x, B, false), BK * sizeof(float));
    for (int i = 0; i < B; i++)
        for (size_t k = (size_t)i * X; k < (size_t)(i + 1) * X; k++)
            o->x_adv[k] = x[k] + 0.001f * rp_rng_normal(&o->rngs[i]);
    for (int it = 0; it < c->steps; it++) {
        const float *q = rp_model_forward(o->m, o->x_adv, B, false);
        rp_kl_div_logits(o->logits, q, B, K, NULL, o->dlogits, 1.0f);
        rp_model_backward(o->m, o->dlogits, o->dx, RP_GRAD_INPUT);
        step_all(o, x, B, c->step);
    }
    memcpy(o->xcat, x, (size_t)B * X * sizeof(float));
    memcpy(o->xcat + (size_t)B * X, o->x_adv, (size_t)B * X * sizeof(float));
    const float *z = rp_model_forward(o->m, o->xcat, 2 * B, true);
    float *dclean = o->dlogits, *dadv = o->dlogits + BK, *dp = o->dlogits + 2 * BK;
    st->clean_loss = rp_softmax_xent(z, y, B, K, c->label_smoothing, dclean, 1.0f, &st->correct);
    st->adv_loss = rp_kl_div_logits(z, z + BK, B, K, dp, dadv, c->beta);
    for (size_t k = 0; k < BK; k++) dclean[k] += dp[k];
    int hits = 0;
    for (int i = 0; i < B; i++) hits += rp_atk_argmax(z + BK + (size_t)i * K, K) == y[i];
    st->adv_correct = hits;
    st->loss = st->clean_loss + c->beta * st->adv_loss;
    param_backward(o, NULL, RP_GRAD_PARAMS, !consistency_follows(o));
}

/* AugMix's consistency: one training-mode pass of [x; view1; view2] adding
 * lambda * d JS / d params (and, for erm, the clean cross-entropy from the x rows). */
static void consistency_step(rp_objective *o, const float *x, const float *views, const int32_t *y, int B,
                             bool with_ce, rp_step_stats *st)
{
    int K = o->m->cfg.num_classes;
    size_t X = numel(o), BK = (size_t)B * K;
    memcpy(o->xcat, x, (size_t)B * X * sizeof(float));
    memcpy(o->xcat + (size_t)B * X, views, 2 * (size_t)B * X * sizeof(float));
    const float *z = rp_model_forward(o->m, o->xcat, 3 * B, true);
    memset(o->dlogits, 0, 3 * BK * sizeof(float));
    if (with_ce) {
        st->clean_loss = rp_softmax_xent(z, y, B, K, o->cfg.label_smoothing, o->dlogits, 1.0f, &st->correct);
        st->loss = st->clean_loss;
    }
    st->consistency_loss = rp_jsd_logits(z, 3, B, K, o->dlogits, o->cfg.consistency);
    st->loss += o->cfg.consistency * st->consistency_loss;
    param_backward(o, NULL, RP_GRAD_PARAMS, true); /* always the step's last pass */
}

rp_status rp_objective_set_dist(rp_objective *o, rp_dist *d)
{
    if (!o) return rp_fail(NULL, RP_ERR_ARG, "rp_objective_set_dist: the objective is NULL");
    o->dist = d && rp_dist_size(d) > 1 ? d : NULL;
    RP_TRY(rp_graph_set_dist(&o->m->g, o->dist)); /* batch norms' statistics: the job's */
    if (!o->dist) return RP_OK;
    if (!o->gbuf) {
        size_t n = rp_model_num_params(o->m);
        o->gbuf = malloc((n ? n : 1) * sizeof *o->gbuf);
        if (!o->gbuf) return rp_fail(o->ctx, RP_ERR_NOMEM, "objective: out of memory for %zu gradients", n);
    }
    return rp_obj_sync_init(o); /* the gradient sum's buckets (grad_sync.c) */
}

void rp_objective_set_examples(rp_objective *o, int epoch, const int *idx)
{
    o->key_epoch = epoch;
    o->key_idx = idx;
}

rp_status rp_train_step(rp_objective *o, rp_optim *opt, const float *x, const int32_t *y, int B,
                        rp_step_stats *stats)
{
    return rp_train_step_views(o, opt, x, NULL, y, B, stats);
}

/* The objective's gradients at the current weights (zeroed first) and its statistics, summed
 * over the job's processes; every example's random draws from its own stream, keyed by
 * (epoch, idx[i]) or numbered from base. */
static rp_status objective_grads(rp_objective *o, const float *x, const float *views, const int32_t *y, int B,
                                 int key_epoch, const int *idx, int64_t base, rp_step_stats *out)
{
    bool consistency = o->cfg.consistency > 0.0f;
    rp_step_stats st = {0};
    for (int i = 0; i < B; i++) /* every example's draws from its own stream */
        rp_rng_seed_key(&o->rngs[i], o->cfg.seed, RP_STREAM_ATTACK, idx ? (uint64_t)key_epoch : 0,
                        idx ? (uint64_t)idx[i] : (uint64_t)(base + i));
    /* and its dropout and stochastic-depth masks in every training pass (rp_graph_set_examples) */
    rp_graph_set_examples(&o->m->g, rp_rng_key(o->cfg.seed, RP_STREAM_DROPOUT, idx ? (uint64_t)key_epoch : 0), idx,
                          base, B);
    rp_model_zero_grad(o->m);
    if (o->dist) RP_TRY(rp_obj_sync_begin(o, B));
    /* an empty piece (B = 0) gives zero gradients; with batch norms over the job the passes still
     * run, with no rows, for their collectives (rp_graph_set_dist) */
    bool synced = o->m->g.bn_sync.dist != NULL;
    if (B == 0 && !synced) {
    } else if (consistency && o->cfg.kind == RP_OBJ_ERM) { /* CE(x) comes from the consistency pass */
        consistency_step(o, x, views, y, B, true, &st);
    } else {
        switch (o->cfg.kind) {
        case RP_OBJ_ERM: erm_step(o, x, y, B, &st); break;
        case RP_OBJ_ADVREG: advreg_step(o, x, y, B, &st); break;
        case RP_OBJ_FGSM: fgsm_step(o, x, y, B, &st); break;
        case RP_OBJ_FAST: case RP_OBJ_PGD: pgd_step(o, x, y, B, &st); break;
        case RP_OBJ_TRADES: trades_step(o, x, y, B, &st); break;
        }
        if (consistency) consistency_step(o, x, views, y, B, false, &st);
    }
    if (synced) RP_TRY(rp_graph_sync_status(&o->m->g));
    if (o->dist) RP_TRY(rp_obj_sync_reduce(o, B, &st));
    if (!isfinite(st.loss))
        return rp_fail(o->ctx, RP_ERR_NUMERIC, "training loss is %g; %s", (double)st.loss,
                       rp_model_check_finite(o->ctx, o->m) == RP_OK ? "parameters are finite (lower the learning rate?)"
                                                                     : rp_ctx_error(o->ctx));
    *out = st;
    return RP_OK;
}

/* The trainable, unfrozen weights (the ones SAM moves) into buf (to_buf) or back from it. */
static void copy_weights(const rp_graph *g, float *buf, bool to_buf)
{
    size_t at = 0;
    for (int i = 0; i < g->n_params; i++) {
        const rp_param *p = &g->params[i];
        if (!p->trainable || p->frozen) continue;
        if (to_buf) memcpy(buf + at, p->data, p->numel * sizeof *buf);
        else memcpy(p->data, buf + at, p->numel * sizeof *buf);
        at += p->numel;
    }
}

rp_status rp_objective_set_sam(rp_objective *o, float rho)
{
    if (!o) return rp_fail(NULL, RP_ERR_ARG, "rp_objective_set_sam: the objective is NULL");
    if (!(rho >= 0.0f && isfinite(rho)))
        return rp_fail(o->ctx, RP_ERR_ARG, "sam: radius %g must be finite and >= 0", (double)rho);
    o->sam_rho = rho;
    if (rho == 0.0f || o->sam_w) return RP_OK;
    size_t nw = rp_model_num_params(o->m), nb = rp_model_buffer_floats(o->m);
    o->sam_w = malloc((nw + 1) * sizeof *o->sam_w);
    o->sam_buffers = malloc((nb + 1) * sizeof *o->sam_buffers);
    if (!o->sam_w || !o->sam_buffers) return rp_fail(o->ctx, RP_ERR_NOMEM, "sam: out of memory for %zu weights", nw);
    return RP_OK;
}

/* SAM's ascent: w += rho g / ||g|| over the trainable, unfrozen weights (the gradients are the
 * job's, so every process moves the same way), the old weights kept in sam_w. */
static void sam_ascend(rp_objective *o)
{
    const rp_graph *g = &o->m->g;
    double n2 = 0;
    for (int i = 0; i < g->n_params; i++) {
        const rp_param *p = &g->params[i];
        if (!p->trainable || p->frozen) continue;
        for (size_t k = 0; k < p->numel; k++) n2 += (double)p->grad[k] * p->grad[k];
    }
    copy_weights(g, o->sam_w, true);
    rp_model_copy_buffers(o->m, o->sam_buffers, true);
    float s = (float)(o->sam_rho / (sqrt(n2) + 1e-12));
    for (int i = 0; i < g->n_params; i++) {
        const rp_param *p = &g->params[i];
        if (!p->trainable || p->frozen) continue;
        for (size_t k = 0; k < p->numel; k++) p->data[k] += s * p->grad[k];
    }
}

rp_status rp_train_step_views(rp_objective *o, rp_optim *opt, const float *x, const float *views,
                              const int32_t *y, int B, rp_step_stats *stats)
{
    RP_ASSERT(B >= (o->dist ? 0 : 1) && B <= o->max_batch);
    if (o->cfg.consistency > 0.0f && !views)
        return rp_fail(o->ctx, RP_ERR_ARG, "consistency: the objective needs two augmented views of every image "
                       "(an augmentation that makes views, e.g. augmix or prime)");
    const int *idx = o->key_idx;
    int64_t base = o->next_index;
    o->key_idx = NULL;
    if (!idx) o->next_index += B;
    rp_step_stats st;
    RP_TRY(objective_grads(o, x, views, y, B, o->key_epoch, idx, base, &st));
    if (o->sam_rho > 0.0f) {
        /* SAM (Foret et al. 2021): the update takes the gradient at the worst weights within
         * rho of w (to first order), the same examples and random draws; batch norms' running
         * statistics are the first pass's alone */
        sam_ascend(o);
        rp_step_stats at_worst;
        rp_status s = objective_grads(o, x, views, y, B, o->key_epoch, idx, base, &at_worst);
        copy_weights(&o->m->g, o->sam_w, false);
        rp_model_copy_buffers(o->m, o->sam_buffers, false);
        RP_TRY(s);
    }
    RP_TRY(rp_model_check_finite(o->ctx, o->m));
    rp_optim_step(opt);
    if (stats) *stats = st;
    return RP_OK;
}

unsigned rp_objective_families(const rp_objective_config *c)
{
    return c->kind == RP_OBJ_ERM ? 0u : 1u << RP_FAMILY_NOISE;
}
