/* The execution plan (nn/plan.h): the builder, each step's backward operations, the gradient
 * lifetimes derived from them, and the memory the fused steps own. */
#include "nn/plan.h"

#include <stdlib.h>
#include <string.h>

#include "nn/chain.h"
#include "nn/fused.h"
#include "nn/graph.h"

static bool is_act(const rp_node *n) { return rp_node_act(n) != ACT_NONE; }
static bool is_conv(const rp_node *n) { return n->ops->kind == RP_LAYER_CONV2D; }
static bool is_bn(const rp_node *n) { return n->ops->kind == RP_LAYER_BATCHNORM2D; }

/* Node i + 1 is node i's only reader, with node i its only input. */
static bool feeds_next(const rp_graph *g, int i)
{
    return i + 1 < g->n_nodes && g->nodes[i].n_readers == 1 && g->nodes[i].last_reader == i + 1 &&
           g->nodes[i + 1].n_in == 1;
}

/* The ReLU/ReLU6 right after node i whose forward i can do (writing its output, never its own),
 * or -1: i is not kept, and the activation is read (or is the last node). */
static int act_after(const rp_graph *g, int i)
{
    if (!feeds_next(g, i) || g->nodes[i].keep_y || !is_act(&g->nodes[i + 1])) return -1;
    return g->nodes[i + 1].n_readers > 0 || i + 1 == g->n_nodes - 1 ? i + 1 : -1;
}

/* The batch norm right after conv node i (its only reader), or -1. */
static int bn_after(const rp_graph *g, int i)
{
    return is_conv(&g->nodes[i]) && feeds_next(g, i) && is_bn(&g->nodes[i + 1]) ? i + 1 : -1;
}

/* The step starting at node i. */
static rp_step step_at(rp_graph *g, const rp_plan *p, int i)
{
    rp_step s = {.kind = RP_STEP_LAYER, .node = i, .last = i, .bn = -1, .act = -1, .act_bwd = true, .act_in = -1,
                 .pool = -1, .chain = -1};
    if (p->options & RP_OPT_NO_FUSION) return s;
    bool eval = p->kind != RP_PLAN_TRAIN, fold = p->kind == RP_PLAN_EVAL || p->kind == RP_PLAN_EVAL_UNCHAINED;
    int c = p->kind == RP_PLAN_EVAL && !(p->options & RP_OPT_NO_CHAIN) ? rp_chain_starting_at(g, i) : -1;
    if (c >= 0 && rp_chain_usable(g, &g->chains[c])) {
        s.kind = RP_STEP_CHAIN, s.chain = c, s.last = g->chains[c].last;
        return s;
    }
    const rp_node *n = &g->nodes[i];
    int bn = bn_after(g, i);
    bool kept = bn >= 0 && (n->keep_y || g->nodes[bn].keep_y);
    if (bn >= 0 && eval && fold && !kept) {
        s.kind = RP_STEP_CONV_BN_EVAL;
    } else if (bn >= 0 && !eval && !kept && !(p->options & RP_OPT_NO_TRAIN_FOLD) &&
               rp_conv2d_bn_train_applies(n, p->B, (p->options & RP_OPT_TRAIN_FOLD_ALWAYS) != 0)) {
        s.kind = RP_STEP_CONV_BN_TRAIN;
    } else if (bn >= 0 && !eval && rp_conv2d_forms_sums(n)) {
        s.kind = RP_STEP_CONV_BN_SUMS;
    } else {
        s.act = (is_conv(n) || is_bn(n)) ? act_after(g, i) : -1;
        if (s.act >= 0) s.kind = RP_STEP_LAYER_ACT, s.last = s.act;
        return s;
    }
    s.bn = s.last = bn;
    s.act = act_after(g, bn);
    if (s.act >= 0) s.last = s.act;
    if (s.kind == RP_STEP_CONV_BN_SUMS && s.act >= 0 && !(p->options & RP_OPT_NO_DW_BN) && rp_conv2d_dw_bn_applies(n))
        s.kind = RP_STEP_DW_BN_TRAIN;
    return s;
}

