/* ReLU and ReLU6: y = max(x, 0) and min(max(x, 0), 6), elementwise. */
#include "kernels/activation.h"
#include "nn/graph.h"

static size_t numel(const rp_node *n, int B) { return (size_t)B * rp_shape_numel(n->out_shape); }

static void relu_fwd(rp_node *n, const rp_pass *p) { relu_forward(n->y, n->x[0], numel(n, p->B)); }

static void relu_bwd(rp_node *n, const rp_pass *p)
{
    if (n->dx[0]) relu_backward(n->dx[0], n->dy, n->x[0], numel(n, p->B));
}

static void relu6_fwd(rp_node *n, const rp_pass *p) { relu6_forward(n->y, n->x[0], numel(n, p->B)); }

static void relu6_bwd(rp_node *n, const rp_pass *p)
{
    if (n->dx[0]) relu6_backward(n->dx[0], n->dy, n->x[0], numel(n, p->B));
}

static const rp_layer_ops relu_ops = {.kind = "relu", .forward = relu_fwd, .backward = relu_bwd};
static const rp_layer_ops relu6_ops = {.kind = "relu6", .forward = relu6_fwd, .backward = relu6_bwd};

int rp_g_relu(rp_graph *g, int in, const char *name)
{
    return rp_graph_add(g, &relu_ops, name, &in, 1, rp_graph_shape(g, in), NULL, 0);
}

int rp_g_relu6(rp_graph *g, int in, const char *name)
{
    return rp_graph_add(g, &relu6_ops, name, &in, 1, rp_graph_shape(g, in), NULL, 0);
}
