/* The static graph: nodes in topological order (each node's inputs come before it),
 * parameters registered by name with PyTorch shapes, arenas sized at finalize.
 *
 * A layer is one file in src/nn/ that provides
 *   - a constructor rp_g_<layer>(g, input node(s), name, config...) returning the new
 *     node index (or -1 with g->status set), which computes the output shape and
 *     registers parameters, and
 *   - an rp_layer_ops table: forward and backward side by side.
 * What runs is the execution plan (nn/plan.h), built from the nodes: each layer alone, or a few
 * done as one (fusions); the layer table and the nodes know nothing of fusions.
 * Node index -1 (RP_INPUT) is the graph input. */
#ifndef RP_NN_GRAPH_H
#define RP_NN_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/rng.h"
#include "core/status.h"
#include "nn/plan.h"

#define RP_INPUT (-1)
#define RP_MAX_IN 4 /* concat takes up to this many; the other layers one or two */

typedef struct rp_shape {
    int H, W, C; /* per-sample NHWC shape; the batch is separate */
} rp_shape;

static inline size_t rp_shape_numel(rp_shape s) { return (size_t)s.H * s.W * s.C; }

/* How a parameter's memory relates to PyTorch's layout for the same tensor. */
typedef enum rp_layout {
    RP_LAYOUT_TORCH, /* same as PyTorch */
    RP_LAYOUT_OHWI,  /* PyTorch (O, I, KH, KW) stored as (O, KH, KW, I) */
} rp_layout;

typedef enum rp_init {
    RP_INIT_ZERO,
    RP_INIT_ONE,
    RP_INIT_UNIFORM, /* U(-scale, scale) */
    RP_INIT_NORMAL,  /* N(0, scale^2) */
} rp_init;

typedef struct rp_param {
    char name[64];     /* PyTorch state_dict key */
    float *data;       /* value, in `layout` */
    float *grad;       /* same size; NULL for buffers */
    size_t numel;
    int ndim;
    int64_t shape[4];  /* PyTorch's shape */
    rp_layout layout;
    bool trainable;    /* false for buffers (BatchNorm running statistics) */
    bool is_int64;     /* stored as I64 in checkpoints (num_batches_tracked) */
    bool frozen;       /* no gradient, no update */
    bool no_decay;     /* weight decay skipped (not used by default: PyTorch decays all) */
    rp_init init;
    float init_scale;
} rp_param;

typedef struct rp_node rp_node;

struct rp_dist;

/* Data-parallel batch norm (rp_graph_set_dist): a training pass's batch statistics and the
 * backward's per-channel sums are the whole job's, combined over the processes by the batch
 * norms themselves (nn/batchnorm.c), one small collective each per pass. */
typedef struct rp_bn_sync {
    struct rp_dist *dist; /* BORROWED */
    double *buf;          /* (1 + size) x (1 + 2 Cmax): this process's moments, then every process's */
    rp_status status;     /* the first failed collective since rp_graph_sync_status cleared it */
} rp_bn_sync;

/* Dropout and stochastic depth draw each row's masks from the row's own stream (rp_pass_row_rng):
 * row r of a training pass is copy r / n of example r % n of the examples named last
 * (rp_graph_set_examples), its key hashed from (the caller's key, the example's index, the
 * training pass since they were named, the copy). Unnamed, the rows are numbered on from
 * `next` across passes, under a key from the graph's seed. */
typedef struct rp_row_keys {
    uint64_t seed;     /* the graph's (rp_graph_finalize): unnamed rows' key */
    uint64_t *example; /* (max_batch) the named examples' keys, hashed from (key, index) */
    int n;             /* named examples; -1: none named, rows numbered on from next */
    uint64_t pass;     /* training forwards since they were named */
    uint64_t next;     /* unnamed: the next row's number */
    uint64_t *row;     /* (max_batch) this training pass's row keys (rp_pass.row_keys) */
} rp_row_keys;

/* One pass's settings, shared by all nodes. */
typedef struct rp_pass {
    int B;             /* batch size of this pass (<= max batch; 0 only for a process with an empty piece) */
    bool train;        /* batch statistics, dropout */
    bool masks_off;    /* dropout and stochastic depth as in evaluation (test-time batch-norm adaptation) */
    bool param_grads;  /* backward: accumulate parameter gradients */
    bool guided;       /* backward: guided-backprop rule in ReLU/ReLU6 (rp_graph_backward_guided) */
    const uint64_t *row_keys; /* training forward: (B) each row's key for its random masks (rp_pass_row_rng) */
    rp_bn_sync *sync;  /* training batch norms over several processes, or NULL */
} rp_pass;

