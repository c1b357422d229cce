#include "optim/optim.h"

#include <math.h>
#include <string.h>

#include "core/arena.h"

#define RP_PI 3.14159265358979323846
/* Below this many trainable scalars the update runs on one thread: a parallel region
 * costs more than it saves. */
#define PARALLEL_MIN_NUMEL ((size_t)1 << 15)

struct rp_optim {
    rp_ctx *ctx; /* BORROWED */
    rp_model *m; /* BORROWED */
    rp_optim_config cfg;
    int n_params;     /* m->g.n_params at create */
    int n_slots;      /* moment tensors per parameter */
    size_t numel;     /* trainable scalars */
    rp_arena arena;   /* slot tables, step counters, moments */
    float **slot[2];  /* slot[s][i]: (params[i].numel) moments of parameter i, NULL for buffers */
    float **average;  /* average[i]: (params[i].numel) the moving average of tensor i (cfg.ema_decay > 0), or NULL */
    int64_t *param_steps; /* (n_params) updates each parameter received */
    int64_t steps;        /* steps taken: the schedule's position */
};

rp_optim_config rp_optim_defaults(rp_optim_kind kind)
{
    rp_optim_config c = {.kind = kind, .schedule = RP_SCHED_CONSTANT, .gamma = 0.1f,
                         .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (kind == RP_ADAMW) {
        c.lr = 1e-3f;
        c.weight_decay = 1e-2f;
    } else {
        c.lr = 1e-2f;
    }
    return c;
}

/* Schedules are evaluated at the 0-based step t before its update, as PyTorch's
 * schedulers are when scheduler.step() follows optimizer.step():
 *   constant  lr
 *   step      lr * gamma^floor(t / step_size)                  (StepLR)
 *   cosine    lr * (1 + cos(pi * t / total_steps)) / 2         (CosineAnnealingLR's
 *             closed form with eta_min = 0; like PyTorch's, it is periodic past
 *             total_steps, so size total_steps to the run)
 * Warm-up multiplies the scheduled lr by (t + 1) / warmup_steps for t < warmup_steps:
 * the first step already moves (lr / warmup_steps; a factor of 0 would waste a step)
 * and step warmup_steps - 1 reaches the full lr. It equals PyTorch's
 * LinearLR(start_factor = 1 / warmup_steps, total_iters = warmup_steps - 1) chained
 * with the schedule, and is applied on top of the schedule's own position t (the
 * schedule does not wait for the warm-up to end). */
float rp_optim_lr_at(const rp_optim_config *cfg, int64_t t)
{
    RP_ASSERT(t >= 0);
    double lr = cfg->lr;
    switch (cfg->schedule) {
    case RP_SCHED_CONSTANT: break;
    case RP_SCHED_STEP: lr *= pow(cfg->gamma, (double)(t / cfg->step_size)); break;
    case RP_SCHED_COSINE: lr *= 0.5 * (1.0 + cos(RP_PI * (double)t / (double)cfg->total_steps)); break;
    }
    if (t < cfg->warmup_steps) lr *= (double)(t + 1) / (double)cfg->warmup_steps;
    return (float)lr;
}

static bool in_unit(float x) { return x >= 0.0f && x < 1.0f; } /* [0, 1), false for NaN */

rp_status rp_optim_check_config(rp_ctx *ctx, const rp_optim_config *c)
{
    if (c->kind != RP_SGD && c->kind != RP_ADAMW)
        return rp_fail(ctx, RP_ERR_ARG, "optimizer: unknown kind %d", (int)c->kind);
    if (!(c->lr >= 0.0f) || !isfinite(c->lr))
        return rp_fail(ctx, RP_ERR_ARG, "optimizer: learning rate %g must be finite and >= 0", (double)c->lr);
    if (!(c->weight_decay >= 0.0f) || !isfinite(c->weight_decay))
        return rp_fail(ctx, RP_ERR_ARG, "optimizer: weight decay %g must be finite and >= 0",
                       (double)c->weight_decay);
    if (c->kind == RP_SGD) {
        if (!in_unit(c->momentum))
            return rp_fail(ctx, RP_ERR_ARG, "optimizer sgd: momentum %g outside [0, 1)", (double)c->momentum);
        if (c->nesterov && c->momentum == 0.0f)
            return rp_fail(ctx, RP_ERR_ARG, "optimizer sgd: Nesterov needs momentum > 0");
    } else {
        if (!in_unit(c->beta1) || !in_unit(c->beta2))
            return rp_fail(ctx, RP_ERR_ARG, "optimizer adamw: betas (%g, %g) outside [0, 1)",
                           (double)c->beta1, (double)c->beta2);
        if (!(c->eps >= 0.0f) || !isfinite(c->eps))
            return rp_fail(ctx, RP_ERR_ARG, "optimizer adamw: eps %g must be finite and >= 0", (double)c->eps);
    }
    if (c->warmup_steps < 0)
        return rp_fail(ctx, RP_ERR_ARG, "optimizer: warmup_steps %d < 0", c->warmup_steps);
    if (!in_unit(c->ema_decay))
        return rp_fail(ctx, RP_ERR_ARG, "optimizer: weight-averaging decay %g outside [0, 1) (0: off)",
                       (double)c->ema_decay);
    switch (c->schedule) {
    case RP_SCHED_CONSTANT: break;
    case RP_SCHED_STEP:
        if (c->step_size < 1)
            return rp_fail(ctx, RP_ERR_ARG, "optimizer: step schedule needs step_size >= 1 (got %d)", c->step_size);
        if (!(c->gamma > 0.0f) || !isfinite(c->gamma))
            return rp_fail(ctx, RP_ERR_ARG, "optimizer: step schedule gamma %g must be finite and > 0",
                           (double)c->gamma);
        break;
    case RP_SCHED_COSINE:
        if (c->total_steps < 1)
            return rp_fail(ctx, RP_ERR_ARG, "optimizer: cosine schedule needs total_steps >= 1 (got %ld)",
                           c->total_steps);
        break;
    default: return rp_fail(ctx, RP_ERR_ARG, "optimizer: unknown schedule %d", (int)c->schedule);
    }
    return RP_OK;
}

/* Tables first, then each slot's moments parameter by parameter (the parameters'
 * layout), as in the graph's parameter arena. Measures when a->base is NULL. */
static void carve_state(rp_optim *o, rp_arena *a)
{
    const rp_graph *g = &o->m->g;
    o->param_steps = rp_arena_bytes(a, (size_t)o->n_params * sizeof(int64_t));
    for (int s = 0; s < o->n_slots; s++) o->slot[s] = rp_arena_bytes(a, (size_t)o->n_params * sizeof(float *));
    for (int s = 0; s < o->n_slots; s++) {
        for (int i = 0; i < o->n_params; i++) {
            const rp_param *p = &g->params[i];
            float *v = p->trainable ? rp_arena_floats(a, p->numel) : NULL;
            if (a->base) o->slot[s][i] = v;
        }
    }
    if (o->cfg.ema_decay > 0.0f) {
        o->average = rp_arena_bytes(a, (size_t)o->n_params * sizeof(float *));
        for (int i = 0; i < o->n_params; i++) {
            float *v = rp_arena_floats(a, g->params[i].numel);
            if (a->base) o->average[i] = v;
        }
    }
}

rp_status rp_optim_create(rp_ctx *ctx, rp_model *m, const rp_optim_config *cfg, rp_optim **out)
{
    RP_ASSERT(m && cfg && out && m->g.finalized);
    *out = NULL;
    RP_TRY(rp_optim_check_config(ctx, cfg));
    rp_optim *o = calloc(1, sizeof *o);
    if (!o) return rp_fail(ctx, RP_ERR_NOMEM, "optimizer: out of memory");
    o->ctx = ctx;
    o->m = m;
    o->cfg = *cfg;
    o->n_params = m->g.n_params;
    o->n_slots = cfg->kind == RP_ADAMW ? 2 : cfg->momentum > 0.0f ? 1 : 0;
    for (int i = 0; i < o->n_params; i++) {
        const rp_param *p = &m->g.params[i];
        RP_ASSERT(!p->trainable || p->grad);
        if (p->trainable) o->numel += p->numel;
    }
    rp_arena measure = {0};
    carve_state(o, &measure);
    if (rp_arena_init(&o->arena, measure.used) != 0) {
        free(o);
        return rp_fail(ctx, RP_ERR_NOMEM, "optimizer: cannot allocate %zu MiB of state", measure.used >> 20);
    }
    carve_state(o, &o->arena); /* zero-filled: moments 0, step counts 0 */
    for (int i = 0; o->average && i < o->n_params; i++)
        memcpy(o->average[i], m->g.params[i].data, m->g.params[i].numel * sizeof(float));
    *out = o;
    return RP_OK;
}

void rp_optim_destroy(rp_optim *o)
{
    if (!o) return;
    rp_arena_free(&o->arena);
    free(o);
}

float rp_optim_lr(const rp_optim *o) { return rp_optim_lr_at(&o->cfg, o->steps); }

const rp_optim_config *rp_optim_get_config(const rp_optim *o) { return &o->cfg; }

/* PyTorch's _single_tensor_sgd, dampening 0, for one parameter. Called inside a
 * parallel region (or serially): the loop is shared among the team.
 * p, grad, buf: (n,); buf NULL without momentum; first: buf not yet initialised. */
static void sgd_update(float *p, const float *grad, float *buf, size_t n, float lr, float wd,
                       float mom, bool nesterov, bool first)
{
#pragma omp for schedule(static) nowait
    for (size_t k = 0; k < n; k++) {
        float d = wd != 0.0f ? grad[k] + wd * p[k] : grad[k];
        if (buf) {
            float b = first ? d : buf[k] * mom + d;
            buf[k] = b;
            d = nesterov ? d + mom * b : b;
        }
        p[k] -= lr * d;
    }
}

/* PyTorch's _single_tensor_adamw for one parameter at its update number `step` (>= 1).
 * Scalars are formed in double and rounded to float, as PyTorch does with Python floats.
 * p, grad, m1 (exp_avg), m2 (exp_avg_sq): (n,). */
static void adamw_update(float *p, const float *grad, float *m1, float *m2, size_t n, float lr,
                         float wd, float beta1, float beta2, float eps, int64_t step)
{
    const float decay = (float)(1.0 - (double)lr * wd);
    const float c1 = (float)(1.0 - beta1), c2 = (float)(1.0 - beta2);
    const double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    const float step_size = (float)((double)lr / bc1), bc2_sqrt = (float)sqrt(bc2);
#pragma omp for schedule(static) nowait
    for (size_t k = 0; k < n; k++) {
        float g = grad[k];
        float w = p[k] * decay;
        float a = m1[k] * beta1 + c1 * g;
        float v = m2[k] * beta2 + c2 * g * g;
        m1[k] = a;
        m2[k] = v;
        p[k] = w - step_size * (a / (sqrtf(v) / bc2_sqrt + eps));
    }
}

static bool updates(const rp_param *p) { return p->trainable && !p->frozen; }

/* The moving average after a step: a = d a + (1 - d) w, each product rounded to float as
 * PyTorch's tensor-times-scalar is (no contraction under -std=c11). */
static void average_update(float *a, const float *w, size_t n, float d)
{
    const float c = (float)(1.0 - (double)d);
#pragma omp for schedule(static) nowait
    for (size_t k = 0; k < n; k++) a[k] = d * a[k] + c * w[k];
}

void rp_optim_step(rp_optim *o)
{
    rp_graph *g = &o->m->g;
    RP_ASSERT(g->n_params == o->n_params);
    const rp_optim_config *c = &o->cfg;
    const float lr = rp_optim_lr(o);
    /* Every element's update is independent: threads split each parameter's elements
     * and move on to the next parameter without waiting (nowait). */
#pragma omp parallel if (o->numel >= PARALLEL_MIN_NUMEL)
    for (int i = 0; i < o->n_params; i++) {
        rp_param *p = &g->params[i];
        if (!updates(p)) continue;
        float wd = p->no_decay ? 0.0f : c->weight_decay;
        if (c->kind == RP_SGD)
            sgd_update(p->data, p->grad, o->n_slots ? o->slot[0][i] : NULL, p->numel, lr, wd,
                       c->momentum, c->nesterov, o->param_steps[i] == 0);
        else
            adamw_update(p->data, p->grad, o->slot[0][i], o->slot[1][i], p->numel, lr, wd, c->beta1,
                         c->beta2, c->eps, o->param_steps[i] + 1);
    }
    if (o->average) { /* the first step, and integer buffers always, copy the weights */
#pragma omp parallel if (o->numel >= PARALLEL_MIN_NUMEL)
        for (int i = 0; i < o->n_params; i++) {
            const rp_param *p = &g->params[i];
            if (o->steps > 0 && !p->is_int64) average_update(o->average[i], p->data, p->numel, c->ema_decay);
        }
        for (int i = 0; i < o->n_params; i++)
            if (o->steps == 0 || g->params[i].is_int64)
                memcpy(o->average[i], g->params[i].data, g->params[i].numel * sizeof(float));
    }
    for (int i = 0; i < o->n_params; i++)
        if (updates(&g->params[i])) o->param_steps[i]++;
    o->steps++;
}

/* ---- state ------------------------------------------------------------------------ */

int rp_optim_num_slots(const rp_optim *o) { return o->n_slots; }

const char *rp_optim_slot_name(const rp_optim *o, int slot)
{
    RP_ASSERT(slot >= 0 && slot < o->n_slots);
    if (o->cfg.kind == RP_SGD) return "momentum_buffer";
    return slot == 0 ? "exp_avg" : "exp_avg_sq";
}

float *rp_optim_slot(rp_optim *o, int slot, int i)
{
    RP_ASSERT(slot >= 0 && slot < o->n_slots && i >= 0 && i < o->n_params);
    return o->slot[slot][i];
}

int64_t rp_optim_steps(const rp_optim *o) { return o ? o->steps : 0; }

rp_status rp_optim_swap_average(rp_optim *o)
{
    RP_ASSERT(o);
    if (!o->average)
        return rp_fail(o->ctx, RP_ERR_ARG, "optimizer: no weight average to swap in (created with ema_decay 0)");
    const rp_graph *g = &o->m->g;
    for (int i = 0; i < o->n_params; i++) {
        float *w = g->params[i].data, *a = o->average[i];
        for (size_t k = 0; k < g->params[i].numel; k++) {
            float t = w[k];
            w[k] = a[k];
            a[k] = t;
        }
    }
    return RP_OK;
}

float *rp_optim_average(rp_optim *o, int i)
{
    RP_ASSERT(i >= 0 && i < o->n_params);
    return o->average ? o->average[i] : NULL;
}

int64_t rp_optim_param_steps(const rp_optim *o, int i)
{
    RP_ASSERT(i >= 0 && i < o->n_params);
    return o->param_steps[i];
}

rp_status rp_optim_restore_steps(rp_optim *o, int64_t steps, const int64_t *param_steps, int n_params)
{
    const rp_graph *g = &o->m->g;
    if (n_params != o->n_params)
        return rp_fail(o->ctx, RP_ERR_SHAPE, "optimizer state: %d parameter step counts for a model with %d tensors",
                       n_params, o->n_params);
    if (steps < 0)
        return rp_fail(o->ctx, RP_ERR_ARG, "optimizer state: step count %lld < 0", (long long)steps);
    for (int i = 0; i < n_params; i++) {
        int64_t s = param_steps[i];
        if (s < 0 || s > steps || (s != 0 && !g->params[i].trainable))
            return rp_fail(o->ctx, RP_ERR_ARG,
                           "optimizer state: %s has %lld updates (steps taken %lld%s)", g->params[i].name,
                           (long long)s, (long long)steps, g->params[i].trainable ? "" : ", and it is a buffer");
    }
    memcpy(o->param_steps, param_steps, (size_t)n_params * sizeof *param_steps);
    o->steps = steps;
    return RP_OK;
}
