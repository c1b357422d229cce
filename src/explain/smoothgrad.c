/* SmoothGrad (Smilkov et al. 2017): the mean gradient of the target logit over cfg.sg_samples
 * noisy copies x + N(0, sigma^2) (sigma in pixel units; the noisy copies are not clipped to
 * [0, 1], as in the paper and captum's NoiseTunnel). Images x samples are streamed through
 * the model cfg.chunk at a time and summed in double, in sample order.
 *
 * Noise: sample s draws from a PCG32 stream seeded with (cfg.seed, s), the SAME pattern for
 * every image, so that an image's map does not depend on the batch it came in. */
#include <stdlib.h>

#include "explain/explain.h"

static void noise_stream(rp_rng *r, uint64_t seed, int s)
{
    rp_rng_seed(r, seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(s + 1), RP_STREAM_EXPLAIN);
}

rp_status rp_xai_smoothgrad(rp_explainer *ex, const float *x, const int32_t *t, int B, float *grad)
{
    RP_TRY(rp_xai_check(ex, x, t, B));
    const int S = ex->cfg.sg_samples;
    const float sigma = ex->cfg.sg_sigma;
    const size_t X = ex->X;
    double *acc = calloc((size_t)B * X, sizeof(double));
    int32_t *tt = malloc((size_t)ex->chunk * sizeof(int32_t));
    if (!acc || !tt) {
        free(acc);
        free(tt);
        return rp_fail(ex->ctx, RP_ERR_NOMEM, "smoothgrad: out of memory for %d images", B);
    }
    long total = (long)B * S;
    for (long q0 = 0; q0 < total; q0 += ex->chunk) {
        int n = total - q0 < ex->chunk ? (int)(total - q0) : ex->chunk;
        for (int j = 0; j < n; j++) { /* item q = image * S + sample */
            long q = q0 + j;
            int i = (int)(q / S), s = (int)(q % S);
            rp_rng r;
            noise_stream(&r, ex->cfg.seed, s);
            const float *xi = x + (size_t)i * X;
            float *xj = ex->xb + (size_t)j * X;
            for (size_t k = 0; k < X; k++) xj[k] = xi[k] + sigma * rp_rng_normal(&r);
            tt[j] = t[i];
        }
        rp_xai_grad(ex, ex->xb, tt, n, ex->gb, NULL, false);
        for (int j = 0; j < n; j++) {
            double *a = acc + (size_t)((q0 + j) / S) * X;
            const float *g = ex->gb + (size_t)j * X;
            for (size_t k = 0; k < X; k++) a[k] += g[k];
        }
    }
    for (size_t k = 0; k < (size_t)B * X; k++) grad[k] = (float)(acc[k] / S);
    free(acc);
    free(tt);
    return rp_xai_check_result(ex, "smoothgrad", grad, (size_t)B * X);
}