void rp_plan_build(rp_graph *g, rp_plan *p, rp_plan_kind kind, int B)
{
    p->kind = kind, p->B = B, p->options = g->options, p->stamp = g->plan_stamp;
    p->n_steps = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        rp_step s = step_at(g, p, i);
        p->steps[p->n_steps++] = s;
        i = s.last;
    }
    /* a max-pool right after a ReLU/ReLU6 that a step did (its only reader) does that
     * activation's backward with its own; the step then leaves it */
    for (int k = 0; k + 1 < p->n_steps; k++) {
        rp_step *s = &p->steps[k], *t = &p->steps[k + 1];
        if (s->act < 0 || s->act != s->last || t->kind != RP_STEP_LAYER || t->node != s->act + 1 ||
            !feeds_next(g, s->act) || g->nodes[s->act].keep_y || g->nodes[t->node].ops->kind != RP_LAYER_MAXPOOL2D)
            continue;
        s->act_bwd = false;
        if (s->kind == RP_STEP_DW_BN_TRAIN) s->kind = RP_STEP_CONV_BN_SUMS; /* the pool does the mask */
        if (s->kind == RP_STEP_LAYER_ACT && is_conv(&g->nodes[s->node])) {
            /* the conv pools each sample while it is in cache: the pool's step joins this one */
            s->pool = s->last = t->node;
            memmove(t, t + 1, (size_t)(p->n_steps - k - 2) * sizeof *t);
            p->n_steps--;
        } else {
            t->act_in = s->act;
        }
    }
    p->built = true;
}

const rp_plan *rp_graph_plan(rp_graph *g, rp_plan_kind kind, int B)
{
    rp_plan *p = &g->plans[kind];
    if (!p->built || p->options != g->options || p->stamp != g->plan_stamp || (kind == RP_PLAN_TRAIN && p->B != B))
        rp_plan_build(g, p, kind, kind == RP_PLAN_TRAIN ? B : 0);
    return p;
}

int rp_plan_count(const rp_plan *p, rp_step_kind kind)
{
    int n = 0;
    for (int k = 0; k < p->n_steps; k++) n += p->steps[k].kind == kind;
    return n;
}

int rp_plan_count_act_bwd(const rp_graph *g, const rp_plan *p)
{
    int n = 0;
    for (int k = 0; k < p->n_steps; k++) {
        rp_bop ops[3];
        int m = rp_step_bwd_ops(g, &p->steps[k], false, ops);
        for (int j = 0; j < m; j++)
            n += ops[j].kind == RP_BOP_BN_ACT || ops[j].kind == RP_BOP_DW_BN ||
                 (ops[j].kind == RP_BOP_CONV_BN && ops[j].act >= 0);
    }
    return n;
}

int rp_plan_count_pool_act(const rp_plan *p)
{
    int n = 0;
    for (int k = 0; k < p->n_steps; k++) n += p->steps[k].act_in >= 0 || p->steps[k].pool >= 0;
    return n;
}

int rp_plan_count_conv_pool(const rp_plan *p)
{
    int n = 0;
    for (int k = 0; k < p->n_steps; k++) n += p->steps[k].pool >= 0;
    return n;
}

const char *rp_step_kind_name(rp_step_kind kind)
{
    static const char *names[RP_STEP_KINDS] = {"layer", "layer+act", "conv+bn eval", "conv+bn sums",
                                               "conv+bn train", "chain", "dw+bn train"};
    return kind < RP_STEP_KINDS ? names[kind] : "?";
}

static rp_bop bop(rp_bop_kind kind, int node)
{
    return (rp_bop){.kind = kind, .node = node, .bn = -1, .act = -1, .grad = node, .chain = -1};
}

int rp_step_bwd_ops(const rp_graph *g, const rp_step *s, bool plain, rp_bop *ops)
{
    int m = 0;
    /* the step's activation: its own backward (plain, or a conv's), the batch norm's, or the
     * max-pool's after it (!act_bwd) */
    bool own_act = s->act >= 0 && (plain || (s->act_bwd && !is_bn(&g->nodes[s->act - 1])));
    bool bn_act = s->act >= 0 && !plain && s->act_bwd && is_bn(&g->nodes[s->act - 1]);
    if (s->pool >= 0 && plain) { /* the pool first: it reads the step's last gradient */
        ops[m++] = bop(RP_BOP_NODE, s->pool);
    } else if (s->pool >= 0) {
        ops[m] = bop(RP_BOP_POOL_ACT, s->pool);
        ops[m++].act = s->act;
    }
    switch (s->kind) {
    case RP_STEP_LAYER:
        if (s->act_in >= 0 && !plain) {
            ops[m] = bop(RP_BOP_POOL_ACT, s->node);
            ops[m++].act = s->act_in;
        } else {
            ops[m++] = bop(RP_BOP_NODE, s->node);
        }
        break;
    case RP_STEP_DW_BN_TRAIN:
        if (bn_act) {
            ops[m] = bop(RP_BOP_DW_BN, s->node);
            ops[m].bn = s->bn, ops[m].act = s->act, ops[m++].grad = s->act;
            break;
        }
        /* plain: as RP_STEP_CONV_BN_SUMS */
        /* fall through */
    case RP_STEP_LAYER_ACT:
    case RP_STEP_CONV_BN_EVAL:
    case RP_STEP_CONV_BN_SUMS: {
        int layer = s->bn >= 0 ? s->bn : s->node; /* the node the activation follows */
        if (own_act) ops[m++] = bop(RP_BOP_NODE, s->act);
        if (bn_act) {
            ops[m] = bop(RP_BOP_BN_ACT, layer);
            ops[m].act = s->act, ops[m++].grad = s->act;
        } else {
            ops[m++] = bop(RP_BOP_NODE, layer);
        }
        if (s->bn >= 0) ops[m++] = bop(RP_BOP_NODE, s->node);
        break;
    }
    case RP_STEP_CONV_BN_TRAIN:
        if (own_act) ops[m++] = bop(RP_BOP_NODE, s->act);
        ops[m] = bop(RP_BOP_CONV_BN, s->node);
        ops[m].bn = s->bn;
        ops[m].act = bn_act ? s->act : -1;
        ops[m++].grad = bn_act ? s->act : s->bn;
        break;
    case RP_STEP_CHAIN:
        RP_ASSERT(!plain);
        ops[m] = bop(RP_BOP_CHAIN, s->last);
        ops[m++].chain = s->chain;
        break;
    case RP_STEP_KINDS: RP_ASSERT(!"step kind");
    }
    return m;
}

