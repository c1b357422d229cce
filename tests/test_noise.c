/* Noise conditions: severity tables, the distribution of each noise (moments within stated
 * tolerances on 20k-40k values), clipping, Poisson sampling, seeding and batch-split
 * independence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/noise.h"
#include "testutil.h"

static float *constant(size_t n, float v)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = v;
    return x;
}

static void moments(const float *x, size_t n, double *mean, double *var)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += ((double)x[i] - *mean) * ((double)x[i] - *mean);
    *var = s2 / (double)(n - 1);
}

static void test_tables(void **state)
{
    (void)state;
    /* Fashion-MNIST 28x28 and CIFAR 32x32: the CIFAR-10-C row; 64x64: Tiny-ImageNet-C */
    assert_int_equal(rp_corrupt_table_for(28, 28), RP_CTABLE_28);
    assert_int_equal(rp_corrupt_table_for(32, 32), RP_CTABLE_CIFAR);
    assert_int_equal(rp_corrupt_table_for(64, 64), RP_CTABLE_TINY);
    assert_int_equal(rp_corrupt_table_for(224, 224), RP_CTABLE_IMAGENET);
    assert_float_equal(rp_noise_strength(RP_NOISE_GAUSSIAN, 1, RP_CTABLE_CIFAR), 0.04, 1e-7);
    assert_float_equal(rp_noise_strength(RP_NOISE_GAUSSIAN, 5, RP_CTABLE_CIFAR), 0.10, 1e-7);
    assert_float_equal(rp_noise_strength(RP_NOISE_GAUSSIAN, 5, RP_CTABLE_TINY), 0.18, 1e-7);
    assert_float_equal(rp_noise_strength(RP_NOISE_SHOT, 1, RP_CTABLE_CIFAR), 500, 0);
    assert_float_equal(rp_noise_strength(RP_NOISE_SHOT, 5, RP_CTABLE_TINY), 15, 0);
    assert_float_equal(rp_noise_strength(RP_NOISE_IMPULSE, 3, RP_CTABLE_CIFAR), 0.03, 1e-7);
    assert_float_equal(rp_noise_strength(RP_NOISE_IMPULSE, 5, RP_CTABLE_TINY), 0.14, 1e-7);
    assert_float_equal(rp_noise_strength(RP_NOISE_SPECKLE, 2, RP_CTABLE_CIFAR), 0.10, 1e-7);
    assert_float_equal(rp_noise_strength(RP_NOISE_SPECKLE, 4, RP_CTABLE_TINY), 0.30, 1e-7);
    for (int s = 2; s <= 5; s++) /* severities get harsher */
        for (int t = 0; t < 3; t++) {
            assert_true(rp_noise_strength(RP_NOISE_GAUSSIAN, s, t) > rp_noise_strength(RP_NOISE_GAUSSIAN, s - 1, t));
            assert_true(rp_noise_strength(RP_NOISE_SHOT, s, t) < rp_noise_strength(RP_NOISE_SHOT, s - 1, t));
            assert_true(rp_noise_strength(RP_NOISE_IMPULSE, s, t) > rp_noise_strength(RP_NOISE_IMPULSE, s - 1, t));
        }
    rp_noise_kind k;
    assert_true(rp_noise_parse("shot", &k) && k == RP_NOISE_SHOT);
    assert_true(rp_noise_parse("salt-and-pepper", &k) && k == RP_NOISE_IMPULSE);
    assert_false(rp_noise_parse("gauss", &k));
    assert_string_equal(rp_noise_name(RP_NOISE_SPECKLE), "speckle");
}

/* Gaussian on x = 0.5 with sigma 0.08 (no clipping in +-6 sigma): mean within 4 standard
 * errors of 0.5, standard deviation within 2% of sigma (n = 40,000). */
