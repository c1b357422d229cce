/* The explainer: buffers, the gradient-of-a-target-logit pass shared by every method, targets,
 * checks, channel reduction, resizing and blurring, and the method dispatcher. */
#include "explain/explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[RP_XAI_COUNT] = {"saliency", "gradxinput", "smoothgrad", "ig", "guided",
                                                 "cam", "gradcam", "gradcam++", "occlusion"};

const char *rp_xai_method_name(rp_xai_method m)
{
    return (unsigned)m < RP_XAI_COUNT ? NAMES[m] : "unknown";
}

int rp_xai_method_from_name(const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < RP_XAI_COUNT; i++)
        if (!strcmp(s, NAMES[i])) return i;
    return -1;
}

bool rp_xai_map_is_signed(rp_xai_method m, const rp_explain_config *cfg)
{
    switch (m) {
    case RP_XAI_GRADXINPUT: case RP_XAI_IG: case RP_XAI_OCCLUSION: return true;
    case RP_XAI_CAM: case RP_XAI_GRADCAM: case RP_XAI_GRADCAMPP: return cfg && !cfg->cam_relu;
    default: return false;
    }
}

rp_explain_config rp_explain_defaults(void)
{
    return (rp_explain_config){.chunk = 32, .seed = 0, .sg_sigma = 0.15f, .sg_samples = 32,
                               .ig_steps = 64, .ig_baseline = RP_BASELINE_BLACK, .blur_sigma = 0.0f,
                               .layer = NULL, .cam_relu = true, .counterfactual = false,
                               .occ_window = 0, .occ_stride = 0, .occ_value = 0.0f};
}

/* The last node whose output has more than one spatial position. */
static int last_spatial(const rp_graph *g)
{
    for (int i = g->n_nodes - 1; i >= 0; i--)
        if (g->nodes[i].out_shape.H * g->nodes[i].out_shape.W > 1) return i;
    return -1;
}

static rp_status check_config(rp_ctx *ctx, const rp_explain_config *c)
{
    if (c->chunk < 1) return rp_fail(ctx, RP_ERR_ARG, "explain: chunk %d < 1", c->chunk);
    if (!(c->sg_sigma >= 0.0f) || !isfinite(c->sg_sigma) || c->sg_samples < 1)
        return rp_fail(ctx, RP_ERR_ARG, "explain: SmoothGrad needs sigma >= 0 and samples >= 1 (got %g, %d)",
                       (double)c->sg_sigma, c->sg_samples);
    if (c->ig_steps < 1) return rp_fail(ctx, RP_ERR_ARG, "explain: IG steps %d < 1", c->ig_steps);
    if (c->ig_baseline == RP_BASELINE_CUSTOM && !c->ig_custom)
        return rp_fail(ctx, RP_ERR_ARG, "explain: custom IG baseline without an image");
    if (!isfinite(c->blur_sigma)) return rp_fail(ctx, RP_ERR_ARG, "explain: blur sigma is not finite");
    if (!isfinite(c->occ_value)) return rp_fail(ctx, RP_ERR_ARG, "explain: occlusion value is not finite");
    return RP_OK;
}

rp_status rp_explainer_create(rp_ctx *ctx, rp_model *m, const rp_explain_config *cfg, rp_explainer **out)
{
    if (!out) return rp_fail(ctx, RP_ERR_ARG, "explain: no place for the explainer (out is NULL)");
    *out = NULL;
    if (!m || !cfg) return rp_fail(ctx, RP_ERR_ARG, "explain: %s is NULL", !m ? "the model" : "the config");
    RP_TRY(check_config(ctx, cfg));
    const rp_model_config *mc = rp_model_get_config(m);
    const rp_graph *g = &m->g;
    int layer = -1;
    char why[160] = "";
    if (cfg->layer && cfg->layer[0]) {
        layer = rp_graph_find_node(g, cfg->layer);
        if (layer < 0) return rp_fail(ctx, RP_ERR_ARG, "explain: model %s has no layer named '%s'", m->arch, cfg->layer);
    } else {
        layer = last_spatial(g);
        if (layer < 0) snprintf(why, sizeof why, "model %s has no spatial feature map; CAM methods need one", m->arch);
    }
    RP_TRY(rp_model_reserve(m, cfg->chunk));
    rp_explainer *ex = calloc(1, sizeof *ex);
    if (!ex) return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory");
    ex->ctx = ctx;
    ex->m = m;
    ex->cfg = *cfg;
    ex->cfg.layer = NULL; /* the caller's string is not kept; use rp_explainer_layer */
    ex->H = mc->H, ex->W = mc->W, ex->C = mc->C, ex->K = mc->num_classes;
    ex->X = (size_t)mc->H * mc->W * mc->C;
    ex->chunk = cfg->chunk;
    if (ex->cfg.occ_window <= 0) ex->cfg.occ_window = (mc->H > mc->W ? mc->H : mc->W) / 7;
    if (ex->cfg.occ_window < 1) ex->cfg.occ_window = 1;
    if (ex->cfg.occ_stride <= 0) ex->cfg.occ_stride = ex->cfg.occ_window / 2 > 0 ? ex->cfg.occ_window / 2 : 1;
    ex->layer = layer;
    rp_status kept = layer >= 0 ? rp_graph_keep(&m->g, layer) : RP_OK; /* CAM reads its y and dy */
    if (kept != RP_OK) {
        rp_explainer_destroy(ex);
        return kept;
    }
    snprintf(ex->layer_error, sizeof ex->layer_error, "%s", why);
    ex->xb = malloc((size_t)ex->chunk * ex->X * sizeof(float));
    ex->gb = malloc((size_t)ex->chunk * ex->X * sizeof(float));
    ex->dl = malloc((size_t)ex->chunk * ex->K * sizeof(float));
    if (!ex->xb || !ex->gb || !ex->dl) {
        rp_explainer_destroy(ex);
        return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory for chunk %d", cfg->chunk);
    }
    *out = ex;
    return RP_OK;
}

