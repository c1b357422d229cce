/* Pooling layers: max-pool (argmax kept for backward), average pool (count_include_pad,
 * PyTorch's default) and global average pool (output 1x1xC). No parameters. */
#include <stdint.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/pool.h"
#include "nn/fused.h"
#include "nn/graph.h"

typedef struct pool_state {
    int K, stride, pad;
} pool_state;

static pool2d_shape shape_of(const rp_node *n, int B)
{
    const pool_state *st = n->state;
    rp_shape in = n->in_shape[0];
    return pool2d_shape_make(B, in.H, in.W, in.C, st->K, st->stride, st->pad);
}

/* The argmax lives in the node's saved floats: arena memory is allocated storage with no
 * declared type, and it is only ever written and read as int32_t (same size and alignment
 * as float), which C11's effective-type rules allow. */
static size_t maxpool_saved(const rp_node *n, int B)
{
    return (size_t)B * rp_shape_numel(n->out_shape);
}

void rp_maxpool_epilogue(rp_node *n, int B, conv_pool *cp)
{
    *cp = (conv_pool){.s = shape_of(n, B), .y = n->y, .argmax = (int32_t *)(void *)n->saved};
}

static void maxpool_fwd(rp_node *n, const rp_pass *p)
{
    pool2d_shape s = shape_of(n, p->B);
    maxpool2d_forward(n->y, (int32_t *)(void *)n->saved, n->x[0], &s);
}

/* act (ACT_*): dx[0] is the gradient of the input of the ReLU/ReLU6 before the pool; its mask
 * applies too (from the pool's output: a max-pool of ReLU outputs). */
void rp_maxpool_backward_act(rp_node *n, const rp_pass *p, act_kind act)
{
    if (!n->dx[0]) return;
    pool2d_shape s = shape_of(n, p->B);
    maxpool2d_backward_act(n->dx[0], n->dy, (const int32_t *)(const void *)n->saved, n->y, &s,
                           !n->dx_write[0], act);
}

static void maxpool_bwd(rp_node *n, const rp_pass *p) { rp_maxpool_backward_act(n, p, ACT_NONE); }

static void avgpool_fwd(rp_node *n, const rp_pass *p)
{
    pool2d_shape s = shape_of(n, p->B);
    avgpool2d_forward(n->y, n->x[0], &s);
}

static void avgpool_bwd(rp_node *n, const rp_pass *p)
{
    if (!n->dx[0]) return;
    pool2d_shape s = shape_of(n, p->B);
    if (n->dx_write[0]) memset(n->dx[0], 0, (size_t)p->B * rp_shape_numel(n->in_shape[0]) * sizeof(float));
    avgpool2d_backward(n->dx[0], n->dy, &s);
}

static void gap_fwd(rp_node *n, const rp_pass *p)
{
    rp_shape in = n->in_shape[0];
    global_avgpool_forward(n->y, n->x[0], p->B, in.H * in.W, in.C);
}

static void gap_bwd(rp_node *n, const rp_pass *p)
{
    if (!n->dx[0]) return;
    rp_shape in = n->in_shape[0];
    if (n->dx_write[0]) memset(n->dx[0], 0, (size_t)p->B * rp_shape_numel(in) * sizeof(float));
    global_avgpool_backward(n->dx[0], n->dy, p->B, in.H * in.W, in.C);
}

static const rp_layer_ops maxpool_ops = {.kind = RP_LAYER_MAXPOOL2D, .name = "maxpool2d", .saved_floats = maxpool_saved,
                                         .forward = maxpool_fwd, .backward = maxpool_bwd};
static const rp_layer_ops avgpool_ops = {.kind = RP_LAYER_AVGPOOL2D, .name = "avgpool2d", .forward = avgpool_fwd,
                                         .backward = avgpool_bwd};
static const rp_layer_ops gap_ops = {.kind = RP_LAYER_GLOBAL_AVGPOOL, .name = "global_avgpool", .forward = gap_fwd,
                                     .backward = gap_bwd};

static int add_pool(rp_graph *g, const rp_layer_ops *ops, int in, const char *name, int K,
                    int stride, int pad)
{
    if (g->status != RP_OK) return -1;
    rp_shape is = rp_graph_shape(g, in);
    if (K < 1 || stride < 1 || pad < 0 || pad > K / 2) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG,
                            "layer %s (%s): bad configuration K=%d stride=%d pad=%d (need K, "
                            "stride >= 1 and 0 <= pad <= K/2)", name, ops->name, K, stride, pad);
        return -1;
    }
    if (rp_shape_numel(is) > (size_t)INT32_MAX) {
        g->status = rp_fail(g->ctx, RP_ERR_SHAPE, "layer %s (%s): input %dx%dx%d too large",
                            name, ops->name, is.H, is.W, is.C);
        return -1;
    }
    pool2d_shape s = pool2d_shape_make(1, is.H, is.W, is.C, K, stride, pad);
    if (s.OH < 1 || s.OW < 1) {
        g->status = rp_fail(g->ctx, RP_ERR_SHAPE,
                            "layer %s (%s): window %d with pad %d does not fit input %dx%d",
                            name, ops->name, K, pad, is.H, is.W);
        return -1;
    }
    pool_state st = {K, stride, pad};
    return rp_graph_add(g, ops, name, &in, 1, (rp_shape){s.OH, s.OW, is.C}, &st, sizeof st);
}

int rp_g_maxpool2d(rp_graph *g, int in, const char *name, int K, int stride, int pad)
{
    return add_pool(g, &maxpool_ops, in, name, K, stride, pad);
}

int rp_g_avgpool2d(rp_graph *g, int in, const char *name, int K, int stride, int pad)
{
    return add_pool(g, &avgpool_ops, in, name, K, stride, pad);
}

int rp_g_global_avgpool(rp_graph *g, int in, const char *name)
{
    if (g->status != RP_OK) return -1;
    rp_shape is = rp_graph_shape(g, in);
    return rp_graph_add(g, &gap_ops, name, &in, 1, (rp_shape){1, 1, is.C}, NULL, 0);
}
