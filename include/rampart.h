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
/* Record a failure of the caller's own in ctx (printf-style message; ctx may be NULL, fmt
 * NULL records "(no message)") and return code: what the library's functions do, for code
 * that composes them and reports through the same context. */
/* Return the status of expr from the calling function when it is not RP_OK. */
#define RP_TRY(expr)                                                               \
    do {                                                                           \
        rp_status rp_try_s_ = (expr);                                              \
        if (rp_try_s_ != RP_OK) return rp_try_s_;                                  \
    } while (0)
rp_status rp_fail(rp_ctx *ctx, rp_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Process-wide: sets OpenMP's thread count and holds OpenBLAS at one thread (the kernels
 * split GEMMs over the OpenMP threads). The CLI calls this once; embedders may manage
 * threads themselves. OpenMP threads that spin at barriers stall each other on a shared or
 * virtualised machine: the CLI runs with OMP_WAIT_POLICY=passive unless told otherwise. */
void rp_set_threads(int threads);
/* BORROWED: the BLAS library's configuration and the kernel (core) it selected. */
const char *rp_blas_info(void);
/* STATIC: the SIMD level rampart's own kernels use on this CPU, chosen at run time from its
 * features ("portable", "avx2", "avx512"; capped by $RAMPART_SIMD). */
const char *rp_simd_info(void);
/* STATIC: the convolution kernels that level selects, in words: the GEMM rampart's own
 * convolutions use (its gemm_direct at AVX-512, else OpenBLAS) and how 3x3 stride-1
 * convolutions with at least 16 channels in and out run (Winograd F(2x2, 3x3) with gemm_direct,
 * else im2col + GEMM). A pure function of the CPU's features and $RAMPART_SIMD. */
const char *rp_kernel_info(void);
/* The precision of the convolutions' and linear layers' matrix products, process-wide like
 * rp_set_threads (set it before work starts, not while another thread runs a model).
 * RP_PRECISION_FP32 (the default): FP32 operands. RP_PRECISION_BF16: their products — outputs,
 * input gradients (attacks' too) and weight gradients — round both operands to BF16 and sum in
 * FP32 (AVX512_BF16: twice the FP32 multiply-add rate on AMD Zen 4, half of it on the Intel Xeons
 * measured; rp_bf16_peak tells), as PyTorch's
 * torch.set_float32_matmul_precision("medium") does for matrix products; the moments behind the
 * training fold's batch-norm statistics, weights, optimiser state, batch norms, depthwise convs
 * and every element-wise pass stay FP32. Results stay deterministic and independent of the
 * thread count, but not equal to FP32's. RP_ERR_ARG where this CPU (or $RAMPART_SIMD) lacks
 * AVX-512 with BF16, changing nothing. */
typedef enum rp_precision { RP_PRECISION_FP32 = 0, RP_PRECISION_BF16 = 1 } rp_precision;
rp_status rp_set_precision(rp_ctx *ctx, rp_precision precision);
rp_precision rp_get_precision(void);
bool rp_precision_supported(rp_precision precision);
/* STATIC: "fp32" or "bf16"; NULL for a value outside the enum. */
const char *rp_precision_name(rp_precision precision);
/* The FP32 multiply-add rate this machine sustains at that level on `threads` OpenMP threads,
 * measured (about 0.3 s): the roofline `rampart bench --profile` compares a step with. */
double rp_fma_peak(int threads);
/* The same for BF16 dot products (AVX512_BF16's VDPBF16PS, the instruction of RP_PRECISION_BF16's
 * products), in FP32-equivalent GFLOP/s; 0 where RP_PRECISION_BF16 is not supported. Where it is
 * not well above rp_fma_peak, BF16 products cannot pay for rounding their operands. */
double rp_bf16_peak(int threads);

/* ---- data sets ------------------------------------------------------------------ */

typedef struct rp_dataset rp_dataset;

/* Open a data set by spec: "fashion-mnist", "mnist" (test split with train=false),
 * "idx:IMAGES,LABELS", "cifar10:DIR", and image files decoded up front (JPEG/PNG fitted to
 * one size): "folder:DIR[,SIZE][,gray]" (a sub-folder per class), "tiny-imagenet:DIR[,SIZE]"
 * (src/data/image.h; rp_dataset_open_ex adds decoding threads and skipping unreadable
 * files). OWNED result in *out. RP_ERR_ARG for a NULL spec or out, or an unknown spec. */
rp_status rp_dataset_open(rp_ctx *ctx, const char *spec, bool train, rp_dataset **out);
/* How image-file sets are read (the other sets ignore it). */
typedef struct rp_data_options {
    int workers;   /* threads decoding image files (<= 0: the context's thread count) */
    bool skip_bad; /* leave unreadable images out, counted in the set (rp_dataset_skipped),
                      instead of failing */
} rp_data_options;
/* rp_dataset_open with options (opt may be NULL: defaults). OWNED result in *out; errors as
 * rp_dataset_open's. */
rp_status rp_dataset_open_ex(rp_ctx *ctx, const char *spec, bool train, const rp_data_options *opt,
                             rp_dataset **out);
/* Images that skip_bad left out (0 for NULL ds); *note (may be NULL) gets the first few
 * reasons, one a line (BORROWED, "" when none). */
int rp_dataset_skipped(const rp_dataset *ds, const char **note);
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
/* The labels of samples first .. first + n - 1 into y (n), without their images. RP_ERR_ARG for
 * a NULL argument or a range outside [0, rp_dataset_size(ds)]. */
rp_status rp_dataset_labels(rp_ctx *ctx, const rp_dataset *ds, int first, int n, int32_t *y);
/* The dataset's usual normalisation (per channel mean/std, C values each). */
void rp_dataset_norm(const rp_dataset *ds, float *mean, float *std);

/* ---- augmentations and the batch loader -------------------------------------------
 * Training augmentations by spec (the command's --augment), a comma-separated list of
 *     NAME[:STRENGTH][@PROB]
 * applied in the order given to every image, each op independently with probability PROB
 * (default: the caller's default probability): flip, crop:PAD, brightness:S, contrast:S,
 * saturation:S, jitter:S (brightness, contrast and saturation), gaussian:SIGMA, shot:C,
 * saltpepper:AMOUNT (alias impulse), erase:AREA, randconv:K, elastic[:SEVERITY], augmix[:SEVERITY],
 * prime
 * (src/data/augment.h gives each op's formula and default strength). The mixing ops (augmix,
 * prime) fire with probability 1 unless @PROB says otherwise; a spec holds at most one. Every
 * image is augmented from its own stream keyed by (seed, epoch, sample), so what it becomes
 * does not depend on the batch size, the batch it lands in, threads or processes. These
 * functions are thread-safe (no state). */

typedef enum rp_augment_kind {
    RP_AUG_FLIP,
    RP_AUG_CROP,
    RP_AUG_BRIGHTNESS,
    RP_AUG_CONTRAST,
    RP_AUG_SATURATION,
    RP_AUG_GAUSSIAN,
    RP_AUG_SHOT,
    RP_AUG_SALTPEPPER,
    RP_AUG_ERASE,
    RP_AUG_RANDCONV,
    RP_AUG_AUGMIX,
    RP_AUG_PRIME,
    RP_AUG_ELASTIC, /* after the mixing ops: the kinds keep their values */
    RP_AUG_COUNT
} rp_augment_kind;

/* One parsed op of a spec. */
typedef struct rp_augment_op {
    rp_augment_kind kind;
    float strength;
    float prob;
} rp_augment_op;

#define RP_AUGMENT_MAX_OPS 16 /* ops in one spec */

/* "flip", "crop", ... (the spec's names); "unknown" for another value. STATIC. */
const char *rp_augment_name(rp_augment_kind k);
/* Parse spec into ops[0..*n_ops) (room for RP_AUGMENT_MAX_OPS); a NULL or empty spec gives no
 * ops. RP_ERR_ARG naming the offending item (unknown name, bad strength or probability, too
 * many ops, two mixing ops), for default_prob outside [0, 1], or for a NULL ops or n_ops.
 * Limits that depend on the image size (crop smaller than the image) are checked by
 * rp_loader_create. */
rp_status rp_augment_parse(rp_ctx *ctx, const char *spec, float default_prob, rp_augment_op *ops, int *n_ops);
/* *index <- the place of the mixing op (augmix, prime) in ops[0..n_ops), or -1 when there is
 * none: only a spec with one makes the two views a consistency loss needs. RP_ERR_ARG for a
 * NULL index, NULL ops with n_ops > 0, n_ops outside [0, RP_AUGMENT_MAX_OPS] or an unknown
 * kind. */
rp_status rp_augment_mixing_op(rp_ctx *ctx, const rp_augment_op *ops, int n_ops, int *index);
/* *families <- the corruption families these ops touch, bit f (1u << f) for family f of
 * rp_corruption_family_names(): a model trained with them is evidence only about the others.
 * Fixed in code, before any measurement: flip, crop geometric; brightness weather; contrast,
 * saturation digital; gaussian, shot, saltpepper noise; erase occlusion; randconv blur and
 * digital; elastic digital and geometric; augmix and prime their operations' families.
 * RP_ERR_ARG as rp_augment_mixing_op. */
rp_status rp_augment_corruption_families(rp_ctx *ctx, const rp_augment_op *ops, int n_ops, unsigned *families);