/* What a layer is: the plan builder, the explainers and the tools tell layers apart by it. */
typedef enum rp_layer_kind {
    RP_LAYER_CONV2D,
    RP_LAYER_LINEAR,
    RP_LAYER_BATCHNORM2D,
    RP_LAYER_RELU,
    RP_LAYER_RELU6,
    RP_LAYER_MAXPOOL2D,
    RP_LAYER_AVGPOOL2D,
    RP_LAYER_GLOBAL_AVGPOOL,
    RP_LAYER_ADD,
    RP_LAYER_DROPOUT,
    RP_LAYER_FLATTEN,
    RP_LAYER_NORMALIZE,
    RP_LAYER_SILU,
    RP_LAYER_SIGMOID,
    RP_LAYER_CHANNEL_MUL,
    RP_LAYER_CONCAT,
    RP_LAYER_STOCHASTIC_DEPTH,
    RP_LAYER_OTHER, /* a layer of a test's own */
} rp_layer_kind;

typedef struct rp_layer_ops {
    rp_layer_kind kind;
    const char *name; /* the kind in messages and tables: "conv2d", "batchnorm2d", ... */
    /* floats to keep from forward for backward, for a batch of B */
    size_t (*saved_floats)(const rp_node *n, int B);
    /* floats of temporary workspace, for a batch of B (shared by all nodes) */
    size_t (*scratch_floats)(const rp_node *n, int B);
    /* y = f(x) for p->B samples */
    void (*forward)(rp_node *n, const rp_pass *p);
    /* dx[i] += J^T dy (dx[i] may be NULL: skip), or, where n->dx_write[i], dx[i] = 0 + J^T dy (the
     * bits that adding into zeros would give: the graph need not zero the buffer first); param
     * grads += when p->param_grads */
    void (*backward)(rp_node *n, const rp_pass *p);
} rp_layer_ops;

/* A run of nodes the graph may do as one kernel in evaluation mode (kernels/chain.h, planned
 * by nn/chain.c): units of conv (pointwise or depthwise), batch norm and optional ReLU/ReLU6
 * at consecutive indices, the last without activation, then optionally a residual add of the
 * chain's input. Nothing outside reads the nodes inside, and only the chain reads its input. */
#define RP_CHAIN_MAX 4
typedef struct rp_chain {
    int input;                /* the chain's input node (RP_INPUT: the graph input) */
    int first, last;          /* its nodes: the first conv .. the last batch norm or the add */
    int n;                    /* units */
    int conv[RP_CHAIN_MAX], bn[RP_CHAIN_MAX], act[RP_CHAIN_MAX]; /* act: -1 for none */
    bool residual;
    bool ran;                 /* the last forward ran it as one */
    uint8_t *masks;           /* its activations' masks from that forward (in the activation arena) */
    double ms_fwd, ms_bwd;    /* while g->profile is set (the caller zeroes them): as rp_node's */
    int n_fwd, n_bwd;
    double flop_fwd, flop_bwd; /* its nodes' forward FLOPs, once per forward and per input gradient */
} rp_chain;

struct rp_node {
    const rp_layer_ops *ops;
    char name[64];
    int in[RP_MAX_IN];     /* producer node indices, RP_INPUT for the graph input */
    int n_in;
    rp_shape in_shape[RP_MAX_IN];
    rp_shape out_shape;
    /* bound by the graph before each pass: */
    const float *x[RP_MAX_IN]; /* inputs (B, in_shape) */
    float *dx[RP_MAX_IN];      /* input gradients, NULL when not needed */
    bool dx_write[RP_MAX_IN];  /* dx[i] holds garbage: write it (see rp_layer_ops.backward) */
    float *y, *dy;             /* output and its gradient (B, out_shape): y is y_own, or y_infer
                                * while an inference forward's outputs are bound (rp_graph_infer) */
    float *y_own, *y_infer;    /* its own output buffer; its inference slot's (y_slot >= 0) */
    float *saved;              /* saved_floats(B) floats */
    float *scratch;            /* shared workspace */
    void *state;               /* layer-specific configuration */
    int index;                 /* its place in the graph: keys its random masks (rp_pass_row_rng) */
    rp_param *param;           /* this node's parameters, in registration order */
    int first_param, n_params;
    /* kept by the graph: */
    int last_reader;           /* highest index of a node reading y; -1 for none */
    int n_readers;             /* inputs (of all nodes) that read y */
    bool keep_y;               /* set by rp_graph_keep: y and dy read by the caller (CAM) */
    int dy_slot;               /* gradient buffers share slots when their lives do not overlap */
    int y_slot;                /* inference outputs likewise (rp_plan_assign_outputs); -1: y_own */
    bool bwd_run;              /* the last backward ran this node (see rp_graph_backward) */
    /* accumulated while g->profile is set (the caller zeroes them): wall time, forward
     * calls, backward products (one per input gradient, one for the parameter gradients), and
     * the FLOPs of those calls: a forward step's counts every node it covers (a conv and the
     * batch norm and activation it does), a backward product the node's forward FLOPs */
    double ms_fwd, ms_bwd;
    int n_fwd, n_bwd_terms;
    double flop_fwd, flop_bwd;
};

