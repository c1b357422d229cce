/* The report's statistics (src/report/report_stats.h) against values computed independently by
 * tests/make_report_stats_reference.py with SciPy (Wilson by inverting the score test
 * numerically; McNemar from scipy.stats.binom and chi2), plus hand-checked cases and
 * properties of the seeded bootstrap; the report's HTML escaping and buffer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report/report_buf.h"
#include "report/report_stats.h"

typedef struct wilson_case {
    long k, n;
    double lo, hi;
} wilson_case;
typedef struct mcnemar_case {
    long b, c;
    double p_exact, chi2, p_chi2;
} mcnemar_case;

/* Pasted from `python3 tests/make_report_stats_reference.py` (SciPy 1.10.1). */
static const wilson_case WILSON[] = {
    {0, 10, 0.0, 0.27753279986288926},
    {1, 10, 0.01787621309507297, 0.4041500267952385},
    {5, 10, 0.236593090512564, 0.7634069094874361},
    {10, 10, 0.7224672001371109, 1.0},
    {81, 100, 0.7222115462093567, 0.8748524849023126},
    {412, 500, 0.78818582871064, 0.854873598670274},
    {9231, 10000, 0.9177140205011988, 0.9281610400775347},
    {3, 7, 0.15821985525146967, 0.7495416354723428},
    {0, 1, 0.0, 0.7934506856227626},
    {1, 1, 0.20654931437723742, 1.0},
};
static const mcnemar_case MCNEMAR[] = {
    {0, 0, 1.0, 0.0, 1.0},
    {1, 0, 1.0, 0.0, 1.0},
    {5, 1, 0.21875, 1.5, 0.22067136191984324},
    {10, 3, 0.09228515625, 2.769230769230769, 0.0960923294556734},
    {3, 10, 0.09228515625, 2.769230769230769, 0.0960923294556734},
    {20, 20, 1.0, 0.0, 1.0},
    {40, 25, 0.08168153394154003, 3.0153846153846153, 0.08247788747320971},
    {120, 80, 0.005685155996750306, 7.605, 0.005820666407810877},
    {300, 250, 0.03657874554910267, 4.365454545454545, 0.03667469760670498},
    {1, 12, 0.00341796875, 7.6923076923076925, 0.0055456673152440615},
    {0, 9, 0.00390625, 7.111111111111111, 0.007660761135179461},
};

static void test_wilson_matches_scipy(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof WILSON / sizeof WILSON[0]; i++) {
        double lo, hi;
        rp_rpt_wilson(WILSON[i].k, WILSON[i].n, RPT_Z95, &lo, &hi);
        assert_true(fabs(lo - WILSON[i].lo) < 1e-12);
        assert_true(fabs(hi - WILSON[i].hi) < 1e-12);
    }
}

/* Hand-checked: k = 0 of n has the upper bound z^2 / (n + z^2); k = n/2 is symmetric about 1/2. */
static void test_wilson_closed_forms(void **state)
{
    (void)state;
    double lo, hi, z2 = RPT_Z95 * RPT_Z95;
    rp_rpt_wilson(0, 40, RPT_Z95, &lo, &hi);
    assert_true(lo == 0.0 && fabs(hi - z2 / (40 + z2)) < 1e-15);
    rp_rpt_wilson(250, 500, RPT_Z95, &lo, &hi);
    assert_true(fabs(lo + hi - 1.0) < 1e-15 && lo > 0.45 && hi < 0.55);
    rp_rpt_wilson(0, 0, RPT_Z95, &lo, &hi);
    assert_true(lo == 0.0 && hi == 1.0);
}

static void test_mcnemar_matches_scipy(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof MCNEMAR / sizeof MCNEMAR[0]; i++) {
        const mcnemar_case *t = &MCNEMAR[i];
        rp_rpt_mcnemar_result r = rp_rpt_mcnemar(t->b, t->c);
        assert_true(fabs(r.p_exact - t->p_exact) < 1e-12 * fmax(1.0, t->p_exact) + 1e-15);
        assert_true(fabs(r.chi2 - t->chi2) < 1e-12);
        assert_true(fabs(r.p_chi2 - t->p_chi2) < 1e-12);
    }
}