/* Lifetimes ----------------------------------------------------------------------------- */

/* The backward runs the steps from last to first and each step's operations in order; an
 * operation runs at the index of its node (a chain's spans its nodes), so node indices order
 * them all, in every plan. Gradient i lives from its first write (hi[i], the highest index)
 * to its last read (lo[i], the lowest). */
static void touch(int *lo, int *hi, int i, int t, bool write)
{
    if (i == RP_INPUT) return;
    if (write && t > hi[i]) hi[i] = t;
    if (!write && t < lo[i]) lo[i] = t;
}

static void bop_lives(const rp_graph *g, const rp_bop *o, int *lo, int *hi)
{
    const rp_node *n = &g->nodes[o->node];
    switch (o->kind) {
    case RP_BOP_NODE:
        touch(lo, hi, o->node, o->node, false);
        if (n->last_reader < 0 && o->node != g->n_nodes - 1) touch(lo, hi, o->node, o->node, true); /* zeroed */
        for (int k = 0; k < n->n_in; k++) touch(lo, hi, n->in[k], o->node, true);
        break;
    case RP_BOP_BN_ACT:
    case RP_BOP_CONV_BN:
    case RP_BOP_DW_BN:
        touch(lo, hi, o->grad, o->node, false);
        touch(lo, hi, n->in[0], o->node, true);
        break;
    case RP_BOP_POOL_ACT:
        touch(lo, hi, o->node, o->node, false);
        touch(lo, hi, g->nodes[o->act].in[0], o->node, true);
        break;
    case RP_BOP_CHAIN: {
        const rp_chain *c = &g->chains[o->chain];
        touch(lo, hi, c->last, c->first, false);
        touch(lo, hi, c->input, c->last, true);
        break;
    }
    }
}

/* Every plan the graph may run, with any options, at any batch (B = 0: every training fold
 * that may apply; with RP_OPT_NO_TRAIN_FOLD, none), backward plain or fused. */
static void all_lives(rp_graph *g, rp_plan *p, int *lo, int *hi)
{
    static const unsigned OPTS[] = {0, RP_OPT_NO_TRAIN_FOLD, RP_OPT_NO_FUSION};
    unsigned kept = g->options;
    for (int i = 0; i < g->n_nodes; i++) lo[i] = g->n_nodes + 1, hi[i] = -1;
    hi[g->n_nodes - 1] = g->n_nodes; /* the seed, before the first step */
    for (size_t o = 0; o < sizeof OPTS / sizeof OPTS[0]; o++)
        for (int kind = 0; kind < RP_PLAN_KINDS; kind++) {
            g->options = OPTS[o] | RP_OPT_TRAIN_FOLD_ALWAYS;
            rp_plan_build(g, p, (rp_plan_kind)kind, 0);
            for (int plain = 0; plain < 2; plain++)
                for (int k = 0; k < p->n_steps; k++) {
                    if (plain && p->steps[k].kind == RP_STEP_CHAIN) continue; /* never: re-run unchained */
                    rp_bop ops[3];
                    int m = rp_step_bwd_ops(g, &p->steps[k], plain, ops);
                    for (int j = 0; j < m; j++) bop_lives(g, &ops[j], lo, hi);
                }
        }
    g->options = kept;
}

