/* Stochastic depth (Huang et al. 2016; torchvision.ops.StochasticDepth, mode "row"): in
 * training each SAMPLE of the residual branch is kept with probability 1 - p and scaled by
 * 1/(1 - p), else zeroed as a whole; identity in evaluation (and for p = 0). One draw per
 * sample, the first of the sample's own stream (rp_pass_row_rng: keyed by its example, the
 * layer and the pass, so it does not depend on the batch or the process); the per-sample
 * factors are kept for backward. */
#include "nn/graph.h"

typedef struct sdepth_state {
    float p;
} sdepth_state;

/* factor (B): 0 or 1/(1 - p) */
static size_t sdepth_saved(const rp_node *n, int B)
{
    (void)n;
    return (size_t)B;
}

static bool active(const rp_node *n, const rp_pass *p)
{
    return p->train && !p->masks_off && ((const sdepth_state *)n->state)->p > 0.0f;
}

/* y (B, S) = x (B, S) * f[b]; f NULL: y = x */
static void sdepth_scale(float *y, const float *x, const float *f, int B, size_t S)
{
#pragma omp parallel for schedule(static) if ((size_t)B * S > 65536)
    for (int b = 0; b < B; b++) {
        const float *xr = x + (size_t)b * S;
        float *yr = y + (size_t)b * S, k = f ? f[b] : 1.0f;
        for (size_t i = 0; i < S; i++) yr[i] = xr[i] * k;
    }
}

static void sdepth_fwd(rp_node *n, const rp_pass *p)
{
    size_t S = rp_shape_numel(n->out_shape);
    if (!active(n, p)) {
        sdepth_scale(n->y, n->x[0], NULL, p->B, S);
        return;
    }
    float drop = ((const sdepth_state *)n->state)->p, keep = 1.0f / (1.0f - drop);
    for (int b = 0; b < p->B; b++) {
        rp_rng r;
        rp_pass_row_rng(p, n, b, &r);
        n->saved[b] = rp_rng_uniform(&r) < drop ? 0.0f : keep;
    }
    sdepth_scale(n->y, n->x[0], n->saved, p->B, S);
}

static void sdepth_bwd(rp_node *n, const rp_pass *p)
{
    float *dx = n->dx[0];
    if (!dx) return;
    size_t S = rp_shape_numel(n->out_shape);
    const float *f = active(n, p) ? n->saved : NULL;
    bool acc = !n->dx_write[0]; /* else dx = 0 + dy * f: the bits of adding into zeros */
#pragma omp parallel for schedule(static) if ((size_t)p->B * S > 65536)
    for (int b = 0; b < p->B; b++) {
        const float *g = n->dy + (size_t)b * S;
        float *d = dx + (size_t)b * S, k = f ? f[b] : 1.0f;
        if (acc)
            for (size_t i = 0; i < S; i++) d[i] += g[i] * k;
        else
            for (size_t i = 0; i < S; i++) d[i] = 0.0f + g[i] * k;
    }
}

static const rp_layer_ops sdepth_ops = {.kind = RP_LAYER_STOCHASTIC_DEPTH, .name = "stochastic_depth",
                                        .saved_floats = sdepth_saved, .forward = sdepth_fwd, .backward = sdepth_bwd};

int rp_g_stochastic_depth(rp_graph *g, int in, const char *name, float p)
{
    if (g->status != RP_OK) return -1;
    if (!(p >= 0.0f && p < 1.0f)) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "layer %s (stochastic_depth): p = %g must be in [0, 1)",
                            name, (double)p);
        return -1;
    }
    sdepth_state s = {.p = p};
    return rp_graph_add(g, &sdepth_ops, name, &in, 1, rp_graph_shape(g, in), &s, sizeof s);
}
