/* The statistics of the HTML report, as small pure functions (tests/test_report_stats.c checks
 * them against SciPy/statsmodels values and closed forms).
 *
 *   Wilson score interval (no continuity correction) for k successes in n trials;
 *   McNemar's test for paired correctness (b: right under A only, c: right under B only):
 *     exact two-sided p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2);
 *     chi-square with Edwards' continuity correction, (|b - c| - 1)^2 / (b + c), 1 df;
 *   percentile bootstrap interval of a mean over items (test images), its resamples drawn by
 *   rp_resample, so the same seed gives the same interval. */
#ifndef RP_REPORT_REPORT_STATS_H
#define RP_REPORT_REPORT_STATS_H

#include <stdint.h>

/* z for a two-sided 95% interval: the 0.975 quantile of the standard normal. */
#define RPT_Z95 1.959963984540054

/* Wilson interval of k / n at z; n = 0 gives [0, 1]. */
void rp_rpt_wilson(long k, long n, double z, double *lo, double *hi);

typedef struct rp_rpt_mcnemar_result {
    long b, c;        /* discordant pairs */
    double p_exact;   /* exact binomial two-sided p (1 when b + c = 0) */
    double chi2;      /* continuity-corrected statistic (0 when b + c = 0) */
    double p_chi2;    /* its p-value, 1 df */
} rp_rpt_mcnemar_result;

rp_rpt_mcnemar_result rp_rpt_mcnemar(long b, long c);

/* P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (n up to millions). */
double rp_rpt_binom_half_cdf(long k, long n);

/* Percentile bootstrap of the mean of v[0..n): B resamples of n items with replacement, the
 * (alpha/2, 1 - alpha/2) quantiles of their means (linear interpolation between order
 * statistics, NumPy's default). Returns 0, or -1 when out of memory or n < 1 or B < 2. */
int rp_rpt_bootstrap_mean(const double *v, int n, int B, double alpha, uint64_t seed, double *lo, double *hi);

/* Quantile q in [0, 1] of sorted x[0..n) with linear interpolation (NumPy's default). */
double rp_rpt_quantile_sorted(const double *x, int n, double q);

#endif
