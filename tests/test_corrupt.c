/* Properties every corruption must have, at 28 px gray (Fashion-MNIST's table), 32 px and 64 px
 * colour (CIFAR-10-C's and Tiny-ImageNet-C's tables): output in [0, 1]; the same seed gives the
 * same bytes and another seed (for the random ones) other bytes; a batch of N equals N single
 * calls, whatever the thread count; the mean distance from the clean image grows with severity
 * (strictly at every step on the 28-px table this project defines; on the published tables
 * severity 5 beyond severity 1, since some published rows are not monotone: glass blur, whose
 * extra blur at some steps smooths its shuffle away); saturate is not applicable to gray
 * images. Also the registry's names, families, list and severity parsing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/corrupt.h"
#include "testutil.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { N_IMG = 24 };

/* Natural-ish images: smooth shading, a bright object with edges, mild texture. */
static void make_images(float *x, int n, int H, int W, int C, uint64_t seed)
{
    rp_rng r;
    rp_rng_seed(&r, seed, 99);
    for (int i = 0; i < n; i++) {
        float cy = 0.3f + 0.4f * rp_rng_uniform(&r), cx = 0.3f + 0.4f * rp_rng_uniform(&r);
        float rad = 0.15f + 0.15f * rp_rng_uniform(&r), base = 0.1f + 0.3f * rp_rng_uniform(&r);
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++) {
                    float yy = (float)h / (H - 1), xx = (float)w / (W - 1);
                    float v = base + 0.2f * xx * (c + 1) / C;
                    if ((yy - cy) * (yy - cy) + (xx - cx) * (xx - cx) < rad * rad) v = 0.55f + 0.3f * yy + 0.05f * c;
                    v += 0.03f * (rp_rng_uniform(&r) - 0.5f);
                    x[(((size_t)i * H + h) * W + w) * C + c] = v < 0 ? 0 : v > 1 ? 1 : v;
                }
    }
}

static double mean_abs_diff(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t k = 0; k < n; k++) s += fabs((double)a[k] - b[k]);
    return s / (double)n;
}

static void check_size(int H, int W, int C)
{
    rp_ctx *ctx = rp_ctx_create(2);
    size_t X = (size_t)H * W * C, NX = N_IMG * X;
    float *clean = malloc(NX * sizeof(float)), *a = malloc(NX * sizeof(float)), *b = malloc(NX * sizeof(float));
    make_images(clean, N_IMG, H, W, C, (uint64_t)H * 31 + C);
    rp_corrupt_table t = rp_corrupt_table_for(H, W);
    for (int c = 0; c < RP_CORR_COUNT; c++) {
        const char *name = rp_corruption_name((rp_corruption)c);
        if (!rp_corruption_applies((rp_corruption)c, C)) {
            assert_true(c == RP_CORR_SATURATE && C == 1);
            continue;
        }
        double dist[6] = {0};
        float *scratch = malloc((rp_corrupt_scratch_floats((rp_corruption)c, H, W, C) + 1) * sizeof(float));
        for (int s = 1; s <= 5; s++) {
            memcpy(a, clean, NX * sizeof(float));
            memcpy(b, clean, NX * sizeof(float));
            assert_int_equal(rp_corrupt_batch(ctx, (rp_corruption)c, s, a, N_IMG, H, W, C, 17, 100), RP_OK);
            for (int i = 0; i < N_IMG; i++) /* one at a time, indices 100.. */
                rp_corrupt_image((rp_corruption)c, s, b + i * X, H, W, C, 17, 100 + (uint64_t)i, scratch);
            if (memcmp(a, b, NX * sizeof(float)))
                fail_msg("%s s%d %dx%dx%d: a batch differs from single calls", name, s, H, W, C);
            for (size_t k = 0; k < NX; k++)
                if (!(a[k] >= 0.0f && a[k] <= 1.0f)) fail_msg("%s s%d: value %g outside [0,1]", name, s, (double)a[k]);
            dist[s] = mean_abs_diff(a, clean, NX);
            if (!(dist[s] > 0.0)) fail_msg("%s s%d %dx%dx%d: the identity", name, s, H, W, C);
        }
#ifdef _OPENMP
        memcpy(b, clean, NX * sizeof(float)); /* one thread gives the same bytes */
        int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        assert_int_equal(rp_corrupt_batch(ctx, (rp_corruption)c, 5, b, N_IMG, H, W, C, 17, 100), RP_OK);
        omp_set_num_threads(threads);
        if (memcmp(a, b, NX * sizeof(float))) fail_msg("%s: thread count changed the bytes", name);
#endif
        /* another seed: other bytes unless the corruption draws nothing */
        memcpy(b, clean, NX * sizeof(float));
        assert_int_equal(rp_corrupt_batch(ctx, (rp_corruption)c, 5, b, N_IMG, H, W, C, 18, 100), RP_OK);
        bool deterministic = c == RP_CORR_DEFOCUS_BLUR || c == RP_CORR_ZOOM_BLUR || c == RP_CORR_GAUSSIAN_BLUR ||
                             c == RP_CORR_BRIGHTNESS || c == RP_CORR_CONTRAST || c == RP_CORR_PIXELATE ||
                             c == RP_CORR_JPEG || c == RP_CORR_SATURATE || c == RP_CORR_SCALE;
        bool same = !memcmp(a, b, NX * sizeof(float));
        if (same != deterministic)
            fail_msg("%s: a new seed %s the output", name, same ? "did not change" : "changed");
        if (t == RP_CTABLE_28) {
            for (int s = 2; s <= 5; s++)
                if (!(dist[s] > dist[s - 1]))
                    fail_msg("%s %dx%dx%d: severity %d (%.4f) not beyond %d (%.4f)", name, H, W, C, s, dist[s], s - 1,
                             dist[s - 1]);
        } else if (!(dist[5] > dist[1]) && c != RP_CORR_ELASTIC) {
            fail_msg("%s %dx%dx%d: severity 5 (%.4f) not beyond 1 (%.4f)", name, H, W, C, dist[5], dist[1]);
        }
        printf("# %-18s %2dx%2dx%d %-15s distance by severity %.3f %.3f %.3f %.3f %.3f\n", name, H, W, C,
               rp_corrupt_table_name(t), dist[1], dist[2], dist[3], dist[4], dist[5]);
        free(scratch);
    }
    free(clean), free(a), free(b);
    rp_ctx_destroy(ctx);
}

