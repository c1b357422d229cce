/* Shared helpers of the whole-model tests: configurations, key shapes, parameter counts and
 * FLOPs, a model's fused-vs-plain passes (test_models.c, test_arch_*.c); the torchvision
 * reference files (test_backbones_ref.c, test_efficientnet_ref.c); models a test builds itself
 * and their training steps (test_masks.c, test_dist_dropout.c, test_dist_bn.c). */
#ifndef RP_MODEL_TESTUTIL_H
#define RP_MODEL_TESTUTIL_H

#include "io/safetensors.h"
#include "nn/model.h"
#include "robust/objective.h"
#include "testutil.h"

/* ---- models ------------------------------------------------------------------------------ */

/* arch on H x H x 3 images with ImageNet's mean and std, seed 7, the default width. */
rp_model_config mtu_config(const char *arch, int classes, int H, int max_batch);
/* OWNED: rp_model_create's model; fails the test with the context's message if it refuses. */
rp_model *mtu_create(rp_ctx *ctx, const rp_model_config *c);
/* OWNED: a model of c with its graph initialised and empty, for the test to build (e.g. an
 * architecture's builder with other dropout rates); mtu_model_finish finalises it at c's
 * max_batch and seed. */
rp_model *mtu_model_begin(rp_ctx *ctx, const rp_model_config *c);
void mtu_model_finish(rp_model *m);
/* OWNED: input -> conv 3x3 -> relu -> (x + stochastic_depth(conv 3x3 (x))) -> global average
 * pool -> dropout -> linear (both p = 0.5, seed 3, batch up to B): dropout and stochastic depth,
 * no batch norm, so the gradients of a batch's pieces add up to the whole's to float rounding. */
rp_model *mtu_masked_model(rp_ctx *ctx, int H, int W, int C, int K, int B);
/* The attack tests' victim: an mlp (seed 3, normalised by tr's statistics, batches up to
 * max_batch) trained with erm for two epochs over the first n_train images of tr (batches of
 * train_b shuffled by seed 5 and the epoch; SGD 0.05, momentum 0.9). */
rp_model *mtu_trained_mlp(rp_ctx *ctx, rp_dataset *tr, int n_train, int train_b, int max_batch);
/* A batch for mtu_masked_model's steps: B examples of X floats U(0, 1), a second and a third
 * view of each ((2, B, X), for the consistency loss), labels i * 3 % K, names 200 + 5 i; and the
 * objectives stepped on it: erm, advreg (two training passes), TRADES ([x; x_adv]: two copies of
 * every example) and AugMix's consistency (three copies). */
enum { MTU_ERM, MTU_ADVREG, MTU_TRADES, MTU_CONSISTENCY, MTU_OBJECTIVES };
typedef struct mtu_masked_batch {
    float *x, *views; /* OWNED */
    int32_t *y;       /* OWNED */
    int *idx;         /* OWNED */
    rp_objective_config cfg[MTU_OBJECTIVES];
} mtu_masked_batch;
void mtu_masked_batch_init(mtu_masked_batch *b, int B, size_t X, int K);
void mtu_masked_batch_free(mtu_masked_batch *b);
/* An objective of cfg over global batches of BG and an SGD optimizer at lr for m, both OWNED. */
void mtu_objective(rp_ctx *ctx, rp_model *m, const rp_objective_config *cfg, int BG, float lr, rp_objective **o,
                   rp_optim **opt);

/* ---- a test program's MPI job ------------------------------------------------------------- */

/* A context and a process handle for the whole program (MPI starts and ends once): cmocka's
 * group setup and teardown make it, *state points at it. */
typedef struct mtu_job {
    rp_ctx *ctx;
    rp_dist *d;
    int R, N; /* rank and size */
} mtu_job;
int mtu_job_setup(void **state);
int mtu_job_teardown(void **state);
/* This rank's piece [lo, hi) of a global batch of BG: contiguous, as the loader's; empty: the
 * last rank's is empty (with more than one rank). */
void mtu_piece(const mtu_job *j, int BG, bool empty, int *lo, int *hi);

/* ---- structure ---------------------------------------------------------------------------- */

/* BORROWED: m's tensor (parameter or buffer) name; fails the test if there is none. */
const rp_param *mtu_param(const rp_model *m, const char *name);
/* m's node name; fails the test if there is none. */
int mtu_node(const rp_model *m, const char *name);
/* Tensor name has ndim dimensions (a, b, c, d)[:ndim], as torchvision's. */
void mtu_expect_shape(const rp_model *m, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d);
int mtu_count_kind(const rp_graph *g, rp_layer_kind kind);
/* rp_model_cost's parameter count of c is torchvision's `want`; returns its FLOPs. */
double mtu_expect_params(rp_ctx *ctx, const rp_model_config *c, size_t want);
/* Conv and linear FLOPs of c's graph, built (not finalised) from its architecture's builder;
 * all (when not NULL): every node's. */
