/* Concatenation along channels (torch.cat(inputs, 1) in NCHW): k inputs (B, H, W, C_i) of the
 * same H and W give y (B, H, W, C_0 + ... + C_{k-1}), input i in channels [off_i, off_i + C_i).
 * Backward hands each input its slice of dy. Inputs may repeat (each copy adds its slice).
 * DenseNet's layers read the concatenation of every earlier feature map: a running
 * concat(previous, new) per layer is the same tensor, with k = 2. */
#include <string.h>

#include "nn/graph.h"

/* y (P, CY) channels [off, off + C) = x (P, C) for P pixels */
static void concat_forward_one(float *y, const float *x, size_t P, int CY, int off, int C)
{
#pragma omp parallel for schedule(static) if (P * C > 65536)
    for (size_t i = 0; i < P; i++) memcpy(y + i * CY + off, x + i * C, (size_t)C * sizeof(float));
}

/* dx (P, C) (+)= dy (P, CY) channels [off, off + C); acc false: dx = 0 + slice */
static void concat_backward_one(float *dx, const float *dy, size_t P, int CY, int off, int C, bool acc)
{
#pragma omp parallel for schedule(static) if (P * C > 65536)
    for (size_t i = 0; i < P; i++) {
        const float *g = dy + i * CY + off;
        float *d = dx + i * C;
        if (acc)
            for (int c = 0; c < C; c++) d[c] += g[c];
        else
            for (int c = 0; c < C; c++) d[c] = 0.0f + g[c];
    }
}

static size_t pixels(const rp_node *n, int B) { return (size_t)B * n->out_shape.H * n->out_shape.W; }

static void concat_fwd(rp_node *n, const rp_pass *p)
{
    int off = 0;
    for (int i = 0; i < n->n_in; i++) {
        concat_forward_one(n->y, n->x[i], pixels(n, p->B), n->out_shape.C, off, n->in_shape[i].C);
        off += n->in_shape[i].C;
    }
}

static void concat_bwd(rp_node *n, const rp_pass *p)
{
    int off = 0;
    for (int i = 0; i < n->n_in; i++) { /* in turn: an input that repeats adds each slice */
        if (n->dx[i])
            concat_backward_one(n->dx[i], n->dy, pixels(n, p->B), n->out_shape.C, off, n->in_shape[i].C,
                                !n->dx_write[i]);
        off += n->in_shape[i].C;
    }
}

static const rp_layer_ops concat_ops = {.kind = RP_LAYER_CONCAT, .name = "concat", .forward = concat_fwd,
                                        .backward = concat_bwd};

int rp_g_concat(rp_graph *g, const int *in, int k, const char *name)
{
    if (g->status != RP_OK) return -1;
    if (k < 1 || k > RP_MAX_IN) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "layer %s (concat): %d inputs (1 to %d)", name, k, RP_MAX_IN);
        return -1;
    }
    rp_shape s0 = rp_graph_shape(g, in[0]), out = s0;
    out.C = 0;
    for (int i = 0; i < k; i++) {
        rp_shape si = rp_graph_shape(g, in[i]);
        if (si.H != s0.H || si.W != s0.W) {
            g->status = rp_fail(g->ctx, RP_ERR_SHAPE, "layer %s (concat): input %d is %dx%d, input 0 %dx%d",
                                name, i, si.H, si.W, s0.H, s0.W);
            return -1;
        }
        out.C += si.C;
    }
    return rp_graph_add(g, &concat_ops, name, in, k, out, NULL, 0);
}
