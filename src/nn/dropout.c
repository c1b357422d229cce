/* Dropout (inverted): in training each value is kept with probability 1 - p and scaled
 * by 1/(1 - p), else zeroed; identity in evaluation. Each row's mask is drawn in order from
 * that row's own stream (rp_pass_row_rng: keyed by its example, the layer and the pass), so it
 * does not depend on the batch, the row's place in it, the process or the threads; it is kept
 * for backward. */
#include "nn/graph.h"

typedef struct dropout_state {
    float p;
} dropout_state;

static size_t numel(const rp_node *n, int B) { return (size_t)B * rp_shape_numel(n->out_shape); }

/* mask (B, H, W, C): 0 or 1/(1 - p) */
static size_t dropout_saved(const rp_node *n, int B) { return numel(n, B); }

static void dropout_fwd(rp_node *n, const rp_pass *p)
{
    const dropout_state *s = n->state;
    size_t N = numel(n, p->B);
    const float *x = n->x[0];
    if (!p->train || p->masks_off || s->p == 0.0f) {
        for (size_t i = 0; i < N; i++) n->y[i] = x[i];
        return;
    }
    float drop = s->p, keep = 1.0f / (1.0f - drop);
    size_t S = rp_shape_numel(n->out_shape);
#pragma omp parallel for schedule(static) if (N > 65536)
    for (int b = 0; b < p->B; b++) {
        rp_rng r;
        rp_pass_row_rng(p, n, b, &r);
        float *m = n->saved + (size_t)b * S, *y = n->y + (size_t)b * S;
        const float *xr = x + (size_t)b * S;
        for (size_t i = 0; i < S; i++) m[i] = rp_rng_uniform(&r) < drop ? 0.0f : keep;
        for (size_t i = 0; i < S; i++) y[i] = xr[i] * m[i];
    }
}

static void dropout_bwd(rp_node *n, const rp_pass *p)
{
    const dropout_state *s = n->state;
    float *dx = n->dx[0];
    if (!dx) return;
    size_t N = numel(n, p->B);
    if (n->dx_write[0]) /* the graph did not zero dx: start from 0, as adding into zeros */
        for (size_t i = 0; i < N; i++) dx[i] = 0.0f;
    if (!p->train || p->masks_off || s->p == 0.0f)
        for (size_t i = 0; i < N; i++) dx[i] += n->dy[i];
    else
        for (size_t i = 0; i < N; i++) dx[i] += n->dy[i] * n->saved[i];
}

static const rp_layer_ops dropout_ops = {.kind = RP_LAYER_DROPOUT, .name = "dropout", .saved_floats = dropout_saved,
                                         .forward = dropout_fwd, .backward = dropout_bwd};

int rp_g_dropout(rp_graph *g, int in, const char *name, float p)
{
    if (g->status != RP_OK) return -1;
    if (!(p >= 0.0f && p < 1.0f)) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "layer %s (dropout): p = %g must be in [0, 1)",
                            name, (double)p);
        return -1;
    }
    dropout_state s = {.p = p};
    return rp_graph_add(g, &dropout_ops, name, &in, 1, rp_graph_shape(g, in), &s, sizeof s);
}