/* The batch loader: worker threads gather samples of a data set, convert them to floats in
 * [0, 1], augment them and hand out whole batches ahead of the training step. Jobs are
 * numbered across epochs: batch b of epoch e holds samples perm_e[b*B .. b*B+B), perm_e =
 * rp_permutation(n, seed, e) (0..n-1 without shuffling), an epoch's last batch smaller when B
 * does not divide n. Memory is bounded: a ring of `ahead` batches. A loader is used by one
 * thread at a time (its workers are its own). */
typedef struct rp_loader rp_loader;

typedef struct rp_loader_config {
    int batch;            /* B: images per batch (>= 1) */
    int workers;          /* threads preparing batches, 0..64 (0: in rp_loader_next) */
    int ahead;            /* batches prepared ahead, the ring (<= 0: 2 * workers, at least 2) */
    uint64_t seed;        /* shuffle and augmentation */
    bool shuffle;         /* epoch e's order is rp_permutation(seed, e); false: 0..n-1 */
    int first_epoch;      /* epoch of the first batch (the command counts from 1) */
    int first_batch;      /* the first batch handed out is this one of first_epoch (0..batches-1;
                             > 0 when a run resumes mid-epoch) */
    int epochs;           /* batches stop after this many epochs (<= 0: never) */
    const char *augment;  /* augmentation spec (above) or NULL / "" for none; not kept */
    float augment_prob;   /* default probability of each op, in [0, 1] */
    bool views;           /* also two augmented views of every image: the ops before the mixing
                             op give the image, each view is it through the mixing op and the
                             ops after it, with fresh draws (the spec needs a mixing op) */
    int part, parts;      /* data-parallel processes (parts > 1): each batch's images split into
                             `parts` contiguous pieces, this loader loading and augmenting piece
                             `part` only (the pieces' union is the one-process batch; a piece
                             may be empty, B = 0); parts <= 1: whole batches */
} rp_loader_config;

typedef struct rp_batch {
    int epoch, index;     /* which batch of which epoch */
    int B;                /* images in it (this process's part) */
    int B_all;            /* images in the whole batch, every part */
    const float *x;       /* (B, H, W, C) in [0, 1], BORROWED until the next rp_loader_next */
    const float *views;   /* (2, B, H, W, C) = [view1; view2] with cfg.views, else NULL; BORROWED */
    const int32_t *y;     /* (B) labels; BORROWED */
    const int *idx;       /* (B) sample indices; BORROWED */
} rp_batch;

/* OWNED (*out NULL on failure). ds is BORROWED and must outlive the loader; threads start here.
 * RP_ERR_ARG for a NULL ds, cfg or out, an empty data set, a batch < 1, workers outside 0..64,
 * a part outside 0..parts-1, a first batch outside the epoch, a bad augmentation spec (named),
 * one that does not fit the image size (crop) or one without a mixing op when views are asked
 * for. */
rp_status rp_loader_create(rp_ctx *ctx, const rp_dataset *ds, const rp_loader_config *cfg, rp_loader **out);
/* Stops and joins the workers. NULL is fine. */
void rp_loader_destroy(rp_loader *l);
/* Batches in one epoch, ceil(n / B); 0 for NULL. */
int rp_loader_batches(const rp_loader *l);
/* Hands back the previous batch (its buffers are reused) and returns the next one in *out,
 * waiting for it when the workers are behind. Returns false (out zeroed) after the last epoch,
 * and for a NULL l or out. */
bool rp_loader_next(rp_loader *l, rp_batch *out);

/* ---- models --------------------------------------------------------------------- */

typedef struct rp_model rp_model;

