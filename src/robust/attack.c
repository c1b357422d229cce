/* Attacks: the object, per-example losses, projections, FGSM / FGSM-RS / PGD / noise and the
 * AutoAttack-style worst case. APGD is in attack_apgd.c, Square in attack_square.c. */
#include <math.h>
#include <string.h>

#include "robust/attack_internal.h"

static const char *const NAMES[] = {"fgsm", "fgsm-rs", "pgd", "apgd-ce", "apgd-t", "square", "noise", "worst"};

const char *rp_attack_name(rp_attack_kind kind)
{
    return (unsigned)kind < sizeof NAMES / sizeof NAMES[0] ? NAMES[kind] : "unknown";
}

int rp_attack_kind_from_name(const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < (int)(sizeof NAMES / sizeof NAMES[0]); i++)
        if (!strcmp(s, NAMES[i])) return i;
    return -1;
}

rp_attack_config rp_attack_defaults(rp_attack_kind kind, float eps)
{
    rp_attack_config c = {
        .kind = kind, .norm = RP_NORM_LINF, .eps = eps, .step_size = 0.0f, .steps = 1, .restarts = 1,
        .random_start = false, .loss = RP_LOSS_CE, .targeted = false, .n_target_classes = 9,
        .clip_min = 0.0f, .clip_max = 1.0f, .seed = 0, .square_queries = 5000, .p_init = 0.8f,
    };
    switch (kind) {
    case RP_ATTACK_FGSM_RS: c.random_start = true; break;
    case RP_ATTACK_PGD: c.steps = 10, c.random_start = true; break;
    case RP_ATTACK_APGD_CE: case RP_ATTACK_WORST: c.steps = 100; break;
    case RP_ATTACK_APGD_T: c.steps = 100, c.loss = RP_LOSS_DLR; break;
    case RP_ATTACK_SQUARE: c.steps = 5000; break;
    default: break;
    }
    return c;
}

/* ---- per-example losses (what the iterates maximise) -------------------------------- */

int rp_atk_argmax(const float *z, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[best]) best = k;
    return best;
}

bool rp_atk_fooled(const float *z, int K, int y, int t, bool targeted)
{
    int p = rp_atk_argmax(z, K);
    return targeted ? p == t : p != y;
}

static int argmax_except(const float *z, int K, int skip)
{
    int best = skip == 0 ? 1 : 0;
    for (int k = best + 1; k < K; k++)
        if (k != skip && z[k] > z[best]) best = k;
    return best;
}

/* Indices of the 4 largest logits (ties by index), K >= 4, or the 3 largest for K == 3. */
static void top4(const float *z, int K, int *top)
{
    int n = K < 4 ? K : 4;
    for (int r = 0; r < n; r++) {
        int best = -1;
        for (int k = 0; k < K; k++) {
            bool used = false;
            for (int q = 0; q < r; q++) used |= top[q] == k;
            if (!used && (best < 0 || z[k] > z[best])) best = k;
        }
        top[r] = best;
    }
}