static void test_gaussian_moments(void **state)
{
    (void)state;
    const int B = 10, H = 40, W = 50, C = 2;
    size_t n = (size_t)B * H * W * C;
    float *x = constant(n, 0.5f);
    rp_rng r;
    rp_rng_seed(&r, 3, RP_STREAM_NOISE);
    rp_noise_apply(RP_NOISE_GAUSSIAN, 0.08f, x, B, H, W, C, &r);
    double m, v;
    moments(x, n, &m, &v);
    assert_true(fabs(m - 0.5) < 4 * 0.08 / sqrt((double)n));
    assert_true(fabs(sqrt(v) / 0.08 - 1.0) < 0.02);
    free(x);
}

/* Speckle: zero stays zero; x = 0.5 gets sd 0.5 * s (2%). */
static void test_speckle(void **state)
{
    (void)state;
    size_t n = 40000;
    float *x = constant(n, 0.5f), *z = constant(64, 0.0f);
    rp_rng r;
    rp_rng_seed(&r, 4, RP_STREAM_NOISE);
    rp_noise_apply(RP_NOISE_SPECKLE, 0.2f, x, 1, 200, 200, 1, &r);
    rp_noise_apply(RP_NOISE_SPECKLE, 0.6f, z, 1, 8, 8, 1, &r);
    double m, v;
    moments(x, n, &m, &v);
    assert_true(fabs(m - 0.5) < 4 * 0.1 / sqrt((double)n));
    assert_true(fabs(sqrt(v) / 0.1 - 1.0) < 0.02);
    for (int i = 0; i < 64; i++) assert_true(z[i] == 0.0f);
    free(x), free(z);
}

/* Poisson draws on both paths (multiplication below lambda 10, PTRS above): mean and variance
 * equal lambda within 4 standard errors / 5%, and P(k) for lambda 30 matches the pmf within
 * 0.006 at every k (n = 40,000, sd of a frequency <= 0.0017). */
static void test_poisson(void **state)
{
    (void)state;
    const double lambdas[] = {0.5, 4.0, 12.0, 30.0, 500.0};
    const int n = 40000;
    rp_rng r;
    rp_rng_seed(&r, 5, RP_STREAM_NOISE);
    for (size_t t = 0; t < sizeof lambdas / sizeof lambdas[0]; t++) {
        double lam = lambdas[t], s = 0, s2 = 0;
        int *hist = calloc(200, sizeof *hist);
        for (int i = 0; i < n; i++) {
            double k = rp_noise_poisson(&r, lam);
            assert_true(k >= 0 && k == floor(k));
            s += k, s2 += k * k;
            if (k < 200) hist[(int)k]++;
        }
        double mean = s / n, var = s2 / n - mean * mean;
        assert_true(fabs(mean - lam) < 4 * sqrt(lam / n));
        assert_true(fabs(var / lam - 1.0) < 0.05);
        if (lam == 30.0)
            for (int k = 10; k < 60; k++) {
                double pmf = exp(-lam + k * log(lam) - lgamma(k + 1.0));
                assert_true(fabs((double)hist[k] / n - pmf) < 0.006);
            }
        free(hist);
    }
    assert_true(rp_noise_poisson(&r, 0.0) == 0.0);
}

/* Shot noise Poisson(x c)/c on x = 0.3: mean 0.3 and variance x/c (5%), c = 100 (PTRS
 * path, lambda 30) and c = 20 (multiplication path, lambda 6). */
static void test_shot_moments(void **state)
{
    (void)state;
    const float cs[] = {100.0f, 20.0f};
    size_t n = 40000;
    for (int t = 0; t < 2; t++) {
        float *x = constant(n, 0.3f);
        rp_rng r;
        rp_rng_seed(&r, 6, RP_STREAM_NOISE);
        rp_noise_apply(RP_NOISE_SHOT, cs[t], x, 4, 100, 100, 1, &r);
        double m, v, want_var = 0.3 / cs[t];
        moments(x, n, &m, &v);
        assert_true(fabs(m - 0.3) < 4 * sqrt(want_var / (double)n));
        assert_true(fabs(v / want_var - 1.0) < 0.05);
        free(x);
    }
}

