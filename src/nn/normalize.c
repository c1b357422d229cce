/* Normalize: y = (x - mean[c]) / std[c] per channel, the first layer of every model (inputs
 * stay in [0, 1] pixel space). No parameters: mean and std live in the node's state. */
#include <math.h>
#include <string.h>

#include "nn/graph.h"

typedef struct norm_state {
    int C;
    float v[]; /* mean[C] then std[C] */
} norm_state;

/* The channels repeat every C floats; a block of PAT rows (a multiple of 16 floats for any C)
 * takes the per-element mean and std from patterns of PAT * C floats, so the loop runs over
 * plain floats and vectorises. Each element gets the same operation as row by row. */
enum { PAT = 16, MAX_PAT = PAT * 4 };

static void patterns(const norm_state *s, float *m, float *sd)
{
    for (int i = 0; i < PAT * s->C; i++) {
        m[i] = s->v[i % s->C];
        sd[i] = s->v[s->C + i % s->C];
    }
}

static void normalize_fwd(rp_node *n, const rp_pass *p)
{
    const norm_state *s = n->state;
    const int L = PAT * s->C;
    float m[MAX_PAT], sd[MAX_PAT];
    patterns(s, m, sd);
    size_t blocks = (size_t)p->B * n->out_shape.H * n->out_shape.W * s->C / L, done = blocks * L;
    const float *x = n->x[0];
    float *y = n->y;
#pragma omp parallel for schedule(static) if (blocks * L > 65536)
    for (size_t k = 0; k < blocks; k++)
#pragma omp simd
        for (int i = 0; i < L; i++) y[k * L + i] = (x[k * L + i] - m[i]) / sd[i];
    for (size_t i = done; i < (size_t)p->B * rp_shape_numel(n->out_shape); i++) /* rows past the blocks */
        y[i] = (x[i] - m[i - done]) / sd[i - done];
}

static void normalize_bwd(rp_node *n, const rp_pass *p)
{
    if (!n->dx[0]) return;
    const norm_state *s = n->state;
    const int L = PAT * s->C;
    float m[MAX_PAT], sd[MAX_PAT];
    patterns(s, m, sd);
    size_t total = (size_t)p->B * rp_shape_numel(n->out_shape), blocks = total / L, done = blocks * L;
    const float *dy = n->dy;
    float *dx = n->dx[0];
    bool write = n->dx_write[0]; /* 0 + ...: the bits of adding into zeros */
#pragma omp parallel for schedule(static) if (total > 65536)
    for (size_t k = 0; k < blocks; k++) {
        if (write) {
#pragma omp simd
            for (int i = 0; i < L; i++) dx[k * L + i] = 0.0f + dy[k * L + i] / sd[i];
        } else {
#pragma omp simd
            for (int i = 0; i < L; i++) dx[k * L + i] += dy[k * L + i] / sd[i];
        }
    }
    for (size_t i = done; i < total; i++)
        dx[i] = write ? 0.0f + dy[i] / sd[i - done] : dx[i] + dy[i] / sd[i - done];
}

static const rp_layer_ops normalize_ops = {.kind = RP_LAYER_NORMALIZE, .name = "normalize", .forward = normalize_fwd,
                                           .backward = normalize_bwd};

int rp_g_normalize(rp_graph *g, int in, const char *name, const float *mean, const float *std)
{
    if (g->status != RP_OK) return -1;
    rp_shape sh = rp_graph_shape(g, in);
    int C = sh.C;
    if (C > MAX_PAT / PAT) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "layer %s (normalize): %d channels; at most %d", name, C,
                            MAX_PAT / PAT);
        return -1;
    }
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
