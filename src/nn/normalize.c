/* Normalize: y = (x - mean[c]) / std[c] per channel, the first layer of every model (inputs
 * stay in [0, 1] pixel space). No parameters: mean and std live in the node's state. */
#include <math.h>
#include <string.h>

#include "nn/graph.h"

typedef struct norm_state {
    int C;
    float v[]; /* mean[C] then std[C] */
} norm_state;

static void normalize_fwd(rp_node *n, const rp_pass *p)
{
    const norm_state *s = n->state;
    int C = s->C;
    const float *mean = s->v, *std = s->v + C;
    size_t R = (size_t)p->B * n->out_shape.H * n->out_shape.W;
#pragma omp parallel for schedule(static) if (R * (size_t)C > 65536)
    for (size_t r = 0; r < R; r++) {
        const float *x = n->x[0] + r * C;
        float *y = n->y + r * C;
        for (int c = 0; c < C; c++) y[c] = (x[c] - mean[c]) / std[c];
    }
}

static void normalize_bwd(rp_node *n, const rp_pass *p)
{
    if (!n->dx[0]) return;
    const norm_state *s = n->state;
    int C = s->C;
    const float *std = s->v + C;
    size_t R = (size_t)p->B * n->out_shape.H * n->out_shape.W;
#pragma omp parallel for schedule(static) if (R * (size_t)C > 65536)
    for (size_t r = 0; r < R; r++) {
        const float *dy = n->dy + r * C;
        float *dx = n->dx[0] + r * C;
        if (n->dx_write[0]) /* 0 + ...: the bits of adding into zeros */
            for (int c = 0; c < C; c++) dx[c] = 0.0f + dy[c] / std[c];
        else
            for (int c = 0; c < C; c++) dx[c] += dy[c] / std[c];
    }
}

static const rp_layer_ops normalize_ops = {.kind = "normalize", .forward = normalize_fwd,
                                           .backward = normalize_bwd, .writes_dx = true};

int rp_g_normalize(rp_graph *g, int in, const char *name, const float *mean, const float *std)
{
    if (g->status != RP_OK) return -1;
    rp_shape sh = rp_graph_shape(g, in);
    int C = sh.C;
    for (int c = 0; c < C; c++)
        if (!isfinite(mean[c]) || !(std[c] > 0.0f) || !isfinite(std[c])) {
            g->status = rp_fail(g->ctx, RP_ERR_ARG,
                                "layer %s (normalize): channel %d has mean %g, std %g (std must be > 0)",
                                name, c, (double)mean[c], (double)std[c]);
            return -1;
        }
    size_t size = sizeof(norm_state) + (size_t)2 * C * sizeof(float);
    norm_state *s = malloc(size);
    if (!s) {
        g->status = rp_fail(g->ctx, RP_ERR_NOMEM, "layer %s (normalize): out of memory", name);
        return -1;
    }
    s->C = C;
    memcpy(s->v, mean, (size_t)C * sizeof(float));
    memcpy(s->v + C, std, (size_t)C * sizeof(float));
    int node = rp_graph_add(g, &normalize_ops, name, &in, 1, sh, s, size);
    free(s);
    return node;
}
