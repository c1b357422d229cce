/* Integrated Gradients (Sundararajan et al. 2017):
 *   IG_i(x) = (x_i - x'_i) * integral_0^1 d f_t(x' + a (x - x')) / dx_i da,
 * by the midpoint Riemann sum over cfg.ig_steps points a_k = (k + 1/2) / steps (error
 * O(1/steps^2) on smooth paths; the node set is symmetric under a -> 1 - a, so swapping x and
 * x' flips the attribution exactly). f_t is the target LOGIT. Baselines live in [0, 1] pixel
 * space: black (zeros), the image blurred, or a custom image.
 *
 * Streaming: images x steps go through the model cfg.chunk at a time and the gradients are
 * summed in double in step order, so memory is O(B * X), independent of the step count.
 * Completeness: gap = sum(IG) - (f_t(x) - f_t(x')) is returned per image; it shrinks with
 * the step count (not necessarily monotonically for every image, captum issue 1334). */
#include <stdlib.h>
#include <string.h>

#include "explain/explain.h"

static rp_status make_baselines(rp_explainer *ex, const float *x, int B, float *base)
{
    const size_t X = ex->X;
    for (int i = 0; i < B; i++) {
        float *b = base + (size_t)i * X;
        switch (ex->cfg.ig_baseline) {
        case RP_BASELINE_BLACK: memset(b, 0, X * sizeof(float)); break;
        case RP_BASELINE_CUSTOM: memcpy(b, ex->cfg.ig_custom, X * sizeof(float)); break;
        case RP_BASELINE_BLUR:
            RP_TRY(rp_xai_blur(ex->ctx, b, x + (size_t)i * X, ex->H, ex->W, ex->C, rp_xai_blur_sigma(ex)));
            break;
        }
    }
    return rp_xai_check_result(ex, "IG baseline", base, (size_t)B * X);
}

/* f_t at x (item i < B) and at the baselines (item B + i), in chunks. */
static void endpoint_logits(rp_explainer *ex, const float *x, const float *base, const int32_t *t, int B,
                            int32_t *tt, float *lg, float *fx, float *fb)
{
    /* items image by image, x_i then base_i: a pass holds the same images whichever run of
       whole chunks of images a caller (or a process of a sharded run) hands in */
    for (int q0 = 0; q0 < 2 * B; q0 += ex->chunk) {
        int n = 2 * B - q0 < ex->chunk ? 2 * B - q0 : ex->chunk;
        for (int j = 0; j < n; j++) {
            int q = q0 + j, i = q / 2;
            memcpy(ex->xb + (size_t)j * ex->X, (q % 2 ? base : x) + (size_t)i * ex->X, ex->X * sizeof(float));
            tt[j] = t[i];
        }
        rp_xai_grad(ex, ex->xb, tt, n, NULL, lg, false);
        for (int j = 0; j < n; j++) {
            int q = q0 + j;
            (q % 2 ? fb : fx)[q / 2] = lg[j];
        }
    }
}

rp_status rp_xai_integrated_gradients(rp_explainer *ex, const float *x, const int32_t *t, int B, float *attr,
                                      double *gap, double *delta_f)
{
    RP_TRY(rp_xai_check(ex, x, t, B));
    const int S = ex->cfg.ig_steps;
    const size_t X = ex->X;
    double *acc = calloc((size_t)B * X, sizeof(double));
    float *base = malloc((size_t)B * X * sizeof(float));
    float *fx = malloc((size_t)B * sizeof(float)), *fb = malloc((size_t)B * sizeof(float));
    float *lg = malloc((size_t)ex->chunk * sizeof(float));
    int32_t *tt = malloc((size_t)ex->chunk * sizeof(int32_t));
    rp_status st = RP_OK;
    if (!acc || !base || !fx || !fb || !tt || !lg) {
        st = rp_fail(ex->ctx, RP_ERR_NOMEM, "IG: out of memory for %d images", B);
        goto done;
    }
    if ((st = make_baselines(ex, x, B, base)) != RP_OK) goto done;
    long total = (long)B * S;
    for (long q0 = 0; q0 < total; q0 += ex->chunk) {
        int n = total - q0 < ex->chunk ? (int)(total - q0) : ex->chunk;
        for (int j = 0; j < n; j++) { /* item q = image * S + step */
            long q = q0 + j;
            int i = (int)(q / S), k = (int)(q % S);
            float a = ((float)k + 0.5f) / (float)S;
            const float *xi = x + (size_t)i * X, *bi = base + (size_t)i * X;
            float *xj = ex->xb + (size_t)j * X;
            for (size_t e = 0; e < X; e++) xj[e] = bi[e] + a * (xi[e] - bi[e]);
            tt[j] = t[i];
        }
        rp_xai_grad(ex, ex->xb, tt, n, ex->gb, NULL, false);
        for (int j = 0; j < n; j++) {
            double *ac = acc + (size_t)((q0 + j) / S) * X;
            const float *g = ex->gb + (size_t)j * X;
            for (size_t e = 0; e < X; e++) ac[e] += g[e];
        }
    }
    endpoint_logits(ex, x, base, t, B, tt, lg, fx, fb);
    for (int i = 0; i < B; i++) {
        double sum = 0.0;
        for (size_t e = 0; e < X; e++) {
            size_t k = (size_t)i * X + e;
            double v = ((double)x[k] - base[k]) * acc[k] / S;
            attr[k] = (float)v;
            sum += v;
        }
        double df = (double)fx[i] - fb[i];
        if (gap) gap[i] = sum - df;
        if (delta_f) delta_f[i] = df;
    }
    st = rp_xai_check_result(ex, "IG", attr, (size_t)B * X);
done:
    free(acc);
    free(base);
    free(fx);
    free(fb);
    free(tt);
    free(lg);
    return st;
}