float rp_atk_row_loss(rp_atk_obj obj, const float *z, int K, int y, int t, float *dz)
{
    if (dz) memset(dz, 0, (size_t)K * sizeof *dz);
    switch (obj) {
    case RP_AOBJ_CE: case RP_AOBJ_CE_T: {
        int c = obj == RP_AOBJ_CE ? y : t;
        double sgn = obj == RP_AOBJ_CE ? 1.0 : -1.0, m = z[rp_atk_argmax(z, K)], s = 0.0;
        for (int k = 0; k < K; k++) s += exp((double)z[k] - m);
        double lse = m + log(s);
        if (dz)
            for (int k = 0; k < K; k++) dz[k] = (float)(sgn * (exp((double)z[k] - lse) - (k == c)));
        return (float)(sgn * (lse - z[c]));
    }
    case RP_AOBJ_MARGIN: {
        int j = argmax_except(z, K, y);
        if (dz) dz[j] += 1.0f, dz[y] -= 1.0f;
        return z[j] - z[y];
    }
    case RP_AOBJ_MARGIN_T: {
        int j = argmax_except(z, K, t);
        if (dz) dz[t] += 1.0f, dz[j] -= 1.0f;
        return z[t] - z[j];
    }
    case RP_AOBJ_DLR: case RP_AOBJ_DLR_T: {
        int top[4];
        top4(z, K, top);
        bool tg = obj == RP_AOBJ_DLR_T;
        int o = tg ? t : argmax_except(z, K, y);
        double num = (double)z[y] - z[o];
        double den = tg ? (double)z[top[0]] - 0.5 * ((double)z[top[2]] + z[top[3]]) + 1e-12
                        : (double)z[top[0]] - z[top[2]] + 1e-12;
        if (dz) {
            double g = num / (den * den);
            dz[y] += (float)(-1.0 / den);
            dz[o] += (float)(1.0 / den);
            dz[top[0]] += (float)g;
            if (tg) dz[top[2]] += (float)(-0.5 * g), dz[top[3]] += (float)(-0.5 * g);
            else dz[top[2]] += (float)(-g);
        }
        return (float)(-num / den);
    }
    }
    RP_ASSERT(0);
    return 0.0f;
}

/* ---- shared steps ---------------------------------------------------------------------- */

void rp_atk_eval(rp_attack *a, rp_atk_obj obj, const float *src, const int *act, int n,
                 const int32_t *y, const int32_t *t, bool want_grad, float *loss)
{
    size_t X = a->X;
    int K = a->K;
    RP_ASSERT(n >= 1 && n <= a->max_batch);
    if (src)
        for (int j = 0; j < n; j++) memcpy(a->xw + (size_t)j * X, src + (size_t)act[j] * X, X * sizeof(float));
    const float *z = rp_model_forward(a->m, a->xw, n, false);
    memcpy(a->logits, z, (size_t)n * K * sizeof(float));
    for (int j = 0; j < n; j++) {
        int i = act[j];
        float l = rp_atk_row_loss(obj, a->logits + (size_t)j * K, K, y[i], t ? t[i] : -1,
                                  want_grad ? a->dlogits + (size_t)j * K : NULL);
        if (loss) loss[j] = l;
    }
    if (want_grad) rp_model_backward(a->m, a->dlogits, a->gw, RP_GRAD_INPUT);
    a->passes++;
}

void rp_atk_project(float *v, const float *x, size_t X, rp_norm norm, float eps, float lo, float hi)
{
    if (norm == RP_NORM_L2 && isfinite(eps)) {
        double s = 0.0;
        for (size_t k = 0; k < X; k++) s += ((double)v[k] - x[k]) * ((double)v[k] - x[k]);
        double n2 = sqrt(s);
        if (n2 > eps) {
            double f = eps / n2;
            for (size_t k = 0; k < X; k++) v[k] = (float)(x[k] + ((double)v[k] - x[k]) * f);
        }
    }
    const bool linf = norm == RP_NORM_LINF;
#pragma omp simd
    for (size_t k = 0; k < X; k++) { /* branch-free: the same value as v < l ? l : v > h ? h : v */
        float l = linf && x[k] - eps > lo ? x[k] - eps : lo, h = linf && x[k] + eps < hi ? x[k] + eps : hi;
        float r = v[k] > h ? h : v[k];
        v[k] = v[k] < l ? l : r;
    }
}

void rp_atk_ascend(float *v, const float *g, size_t X, rp_norm norm, float step)
{
    if (norm == RP_NORM_LINF) {
#pragma omp simd
        for (size_t k = 0; k < X; k++) v[k] += (float)((g[k] > 0.0f) - (g[k] < 0.0f)) * step; /* sign(g) step */
        return;
    }
    double s = 0.0;
    for (size_t k = 0; k < X; k++) s += (double)g[k] * g[k];
    if (!(s > 0.0)) return;
    double f = step / sqrt(s);
    for (size_t k = 0; k < X; k++) v[k] = (float)(v[k] + g[k] * f);
}