/* Hand-checked binomial tails: P(X <= 0) = 2^-n; P(X <= 2) for n = 4 is 11/16; large n stays finite. */
static void test_binom_half_cdf(void **state)
{
    (void)state;
    assert_true(fabs(rp_rpt_binom_half_cdf(0, 10) - 1.0 / 1024) < 1e-15);
    assert_true(fabs(rp_rpt_binom_half_cdf(2, 4) - 11.0 / 16) < 1e-15);
    assert_true(rp_rpt_binom_half_cdf(-1, 4) == 0.0 && rp_rpt_binom_half_cdf(4, 4) == 1.0);
    double p = rp_rpt_binom_half_cdf(4000, 10000); /* about 1e-91: far out, but not 0 or NaN */
    assert_true(p > 0.0 && p < 1e-80 && isfinite(p));
    assert_true(fabs(rp_rpt_binom_half_cdf(4999, 9999) - 0.5) < 1e-9); /* odd n: symmetric (lgamma's rounding) */
}

static void test_quantile_numpy(void **state)
{
    (void)state;
    const double x[] = {1, 2, 3, 4, 10};
    /* numpy.quantile([1,2,3,4,10], [0, .1, .5, .9, 1]) = 1, 1.4, 3, 7.6, 10 */
    assert_true(fabs(rp_rpt_quantile_sorted(x, 5, 0.0) - 1.0) < 1e-12);
    assert_true(fabs(rp_rpt_quantile_sorted(x, 5, 0.1) - 1.4) < 1e-12);
    assert_true(fabs(rp_rpt_quantile_sorted(x, 5, 0.5) - 3.0) < 1e-12);
    assert_true(fabs(rp_rpt_quantile_sorted(x, 5, 0.9) - 7.6) < 1e-12);
    assert_true(fabs(rp_rpt_quantile_sorted(x, 5, 1.0) - 10.0) < 1e-12);
}

/* The bootstrap of a 0/1 mean: same seed, same interval; a constant gives a point; the
 * 95% interval of 400 fair coin flips is close to the normal one, 0.5 +- 1.96 * 0.025. */
static void test_bootstrap(void **state)
{
    (void)state;
    enum { N = 400 };
    double v[N], lo, hi, lo2, hi2;
    for (int i = 0; i < N; i++) v[i] = (i * 7919 % N) < N / 2 ? 1.0 : 0.0; /* exactly half ones */
    assert_int_equal(rp_rpt_bootstrap_mean(v, N, 2000, 0.05, 42, &lo, &hi), 0);
    assert_int_equal(rp_rpt_bootstrap_mean(v, N, 2000, 0.05, 42, &lo2, &hi2), 0);
    assert_true(lo == lo2 && hi == hi2);
    assert_true(fabs(lo - (0.5 - RPT_Z95 * 0.025)) < 0.006 && fabs(hi - (0.5 + RPT_Z95 * 0.025)) < 0.006);
    assert_true(lo < 0.5 && hi > 0.5);
    double w[N]; /* the seed matters (on values whose means do not fall on a grid) */
    for (int i = 0; i < N; i++) w[i] = sin(i * 0.37) + 0.001 * i;
    rp_rpt_bootstrap_mean(w, N, 500, 0.05, 42, &lo, &hi);
    rp_rpt_bootstrap_mean(w, N, 500, 0.05, 43, &lo2, &hi2);
    assert_true(lo2 != lo && hi2 != hi);
    for (int i = 0; i < N; i++) v[i] = 0.75;
    assert_int_equal(rp_rpt_bootstrap_mean(v, N, 100, 0.05, 1, &lo, &hi), 0);
    assert_true(lo == 0.75 && hi == 0.75);
    assert_int_equal(rp_rpt_bootstrap_mean(v, 0, 100, 0.05, 1, &lo, &hi), -1);
}

static void test_buf_escape(void **state)
{
    (void)state;
    rp_rpt_buf b = {0};
    rp_rpt_buf_escape(&b, "<script>alert(\"x\" & 'y')</script>");
    assert_string_equal(b.s, "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;");
    rp_rpt_buf_free(&b);
    for (int i = 0; i < 2000; i++) rp_rpt_buf_printf(&b, "%04d,", i); /* grows past the first block */
    assert_int_equal(b.len, 2000 * 5);
    assert_true(!strncmp(b.s + 5 * 1999, "1999,", 5) && !b.failed);
    rp_rpt_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wilson_matches_scipy), cmocka_unit_test(test_wilson_closed_forms),
        cmocka_unit_test(test_mcnemar_matches_scipy), cmocka_unit_test(test_binom_half_cdf),
        cmocka_unit_test(test_quantile_numpy),        cmocka_unit_test(test_bootstrap),
        cmocka_unit_test(test_buf_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
