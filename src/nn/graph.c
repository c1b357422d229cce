#include "nn/graph.h"

#include <math.h>
#include <omp.h>
#include <string.h>
#include <time.h>

#include "nn/chain.h"

void rp_graph_init(rp_graph *g, rp_ctx *ctx, rp_shape input)
{
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->input_shape = input;
}

void rp_graph_free(rp_graph *g)
{
    rp_chains_free(g);
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i].state);
    free(g->nodes);
    free(g->params);
    rp_arena_free(&g->param_arena);
    rp_arena_free(&g->act_arena);
    memset(g, 0, sizeof *g);
}

rp_shape rp_graph_shape(const rp_graph *g, int node)
{
    RP_ASSERT(node >= RP_INPUT && node < g->n_nodes);
    return node == RP_INPUT ? g->input_shape : g->nodes[node].out_shape;
}

int rp_graph_add(rp_graph *g, const rp_layer_ops *ops, const char *name, const int *in,
                 int n_in, rp_shape out, const void *state, size_t state_size)
{
    RP_ASSERT(!g->finalized && n_in >= 1 && n_in <= RP_MAX_IN);
    if (g->status != RP_OK) return -1;
    if (out.H <= 0 || out.W <= 0 || out.C <= 0) {
        g->status = rp_fail(g->ctx, RP_ERR_SHAPE, "layer %s (%s): output shape %dx%dx%d is empty",
                            name, ops->kind, out.H, out.W, out.C);
        return -1;
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 32;
        rp_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) { g->status = rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory"); return -1; }
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    rp_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->ops = ops;
    snprintf(n->name, sizeof n->name, "%s", name);
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        RP_ASSERT(in[i] >= RP_INPUT && in[i] < g->n_nodes);
        n->in[i] = in[i];
        n->in_shape[i] = rp_graph_shape(g, in[i]);
    }
    n->out_shape = out;
    n->first_param = g->n_params;
    if (state_size) {
        n->state = malloc(state_size);
        if (!n->state) { g->status = rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory"); return -1; }
        memcpy(n->state, state, state_size);
    }
    return g->n_nodes++;
}

int rp_graph_param(rp_graph *g, const char *name, int ndim, const int64_t *shape,
                   rp_layout layout, bool trainable, rp_init init, float init_scale)
{
    RP_ASSERT(!g->finalized && g->n_nodes > 0 && ndim >= 0 && ndim <= 4);
    if (g->status != RP_OK) return -1;
    if (g->n_params == g->cap_params) {
        int cap = g->cap_params ? 2 * g->cap_params : 64;
        rp_param *ps = realloc(g->params, (size_t)cap * sizeof *ps);
        if (!ps) { g->status = rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory"); return -1; }
        g->params = ps;
        g->cap_params = cap;
    }
    rp_param *p = &g->params[g->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->layout = layout;
    p->trainable = trainable;
    p->init = init;
    p->init_scale = init_scale;
    g->nodes[g->n_nodes - 1].n_params++;
    return g->n_params++;
}

static void init_param(rp_param *p, rp_rng *rng)
{
    for (size_t i = 0; i < p->numel; i++) {
        switch (p->init) {
        case RP_INIT_ZERO: p->data[i] = 0.0f; break;
        case RP_INIT_ONE: p->data[i] = 1.0f; break;
        case RP_INIT_UNIFORM: p->data[i] = (2.0f * rp_rng_uniform(rng) - 1.0f) * p->init_scale; break;
        case RP_INIT_NORMAL: p->data[i] = rp_rng_normal(rng) * p->init_scale; break;
        }
    }
}

/* Carve parameters then gradients, so that each is one contiguous block. */
static void carve_params(rp_graph *g, rp_arena *a)
{
    for (int i = 0; i < g->n_params; i++) g->params[i].data = rp_arena_floats(a, g->params[i].numel);
    for (int i = 0; i < g->n_params; i++)
        g->params[i].grad = g->params[i].trainable ? rp_arena_floats(a, g->params[i].numel) : NULL;
}

static void carve_activations(rp_graph *g, rp_arena *a, int B)
{
    size_t scratch = 0;
    g->input = rp_arena_floats(a, (size_t)B * rp_shape_numel(g->input_shape));
    for (int s = 0; s < g->n_dy_slots; s++) { /* each slot as large as its largest user */
        size_t most = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].dy_slot == s && rp_shape_numel(g->nodes[i].out_shape) > most)
                most = rp_shape_numel(g->nodes[i].out_shape);
        float *slot = rp_arena_floats(a, (size_t)B * most);
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].dy_slot == s) g->nodes[i].dy = slot;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        size_t out = (size_t)B * rp_shape_numel(n->out_shape);
        n->y = rp_arena_floats(a, out);
        size_t saved = n->ops->saved_floats ? n->ops->saved_floats(n, B) : 0;
        n->saved = saved ? rp_arena_floats(a, saved) : NULL;
        size_t s = n->ops->scratch_floats ? n->ops->scratch_floats(n, B) : 0;
        if (s > scratch) scratch = s;
    }
    if (rp_chains_scratch(g, B) > scratch) scratch = rp_chains_scratch(g, B);
    for (int c = 0; c < g->n_chains; c++)
        g->chains[c].masks = (uint8_t *)rp_arena_floats(a, (rp_chain_mask_bytes(g, &g->chains[c], B) + 3) / 4);
    size_t sums = 0; /* doubles */
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].ops->takes_sums && (size_t)2 * B * g->nodes[i].out_shape.C > sums)
            sums = (size_t)2 * B * g->nodes[i].out_shape.C;
    g->bn_sums = sums ? (double *)rp_arena_floats(a, 2 * sums) : NULL;
    float *shared = scratch ? rp_arena_floats(a, scratch) : NULL;
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i].scratch = shared;
}