void rp_atk_random_start(rp_attack *a, rp_rng *rng, float *v, const float *x, float eps, float lo, float hi)
{
    size_t X = a->X;
    if (a->cfg.norm == RP_NORM_LINF) {
        for (size_t k = 0; k < X; k++) {
            float u = rp_rng_uniform(rng);
            v[k] = isfinite(eps) ? x[k] + eps * (2.0f * u - 1.0f) : lo + (hi - lo) * u;
        }
    } else if (isfinite(eps)) { /* on the sphere of radius eps * u */
        double s = 0.0;
        for (size_t k = 0; k < X; k++) {
            v[k] = rp_rng_normal(rng);
            s += (double)v[k] * v[k];
        }
        double f = eps * rp_rng_uniform(rng) / (sqrt(s) + 1e-30);
        for (size_t k = 0; k < X; k++) v[k] = (float)(x[k] + v[k] * f);
    } else {
        memcpy(v, x, X * sizeof *v);
    }
    rp_atk_project(v, x, X, a->cfg.norm, eps, lo, hi);
}

int rp_atk_list_open(rp_attack *a, const bool *succ, int B)
{
    int n = 0;
    for (int i = 0; i < B; i++)
        if (!succ[i]) a->list[n++] = i;
    return n;
}

/* ---- FGSM, FGSM-RS, PGD ---------------------------------------------------------------- */

void rp_atk_pgd_run(rp_attack *a, const rp_attack_config *c, rp_atk_obj obj, const float *x,
                    const int32_t *y, const int32_t *t, int B, const int *list, int n, float *x_adv,
                    bool *succ, float *out_loss)
{
    (void)B;
    size_t X = a->X;
    int K = a->K;
    int *act = a->act;
    memcpy(act, list, (size_t)n * sizeof *act);
    for (int j = 0; j < n; j++) {
        int i = act[j];
        float *v = a->cur + (size_t)i * X;
        if (c->random_start) rp_atk_random_start(a, &a->rngs[i], v, x + (size_t)i * X, c->eps, c->clip_min, c->clip_max);
        else memcpy(v, x + (size_t)i * X, X * sizeof *v);
    }
    for (int k = 0; k <= c->steps && n > 0; k++) {
        bool last = k == c->steps;
        rp_atk_eval(a, obj, a->cur, act, n, y, t, !last, a->loss);
        int m = 0, *upd = a->upd; /* upd[q]: the row of gw that act[q]'s step reads */
        for (int j = 0; j < n; j++) {
            int i = act[j];
            float *v = a->cur + (size_t)i * X;
            if (rp_atk_fooled(a->logits + (size_t)j * K, K, y[i], t ? t[i] : -1, c->targeted)) {
                memcpy(x_adv + (size_t)i * X, v, X * sizeof *v);
                succ[i] = true;
            } else if (last) {
                if (a->loss[j] > out_loss[i]) {
                    memcpy(x_adv + (size_t)i * X, v, X * sizeof *v);
                    out_loss[i] = a->loss[j];
                }
            } else {
                upd[m] = j;
                act[m++] = i;
            }
        }
        /* the steps of the examples still running, each on its own rows: any thread count
         * gives the same bits */
#pragma omp parallel for schedule(static) if ((size_t)m * X > 32768)
        for (int q = 0; q < m; q++) {
            float *v = a->cur + (size_t)act[q] * X;
            rp_atk_ascend(v, a->gw + (size_t)upd[q] * X, X, c->norm, c->step_size);
            rp_atk_project(v, x + (size_t)act[q] * X, X, c->norm, c->eps, c->clip_min, c->clip_max);
        }
        n = m;
    }
}

static rp_atk_obj pgd_objective(const rp_attack_config *c)
{
    switch (c->loss) {
    case RP_LOSS_MARGIN: return c->targeted ? RP_AOBJ_MARGIN_T : RP_AOBJ_MARGIN;
    case RP_LOSS_DLR: return RP_AOBJ_DLR;
    default: return c->targeted ? RP_AOBJ_CE_T : RP_AOBJ_CE;
    }
}

