/* Explanations: attribution maps of a model's prediction, batched, one target class per image.
 *
 * Every method explains the target's LOGIT (not its softmax probability), with the model in
 * eval mode (BatchNorm running statistics, no dropout), inputs in [0, 1] pixel space (the
 * model normalises), so baselines mean the same for every model. A method uses only
 * rp_model_forward / backward plus, for the CAM family, one named node's output and its
 * gradient (node->y, node->dy after backward).
 *
 * Maps (see rp_xai_result):
 *   attr   (B,H,W,C) input-space attribution of the gradient methods: the gradient itself
 *          (saliency, SmoothGrad, guided), gradient * input, or Integrated Gradients;
 *   signed (B,H,W)   channel reduction of attr by SUM over channels (so that it keeps the sign and,
 *                    for IG, completeness); CAM family: the raw signed map upsampled; occlusion:
 *                    the score drop;
 *   map    (B,H,W)   the "importance" map that is shown and ranked:
 *                    saliency, SmoothGrad, guided: MAX over channels of |attr| (Simonyan et al.);
 *                    gradient*input, IG, occlusion: the signed map;
 *                    CAM family: the upsampled map, ReLU'd when cfg.cam_relu.
 * Saliency's positive and negative parts are max(signed, 0) and max(-signed, 0).
 *
 * Determinism: a map depends only on its image, target, the model and the config — not on the
 * batch it came in, nor on cfg.chunk beyond float rounding of the GEMMs (sums over steps and
 * samples run in a fixed order, in double). */
#ifndef RP_EXPLAIN_EXPLAIN_H
#define RP_EXPLAIN_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "nn/model.h"

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
 * "occlusion". STATIC. */
const char *rp_xai_method_name(rp_xai_method m);
/* The method named s, or -1. */
int rp_xai_method_from_name(const char *s);
/* Whether the method's importance map can be negative under cfg (then it is shown with a
 * diverging colormap centred on 0). */
typedef struct rp_explain_config rp_explain_config;
bool rp_xai_map_is_signed(rp_xai_method m, const rp_explain_config *cfg);

typedef enum rp_xai_baseline {
    RP_BASELINE_BLACK, /* all zeros (black in pixel space, whatever the normalisation) */
    RP_BASELINE_BLUR,  /* the image blurred with a Gaussian of std cfg.blur_sigma pixels */
    RP_BASELINE_CUSTOM /* cfg.ig_custom, one (H,W,C) image */
} rp_xai_baseline;

struct rp_explain_config {
    int chunk;            /* inputs per forward/backward pass (images x steps, samples or windows);
                             memory does not grow with steps or samples */
    uint64_t seed;        /* SmoothGrad's noise */
    float sg_sigma;       /* SmoothGrad noise std, in pixel units ([0, 1] images) */
    int sg_samples;
    int ig_steps;         /* IG: midpoint Riemann sum, alpha_k = (k + 1/2) / steps */
    rp_xai_baseline ig_baseline;
    float blur_sigma;     /* std in pixels of the blurred baseline; <= 0: max(H, W) / 10 */
    const float *ig_custom; /* BORROWED (H,W,C) for RP_BASELINE_CUSTOM */
    const char *layer;    /* CAM family: node name; NULL or "": the last spatial feature map */
    bool cam_relu;        /* CAM family: ReLU the map, as the papers do (false: raw, signed) */
    bool counterfactual;  /* CAM family: negate the gradients (CAM: the class weights), i.e.
                             what speaks AGAINST the target (Selvaraju et al. sec. 3) */
    int occ_window, occ_stride; /* occlusion: square window and stride in pixels; <= 0: automatic,
                                   window max(1, side / 7) (4 at 28x28, 32 at 224x224), stride
                                   max(1, window / 2) */
    float occ_value;      /* occlusion: value the window's pixels (all channels) are set to */
};

/* chunk 32, seed 0, SmoothGrad sigma 0.15 with 32 samples, IG 64 steps from black, blur sigma
 * auto, last spatial layer, ReLU on, occlusion window and stride automatic, value 0. */
rp_explain_config rp_explain_defaults(void);

typedef struct rp_explainer {
    rp_ctx *ctx;
    rp_model *m;          /* BORROWED */
    rp_explain_config cfg;
    int H, W, C, K;
    size_t X;             /* H * W * C */
    int chunk;
    int layer;            /* CAM family node, or -1 when none resolved (error at use) */
    char layer_error[160];/* why layer is -1 */
    float *xb, *gb, *dl;  /* (chunk, X) inputs, (chunk, X) gradients, (chunk, K) seeds */
} rp_explainer;

/* OWNED. Grows the model's activation arena to cfg->chunk (never shrinks it). Resolves the
 * CAM layer: a named layer that does not exist is an error here; with no name, a model with no
 * spatial node only fails when a CAM method is asked for. */
rp_status rp_explainer_create(rp_ctx *ctx, rp_model *m, const rp_explain_config *cfg, rp_explainer **out);
void rp_explainer_destroy(rp_explainer *ex);
/* The CAM node's name, or NULL. BORROWED. */
const char *rp_explainer_layer(const rp_explainer *ex);

