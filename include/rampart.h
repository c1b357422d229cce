/* rampart — robust image classifiers in C.
 *
 * The one public header. Conventions:
 *  - every name starts with rp_ / RP_;
 *  - handles are opaque; create/destroy pairs own them;
 *  - a function that can fail returns rp_status and leaves a message in its rp_ctx
 *    (rp_ctx_error); the library never prints and never exits;
 *  - pointers returned by getters are BORROWED (valid until the owner is destroyed or
 *    the next call that says it invalidates them) unless the comment says OWNED;
 *  - images are float32, NHWC, values in [0, 1]; normalisation is the model's job.
 */
#ifndef RAMPART_H
#define RAMPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; rp_version() is the library's ("MAJOR.MINOR.PATCH", STATIC).
 * Before 1.0 the ABI may change with any minor version (the shared library's SONAME is the
 * major version); the functions declared here are all it exports. */
#define RP_VERSION_MAJOR 0
#define RP_VERSION_MINOR 1
#define RP_VERSION_PATCH 0
const char *rp_version(void);

/* ---- status and context ------------------------------------------------------- */

typedef enum rp_status {
    RP_OK = 0,
    RP_ERR_IO,          /* a file could not be opened, read or written */
    RP_ERR_FORMAT,      /* a file's contents are not what its format says */
    RP_ERR_SHAPE,       /* tensor or data shapes do not fit together */
    RP_ERR_ARG,         /* an argument is out of range or unknown */
    RP_ERR_NOMEM,       /* allocation failed */
    RP_ERR_NUMERIC,     /* NaN or Inf where finite numbers are required */
    RP_ERR_UNSUPPORTED, /* valid request this build cannot do */
} rp_status;

typedef struct rp_ctx rp_ctx;

/* OWNED. threads: the number of threads the caller wants used (>= 1). */
rp_ctx *rp_ctx_create(int threads);
void rp_ctx_destroy(rp_ctx *ctx);
/* BORROWED: the message of the last failure in ctx, or "no error". */
const char *rp_ctx_error(const rp_ctx *ctx);
int rp_ctx_threads(const rp_ctx *ctx);
const char *rp_status_name(rp_status s);
/* Process-wide: sets OpenMP's thread count and holds OpenBLAS at one thread (the kernels
 * split GEMMs over the OpenMP threads). The CLI calls this once; embedders may manage
 * threads themselves. OpenMP threads that spin at barriers stall each other on a shared or
 * virtualised machine: the CLI runs with OMP_WAIT_POLICY=passive unless told otherwise. */
void rp_set_threads(int threads);
/* BORROWED: the BLAS library's configuration and the kernel (core) it selected. */
const char *rp_blas_info(void);

/* ---- data sets ------------------------------------------------------------------ */

typedef struct rp_dataset rp_dataset;

/* Open a data set by spec: "fashion-mnist", "mnist" (test split with train=false),
 * "idx:IMAGES,LABELS", "cifar10:DIR", and image files decoded up front (JPEG/PNG fitted to
 * one size): "folder:DIR[,SIZE][,gray]" (a sub-folder per class), "tiny-imagenet:DIR[,SIZE]"
 * (see src/data/image.h; its rp_dataset_open_ex adds decoding threads and skipping
 * unreadable files). OWNED result in *out. */
rp_status rp_dataset_open(rp_ctx *ctx, const char *spec, bool train, rp_dataset **out);
void rp_dataset_destroy(rp_dataset *ds);
int rp_dataset_size(const rp_dataset *ds);
/* Per-sample image shape. */
void rp_dataset_shape(const rp_dataset *ds, int *H, int *W, int *C);
int rp_dataset_num_classes(const rp_dataset *ds);
/* BORROWED: class name i, or NULL when the set has none. */
const char *rp_dataset_class_name(const rp_dataset *ds, int i);
/* Keep only the first n samples (n <= size). */
void rp_dataset_truncate(rp_dataset *ds, int n);
/* Copy samples idx[0..B) into x (B,H,W,C) in [0,1] and their labels into y. */
void rp_dataset_gather(const rp_dataset *ds, const int *idx, int B, float *x, int32_t *y);
/* The dataset's usual normalisation (per channel mean/std, C values each). */
void rp_dataset_norm(const rp_dataset *ds, float *mean, float *std);