/* Impulse with amount 0.1 on x = 0.5: the changed fraction is 0.1 and salt is half of it
 * (4 binomial standard errors); every changed value is exactly 0 or 1. */
static void test_impulse(void **state)
{
    (void)state;
    size_t n = 40000;
    float *x = constant(n, 0.5f);
    rp_rng r;
    rp_rng_seed(&r, 7, RP_STREAM_NOISE);
    rp_noise_apply(RP_NOISE_IMPULSE, 0.1f, x, 1, 100, 100, 4, &r);
    size_t salt = 0, pepper = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] == 1.0f) salt++;
        else if (x[i] == 0.0f) pepper++;
        else assert_true(x[i] == 0.5f);
    }
    double changed = (double)(salt + pepper) / n, se = sqrt(0.1 * 0.9 / n);
    assert_true(fabs(changed - 0.1) < 4 * se);
    assert_true(fabs((double)salt / (double)(salt + pepper) - 0.5) < 4 * sqrt(0.25 / (double)(salt + pepper)));
    free(x);
}

/* Every kind at its harshest keeps values in [0, 1]; the inputs span the range. */
static void test_clipped(void **state)
{
    (void)state;
    size_t n = 8 * 8 * 3 * 4;
    for (int k = 0; k < RP_NOISE_COUNT; k++) {
        float *x = malloc(n * sizeof *x);
        tu_fill_uniform(x, n, 0.0f, 1.0f, 11);
        rp_rng r;
        rp_rng_seed(&r, 8, RP_STREAM_NOISE);
        float strength = k == RP_NOISE_SHOT ? 3.0f : k == RP_NOISE_IMPULSE ? 0.5f : 1.0f;
        rp_noise_apply((rp_noise_kind)k, strength, x, 4, 8, 8, 3, &r);
        for (size_t i = 0; i < n; i++) assert_true(x[i] >= 0.0f && x[i] <= 1.0f);
        free(x);
    }
}

/* Same seed: same noise; other seed: other noise; noising 6 images in one call equals noising
 * them as 2 + 4 from the same continuing stream (batch size never changes the images). */
static void test_seeded_and_split(void **state)
{
    (void)state;
    const int B = 6, H = 5, W = 7, C = 3;
    size_t X = (size_t)H * W * C, n = B * X;
    for (int k = 0; k < RP_NOISE_COUNT; k++) {
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
        tu_fill_uniform(a, n, 0.0f, 1.0f, 12);
        memcpy(b, a, n * sizeof *a);
        memcpy(c, a, n * sizeof *a);
        rp_rng r1, r2, r3;
        rp_rng_seed(&r1, 9, RP_STREAM_NOISE);
        rp_rng_seed(&r2, 9, RP_STREAM_NOISE);
        rp_rng_seed(&r3, 10, RP_STREAM_NOISE);
        rp_noise_apply_severity((rp_noise_kind)k, 5, a, B, H, W, C, &r1);
        rp_noise_apply_severity((rp_noise_kind)k, 5, b, 2, H, W, C, &r2);
        rp_noise_apply_severity((rp_noise_kind)k, 5, b + 2 * X, 4, H, W, C, &r2);
        rp_noise_apply_severity((rp_noise_kind)k, 5, c, B, H, W, C, &r3);
        assert_memory_equal(a, b, n * sizeof *a);
        assert_memory_not_equal(a, c, n * sizeof *a);
        free(a), free(b), free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),        cmocka_unit_test(test_gaussian_moments),
        cmocka_unit_test(test_speckle),       cmocka_unit_test(test_poisson),
        cmocka_unit_test(test_shot_moments),  cmocka_unit_test(test_impulse),
        cmocka_unit_test(test_clipped),       cmocka_unit_test(test_seeded_and_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
