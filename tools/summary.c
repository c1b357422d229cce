/* rampart train --summary: the model's layers as a table. */
#include "cli.h"
#include "nn/model.h"

void cli_print_summary(FILE *f, const rp_model *m)
{
    const rp_graph *g = &m->g;
    fprintf(f, "%-28s %-12s %-16s %12s %12s\n", "layer", "kind", "output (HxWxC)", "parameters", "MFLOPs");
    size_t total_params = 0;
    double total_flops = 0.0;
    for (int i = 0; i < g->n_nodes; i++) {
        const rp_node *n = &g->nodes[i];
        size_t params = 0;
        for (int k = 0; k < n->n_params; k++)
            if (n->param[k].trainable) params += n->param[k].numel;
        double flops = rp_graph_node_flops(g, i);
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->out_shape.H, n->out_shape.W, n->out_shape.C);
        fprintf(f, "%-28s %-12s %-16s %12zu %12.3f\n", n->name, n->ops->name, shape, params, flops / 1e6);
        total_params += params;
        total_flops += flops;
    }
    fprintf(f, "%s: %zu trainable parameters, %.1f MFLOPs per image forward (multiply-adds x 2)\n", m->arch,
            total_params, total_flops / 1e6);
}