double mtu_gemm_flops(const rp_model_config *c, double *all);
/* Weight name is N(0, 2 / fan) (kaiming_normal_), fan = IC*K*K or (fan_out) OC*K*K: the sample's
 * standard deviation within 2% of that, its mean within 2% of it from 0. */
void mtu_expect_kaiming(const rp_model *m, const char *name, bool fan_out);

/* ---- a whole model's passes, fused and plain -------------------------------------------- */

/* Three passes of a model of `config` on a context of `threads` (B = max_batch images of
 * H x W x 3, inputs U(0, 1) and logit gradients U(-1, 1) from fixed seeds; every pass from the
 * model's initial tensors and with a fresh graph's masks) in evaluation and training mode: plain
 * (RP_OPT_NO_FUSION, no chains, no training fold), with the bit-identical fusions only, and
 * with every fusion (training: the options train_all). Every output finite (logits, input
 * gradient, parameter gradients); the bit-identical fusions give the plain run's bits; every
 * fusion within 1e-4 relative L2 of it part by part in evaluation, and in training when
 * train_l2; train_folds (unless -1): the training fold's steps in that pass's plan. */
typedef struct mtu_passes {
    rp_model_config config;
    int threads;
    unsigned train_all;
    bool train_l2;
    int train_folds;
} mtu_passes;
void mtu_check_passes(const mtu_passes *p);

/* ---- torchvision reference files (made by tests/reference/) ----------------------------------- */

/* OWNED: tensor key of f as float32; fails the test when f has none. */
float *mtu_read_all(rp_ctx *ctx, rp_st_file *f, const char *key, size_t *n);
/* BORROWED: metadata key of f; fails the test when f has none. */
const char *mtu_meta(rp_st_file *f, const char *key);
/* sqrt(sum (got - want)^2 / sum want^2), infinite when want is 0 */
double mtu_rel_l2(const float *got, const float *want, size_t n);
/* relative L2 error within tol (printed) */
void mtu_expect_rel_l2(const char *what, const float *got, const float *want, size_t n, double tol);
/* |got - want| <= 1e-4 + 1e-4 |want| (the largest fraction of it printed) */
void mtu_expect_logits(const char *what, const float *got, const float *want, size_t n);

/* A case: ARCH.safetensors (x, dy, the passes' results; metadata B, H, W) and the path of
 * ARCH_weights.safetensors in $RAMPART_REF_DIR. */
typedef struct mtu_ref {
    rp_ctx *ctx;        /* BORROWED */
    rp_st_file *f;      /* OWNED */
    char weights[512];
    int B, H, W, classes;
    float *x, *dy;      /* OWNED: (B, H, W, 3), (B, classes) */
    size_t nx, ny;
} mtu_ref;
void mtu_ref_open(mtu_ref *r, rp_ctx *ctx, const char *arch, int classes);
void mtu_ref_close(mtu_ref *r);
/* The weights file into m (the same weights and running statistics again before a pass). */
void mtu_ref_load(const mtu_ref *r, rp_model *m);
/* OWNED: arch at the reference's size (seed 1), every tensor NaN, then the weights file loaded:
 * whatever the file does not set would show. */
rp_model *mtu_ref_model(const mtu_ref *r, const char *arch);
/* Evaluation passes with the plan's fusions and chains and without: logits (mtu_expect_logits)
 * and input gradient (relative L2 1e-4) against eval_logits and eval_dx. */
void mtu_ref_eval(const mtu_ref *r, rp_model *m);
/* Training passes from the file's weights, plain (RP_OPT_NO_TRAIN_FOLD) and, with fold, with
 * the training fold forced (which must then be planned): logits (mtu_expect_logits), input
 * gradient within rtol relative L2, and every trainable tensor's gradient norm against gnorm.KEY
 * within rtol relative + atol_frac of the largest norm (a gradient that is zero in exact
 * arithmetic is rounding noise in both implementations); the whole gradients in the file
 * (grad.KEY, exactly whole_keys of them) within rtol relative L2. */
void mtu_ref_train(const mtu_ref *r, rp_model *m, bool fold, double rtol, double atol_frac, int whole_keys);

#endif
