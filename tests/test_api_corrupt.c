/* The public corruption API (include/rampart.h): every corruption listed with its family and
 * flags, found by name and alias, selected by list; rp_corrupt gives the internal registry's
 * bytes (rp_corrupt_batch, and single-image calls numbered first_index + b) for every
 * corruption and severity, gray and colour; bad names, severities and shapes are RP_ERR_ARG with
 * a message naming them, never an abort. */
#include <stdlib.h>
#include <string.h>

#include "data/corrupt.h"
#include "testutil.h"

enum { B = 3 };

static void make_images(float *x, size_t n, uint64_t seed) { tu_fill_uniform(x, n, 0.05f, 0.95f, seed); }

static void test_listing(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    int n = rp_corruption_count(), imagenet = 0, held = 0, not_gray = 0;
    assert_int_equal(n, RP_CORR_COUNT);
    const char *const *fam = rp_corruption_family_names();
    int n_fam = 0;
    while (fam[n_fam]) n_fam++;
    assert_int_equal(n_fam, RP_FAMILY_COUNT);
    for (int i = 0; i < n; i++) {
        rp_corruption_info info;
        assert_int_equal(rp_corruption_describe(ctx, i, &info), RP_OK);
        assert_string_equal(info.name, rp_corruption_name((rp_corruption)i));
        assert_string_equal(info.family, rp_corruption_family_name(rp_corruption_family_of((rp_corruption)i)));
        bool known = false;
        for (int f = 0; f < n_fam; f++) known |= !strcmp(fam[f], info.family);
        assert_true(known);
        int k = -1;
        assert_int_equal(rp_corruption_find(ctx, info.name, &k), RP_OK);
        assert_int_equal(k, i);
        imagenet += info.imagenet_c, held += info.held_out, not_gray += !info.grayscale;
    }
    assert_int_equal(imagenet, 15);
    assert_int_equal(held, 4);
    assert_int_equal(not_gray, 1); /* saturate */
    int k;
    assert_int_equal(rp_corruption_find(ctx, "jpeg", &k), RP_OK); /* an alias */
    assert_int_equal(k, RP_CORR_JPEG);
    assert_int_equal(rp_corruption_find(ctx, "saturate", &k), RP_OK);
    rp_corruption_info sat;
    assert_int_equal(rp_corruption_describe(ctx, k, &sat), RP_OK);
    assert_false(sat.grayscale);
    assert_string_equal(rp_corruption_table_name(28, 28), "28px");
    assert_string_equal(rp_corruption_table_name(32, 32), "CIFAR-10-C");
    assert_string_equal(rp_corruption_table_name(64, 64), "Tiny-ImageNet-C");
    assert_string_equal(rp_corruption_table_name(224, 224), "ImageNet-C");
    rp_ctx_destroy(ctx);
}

static void test_select(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    int n = rp_corruption_count();
    bool *sel = calloc((size_t)n, sizeof *sel);
    assert_int_equal(rp_corruption_select(ctx, "blur,fog", sel), RP_OK);
    int count = 0;
    for (int i = 0; i < n; i++) {
        rp_corruption_info info;
        assert_int_equal(rp_corruption_describe(ctx, i, &info), RP_OK);
        bool want = !strcmp(info.family, "blur") || !strcmp(info.name, "fog");
        assert_int_equal(sel[i], want);
        count += sel[i];
    }
    assert_int_equal(count, 6); /* defocus, glass, motion, zoom, gaussian blur; fog */
    assert_int_equal(rp_corruption_select(ctx, "all", sel), RP_OK);
    for (int i = 0; i < n; i++) assert_true(sel[i]);
    assert_int_equal(rp_corruption_select(ctx, "blur,nonsense", sel), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "'nonsense'"));
    assert_int_equal(rp_corruption_select(ctx, "", sel), RP_ERR_ARG);
    assert_int_equal(rp_corruption_select(ctx, NULL, sel), RP_ERR_ARG);
    assert_int_equal(rp_corruption_select(ctx, "all", NULL), RP_ERR_ARG);
    free(sel);
    rp_ctx_destroy(ctx);
}

/* rp_corrupt == rp_corrupt_batch == single internal calls numbered first_index + b. */
static void same_bytes(int H, int W, int C)
{
    rp_ctx *ctx = rp_ctx_create(2);
    size_t X = (size_t)H * W * C;
    float *clean = malloc(B * X * sizeof(float)), *api = malloc(B * X * sizeof(float));
    float *ref = malloc(B * X * sizeof(float));
    make_images(clean, B * X, 7);
    const uint64_t seed = 11, first = 40;
    for (int c = 0; c < rp_corruption_count(); c++) {
        rp_corruption_info info;
        assert_int_equal(rp_corruption_describe(ctx, c, &info), RP_OK);
        float *scratch = malloc((rp_corrupt_scratch_floats((rp_corruption)c, H, W, C) + 1) * sizeof(float));
        for (int s = 1; s <= 5; s++) {
            memcpy(api, clean, B * X * sizeof(float));
            assert_int_equal(rp_corrupt(ctx, info.name, s, api, B, H, W, C, seed, first), RP_OK);
            memcpy(ref, clean, B * X * sizeof(float));
            assert_int_equal(rp_corrupt_batch(ctx, (rp_corruption)c, s, ref, B, H, W, C, seed, first), RP_OK);
            if (memcmp(api, ref, B * X * sizeof(float)))
                fail_msg("%s severity %d at %dx%dx%d: rp_corrupt differs from rp_corrupt_batch", info.name, s, H, W, C);
            for (int b = 0; b < B; b++) {
                memcpy(ref, clean + b * X, X * sizeof(float));
                rp_corrupt_image((rp_corruption)c, s, ref, H, W, C, seed, first + (uint64_t)b, scratch);
                if (memcmp(api + b * X, ref, X * sizeof(float)))
                    fail_msg("%s severity %d: image %d is not single call %llu", info.name, s, b,
                             (unsigned long long)(first + b));
            }
            bool changed = memcmp(api, clean, B * X * sizeof(float)) != 0;
            if (changed != (C == 3 || info.grayscale))
                fail_msg("%s severity %d at C=%d: changed=%d", info.name, s, C, changed);
            for (size_t k = 0; k < B * X; k++)
                if (!(api[k] >= 0.0f && api[k] <= 1.0f)) fail_msg("%s: value %g outside [0,1]", info.name, (double)api[k]);
        }
        free(scratch);
    }
    free(clean), free(api), free(ref);
    rp_ctx_destroy(ctx);
}