/* ---- models --------------------------------------------------------------------- */

typedef struct rp_model rp_model;

typedef struct rp_model_config {
    const char *arch; /* "smallcnn", "mlp", "mobilenet_v2", "resnet18", "resnet18_cifar" */
    int num_classes;
    int H, W, C;      /* input size */
    float mean[4], std[4]; /* normalisation, the model's first layer */
    int max_batch;    /* largest batch forward/backward will see */
    uint64_t seed;    /* parameter initialisation */
    float width;      /* mobilenet_v2's width multiplier (0 means 1.0); others: 0 or 1 */
} rp_model_config;

/* Names of the built-in architectures, NULL-terminated. BORROWED. */
const char *const *rp_model_archs(void);
rp_status rp_model_create(rp_ctx *ctx, const rp_model_config *cfg, rp_model **out);
void rp_model_destroy(rp_model *m);
/* BORROWED: the configuration the model was built with. */
const rp_model_config *rp_model_get_config(const rp_model *m);
/* Grow the activation arena for batches up to B (never inside a training step). */
rp_status rp_model_reserve(rp_model *m, int B);

/* Forward a batch x (B,H,W,C) in [0,1]. Returns BORROWED logits (B, num_classes),
 * valid until the next forward. train selects batch statistics and dropout. */
const float *rp_model_forward(rp_model *m, const float *x, int B, bool train);

enum { RP_GRAD_PARAMS = 1, RP_GRAD_INPUT = 2 };
/* Backward from dlogits (B, num_classes) of the last forward. Parameter gradients
 * are ADDED to the gradient buffers (when RP_GRAD_PARAMS); the input gradient is
 * WRITTEN to dx (B,H,W,C) when RP_GRAD_INPUT and dx != NULL. */
void rp_model_backward(rp_model *m, const float *dlogits, float *dx, int flags);
void rp_model_zero_grad(rp_model *m);

/* Parameters, in registration order, with PyTorch names. */
int rp_model_num_tensors(const rp_model *m);   /* parameters and buffers */
size_t rp_model_num_params(const rp_model *m); /* trainable scalars */
/* Forward FLOPs for one image: a multiply-add counts 2 (conv 2*OH*OW*OC*K*K*IC/groups,
 * linear 2*IN*OUT); every other layer 1 per element of its larger side (input or output). */
double rp_model_flops(const rp_model *m);
/* Trainable parameters and rp_model_flops of the model cfg describes, from its graph alone
 * (nothing allocated for weights or activations); max_batch and seed are not used. */
rp_status rp_model_cost(rp_ctx *ctx, const rp_model_config *cfg, size_t *params, double *flops);
/* Sets a non-finite-check failure naming the first tensor holding NaN/Inf. */
rp_status rp_model_check_finite(rp_ctx *ctx, const rp_model *m);

/* Checkpoints: safetensors, PyTorch layout and names, metadata with the config.
 * Save writes a temp file, fsyncs and renames: an existing file is never half-written.
 * class_names may be NULL. */
rp_status rp_model_save(rp_ctx *ctx, const rp_model *m, const char *path,
                        const char *const *class_names);
/* An extra string in the checkpoint's metadata (e.g. "recipe": how it was trained); value
 * is copied. At most 8 keys; the model's own keys (format, arch, ...) are refused. */
rp_status rp_model_set_meta(rp_ctx *ctx, rp_model *m, const char *key, const char *value);
/* Build the model a checkpoint describes and load its weights. OWNED result. */
rp_status rp_model_load(rp_ctx *ctx, const char *path, int max_batch, rp_model **out);
/* Load weights from path into an existing model; every tensor must be present with
 * the model's shape (or, with allow_missing, may be absent). */