typedef struct rp_graph {
    rp_ctx *ctx;
    rp_status status;    /* first failure while building */
    rp_shape input_shape;
    rp_node *nodes;
    int n_nodes, cap_nodes;
    rp_param *params;
    int n_params, cap_params;
    int max_batch;
    rp_arena param_arena; /* values then gradients */
    rp_arena act_arena;   /* input, gradient slots, outputs (inference slots over the shared ones),
                           * saved, step memory, scratch */
    int n_dy_slots;
    int n_y_slots;         /* inference slots, overlaid on the shared outputs' own buffers: */
    float *y_shared;       /* those buffers (rp_node_shares_y), one block, zeroed at its first */
    size_t y_shared_floats; /* use by a forward other than rp_graph_infer (y_zeroed) */
    bool y_zeroed;
    bool y_infer;          /* the nodes' y are their inference slots' (the last forward was one) */
    bool y_planned;        /* the slots are those of the evaluation plan with these: */
    unsigned y_plan_options;
    int y_plan_stamp;
    int *y_work;           /* (3 n_nodes) and (n_nodes): rp_plan_assign_outputs' */
    size_t *y_work_sizes;
    float *input, *dinput; /* dinput: unused (backward writes into the caller's dx) */
    rp_row_keys masks;    /* where dropout and stochastic depth draw (rp_graph_set_examples) */
    int last_B;          /* batch of the last forward, for backward */
    bool last_train;
    bool finalized;
    int input_last_reader; /* highest index of a node reading the graph input */
    int input_readers;     /* inputs (of all nodes) that read the graph input */
    bool profile;          /* accumulate every node's ms_fwd, ms_bwd, n_fwd, n_bwd_terms */
    unsigned options;      /* RP_OPT_* (nn/plan.h): tests' and benchmarks' switches; 0 by default */
    rp_plan plans[RP_PLAN_KINDS]; /* built on demand (rp_graph_plan) */
    const rp_plan *last_plan;     /* the plan of the last forward */
    int plan_stamp;        /* bumped when the kept nodes change (plans are rebuilt) */
    float **step_mem;      /* per node: its fused steps' memory (rp_plan_node_mem_floats), or NULL */
    double *bn_sums;       /* a batch norm's statistics, formed by the conv before it */
    rp_bn_sync bn_sync;    /* dist set: batch norms' statistics over the job (rp_graph_set_dist) */
    void (*grad_ready)(void *arg, int first_param); /* rp_graph_set_grad_ready, or NULL */
    void *grad_ready_arg;
    bool bn_adapting;      /* rp_graph_bn_adapt: training passes leave dropout and stochastic depth off */
    unsigned options_own;  /* options before rp_graph_set_dist added its own */
    rp_chain *chains;      /* planned at finalize (nn/chain.c) */
    int n_chains;
    int scratch_threads;   /* the scratch holds this many threads' buffers (chains, RP_STEP_DW_BN_TRAIN) */
} rp_graph;

/* Node i's output may share memory in an inference forward: neither the logits nor kept. */
static inline bool rp_node_shares_y(const rp_graph *g, int i) { return i != g->n_nodes - 1 && !g->nodes[i].keep_y; }

/* Building ---------------------------------------------------------------------- */
void rp_graph_init(rp_graph *g, rp_ctx *ctx, rp_shape input);
void rp_graph_free(rp_graph *g);
/* Add a node; used by layer constructors. state is copied into graph-owned memory.
 * Returns the node index, or -1 after setting g->status. */
