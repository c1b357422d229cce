/* SiLU and Sigmoid, elementwise: y = x * sigmoid(x) (torch.nn.SiLU, EfficientNet's activation)
 * and y = sigmoid(x) (squeeze-and-excitation's scale). SiLU's backward reads its input,
 * Sigmoid's its output (kernels/activation.h); neither keeps anything. Guided
 * backpropagation's rule is ReLU's alone: these pass the plain gradient. */
#include "kernels/activation.h"
#include "nn/graph.h"

static size_t numel(const rp_node *n, int B) { return (size_t)B * rp_shape_numel(n->out_shape); }

static void silu_fwd(rp_node *n, const rp_pass *p) { silu_forward(n->y, n->x[0], numel(n, p->B)); }

static void silu_bwd(rp_node *n, const rp_pass *p)
{
    if (n->dx[0]) silu_backward_ex(n->dx[0], n->dy, n->x[0], numel(n, p->B), !n->dx_write[0]);
}

static void sigmoid_fwd(rp_node *n, const rp_pass *p) { sigmoid_forward(n->y, n->x[0], numel(n, p->B)); }

static void sigmoid_bwd(rp_node *n, const rp_pass *p)
{
    if (n->dx[0]) sigmoid_backward_ex(n->dx[0], n->dy, n->y, numel(n, p->B), !n->dx_write[0]);
}

static const rp_layer_ops silu_ops = {.kind = RP_LAYER_SILU, .name = "silu", .forward = silu_fwd, .backward = silu_bwd};
static const rp_layer_ops sigmoid_ops = {.kind = RP_LAYER_SIGMOID, .name = "sigmoid", .forward = sigmoid_fwd,
                                         .backward = sigmoid_bwd};

int rp_g_silu(rp_graph *g, int in, const char *name)
{
    return rp_graph_add(g, &silu_ops, name, &in, 1, rp_graph_shape(g, in), NULL, 0);
}

int rp_g_sigmoid(rp_graph *g, int in, const char *name)
{
    return rp_graph_add(g, &sigmoid_ops, name, &in, 1, rp_graph_shape(g, in), NULL, 0);
}
