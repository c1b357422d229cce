/* Model-parameter randomization (Adebayo et al. 2018) and deletion/insertion AUC (Petsiuk et
 * al. 2018). See sanity.h. */
#include "explain/sanity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ranked {
    float v, key;
    int i;
} ranked;

static int by_value(const void *a, const void *b)
{
    const ranked *p = a, *q = b;
    return p->v < q->v ? -1 : p->v > q->v ? 1 : p->i - q->i;
}

/* Descending value, then descending random key (so that a constant map ranks exactly as
 * rp_xai_random_map of the same seed). */
static int by_value_desc(const void *a, const void *b)
{
    const ranked *p = a, *q = b;
    if (p->v != q->v) return p->v > q->v ? -1 : 1;
    return p->key > q->key ? -1 : p->key < q->key ? 1 : p->i - q->i;
}

/* rank[i] of v[i] in 1..n, ties averaged; false when v is constant. */
static bool ranks(const float *v, int n, ranked *tmp, double *rank)
{
    for (int i = 0; i < n; i++) tmp[i] = (ranked){.v = v[i], .i = i};
    qsort(tmp, (size_t)n, sizeof *tmp, by_value);
    if (tmp[0].v == tmp[n - 1].v) return false;
    for (int a = 0; a < n;) {
        int b = a;
        while (b + 1 < n && tmp[b + 1].v == tmp[a].v) b++;
        double r = 0.5 * (a + b) + 1.0;
        for (int k = a; k <= b; k++) rank[tmp[k].i] = r;
        a = b + 1;
    }
    return true;
}

rp_status rp_spearman(rp_ctx *ctx, const float *a, const float *b, int n, double *rho)
{
    *rho = 0.0;
    if (n < 2) return RP_OK;
    ranked *tmp = malloc((size_t)n * sizeof *tmp);
    double *ra = malloc((size_t)n * sizeof(double)), *rb = malloc((size_t)n * sizeof(double));
    if (!tmp || !ra || !rb) {
        free(tmp), free(ra), free(rb);
        return rp_fail(ctx, RP_ERR_NOMEM, "spearman: out of memory for %d values", n);
    }
    if (ranks(a, n, tmp, ra) && ranks(b, n, tmp, rb)) {
        double m = 0.5 * (n + 1), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++) {
            sab += (ra[i] - m) * (rb[i] - m);
            saa += (ra[i] - m) * (ra[i] - m);
            sbb += (rb[i] - m) * (rb[i] - m);
        }
        *rho = sab / sqrt(saa * sbb);
    }
    free(tmp), free(ra), free(rb);
    return RP_OK;
}

void rp_xai_random_map(float *map, size_t n, uint64_t seed)
{
    rp_rng r;
    rp_rng_seed(&r, seed, RP_STREAM_EXPLAIN);
    for (size_t k = 0; k < n; k++) map[k] = rp_rng_uniform(&r);
}

/* Re-draw a trainable parameter from its initialiser (as rp_graph_finalize does). */
static void redraw(rp_param *p, rp_rng *r)
{
    for (size_t k = 0; k < p->numel; k++) {
        switch (p->init) {
        case RP_INIT_ZERO: p->data[k] = 0.0f; break;
        case RP_INIT_ONE: p->data[k] = 1.0f; break;
        case RP_INIT_UNIFORM: p->data[k] = (2.0f * rp_rng_uniform(r) - 1.0f) * p->init_scale; break;
        case RP_INIT_NORMAL: p->data[k] = rp_rng_normal(r) * p->init_scale; break;
        }
    }
}

static rp_status mean_spearman(rp_ctx *ctx, const float *a, const float *b, int B, int n, double *mean)
{
    *mean = 0.0;
    for (int i = 0; i < B; i++) {
        double rho;
        RP_TRY(rp_spearman(ctx, a + (size_t)i * n, b + (size_t)i * n, n, &rho));
        *mean += rho / B;
    }
    return RP_OK;
}

rp_status rp_sanity_randomization(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *t, int B,
                                  uint64_t seed, rp_sanity_row *rows, int max_rows, int *n_rows)
{
    if (!ex) return RP_ERR_ARG; /* no context to name it in */
    if (!n_rows || (!rows && max_rows > 0))
        return rp_fail(ex->ctx, RP_ERR_ARG, "sanity: rows or n_rows is NULL");
    *n_rows = 0;
    if ((unsigned)m >= RP_XAI_COUNT) return rp_fail(ex->ctx, RP_ERR_ARG, "sanity: unknown method %d", (int)m);
    if (!t) return rp_fail(ex->ctx, RP_ERR_ARG, "sanity: no targets");
    RP_TRY(rp_xai_check(ex, x, t, B));
    rp_graph *g = &ex->m->g;
    const int HW = ex->H * ex->W;
    const size_t P = (size_t)B * HW;
    size_t total = 0;
    for (int p = 0; p < g->n_params; p++) total += g->params[p].numel;
    float *backup = malloc(total * sizeof(float));
    float *maps = malloc(4 * P * sizeof(float));
    if (!backup || !maps) {
        free(backup);
        free(maps);
        return rp_fail(ex->ctx, RP_ERR_NOMEM, "sanity: out of memory");
    }
    for (size_t p = 0, o = 0; p < (size_t)g->n_params; o += g->params[p].numel, p++)
        memcpy(backup + o, g->params[p].data, g->params[p].numel * sizeof(float));
    float *map0 = maps, *sig0 = maps + P, *map1 = maps + 2 * P, *sig1 = maps + 3 * P;
    rp_status st = rp_xai_explain(ex, m, x, t, B, &(rp_xai_result){.map = map0, .signed_map = sig0});
    rp_rng r;
    rp_rng_seed(&r, seed, RP_STREAM_EXPLAIN);
    for (int i = g->n_nodes - 1; i >= 0 && st == RP_OK && *n_rows < max_rows; i--) {
        rp_node *n = &g->nodes[i];
        bool any = false;
        for (int k = 0; k < n->n_params; k++)
            if (n->param[k].trainable) {
                redraw(&n->param[k], &r);
                any = true;
            }
        if (!any) continue;
        st = rp_xai_explain(ex, m, x, t, B, &(rp_xai_result){.map = map1, .signed_map = sig1});
        if (st != RP_OK) break;
        rp_sanity_row *row = &rows[(*n_rows)++];
        snprintf(row->layer, sizeof row->layer, "%s", n->name);
        st = mean_spearman(ex->ctx, map0, map1, B, HW, &row->rho_map);
        if (st == RP_OK) st = mean_spearman(ex->ctx, sig0, sig1, B, HW, &row->rho_signed);
    }
    for (size_t p = 0, o = 0; p < (size_t)g->n_params; o += g->params[p].numel, p++)
        memcpy(g->params[p].data, backup + o, g->params[p].numel * sizeof(float));
    free(backup);
    free(maps);
    return st;
}