static void run_pgd(rp_attack *a, const float *x, const int32_t *y, const int32_t *t, int B, float *x_adv,
                    bool *succ)
{
    const rp_attack_config *c = &a->cfg;
    for (int r = 0; r < c->restarts; r++) {
        if (r > 0 && !c->random_start) break; /* a restart would repeat the first run exactly */
        int n = rp_atk_list_open(a, succ, B);
        if (!n) break;
        rp_atk_pgd_run(a, c, pgd_objective(c), x, y, t, B, a->list, n, x_adv, succ, a->out_loss);
    }
}

/* Random sign noise of size eps (L-inf), or a random direction of length eps (L2). */
static void run_noise(rp_attack *a, const float *x, const int32_t *y, int B, float *x_adv, bool *succ)
{
    const rp_attack_config *c = &a->cfg;
    size_t X = a->X;
    for (int i = 0; i < B; i++) {
        float *v = x_adv + (size_t)i * X;
        const float *xi = x + (size_t)i * X;
        if (c->norm == RP_NORM_LINF) {
            for (size_t k = 0; k < X; k++) v[k] = xi[k] + (rp_rng_u32(&a->rngs[i]) & 1u ? c->eps : -c->eps);
        } else {
            double s = 0.0;
            for (size_t k = 0; k < X; k++) {
                v[k] = rp_rng_normal(&a->rngs[i]);
                s += (double)v[k] * v[k];
            }
            double f = c->eps / (sqrt(s) + 1e-30);
            for (size_t k = 0; k < X; k++) v[k] = (float)(xi[k] + v[k] * f);
        }
        rp_atk_project(v, xi, X, c->norm, c->eps, c->clip_min, c->clip_max);
        a->act[i] = i;
    }
    rp_atk_eval(a, RP_AOBJ_CE, x_adv, a->act, B, y, NULL, false, NULL);
    for (int i = 0; i < B; i++) succ[i] = rp_atk_fooled(a->logits + (size_t)i * a->K, a->K, y[i], -1, false);
}

/* One forward on the clean points: the misclassified ones are fooled already (x_adv = x);
 * the clean logits are kept for APGD-T's targets. */
static void clean_check(rp_attack *a, const float *x, const int32_t *y, int B, bool *succ)
{
    for (int i = 0; i < B; i++) a->act[i] = i;
    rp_atk_eval(a, RP_AOBJ_CE, x, a->act, B, y, NULL, false, NULL);
    memcpy(a->clean, a->logits, (size_t)B * a->K * sizeof(float));
    for (int i = 0; i < B; i++) succ[i] = rp_atk_fooled(a->clean + (size_t)i * a->K, a->K, y[i], -1, false);
}

/* AutoAttack semantics: APGD-CE, then APGD-T, then Square (L-inf), each only on the
 * points still classified correctly; per example the first success counts. */
static void run_worst(rp_attack *a, const float *x, const int32_t *y, int B, float *x_adv, bool *succ)
{
    rp_attack_config c = a->cfg;
    c.loss = RP_LOSS_CE;
    rp_atk_apgd_ce(a, &c, x, y, B, x_adv, succ);
    for (int i = 0; i < B; i++) a->out_loss[i] = INFINITY; /* later stages write successes only */
    rp_atk_apgd_t(a, &c, x, y, B, x_adv, succ);
    if (c.norm == RP_NORM_LINF && c.square_queries > 0) {
        int n = rp_atk_list_open(a, succ, B);
        if (n) rp_atk_square_run(a, &c, c.square_queries, x, y, B, a->list, n, x_adv, succ, a->out_loss);
    }
}

/* ---- the object ------------------------------------------------------------------------ */

