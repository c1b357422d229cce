/* The execution plan: what a forward (and the backward after it) runs, as a list of steps.
 *
 * rp_graph_finalize builds plans from the graph's structure; a plan is a list of steps in node
 * order, each covering consecutive nodes [node, last]: a layer alone, or several layers done as
 * one (a conv and the batch norm and ReLU/ReLU6 after it, a chain of such units). The run loops
 * (nn/graph.c) are switches over the steps' kinds. Each step's backward is a short list of
 * operations (rp_bop), each naming the gradient it reads and the gradients it writes; the
 * gradient buffers' lifetimes, and so which of them may share memory, are derived from those
 * lists (rp_plan_assign_slots) — the same lists the backward runs. Likewise each step's forward
 * names the outputs it reads and writes (rp_step_fwd_io), and an inference forward's outputs
 * share memory by the lifetimes derived from those (rp_plan_assign_outputs).
 *
 * Adding a fusion means a step kind: where the builder takes it (rp_plan_build), its forward and
 * its backward operations (nn/graph.c), and its kernel. */
#ifndef RP_NN_PLAN_H
#define RP_NN_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef enum rp_step_kind {
    RP_STEP_LAYER,         /* one node's forward and backward */
    RP_STEP_LAYER_ACT,     /* a conv or batch norm and the ReLU/ReLU6 after it: one pass writes the
                            * activation's output (the layer's own is never written); backward: a
                            * batch norm applies the activation's mask itself (training: from bits) */
    RP_STEP_CONV_BN_EVAL,  /* evaluation: a conv, the batch norm after it and that one's ReLU/ReLU6,
                            * on each block of output rows while it is in cache */
    RP_STEP_CONV_BN_SUMS,  /* training: the conv forms the batch norm's per-sample statistics while
                            * each sample is in cache, then the batch norm (and its ReLU/ReLU6) */
    RP_STEP_CONV_BN_TRAIN, /* training: a widening pointwise conv does the batch norm after it
                            * (kernels/pwbn.h): statistics from its input's moments, its output
                            * never formed; one backward for both */
    RP_STEP_CHAIN,         /* evaluation: a chain (rp_chain) run as one kernel, a tile at a time */
    RP_STEP_DW_BN_TRAIN,   /* training: RP_STEP_CONV_BN_SUMS for a depthwise conv and a batch norm with a
                            * ReLU/ReLU6, whose backward is one operation: the conv's, forming the batch
                            * norm's input gradient a tile at a time (never written; nn/fused.h) */
    RP_STEP_KINDS
} rp_step_kind;

typedef struct rp_step {
    rp_step_kind kind;
    int node;     /* its first node: the layer, the conv, or the chain's first */
    int last;     /* its last node, whose output it writes */
    int bn, act;  /* the batch norm and the ReLU/ReLU6 it does after node, or -1 */
    bool act_bwd; /* its backward does act's too (false: the max-pool after act does) */
    int act_in;   /* a max-pool: the ReLU/ReLU6 before it whose backward it does, or -1 */
    int pool;     /* the max-pool after act that a conv's forward does a sample at a time while
                   * the sample is in cache (then last), or -1; its backward does act's */
    int chain;    /* RP_STEP_CHAIN: the index in rp_graph.chains, else -1 */
} rp_step;

/* What a forward runs: training, evaluation (chains, convs doing their batch norms), and the
 * evaluation forwards a backward re-runs when it needs what those never wrote: without chains
 * (guided backpropagation, every node's gradient), and without folds (parameter gradients). */
typedef enum rp_plan_kind {
    RP_PLAN_TRAIN,
    RP_PLAN_EVAL,
    RP_PLAN_EVAL_UNCHAINED,
    RP_PLAN_EVAL_PARAMS,
    RP_PLAN_KINDS
} rp_plan_kind;

/* rp_graph.options: switches for tests and benchmarks (0, the default, takes every fusion
 * where it applies). Set between passes; plans are rebuilt when they change. */
enum {
    RP_OPT_NO_FUSION = 1u << 0,       /* every node its own step (the plain run) */
    RP_OPT_NO_CHAIN = 1u << 1,        /* evaluation without chains (rampart bench --chains=false) */
    RP_OPT_NO_TRAIN_FOLD = 1u << 2,   /* training without RP_STEP_CONV_BN_TRAIN (--train-fold=false) */
    RP_OPT_TRAIN_FOLD_ALWAYS = 1u << 3, /* ... with it wherever it applies, whether it pays or not */
    RP_OPT_ZERO_DX = 1u << 4,         /* backward zeroes every gradient buffer and adds (no writes) */
    RP_OPT_NO_DW_BN = 1u << 5,        /* training without RP_STEP_DW_BN_TRAIN (--dw-bn=false) */
};

typedef struct rp_plan {
    rp_plan_kind kind;
    int B;            /* the batch it was built for; 0: any (every training fold that may apply) */
    unsigned options; /* the rp_graph.options it was built with */
    int stamp;        /* rp_graph.plan_stamp when built (changes with rp_graph_keep) */
    bool built;
    rp_step *steps;   /* capacity: one per node */
    int n_steps;
} rp_plan;