void rp_explainer_destroy(rp_explainer *ex)
{
    if (!ex) return;
    free(ex->xb);
    free(ex->gb);
    free(ex->dl);
    free(ex);
}

const rp_explain_config *rp_explainer_get_config(const rp_explainer *ex) { return ex ? &ex->cfg : NULL; }

const char *rp_explainer_layer(const rp_explainer *ex)
{
    return ex && ex->layer >= 0 ? ex->m->g.nodes[ex->layer].name : NULL;
}

rp_status rp_xai_check(rp_explainer *ex, const float *x, const int32_t *t, int B)
{
    if (B < 1) return rp_fail(ex->ctx, RP_ERR_ARG, "explain: batch of %d images", B);
    if (!x) return rp_fail(ex->ctx, RP_ERR_ARG, "explain: no images (x is NULL)");
    for (int i = 0; i < B; i++)
        for (size_t k = 0; k < ex->X; k++)
            if (!isfinite(x[(size_t)i * ex->X + k]))
                return rp_fail(ex->ctx, RP_ERR_NUMERIC, "explain: input image %d holds %g at element %zu (pixel %zu)",
                               i, (double)x[(size_t)i * ex->X + k], k, k / (size_t)ex->C);
    const rp_graph *g = &ex->m->g;
    for (int p = 0; p < g->n_params; p++)
        for (size_t k = 0; k < g->params[p].numel; k++)
            if (!isfinite(g->params[p].data[k]))
                return rp_fail(ex->ctx, RP_ERR_NUMERIC, "explain: model parameter %s holds %g at element %zu",
                               g->params[p].name, (double)g->params[p].data[k], k);
    if (t)
        for (int i = 0; i < B; i++)
            if (t[i] < 0 || t[i] >= ex->K)
                return rp_fail(ex->ctx, RP_ERR_ARG, "explain: target %d of image %d is not a class (0..%d)",
                               (int)t[i], i, ex->K - 1);
    return RP_OK;
}

rp_status rp_xai_check_result(rp_explainer *ex, const char *method, const float *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!isfinite(v[k]))
            return rp_fail(ex->ctx, RP_ERR_NUMERIC, "explain: %s produced %g at element %zu (overflow in the model?)",
                           method, (double)v[k], k);
    return RP_OK;
}

void rp_xai_grad(rp_explainer *ex, const float *xs, const int32_t *t, int n, float *g, float *logit, bool guided)
{
    RP_ASSERT(n >= 1 && n <= ex->chunk);
    const float *z = rp_model_forward(ex->m, xs, n, false);
    if (logit)
        for (int i = 0; i < n; i++) logit[i] = z[(size_t)i * ex->K + t[i]];
    if (!g) return;
    memset(ex->dl, 0, (size_t)n * ex->K * sizeof(float));
    for (int i = 0; i < n; i++) ex->dl[(size_t)i * ex->K + t[i]] = 1.0f;
    if (guided) rp_graph_backward_guided(&ex->m->g, ex->dl, g);
    else rp_model_backward(ex->m, ex->dl, g, RP_GRAD_INPUT);
}