/* Targets ----------------------------------------------------------------------------- */
typedef enum rp_target_kind { RP_TARGET_PRED, RP_TARGET_TRUE, RP_TARGET_CLASS } rp_target_kind;
/* targets[i] = argmax logit (PRED), y[i] (TRUE; y required), or cls (CLASS). Checks x. */
rp_status rp_xai_targets(rp_explainer *ex, const float *x, const int32_t *y, int B, rp_target_kind kind,
                         int cls, int32_t *targets);

/* Methods ------------------------------------------------------------------------------- */
typedef struct rp_xai_result {
    float *map;     /* (B,H,W), required */
    float *signed_map; /* (B,H,W) or NULL */
    float *attr;    /* (B,H,W,C) or NULL; gradient methods only (left untouched otherwise) */
    float *lowres;  /* (B,h,w) at the CAM layer's resolution, or NULL; CAM family only */
    double *ig_gap; /* (B) or NULL; IG: sum(attr) - (f(x) - f(baseline)) */
    double *ig_delta_f; /* (B) or NULL; IG: f(x) - f(baseline) */
} rp_xai_result;

/* Any method, into r. Errors: RP_ERR_NUMERIC for NaN/Inf in x (naming image and element), in a
 * parameter (naming it) or in the result; RP_ERR_ARG for a bad target or config;
 * RP_ERR_UNSUPPORTED for CAM without a GAP + linear head. */
rp_status rp_xai_explain(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *targets, int B,
                         const rp_xai_result *r);

/* The individual methods (attr is (B,H,W,C) unless said otherwise). */
rp_status rp_xai_saliency(rp_explainer *ex, const float *x, const int32_t *t, int B, float *grad);
rp_status rp_xai_gradxinput(rp_explainer *ex, const float *x, const int32_t *t, int B, float *attr);
rp_status rp_xai_smoothgrad(rp_explainer *ex, const float *x, const int32_t *t, int B, float *grad);
rp_status rp_xai_guided(rp_explainer *ex, const float *x, const int32_t *t, int B, float *grad);
/* gap, delta_f may be NULL. */
rp_status rp_xai_integrated_gradients(rp_explainer *ex, const float *x, const int32_t *t, int B, float *attr,
                                      double *gap, double *delta_f);
/* map (B,h,w) at the layer's resolution (rp_xai_cam_shape); method CAM, GRADCAM or GRADCAMPP.
 * relu/counterfactual from cfg. */
rp_status rp_xai_cam(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *t, int B, float *map);
/* The CAM layer's spatial size; false (with a message in ctx) when there is none. */
bool rp_xai_cam_shape(rp_explainer *ex, int *h, int *w);
/* map (B,H,W): mean over the windows covering a pixel of f(x) - f(x with window = occ_value). */
rp_status rp_xai_occlusion(rp_explainer *ex, const float *x, const int32_t *t, int B, float *map);

/* Helpers --------------------------------------------------------------------------------- */
/* signed (B,H,W) = sum_c attr; absmax (B,H,W) = max_c |attr|; either may be NULL. */
void rp_xai_reduce(const float *attr, int B, int H, int W, int C, float *signed_map, float *absmax);
/* Bilinear resize of B maps (h,w) -> (H,W), half-pixel centres (PyTorch's align_corners=False). */
void rp_xai_upsample(const float *src, int B, int h, int w, float *dst, int H, int W);
/* Separable Gaussian blur (radius ceil(3 sigma)) of one (H,W,C) image, edges mirrored (so a
 * huge sigma tends to the image's mean); sigma <= 0 copies. dst may equal src. */
rp_status rp_xai_blur(rp_ctx *ctx, float *dst, const float *src, int H, int W, int C, float sigma);
/* The blur std cfg.blur_sigma resolves to for this explainer. */
float rp_xai_blur_sigma(const rp_explainer *ex);

/* Internal to src/explain/ --------------------------------------------------------------- */
/* Finite x, finite parameters, targets in range. */
rp_status rp_xai_check(rp_explainer *ex, const float *x, const int32_t *t, int B);
/* n <= chunk inputs xs: forward (eval), backward of sum_i logit[i][t[i]] into g (n,X) when g
 * is non-NULL (guided rule when guided); logit[i] (may be NULL) gets logit_t of input i. */
void rp_xai_grad(rp_explainer *ex, const float *xs, const int32_t *t, int n, float *g, float *logit,
                 bool guided);
/* grad (B,X) = d logit_t / dx in chunks (guided rule when guided), after rp_xai_check. */
rp_status rp_xai_input_gradient(rp_explainer *ex, const float *x, const int32_t *t, int B, float *grad,
                                bool guided, const char *what);
/* RP_ERR_NUMERIC naming the method when v holds NaN/Inf. */
rp_status rp_xai_check_result(rp_explainer *ex, const char *method, const float *v, size_t n);

#endif