/* A ReLU or ReLU6 node: the activations the run loop's fusions handle. */
static bool is_act(const rp_node *n) { return !strcmp(n->ops->kind, "relu") || !strcmp(n->ops->kind, "relu6"); }

/* The backward steps (node indices, run from high to low) during which node i's gradient
 * buffer holds a value: from its first writer to its own backward. Conservative where the
 * run loop's shortcuts move a read or a write: a ReLU's gradient is read by its producer
 * (fuses_own_act_bwd), and a node read by a ReLU may be written by that ReLU's reader
 * (fuses_act_bwd); a conv that may do the training batch norm after it reads that batch
 * norm's and its activation's gradients (train_fold_conv). The last node's is filled before
 * the first step (n_nodes). */
/* The conv that may do batch norm node b's training forward and backward (ops->train_fold:
 * it then reads b's gradient, or b's activation's, in its own backward step), or -1. */
static int train_fold_conv(const rp_graph *g, int b)
{
    const rp_node *n = &g->nodes[b];
    if (!n->ops->train_fold || n->n_in != 1 || n->in[0] == RP_INPUT) return -1;
    const rp_node *c = &g->nodes[n->in[0]];
    return c->fold_node == b && c->ops->train_fold_applies ? n->in[0] : -1;
}

static void dy_life(const rp_graph *g, int i, int *lo, int *hi)
{
    const rp_node *n = &g->nodes[i];
    *lo = i;
    *hi = i == g->n_nodes - 1 ? g->n_nodes : n->last_reader < 0 ? i : n->last_reader;
    if (is_act(n) && n->n_in == 1 && n->in[0] != RP_INPUT) *lo = n->in[0];
    /* a training fold reads a batch norm's gradient, or its activation's, at the conv's step */
    int b = is_act(n) && n->n_in == 1 && n->in[0] != RP_INPUT ? n->in[0] : i, fc = train_fold_conv(g, b);
    if (fc >= 0 && fc < *lo) *lo = fc;
    if (n->last_reader >= 0 && is_act(&g->nodes[n->last_reader]) && g->nodes[n->last_reader].last_reader > *hi)
        *hi = g->nodes[n->last_reader].last_reader;
    for (int c = 0; c < g->n_chains; c++) /* a chain writes its input's gradient at its last node */
        if (g->chains[c].input == i && g->chains[c].last > *hi) *hi = g->chains[c].last;
}

/* Slots for the gradient buffers: walking the backward steps from last to first, a node
 * takes a free slot when its gradient's life starts (the smallest free one that is large
 * enough, else the largest free one, which grows) and frees it after its life ends. Kept
 * nodes (rp_graph_keep) hold theirs to the end. */