typedef struct rp_model_config {
    const char *arch; /* "smallcnn", "mlp", "mobilenet_v2", "resnet18", "resnet18_cifar", "resnet50",
                         "resnext50_32x4d", "densenet121", "efficientnet_b0" (rp_model_archs) */
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
/* The logits of rp_model_forward(m, x, B, false) when no backward follows: the evaluation plan
 * with the outputs' memory of its largest live set (what rampart eval and predict run).
 * *logits gets BORROWED (B, num_classes), valid until the next forward or inference; no
 * backward may follow it. RP_ERR_ARG for a NULL argument or B outside [1, max_batch]
 * (rp_model_reserve grows it). */
rp_status rp_model_infer(rp_ctx *ctx, rp_model *m, const float *x, int B, const float **logits);

enum { RP_GRAD_PARAMS = 1, RP_GRAD_INPUT = 2 };
/* Backward from dlogits (B, num_classes) of the last forward. Parameter gradients
 * are ADDED to the gradient buffers (when RP_GRAD_PARAMS); the input gradient is
 * WRITTEN to dx (B,H,W,C) when RP_GRAD_INPUT and dx != NULL. */
void rp_model_backward(rp_model *m, const float *dlogits, float *dx, int flags);
void rp_model_zero_grad(rp_model *m);

/* Parameters, in registration order, with PyTorch names. */
int rp_model_num_tensors(const rp_model *m);   /* parameters and buffers */
size_t rp_model_num_params(const rp_model *m); /* trainable scalars */
/* FNV-1a (64 bits) over the bytes of every tensor, parameters and buffers, in registration
 * order: the same weights give the same hash (on machines of one byte order), any changed value
 * another with overwhelming probability. What data-parallel training compares across ranks. */
uint64_t rp_model_weights_hash(const rp_model *m);
/* Forward FLOPs for one image: a multiply-add counts 2 (conv 2*OH*OW*OC*K*K*IC/groups,
 * linear 2*IN*OUT); every other layer 1 per element of its larger side (input or output). */
double rp_model_flops(const rp_model *m);
/* Trainable parameters and rp_model_flops of the model cfg describes, from its graph alone
 * (nothing allocated for weights or activations); max_batch and seed are not used. */
rp_status rp_model_cost(rp_ctx *ctx, const rp_model_config *cfg, size_t *params, double *flops);
/* Sets a non-finite-check failure naming the first tensor holding NaN/Inf. */
rp_status rp_model_check_finite(rp_ctx *ctx, const rp_model *m);
/* Whether m takes images (H, W, C) and predicts at least K classes (a data set's): RP_ERR_SHAPE
 * saying what differs (the caller adds the file's name); RP_ERR_ARG for a NULL model. */
rp_status rp_check_model_fits(rp_ctx *ctx, const rp_model *m, int H, int W, int C, int K);

/* Layer i of rp_model_num_layers(m), in execution order: its PyTorch-style name, kind, output
 * shape for one image, trainable parameters and forward FLOPs per image (rp_model_flops's
 * terms: the layers' sums are rp_model_num_params and rp_model_flops). RP_ERR_ARG for i out of
 * range or a NULL argument. */
typedef struct rp_layer_info {
    char name[64];
    char kind[32]; /* "conv2d", "batchnorm2d", "relu6", "linear", ... */
    int H, W, C;
    size_t params;
    double flops;
} rp_layer_info;
int rp_model_num_layers(const rp_model *m);
rp_status rp_model_layer(rp_ctx *ctx, const rp_model *m, int i, rp_layer_info *out);

/* Execution-plan switches, for benchmarks and tests (0, the default, runs the fastest plan;
 * every plan computes the same function, fused ones to rounding): each option turns one kind
 * of fusion off. Plans are rebuilt on the next pass. RP_ERR_ARG for unknown bits. */
#define RP_PLAN_NO_FUSION 1u     /* every layer its own step */
#define RP_PLAN_NO_CHAIN 2u      /* evaluation without chains of convs run as one kernel */
#define RP_PLAN_NO_TRAIN_FOLD 4u /* training without the conv + batch-norm fold */
#define RP_PLAN_NO_DW_BN 8u      /* training without the depthwise conv + batch-norm backward */
rp_status rp_model_set_plan_options(rp_ctx *ctx, rp_model *m, unsigned options);
unsigned rp_model_plan_options(const rp_model *m);

/* Profiling: between start and stop every forward and backward accumulates, per layer (and per
 * chain run as one kernel), its wall time, calls and FLOPs; start zeroes the counters. Rows come
 * in layer order, a chain's row before its first layer's; a layer done by the step of the layer
 * before it (a batch norm or activation fused into a conv), or inside a chain that ran as one,
 * has no row of its own: its time and forward FLOPs are in that row. FLOPs are the images of the
 * calls x rp_model_flops's per-layer figures, a backward's once per product (an input gradient or
 * the parameter gradients each count a forward of the layer), at each call's own batch. At most
 * max_rows rows (2 * rp_model_num_layers(m) always suffice);
 * returns their number. */
typedef struct rp_profile_row {
    char name[160];         /* the layer's name, or "first..last" for a chain */
    char kind[32];          /* the layer kind ("conv2d", "batchnorm2d", ...) or "chain(N convs)" */
    double fwd_ms, bwd_ms;  /* wall time in milliseconds, summed over the calls */
    int fwd_calls, bwd_products;
    double fwd_flop, bwd_flop;
} rp_profile_row;
void rp_model_profile_start(rp_model *m);
void rp_model_profile_stop(rp_model *m);
int rp_model_profile_rows(const rp_model *m, rp_profile_row *rows, int max_rows);

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
/* The normalisation a rampart checkpoint was trained with: when path is one and its input
 * has C channels, mean[0..C) and std[0..C) get it and *found is true; otherwise (a bare
 * PyTorch state_dict, another C) they are left alone and *found is false. RP_ERR_IO /
 * RP_ERR_FORMAT when path is not a readable safetensors file; RP_ERR_ARG for a NULL argument
 * or C outside [1, 4]. */
rp_status rp_checkpoint_norm(rp_ctx *ctx, const char *path, int C, float *mean, float *std, bool *found);
/* The class names a checkpoint's metadata holds ("class_names", saved by rp_model_save):
 * *names OWNED (free with rp_checkpoint_free_names), or NULL with *n = 0 when it has none.
 * RP_ERR_IO / RP_ERR_FORMAT name the file; RP_ERR_ARG for a NULL argument. */
rp_status rp_checkpoint_class_names(rp_ctx *ctx, const char *path, char ***names, int *n);
/* Frees what rp_checkpoint_class_names gave (n names); NULL is fine. */
void rp_checkpoint_free_names(char **names, int n);

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
    /* Weight averaging: 0 (off), or in (0, 1): after every step the optimizer keeps an
     * exponential moving average of every tensor of the model (buffers included),
     * a = ema_decay * a + (1 - ema_decay) * w, the first step's values copied: PyTorch's
     * AveragedModel(model, avg_fn = that EMA, use_buffers = True); integer buffers
     * (num_batches_tracked) are copied, not averaged. Its horizon is about 1 / (1 - ema_decay)
     * steps. rp_optim_swap_average puts the average in the model. */
    float ema_decay;
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
/* Steps taken so far (the schedule's position); 0 for NULL. */
int64_t rp_optim_steps(const rp_optim *o);
/* Exchange the model's values with their averages (cfg.ema_decay > 0), every tensor: call it
 * to evaluate or save the averaged model, and again before the next step (the optimizer
 * updates the model's own weights). Before the first step the averages are the weights the
 * optimizer was created with. RP_ERR_ARG when the optimizer keeps no average. */
rp_status rp_optim_swap_average(rp_optim *o);

/* Freeze or unfreeze the parameters whose names start with prefix ("" = all).
 * Frozen parameters get no gradient and no update. Returns how many tensors matched. */
int rp_model_freeze(rp_model *m, const char *prefix, bool frozen);
/* Trainable scalars that are not frozen (rp_model_num_params counts frozen ones too); 0 for
 * NULL. */
size_t rp_model_num_unfrozen(const rp_model *m);

/* ---- fine-tuning ----------------------------------------------------------------------
 * Starting from a weights file (a rampart checkpoint, or a bare PyTorch state_dict saved as
 * safetensors, e.g. torchvision's), into a model built for a new data set whose number of
 * classes may differ from the file's; then training the head first and unfreezing the layers
 * below it gradually. */

typedef struct rp_init_report {
    int file_classes;  /* rows of the file's classifier (0 when it has none) */
    bool reinit;       /* the classifier differed in size and kept its fresh initialisation */
    char head[128];    /* the classifier's tensors, comma-separated ("fc2.weight, fc2.bias") */
} rp_init_report;

/* Load every tensor of path into m. The classifier (the tensors of the model's last layer) is
 * re-initialised (left as built) when its number of classes differs from the file's; every
 * other tensor must be present with the model's shape, and the file may hold no other tensor
 * (errors name the file and the tensor). Nothing changes on failure. rep may be NULL.
 * RP_ERR_ARG for a NULL m or path. */
rp_status rp_model_init_from(rp_ctx *ctx, rp_model *m, const char *path, rp_init_report *rep);

/* Gradual unfreezing. The model's trainable parameters fall into groups by the top-level
 * prefix of their names, in registration order (the input side first): smallcnn conv1, conv2,
 * fc1, fc2; mobilenet_v2 features.0, ..., features.18, classifier.1; resnet conv1, bn1,
 * layer1, ..., layer4, fc (a name's first component, extended by the next when the first is a
 * container like "features" and the next a number). The last group is the head. Creating a
 * schedule freezes every group but the head; groups are then unfrozen top-down (the one
 * nearest the head first) at fixed epochs and/or when the training loss plateaus. A schedule
 * BORROWS its model, which must outlive it; one thread at a time. */
typedef struct rp_unfreeze rp_unfreeze;

typedef struct rp_unfreeze_config {
    int patience;    /* > 0: unfreeze the next group after this many epochs without improvement
                        (0: no plateau rule) */
    float threshold; /* an epoch improves when loss < best * (1 - threshold); in [0, 1) */
    const int *at;   /* strictly increasing epochs (>= 1) at whose start the next group is
                        unfrozen; BORROWED for the call (copied) */
    int n_at;
} rp_unfreeze_config;

/* OWNED (*out NULL on failure). Freezes every group but the head. RP_ERR_ARG for a NULL m, cfg
 * or out, NULL at with n_at > 0, a negative n_at or patience, a threshold outside [0, 1), a
 * schedule that is not positive and strictly increasing, or a model with fewer than two
 * groups; nothing is frozen then. */
rp_status rp_unfreeze_create(rp_ctx *ctx, rp_model *m, const rp_unfreeze_config *cfg, rp_unfreeze **out);
/* NULL is fine. */
void rp_unfreeze_destroy(rp_unfreeze *u);
/* Call at the start of each epoch (numbered from 1): the fixed schedule. Returns the group it
 * unfroze (BORROWED) or NULL (also for NULL u). */
const char *rp_unfreeze_epoch_start(rp_unfreeze *u, int epoch);
/* Call after each epoch with its mean training loss: the plateau rule. Returns the group it
 * unfroze (BORROWED) or NULL (also for NULL u); why (may be NULL) gets a short reason for a
 * log, "" when nothing was unfrozen. */
const char *rp_unfreeze_epoch_end(rp_unfreeze *u, double loss, char *why, size_t why_size);
/* Groups still frozen, and all groups (0 for NULL). */
int rp_unfreeze_frozen(const rp_unfreeze *u);
int rp_unfreeze_groups(const rp_unfreeze *u);
/* BORROWED name of group i (the head is the last), or NULL for NULL u or i out of range. */
const char *rp_unfreeze_group(const rp_unfreeze *u, int i);

/* ---- training ------------------------------------------------------------------------ */

/* A deterministic permutation of 0..n-1 for (seed, round): the shuffle of epoch `round`. */
void rp_permutation(int *idx, int n, uint64_t seed, uint64_t round);
/* count indices drawn uniformly, with replacement, from 0..n-1 into idx, by the stream of
 * (seed, round, n) alone: resample `round` of a bootstrap (rampart report's intervals), the
 * same on any machine and thread count. RP_ERR_ARG (with a message in ctx, which may be NULL)
 * for a NULL idx, count < 0 or n < 1. Thread-safe (no state). */
rp_status rp_resample(rp_ctx *ctx, int *idx, int count, int n, uint64_t seed, uint64_t round);
/* n values uniform in [0, 1) into x, by the stream of (seed, round) alone (random inputs for
 * benchmarks and tests, random starts). RP_ERR_ARG (with a message in ctx, which may be NULL)
 * for a NULL x with n > 0. Thread-safe (no state). */
rp_status rp_random_uniform(rp_ctx *ctx, float *x, size_t n, uint64_t seed, uint64_t round);

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
/* *families <- the corruption families (bit f for family f of rp_corruption_family_names())
 * training with cfg touches: the adversarial objectives perturb every pixel by a small bounded
 * amount, as the noise family does (fixed before any measurement); erm touches none.
 * RP_ERR_ARG for a NULL cfg or families, or an unknown kind. */
rp_status rp_objective_corruption_families(rp_ctx *ctx, const rp_objective_config *cfg, unsigned *families);

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
 * random starts, its dropout and stochastic-depth masks) come from its own streams keyed by
 * (seed, epoch, sample), so they do not depend on the batch size or on how a batch is split
 * among processes (each process names its piece's samples by their place in the data set).
 * Without it, a step's examples are numbered on from 0 across steps. */
void rp_objective_set_examples(rp_objective *o, int epoch, const int *idx);
/* Sharpness-aware minimisation (Foret et al. 2021) around any objective: each step computes
 * the objective's gradient g at w, moves to w + rho g / ||g||_2 (the trainable, unfrozen
 * weights; the job's gradient, so every process moves alike), takes the gradient there on the
 * same examples with the same random draws, and updates w with it; the step's statistics are
 * those at w, and batch norms' running statistics move once. Twice the passes of the
 * objective. rho = 0: off (the default). RP_ERR_ARG for a NULL o (no context to name it) or a
 * negative or non-finite rho (in the objective's context). */
rp_status rp_objective_set_sam(rp_objective *o, float rho);

/* Training state for exact resume: everything a run needs to continue as if it had never
 * stopped, in one safetensors file written atomically (PATH.tmp, fsync, rename): the model's
 * parameters and buffers, the optimizer's moments and step counters, the position, the
 * unfreeze schedule's position, the caller's flags (compared on load) and bookkeeping, and the
 * SHA-256 of the checkpoint written with it. Everything else a step draws is keyed by (seed,
 * epoch, sample), so the position restores it. */

/* Where a run stands: the next batch to take is `batch` (0-based) of `epoch` (from 1); the
 * sums are that epoch's so far (for its log line). */
typedef struct rp_train_position {
    int epoch, batch;
    double loss_sum;
    int64_t seen, correct, steps;
    double seconds; /* training wall time so far (log only) */
} rp_train_position;

/* What a state covers, BORROWED: the model and its optimizer (required), and an unfreeze
 * schedule or NULL (then none is saved, and a file that has one is refused on load, and the
 * other way round). */
typedef struct rp_train_parts {
    rp_model *m;
    rp_optim *opt;
    rp_unfreeze *unfreeze;
} rp_train_parts;

/* Write the state to path. flags_json: a JSON object of the settings a resumed run must share
 * (string values; NULL: {}); extra_json: the caller's bookkeeping (any JSON, or NULL);
 * weights_sha256: the checkpoint written with this state (64 hex digits, or NULL). RP_ERR_ARG
 * for a NULL path, parts, model, optimizer or position; RP_ERR_IO naming the file. */
rp_status rp_trainstate_save(rp_ctx *ctx, const char *path, const rp_train_parts *p, const rp_train_position *pos,
                             const char *flags_json, const char *extra_json, const char *weights_sha256);
/* Restore a state into parts created exactly as the saving run's were (same model, flags,
 * optimizer, objective). flags_json (NULL: {}) is compared key by key with the file's: a key
 * whose value differs, or that only one side has, is RP_ERR_ARG naming the file, the key and
 * both values. A missing, truncated or foreign file, or tensors that do not fit the model, are
 * errors naming the file. *extra_json (may be NULL): OWNED copy of the caller's bookkeeping
 * (release with free()), or NULL; weights_sha256 (65 bytes, may be NULL): the link, "" when the
 * file has none. Nothing is modified unless every check passes. RP_ERR_ARG for a NULL path,
 * parts, model, optimizer or position. */
rp_status rp_trainstate_load(rp_ctx *ctx, const char *path, const rp_train_parts *p, const char *flags_json,
                             rp_train_position *pos, char **extra_json, char *weights_sha256);

/* Accuracy of the model (eval mode) on n samples of ds, in batches. */
rp_status rp_evaluate(rp_ctx *ctx, rp_model *m, const rp_dataset *ds, int n, int batch,
                      double *accuracy, double *mean_loss);

/* ---- processes (MPI) -------------------------------------------------------------
 * Processes working together over MPI (data-parallel training, sharded evaluation). A build
 * finds MPI (Debian's OpenMPI) when it is installed; a process started by mpirun (an MPI
 * launcher's environment: OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK) joins the world
 * communicator; any other process -- and every process of a build without MPI -- is rank 0 of
 * 1, where every collective is the identity. An application that initialised MPI itself keeps
 * it: rampart then neither initialises nor finalises it.
 *
 * Collectives are deterministic: the sum is formed in rank order (rank 0's value first),
 * whatever the message size, the MPI library's algorithm or the timing, and every rank
 * receives the same bits. Only the calling thread uses MPI (MPI_THREAD_FUNNELED): call these
 * outside OpenMP regions, one thread at a time per handle. Every collective must be called by
 * all ranks in the same order with the same sizes. Errors go to the context the handle was
 * created with: a peer gone or an MPI failure is RP_ERR_IO naming the operation and the rank;
 * a NULL buffer with bytes to move is RP_ERR_ARG; a NULL handle is RP_ERR_ARG (with no
 * context to hold a message). */

typedef struct rp_dist rp_dist;

/* True when this build has MPI. */
bool rp_dist_built_with_mpi(void);
/* OWNED: this process's place among the job's processes (see above). The handle BORROWS ctx
 * (where it reports failures), which must outlive it. RP_ERR_ARG for a NULL out. */
rp_status rp_dist_create(rp_ctx *ctx, rp_dist **out);
/* Finalises MPI when rp_dist_create initialised it. NULL is fine. */
void rp_dist_destroy(rp_dist *d);
/* This process's rank and the job's size (0 and 1 for NULL). */
int rp_dist_rank(const rp_dist *d);
int rp_dist_size(const rp_dist *d);
/* buf (n values, the same n on every rank) <- the sum over ranks of every rank's buf, added
 * in rank order: ((buf_0 + buf_1) + buf_2) + ... Scratch grows to n values and is kept. */
rp_status rp_dist_sum_f32(rp_dist *d, float *buf, size_t n);
rp_status rp_dist_sum_f64(rp_dist *d, double *buf, size_t n);
/* Data-parallel training sums each step's gradients in buckets while the backward pass still
 * runs (rp_objective_set_dist): on by default; off when the environment has
 * RAMPART_DIST_OVERLAP=0 at rp_dist_create, or after rp_dist_set_overlap(d, false). Either
 * way the sums, and so the training, are the same bits; every rank must choose the same.
 * rp_dist_overlap is false for NULL and for a job of one process. */
void rp_dist_set_overlap(rp_dist *d, bool on);
bool rp_dist_overlap(const rp_dist *d);
/* Every rank's buf <- root's (bytes the same on every rank). RP_ERR_ARG for a root outside
 * the job. */
rp_status rp_dist_bcast(rp_dist *d, void *buf, size_t bytes, int root);
/* all <- the concatenation, in rank order, of every rank's `bytes` bytes at mine (bytes may
 * differ between ranks; all holds their total). counts (rp_dist_size entries, may be NULL)
 * gets each rank's byte count. */
rp_status rp_dist_allgather(rp_dist *d, const void *mine, size_t bytes, void *all, size_t *counts);
/* *total <- the sum of `bytes` over ranks, without gathering (to size `all` for
 * rp_dist_allgather, or to count the ranks where something failed). */
rp_status rp_dist_total(rp_dist *d, size_t bytes, size_t *total);
/* A cheap agreement check (e.g. rp_model_weights_hash): RP_ERR_ARG naming `what`, the first
 * rank whose v differs from rank 0's, and both values, on every rank. */
rp_status rp_dist_check_same(rp_dist *d, uint64_t v, const char *what);
/* Stop the whole job now with this exit code (MPI_Abort; exit() with one process, or with
 * NULL): the one call of the library that ends the process, for a program whose part of the
 * job failed (the other ranks would wait in their next collective for ever). */
void rp_dist_abort(rp_dist *d, int code);
/* Data-parallel training over the job's processes (d BORROWED; NULL or a job of one process:
 * none). Each process steps on its piece of the global batch (the loader's part; a piece may
 * be empty, B = 0); every gradient is weighted by B / (the global batch) and summed over the
 * processes in rank order -- in buckets while the step's last parameter-gradient backward still
 * runs, or after the passes with overlap off (rp_dist_set_overlap: the same bits) -- and the
 * step statistics are the global batch's, so the update is the one-process step's up to float
 * rounding and identical on every process. Batch norms use the whole job's batch statistics.
 * Dropout and stochastic depth masks are keyed by example, so name each step's examples by
 * their place in the data set (rp_objective_set_examples). RP_ERR_ARG for a NULL o (no context to name it). */
rp_status rp_objective_set_dist(rp_objective *o, rp_dist *d);

/* ---- corruptions ------------------------------------------------------------------
 * The common-corruption suite (ImageNet-C's 15, its 4 held-out extras, MNIST-C's geometric
 * and line corruptions), five severities each, on images (H,W,C) in [0, 1], C = 1 or 3, any
 * size; every output is clipped to [0, 1]. Corruptions are named ("gaussian_noise", "fog",
 * "jpeg_compression", ...; the index order is fixed within a version). Parameters come from
 * the severity table of the image's size (rp_corruption_table_name). Determinism: image
 * first_index + b draws only from a stream seeded by (seed, first_index + b, corruption,
 * severity), so a batch equals single-image calls and no result depends on the thread count.
 * All of these are thread-safe (no state). */

typedef struct rp_corruption_info {
    const char *name;   /* "gaussian_noise", ... (CIFAR-10-C's file names). STATIC */
    const char *family; /* "noise", "blur", "weather", "digital", "geometric", "occlusion". STATIC */
    bool imagenet_c;    /* one of ImageNet-C's 15 */
    bool held_out;      /* one of the 4 held-out extras (speckle_noise, gaussian_blur, spatter,
                           saturate): the ones a recipe may be tuned on */
    bool grayscale;     /* changes 1-channel images (false: the identity on them, as saturate) */
} rp_corruption_info;

/* How many corruptions there are; they are indexed 0 .. count-1. */
int rp_corruption_count(void);
/* Corruption i's name, family and flags; RP_ERR_ARG when i is out of range. */
rp_status rp_corruption_describe(rp_ctx *ctx, int i, rp_corruption_info *out);
/* The family names, NULL-terminated. STATIC. */
const char *const *rp_corruption_family_names(void);
/* The index of the corruption called name (a short alias such as "jpeg" or "elastic" is
 * accepted too); RP_ERR_ARG naming it when there is none. */
rp_status rp_corruption_find(rp_ctx *ctx, const char *name, int *index);
/* Expand a comma-separated list of names, families and the sets "all", "imagenet-c" and
 * "extra" ("blur,fog,jpeg") into selected[i] for i < rp_corruption_count(); RP_ERR_ARG names
 * the item that is none of these. */
rp_status rp_corruption_select(rp_ctx *ctx, const char *spec, bool *selected);
/* Severities "1,2,3,4,5", "3" or "1-5" (ranges and lists mixed) into sev[1..5] (sev[0] false).
 * RP_ERR_ARG naming the list for an empty or NULL one, a severity outside 1..5 or anything
 * else; RP_ERR_ARG for a NULL sev. */
rp_status rp_corruption_parse_severities(rp_ctx *ctx, const char *spec, bool sev[6]);
/* The severity table used for images of H x W: "28px" (side <= 28, this project's),
 * "CIFAR-10-C" (<= 32), "Tiny-ImageNet-C" (<= 96), "ImageNet-C". STATIC. */
const char *rp_corruption_table_name(int H, int W);
/* Corrupt x (B,H,W,C) in place with corruption `name` at severity 1..5; image b is number
 * first_index + b of the stream (see above). Images run in parallel (OpenMP). RP_ERR_ARG
 * for an unknown name (named), a severity outside 1..5, C not 1 or 3, or NULL x. */
rp_status rp_corrupt(rp_ctx *ctx, const char *name, int severity, float *x, int B, int H, int W, int C,
                     uint64_t seed, uint64_t first_index);

/* ---- attacks --------------------------------------------------------------------------
 * Batched attacks on any model, inputs in [0,1] pixel space, L-inf and L2, untargeted and
 * targeted, seeded. They run the model in EVAL mode and use only its forward and input
 * gradient. Every attack writes x_adv with ||x_adv - x|| <= eps (per example, in its norm) and
 * clip_min <= x_adv <= clip_max. An attack BORROWS its model and its context (errors of
 * rp_attack_run go to the context given at creation); one thread at a time per attack, and
 * not at the same time as other users of the same model. */

typedef enum rp_attack_kind {
    RP_ATTACK_FGSM,    /* one signed-gradient (L-inf) / normalised-gradient (L2) step of size eps */
    RP_ATTACK_FGSM_RS, /* FGSM from a uniform random start, step alpha (Wong et al. 2020) */
    RP_ATTACK_PGD,     /* Madry et al.: steps x step_size, random start, restarts */
    RP_ATTACK_APGD_CE, /* Croce & Hein 2020, cross-entropy loss */
    RP_ATTACK_APGD_T,  /* Croce & Hein 2020, targeted DLR loss over the top classes */
    RP_ATTACK_SQUARE,  /* Andriushchenko et al. 2020, L-inf score-based, no gradients */
    RP_ATTACK_NOISE,   /* uniform random sign noise of the same eps (a baseline, not an attack) */
    RP_ATTACK_WORST,   /* AutoAttack-style: APGD-CE, APGD-T, Square in turn on the still-robust points */
} rp_attack_kind;

typedef enum rp_attack_loss { RP_LOSS_CE, RP_LOSS_MARGIN, RP_LOSS_DLR } rp_attack_loss;

typedef struct rp_attack_config {
    rp_attack_kind kind;
    rp_norm norm;        /* RP_NORM_LINF or RP_NORM_L2 */
    float eps;           /* radius; INFINITY = unbounded (only the [clip] box) */
    float step_size;     /* PGD / FGSM-RS step; <= 0: the attack's default (PGD: 2.5*eps/steps) */
    int steps;           /* iterations (PGD, APGD); queries for Square */
    int restarts;        /* >= 1 */
    bool random_start;   /* PGD */
    rp_attack_loss loss; /* PGD: CE or margin */
    bool targeted;       /* then `target` gives the classes to reach */
    int n_target_classes;/* APGD-T: how many top classes to target (AutoAttack: 9) */
    float clip_min, clip_max;
    uint64_t seed;
    int square_queries;  /* WORST: Square's queries (AutoAttack: 5000) */
    float p_init;        /* Square: initial fraction of pixels per square (AutoAttack: 0.8) */
} rp_attack_config;

/* Defaults per kind: L-inf, CE loss, clip [0, 1], 1 restart, seed 0; steps FGSM/FGSM-RS 1,
 * PGD 10 (random start), APGD 100, Square 5000 queries; FGSM-RS step 1.25 eps, PGD
 * 2.5 eps / steps, APGD 2 eps (halved at checkpoints); APGD-T 9 target classes. */
rp_attack_config rp_attack_defaults(rp_attack_kind kind, float eps);
/* Short name: "fgsm", "fgsm-rs", "pgd", "apgd-ce", "apgd-t", "square", "noise", "worst";
 * "unknown" for another value. STATIC. */
const char *rp_attack_name(rp_attack_kind kind);
/* The kind named s (as rp_attack_name), or -1 (also for NULL). */
int rp_attack_kind_from_name(const char *s);

typedef struct rp_attack rp_attack;

/* OWNED. All buffers for batches up to max_batch are allocated here (and the model's
 * activation arena grown to max_batch). RP_ERR_ARG / RP_ERR_UNSUPPORTED name what is wrong
 * with the configuration (an attack that needs more classes than the model has, ...). */
rp_status rp_attack_create(rp_ctx *ctx, rp_model *m, const rp_attack_config *cfg, int max_batch,
                           rp_attack **out);
void rp_attack_destroy(rp_attack *a);
/* BORROWED: the configuration in use, defaults resolved (e.g. PGD's step size). */
const rp_attack_config *rp_attack_get_config(const rp_attack *a);
/* Attack B examples x (B,H,W,C) with labels y (and the classes to reach in target when
 * targeted; else target may be NULL). Writes x_adv (B,H,W,C, a separate buffer) and, when
 * non-NULL, success[i] = the eval-mode prediction on x_adv[i] != y[i] (targeted: == target[i]);
 * *passes (if non-NULL) gets the forward passes used (PGD-k costs k + 1). An example stops
 * being attacked at the first iterate that fools the model; restarts run only on the examples
 * not yet fooled and keep, for the others, the highest-loss point. Errors: a batch outside
 * [1, max_batch], labels or targets outside the classes, overlapping buffers (RP_ERR_ARG);
 * non-finite pixels (RP_ERR_NUMERIC). */
rp_status rp_attack_run(rp_attack *a, const float *x, const int32_t *y, const int32_t *target, int B,
                        float *x_adv, bool *success, long *passes);
/* Random draws (starts, restarts, Square's squares, noise) come from each example's own
 * stream keyed by (seed, the example's number): successive runs number their examples on
 * from 0, so an example's attack does not depend on the batch it is in. seek sets the number
 * of the next run's first example. */
void rp_attack_seek(rp_attack *a, int64_t first);
/* Whether every x_adv[i] (B examples of X floats) is within eps of x[i] in norm and inside
 * [clip_min, clip_max] (float rounding allowed: 1e-6 + 1e-6 eps); *max_norm (if non-NULL)
 * gets the largest perturbation norm. */
bool rp_attack_check_ball(const float *x, const float *x_adv, int B, size_t X, rp_norm norm, float eps,
                          float clip_min, float clip_max, float *max_norm);
/* Parse an eps as the command takes it: "0.1", "8/255" or "inf" (INFINITY). RP_ERR_ARG quoting s
 * when it is malformed, NaN or negative, or for a NULL argument. */
rp_status rp_parse_eps(rp_ctx *ctx, const char *s, float *out);
/* eps as the command shows it, into buf: "0.03137 (8/255)", "inf" for an unbounded one.
 * RP_ERR_ARG for a NULL buf or a size the text does not fit in (32 always suffice). */
rp_status rp_eps_text(rp_ctx *ctx, float eps, char *buf, size_t size);

/* ---- robustness evaluation ------------------------------------------------------------
 * Accuracy of one or more models under conditions — clean, noise, a corruption at a severity,
 * an attack, the worst case over attacks — all on the same images of a data set. An example is
 * robust under an attack only when the model classifies both x and x_adv correctly
 * (AutoAttack's convention), so robust accuracy <= clean accuracy. Corrupted images are made
 * once per batch and shared by every model; image i of the data set is corrupted from the
 * stream of (seed, i), so results do not depend on the batch size or thread count. */

typedef enum rp_eval_kind { RP_EVAL_CLEAN, RP_EVAL_CORRUPTION, RP_EVAL_ATTACK, RP_EVAL_NOISE } rp_eval_kind;

typedef struct rp_eval_condition {
    rp_eval_kind kind;
    const char *corruption;  /* RP_EVAL_CORRUPTION: its name (rp_corruption_find) */
    int severity;            /* RP_EVAL_CORRUPTION: 1..5; RP_EVAL_NOISE: 1..5, or 0 with a strength */
    rp_attack_config attack; /* RP_EVAL_ATTACK. With kind RP_ATTACK_WORST: the per-example worst
                                case over every other attack of the list at the same norm and
                                eps, together with APGD-CE, APGD-T and Square (AutoAttack's
                                sequence, run here unless all three are in the list) */
    const char *noise;       /* RP_EVAL_NOISE: "gaussian", "shot", "impulse" ("salt-and-pepper"),
                                "speckle" (rp_eval_noise_strength); image i's noise is drawn from
                                the stream of (noise, strength, i), shared by every model */
    float strength;          /* RP_EVAL_NOISE: sigma, c or amount; <= 0: the severity's for the
                                data's image size */
} rp_eval_condition;

/* The strength of noise `name` at severity 1..5 for images of H x W (the severity table
 * rp_corruption_table_name names): gaussian and speckle sigma, shot's photon scale c, impulse's
 * amount. *canonical (may be NULL) gets the noise's own name, STATIC ("impulse" for
 * "salt-and-pepper"). RP_ERR_ARG naming an unknown noise, for a severity outside 1..5, H or W
 * < 1, or a NULL name or strength. Thread-safe (no state). */
rp_status rp_eval_noise_strength(rp_ctx *ctx, const char *name, int severity, int H, int W, float *strength,
                                 const char **canonical);

typedef struct rp_eval_options {
    int first;      /* the first example of the data set (0) */
    int n;          /* examples from `first` (<= 0: all the rest) */
    int batch;      /* batch size (> 0) */
    uint64_t seed;  /* the corruption streams (attacks use their own config's seed) */
    unsigned char *correct; /* optional, caller-owned (n_conds, n_models, n) bytes: per-example
                               (robust) correctness, for paired statistics (0 for rows not applicable) */
    rp_model *source;   /* optional, BORROWED: every attack is crafted on source and applied to
                           each model (transfer); NULL: white-box */
    bool adapt_bn;      /* clean, noise and corruption rows: test-time batch-norm adaptation, each
                           batch normalised with its own statistics; attacks see the stored ones.
                           A model without batch norm is RP_ERR_ARG */
    rp_dist *dist;      /* optional, BORROWED: the job's processes share the examples and every
                           process gets all the rows (and `correct`), exactly as one process
                           computes them; every process must call with the same arguments */
    /* optional: called on the calling thread after each batch of condition `cond` (-1: the clean
       pass the attacks need when the list has no clean row), done of total examples */
    void (*progress)(void *arg, int cond, int done, int total);
    void *progress_arg;
} rp_eval_options;

typedef struct rp_eval_result {
    int n;              /* examples evaluated (0 when not applicable) */
    long correct;       /* examples classified correctly (robustly) */
    double accuracy;    /* correct / n; NaN when not applicable */
    bool not_applicable;/* a corruption that is the identity on this data (saturate on gray) */
    double ece;         /* clean and corruption rows: expected calibration error (15 bins); NaN
                           for attacks */
    bool ball_checked;  /* attacks: the ball was checked on every batch (in_ball says how it went) */
    bool in_ball;       /* attacks: every perturbation was inside the eps-ball and [clip] */
    bool deterministic; /* clean: the first batch forwarded twice more gave identical logits */
    float max_norm;     /* attacks: the largest perturbation norm seen */
    long passes;        /* attacks: forward(+backward) passes used */
    double seconds;     /* wall time of the condition (all models together) */
} rp_eval_result;

/* Fill results[c * n_models + m] for condition c and model m. Every model must fit the data
 * set's image size and classes (RP_ERR_SHAPE naming the model's index). Errors: RP_ERR_ARG for
 * NULL arguments, an unknown corruption or noise (named) or severity, a bad batch or range. The models'
 * activation arenas grow to the batch. The models, source and dist are BORROWED for the call:
 * one call at a time per model, and no other use of the models meanwhile. */
rp_status rp_evaluate_conditions(rp_ctx *ctx, rp_model *const *models, int n_models, const rp_dataset *ds,
                                 const rp_eval_condition *conds, int n_conds, const rp_eval_options *opts,
                                 rp_eval_result *results);

/* The evaluation checklist (Carlini et al. 2019; Athalye et al. 2018; AutoAttack's flags):
 * warnings about model m's column of a table that rp_evaluate_conditions filled (conds x
 * n_models results). A table that fails one reports fiction. The checks (rp_warning.check):
 *   eps-monotone       accuracy rises with eps under one attack (FGSM: gradient masking)
 *   steps-restarts     more steps or restarts of the same attack raise accuracy
 *   iterative-vs-fgsm  an iterative attack (PGD, APGD) leaves more accuracy than FGSM
 *   blackbox-vs-whitebox  Square (black-box) beats every white-box gradient attack
 *   noise-vs-whitebox  random sign noise of the same eps is as strong as the white-box attacks
 *   large-eps          at the largest L-inf eps >= 0.3 accuracy stays above 1 / num_classes
 *   unbounded          an unbounded attack (eps = inf) leaves accuracy above 0
 *   ball               perturbations outside the eps-ball or the pixel range
 *   nondeterministic   the same input gave different logits (a randomized model: use EoT)
 * Corruption rows are left out. transfer: the attacks were crafted on another model
 * (rp_eval_options.source), so only the ball is checked. Accuracy differences up to slack (a
 * fraction: 0, or 1/n) are not reported. Writes up to max_out warnings to out and the number
 * there were in all to *count. RP_ERR_ARG for a NULL conds, results or count (or out with
 * max_out > 0), n_conds or n_models < 1, m outside the columns, num_classes < 1, a negative
 * slack or max_out, or a condition rp_evaluate_conditions would refuse (named). Thread-safe. */
typedef struct rp_warning {
    char check[24];    /* the check's id, above */
    char message[400]; /* what was seen, with the rows and accuracies */
} rp_warning;
rp_status rp_evaluate_checklist(rp_ctx *ctx, const rp_eval_condition *conds, int n_conds, const rp_eval_result *results,
                                int n_models, int m, int num_classes, bool transfer, double slack, rp_warning *out,
                                int max_out, int *count);

/* The corruption summary of model m (ImageNet-C's conventions, Hendrycks & Dietterich 2019)
 * from a table rp_evaluate_conditions filled. Per corruption (out[k] for corruption k, k <
 * rp_corruption_count()): its mean accuracy over the severities in the table, its CE (sum_s
 * err / sum_s err_ref) and relative CE (sum_s (err_s - err_clean) / the reference's) against
 * the model of column ref (-1: none, then CE and relative CE are NaN). Means (rp_corruption_means):
 * per family (in rp_corruption_family_names' order), over all applicable corruptions, and the
 * mCE: over ImageNet-C's 15 when all of them are present and applicable, else over every
 * applicable corruption present, leaving out those whose CE (relative CE) is undefined. The
 * relative CE needs a clean row (NaN without one). RP_ERR_ARG for a NULL conds, results, out
 * or means, n_conds or n_models < 1, m or ref outside the columns, n_out <
 * rp_corruption_count(), or a condition rp_evaluate_conditions would refuse (named).
 * Thread-safe. */
#define RP_CORRUPTION_FAMILIES 6 /* noise, blur, weather, digital, geometric, occlusion */
typedef struct rp_corruption_summary {
    bool present;         /* the table holds rows of this corruption */
    bool applicable;      /* ... and they were run (not the identity on the data) */
    int severities;       /* rows (severities) averaged */
    double accuracy;      /* mean accuracy over the severities */
    double ce;            /* sum_s err / sum_s err_ref (NaN: no reference, or err_ref sums to 0) */
    double relative_ce;   /* sum_s (err_s - err_clean) / sum_s (ref's); NaN: no reference or the
                             reference's sum <= 0 (the corruption did not hurt the reference) */
} rp_corruption_summary;
typedef struct rp_corruption_means {
    double family_accuracy[RP_CORRUPTION_FAMILIES]; /* mean of the family's corruption means; NaN: none */
    int family_count[RP_CORRUPTION_FAMILIES];       /* applicable corruptions in each family */
    double accuracy;      /* mean corruption accuracy over all applicable corruptions present */
    int count;            /* ... how many */
    double mce, relative_mce; /* NaN when no corruption has one */
    int mce_count;        /* corruptions of the set the mCE is over */
    int mce_defined, relative_mce_defined; /* ... of which had a CE (relative CE) */
    bool mce_imagenet_c;  /* the mCE is over ImageNet-C's 15 */
} rp_corruption_means;
rp_status rp_evaluate_corruption_summary(rp_ctx *ctx, const rp_eval_condition *conds, int n_conds,
                                         const rp_eval_result *results, int n_models, int m, int ref,
                                         rp_corruption_summary *out, int n_out, rp_corruption_means *means);

/* ---- explanations -------------------------------------------------------------------
 * Attribution maps of a model's prediction, batched, one target class per image. Every
 * method explains the target's LOGIT with the model in eval mode; inputs are in [0, 1] pixel
 * space, so baselines mean the same for every model. Maps (rp_xai_result):
 *   attr   (B,H,W,C) the gradient methods' input-space attribution (the gradient itself for
 *          saliency, SmoothGrad and guided; gradient * input; Integrated Gradients);
 *   signed (B,H,W)   attr summed over channels (IG keeps completeness); CAM family: the raw
 *          signed map upsampled; occlusion: the score drop;
 *   map    (B,H,W)   the importance shown and ranked: saliency, SmoothGrad, guided: max over
 *          channels of |attr|; gradient*input, IG, occlusion: the signed map; CAM family: the
 *          upsampled map, ReLU'd when cfg.cam_relu.
 * A map depends only on its image, target, the model and the config, not on the batch. An
 * explainer BORROWS its model and context (errors go to that context); one thread at a time,
 * and not at the same time as other users of the same model. */

typedef enum rp_xai_method {
    RP_XAI_SALIENCY,   /* vanilla gradient d logit_t / dx (Simonyan et al. 2014) */
    RP_XAI_GRADXINPUT, /* gradient * input (Shrikumar et al. 2016) */
    RP_XAI_SMOOTHGRAD, /* mean gradient at x + N(0, sigma^2) (Smilkov et al. 2017) */
    RP_XAI_IG,         /* Integrated Gradients (Sundararajan et al. 2017), completeness reported */
    RP_XAI_GUIDED,     /* guided backpropagation (Springenberg et al. 2015) */
    RP_XAI_CAM,        /* class activation map (Zhou et al. 2016): GAP + linear heads only */
    RP_XAI_GRADCAM,    /* Grad-CAM (Selvaraju et al. 2017) on any node */
    RP_XAI_GRADCAMPP,  /* Grad-CAM++ (Chattopadhay et al. 2018) */
    RP_XAI_OCCLUSION,  /* drop of the target logit when a window is replaced (Zeiler & Fergus 2014) */
    RP_XAI_COUNT
} rp_xai_method;

/* "saliency", "gradxinput", "smoothgrad", "ig", "guided", "cam", "gradcam", "gradcam++",
 * "occlusion"; "unknown" for another value. STATIC. */
const char *rp_xai_method_name(rp_xai_method m);
/* The method named s, or -1 (also for NULL). */
int rp_xai_method_from_name(const char *s);

typedef enum rp_xai_baseline {
    RP_BASELINE_BLACK, /* all zeros (black in pixel space, whatever the normalisation) */
    RP_BASELINE_BLUR,  /* the image blurred with a Gaussian of std cfg.blur_sigma pixels */
    RP_BASELINE_CUSTOM /* cfg.ig_custom, one (H,W,C) image */
} rp_xai_baseline;

typedef struct rp_explain_config {
    int chunk;            /* inputs per forward/backward pass (images x steps, samples or windows);
                             memory does not grow with steps or samples */
    uint64_t seed;        /* SmoothGrad's noise */
    float sg_sigma;       /* SmoothGrad noise std, in pixel units ([0, 1] images) */
    int sg_samples;
    int ig_steps;         /* IG: midpoint Riemann sum, alpha_k = (k + 1/2) / steps */
    rp_xai_baseline ig_baseline;
    float blur_sigma;     /* std in pixels of the blurred baseline; <= 0: max(H, W) / 10 */
    const float *ig_custom; /* BORROWED (H,W,C) for RP_BASELINE_CUSTOM */
    const char *layer;    /* CAM family: node name; NULL or "": the last spatial feature map
                             (copied at creation: not kept) */
    bool cam_relu;        /* CAM family: ReLU the map, as the papers do (false: raw, signed) */
    bool counterfactual;  /* CAM family: negate the gradients (CAM: the class weights), i.e.
                             what speaks AGAINST the target (Selvaraju et al. sec. 3) */
    int occ_window, occ_stride; /* occlusion: square window and stride in pixels; <= 0: automatic,
                                   window max(1, side / 7), stride max(1, window / 2) */
    float occ_value;      /* occlusion: value the window's pixels (all channels) are set to */
} rp_explain_config;

/* chunk 32, seed 0, SmoothGrad sigma 0.15 with 32 samples, IG 64 steps from black, blur sigma
 * auto, last spatial layer, ReLU on, occlusion window and stride automatic, value 0. */
rp_explain_config rp_explain_defaults(void);
/* Whether method m's importance map can be negative under cfg (then show it with a diverging
 * colormap centred on 0). */
bool rp_xai_map_is_signed(rp_xai_method m, const rp_explain_config *cfg);

typedef struct rp_explainer rp_explainer;

/* OWNED. Grows the model's activation arena to cfg->chunk. A named CAM layer that does not
 * exist is RP_ERR_ARG here; with no name, a model without a spatial feature map fails only when
 * a CAM method is asked for. */
rp_status rp_explainer_create(rp_ctx *ctx, rp_model *m, const rp_explain_config *cfg, rp_explainer **out);
void rp_explainer_destroy(rp_explainer *ex);
/* BORROWED: the configuration the explainer was created with (its chunk, the methods'
 * settings); NULL for NULL. */
const rp_explain_config *rp_explainer_get_config(const rp_explainer *ex);
/* The CAM family's layer name, or NULL when there is none. BORROWED. */
const char *rp_explainer_layer(const rp_explainer *ex);
/* The CAM layer's spatial size (h, w) (the size of rp_xai_result.lowres per image);
 * RP_ERR_UNSUPPORTED when the model has none. */
rp_status rp_explainer_layer_shape(rp_explainer *ex, int *h, int *w);

typedef enum rp_target_kind { RP_TARGET_PRED, RP_TARGET_TRUE, RP_TARGET_CLASS } rp_target_kind;
/* targets[i] = the model's prediction on x[i] (PRED), y[i] (TRUE; y required) or cls (CLASS).
 * RP_ERR_NUMERIC names a non-finite pixel of x; RP_ERR_ARG a class out of range. */
rp_status rp_xai_targets(rp_explainer *ex, const float *x, const int32_t *y, int B, rp_target_kind kind,
                         int cls, int32_t *targets);

typedef struct rp_xai_result { /* caller-owned buffers the method writes */
    float *map;         /* (B,H,W), required */
    float *signed_map;  /* (B,H,W) or NULL */
    float *attr;        /* (B,H,W,C) or NULL; gradient methods only (left untouched otherwise) */
    float *lowres;      /* (B,h,w) at the CAM layer's resolution, or NULL; CAM family only */
    double *ig_gap;     /* (B) or NULL; IG: sum(attr) - (f(x) - f(baseline)) */
    double *ig_delta_f; /* (B) or NULL; IG: f(x) - f(baseline) */
} rp_xai_result;

/* Explain x (B,H,W,C) for targets (B) with method m into r. Errors: RP_ERR_NUMERIC for NaN/Inf
 * in x (naming image and element), in a parameter (naming it) or in the result; RP_ERR_ARG for
 * an unknown method, a missing map buffer or a target out of range; RP_ERR_UNSUPPORTED for CAM
 * without a GAP + linear head, or a CAM method on a model without a spatial feature map. */
rp_status rp_xai_explain(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *targets, int B,
                         const rp_xai_result *r);

/* Sanity checks. Cascading model-parameter randomization (Adebayo et al. 2018): for every
 * layer with trainable parameters, from the logits down, re-draw them from their initialiser
 * (seeded), recompute method m's maps for the same targets and compare them with the intact
 * model's: rows[k] gets the layer's name and the mean Spearman rank correlation of the maps
 * (and of the signed maps). A method that explains the model falls towards 0. At most max_rows
 * rows (rp_model_num_tensors(m) always suffice); *n_rows gets the count. The model's
 * parameters are restored before returning, also on error. */
typedef struct rp_sanity_row {
    char layer[64];    /* the layer re-randomized at this step (cumulative from the top) */
    double rho_map;    /* mean over images of Spearman(original, randomized) importance maps */
    double rho_signed; /* the same for the signed maps */
} rp_sanity_row;
rp_status rp_sanity_randomization(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *t, int B,
                                  uint64_t seed, rp_sanity_row *rows, int max_rows, int *n_rows);
/* Deletion and insertion (Petsiuk et al. 2018) of maps (B,H,W): pixels ranked by map value,
 * highest first (ties in a seeded order); deletion blacks out the top fraction k/steps of
 * pixels, insertion puts them back into the blurred image; the curve is the target's softmax
 * probability at k = 0..steps and the AUC its trapezoid area. LOWER deletion AUC and HIGHER
 * insertion AUC are better. del_auc, ins_auc: (B), either may be NULL. */
rp_status rp_xai_deletion_insertion(rp_explainer *ex, const float *x, const int32_t *t, int B, const float *map,
                                    int steps, uint64_t seed, double *del_auc, double *ins_auc);
/* n uniform values from a seeded stream: the baseline map a method must beat. */
void rp_xai_random_map(float *map, size_t n, uint64_t seed);

/* ---- tensor files ------------------------------------------------------------------
 * Named tensors written as one safetensors file (what PyTorch's safetensors.torch.load_file
 * reads), with string metadata: the command's adversarial examples and explanations. */

typedef enum rp_tensor_dtype { RP_TENSOR_F32, RP_TENSOR_I64 } rp_tensor_dtype;
typedef struct rp_tensor_entry {
    const char *name;      /* unique, not "__metadata__" */
    rp_tensor_dtype dtype; /* how it is stored; data is float either way (I64: integral values) */
    int ndim;              /* 0..8 */
    int64_t shape[8];
    const float *data;     /* BORROWED: the product of shape values */
} rp_tensor_entry;

/* Write n tensors and n_meta metadata pairs to PATH.tmp, fsync and rename it to path.
 * RP_ERR_ARG naming what is wrong: a NULL path, tensors or metadata array with entries to
 * write, a negative count, a bad name, dtype, rank or shape, a NULL metadata key or value, a
 * tensor without data; RP_ERR_IO naming the file. */
rp_status rp_tensors_write(rp_ctx *ctx, const char *path, const rp_tensor_entry *tensors, int n,
                           const char *const *meta_keys, const char *const *meta_values, int n_meta);

/* Write len bytes of data to path as rampart writes every file that must survive a crash:
 * PATH.tmp, fsync, rename over path, fsync of its folder; on failure path is as it was and no
 * PATH.tmp is left. RP_ERR_ARG for a NULL path or NULL data with len > 0; RP_ERR_IO naming the
 * file (path a folder, a folder missing, a write failing). */
rp_status rp_file_write_atomic(rp_ctx *ctx, const char *path, const void *data, size_t len);

/* ---- images -------------------------------------------------------------------------- */

/* Read an image file (JPEG or PNG) into x (H,W,C) as floats in [0, 1], fitted as the image-file
 * data sets do (shorter side resized to fit, centre crop, gray <-> RGB). RP_ERR_IO /
 * RP_ERR_FORMAT name the file; RP_ERR_UNSUPPORTED for C other than 1 or 3; RP_ERR_ARG for a
 * NULL path or x, or H or W < 1. */
rp_status rp_image_load(rp_ctx *ctx, const char *path, int H, int W, int C, float *x);
/* ImageNet's per-channel mean and std on [0, 1] RGB pixels into mean[0..3) and std[0..3):
 * the normalisation torchvision's pretrained weights expect, and the RGB image-file sets'.
 * RP_ERR_ARG for a NULL argument. */
rp_status rp_imagenet_norm(rp_ctx *ctx, float *mean, float *std);

/* Write image (H,W,C), C = 1 or 3, values in [0, 1] (clipped), as an 8-bit PNG with every
 * pixel magnified to a scale x scale block (scale >= 1). Written to PATH.tmp and renamed. */
rp_status rp_image_write_png(rp_ctx *ctx, const char *path, const float *image, int H, int W, int C, int scale);
/* Write 8-bit pixels pix (H,W,C) as they are, C = 1 as a gray PNG and 3 as an RGB one, to
 * PATH.tmp and rename it to path. RP_ERR_ARG for a NULL argument, H or W < 1 or another C;
 * RP_ERR_IO naming the file. */
rp_status rp_image_write_png_u8(rp_ctx *ctx, const char *path, const uint8_t *pix, int H, int W, int C);
/* Write an explanation as a PNG of three panels side by side: the image (H,W,C), its map
 * (H,W) in colour (viridis; blue-white-red centred on 0 when is_signed) and the map over the
 * image (alpha 0.5), each pixel magnified scale x scale (<= 0: so that the longer side is at
 * least 112 pixels). The map is divided by the 99th percentile of |map| and clamped (never
 * min-max scaled), so an all-zero map shows one flat colour. */
rp_status rp_xai_write_png(rp_ctx *ctx, const char *path, const float *image, const float *map, int H, int W, int C,
                           bool is_signed, int scale);

/* Colour maps for importance maps (src/explain/colormap.h documents the choices): viridis
 * (sequential, for maps >= 0), jet, and blue-white-red diverging (for signed maps, white at 0). */
typedef enum rp_colormap { RP_CMAP_VIRIDIS, RP_CMAP_JET, RP_CMAP_DIVERGING } rp_colormap;
/* "viridis", "jet", "diverging"; "unknown" for another value. STATIC. */
const char *rp_colormap_name(rp_colormap cm);
/* The colour map named s, or -1 (also for NULL). */
int rp_colormap_from_name(const char *s);
/* Maps are shown divided by a scale s > 0, never min-max scaled: unsigned maps as t = v / s,
 * signed maps as t = 0.5 + 0.5 v / s, clamped to [0, 1]; a scale of 0 (an all-zero map) shows
 * one flat colour. rp_xai_map_scale gives the pct-th percentile (0 < pct <= 100, nearest
 * rank) of |map| (n values), or the max |v| when that is 0 but some value is not, 0 for an
 * all-zero map; maps compared side by side share one scale. RP_ERR_ARG for a NULL argument or
 * pct outside (0, 100]. */
rp_status rp_xai_map_scale(rp_ctx *ctx, const float *map, size_t n, float pct, float *scale);
/* rgb (H,W,3) in [0, 1]: the colour of each value of map (H,W) at scale. RP_ERR_ARG for a NULL
 * argument, H or W < 1, a negative or NaN scale or an unknown colour map. */
rp_status rp_xai_map_colorize(rp_ctx *ctx, const float *map, int H, int W, float scale, bool is_signed,
                              rp_colormap cm, float *rgb);
/* rgb (H,W,3) = (1 - alpha) * img + alpha * colour(map): img (H,W,C), C = 1 (replicated) or 3;
 * alpha clamped to [0, 1]. RP_ERR_ARG as rp_xai_map_colorize, and for another C. */
rp_status rp_xai_map_overlay(rp_ctx *ctx, const float *img, int C, const float *map, int H, int W, float scale,
                             bool is_signed, rp_colormap cm, float alpha, float *rgb);
/* Integer magnification for viewing: the smallest f >= 1 with max(H, W) * f >= min_size (1 when
 * H and W are < 1). */
int rp_view_scale(int H, int W, int min_size);

/* Figures: an RGB picture to draw images and labels on, then written as a PNG (rampart
 * attack's grid). Text uses a 3x5 pixel font of digits, letters (shown as capitals) and
 * : / - . = + % ( ) _ , ? and space (anything else shows as ?). Drawing is clipped to the
 * picture. A figure BORROWS the context it was created with (its calls report there) and is
 * used by one thread at a time; a NULL figure is RP_ERR_ARG with no context to name it. */
typedef struct rp_figure rp_figure;

/* OWNED: an H x W picture filled with gray level `gray`. RP_ERR_ARG for a NULL out or a side
 * outside [1, 32768]. */
rp_status rp_figure_create(rp_ctx *ctx, int H, int W, uint8_t gray, rp_figure **out);
/* NULL is fine. */
void rp_figure_destroy(rp_figure *f);
/* Fill the rectangle of h x w pixels at (y0, x0) with colour (r, g, b). */
rp_status rp_figure_fill(rp_figure *f, int y0, int x0, int h, int w, uint8_t r, uint8_t g, uint8_t b);
/* Draw img (h,w,c), c = 1 or 3, values in [0, 1] (clipped), with its top-left corner at
 * (y0, x0), each pixel magnified to a scale x scale block (scale >= 1). RP_ERR_ARG for a NULL
 * image, h or w < 1, another c or scale < 1. */
rp_status rp_figure_image(rp_figure *f, int y0, int x0, const float *img, int h, int w, int c, int scale);
/* Text with its top-left corner at (y0, x0), each font pixel a scale x scale block (scale >= 1).
 * RP_ERR_ARG for NULL text or scale < 1. */
rp_status rp_figure_text(rp_figure *f, int y0, int x0, const char *text, int scale, uint8_t r, uint8_t g, uint8_t b);
/* The size of text at scale in pixels: 4 * scale per character less the last gap (0 for NULL
 * or ""), and 5 * scale high. */
int rp_text_width(const char *text, int scale);
int rp_text_height(int scale);
/* Write the picture as an RGB PNG to PATH.tmp and rename it to path. RP_ERR_ARG for a NULL
 * path; RP_ERR_IO naming the file. */
rp_status rp_figure_write_png(rp_figure *f, const char *path);

/* ---- reports ----------------------------------------------------------------------
 * One self-contained HTML page (docs/report.md) from the JSON lines the command's train, eval,
 * attack and explain write (docs/json.md): models compared by condition with intervals and
 * paired tests, plots as inline SVG, pictures as data: URIs, no scripts and nothing fetched.
 * What `rampart report` and `rampart eval --report` write. The functions keep nothing between
 * calls: any thread, one context per thread. A problem with the input is a status (RP_ERR_FORMAT
 * for a bad line, naming "FILE:LINE: what"; RP_ERR_IO naming the file or folder;
 * RP_ERR_UNSUPPORTED past the page's limits of 16 models and 512 conditions) with the message in
 * ctx, never an abort; the page file is then not touched. */
typedef struct rp_report_options {
    bool skip_bad;  /* leave out bad lines and eval rows of another test set than the first eval
                       row's (each passed to `skipped` and listed on the page) instead of failing */
    int bootstrap;  /* bootstrap resamples for intervals of means over conditions (>= 2) */
    uint64_t seed;  /* the bootstrap's seed */
    const char *const *explain_dirs; /* BORROWED, optional: folders written by the command's
                                        explain or attack whose PNG panels are embedded (up to
                                        12 a folder, 1.3 MB in all) */
    int n_explain_dirs;
    /* optional: called on the calling thread with each problem skip_bad leaves out ("FILE:LINE:
       what", BORROWED for the call), in the order met */
    void (*skipped)(void *arg, const char *problem);
    void *skipped_arg;
} rp_report_options;
/* No skipping, 1000 resamples, seed 0, no folders, no callback. */
rp_report_options rp_report_defaults(void);
/* What a written page holds (for the caller's message). */
typedef struct rp_report_summary {
    size_t bytes;       /* the page's size */
    int n_models, n_conditions, n_training_runs, n_skipped;
} rp_report_summary;
/* Read the JSON-lines files inputs[0..n_inputs) (paths, in order) and write the page to
 * out_html through OUT_HTML.tmp and a rename, so a failure leaves no half page and an earlier
 * file at out_html stays as it was. opts may be NULL (rp_report_defaults); summary may be NULL.
 * RP_ERR_ARG for a NULL ctx, inputs, input or out_html, n_inputs < 1, bootstrap < 2 or a NULL
 * explain_dirs with n_explain_dirs > 0; RP_ERR_IO for a file that cannot be opened, a missing
 * folder or a page that cannot be written; RP_ERR_FORMAT for a bad line (unless skip_bad) and
 * for inputs with no eval or train rows. */
rp_status rp_report_write(rp_ctx *ctx, const char *const *inputs, int n_inputs, const rp_report_options *opts,
                          const char *out_html, rp_report_summary *summary);
/* The same from rows already in memory: rows[0..len) (JSON lines; NUL bytes end a line's JSON),
 * named `name` in messages. The page goes to out_html (as rp_report_write) when it is not NULL
 * and to *html (OWNED, NUL-terminated, release with free(); *html_len its length without the
 * NUL) when html is not NULL; at least one of them. Errors as rp_report_write's, and RP_ERR_ARG
 * for a NULL name, NULL rows with len > 0, neither out_html nor html, or html without html_len. */
rp_status rp_report_write_rows(rp_ctx *ctx, const char *name, const char *rows, size_t len,
                               const rp_report_options *opts, const char *out_html, char **html, size_t *html_len,
                               rp_report_summary *summary);
/* Base64 (RFC 4648, standard alphabet, padded): the encoding of the per-image correctness
 * bitmaps in the JSON lines the report reads (docs/json.md), for a program that writes such rows
 * itself. rp_base64_encode: data[0..n) as a NUL-terminated string, OWNED (release with free());
 * NULL when out of memory or for NULL data with n > 0. rp_base64_decode: s (padded or not, no
 * whitespace) into an OWNED buffer (free()) of *n bytes; NULL for a NULL s or n, a string that
 * is not base64, or no memory. Both thread-safe. */
char *rp_base64_encode(const unsigned char *data, size_t n);
unsigned char *rp_base64_decode(const char *s, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