rp_status rp_xai_targets(rp_explainer *ex, const float *x, const int32_t *y, int B, rp_target_kind kind, int cls,
                         int32_t *targets)
{
    if (!ex) return RP_ERR_ARG; /* no context to name it in */
    RP_TRY(rp_xai_check(ex, x, NULL, B));
    if (!targets) return rp_fail(ex->ctx, RP_ERR_ARG, "explain: no buffer for the targets");
    if ((unsigned)kind > RP_TARGET_CLASS) return rp_fail(ex->ctx, RP_ERR_ARG, "explain: unknown target kind %d", (int)kind);
    if (kind == RP_TARGET_TRUE && !y) return rp_fail(ex->ctx, RP_ERR_ARG, "explain: target 'true' needs labels");
    if (kind == RP_TARGET_CLASS && (cls < 0 || cls >= ex->K))
        return rp_fail(ex->ctx, RP_ERR_ARG, "explain: target class %d is not in 0..%d", cls, ex->K - 1);
    for (int s = 0; s < B; s += ex->chunk) {
        int n = B - s < ex->chunk ? B - s : ex->chunk;
        const float *z = rp_model_forward(ex->m, x + (size_t)s * ex->X, n, false);
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int k = 1; k < ex->K; k++)
                if (z[(size_t)i * ex->K + k] > z[(size_t)i * ex->K + best]) best = k;
            targets[s + i] = kind == RP_TARGET_PRED ? best : kind == RP_TARGET_TRUE ? y[s + i] : cls;
        }
    }
    return rp_xai_check(ex, x, targets, B);
}

void rp_xai_reduce(const float *attr, int B, int H, int W, int C, float *signed_map, float *absmax)
{
    size_t P = (size_t)B * H * W;
    for (size_t p = 0; p < P; p++) {
        const float *a = attr + p * C;
        float s = 0.0f, m = 0.0f;
        for (int c = 0; c < C; c++) {
            s += a[c];
            m = fabsf(a[c]) > m ? fabsf(a[c]) : m;
        }
        if (signed_map) signed_map[p] = s;
        if (absmax) absmax[p] = m;
    }
}

/* Source coordinate and weight for output index o of n_out from n_in (half-pixel centres). */
static void lerp_index(int o, int n_in, int n_out, int *i0, int *i1, float *w1)
{
    float s = ((float)o + 0.5f) * (float)n_in / (float)n_out - 0.5f;
    if (s < 0.0f) s = 0.0f;
    int a = (int)s;
    if (a > n_in - 1) a = n_in - 1;
    *i0 = a;
    *i1 = a + 1 < n_in ? a + 1 : a;
    *w1 = s - (float)a;
}

void rp_xai_upsample(const float *src, int B, int h, int w, float *dst, int H, int W)
{
    for (int b = 0; b < B; b++) {
        const float *s = src + (size_t)b * h * w;
        float *d = dst + (size_t)b * H * W;
        for (int y = 0; y < H; y++) {
            int y0, y1;
            float wy;
            lerp_index(y, h, H, &y0, &y1, &wy);
            for (int x = 0; x < W; x++) {
                int x0, x1;
                float wx;
                lerp_index(x, w, W, &x0, &x1, &wx);
                float top = s[y0 * w + x0] * (1 - wx) + s[y0 * w + x1] * wx;
                float bot = s[y1 * w + x0] * (1 - wx) + s[y1 * w + x1] * wx;
                d[(size_t)y * W + x] = top * (1 - wy) + bot * wy;
            }
        }
    }
}

/* One 1-D Gaussian pass along a line of n samples at stride st (C interleaved channels). */
static void blur_line(float *dst, const float *src, int n, size_t st, int C, const float *k, int r)
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            float s = 0.0f;
            for (int j = -r; j <= r; j++) {
                int q = (i + j) % (2 * n); /* mirror at the edges (period 2n: any radius) */
                q = q < 0 ? q + 2 * n : q;
                q = q >= n ? 2 * n - 1 - q : q;
                s += k[j + r] * src[(size_t)q * st + c];
            }
            dst[(size_t)i * st + c] = s;
        }
}

rp_status rp_xai_blur(rp_ctx *ctx, float *dst, const float *src, int H, int W, int C, float sigma)
{
    size_t X = (size_t)H * W * C;
    if (!(sigma > 0.0f)) {
        memmove(dst, src, X * sizeof(float));
        return RP_OK;
    }
    int r = (int)ceilf(3.0f * sigma);
    float *k = malloc((size_t)(2 * r + 1) * sizeof(float)), *tmp = malloc(X * sizeof(float));
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory for a blur of sigma %g", (double)sigma);
    }
    float sum = 0.0f;
    for (int j = -r; j <= r; j++) sum += k[j + r] = expf(-0.5f * (float)(j * j) / (sigma * sigma));
    for (int j = 0; j <= 2 * r; j++) k[j] /= sum;
    for (int y = 0; y < H; y++) /* rows */
        blur_line(tmp + (size_t)y * W * C, src + (size_t)y * W * C, W, (size_t)C, C, k, r);
    for (int x = 0; x < W; x++) /* columns */
        blur_line(dst + (size_t)x * C, tmp + (size_t)x * C, H, (size_t)W * C, C, k, r);
    free(k);
    free(tmp);
    return RP_OK;
}