static rp_status assign_dy_slots(rp_graph *g)
{
    int N = g->n_nodes, n_slots = 0;
    size_t *size = calloc((size_t)N, sizeof *size);
    bool *busy = calloc((size_t)N, sizeof *busy);
    int *lo = malloc((size_t)N * sizeof *lo), *hi = malloc((size_t)N * sizeof *hi);
    if (!size || !busy || !lo || !hi) {
        free(size), free(busy), free(lo), free(hi);
        return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory planning gradient buffers");
    }
    for (int i = 0; i < N; i++) dy_life(g, i, &lo[i], &hi[i]);
    for (int t = N; t >= 0; t--) {
        for (int i = 0; i < N; i++) {
            if (hi[i] != t) continue;
            size_t need = rp_shape_numel(g->nodes[i].out_shape);
            int best = -1;
            for (int s = 0; s < n_slots; s++) {
                if (busy[s] || g->nodes[i].keep_y) continue;
                bool fits = size[s] >= need, best_fits = best >= 0 && size[best] >= need;
                if (best < 0 || (fits && (!best_fits || size[s] < size[best])) || (!fits && !best_fits && size[s] > size[best]))
                    best = s;
            }
            if (best < 0) best = n_slots++;
            if (size[best] < need) size[best] = need;
            busy[best] = true;
            g->nodes[i].dy_slot = best;
        }
        for (int i = 0; i < N; i++)
            if (lo[i] == t && !g->nodes[i].keep_y) busy[g->nodes[i].dy_slot] = false;
    }
    g->n_dy_slots = n_slots;
    free(size), free(busy), free(lo), free(hi);
    return RP_OK;
}

static rp_status carve_arena(rp_graph *g, int max_batch)
{
    rp_arena measure = {0};
    carve_activations(g, &measure, max_batch);
    rp_arena_free(&g->act_arena);
    if (rp_arena_init(&g->act_arena, measure.used) != 0)
        return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: cannot allocate %zu MiB of activations for batch %d",
                       measure.used >> 20, max_batch);
    carve_activations(g, &g->act_arena, max_batch);
    g->max_batch = max_batch;
    return RP_OK;
}

rp_status rp_graph_keep(rp_graph *g, int node)
{
    RP_ASSERT(g->finalized && node >= 0 && node < g->n_nodes);
    if (g->nodes[node].keep_y) return RP_OK;
    g->nodes[node].keep_y = true;
    RP_TRY(assign_dy_slots(g));
    return carve_arena(g, g->max_batch);
}

rp_status rp_graph_reserve(rp_graph *g, int max_batch)
{
    RP_ASSERT(max_batch >= 1);
    if (g->act_arena.base && max_batch <= g->max_batch) return RP_OK;
    return carve_arena(g, max_batch);
}

/* last_reader of every node and of the input: backward zeroes a gradient buffer just before
 * its first writer (the highest-index reader) runs, while the buffer is likely in cache. */
static void find_last_readers(rp_graph *g)
{
    g->input_last_reader = -1;
    g->input_readers = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        g->nodes[i].last_reader = -1;
        g->nodes[i].n_readers = 0;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int src = g->nodes[i].in[k];
            if (src == RP_INPUT) {
                g->input_last_reader = i;
                g->input_readers++;
            } else {
                g->nodes[src].last_reader = i;
                g->nodes[src].n_readers++;
            }
        }
    /* a node whose only reader is a ReLU/ReLU6 can do that forward too (ops->fuses_act) */
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        n->act_node = -1;
        if (!n->ops->fuses_act || n->n_readers != 1) continue;
        const rp_node *r = &g->nodes[n->last_reader];
        if (is_act(r) && r->n_in == 1) n->act_node = n->last_reader;
    }
    /* a conv whose only reader is a batch norm can do its evaluation forward (ops->accepts_fold) */
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        n->fold_node = -1;
        if (!n->ops->accepts_fold || n->n_readers != 1) continue;
        const rp_node *r = &g->nodes[n->last_reader];
        if (r->ops->fold_eval && r->n_in == 1) n->fold_node = n->last_reader;
    }
}

/* The activation node i's forward applies, or RP_ACT_NONE (see find_last_readers). */
static int fused_act(const rp_graph *g, const rp_node *n)
{
    if (n->act_node < 0 || n->keep_y || g->no_fusion) return RP_ACT_NONE;
    return strcmp(g->nodes[n->act_node].ops->kind, "relu6") ? RP_ACT_RELU : RP_ACT_RELU6;
}