/* Slots for the gradient buffers: walking the times from last to first, a node takes a free
 * slot when its gradient's life starts (the smallest free one that is large enough, else the
 * largest free one, which grows) and frees it after its life ends. Kept nodes hold theirs. */
rp_status rp_plan_assign_slots(rp_graph *g)
{
    int N = g->n_nodes, n_slots = 0;
    size_t *size = calloc((size_t)N, sizeof *size);
    bool *busy = calloc((size_t)N, sizeof *busy);
    int *lo = malloc((size_t)N * sizeof *lo), *hi = malloc((size_t)N * sizeof *hi);
    rp_plan scratch = {.steps = malloc((size_t)N * sizeof(rp_step))};
    if (!size || !busy || !lo || !hi || !scratch.steps) {
        free(size), free(busy), free(lo), free(hi), free(scratch.steps);
        return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory planning gradient buffers");
    }
    all_lives(g, &scratch, lo, hi);
    for (int t = N; t >= 0; t--) {
        for (int i = 0; i < N; i++) {
            if (hi[i] != t) continue;
            RP_ASSERT(lo[i] <= hi[i]);
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
    free(size), free(busy), free(lo), free(hi), free(scratch.steps);
    return RP_OK;
}

/* Inference outputs ---------------------------------------------------------------------- */

void rp_step_fwd_io(const rp_graph *g, const rp_step *s, rp_step_io *io)
{
    io->n_reads = io->n_writes = 0;
    io->writes[io->n_writes++] = s->last;
    if (s->kind == RP_STEP_CONV_BN_SUMS || s->kind == RP_STEP_DW_BN_TRAIN)
        io->writes[io->n_writes++] = s->node; /* the batch norm's input */
    if (s->pool >= 0) io->writes[io->n_writes++] = s->act; /* the pool's input */
    /* a step's nodes are consecutive, so what it reads from outside lies before s->node (a
     * chain's nodes read only each other and the chain's input) */
    for (int j = s->node; j <= s->last; j++)
        for (int k = 0; k < g->nodes[j].n_in; k++) {
            int src = g->nodes[j].in[k];
            if (src == RP_INPUT || src >= s->node) continue;
            bool seen = false;
            for (int r = 0; r < io->n_reads; r++) seen |= io->reads[r] == src;
            if (seen) continue;
            RP_ASSERT(io->n_reads < RP_STEP_MAX_READS);
            io->reads[io->n_reads++] = src;
        }
}

/* Widens lo/hi by plan p's output lives (see rp_plan_out_lives). */
static void add_out_lives(const rp_graph *g, const rp_plan *p, int *lo, int *hi)
{
    for (int k = 0; k < p->n_steps; k++) {
        const rp_step *s = &p->steps[k];
        rp_step_io io;
        rp_step_fwd_io(g, s, &io);
        for (int w = 0; w < io.n_writes; w++) {
            if (s->node < lo[io.writes[w]]) lo[io.writes[w]] = s->node;
            if (s->last > hi[io.writes[w]]) hi[io.writes[w]] = s->last;
        }
        for (int r = 0; r < io.n_reads; r++)
            if (s->last > hi[io.reads[r]]) hi[io.reads[r]] = s->last;
    }
}

void rp_plan_out_lives(const rp_graph *g, const rp_plan *p, int *lo, int *hi)
{
    for (int i = 0; i < g->n_nodes; i++) lo[i] = g->n_nodes, hi[i] = -1;
    add_out_lives(g, p, lo, hi);
}

/* Slots for the inference outputs: walking the node indices forward, a node takes a free slot
 * when its output's life starts (the smallest free one that is large enough, else the largest
 * free one, which grows) and frees it after its life ends; a slot is free again only after the
 * index where its last life ended, so a step never writes the buffer it reads. */
void rp_plan_assign_outputs(rp_graph *g, const rp_plan *p)
{
    int N = g->n_nodes, n_slots = 0;
    int *lo = g->y_work, *hi = lo + N, *busy = hi + N;
    size_t *size = g->y_work_sizes;
    rp_plan_out_lives(g, p, lo, hi);
    for (int i = 0; i < N; i++) {
        g->nodes[i].y_slot = -1;
        if (!rp_node_shares_y(g, i)) lo[i] = N, hi[i] = -1; /* its own buffer */
    }
    for (int t = 0; t < N; t++) {
        for (int i = 0; i < N; i++) {
            if (lo[i] != t) continue;
            size_t need = rp_shape_numel(g->nodes[i].out_shape);
            int best = -1;
            for (int s = 0; s < n_slots; s++) {
                if (busy[s]) continue;
                bool fits = size[s] >= need, best_fits = best >= 0 && size[best] >= need;
                if (best < 0 || (fits && (!best_fits || size[s] < size[best])) || (!fits && !best_fits && size[s] > size[best]))
                    best = s;
            }
            if (best < 0) best = n_slots++, size[best] = 0;
            if (size[best] < need) size[best] = need;
            busy[best] = true;
            g->nodes[i].y_slot = best;
        }
        for (int i = 0; i < N; i++)
            if (hi[i] == t) busy[g->nodes[i].y_slot] = false;
    }
    g->n_y_slots = n_slots;
}

/* Fused steps' memory ----------------------------------------------------------------- */

static void step_mem(const rp_graph *g, const rp_step *s, int B, rp_plan_mem *m)
{
    size_t f;
    int bn = s->kind == RP_STEP_LAYER_ACT ? s->node : s->bn; /* a batch norm keeps its activation's mask */
    if (s->act >= 0 && bn >= 0 && is_bn(&g->nodes[bn]) && (f = rp_bn_mask_floats(&g->nodes[bn], B)) > m->node[bn])
        m->node[bn] = f;
    if (s->kind == RP_STEP_CONV_BN_TRAIN) {
        if ((f = rp_conv2d_bn_train_mem_floats(&g->nodes[s->node])) > m->node[s->node]) m->node[s->node] = f;
        if ((f = rp_conv2d_bn_train_scratch_floats(&g->nodes[s->node], B)) > m->scratch) m->scratch = f;
    }
    if (s->kind == RP_STEP_DW_BN_TRAIN) { /* the batch norm's work (its map), then the conv's */
        f = rp_bn_map_floats(&g->nodes[s->bn], B) +
            rp_conv2d_dw_bn_scratch_floats(&g->nodes[s->node], B, g->scratch_threads);
        if (f > m->scratch) m->scratch = f;
    }
    bool sums = s->kind == RP_STEP_CONV_BN_SUMS || s->kind == RP_STEP_DW_BN_TRAIN;
    size_t d = sums                               ? (size_t)2 * B * g->nodes[s->bn].out_shape.C
               : s->kind == RP_STEP_CONV_BN_TRAIN ? (size_t)2 * g->nodes[s->bn].out_shape.C
                                                  : 0;
    if (d > m->sums) m->sums = d;
}

/* Over the training plans that may run at batch B (every fold that may apply, and none). */
rp_status rp_plan_mem_sizes(rp_graph *g, int B, rp_plan_mem *m)
{
    rp_plan p = {.steps = malloc((size_t)g->n_nodes * sizeof(rp_step))};
    m->node = calloc((size_t)g->n_nodes, sizeof *m->node);
    m->scratch = m->sums = 0;
    if (!p.steps || !m->node) {
        free(p.steps), free(m->node);
        m->node = NULL;
        return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory planning");
    }
    unsigned kept = g->options;
    for (int o = 0; o < 2; o++) {
        g->options = (o ? RP_OPT_NO_TRAIN_FOLD : 0) | RP_OPT_TRAIN_FOLD_ALWAYS;
        rp_plan_build(g, &p, RP_PLAN_TRAIN, 0);
        for (int k = 0; k < p.n_steps; k++) step_mem(g, &p.steps[k], B, m);
    }
    g->options = kept;
    free(p.steps);
    return RP_OK;
}

rp_status rp_plans_init(rp_graph *g)
{
    rp_plans_free(g);
    for (int k = 0; k < RP_PLAN_KINDS; k++) {
        g->plans[k].steps = malloc((size_t)g->n_nodes * sizeof(rp_step));
        if (!g->plans[k].steps) return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory planning");
    }
    g->step_mem = calloc((size_t)g->n_nodes, sizeof *g->step_mem);
    g->y_work = malloc((size_t)3 * g->n_nodes * sizeof *g->y_work);
    g->y_work_sizes = malloc((size_t)g->n_nodes * sizeof *g->y_work_sizes);
    if (!g->step_mem || !g->y_work || !g->y_work_sizes) return rp_fail(g->ctx, RP_ERR_NOMEM, "graph: out of memory planning");
    return RP_OK;
}

void rp_plans_free(rp_graph *g)
{
    for (int k = 0; k < RP_PLAN_KINDS; k++) {
        free(g->plans[k].steps);
        g->plans[k] = (rp_plan){0};
    }
    free(g->step_mem);
    free(g->y_work);
    free(g->y_work_sizes);
    g->step_mem = NULL;
    g->y_work = NULL;
    g->y_work_sizes = NULL;
    g->last_plan = NULL;
}
