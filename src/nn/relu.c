/* ReLU and ReLU6: y = max(x, 0) and min(max(x, 0), 6), elementwise. Backward masks with the
 * output y (y > 0, 0 < y < 6 exactly where x > 0, 0 < x < 6; NaN maps to 0 in both), so the
 * input need not be kept: a batch norm before may do this forward and never write its own
 * output (rp_node.act). */
#include <math.h>
#include <string.h>

#include "kernels/activation.h"
#include "nn/fused.h"
#include "nn/graph.h"

static size_t numel(const rp_node *n, int B) { return (size_t)B * rp_shape_numel(n->out_shape); }

static void relu_fwd(rp_node *n, const rp_pass *p) { relu_forward(n->y, n->x[0], numel(n, p->B)); }

/* Guided backpropagation (rp_pass.guided): dx += dy where dy > 0 and lo < x < hi (tested on
 * the output, as above). ReLU uses (0, +inf); ReLU6 (0, 6) — its upper clip masks the
 * gradient as its forward does. */
static void guided_backward(float *dx, const float *dy, const float *x, size_t N, float lo, float hi)
{
    for (size_t i = 0; i < N; i++)
        if (dy[i] > 0.0f && x[i] > lo && x[i] < hi) dx[i] += dy[i];
}

static void relu_bwd(rp_node *n, const rp_pass *p)
{
    if (!n->dx[0]) return;
    if (p->guided && n->dx_write[0]) memset(n->dx[0], 0, numel(n, p->B) * sizeof(float));
    if (p->guided) guided_backward(n->dx[0], n->dy, n->y, numel(n, p->B), 0.0f, INFINITY);
    else relu_backward_ex(n->dx[0], n->dy, n->y, numel(n, p->B), !n->dx_write[0]);
}

static void relu6_fwd(rp_node *n, const rp_pass *p) { relu6_forward(n->y, n->x[0], numel(n, p->B)); }

static void relu6_bwd(rp_node *n, const rp_pass *p)
{
    if (!n->dx[0]) return;
    if (p->guided && n->dx_write[0]) memset(n->dx[0], 0, numel(n, p->B) * sizeof(float));
    if (p->guided) guided_backward(n->dx[0], n->dy, n->y, numel(n, p->B), 0.0f, 6.0f);
    else relu6_backward_ex(n->dx[0], n->dy, n->y, numel(n, p->B), !n->dx_write[0]);
}

static const rp_layer_ops relu_ops = {.kind = RP_LAYER_RELU, .name = "relu", .forward = relu_fwd, .backward = relu_bwd};
static const rp_layer_ops relu6_ops = {.kind = RP_LAYER_RELU6, .name = "relu6", .forward = relu6_fwd, .backward = relu6_bwd};

act_kind rp_node_act(const rp_node *n)
{
    return n->ops == &relu_ops ? ACT_RELU : n->ops == &relu6_ops ? ACT_RELU6 : ACT_NONE;
}

int rp_g_relu(rp_graph *g, int in, const char *name)
{
    return rp_graph_add(g, &relu_ops, name, &in, 1, rp_graph_shape(g, in), NULL, 0);
}

int rp_g_relu6(rp_graph *g, int in, const char *name)
{
    return rp_graph_add(g, &relu6_ops, name, &in, 1, rp_graph_shape(g, in), NULL, 0);
}
