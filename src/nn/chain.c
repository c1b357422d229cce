/* Chains of conv + batch norm (+ ReLU/ReLU6) units that the graph runs as one kernel in
 * evaluation mode (kernels/chain.h). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/chain.h"
#include "nn/chain.h"
#include "nn/fused.h"

_Static_assert(RP_CHAIN_MAX == CHAIN_MAX, "the graph's and the kernel's chain lengths agree");

static bool kind_is(const rp_node *n, rp_layer_kind kind) { return n->ops->kind == kind; }

/* Node j's only reader is node j + 1. */
static bool feeds_next(const rp_graph *g, int j)
{
    return j + 1 < g->n_nodes && g->nodes[j].n_readers == 1 && g->nodes[j].last_reader == j + 1 &&
           g->nodes[j + 1].n_in == 1;
}

/* The chain starting at conv node i, if there is one (at least two units). */
static bool find_chain(const rp_graph *g, int i, rp_chain *c)
{
    memset(c, 0, sizeof *c);
    c->input = g->nodes[i].in[0];
    c->first = i;
    int j = i, tail = -1;
    for (;;) {
        conv2d_shape s;
        const float *w, *b;
        if (g->nodes[j].n_in != 1 || !rp_conv2d_describe(&g->nodes[j], 1, &s, &w, &b) || !chain_unit_applies(&s))
            return false;
        if (!feeds_next(g, j) || !kind_is(&g->nodes[j + 1], RP_LAYER_BATCHNORM2D)) return false;
        int bn = j + 1, act = -1;
        if (feeds_next(g, bn) && rp_node_act(&g->nodes[bn + 1]) != ACT_NONE)
            act = bn + 1;
        if (c->n == RP_CHAIN_MAX) return false;
        c->conv[c->n] = j, c->bn[c->n] = bn, c->act[c->n] = act;
        c->n++;
        if (act < 0) { /* a unit without activation (the linear bottleneck) ends the chain */
            tail = bn;
            break;
        }
        if (!feeds_next(g, act)) return false;
        j = act + 1;
    }
    if (c->n < 2) return false;
    c->last = tail;
    const rp_node *t = &g->nodes[tail];
    if (t->n_readers == 1 && t->last_reader == tail + 1 && kind_is(&g->nodes[tail + 1], RP_LAYER_ADD)) {
        const rp_node *a = &g->nodes[tail + 1];
        if ((a->in[0] == tail && a->in[1] == c->input) || (a->in[1] == tail && a->in[0] == c->input)) {
            c->residual = true;
            c->last = tail + 1;
        }
    }
    /* only the chain reads its input, so its backward alone writes that gradient */
    int readers = c->input == RP_INPUT ? g->input_readers : g->nodes[c->input].n_readers;
    return readers == 1 + c->residual;
}

void rp_chains_free(rp_graph *g)
{
    free(g->chains);
    g->chains = NULL;
    g->n_chains = 0;
}

rp_status rp_chains_plan(rp_graph *g)
{
    rp_chains_free(g);
    for (int i = 0; i < g->n_nodes; i++) {
        rp_chain c;
        if (!find_chain(g, i, &c)) continue;
        rp_chain *cs = realloc(g->chains, (size_t)(g->n_chains + 1) * sizeof *cs);
        if (!cs) return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory planning chains");
        g->chains = cs;
        g->chains[g->n_chains++] = c;
        i = c.last;
    }
    return RP_OK;
}

/* The shapes alone (for sizes). */
static conv_chain shapes(const rp_graph *g, const rp_chain *c, int B)
{
    conv_chain k = {.n = c->n, .residual = c->residual};
    for (int u = 0; u < c->n; u++) {
        bool ok = rp_conv2d_describe(&g->nodes[c->conv[u]], B, &k.u[u].s, &k.u[u].w, &k.u[u].b);
        RP_ASSERT(ok);
    }
    return k;
}

/* The kernel's description of chain c at batch B; fills the batch norms' mean/invstd from
 * their running statistics as their evaluation forward would. */
static conv_chain describe(rp_graph *g, const rp_chain *c, int B)
{
    conv_chain k = shapes(g, c, B);
    for (int u = 0; u < c->n; u++) {
        rp_node *bn = &g->nodes[c->bn[u]];
        rp_bn_eval_map(bn, &k.u[u].bn);
        k.u[u].act = c->act[u] < 0 ? ACT_NONE : rp_node_act(&g->nodes[c->act[u]]);
    }
    return k;
}

int rp_chain_starting_at(const rp_graph *g, int node)
{
    for (int c = 0; c < g->n_chains; c++)
        if (g->chains[c].first == node) return c;
    return -1;
}

size_t rp_chains_scratch(const rp_graph *g, int B)
{
    size_t most = 0;
    for (int i = 0; i < g->n_chains; i++) {
        conv_chain k = shapes(g, &g->chains[i], B);
        size_t s = chain_scratch_floats(&k, B, g->scratch_threads);
        if (s > most) most = s;
    }
    return most;
}

size_t rp_chain_mask_bytes(const rp_graph *g, const rp_chain *c, int B)
{
    conv_chain k = shapes(g, c, B);
    return chain_mask_bytes(&k, B);
}

bool rp_chain_usable(const rp_graph *g, const rp_chain *c)
{
    for (int i = c->first; i <= c->last; i++)
        if (g->nodes[i].keep_y) return false;
    return true;
}

static int threads_now(const rp_graph *g)
{
    int t = omp_get_max_threads();
    return t < g->scratch_threads ? t : g->scratch_threads;
}

static const float *input_of(const rp_graph *g, const rp_chain *c)
{
    return c->input == RP_INPUT ? g->input : g->nodes[c->input].y;
}

void rp_chain_forward(rp_graph *g, rp_chain *c, int B)
{
    conv_chain k = describe(g, c, B);
    chain_forward(g->nodes[c->last].y, input_of(g, c), &k, B, g->nodes[0].scratch, threads_now(g), c->masks);
    c->ran = true;
}

void rp_chain_backward(rp_graph *g, const rp_chain *c, int B, float *dx, bool acc)
{
    conv_chain k = describe(g, c, B);
    chain_backward(dx, g->nodes[c->last].dy, c->masks, &k, B, g->nodes[0].scratch, threads_now(g), acc);
}