static rp_status validate(rp_ctx *ctx, rp_attack_config *c, int K)
{
    const char *name = rp_attack_name(c->kind);
    if ((unsigned)c->kind > RP_ATTACK_WORST) return rp_fail(ctx, RP_ERR_ARG, "unknown attack kind %d", (int)c->kind);
    if (c->norm != RP_NORM_LINF && c->norm != RP_NORM_L2)
        return rp_fail(ctx, RP_ERR_UNSUPPORTED, "attack %s: only the L-inf and L2 norms are supported", name);
    if (!(c->eps >= 0.0f)) return rp_fail(ctx, RP_ERR_ARG, "attack %s: eps %g must be >= 0", name, (double)c->eps);
    if (!(c->clip_min < c->clip_max))
        return rp_fail(ctx, RP_ERR_ARG, "attack %s: clip range [%g, %g] is empty", name, (double)c->clip_min,
                       (double)c->clip_max);
    if (c->steps < 1 || c->restarts < 1)
        return rp_fail(ctx, RP_ERR_ARG, "attack %s: steps %d and restarts %d must be >= 1", name, c->steps, c->restarts);
    if (c->targeted && c->kind != RP_ATTACK_PGD && c->kind != RP_ATTACK_FGSM && c->kind != RP_ATTACK_FGSM_RS)
        return rp_fail(ctx, RP_ERR_UNSUPPORTED, "attack %s: targeted mode is for fgsm, fgsm-rs and pgd (APGD-T "
                       "picks its own targets)", name);
    if (c->kind == RP_ATTACK_FGSM) c->step_size = c->eps, c->steps = 1, c->random_start = false;
    if (c->kind == RP_ATTACK_FGSM_RS) {
        c->steps = 1, c->random_start = true;
        if (c->step_size <= 0.0f) c->step_size = 1.25f * c->eps;
    }
    if (c->kind == RP_ATTACK_PGD && c->step_size <= 0.0f) c->step_size = 2.5f * c->eps / (float)c->steps;
    bool stepped = c->kind == RP_ATTACK_FGSM || c->kind == RP_ATTACK_FGSM_RS || c->kind == RP_ATTACK_PGD;
    if (stepped && !(c->step_size > 0.0f && isfinite(c->step_size)))
        return rp_fail(ctx, RP_ERR_ARG, "attack %s: step size %g must be finite and > 0 (unbounded eps needs an "
                       "explicit step size)", name, (double)c->step_size);
    bool apgd = c->kind == RP_ATTACK_APGD_CE || c->kind == RP_ATTACK_APGD_T || c->kind == RP_ATTACK_WORST;
    if ((apgd || c->kind == RP_ATTACK_SQUARE || c->kind == RP_ATTACK_NOISE) && !isfinite(c->eps))
        return rp_fail(ctx, RP_ERR_ARG, "attack %s needs a finite eps", name);
    if (c->kind == RP_ATTACK_SQUARE && c->norm != RP_NORM_LINF)
        return rp_fail(ctx, RP_ERR_UNSUPPORTED, "attack square: only the L-inf version is built");
    if ((c->kind == RP_ATTACK_SQUARE || c->kind == RP_ATTACK_WORST) && !(c->p_init > 0.0f && c->p_init <= 1.0f))
        return rp_fail(ctx, RP_ERR_ARG, "attack %s: p_init %g outside (0, 1]", name, (double)c->p_init);
    if ((c->kind == RP_ATTACK_APGD_T || c->kind == RP_ATTACK_WORST) && K < 4)
        return rp_fail(ctx, RP_ERR_UNSUPPORTED, "attack %s: the targeted DLR loss needs >= 4 classes, the model "
                       "has %d", name, K);
    if (c->loss == RP_LOSS_DLR && K < 3)
        return rp_fail(ctx, RP_ERR_UNSUPPORTED, "attack %s: the DLR loss needs >= 3 classes, the model has %d", name, K);
    if (c->n_target_classes < 1) c->n_target_classes = 1;
    if (c->n_target_classes > K - 1) c->n_target_classes = K - 1;
    return RP_OK;
}