/* Softmax probability of target t in row z of K logits. */
static double prob_of(const float *z, int K, int t)
{
    float mx = z[0];
    for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp((double)z[k] - mx);
    return exp((double)z[t] - mx) / s;
}

/* Item q = (image i, curve c in {deletion, insertion}, point k): the modified image into dst. */
static void perturbed(const rp_explainer *ex, float *dst, const float *xi, const float *blur, const int *order,
                      int c, int npix)
{
    const int C = ex->C;
    memcpy(dst, c == 0 ? xi : blur, ex->X * sizeof(float));
    for (int r = 0; r < npix; r++) {
        size_t p = (size_t)order[r] * C;
        for (int ch = 0; ch < C; ch++) dst[p + ch] = c == 0 ? 0.0f : xi[p + ch];
    }
}

rp_status rp_xai_deletion_insertion(rp_explainer *ex, const float *x, const int32_t *t, int B, const float *map,
                                    int steps, uint64_t seed, double *del_auc, double *ins_auc)
{
    if (!ex) return RP_ERR_ARG; /* no context to name it in */
    if (!t || !map) return rp_fail(ex->ctx, RP_ERR_ARG, "deletion/insertion: %s is NULL", !t ? "targets" : "map");
    RP_TRY(rp_xai_check(ex, x, t, B));
    if (steps < 1) return rp_fail(ex->ctx, RP_ERR_ARG, "deletion/insertion: steps %d < 1", steps);
    RP_TRY(rp_xai_check_result(ex, "the map given to deletion/insertion", map, (size_t)B * ex->H * ex->W));
    const int HW = ex->H * ex->W, per = 2 * (steps + 1);
    const size_t X = ex->X;
    int *order = malloc((size_t)B * HW * sizeof(int));
    ranked *tmp = malloc((size_t)HW * sizeof *tmp);
    float *blur = malloc((size_t)B * X * sizeof(float));
    double *curve = malloc((size_t)B * per * sizeof(double));
    rp_status st = RP_OK;
    if (!order || !tmp || !blur || !curve) {
        st = rp_fail(ex->ctx, RP_ERR_NOMEM, "deletion/insertion: out of memory");
        goto done;
    }
    for (int i = 0; i < B; i++) {
        rp_rng r; /* the same tie-breaking keys for every image */
        rp_rng_seed(&r, seed, RP_STREAM_EXPLAIN);
        for (int p = 0; p < HW; p++) tmp[p] = (ranked){.v = map[(size_t)i * HW + p], .key = rp_rng_uniform(&r), .i = p};
        qsort(tmp, (size_t)HW, sizeof *tmp, by_value_desc);
        for (int p = 0; p < HW; p++) order[(size_t)i * HW + p] = tmp[p].i;
        if ((st = rp_xai_blur(ex->ctx, blur + (size_t)i * X, x + (size_t)i * X, ex->H, ex->W, ex->C,
                              rp_xai_blur_sigma(ex))) != RP_OK)
            goto done;
    }
    long total = (long)B * per;
    for (long q0 = 0; q0 < total; q0 += ex->chunk) {
        int n = total - q0 < ex->chunk ? (int)(total - q0) : ex->chunk;
        for (int j = 0; j < n; j++) {
            long q = q0 + j;
            int i = (int)(q / per), c = (int)(q % per) / (steps + 1), k = (int)(q % per) % (steps + 1);
            int npix = (int)(((long)k * HW + steps / 2) / steps);
            perturbed(ex, ex->xb + (size_t)j * X, x + (size_t)i * X, blur + (size_t)i * X,
                      order + (size_t)i * HW, c, npix);
        }
        const float *z = rp_model_forward(ex->m, ex->xb, n, false);
        for (int j = 0; j < n; j++) curve[q0 + j] = prob_of(z + (size_t)j * ex->K, ex->K, t[(q0 + j) / per]);
    }
    for (int i = 0; i < B; i++)
        for (int c = 0; c < 2; c++) {
            const double *cv = curve + (size_t)i * per + (size_t)c * (steps + 1);
            double a = 0.0;
            for (int k = 0; k < steps; k++) a += 0.5 * (cv[k] + cv[k + 1]);
            double *out = c == 0 ? del_auc : ins_auc;
            if (out) out[i] = a / steps;
        }
done:
    free(order);
    free(tmp);
    free(blur);
    free(curve);
    return st;
}