int rp_graph_add(rp_graph *g, const rp_layer_ops *ops, const char *name, const int *in,
                 int n_in, rp_shape out, const void *state, size_t state_size);
/* Register a parameter of the most recent node; returns its index (pointers into the
 * arena are bound at finalize; layers look parameters up by index). */
int rp_graph_param(rp_graph *g, const char *name, int ndim, const int64_t *shape,
                   rp_layout layout, bool trainable, rp_init init, float init_scale);
/* Shape of a node's output (RP_INPUT: the graph input). */
rp_shape rp_graph_shape(const rp_graph *g, int node);
/* Allocate arenas for batches up to max_batch and initialise parameters from seed. */
rp_status rp_graph_finalize(rp_graph *g, int max_batch, uint64_t seed);
/* Re-size the activation arena for a larger batch. */
rp_status rp_graph_reserve(rp_graph *g, int max_batch);
/* The caller reads node's y after forward and its dy after backward (CAM, Grad-CAM): the
 * node's forward is not fused into its producer's, and its gradient gets a buffer of its own
 * (others share buffers between passes). Re-carves the activation arena (no pass may be in
 * flight; pointers into it change). */
rp_status rp_graph_keep(rp_graph *g, int node);

/* Running --------------------------------------------------------------------------- */
/* Copies x into the graph input and runs every node. Returns the last node's output. */
const float *rp_graph_forward(rp_graph *g, const float *x, int B, bool train);
/* The evaluation forward when no backward follows (evaluation, prediction): every node's output
 * lives in its inference slot (rp_plan_assign_outputs) only while a later step reads it, so the
 * outputs need the largest live set's memory, not the sum; the returned logits, and the kept
 * nodes' y, are the same bits as rp_graph_forward's. Other nodes' y are overwritten during the
 * pass, and no backward may follow it (the next rp_graph_forward binds their own buffers again). */
const float *rp_graph_infer(rp_graph *g, const float *x, int B);
/* Seeds the last node's dy with dout and runs backward. When dx != NULL the input gradient
 * is written there. Only the nodes whose gradients matter run: a node runs when it trains a
 * parameter (param_grads, trainable, not frozen) or one of its inputs needs a gradient (the
 * graph input: dx != NULL); the others keep stale dy and are marked !bwd_run. With neither
 * param_grads nor dx every node runs, so that every node's dy holds its gradient (CAM). */
void rp_graph_backward(rp_graph *g, const float *dout, float *dx, bool param_grads);
/* The same backward (no parameter gradients) with guided backpropagation's rule in every
 * ReLU and ReLU6 (Springenberg et al. 2015): a gradient passes only where it is positive
 * AND the forward input lies where the activation has slope 1 (ReLU: x > 0; ReLU6, our
 * convention: 0 < x < 6). Other layers are unchanged. Used by src/explain/guided.c. */
void rp_graph_backward_guided(rp_graph *g, const float *dout, float *dx);
void rp_graph_zero_grad(rp_graph *g);
/* While set (fn NULL: unset), a backward with parameter gradients calls fn(arg, first) after
 * each plan step's backward: the parameters from index `first` on have their gradients from
 * this pass complete (the steps run from the last node down, and every parameter belongs to
 * one node: a node's are registered after the earlier nodes'). first only decreases during a
 * pass; a pass with no rows (B = 0) calls nothing. Data-parallel training starts summing the
 * final ones over the processes meanwhile (robust/grad_sync.c). fn runs on the calling
 * thread, outside OpenMP regions. */
void rp_graph_set_grad_ready(rp_graph *g, void (*fn)(void *arg, int first), void *arg);

/* Random masks ------------------------------------------------------------------- */
/* Names the examples of the next training passes (until the next call): row r of a pass is
 * example idx[r % n] (first + r % n when idx is NULL; idx is copied), copy r / n -- the
 * objectives' passes of [x; x_adv] or [x; view1; view2] hold two or three copies of every
 * example, each with masks of its own. key says whose examples they are (the objective's
 * rp_rng_key(seed, RP_STREAM_DROPOUT, epoch)). Each training pass since the call gets masks of
 * its own (advreg's clean and adversarial passes); naming the same examples again repeats
 * them. So an example's masks depend on (key, its index, the layer, the pass, the copy) alone,
 * not on the batch it is in, its place there, or how a batch is split among processes.
 * 0 <= n <= max batch (0: an empty piece, whose passes have no rows). */