static void test_28_gray(void **state) { (void)state; check_size(28, 28, 1); }
static void test_32_colour(void **state) { (void)state; check_size(32, 32, 3); }
static void test_64_colour(void **state) { (void)state; check_size(64, 64, 3); }
static void test_odd_size(void **state) { (void)state; check_size(23, 37, 3); }

static void test_registry(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    int held = 0, inc = 0;
    for (int c = 0; c < RP_CORR_COUNT; c++) {
        rp_corruption back;
        assert_true(rp_corruption_parse(rp_corruption_name((rp_corruption)c), &back) && back == (rp_corruption)c);
        held += rp_corruption_held_out((rp_corruption)c);
        inc += rp_corruption_in_imagenet_c((rp_corruption)c);
    }
    assert_int_equal(held, 4);
    assert_int_equal(inc, 15);
    assert_int_equal(rp_corruption_family_of(RP_CORR_FROST), RP_FAMILY_WEATHER);
    assert_int_equal(rp_corruption_family_of(RP_CORR_ELASTIC), RP_FAMILY_DIGITAL);
    assert_int_equal(rp_corruption_family_of(RP_CORR_ROTATE), RP_FAMILY_GEOMETRIC);
    bool set[RP_CORR_COUNT];
    assert_int_equal(rp_corruption_parse_list(ctx, "all", set), RP_OK);
    for (int c = 0; c < RP_CORR_COUNT; c++) assert_true(set[c]);
    assert_int_equal(rp_corruption_parse_list(ctx, "blur,fog,jpeg", set), RP_OK);
    int n = 0;
    for (int c = 0; c < RP_CORR_COUNT; c++) n += set[c];
    assert_int_equal(n, 7);
    assert_true(set[RP_CORR_GAUSSIAN_BLUR] && set[RP_CORR_FOG] && set[RP_CORR_JPEG]);
    assert_int_equal(rp_corruption_parse_list(ctx, "extra", set), RP_OK);
    assert_true(set[RP_CORR_SPATTER] && !set[RP_CORR_FOG]);
    assert_int_equal(rp_corruption_parse_list(ctx, "blur,rain", set), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "'rain'"));
    assert_int_equal(rp_corruption_parse_list(ctx, "", set), RP_ERR_ARG);
    bool sev[6];
    assert_int_equal(rp_corruption_parse_severities(ctx, "1,3-5", sev), RP_OK);
    assert_true(sev[1] && !sev[2] && sev[3] && sev[4] && sev[5]);
    const char *bad[] = {"0", "6", "2-9", "1,", "x", "3-1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rp_corruption_parse_severities(ctx, bad[i], sev) != RP_ERR_ARG) fail_msg("severity '%s' accepted", bad[i]);
    assert_int_equal(rp_corrupt_table_for(28, 28), RP_CTABLE_28);
    assert_int_equal(rp_corrupt_table_for(32, 32), RP_CTABLE_CIFAR);
    assert_int_equal(rp_corrupt_table_for(64, 64), RP_CTABLE_TINY);
    assert_int_equal(rp_corrupt_table_for(224, 224), RP_CTABLE_IMAGENET);
    assert_false(rp_corruption_applies(RP_CORR_SATURATE, 1));
    assert_true(rp_corruption_applies(RP_CORR_SATURATE, 3));
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry), cmocka_unit_test(test_28_gray),  cmocka_unit_test(test_32_colour),
        cmocka_unit_test(test_64_colour), cmocka_unit_test(test_odd_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
