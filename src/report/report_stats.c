/* See report_stats.h. */
#include "report_stats.h"

#include <math.h>
#include <stdlib.h>

#include "rampart.h"

void rp_rpt_wilson(long k, long n, double z, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0.0, *hi = 1.0;
        return;
    }
    double p = (double)k / (double)n, z2 = z * z, N = (double)n;
    double centre = (p + z2 / (2 * N)) / (1 + z2 / N);
    double half = z / (1 + z2 / N) * sqrt(p * (1 - p) / N + z2 / (4 * N * N));
    *lo = fmax(0.0, centre - half);
    *hi = fmin(1.0, centre + half);
}

double rp_rpt_binom_half_cdf(long k, long n)
{
    if (k < 0) return 0.0;
    if (k >= n) return 1.0;
    /* log C(n, i) - n log 2, summed from the largest term down so nothing underflows first */
    double lmax = -INFINITY, sum = 0.0;
    for (long i = k; i >= 0; i--) {
        double l = lgamma((double)n + 1) - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) - (double)n * 0.6931471805599453;
        if (i == k) lmax = l;
        double t = exp(l - lmax);
        sum += t;
        if (t < 1e-17 * sum) break; /* terms fall off geometrically below the mode */
    }
    return fmin(1.0, exp(lmax) * sum);
}

rp_rpt_mcnemar_result rp_rpt_mcnemar(long b, long c)
{
    rp_rpt_mcnemar_result r = {.b = b, .c = c, .p_exact = 1.0, .chi2 = 0.0, .p_chi2 = 1.0};
    long n = b + c;
    if (n == 0) return r;
    r.p_exact = fmin(1.0, 2.0 * rp_rpt_binom_half_cdf(b < c ? b : c, n));
    double d = fabs((double)(b - c)) - 1.0;
    r.chi2 = d > 0 ? d * d / (double)n : 0.0;
    r.p_chi2 = erfc(sqrt(r.chi2 / 2.0)); /* chi-square survival with 1 df */
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double rp_rpt_quantile_sorted(const double *x, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return x[n - 1];
    return x[i] + (pos - i) * (x[i + 1] - x[i]);
}

int rp_rpt_bootstrap_mean(const double *v, int n, int B, double alpha, uint64_t seed, double *lo, double *hi)
{
    if (n < 1 || B < 2) return -1;
    double *means = malloc((size_t)B * sizeof *means);
    int *idx = malloc((size_t)n * sizeof *idx);
    int rc = means && idx ? 0 : -1;
    for (int b = 0; b < B && rc == 0; b++) { /* resample b: the library's seeded stream (seed, b) */
        if (rp_resample(NULL, idx, n, n, seed, (uint64_t)b) != RP_OK) rc = -1;
        double s = 0.0;
        for (int i = 0; i < n && rc == 0; i++) s += v[idx[i]];
        means[b] = s / n;
    }
    if (rc == 0) {
        qsort(means, (size_t)B, sizeof *means, cmp_double);
        *lo = rp_rpt_quantile_sorted(means, B, alpha / 2);
        *hi = rp_rpt_quantile_sorted(means, B, 1 - alpha / 2);
    }
    free(means), free(idx);
    return rc;
}