/* One operation of a step's backward (see rp_step_bwd_ops). */
typedef enum rp_bop_kind {
    RP_BOP_NODE,     /* node's own backward */
    RP_BOP_BN_ACT,   /* batch norm node with the ReLU/ReLU6 after it (act): reads act's gradient */
    RP_BOP_POOL_ACT, /* max-pool node and the ReLU/ReLU6 before it (act): writes act's input's gradient */
    RP_BOP_CONV_BN,  /* conv node and its batch norm (bn) folded in training: reads grad's gradient
                      * (masked with act's bits when act >= 0) */
    RP_BOP_CHAIN,    /* chain: reads its last node's gradient, writes its input's */
    RP_BOP_DW_BN,    /* depthwise conv node, its batch norm (bn) and that one's ReLU/ReLU6 (act) in
                      * training: reads act's gradient, writes the conv input's */
} rp_bop_kind;

typedef struct rp_bop {
    rp_bop_kind kind;
    int node, bn, act, grad, chain;
} rp_bop;

struct rp_graph;

/* Builds p for kind, batch B (0: any) and the graph's options and kept nodes. No allocation
 * once the steps exist. */
void rp_plan_build(struct rp_graph *g, rp_plan *p, rp_plan_kind kind, int B);
/* The plan of that kind for batch B, rebuilt when the batch (training), the options or the kept
 * nodes changed. */
const rp_plan *rp_graph_plan(struct rp_graph *g, rp_plan_kind kind, int B);
/* Steps of plan p of the given kind. */
int rp_plan_count(const rp_plan *p, rp_step_kind kind);
/* Steps of p whose backward has a batch norm apply its ReLU/ReLU6's mask (RP_BOP_BN_ACT,
 * RP_BOP_DW_BN or a masked RP_BOP_CONV_BN), max-pools that do the ReLU's backward before them,
 * and max-pools done by the conv before them (rp_step.pool; counted in the second too). */
int rp_plan_count_act_bwd(const struct rp_graph *g, const rp_plan *p);
int rp_plan_count_pool_act(const rp_plan *p);
int rp_plan_count_conv_pool(const rp_plan *p);
const char *rp_step_kind_name(rp_step_kind kind);

/* The backward of step s, in the order it runs (at most 3 operations). plain: no backward
 * fusion (guided backpropagation, every node's gradient): each ReLU/ReLU6 runs its own. */
int rp_step_bwd_ops(const struct rp_graph *g, const rp_step *s, bool plain, rp_bop *ops);

/* What step s's forward reads and writes: the outputs of the nodes outside the step that its
 * nodes read (the graph input left out), and the outputs it writes (its last node's; the conv's
 * too in RP_STEP_CONV_BN_SUMS and RP_STEP_DW_BN_TRAIN, the activation's before a pool the step
 * does). The inference forward's output lifetimes
 * are derived from it. */
#define RP_STEP_MAX_READS 4
typedef struct rp_step_io {
    int reads[RP_STEP_MAX_READS], n_reads;
    int writes[2], n_writes;
} rp_step_io;
void rp_step_fwd_io(const struct rp_graph *g, const rp_step *s, rp_step_io *io);
/* Output lifetimes over plan p's forward (rp_step_fwd_io), in node indices: node i's output
 * lives from the first node of the first step that writes it (lo[i]) to the last node of the
 * last step that reads or writes it (hi[i]); lo[i] > hi[i]: p never writes it. */
void rp_plan_out_lives(const struct rp_graph *g, const rp_plan *p, int *lo, int *hi);
/* Inference slots (rp_node.y_slot, rp_graph.n_y_slots) for evaluation plan p: an inference
 * forward (rp_graph_infer), which no backward follows, keeps a node's output only while a later
 * step of p reads it (rp_plan_out_lives); outputs whose lives do not overlap share a slot. The
 * last node and kept nodes (rp_graph_keep) keep their own buffers, and p leaves a node it never
 * writes its own (y_slot -1 both). No allocation (rp_graph.y_work). */
void rp_plan_assign_outputs(struct rp_graph *g, const rp_plan *p);

/* Allocates every plan's steps and the per-node fused-step memory table (finalize). */
rp_status rp_plans_init(struct rp_graph *g);
void rp_plans_free(struct rp_graph *g);
/* Gradient slots (rp_node.dy_slot, rp_graph.n_dy_slots): each gradient lives from its first write
 * to its last read over the backward operations of every plan the graph may run; buffers whose
 * lives do not overlap share a slot. Kept nodes (rp_graph_keep) hold theirs to the end. */
rp_status rp_plan_assign_slots(struct rp_graph *g);
/* The memory the fused steps own, at batch B, over every training plan that may run: per node
 * (rp_graph.step_mem: a batch norm's activation mask, a training-fold conv's input moments), the
 * scratch floats and the batch-norm statistics doubles (rp_graph.bn_sums). m->node is OWNED by
 * the caller (free). */
typedef struct rp_plan_mem {
    size_t *node;
    size_t scratch, sums;
} rp_plan_mem;
rp_status rp_plan_mem_sizes(struct rp_graph *g, int B, rp_plan_mem *m);

#endif
