/* The public layer listing, plan switches and per-layer profiling (rampart.h): what `rampart
 * train --summary`, `rampart bench --profile` and a user's own tools need of the graph and its
 * execution plan, without reaching into either. */
#include <stdio.h>
#include <string.h>

#include "nn/chain.h"
#include "nn/model.h"
#include "nn/plan.h"

#define PUBLIC_PLAN_OPTIONS (RP_PLAN_NO_FUSION | RP_PLAN_NO_CHAIN | RP_PLAN_NO_TRAIN_FOLD | RP_PLAN_NO_DW_BN)
#define INTERNAL_PLAN_OPTIONS (RP_OPT_NO_FUSION | RP_OPT_NO_CHAIN | RP_OPT_NO_TRAIN_FOLD | RP_OPT_NO_DW_BN)

rp_status rp_model_set_plan_options(rp_ctx *ctx, rp_model *m, unsigned options)
{
    if (!m) return rp_fail(ctx, RP_ERR_ARG, "plan options: no model");
    if (options & ~(unsigned)PUBLIC_PLAN_OPTIONS)
        return rp_fail(ctx, RP_ERR_ARG, "plan options: unknown bits 0x%x (RP_PLAN_NO_FUSION, RP_PLAN_NO_CHAIN, "
                       "RP_PLAN_NO_TRAIN_FOLD, RP_PLAN_NO_DW_BN)", options & ~(unsigned)PUBLIC_PLAN_OPTIONS);
    unsigned o = (options & RP_PLAN_NO_FUSION ? RP_OPT_NO_FUSION : 0u) | (options & RP_PLAN_NO_CHAIN ? RP_OPT_NO_CHAIN : 0u) |
                 (options & RP_PLAN_NO_TRAIN_FOLD ? RP_OPT_NO_TRAIN_FOLD : 0u) |
                 (options & RP_PLAN_NO_DW_BN ? RP_OPT_NO_DW_BN : 0u);
    m->g.options = (m->g.options & ~(unsigned)INTERNAL_PLAN_OPTIONS) | o;
    return RP_OK;
}

unsigned rp_model_plan_options(const rp_model *m)
{
    unsigned o = m->g.options;
    return (o & RP_OPT_NO_FUSION ? RP_PLAN_NO_FUSION : 0u) | (o & RP_OPT_NO_CHAIN ? RP_PLAN_NO_CHAIN : 0u) |
           (o & RP_OPT_NO_TRAIN_FOLD ? RP_PLAN_NO_TRAIN_FOLD : 0u) | (o & RP_OPT_NO_DW_BN ? RP_PLAN_NO_DW_BN : 0u);
}

int rp_model_num_layers(const rp_model *m) { return m->g.n_nodes; }

rp_status rp_model_layer(rp_ctx *ctx, const rp_model *m, int i, rp_layer_info *out)
{
    if (!m || !out) return rp_fail(ctx, RP_ERR_ARG, "model layer: NULL %s", m ? "output" : "model");
    if (i < 0 || i >= m->g.n_nodes)
        return rp_fail(ctx, RP_ERR_ARG, "model layer: index %d outside 0..%d", i, m->g.n_nodes - 1);
    const rp_node *n = &m->g.nodes[i];
    *out = (rp_layer_info){.H = n->out_shape.H, .W = n->out_shape.W, .C = n->out_shape.C,
                           .flops = rp_graph_node_flops(&m->g, i)};
    snprintf(out->name, sizeof out->name, "%s", n->name);
    snprintf(out->kind, sizeof out->kind, "%s", n->ops->name);
    for (int k = 0; k < n->n_params; k++)
        if (n->param[k].trainable) out->params += n->param[k].numel;
    return RP_OK;
}

void rp_model_profile_start(rp_model *m)
{
    rp_graph *g = &m->g;
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        n->ms_fwd = n->ms_bwd = 0.0;
        n->n_fwd = n->n_bwd_terms = 0;
        n->flop_fwd = n->flop_bwd = 0.0;
    }
    for (int c = 0; c < g->n_chains; c++) {
        g->chains[c].ms_fwd = g->chains[c].ms_bwd = 0.0;
        g->chains[c].n_fwd = g->chains[c].n_bwd = 0;
        g->chains[c].flop_fwd = g->chains[c].flop_bwd = 0.0;
    }
    g->profile = true;
}

void rp_model_profile_stop(rp_model *m) { m->g.profile = false; }

int rp_model_profile_rows(const rp_model *m, rp_profile_row *rows, int max_rows)
{
    const rp_graph *g = &m->g;
    int k = 0;
    for (int i = 0; i < g->n_nodes && k < max_rows; i++) {
        const rp_node *n = &g->nodes[i];
        int c = rp_chain_starting_at(g, i);
        if (c >= 0 && (g->chains[c].n_fwd || g->chains[c].n_bwd)) { /* the chain starting here ran as one */
            const rp_chain *ch = &g->chains[c];
            rp_profile_row *r = &rows[k++];
            *r = (rp_profile_row){.fwd_ms = ch->ms_fwd, .bwd_ms = ch->ms_bwd, .fwd_calls = ch->n_fwd,
                                  .bwd_products = ch->n_bwd, .fwd_flop = ch->flop_fwd, .bwd_flop = ch->flop_bwd};
            snprintf(r->name, sizeof r->name, "%s..%s", n->name, g->nodes[ch->last].name);
            snprintf(r->kind, sizeof r->kind, "chain(%d convs)", ch->n);
            if (k == max_rows) break;
        }
        if (!n->n_fwd && !n->n_bwd_terms && n->ms_fwd + n->ms_bwd == 0.0) continue; /* did not run on its own */
        rp_profile_row *r = &rows[k++];
        *r = (rp_profile_row){.fwd_ms = n->ms_fwd, .bwd_ms = n->ms_bwd, .fwd_calls = n->n_fwd,
                              .bwd_products = n->n_bwd_terms, .fwd_flop = n->flop_fwd, .bwd_flop = n->flop_bwd};
        snprintf(r->name, sizeof r->name, "%s", n->name);
        snprintf(r->kind, sizeof r->kind, "%s", n->ops->name);
    }
    return k;
}