rp_status rp_model_load_weights(rp_ctx *ctx, rp_model *m, const char *path, bool allow_missing);

/* ---- losses ----------------------------------------------------------------------- */

/* Mean softmax cross-entropy over B rows of K logits, label smoothing s in [0,1).
 * Writes dlogits = d(mean loss)/dlogits * scale when dlogits != NULL.
 * Returns the mean loss; *correct (if non-NULL) gets the number of argmax hits. */
float rp_softmax_xent(const float *logits, const int32_t *y, int B, int K, float smoothing,
                      float *dlogits, float scale, int *correct);

/* ---- optimizers --------------------------------------------------------------------- */

typedef struct rp_optim rp_optim;

typedef enum rp_optim_kind { RP_SGD, RP_ADAMW } rp_optim_kind;
typedef enum rp_schedule { RP_SCHED_CONSTANT, RP_SCHED_STEP, RP_SCHED_COSINE } rp_schedule;

typedef struct rp_optim_config {
    rp_optim_kind kind;
    float lr;
    float momentum;     /* SGD */
    bool nesterov;      /* SGD */
    float weight_decay; /* SGD: L2 added to the gradient; AdamW: decoupled */
    float beta1, beta2, eps; /* AdamW */
    rp_schedule schedule;
    int warmup_steps;   /* linear warm-up from 0 over this many steps */
    int step_size;      /* RP_SCHED_STEP: multiply by gamma every step_size steps */
    float gamma;
    long total_steps;   /* RP_SCHED_COSINE: steps to anneal over */
} rp_optim_config;

/* PyTorch's defaults for kind: AdamW lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay
 * 1e-2; SGD lr 1e-2 (PyTorch has none), no momentum, no weight decay. Constant schedule,
 * no warm-up, gamma 0.1 (StepLR's default; step_size must still be set for RP_SCHED_STEP). */
rp_optim_config rp_optim_defaults(rp_optim_kind kind);
rp_status rp_optim_create(rp_ctx *ctx, rp_model *m, const rp_optim_config *cfg, rp_optim **out);
void rp_optim_destroy(rp_optim *o);
/* One update from the gradients in the model; advances the schedule. */
void rp_optim_step(rp_optim *o);
float rp_optim_lr(const rp_optim *o);

/* Freeze or unfreeze the parameters whose names start with prefix ("" = all).
 * Frozen parameters get no gradient and no update. Returns how many tensors matched. */
int rp_model_freeze(rp_model *m, const char *prefix, bool frozen);

/* ---- training ------------------------------------------------------------------------ */

/* A deterministic permutation of 0..n-1 for (seed, round): the shuffle of epoch `round`. */
void rp_permutation(int *idx, int n, uint64_t seed, uint64_t round);

typedef enum rp_objective_kind {
    RP_OBJ_ERM,    /* plain cross-entropy */
    RP_OBJ_ADVREG, /* NSL adversarial regularization: CE(x) + multiplier * CE(x_adv) */
    RP_OBJ_FGSM,   /* Goodfellow: alpha * CE(x) + (1 - alpha) * CE(x_fgsm) */
    RP_OBJ_FAST,   /* Wong et al. 2020: FGSM from a random start, step 1.25 eps */
    RP_OBJ_PGD,    /* Madry: CE(x_pgd) */
    RP_OBJ_TRADES, /* Zhang et al.: CE(x) + beta * KL(f(x) || f(x_adv)) */
} rp_objective_kind;

typedef enum rp_norm { RP_NORM_LINF, RP_NORM_L2, RP_NORM_L1 } rp_norm;