void rp_graph_set_examples(rp_graph *g, uint64_t key, const int *idx, int64_t first, int n);
/* Row b's stream for node n's masks in a training forward (dropout, stochastic depth). */
void rp_pass_row_rng(const rp_pass *p, const rp_node *n, int b, rp_rng *r);

/* Look-ups ------------------------------------------------------------------------ */
int rp_graph_find_node(const rp_graph *g, const char *name);
int rp_graph_find_param(const rp_graph *g, const char *name);

/* Layer constructors (one file each in src/nn/) --------------------------------------- */
int rp_g_conv2d(rp_graph *g, int in, const char *name, int OC, int K, int stride, int pad,
                int groups, bool bias);
int rp_g_linear(rp_graph *g, int in, const char *name, int OUT, bool bias);
int rp_g_batchnorm2d(rp_graph *g, int in, const char *name, float eps, float momentum);
/* Test-time adaptation: with adapt, every batch norm's momentum becomes 1, so the next
 * training-mode forward leaves each one's running statistics equal to that batch's (mean, and
 * the unbiased variance); without, their own momentum is back. Returns the number of batch
 * norms. The running statistics themselves are the caller's to save and restore. Dropout and
 * stochastic depth act as in evaluation meanwhile (rp_pass.masks_off): the statistics are
 * those of the model that will be evaluated, not of a randomly thinned one. */
int rp_graph_bn_adapt(rp_graph *g, bool adapt);

/* Data-parallel training (d BORROWED, NULL: none; a graph without batch norms ignores it):
 * every training-mode batch norm normalises with the statistics of the whole job's batch (each
 * process's rows' count, mean and M2 gathered and combined in rank order, Chan et al.), and its
 * backward uses the job's per-channel gradient sums, each process's weighted by its share of
 * the rows (its loss is the mean over its piece; the objective weights its gradients likewise).
 * Every process then runs every training pass, a process with an empty piece with B = 0 (its
 * batch norms take part in the collectives; nothing else runs). The training fold
 * (RP_STEP_CONV_BN_TRAIN) is turned off meanwhile (RP_OPT_NO_TRAIN_FOLD): its statistics are
 * formed inside the conv, where there is no place for the collective. */
rp_status rp_graph_set_dist(rp_graph *g, struct rp_dist *d);
/* The first collective that failed since the last call (RP_OK: none), then cleared. */
rp_status rp_graph_sync_status(rp_graph *g);
int rp_g_relu(rp_graph *g, int in, const char *name);
int rp_g_relu6(rp_graph *g, int in, const char *name);
int rp_g_maxpool2d(rp_graph *g, int in, const char *name, int K, int stride, int pad);
int rp_g_avgpool2d(rp_graph *g, int in, const char *name, int K, int stride, int pad);
int rp_g_global_avgpool(rp_graph *g, int in, const char *name);
int rp_g_add(rp_graph *g, int a, int b, const char *name);
int rp_g_dropout(rp_graph *g, int in, const char *name, float p);
/* x * sigmoid(x) (torch.nn.SiLU) and 1 / (1 + exp(-x)) (torch.nn.Sigmoid). */
int rp_g_silu(rp_graph *g, int in, const char *name);
int rp_g_sigmoid(rp_graph *g, int in, const char *name);
/* y = x * s, s of shape (1, 1, C) broadcast over x's H and W (squeeze-and-excitation's scale). */
int rp_g_channel_mul(rp_graph *g, int x, int s, const char *name);
/* Concatenation along channels of k (1..RP_MAX_IN) inputs of the same H and W, in order. */
int rp_g_concat(rp_graph *g, const int *in, int k, const char *name);
/* torchvision.ops.StochasticDepth, mode "row": in training each sample is kept with
 * probability 1 - p and scaled by 1/(1 - p), else zeroed; identity in evaluation. */
int rp_g_stochastic_depth(rp_graph *g, int in, const char *name, float p);
/* NHWC -> PyTorch's NCHW flatten order, so a following linear's weights match. */
int rp_g_flatten(rp_graph *g, int in, const char *name);
/* (x - mean[c]) / std[c], the first layer of every model. */
int rp_g_normalize(rp_graph *g, int in, const char *name, const float *mean, const float *std);

/* Forward FLOPs of node i for one image (see rp_model_flops); works before finalize (nn/flops.c). */
double rp_graph_node_flops(const rp_graph *g, int i);

#endif