rp_status rp_attack_create(rp_ctx *ctx, rp_model *m, const rp_attack_config *cfg, int max_batch, rp_attack **out)
{
    if (!out) return rp_fail(ctx, RP_ERR_ARG, "attack: no place for the attack (out is NULL)");
    *out = NULL;
    if (!m || !cfg) return rp_fail(ctx, RP_ERR_ARG, "attack: %s is NULL", !m ? "the model" : "the config");
    if (max_batch < 1) return rp_fail(ctx, RP_ERR_ARG, "attack: batch %d < 1", max_batch);
    rp_attack_config c = *cfg;
    int K = m->cfg.num_classes;
    RP_TRY(validate(ctx, &c, K));
    RP_TRY(rp_model_reserve(m, max_batch));
    rp_attack *a = calloc(1, sizeof *a);
    if (!a) return rp_fail(ctx, RP_ERR_NOMEM, "attack: out of memory");
    size_t X = (size_t)m->cfg.H * m->cfg.W * m->cfg.C, BX = (size_t)max_batch * X, BK = (size_t)max_batch * K;
    *a = (rp_attack){.ctx = ctx, .m = m, .cfg = c, .max_batch = max_batch, .K = K, .X = X};
    float **fx[] = {&a->xw, &a->gw, &a->cur, &a->prev, &a->best, &a->grad, &a->gbest};
    bool ok = true;
    for (size_t q = 0; q < sizeof fx / sizeof fx[0]; q++) ok &= (*fx[q] = malloc(BX * sizeof(float))) != NULL;
    float **fk[] = {&a->logits, &a->dlogits, &a->clean};
    for (size_t q = 0; q < sizeof fk / sizeof fk[0]; q++) ok &= (*fk[q] = malloc(BK * sizeof(float))) != NULL;
    float **fb[] = {&a->loss, &a->loss_best, &a->loss_prev, &a->loss_check, &a->eta, &a->out_loss};
    for (size_t q = 0; q < sizeof fb / sizeof fb[0]; q++) ok &= (*fb[q] = malloc((size_t)max_batch * sizeof(float))) != NULL;
    ok &= (a->act = malloc((size_t)max_batch * sizeof(int))) != NULL;
    ok &= (a->count = malloc((size_t)max_batch * sizeof(int))) != NULL;
    ok &= (a->upd = malloc((size_t)max_batch * sizeof(int))) != NULL;
    ok &= (a->list = malloc((size_t)max_batch * sizeof(int))) != NULL;
    ok &= (a->tw = malloc((size_t)max_batch * sizeof(int32_t))) != NULL;
    ok &= (a->flag = malloc((size_t)max_batch * sizeof(bool))) != NULL;
    ok &= (a->succ = malloc((size_t)max_batch * sizeof(bool))) != NULL;
    ok &= (a->scratch = malloc(X * sizeof(float))) != NULL;
    ok &= (a->rngs = malloc((size_t)max_batch * sizeof(rp_rng))) != NULL;
    if (!ok) {
        rp_attack_destroy(a);
        return rp_fail(ctx, RP_ERR_NOMEM, "attack %s: out of memory for batch %d", rp_attack_name(c.kind), max_batch);
    }
    *out = a;
    return RP_OK;
}

void rp_attack_destroy(rp_attack *a)
{
    if (!a) return;
    void *all[] = {a->xw, a->gw, a->cur, a->prev, a->best, a->grad, a->gbest, a->logits, a->dlogits,
                   a->clean, a->loss, a->loss_best, a->loss_prev, a->loss_check, a->eta, a->out_loss,
                   a->act, a->count, a->upd, a->list, a->tw, a->flag, a->succ, a->scratch, a->rngs};
    for (size_t q = 0; q < sizeof all / sizeof all[0]; q++) free(all[q]);
    free(a);
}

const rp_attack_config *rp_attack_get_config(const rp_attack *a) { return a ? &a->cfg : NULL; }

void rp_attack_seek(rp_attack *a, int64_t first)
{
    if (a) a->next_index = first;
}