rp_status rp_graph_finalize(rp_graph *g, int max_batch, uint64_t seed)
{
    if (g->status != RP_OK) return g->status;
    if (g->n_nodes == 0) return rp_fail(g->ctx, RP_ERR_ARG, "graph: no layers");
    rp_arena measure = {0};
    carve_params(g, &measure);
    if (rp_arena_init(&g->param_arena, measure.used) != 0)
        return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: cannot allocate %zu MiB of parameters",
                       measure.used >> 20);
    carve_params(g, &g->param_arena);
    rp_rng rng;
    rp_rng_seed(&rng, seed, RP_STREAM_INIT);
    for (int i = 0; i < g->n_params; i++) init_param(&g->params[i], &rng);
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i].param = &g->params[g->nodes[i].first_param];
    rp_rng_seed(&g->dropout_rng, seed, RP_STREAM_DROPOUT);
    find_last_readers(g);
    RP_TRY(rp_chains_plan(g));
    g->chain_threads = omp_get_max_threads();
    RP_TRY(assign_dy_slots(g));
    g->finalized = true;
    return rp_graph_reserve(g, max_batch);
}

static void bind_inputs(rp_graph *g, rp_node *n)
{
    for (int i = 0; i < n->n_in; i++) {
        int src = n->in[i];
        n->x[i] = src == RP_INPUT ? g->input : g->nodes[src].y;
        n->dx[i] = src == RP_INPUT ? NULL : g->nodes[src].dy; /* backward binds the caller's dx */
    }
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Every node's forward on the graph input already in place. fold: conv + batch norm pairs may
 * run as one in evaluation mode (see rp_layer_ops.accepts_fold); chain: so may chains
 * (rp_chain), which write their last node's output alone. */
static void run_forward(rp_graph *g, int B, bool train, bool fold, bool chain)
{
    rp_pass p = {.B = B, .train = train, .param_grads = false, .rng = &g->dropout_rng};
    g->last_folded = g->last_chained = false;
    for (int c = 0; c < g->n_chains; c++) g->chains[c].ran = false;
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        n->sums_out = NULL, n->sums_in = NULL, n->train_fold = false, n->fold_bits = NULL;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        rp_chain *ch = n->chain_first >= 0 ? &g->chains[n->chain_first] : NULL;
        if (ch && chain && fold && !train && !g->no_fusion && !g->no_chain && rp_chain_usable(g, ch)) {
            for (int j = ch->first; j <= ch->last; j++) g->nodes[j].act = RP_ACT_NONE, g->nodes[j].fold_on = false;
            double t0 = g->profile ? now_ms() : 0.0;
            rp_chain_forward(g, ch, B);
            if (g->profile) {
                ch->ms_fwd += now_ms() - t0;
                ch->n_fwd++;
            }
            g->last_chained = true;
            i = ch->last;
            continue;
        }
        if (n->n_in == 1 && n->in[0] != RP_INPUT && (g->nodes[n->in[0]].act || g->nodes[n->in[0]].fold_on))
            continue; /* done by the producer */
        bind_inputs(g, n);
        n->act = fused_act(g, n);
        n->act_y = n->act ? g->nodes[n->act_node].y : NULL;
        n->fold_on = false;
        rp_node *bn = n->fold_node >= 0 ? &g->nodes[n->fold_node] : NULL;
        if (bn && fold && !train && !g->no_fusion && !n->keep_y && !bn->keep_y) {
            bn->ops->fold_eval(bn, &n->fold);
            bn->act = fused_act(g, bn);
            bn->act_y = bn->act ? g->nodes[bn->act_node].y : NULL;
            n->fold_act = bn->act;
            n->fold_y = bn->act ? bn->act_y : bn->y;
            n->fold_on = g->last_folded = true;
        }
        /* training: the conv does the batch norm after it (statistics from its input's moments,
         * kernels/pwbn.h), where that pays; the mean and variance pass through g->bn_sums */
        if (bn && n->fold_node == i + 1 && train && !g->no_fusion && !g->no_train_fold && !n->keep_y &&
            !bn->keep_y && n->ops->train_fold_applies && bn->ops->train_fold &&
            n->ops->train_fold_applies(n, B, g->train_fold_always)) {
            double *mean = g->bn_sums, *var = mean + bn->out_shape.C;
            n->ops->train_stats(n, B, mean, var);
            bn->act = fused_act(g, bn);
            bn->act_y = bn->act ? g->nodes[bn->act_node].y : NULL;
            bn->ops->train_fold(bn, mean, var, (size_t)B * bn->out_shape.H * bn->out_shape.W, &n->fold, &n->fold_bits);
            n->fold_act = bn->act;
            n->fold_y = bn->act ? bn->act_y : bn->y;
            n->fold_on = n->train_fold = true;
        }
        /* the batch norm's statistics while each sample is in cache; one buffer, so only for a
         * batch norm right after its conv */
        if (bn && !n->train_fold && n->fold_node == i + 1 && train && !g->no_fusion && bn->ops->takes_sums &&
            n->ops->forms_sums && n->ops->forms_sums(n, B)) {
            n->sums_out = g->bn_sums;
            bn->sums_in = g->bn_sums;
        }
        double t0 = g->profile ? now_ms() : 0.0;
        n->ops->forward(n, &p);
        if (g->profile) {
            n->ms_fwd += now_ms() - t0;
            n->n_fwd++;
        }
    }
    g->last_B = B;
    g->last_train = train;
}

