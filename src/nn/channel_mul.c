/* Channel-wise multiply (squeeze-and-excitation's scale): y = x * s with
 *   x (B, H, W, C), s (B, 1, 1, C) broadcast over H and W, y (B, H, W, C).
 * Gradients: dx = dy * s; ds[b, c] = sum over (h, w) of dy * x, summed in double in
 * pixel order for each sample (threads take whole samples: the result does not depend on
 * their number). x and s may be the same node when H = W = 1 (y = x^2). */
#include "nn/graph.h"

/* y (B, HW, C) = x (B, HW, C) * s (B, C) */
static void channel_mul_forward(float *y, const float *x, const float *s, int B, int HW, int C)
{
#pragma omp parallel for schedule(static) if ((size_t)B * HW * C > 65536)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < HW; i++) {
            const float *xr = x + ((size_t)b * HW + i) * C, *sr = s + (size_t)b * C;
            float *yr = y + ((size_t)b * HW + i) * C;
            for (int c = 0; c < C; c++) yr[c] = xr[c] * sr[c];
        }
}

/* dx (B, HW, C) (+)= dy * s; acc false: dx = 0 + dy * s (the bits of adding into zeros). */
static void channel_mul_backward_x(float *dx, const float *dy, const float *s, int B, int HW, int C, bool acc)
{
#pragma omp parallel for schedule(static) if ((size_t)B * HW * C > 65536)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < HW; i++) {
            const float *g = dy + ((size_t)b * HW + i) * C, *sr = s + (size_t)b * C;
            float *d = dx + ((size_t)b * HW + i) * C;
            if (acc)
                for (int c = 0; c < C; c++) d[c] += g[c] * sr[c];
            else
                for (int c = 0; c < C; c++) d[c] = 0.0f + g[c] * sr[c];
        }
}

/* ds (B, C) (+)= sum_i dy[b, i, c] * x[b, i, c]; acc (B, C) doubles of workspace. */
static void channel_mul_backward_s(float *ds, const float *dy, const float *x, int B, int HW, int C, bool acc_ds,
                                   double *acc)
{
#pragma omp parallel for schedule(static) if ((size_t)B * HW * C > 65536)
    for (int b = 0; b < B; b++) {
        double *a = acc + (size_t)b * C;
        for (int c = 0; c < C; c++) a[c] = 0.0;
        for (int i = 0; i < HW; i++) {
            const float *g = dy + ((size_t)b * HW + i) * C, *xr = x + ((size_t)b * HW + i) * C;
            for (int c = 0; c < C; c++) a[c] += (double)g[c] * xr[c];
        }
        float *d = ds + (size_t)b * C;
        for (int c = 0; c < C; c++) d[c] = acc_ds ? d[c] + (float)a[c] : 0.0f + (float)a[c];
    }
}

static int hw_of(const rp_node *n) { return n->out_shape.H * n->out_shape.W; }

static void cmul_fwd(rp_node *n, const rp_pass *p)
{
    channel_mul_forward(n->y, n->x[0], n->x[1], p->B, hw_of(n), n->out_shape.C);
}

/* B * C doubles for the scale's sums, as floats (the workspace is aligned for doubles) */
static size_t cmul_scratch(const rp_node *n, int B) { return 2 * (size_t)B * n->out_shape.C; }

static void cmul_bwd(rp_node *n, const rp_pass *p)
{
    int B = p->B, HW = hw_of(n), C = n->out_shape.C;
    /* in turn: with H = W = 1, x and s may be the same node (dx[0] == dx[1]) */
    if (n->dx[0]) channel_mul_backward_x(n->dx[0], n->dy, n->x[1], B, HW, C, !n->dx_write[0]);
    if (n->dx[1])
        channel_mul_backward_s(n->dx[1], n->dy, n->x[0], B, HW, C, !n->dx_write[1], (double *)(void *)n->scratch);
}

static const rp_layer_ops cmul_ops = {.kind = RP_LAYER_CHANNEL_MUL, .name = "channel_mul", .scratch_floats = cmul_scratch,
                                      .forward = cmul_fwd, .backward = cmul_bwd};

int rp_g_channel_mul(rp_graph *g, int x, int s, const char *name)
{
    if (g->status != RP_OK) return -1;
    rp_shape sx = rp_graph_shape(g, x), ss = rp_graph_shape(g, s);
    if (ss.H != 1 || ss.W != 1 || ss.C != sx.C) {
        g->status = rp_fail(g->ctx, RP_ERR_SHAPE,
                            "layer %s (channel_mul): scale %dx%dx%d must be 1x1x%d (one factor per channel of "
                            "the %dx%dx%d input)", name, ss.H, ss.W, ss.C, sx.C, sx.H, sx.W, sx.C);
        return -1;
    }
    int in[2] = {x, s};
    return rp_graph_add(g, &cmul_ops, name, in, 2, sx, NULL, 0);
}
