/* Linear (fully connected): each sample's input, flattened in the input node's NHWC order,
 * times weight^T plus bias. Output 1x1xOUT. Parameters <name>.weight (OUT, IN) and
 * <name>.bias (OUT) in PyTorch's layout, PyTorch's default init U(+-1/sqrt(IN)). */
#include <math.h>
#include <string.h>

#include "kernels/linear.h"
#include "nn/graph.h"

typedef struct linear_state {
    int IN, OUT;
    bool bias;
} linear_state;

static void linear_fwd(rp_node *n, const rp_pass *p)
{
    const linear_state *s = n->state;
    const float *b = s->bias ? n->param[1].data : NULL;
    linear_forward(n->y, n->x[0], n->param[0].data, b, p->B, s->IN, s->OUT);
}

static void linear_bwd(rp_node *n, const rp_pass *p)
{
    const linear_state *s = n->state;
    rp_param *w = &n->param[0], *b = s->bias ? &n->param[1] : NULL;
    float *dw = p->param_grads && !w->frozen ? w->grad : NULL;
    float *db = b && p->param_grads && !b->frozen ? b->grad : NULL;
    linear_backward_ex(n->dx[0], dw, db, n->dy, n->x[0], w->data, p->B, s->IN, s->OUT, !n->dx_write[0]);
}

static const rp_layer_ops linear_ops = {.kind = RP_LAYER_LINEAR, .name = "linear", .forward = linear_fwd,
                                        .backward = linear_bwd};

int rp_g_linear(rp_graph *g, int in, const char *name, int OUT, bool bias)
{
    if (g->status != RP_OK) return -1;
    size_t IN = rp_shape_numel(rp_graph_shape(g, in));
    if (OUT < 1 || IN > (size_t)1 << 30) {
        g->status = rp_fail(g->ctx, RP_ERR_SHAPE, "layer %s (linear): %zu inputs to %d outputs",
                            name, IN, OUT);
        return -1;
    }
    if (strlen(name) + sizeof ".weight" > sizeof g->params[0].name) {
        g->status = rp_fail(g->ctx, RP_ERR_ARG, "layer %s (linear): name too long", name);
        return -1;
    }
    linear_state s = {.IN = (int)IN, .OUT = OUT, .bias = bias};
    int node = rp_graph_add(g, &linear_ops, name, &in, 1, (rp_shape){1, 1, OUT}, &s, sizeof s);
    if (node < 0) return -1;
    char key[64];
    float bound = 1.0f / sqrtf((float)IN);
    snprintf(key, sizeof key, "%s.weight", name);
    rp_graph_param(g, key, 2, (int64_t[]){OUT, (int64_t)IN}, RP_LAYOUT_TORCH, true,
                   RP_INIT_UNIFORM, bound);
    if (bias) {
        snprintf(key, sizeof key, "%s.bias", name);
        rp_graph_param(g, key, 1, (int64_t[]){OUT}, RP_LAYOUT_TORCH, true, RP_INIT_UNIFORM, bound);
    }
    return g->status == RP_OK ? node : -1;
}
