/* Forward FLOPs from the graph: node kind plus shapes, no help from the layers.
 * conv2d and linear are exact (a multiply-add counts 2; biases and the BN/ReLU that follow
 * are not folded in); every other layer is counted as 1 FLOP per element of its larger
 * side, input or output (an estimate: BatchNorm does ~2, a 3x3 max-pool ~9/4 per input). */
#include <string.h>

#include "nn/model.h"

double rp_graph_node_flops(const rp_graph *g, int i)
{
    RP_ASSERT(i >= 0 && i < g->n_nodes);
    const rp_node *n = &g->nodes[i];
    const rp_param *w = &g->params[n->first_param]; /* valid before and after finalize */
    double out = (double)rp_shape_numel(n->out_shape);
    if (n->ops->kind == RP_LAYER_CONV2D) {
        RP_ASSERT(n->n_params >= 1 && w->ndim == 4);
        /* weight (OC, IC/groups, K, K): one multiply-add per weight per output position */
        return 2.0 * n->out_shape.H * n->out_shape.W * (double)w->numel;
    }
    if (n->ops->kind == RP_LAYER_LINEAR) {
        RP_ASSERT(n->n_params >= 1 && w->ndim == 2);
        return 2.0 * (double)w->numel; /* weight (OUT, IN) */
    }
    double big = out;
    for (int k = 0; k < n->n_in; k++) {
        double in = (double)rp_shape_numel(n->in_shape[k]);
        if (in > big) big = in;
    }
    return big;
}

double rp_model_flops(const rp_model *m)
{
    double total = 0.0;
    for (int i = 0; i < m->g.n_nodes; i++) total += rp_graph_node_flops(&m->g, i);
    return total;
}

rp_status rp_model_cost(rp_ctx *ctx, const rp_model_config *cfg, size_t *params, double *flops)
{
    const rp_arch *arch = cfg->arch ? rp_arch_find(cfg->arch) : NULL;
    if (!arch) return rp_fail(ctx, RP_ERR_ARG, "unknown model architecture '%s'", cfg->arch ? cfg->arch : "(null)");
    if (cfg->num_classes < 1 || cfg->H < 1 || cfg->W < 1 || cfg->C < 1 || cfg->C > 4)
        return rp_fail(ctx, RP_ERR_ARG, "model %s: bad size: %d classes, input %dx%dx%d", arch->name,
                       cfg->num_classes, cfg->H, cfg->W, cfg->C);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){cfg->H, cfg->W, cfg->C});
    arch->build(&g, cfg);
    rp_status s = g.status;
    if (s == RP_OK) {
        *params = 0;
        *flops = 0.0;
        for (int i = 0; i < g.n_params; i++)
            if (g.params[i].trainable) *params += g.params[i].numel;
        for (int i = 0; i < g.n_nodes; i++) *flops += rp_graph_node_flops(&g, i);
    }
    rp_graph_free(&g);
    return s;
}
