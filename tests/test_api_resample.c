/* rp_resample (include/rampart.h), the bootstrap's draws: a NULL buffer, a negative count or
 * nothing to draw from is RP_ERR_ARG with a message (also with no context); the same (seed,
 * round, n) gives the same indices, another round or seed others; every index is in range and
 * the counts are uniform within a loose chi-square bound. rp_random_uniform likewise: a NULL
 * buffer is RP_ERR_ARG, values in [0, 1) with mean and variance near 1/2 and 1/12. */
#include <string.h>

#include "testutil.h"

static void test_resample_bad_arguments(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    int idx[4];
    assert_int_equal(rp_resample(ctx, NULL, 4, 10, 1, 0), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "idx is NULL"));
    assert_int_equal(rp_resample(ctx, idx, -1, 10, 1, 0), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "count -1"));
    assert_int_equal(rp_resample(ctx, idx, 4, 0, 1, 0), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "n 0"));
    assert_int_equal(rp_resample(NULL, idx, 4, -3, 1, 0), RP_ERR_ARG); /* no context: status only */
    assert_int_equal(rp_resample(ctx, idx, 0, 10, 1, 0), RP_OK);      /* nothing asked, nothing drawn */
    rp_ctx_destroy(ctx);
}

static void test_resample_draws(void **state)
{
    (void)state;
    enum { N = 10, COUNT = 20000 };
    static int a[COUNT], b[COUNT], c[COUNT], d[COUNT];
    assert_int_equal(rp_resample(NULL, a, COUNT, N, 7, 3), RP_OK);
    assert_int_equal(rp_resample(NULL, b, COUNT, N, 7, 3), RP_OK);
    assert_int_equal(rp_resample(NULL, c, COUNT, N, 7, 4), RP_OK);
    assert_int_equal(rp_resample(NULL, d, COUNT, N, 8, 3), RP_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    assert_memory_not_equal(a, d, sizeof a);
    long hist[N] = {0};
    for (int i = 0; i < COUNT; i++) {
        assert_true(a[i] >= 0 && a[i] < N);
        hist[a[i]]++;
    }
    double chi2 = 0.0, e = (double)COUNT / N;
    for (int k = 0; k < N; k++) chi2 += (hist[k] - e) * (hist[k] - e) / e;
    assert_true(chi2 < 40.0); /* 9 degrees of freedom: P(chi2 > 40) < 1e-5 */
    /* a prefix of a longer draw is the shorter draw */
    int p[5];
    assert_int_equal(rp_resample(NULL, p, 5, N, 7, 3), RP_OK);
    assert_memory_equal(p, a, sizeof p);
}

static void test_random_uniform(void **state)
{
    (void)state;
    enum { N = 50000 };
    static float a[N], b[N], c[N];
    rp_ctx *ctx = rp_ctx_create(1);
    assert_int_equal(rp_random_uniform(ctx, NULL, 4, 1, 0), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "x is NULL"));
    assert_int_equal(rp_random_uniform(NULL, NULL, 0, 1, 0), RP_OK); /* nothing asked */
    assert_int_equal(rp_random_uniform(ctx, a, N, 5, 2), RP_OK);
    assert_int_equal(rp_random_uniform(ctx, b, N, 5, 2), RP_OK);
    assert_int_equal(rp_random_uniform(ctx, c, N, 5, 3), RP_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= 0.0f && a[i] < 1.0f);
        mean += a[i];
    }
    mean /= N;
    for (int i = 0; i < N; i++) var += (a[i] - mean) * (a[i] - mean);
    var /= N;
    assert_true(mean > 0.49 && mean < 0.51);          /* std of the mean 0.0013 */
    assert_true(var > 1.0 / 12 - 0.003 && var < 1.0 / 12 + 0.003);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resample_bad_arguments),
        cmocka_unit_test(test_resample_draws),
        cmocka_unit_test(test_random_uniform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
