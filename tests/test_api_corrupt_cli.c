/* What rampart corrupt needs from the public API (include/rampart.h): rp_dataset_labels copies
 * a range of labels, rp_corruption_parse_severities reads lists and ranges, and
 * rp_image_write_png_u8 writes 8-bit pixels as they are (gray stays gray: read back exactly);
 * NULL arguments, ranges outside the set, bad lists and bad shapes are RP_ERR_ARG with a
 * message. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "testutil.h"

static void test_dataset_labels(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    enum { N = 5 };
    uint8_t pixels[N * 2 * 2] = {0};
    const int32_t labels[N] = {2, 0, 1, 1, 2};
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_from_memory(ctx, pixels, labels, N, 2, 2, 1, 3, NULL, &ds), RP_OK);
    int32_t y[N] = {-1, -1, -1, -1, -1};
    assert_int_equal(rp_dataset_labels(ctx, ds, 1, 3, y), RP_OK);
    assert_true(y[0] == 0 && y[1] == 1 && y[2] == 1 && y[3] == -1);
    assert_int_equal(rp_dataset_labels(ctx, ds, 0, N, y), RP_OK);
    assert_memory_equal(y, labels, sizeof labels);
    assert_int_equal(rp_dataset_labels(ctx, ds, N, 0, y), RP_OK); /* an empty range at the end */
    tu_expect_status(rp_dataset_labels(ctx, NULL, 0, 1, y), RP_ERR_ARG, ctx, "the data set is NULL");
    tu_expect_status(rp_dataset_labels(ctx, ds, 0, 1, NULL), RP_ERR_ARG, ctx, "y is NULL");
    tu_expect_status(rp_dataset_labels(ctx, ds, 3, 3, y), RP_ERR_ARG, ctx, "samples 3..5 outside the 5");
    tu_expect_status(rp_dataset_labels(ctx, ds, -1, 1, y), RP_ERR_ARG, ctx, "outside");
    tu_expect_status(rp_dataset_labels(ctx, ds, 0, -1, y), RP_ERR_ARG, ctx, "outside");
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

static void test_severities(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    bool sev[6];
    assert_int_equal(rp_corruption_parse_severities(ctx, "1,3-4", sev), RP_OK);
    assert_true(!sev[0] && sev[1] && !sev[2] && sev[3] && sev[4] && !sev[5]);
    assert_int_equal(rp_corruption_parse_severities(ctx, "5", sev), RP_OK);
    assert_true(sev[5] && !sev[1]);
    tu_expect_status(rp_corruption_parse_severities(ctx, "0,2", sev), RP_ERR_ARG, ctx, "outside 1..5");
    tu_expect_status(rp_corruption_parse_severities(ctx, "2-6", sev), RP_ERR_ARG, ctx, "outside 1..5");
    tu_expect_status(rp_corruption_parse_severities(ctx, "two", sev), RP_ERR_ARG, ctx, "not a list");
    tu_expect_status(rp_corruption_parse_severities(ctx, "", sev), RP_ERR_ARG, ctx, "empty list");
    tu_expect_status(rp_corruption_parse_severities(ctx, NULL, sev), RP_ERR_ARG, ctx, "empty list");
    tu_expect_status(rp_corruption_parse_severities(ctx, "1", NULL), RP_ERR_ARG, ctx, "sev is NULL");
    rp_ctx_destroy(ctx);
}

static void test_png_u8(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    enum { H = 3, W = 4 };
    char path[512];
    snprintf(path, sizeof path, "%s/api_png_u8.png", tu_tmpdir());
    uint8_t pix[H * W];
    for (int i = 0; i < H * W; i++) pix[i] = (uint8_t)(i * 21);
    assert_int_equal(rp_image_write_png_u8(ctx, path, pix, H, W, 1), RP_OK);
    float x[H * W];
    assert_int_equal(rp_image_load(ctx, path, H, W, 1, x), RP_OK); /* the same size: no resampling */
    for (int i = 0; i < H * W; i++) assert_true(fabsf(x[i] * 255.0f - pix[i]) < 1e-3f);
    tu_expect_status(rp_image_write_png_u8(ctx, NULL, pix, H, W, 1), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_image_write_png_u8(ctx, path, NULL, H, W, 1), RP_ERR_ARG, ctx, "pix is NULL");
    tu_expect_status(rp_image_write_png_u8(ctx, path, pix, 0, W, 1), RP_ERR_ARG, ctx, "C must be 1 or 3");
    tu_expect_status(rp_image_write_png_u8(ctx, path, pix, H, W, 2), RP_ERR_ARG, ctx, "C must be 1 or 3");
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no_such_dir/x.png", tu_tmpdir());
    tu_expect_status(rp_image_write_png_u8(ctx, bad, pix, H, W, 1), RP_ERR_IO, ctx, "no_such_dir");
    remove(path);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_labels),
        cmocka_unit_test(test_severities),
        cmocka_unit_test(test_png_u8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
