/* APGD (Croce & Hein, ICML 2020): projected gradient ascent with momentum 0.75 and a step size
 * that starts at 2 eps and is halved at checkpoints when the loss oscillates or stalls.
 *
 * Checkpoints: the first after 22% of the iterations, then the gap shrinks by 3% of the
 * iterations per checkpoint down to 6%. At a checkpoint an example's step is halved (and it
 * restarts from its best point, with the gradient there) when, since the last checkpoint,
 *   (1) the loss increased in at most 75% of the iterations, or
 *   (2) the step was not halved at the last checkpoint and the best loss did not improve.
 * Per example: iterate z = P(x_k + eta sign(g_k)) (L2: g / ||g||), then
 *   x_{k+1} = P(x_k + 0.75 (z - x_k) + 0.25 (x_k - x_{k-1}))   (plain step at k = 0),
 * from a random start on the eps-sphere (L2) or in the eps-box (L-inf). */
#include <math.h>
#include <string.h>

#include "robust/attack_internal.h"

static void row_copy(float *dst, int di, const float *src, int si, size_t X)
{
    memcpy(dst + (size_t)di * X, src + (size_t)si * X, X * sizeof(float));
}

/* The momentum step of one example i, in place on a->cur (a->prev gets the old point). */
static void apgd_step(rp_attack *a, const rp_attack_config *c, int i, const float *xi, float alpha)
{
    size_t X = a->X;
    float *v = a->cur + (size_t)i * X, *p = a->prev + (size_t)i * X, *z = a->scratch;
    memcpy(z, v, X * sizeof *z);
    rp_atk_ascend(z, a->grad + (size_t)i * X, X, c->norm, a->eta[i]);
    rp_atk_project(z, xi, X, c->norm, c->eps, c->clip_min, c->clip_max);
    for (size_t k = 0; k < X; k++) {
        float nv = v[k] + alpha * (z[k] - v[k]) + (1.0f - alpha) * (v[k] - p[k]);
        p[k] = v[k];
        v[k] = nv;
    }
    rp_atk_project(v, xi, X, c->norm, c->eps, c->clip_min, c->clip_max);
}

/* The random start of the examples act[0..n): its loss and gradient open the bests. Returns
 * how many remain (the others fooled the model already). */
static int apgd_open(rp_attack *a, const rp_attack_config *c, rp_atk_obj obj, const float *x, const int32_t *y,
                     const int32_t *t, int n, float *x_adv, bool *succ)
{
    size_t X = a->X;
    int *act = a->act, m = 0;
    for (int j = 0; j < n; j++)
        rp_atk_random_start(a, &a->rngs[act[j]], a->cur + (size_t)act[j] * X, x + (size_t)act[j] * X, c->eps, c->clip_min, c->clip_max);
    rp_atk_eval(a, obj, a->cur, act, n, y, t, true, a->loss);
    for (int j = 0; j < n; j++) {
        int i = act[j];
        if (rp_atk_fooled(a->logits + (size_t)j * a->K, a->K, y[i], -1, false)) {
            row_copy(x_adv, i, a->cur, i, X);
            succ[i] = true;
            continue;
        }
        row_copy(a->grad, i, a->gw, j, X);
        row_copy(a->gbest, i, a->gw, j, X);
        row_copy(a->best, i, a->cur, i, X);
        row_copy(a->prev, i, a->cur, i, X);
        a->loss_best[i] = a->loss_prev[i] = a->loss_check[i] = a->loss[j];
        a->eta[i] = 2.0f * c->eps;
        a->count[i] = 0;
        a->flag[i] = true; /* "halved at the last checkpoint": no stall test at the first */
        act[m++] = i;
    }
    return m;
}

/* Example i at a checkpoint `len` iterations after the last one: halve its step and go back
 * to its best point when the loss oscillated or stalled. */
static void apgd_checkpoint(rp_attack *a, int i, int len)
{
    bool oscillates = a->count[i] <= 0.75 * len;
    bool stalled = !a->flag[i] && a->loss_check[i] >= a->loss_best[i];
    a->flag[i] = oscillates || stalled;
    a->loss_check[i] = a->loss_best[i];
    a->count[i] = 0;
    if (a->flag[i]) {
        a->eta[i] *= 0.5f;
        row_copy(a->cur, i, a->best, i, a->X);
        row_copy(a->grad, i, a->gbest, i, a->X);
    }
}

