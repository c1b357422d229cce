/* Residual add: y = a + b, both inputs of the same shape. */
#include "nn/graph.h"

static size_t numel(const rp_node *n, int B) { return (size_t)B * rp_shape_numel(n->out_shape); }

static void add_fwd(rp_node *n, const rp_pass *p)
{
    size_t N = numel(n, p->B);
    const float *a = n->x[0], *b = n->x[1];
    float *y = n->y;
#pragma omp parallel for simd schedule(static) if (N > 65536)
    for (size_t i = 0; i < N; i++) y[i] = a[i] + b[i];
}

static void add_bwd(rp_node *n, const rp_pass *p)
{
    size_t N = numel(n, p->B);
    const float *dy = n->dy;
    /* in turn, not fused: a and b may be the same node (dx[0] == dx[1]) */
    for (int k = 0; k < 2; k++) {
        float *dx = n->dx[k];
        if (!dx) continue;
        if (n->dx_write[k]) { /* 0 + dy: the bits of adding into zeros */
#pragma omp parallel for simd schedule(static) if (N > 65536)
            for (size_t i = 0; i < N; i++) dx[i] = 0.0f + dy[i];
            continue;
        }
#pragma omp parallel for simd schedule(static) if (N > 65536)
        for (size_t i = 0; i < N; i++) dx[i] += dy[i];
    }
}

static const rp_layer_ops add_ops = {.kind = RP_LAYER_ADD, .name = "add", .forward = add_fwd, .backward = add_bwd};

int rp_g_add(rp_graph *g, int a, int b, const char *name)
{
    if (g->status != RP_OK) return -1;
    rp_shape sa = rp_graph_shape(g, a), sb = rp_graph_shape(g, b);
    if (sa.H != sb.H || sa.W != sb.W || sa.C != sb.C) {
        g->status = rp_fail(g->ctx, RP_ERR_SHAPE, "layer %s (add): shapes %dx%dx%d and %dx%dx%d differ",
                            name, sa.H, sa.W, sa.C, sb.H, sb.W, sb.C);
        return -1;
    }
    int in[2] = {a, b};
    return rp_graph_add(g, &add_ops, name, in, 2, sa, NULL, 0);
}