static void test_same_bytes_gray(void **state)
{
    (void)state;
    same_bytes(28, 28, 1);
}

static void test_same_bytes_colour(void **state)
{
    (void)state;
    same_bytes(32, 32, 3);
}

/* The stream is keyed by seed and image number: another seed changes a noise, another
 * numbering of the same image too; the same call twice gives the same bytes. */
static void test_seeded(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    size_t X = 28 * 28;
    float *a = malloc(X * sizeof(float)), *b = malloc(X * sizeof(float)), *clean = malloc(X * sizeof(float));
    make_images(clean, X, 3);
    memcpy(a, clean, X * sizeof(float)), memcpy(b, clean, X * sizeof(float));
    assert_int_equal(rp_corrupt(ctx, "gaussian_noise", 3, a, 1, 28, 28, 1, 5, 0), RP_OK);
    assert_int_equal(rp_corrupt(ctx, "gaussian_noise", 3, b, 1, 28, 28, 1, 5, 0), RP_OK);
    assert_memory_equal(a, b, X * sizeof(float));
    memcpy(b, clean, X * sizeof(float));
    assert_int_equal(rp_corrupt(ctx, "gaussian_noise", 3, b, 1, 28, 28, 1, 6, 0), RP_OK);
    assert_memory_not_equal(a, b, X * sizeof(float));
    memcpy(b, clean, X * sizeof(float));
    assert_int_equal(rp_corrupt(ctx, "gaussian_noise", 3, b, 1, 28, 28, 1, 5, 1), RP_OK);
    assert_memory_not_equal(a, b, X * sizeof(float));
    free(a), free(b), free(clean);
    rp_ctx_destroy(ctx);
}

static void expect_arg(rp_ctx *ctx, rp_status s, const char *needle)
{
    assert_int_equal(s, RP_ERR_ARG);
    if (!strstr(rp_ctx_error(ctx), needle)) fail_msg("message '%s' does not name '%s'", rp_ctx_error(ctx), needle);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    float x[2 * 28 * 28] = {0};
    int k;
    rp_corruption_info info;
    expect_arg(ctx, rp_corrupt(ctx, "fogg", 3, x, 1, 28, 28, 1, 0, 0), "'fogg'");
    expect_arg(ctx, rp_corrupt(ctx, NULL, 3, x, 1, 28, 28, 1, 0, 0), "(null)");
    expect_arg(ctx, rp_corrupt(ctx, "fog", 0, x, 1, 28, 28, 1, 0, 0), "severity 0");
    expect_arg(ctx, rp_corrupt(ctx, "fog", 6, x, 1, 28, 28, 1, 0, 0), "severity 6");
    expect_arg(ctx, rp_corrupt(ctx, "fog", 3, x, 1, 28, 14, 2, 0, 0), "C must be 1 or 3");
    expect_arg(ctx, rp_corrupt(ctx, "fog", 3, x, -1, 28, 28, 1, 0, 0), "batch of -1");
    expect_arg(ctx, rp_corrupt(ctx, "fog", 3, x, 1, 0, 28, 1, 0, 0), "0x28x1");
    expect_arg(ctx, rp_corrupt(ctx, "fog", 3, NULL, 1, 28, 28, 1, 0, 0), "x is NULL");
    assert_int_equal(rp_corrupt(ctx, "fog", 3, NULL, 0, 28, 28, 1, 0, 0), RP_OK); /* nothing to do */
    expect_arg(ctx, rp_corruption_find(ctx, "nope", &k), "'nope'");
    expect_arg(ctx, rp_corruption_find(ctx, "fog", NULL), "index is NULL");
    expect_arg(ctx, rp_corruption_describe(ctx, -1, &info), "index -1");
    expect_arg(ctx, rp_corruption_describe(ctx, rp_corruption_count(), &info), "outside");
    expect_arg(ctx, rp_corruption_describe(ctx, 0, NULL), "out is NULL");
    /* a NULL context is allowed: the status still comes back */
    assert_int_equal(rp_corrupt(NULL, "fogg", 3, x, 1, 28, 28, 1, 0, 0), RP_ERR_ARG);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing),          cmocka_unit_test(test_select),
        cmocka_unit_test(test_same_bytes_gray),  cmocka_unit_test(test_same_bytes_colour),
        cmocka_unit_test(test_seeded),           cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