void rp_atk_apgd_run(rp_attack *a, const rp_attack_config *c, rp_atk_obj obj, const float *x,
                     const int32_t *y, const int32_t *t, int B, const int *list, int n,
                     float *x_adv, bool *succ, float *out_loss)
{
    (void)B;
    size_t X = a->X;
    int K = a->K, N = c->steps;
    int klen = (int)(0.22 * N), kmin = (int)(0.06 * N), kdecr = (int)(0.03 * N);
    if (klen < 1) klen = 1;
    if (kmin < 1) kmin = 1;
    if (kdecr < 1) kdecr = 1;
    int *act = a->act;
    memcpy(act, list, (size_t)n * sizeof *act);
    n = apgd_open(a, c, obj, x, y, t, n, x_adv, succ);
    int since = 0;
    for (int it = 0; it < N && n > 0; it++) {
        for (int j = 0; j < n; j++) apgd_step(a, c, act[j], x + (size_t)act[j] * X, it == 0 ? 1.0f : 0.75f);
        rp_atk_eval(a, obj, a->cur, act, n, y, t, true, a->loss);
        bool check = ++since == klen;
        int m = 0;
        for (int j = 0; j < n; j++) {
            int i = act[j];
            float l = a->loss[j];
            if (rp_atk_fooled(a->logits + (size_t)j * K, K, y[i], -1, false)) {
                row_copy(x_adv, i, a->cur, i, X);
                succ[i] = true;
                continue;
            }
            row_copy(a->grad, i, a->gw, j, X);
            a->count[i] += l > a->loss_prev[i];
            a->loss_prev[i] = l;
            if (l > a->loss_best[i]) {
                a->loss_best[i] = l;
                row_copy(a->best, i, a->cur, i, X);
                row_copy(a->gbest, i, a->gw, j, X);
            }
            if (check) apgd_checkpoint(a, i, klen);
            act[m++] = i;
        }
        n = m;
        if (check) {
            since = 0;
            klen = klen - kdecr > kmin ? klen - kdecr : kmin;
        }
    }
    for (int j = 0; j < n; j++) {
        int i = act[j];
        if (a->loss_best[i] > out_loss[i]) {
            row_copy(x_adv, i, a->best, i, X);
            out_loss[i] = a->loss_best[i];
        }
    }
}

void rp_atk_apgd_ce(rp_attack *a, const rp_attack_config *c, const float *x, const int32_t *y, int B,
                    float *x_adv, bool *succ)
{
    rp_atk_obj obj = c->loss == RP_LOSS_DLR ? RP_AOBJ_DLR : RP_AOBJ_CE;
    for (int r = 0; r < c->restarts; r++) {
        int n = rp_atk_list_open(a, succ, B);
        if (!n) return;
        rp_atk_apgd_run(a, c, obj, x, y, NULL, B, a->list, n, x_adv, succ, a->out_loss);
    }
}

/* Index of the class with the r-th largest logit (r = 1: the argmax; ties by index). */
static int ranked(const float *z, int K, int r)
{
    for (int k = 0; k < K; k++) {
        int above = 0;
        for (int q = 0; q < K; q++) above += z[q] > z[k] || (z[q] == z[k] && q < k);
        if (above == r - 1) return k;
    }
    RP_ASSERT(0);
    return 0;
}

void rp_atk_apgd_t(rp_attack *a, const rp_attack_config *c, const float *x, const int32_t *y, int B,
                   float *x_adv, bool *succ)
{
    for (int r = 2; r <= c->n_target_classes + 1; r++) {
        for (int s = 0; s < c->restarts; s++) {
            int n = rp_atk_list_open(a, succ, B);
            if (!n) return;
            for (int j = 0; j < n; j++) {
                int i = a->list[j];
                a->tw[i] = ranked(a->clean + (size_t)i * a->K, a->K, r);
            }
            rp_atk_apgd_run(a, c, RP_AOBJ_DLR_T, x, y, a->tw, B, a->list, n, x_adv, succ, a->out_loss);
        }
    }
}
