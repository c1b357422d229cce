#include "core/rng_dist.h"

#include <math.h>

#include "core/status.h"

/* Uniform in (0, 1): never 0, so its logarithm is finite. */
static double uniform_open(rp_rng *r) { return ((double)rp_rng_u32(r) + 0.5) / 4294967296.0; }

static double normal(rp_rng *r)
{
    double u1 = uniform_open(r), u2 = uniform_open(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double rp_rng_gamma(rp_rng *r, double alpha)
{
    RP_ASSERT(alpha > 0.0);
    if (alpha < 1.0) return rp_rng_gamma(r, alpha + 1.0) * pow(uniform_open(r), 1.0 / alpha);
    double d = alpha - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = uniform_open(r);
        if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double rp_rng_beta(rp_rng *r, double a, double b)
{
    double x = rp_rng_gamma(r, a), y = rp_rng_gamma(r, b);
    return x + y > 0.0 ? x / (x + y) : 0.5;
}

void rp_rng_dirichlet(rp_rng *r, double alpha, int n, double *w)
{
    RP_ASSERT(n > 0);
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (w[i] = rp_rng_gamma(r, alpha));
    if (s <= 0.0) {
        for (int i = 0; i < n; i++) w[i] = 1.0 / n;
        return;
    }
    for (int i = 0; i < n; i++) w[i] /= s;
}