float rp_xai_blur_sigma(const rp_explainer *ex)
{
    if (ex->cfg.blur_sigma > 0.0f) return ex->cfg.blur_sigma;
    return (float)(ex->H > ex->W ? ex->H : ex->W) / 10.0f;
}

static rp_status input_method(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *t, int B,
                              const rp_xai_result *r)
{
    size_t n = (size_t)B * ex->X, P = (size_t)B * ex->H * ex->W;
    float *attr = r->attr ? r->attr : malloc(n * sizeof(float));
    if (!attr) return rp_fail(ex->ctx, RP_ERR_NOMEM, "explain: out of memory");
    rp_status s;
    switch (m) {
    case RP_XAI_SALIENCY: s = rp_xai_saliency(ex, x, t, B, attr); break;
    case RP_XAI_GRADXINPUT: s = rp_xai_gradxinput(ex, x, t, B, attr); break;
    case RP_XAI_SMOOTHGRAD: s = rp_xai_smoothgrad(ex, x, t, B, attr); break;
    case RP_XAI_GUIDED: s = rp_xai_guided(ex, x, t, B, attr); break;
    default: s = rp_xai_integrated_gradients(ex, x, t, B, attr, r->ig_gap, r->ig_delta_f); break;
    }
    if (s == RP_OK) {
        bool by_sum = m == RP_XAI_GRADXINPUT || m == RP_XAI_IG;
        rp_xai_reduce(attr, B, ex->H, ex->W, ex->C, r->signed_map, by_sum ? NULL : r->map);
        if (by_sum) {
            if (r->signed_map) memcpy(r->map, r->signed_map, P * sizeof(float));
            else rp_xai_reduce(attr, B, ex->H, ex->W, ex->C, r->map, NULL);
        }
    }
    if (!r->attr) free(attr);
    return s;
}

static rp_status cam_method(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *t, int B,
                            const rp_xai_result *r)
{
    int h, w;
    if (!rp_xai_cam_shape(ex, &h, &w)) return RP_ERR_UNSUPPORTED;
    size_t L = (size_t)B * h * w, P = (size_t)B * ex->H * ex->W;
    float *low = malloc(L * sizeof(float));
    if (!low) return rp_fail(ex->ctx, RP_ERR_NOMEM, "explain: out of memory");
    bool relu = ex->cfg.cam_relu;
    ex->cfg.cam_relu = false; /* raw first: the signed map, then the ReLU */
    rp_status s = rp_xai_cam(ex, m, x, t, B, low);
    ex->cfg.cam_relu = relu;
    if (s == RP_OK) {
        if (r->signed_map) rp_xai_upsample(low, B, h, w, r->signed_map, ex->H, ex->W);
        if (relu)
            for (size_t k = 0; k < L; k++) low[k] = low[k] > 0.0f ? low[k] : 0.0f;
        if (r->lowres) memcpy(r->lowres, low, L * sizeof(float));
        rp_xai_upsample(low, B, h, w, r->map, ex->H, ex->W);
        (void)P;
    }
    free(low);
    return s;
}

rp_status rp_xai_explain(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *t, int B,
                         const rp_xai_result *r)
{
    if (!ex) return RP_ERR_ARG; /* no context to name it in */
    if ((unsigned)m >= RP_XAI_COUNT) return rp_fail(ex->ctx, RP_ERR_ARG, "explain: unknown method %d", (int)m);
    if (!r || !r->map) return rp_fail(ex->ctx, RP_ERR_ARG, "explain %s: no map buffer", rp_xai_method_name(m));
    if (!t) return rp_fail(ex->ctx, RP_ERR_ARG, "explain %s: no targets", rp_xai_method_name(m));
    RP_TRY(rp_xai_check(ex, x, t, B));
    size_t P = (size_t)B * ex->H * ex->W;
    rp_status s;
    if (m == RP_XAI_CAM || m == RP_XAI_GRADCAM || m == RP_XAI_GRADCAMPP) {
        s = cam_method(ex, m, x, t, B, r);
    } else if (m == RP_XAI_OCCLUSION) {
        s = rp_xai_occlusion(ex, x, t, B, r->map);
        if (s == RP_OK && r->signed_map) memcpy(r->signed_map, r->map, P * sizeof(float));
    } else {
        s = input_method(ex, m, x, t, B, r);
    }
    if (s != RP_OK) return s;
    return rp_xai_check_result(ex, rp_xai_method_name(m), r->map, P);
}
