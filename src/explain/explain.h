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

/* The methods, rp_explain_config and its defaults, the explainer's create / destroy / layer,
 * targets, rp_xai_result and rp_xai_explain are public (include/rampart.h declares and documents
 * them); the struct behind the handle and the methods one by one are the library's own. */

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

/* Methods ------------------------------------------------------------------------------- */
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
