#include "nn/graph.h"

#include <math.h>
#include <omp.h>
#include <string.h>
#include <time.h>

#include "kernels/activation.h"
#include "nn/chain.h"
#include "nn/fused.h"

void rp_graph_init(rp_graph *g, rp_ctx *ctx, rp_shape input)
{
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->input_shape = input;
}

void rp_graph_free(rp_graph *g)
{
    rp_chains_free(g);
    rp_plans_free(g);
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i].state);
    free(g->nodes);
    free(g->params);
    rp_arena_free(&g->param_arena);
    rp_arena_free(&g->act_arena);
    free(g->bn_sync.buf);
    free(g->masks.example);
    free(g->masks.row);
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
                            name, ops->name, out.H, out.W, out.C);
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
    n->index = g->n_nodes;
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

/* The largest output among the nodes in gradient slot s, or in inference slot s. */
static size_t slot_floats(const rp_graph *g, bool infer, int s)
{
    size_t most = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if ((infer ? g->nodes[i].y_slot : g->nodes[i].dy_slot) == s && rp_shape_numel(g->nodes[i].out_shape) > most)
            most = rp_shape_numel(g->nodes[i].out_shape);
    return most;
}

/* Every node's own output buffer: first those an inference forward keeps, then the others as
 * one block (y_shared), over which place_slots lays the inference slots. */
static void carve_outputs(rp_graph *g, rp_arena *a, int B)
{
    size_t start = 0;
    for (int shared = 0; shared < 2; shared++) {
        if (shared) start = (a->used + RP_ALIGN - 1) / RP_ALIGN * RP_ALIGN;
        for (int i = 0; i < g->n_nodes; i++)
            if (rp_node_shares_y(g, i) == (shared != 0))
                g->nodes[i].y = g->nodes[i].y_own = rp_arena_floats(a, (size_t)B * rp_shape_numel(g->nodes[i].out_shape));
    }
    size_t end = a->used > start ? a->used : start;
    g->y_shared = a->base ? (float *)(void *)(a->base + start) : NULL;
    g->y_shared_floats = (end - start) / sizeof(float);
    g->y_zeroed = g->y_infer = g->y_planned = false;
}

/* The inference slots of evaluation plan p, laid from the start of the shared outputs' block:
 * each slot is no larger than the outputs sharing it, so they fit. */
static void place_slots(rp_graph *g, const rp_plan *p)
{
    rp_plan_assign_outputs(g, p);
    rp_arena block = {.base = (char *)g->y_shared, .cap = g->y_shared_floats * sizeof(float)};
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i].y_infer = g->nodes[i].y_own;
    for (int s = 0; s < g->n_y_slots; s++) {
        float *slot = rp_arena_floats(&block, (size_t)g->max_batch * slot_floats(g, true, s));
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].y_slot == s) g->nodes[i].y_infer = slot;
    }
    g->y_planned = true, g->y_plan_options = p->options, g->y_plan_stamp = p->stamp;
    g->y_infer = false; /* bind them again */
}

static rp_status carve_activations(rp_graph *g, rp_arena *a, int B)
{
    rp_plan_mem mem;
    RP_TRY(rp_plan_mem_sizes(g, B, &mem));
    size_t scratch = mem.scratch;
    g->input = rp_arena_floats(a, (size_t)B * rp_shape_numel(g->input_shape));
    for (int s = 0; s < g->n_dy_slots; s++) { /* each slot as large as its largest user */
        float *slot = rp_arena_floats(a, (size_t)B * slot_floats(g, false, s));
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].dy_slot == s) g->nodes[i].dy = slot;
    }
    carve_outputs(g, a, B);
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        size_t saved = n->ops->saved_floats ? n->ops->saved_floats(n, B) : 0;
        n->saved = saved ? rp_arena_floats(a, saved) : NULL;
        g->step_mem[i] = mem.node[i] ? rp_arena_floats(a, mem.node[i]) : NULL;
        size_t s = n->ops->scratch_floats ? n->ops->scratch_floats(n, B) : 0;
        if (s > scratch) scratch = s;
    }
    free(mem.node);
    if (rp_chains_scratch(g, B) > scratch) scratch = rp_chains_scratch(g, B);
    for (int c = 0; c < g->n_chains; c++)
        g->chains[c].masks = (uint8_t *)rp_arena_floats(a, (rp_chain_mask_bytes(g, &g->chains[c], B) + 3) / 4);
    g->bn_sums = mem.sums ? (double *)rp_arena_floats(a, 2 * mem.sums) : NULL;
    float *shared = scratch ? rp_arena_floats(a, scratch) : NULL;
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i].scratch = shared;
    return RP_OK;
}