rp_status rp_attack_run(rp_attack *a, const float *x, const int32_t *y, const int32_t *target, int B,
                        float *x_adv, bool *success, long *passes)
{
    if (!a) return RP_ERR_ARG; /* no context to name it in */
    const rp_attack_config *c = &a->cfg;
    const char *name = rp_attack_name(c->kind);
    if (!x || !y || !x_adv)
        return rp_fail(a->ctx, RP_ERR_ARG, "attack %s: %s is NULL", name, !x ? "x" : !y ? "y (the labels)" : "x_adv");
    if (B < 1 || B > a->max_batch)
        return rp_fail(a->ctx, RP_ERR_ARG, "attack %s: batch %d outside [1, %d]", name, B, a->max_batch);
    if (c->targeted && !target) return rp_fail(a->ctx, RP_ERR_ARG, "attack %s: targeted but no targets given", name);
    for (int i = 0; i < B; i++) {
        if (y[i] < 0 || y[i] >= a->K)
            return rp_fail(a->ctx, RP_ERR_ARG, "attack %s: label %d of example %d outside [0, %d)", name, (int)y[i], i, a->K);
        if (c->targeted && (target[i] < 0 || target[i] >= a->K))
            return rp_fail(a->ctx, RP_ERR_ARG, "attack %s: target %d of example %d outside [0, %d)", name,
                           (int)target[i], i, a->K);
    }
    size_t X = a->X, BX = (size_t)B * X;
    if (!(x_adv + BX <= x || x + BX <= x_adv))
        return rp_fail(a->ctx, RP_ERR_ARG, "attack %s: x_adv overlaps x (they must be separate buffers)", name);
    for (size_t k = 0; k < BX; k++)
        if (!isfinite(x[k]))
            return rp_fail(a->ctx, RP_ERR_NUMERIC, "attack %s: input pixel %zu of example %zu is %g", name, k % X,
                           k / X, (double)x[k]);
    bool *succ = success ? success : a->succ;
    for (int i = 0; i < B; i++) rp_rng_seed_key(&a->rngs[i], c->seed, RP_STREAM_ATTACK, (uint64_t)(a->next_index + i), 0);
    a->next_index += B;
    memcpy(x_adv, x, (size_t)B * X * sizeof *x_adv);
    for (int i = 0; i < B; i++) succ[i] = false, a->out_loss[i] = -INFINITY;
    a->passes = 0;
    switch (c->kind) {
    case RP_ATTACK_FGSM: case RP_ATTACK_FGSM_RS: case RP_ATTACK_PGD:
        run_pgd(a, x, y, c->targeted ? target : NULL, B, x_adv, succ);
        break;
    case RP_ATTACK_NOISE: run_noise(a, x, y, B, x_adv, succ); break;
    case RP_ATTACK_APGD_CE:
        clean_check(a, x, y, B, succ);
        rp_atk_apgd_ce(a, c, x, y, B, x_adv, succ);
        break;
    case RP_ATTACK_APGD_T:
        clean_check(a, x, y, B, succ);
        rp_atk_apgd_t(a, c, x, y, B, x_adv, succ);
        break;
    case RP_ATTACK_SQUARE: {
        clean_check(a, x, y, B, succ);
        int n = rp_atk_list_open(a, succ, B);
        if (n) rp_atk_square_run(a, c, c->steps, x, y, B, a->list, n, x_adv, succ, a->out_loss);
        break;
    }
    case RP_ATTACK_WORST:
        clean_check(a, x, y, B, succ);
        run_worst(a, x, y, B, x_adv, succ);
        break;
    }
    if (passes) *passes = a->passes;
    return RP_OK;
}

bool rp_attack_check_ball(const float *x, const float *x_adv, int B, size_t X, rp_norm norm, float eps,
                          float clip_min, float clip_max, float *max_norm)
{
    bool ok = true;
    double worst = 0.0;
    for (int i = 0; i < B; i++) {
        const float *a = x + (size_t)i * X, *b = x_adv + (size_t)i * X;
        double n = 0.0;
        for (size_t k = 0; k < X; k++) {
            double d = fabs((double)b[k] - a[k]);
            if (norm == RP_NORM_LINF) n = d > n ? d : n;
            else if (norm == RP_NORM_L2) n += d * d;
            else n += d;
            if (!(b[k] >= clip_min && b[k] <= clip_max)) ok = false;
        }
        if (norm == RP_NORM_L2) n = sqrt(n);
        if (n > worst) worst = n;
    }
    if (max_norm) *max_norm = (float)worst;
    if (isfinite(eps) && worst > (double)eps + 1e-6 + 1e-6 * eps) ok = false;
    return ok;
}