const float *rp_graph_forward(rp_graph *g, const float *x, int B, bool train)
{
    RP_ASSERT(g->finalized && B >= 1 && B <= g->max_batch);
    memcpy(g->input, x, (size_t)B * rp_shape_numel(g->input_shape) * sizeof(float));
    run_forward(g, B, train, true, true);
    return g->nodes[g->n_nodes - 1].y;
}

static bool trains_a_param(const rp_node *n)
{
    for (int k = 0; k < n->n_params; k++)
        if (n->param[k].trainable && !n->param[k].frozen) return true;
    return false;
}

/* bwd_run for every node, in topological order (see rp_graph_backward). */
static void mark_backward(rp_graph *g, bool param_grads, bool input_grad)
{
    bool all = !param_grads && !input_grad;
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        bool run = all || (param_grads && trains_a_param(n));
        for (int k = 0; k < n->n_in && !run; k++)
            run = n->in[k] == RP_INPUT ? input_grad : g->nodes[n->in[k]].bwd_run;
        n->bwd_run = run;
    }
}

/* The ReLU/ReLU6 node whose backward node n can do as well (ops->fuses_act_bwd), or -1: n
 * is its only reader, and it is the only reader of its own input, so n writes that gradient.
 * Not for guided or all-node passes (they want the ReLU's own rule or its dy). */
static int act_before(const rp_graph *g, const rp_node *n, bool plain)
{
    if (plain || g->no_fusion || !n->ops->fuses_act_bwd || n->n_in != 1 || n->in[0] == RP_INPUT) return -1;
    const rp_node *r = &g->nodes[n->in[0]];
    if (!is_act(r) || r->n_in != 1 || r->n_readers != 1 || r->keep_y || !r->bwd_run)
        return -1;
    int readers = r->in[0] == RP_INPUT ? g->input_readers : g->nodes[r->in[0]].n_readers;
    return readers == 1 ? n->in[0] : -1;
}

/* Whether ReLU/ReLU6 node r's backward can be left to its producer (ops->fuses_own_act_bwd):
 * the producer did r's forward in the last pass (so it is r's input's only reader and holds
 * r's output as act_y) and runs its own backward. Not for guided or all-node passes. */
static bool act_in_producer(const rp_graph *g, const rp_node *r, bool plain)
{
    if (plain || g->no_fusion || r->n_in != 1 || r->in[0] == RP_INPUT || !is_act(r)) return false;
    const rp_node *p = &g->nodes[r->in[0]];
    return p->ops->fuses_own_act_bwd && p->act != RP_ACT_NONE && &g->nodes[p->act_node] == r && p->bwd_run;
}

