#include "data/noise.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/status.h"

static const char *const NAMES[RP_NOISE_COUNT] = {"gaussian", "shot", "impulse", "speckle"};

const char *rp_noise_name(rp_noise_kind k)
{
    RP_ASSERT(k >= 0 && k < RP_NOISE_COUNT);
    return NAMES[k];
}

bool rp_noise_parse(const char *name, rp_noise_kind *out)
{
    for (int k = 0; k < RP_NOISE_COUNT; k++)
        if (!strcmp(name, NAMES[k])) {
            *out = (rp_noise_kind)k;
            return true;
        }
    if (!strcmp(name, "salt-and-pepper") || !strcmp(name, "saltpepper") || !strcmp(name, "s&p")) {
        *out = RP_NOISE_IMPULSE;
        return true;
    }
    return false;
}

double rp_noise_poisson(rp_rng *rng, double lambda)
{
    if (lambda <= 0.0) return 0.0;
    if (lambda < 10.0) { /* multiply uniforms until the product drops below e^-lambda */
        double limit = exp(-lambda), prod = rp_rng_uniform(rng);
        double k = 0.0;
        while (prod > limit) {
            prod *= rp_rng_uniform(rng);
            k += 1.0;
        }
        return k;
    }
    /* PTRS (Hormann 1993): transformed rejection with squeeze; about 1.1 draws per value. */
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        double u = (double)rp_rng_uniform(rng) - 0.5, v = rp_rng_uniform(rng);
        double us = 0.5 - fabs(u);
        double k = floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr) return k;
        if (k < 0.0 || (us < 0.013 && v > us)) continue;
        if (v <= 0.0) continue;
        if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <= -lambda + k * loglam - lgamma(k + 1.0))
            return k;
    }
}

static float clip01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

void rp_noise_apply(rp_noise_kind k, float strength, float *x, int B, int H, int W, int C, rp_rng *rng)
{
    size_t n = (size_t)B * H * W * C;
    switch (k) {
    case RP_NOISE_GAUSSIAN:
        for (size_t i = 0; i < n; i++) x[i] = clip01(x[i] + strength * rp_rng_normal(rng));
        break;
    case RP_NOISE_SHOT:
        RP_ASSERT(strength > 0.0f);
        for (size_t i = 0; i < n; i++)
            x[i] = clip01((float)(rp_noise_poisson(rng, (double)x[i] * strength) / strength));
        break;
    case RP_NOISE_IMPULSE:
        /* one draw decides flip (u < a) and, within the flipped mass, salt or pepper */
        for (size_t i = 0; i < n; i++) {
            float u = rp_rng_uniform(rng);
            if (u < strength) x[i] = u < 0.5f * strength ? 1.0f : 0.0f;
        }
        break;
    case RP_NOISE_SPECKLE:
        for (size_t i = 0; i < n; i++) x[i] = clip01(x[i] + x[i] * strength * rp_rng_normal(rng));
        break;
    default: RP_ASSERT(!"unknown noise kind");
    }
}

void rp_noise_apply_severity(rp_noise_kind k, int severity, float *x, int B, int H, int W, int C, rp_rng *rng)
{
    rp_noise_apply(k, rp_noise_strength(k, severity, rp_corrupt_table_for(H, W)), x, B, H, W, C, rng);
}
