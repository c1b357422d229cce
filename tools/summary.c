/* rampart train --summary: the model's layers as a table. */
#include "cli.h"

void cli_print_summary(FILE *f, const rp_model *m)
{
    fprintf(f, "%-28s %-12s %-16s %12s %12s\n", "layer", "kind", "output (HxWxC)", "parameters", "MFLOPs");
    size_t total_params = 0;
    double total_flops = 0.0;
    for (int i = 0; i < rp_model_num_layers(m); i++) {
        rp_layer_info l;
        if (rp_model_layer(NULL, m, i, &l) != RP_OK) return; /* cannot happen: i is in range */
        char shape[40];
        snprintf(shape, sizeof shape, "%dx%dx%d", l.H, l.W, l.C);
        fprintf(f, "%-28s %-12s %-16s %12zu %12.3f\n", l.name, l.kind, shape, l.params, l.flops / 1e6);
        total_params += l.params;
        total_flops += l.flops;
    }
    fprintf(f, "%s: %zu trainable parameters, %.1f MFLOPs per image forward (multiply-adds x 2)\n",
            rp_model_get_config(m)->arch, total_params, total_flops / 1e6);
}