/* The row keys of rp_row_keys for batches up to max_batch (the named examples kept). */
static rp_status reserve_row_keys(rp_graph *g, int max_batch)
{
    uint64_t *e = realloc(g->masks.example, (size_t)max_batch * sizeof *e);
    if (e) g->masks.example = e;
    uint64_t *r = e ? realloc(g->masks.row, (size_t)max_batch * sizeof *r) : NULL;
    if (r) g->masks.row = r;
    return r ? RP_OK : rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory for %d row keys", max_batch);
}

static rp_status carve_arena(rp_graph *g, int max_batch)
{
    RP_TRY(reserve_row_keys(g, max_batch));
    rp_arena measure = {0};
    RP_TRY(carve_activations(g, &measure, max_batch));
    rp_arena_free(&g->act_arena);
    if (rp_arena_init_raw(&g->act_arena, measure.used) != 0)
        return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: cannot allocate %zu MiB of activations for batch %d",
                       measure.used >> 20, max_batch);
    RP_TRY(carve_activations(g, &g->act_arena, max_batch));
    /* zeroed but for the shared outputs, which an inference forward alone touches only as far
     * as its slots reach (the others zero them first: bind_outputs) */
    rp_arena *a = &g->act_arena;
    size_t start = (size_t)((char *)g->y_shared - a->base), end = start + g->y_shared_floats * sizeof(float);
    memset(a->base, 0, start);
    memset(a->base + end, 0, a->cap - end);
    g->max_batch = max_batch;
    return RP_OK;
}