static void backward_pass(rp_graph *g, const float *dout, float *dx, bool param_grads, bool guided)
{
    RP_ASSERT(g->finalized && g->last_B >= 1);
    int B = g->last_B;
    /* a folded batch norm left its input unwritten: its parameter gradients need it; a chain
     * run as one left every node inside unwritten: only an input-gradient pass can use it */
    bool chains = g->last_chained && dx && !param_grads && !guided;
    if ((param_grads && g->last_folded) || (g->last_chained && !chains))
        run_forward(g, B, g->last_train, !param_grads, false);
    rp_pass p = {.B = B, .train = g->last_train, .param_grads = param_grads, .guided = guided,
                 .rng = &g->dropout_rng};
    mark_backward(g, param_grads, dx != NULL);
    rp_node *last = &g->nodes[g->n_nodes - 1];
    memcpy(last->dy, dout, (size_t)B * rp_shape_numel(last->out_shape) * sizeof(float));
    bool plain = guided || (!param_grads && !dx);
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i].act_dy = NULL;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        rp_node *n = &g->nodes[i];
        if (!n->bwd_run) continue;
        rp_chain *ch = n->chain_last >= 0 ? &g->chains[n->chain_last] : NULL;
        if (chains && ch && ch->ran) { /* the chain's input gradient, written (its only readers are inside) */
            bool wanted = ch->input == RP_INPUT || g->nodes[ch->input].bwd_run;
            double t0 = g->profile ? now_ms() : 0.0;
            if (wanted) rp_chain_backward(g, ch, B, ch->input == RP_INPUT ? dx : g->nodes[ch->input].dy, false);
            if (g->profile) {
                ch->ms_bwd += now_ms() - t0;
                ch->n_bwd += wanted;
            }
            i = ch->first;
            continue;
        }
        if (act_in_producer(g, n, plain)) { /* the producer applies this ReLU's mask itself */
            g->nodes[n->in[0]].act_dy = n->dy;
            continue;
        }
        if (n->n_in == 1 && n->in[0] != RP_INPUT && g->nodes[n->in[0]].train_fold) {
            /* a batch norm its conv did in training: the conv's backward is both layers'
             * (kernels/pwbn.h); when the conv would not run (nothing before it needs a
             * gradient), it runs here for the batch norm's parameters alone */
            rp_node *c = &g->nodes[n->in[0]];
            n->ops->train_fold_grads(n, &p, &c->fold_grads);
            if (!c->bwd_run) {
                rp_pass q = p;
                q.param_grads = false;
                bind_inputs(g, c);
                c->dx[0] = NULL;
                c->ops->backward(c, &q);
            }
            continue;
        }
        if (n->last_reader < 0 && n != last) /* read by no one: its gradient is zero */
            memset(n->dy, 0, (size_t)B * rp_shape_numel(n->out_shape) * sizeof(float));
        bind_inputs(g, n);
        int a = act_before(g, n, plain);
        n->act_bwd = RP_ACT_NONE;
        if (a >= 0) { /* n does the ReLU's backward: bind the ReLU's input gradient, skip it */
            rp_node *r = &g->nodes[a];
            n->act_bwd = strcmp(r->ops->kind, "relu6") ? RP_ACT_RELU : RP_ACT_RELU6;
            r->bwd_run = false;
            int src = r->in[0];
            bool wanted = src == RP_INPUT ? dx != NULL : g->nodes[src].bwd_run;
            n->dx[0] = !wanted ? NULL : src == RP_INPUT ? dx : g->nodes[src].dy;
            n->dx_write[0] = wanted; /* its only reader (r) is skipped: n writes it */
        }
        for (int k = 0; k < n->n_in && a < 0; k++) {
            int src = n->in[k];
            bool wanted = src == RP_INPUT ? dx != NULL : g->nodes[src].bwd_run;
            if (src == RP_INPUT) n->dx[k] = dx;
            if (!wanted) n->dx[k] = NULL;
            n->dx_write[k] = false;
            /* the first writer of a gradient (its highest-index reader) zeroes it, or, when
             * it is the only reader and can, writes instead of adding */
            bool first = src == RP_INPUT ? g->input_last_reader == i : g->nodes[src].last_reader == i;
            int readers = src == RP_INPUT ? g->input_readers : g->nodes[src].n_readers;
            size_t numel = (size_t)B * rp_shape_numel(n->in_shape[k]);
            if (!wanted || !first || (k > 0 && n->in[0] == src)) continue;
            if (readers == 1 && n->ops->writes_dx && !g->zero_all_dx) n->dx_write[k] = true;
            else memset(n->dx[k], 0, numel * sizeof(float));
        }
        double t0 = g->profile ? now_ms() : 0.0;
        n->ops->backward(n, &p);
        if (g->profile) {
            n->ms_bwd += now_ms() - t0;
            n->n_bwd_terms += (param_grads && trains_a_param(n)) + (n->dx[0] != NULL) +
                              (n->n_in > 1 && n->dx[1] != NULL);
        }
    }
    if (dx && g->input_last_reader < 0)
        memset(dx, 0, (size_t)B * rp_shape_numel(g->input_shape) * sizeof(float));
}

void rp_graph_backward(rp_graph *g, const float *dout, float *dx, bool param_grads)
{
    backward_pass(g, dout, dx, param_grads, false);
}

void rp_graph_backward_guided(rp_graph *g, const float *dout, float *dx)
{
    backward_pass(g, dout, dx, false, true);
}

void rp_graph_zero_grad(rp_graph *g)
{
    for (int i = 0; i < g->n_params; i++)
        if (g->params[i].grad) memset(g->params[i].grad, 0, g->params[i].numel * sizeof(float));
}

int rp_graph_find_node(const rp_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -2;
}

int rp_graph_find_param(const rp_graph *g, const char *name)
{
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, name) == 0) return i;
    return -1;
}