typedef struct rp_objective_config {
    rp_objective_kind kind;
    float label_smoothing;
    /* adversarial neighbour (all objectives but erm) */
    rp_norm norm;
    float eps;           /* radius of the ball around x (<= 0: unbounded, advreg only) */
    float step;          /* step size per iteration; <= 0: the objective's default (advreg
                            0.001 as NSL, fast 1.25 eps, pgd and trades 2.5 eps / steps) */
    int steps;           /* iterations (advreg: pgd_iterations) */
    bool random_init;    /* start uniformly inside the ball */
    float clip_min, clip_max; /* pixel range, [0, 1] */
    float multiplier;    /* advreg */
    float alpha;         /* fgsm: weight of the clean loss */
    float beta;          /* trades */
    uint64_t seed;       /* attack stream */
    /* AugMix's Jensen-Shannon consistency (Hendrycks et al. 2020), added to any objective:
     * lambda * JS(p(x), p(view1), p(view2)) over two augmented views of every image, from one
     * training-mode pass of the batch [x; view1; view2] (with erm that pass also gives CE(x)).
     * The adversarial objectives perturb x, the clean view, alone. 0: none (paper: 12). */
    float consistency;
} rp_objective_config;

/* NSL's defaults for advreg (multiplier 0.2, step 0.001, L2, 1 iteration, no random init,
 * clip [0,1]) and sensible ones for the rest (alpha 0.5, beta 6, step by objective); kind set
 * to erm. fgsm, fast, pgd and trades need eps > 0 and usually the L-inf norm. The inner
 * maximisations (fast, pgd, trades) run the model in eval mode; the losses that train run it
 * in training mode. */
rp_objective_config rp_objective_defaults(void);

typedef struct rp_objective rp_objective;

/* OWNED. Buffers for batches up to max_batch are allocated here, not in the step. */
rp_status rp_objective_create(rp_ctx *ctx, rp_model *m, const rp_objective_config *cfg,
                              int max_batch, rp_objective **out);
void rp_objective_destroy(rp_objective *o);

typedef struct rp_step_stats {
    float loss;      /* the objective's loss */
    float clean_loss;
    int correct;     /* argmax hits on the clean batch */
    float adv_loss;  /* the adversarial term before weighting: CE at x_adv (trades: the KL);
                        0 for erm */
    int adv_correct; /* argmax hits on x_adv (training-mode pass); 0 for erm */
    float consistency_loss; /* JS over the views before weighting; 0 without consistency */
} rp_step_stats;

/* One training step: zero gradients, the objective's forward/backward passes, a check that
 * the loss and gradients are finite (RP_ERR_NUMERIC naming the first bad tensor), and the
 * optimizer update. x (B,H,W,C) in [0,1]. */
rp_status rp_train_step(rp_objective *o, rp_optim *opt, const float *x, const int32_t *y, int B,
                        rp_step_stats *stats);
/* The same with two augmented views of every image, views (2, B, H, W, C) = [view1; view2]
 * (the loader's rp_batch.views), which an objective with consistency > 0 requires
 * (RP_ERR_ARG without them); views is ignored otherwise. */
rp_status rp_train_step_views(rp_objective *o, rp_optim *opt, const float *x, const float *views,
                              const int32_t *y, int B, rp_step_stats *stats);
/* Name the examples of the next step: its images are samples idx[0..B) (BORROWED until the
 * step) of epoch `epoch`. The random draws of each example (the adversarial objectives'
 * random starts) come from its own stream keyed by (seed, epoch, sample), so they do not
 * depend on the batch size or on how a batch is split among processes. Without it, a
 * step's examples are numbered on from 0 across steps. */
void rp_objective_set_examples(rp_objective *o, int epoch, const int *idx);

/* Accuracy of the model (eval mode) on n samples of ds, in batches. */
rp_status rp_evaluate(rp_ctx *ctx, rp_model *m, const rp_dataset *ds, int n, int batch,
                      double *accuracy, double *mean_loss);

#ifdef __cplusplus
}
#endif
#endif