rp_status rp_graph_keep(rp_graph *g, int node)
{
    RP_ASSERT(g->finalized && node >= 0 && node < g->n_nodes);
    if (g->nodes[node].keep_y) return RP_OK;
    g->nodes[node].keep_y = true;
    g->plan_stamp++;
    RP_TRY(rp_plan_assign_slots(g));
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
    g->masks = (rp_row_keys){.seed = seed, .n = -1};
    find_last_readers(g);
    RP_TRY(rp_chains_plan(g));
    g->scratch_threads = omp_get_max_threads();
    RP_TRY(rp_plans_init(g));
    RP_TRY(rp_plan_assign_slots(g));
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

/* The activation of ReLU/ReLU6 node a; ACT_NONE for -1. */
static act_kind act_of(const rp_graph *g, int a) { return a < 0 ? ACT_NONE : rp_node_act(&g->nodes[a]); }

/* Batch norm node i's activation mask (kernels/actmask.h), kept by its training steps. */
static uint8_t *mask_of(const rp_graph *g, int i) { return (uint8_t *)g->step_mem[i]; }

/* Forward FLOPs of nodes first..last at batch B (profiling only). */
static double span_flops(const rp_graph *g, int first, int last, int B)
{
    double f = 0.0;
    for (int i = first; i <= last; i++) f += rp_graph_node_flops(g, i) * B;
    return f;
}

/* A forward step's time and the FLOPs of nodes first..last, booked on node n. */
static void profile_fwd(const rp_graph *g, rp_node *n, double t0, int first, int last, int B)
{
    if (!g->profile) return;
    n->ms_fwd += now_ms() - t0;
    n->n_fwd++;
    n->flop_fwd += span_flops(g, first, last, B);
}

/* Step s's forward: it writes its last node's output (and what its backward needs). */
static void step_forward(rp_graph *g, const rp_step *s, const rp_pass *p)
{
    rp_node *n = &g->nodes[s->node], *bn = s->bn >= 0 ? &g->nodes[s->bn] : NULL;
    float *y = g->nodes[s->last].y;
    act_kind act = act_of(g, s->act);
    double t0 = g->profile ? now_ms() : 0.0;
    conv_bn f;
    if (s->kind != RP_STEP_CHAIN) bind_inputs(g, n);
    switch (s->kind) {
    case RP_STEP_LAYER:
        n->ops->forward(n, p);
        break;
    case RP_STEP_LAYER_ACT: /* a conv (and the max-pool after its activation), or a batch norm (keeping the
                             * mask bits in training) */
        if (n->ops->kind == RP_LAYER_CONV2D && s->pool >= 0) {
            conv_pool cp;
            rp_maxpool_epilogue(&g->nodes[s->pool], p->B, &cp);
            rp_conv2d_forward_to(n, p, g->nodes[s->act].y, &(conv_epilogue){.act = act, .pool = &cp});
        } else if (n->ops->kind == RP_LAYER_CONV2D) {
            rp_conv2d_forward_to(n, p, y, &(conv_epilogue){.act = act});
        } else {
            rp_bn_forward_act(n, p, y, act, NULL, mask_of(g, s->node));
        }
        break;
    case RP_STEP_CONV_BN_EVAL:
        rp_bn_eval_map(bn, &f);
        rp_conv2d_forward_to(n, p, y, &(conv_epilogue){.bn = &f, .act = act});
        break;
    case RP_STEP_CONV_BN_SUMS: /* the statistics pass through g->bn_sums */
    case RP_STEP_DW_BN_TRAIN:
        rp_conv2d_forward_to(n, p, n->y, &(conv_epilogue){.sums = g->bn_sums});
        profile_fwd(g, n, t0, s->node, s->node, p->B);
        t0 = g->profile ? now_ms() : 0.0;
        n = bn;
        bind_inputs(g, bn);
        rp_bn_forward_act(bn, p, y, act, g->bn_sums, mask_of(g, s->bn));
        profile_fwd(g, n, t0, s->bn, s->last, p->B);
        return;
    case RP_STEP_CONV_BN_TRAIN: { /* the batch mean and variance pass through g->bn_sums */
        double *mean = g->bn_sums, *var = mean + bn->out_shape.C;
        RP_ASSERT(g->step_mem[s->node] && (act == ACT_NONE || g->step_mem[s->bn]));
        rp_conv2d_bn_train_stats(n, p->B, g->step_mem[s->node], mean, var);
        rp_bn_train_from_stats(bn, mean, var, (size_t)p->B * bn->out_shape.H * bn->out_shape.W, &f);
        rp_conv2d_forward_to(n, p, y,
                             &(conv_epilogue){.bn = &f, .act = act, .bits = act != ACT_NONE ? mask_of(g, s->bn) : NULL});
        break;
    }
    case RP_STEP_CHAIN: {
        rp_chain *ch = &g->chains[s->chain];
        rp_chain_forward(g, ch, p->B);
        if (g->profile) {
            ch->ms_fwd += now_ms() - t0;
            ch->n_fwd++;
            ch->flop_fwd += span_flops(g, ch->first, ch->last, p->B);
        }
        return;
    }
    case RP_STEP_KINDS: RP_ASSERT(!"step kind");
    }
    profile_fwd(g, n, t0, s->node, s->last, p->B);
}

/* The batch norm that does its training forward in step s, or NULL. */
static rp_node *step_bn(rp_graph *g, const rp_step *s)
{
    RP_ASSERT(s->kind != RP_STEP_CONV_BN_TRAIN && s->kind != RP_STEP_CHAIN); /* off under a dist */
    if (s->kind == RP_STEP_CONV_BN_SUMS || s->kind == RP_STEP_DW_BN_TRAIN) return &g->nodes[s->bn];
    rp_node *n = &g->nodes[s->node];
    return n->ops->kind == RP_LAYER_BATCHNORM2D ? n : NULL;
}

/* A process with an empty piece (B = 0, rp_graph_set_dist): its batch norms take part in the
 * training pass's collectives, in the order the other processes' steps run them. */
static void idle_forward(rp_graph *g, const rp_plan *plan, const rp_pass *p)
{
    for (int k = 0; k < plan->n_steps && p->train; k++) {
        rp_node *bn = step_bn(g, &plan->steps[k]);
        if (bn) rp_bn_forward_act(bn, p, NULL, ACT_NONE, NULL, NULL);
    }
}

void rp_graph_set_examples(rp_graph *g, uint64_t key, const int *idx, int64_t first, int n)
{
    RP_ASSERT(g->finalized && n >= 0 && n <= g->max_batch);
    rp_row_keys *k = &g->masks;
    for (int i = 0; i < n; i++)
        k->example[i] = rp_rng_key(key, idx ? (uint64_t)(int64_t)idx[i] : (uint64_t)(first + i), 0);
    k->n = n;
    k->pass = 0;
}

/* A training pass's row keys (rp_row_keys): from the named examples and this pass's number, or
 * numbered on. */
static void key_rows(rp_graph *g, int B)
{
    rp_row_keys *k = &g->masks;
    if (k->n < 0) {
        uint64_t key = rp_rng_key(k->seed, RP_STREAM_DROPOUT, UINT64_MAX);
        for (int r = 0; r < B; r++) k->row[r] = rp_rng_key(rp_rng_key(key, k->next + r, 0), 0, 0);
        k->next += (uint64_t)B;
        return;
    }
    RP_ASSERT(k->n > 0 || B == 0); /* rows need examples */
    for (int r = 0; r < B; r++) k->row[r] = rp_rng_key(k->example[r % k->n], k->pass, (uint64_t)(r / k->n));
    k->pass++;
}

void rp_pass_row_rng(const rp_pass *p, const rp_node *n, int b, rp_rng *r)
{
    RP_ASSERT(p->train && p->row_keys && b >= 0 && b < p->B);
    rp_rng_seed_key(r, p->row_keys[b], RP_STREAM_DROPOUT, (uint64_t)n->index, 0);
}

/* Runs plan's steps on the graph input already in place. */
static void run_forward(rp_graph *g, const rp_plan *plan, int B, bool train)
{
    if (train) key_rows(g, B);
    rp_pass p = {.B = B, .train = train, .masks_off = g->bn_adapting, .param_grads = false,
                 .row_keys = train ? g->masks.row : NULL, .sync = train && g->bn_sync.dist ? &g->bn_sync : NULL};
    for (int c = 0; c < g->n_chains; c++) g->chains[c].ran = false;
    if (B == 0) idle_forward(g, plan, &p);
    for (int k = 0; k < plan->n_steps && B > 0; k++) step_forward(g, &plan->steps[k], &p);
    g->last_plan = plan;
    g->last_B = B;
    g->last_train = train;
}

/* Every node's y: its inference slot's (infer) or its own buffer, zeroed at its first use. */
static void bind_outputs(rp_graph *g, bool infer)
{
    if (!infer && !g->y_zeroed) {
        memset(g->y_shared, 0, g->y_shared_floats * sizeof(float));
        g->y_zeroed = true;
    }
    if (g->y_infer == infer) return;
    for (int i = 0; i < g->n_nodes; i++) {
        rp_node *n = &g->nodes[i];
        n->y = infer && n->y_slot >= 0 ? n->y_infer : n->y_own;
    }
    g->y_infer = infer;
}

const float *rp_graph_forward(rp_graph *g, const float *x, int B, bool train)
{
    RP_ASSERT(g->finalized && B >= (g->bn_sync.dist ? 0 : 1) && B <= g->max_batch);
    if (B > 0) memcpy(g->input, x, (size_t)B * rp_shape_numel(g->input_shape) * sizeof(float));
    bind_outputs(g, false);
    run_forward(g, rp_graph_plan(g, train ? RP_PLAN_TRAIN : RP_PLAN_EVAL, B), B, train);
    return g->nodes[g->n_nodes - 1].y;
}

const float *rp_graph_infer(rp_graph *g, const float *x, int B)
{
    RP_ASSERT(g->finalized && B >= (g->bn_sync.dist ? 0 : 1) && B <= g->max_batch);
    if (B > 0) memcpy(g->input, x, (size_t)B * rp_shape_numel(g->input_shape) * sizeof(float));
    const rp_plan *p = rp_graph_plan(g, RP_PLAN_EVAL, B);
    if (!g->y_planned || g->y_plan_options != p->options || g->y_plan_stamp != p->stamp) place_slots(g, p);
    bind_outputs(g, true);
    run_forward(g, p, B, false);
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

/* Binds node n's k-th input gradient, written as node `as` would (n itself, or the ReLU whose
 * backward a max-pool does): NULL when nobody needs it; the first writer of a gradient (its
 * highest-index reader) zeroes it, or, when it is the only reader, writes instead of adding. */
static void bind_dx(rp_graph *g, rp_node *n, int as, int k, float *dx, int B)
{
    const rp_node *r = &g->nodes[as];
    int src = r->in[k];
    bool wanted = src == RP_INPUT ? dx != NULL : g->nodes[src].bwd_run;
    n->dx[k] = !wanted ? NULL : src == RP_INPUT ? dx : g->nodes[src].dy;
    n->dx_write[k] = false;
    bool first = src == RP_INPUT ? g->input_last_reader == as : g->nodes[src].last_reader == as;
    int readers = src == RP_INPUT ? g->input_readers : g->nodes[src].n_readers;
    if (!wanted || !first || (k > 0 && r->in[0] == src)) return;
    if (readers == 1 && !(g->options & RP_OPT_ZERO_DX)) n->dx_write[k] = true;
    else memset(n->dx[k], 0, (size_t)B * rp_shape_numel(r->in_shape[k]) * sizeof(float));
}

static void profile_bwd(const rp_graph *g, rp_node *n, const rp_pass *p, double t0)
{
    if (!g->profile) return;
    n->ms_bwd += now_ms() - t0;
    int terms = p->param_grads && trains_a_param(n);
    for (int k = 0; k < n->n_in; k++) terms += n->dx[k] != NULL;
    n->n_bwd_terms += terms;
    n->flop_bwd += rp_graph_node_flops(g, (int)(n - g->nodes)) * p->B * terms;
}

/* One operation of a step's backward (rp_step_bwd_ops); nodes that need no gradient are skipped. */
static void run_bop(rp_graph *g, const rp_bop *o, const rp_pass *p, float *dx)
{
    rp_node *n = &g->nodes[o->node];
    int B = p->B;
    double t0 = g->profile ? now_ms() : 0.0;
    rp_fold_grads f;
    switch (o->kind) {
    case RP_BOP_NODE:
        if (!n->bwd_run) return;
        if (n->last_reader < 0 && o->node != g->n_nodes - 1) /* read by no one: its gradient is zero */
            memset(n->dy, 0, (size_t)B * rp_shape_numel(n->out_shape) * sizeof(float));
        bind_inputs(g, n);
        for (int k = 0; k < n->n_in; k++) bind_dx(g, n, o->node, k, dx, B);
        n->ops->backward(n, p);
        break;
    case RP_BOP_BN_ACT: /* the mask from the forward's bits (training) or the activation's output */
        if (!n->bwd_run) return;
        bind_inputs(g, n);
        bind_dx(g, n, o->node, 0, dx, B);
        rp_bn_backward_act(n, p, g->nodes[o->act].dy, act_of(g, o->act), g->nodes[o->act].y,
                           p->train ? mask_of(g, o->node) : NULL);
        break;
    case RP_BOP_POOL_ACT: /* the pool writes the gradient of the activation's input; the activation is skipped */
        if (!n->bwd_run) return;
        bind_inputs(g, n);
        bind_dx(g, n, o->act, 0, dx, B);
        g->nodes[o->act].bwd_run = false;
        rp_maxpool_backward_act(n, p, act_of(g, o->act));
        break;
    case RP_BOP_CONV_BN: { /* both layers' (kernels/pwbn.h); when the conv would not run (nothing
                            * before it needs a gradient), it runs for the batch norm's parameters */
        rp_node *bn = &g->nodes[o->bn];
        if (!bn->bwd_run) return;
        rp_bn_fold_grads(bn, p, g->nodes[o->grad].dy, o->act >= 0 ? mask_of(g, o->bn) : NULL, &f);
        bind_inputs(g, n);
        rp_pass q = *p;
        if (n->bwd_run) bind_dx(g, n, o->node, 0, dx, B);
        else q.param_grads = false, n->dx[0] = NULL;
        rp_conv2d_bn_train_backward(n, &q, &f, g->step_mem[o->node]);
        if (!n->bwd_run) return;
        break;
    }
    case RP_BOP_DW_BN: { /* the batch norm's sums and parameter gradients, then the conv's backward forms
                          * its input gradient a tile at a time (nn/fused.h) */
        rp_node *bn = &g->nodes[o->bn];
        if (!bn->bwd_run) return;
        RP_ASSERT(p->train);
        dw_bn_grad m;
        rp_bn_backward_map(bn, p, g->nodes[o->grad].dy, act_of(g, o->act), mask_of(g, o->bn), &m);
        if (!n->bwd_run) return;
        bind_inputs(g, n);
        bind_dx(g, n, o->node, 0, dx, B);
        rp_conv2d_dw_bn_backward(n, p, &m, n->scratch + rp_bn_map_floats(bn, B), g->scratch_threads);
        break;
    }
    case RP_BOP_CHAIN: { /* the chain's input gradient, written (its only readers are inside) */
        rp_chain *ch = &g->chains[o->chain];
        if (!g->nodes[ch->last].bwd_run) return;
        bool wanted = ch->input == RP_INPUT || g->nodes[ch->input].bwd_run;
        if (wanted) rp_chain_backward(g, ch, B, ch->input == RP_INPUT ? dx : g->nodes[ch->input].dy, false);
        if (g->profile) {
            ch->ms_bwd += now_ms() - t0;
            ch->n_bwd += wanted;
            ch->flop_bwd += wanted ? span_flops(g, ch->first, ch->last, B) : 0.0;
        }
        return;
    }
    }
    profile_bwd(g, n, p, t0);
}

/* idle_forward's backward: the batch norms whose backward would run, in the order it would. */
static void idle_backward(rp_graph *g, bool param_grads, bool input_grad, bool guided)
{
    if (!g->last_train) return;
    rp_pass p = {.B = 0, .train = true, .param_grads = param_grads, .guided = guided, .sync = &g->bn_sync};
    mark_backward(g, param_grads, input_grad);
    const rp_plan *plan = g->last_plan;
    bool plain = guided || (!param_grads && !input_grad);
    for (int k = plan->n_steps - 1; k >= 0; k--) {
        rp_bop ops[3];
        int m = rp_step_bwd_ops(g, &plan->steps[k], plain, ops);
        for (int j = 0; j < m; j++) {
            rp_node *n = &g->nodes[ops[j].kind == RP_BOP_DW_BN ? ops[j].bn : ops[j].node];
            RP_ASSERT(ops[j].kind != RP_BOP_CONV_BN && ops[j].kind != RP_BOP_CHAIN);
            if (n->bwd_run && n->ops->kind == RP_LAYER_BATCHNORM2D) {
                for (int i = 0; i < n->n_in; i++) n->dx[i] = NULL;
                rp_bn_backward_act(n, &p, NULL, ACT_NONE, NULL, NULL);
            }
        }
    }
}

static void backward_pass(rp_graph *g, const float *dout, float *dx, bool param_grads, bool guided)
{
    RP_ASSERT(g->finalized && g->last_B >= (g->bn_sync.dist ? 0 : 1) && g->last_plan);
    RP_ASSERT(!g->y_infer); /* an inference forward keeps no outputs for a backward */
    int B = g->last_B;
    if (B == 0) { /* an empty piece: only the training batch norms' collectives */
        idle_backward(g, param_grads, dx != NULL, guided);
        return;
    }
    /* a conv that did its batch norm left that one's input unwritten, which its parameter
     * gradients need; a chain run as one left every node inside unwritten: only an
     * input-gradient pass can use it. Otherwise the forward re-runs without them. */
    const rp_plan *plan = g->last_plan;
    bool chained = rp_plan_count(plan, RP_STEP_CHAIN) > 0, folded = rp_plan_count(plan, RP_STEP_CONV_BN_EVAL) > 0;
    bool chains_ok = dx && !param_grads && !guided;
    if ((param_grads && (folded || chained)) || (chained && !chains_ok)) {
        RP_ASSERT(!g->last_train);
        plan = rp_graph_plan(g, param_grads ? RP_PLAN_EVAL_PARAMS : RP_PLAN_EVAL_UNCHAINED, B);
        run_forward(g, plan, B, false);
    }
    rp_pass p = {.B = B, .train = g->last_train, .masks_off = g->bn_adapting, .param_grads = param_grads,
                 .guided = guided, .sync = g->last_train && g->bn_sync.dist ? &g->bn_sync : NULL};
    mark_backward(g, param_grads, dx != NULL);
    rp_node *last = &g->nodes[g->n_nodes - 1];
    memcpy(last->dy, dout, (size_t)B * rp_shape_numel(last->out_shape) * sizeof(float));
    /* guided backpropagation and every node's gradient: each ReLU/ReLU6 runs its own backward */
    bool plain = guided || (!param_grads && !dx);
    for (int k = plan->n_steps - 1; k >= 0; k--) {
        rp_bop ops[3];
        int m = rp_step_bwd_ops(g, &plan->steps[k], plain, ops);
        for (int j = 0; j < m; j++) run_bop(g, &ops[j], &p, dx);
        if (param_grads && g->grad_ready) g->grad_ready(g->grad_ready_arg, g->nodes[plan->steps[k].node].first_param);
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

void rp_graph_set_grad_ready(rp_graph *g, void (*fn)(void *arg, int first), void *arg)
{
    g->grad_ready = fn;
    g->grad_ready_arg = fn ? arg : NULL;
}

void rp_graph_zero_grad(rp_graph *g)
{
#pragma omp parallel for schedule(dynamic) if (g->n_params > 8)
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
