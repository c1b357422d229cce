/* What rampart explain needs from the public API (include/rampart.h): colour maps by name,
 * display scales (a percentile of |map|, never min-max), colourized maps and overlays, the
 * viewing magnification and the explainer's configuration; NULL arguments, bad percentiles,
 * scales, shapes, channel counts and colour maps are RP_ERR_ARG with a message. */
#include <math.h>
#include <string.h>

#include "testutil.h"

static void test_colormaps_and_scales(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    assert_string_equal(rp_colormap_name(RP_CMAP_VIRIDIS), "viridis");
    assert_string_equal(rp_colormap_name(RP_CMAP_DIVERGING), "diverging");
    assert_string_equal(rp_colormap_name((rp_colormap)9), "unknown");
    assert_int_equal(rp_colormap_from_name("jet"), RP_CMAP_JET);
    assert_int_equal(rp_colormap_from_name("rainbow"), -1);
    assert_int_equal(rp_colormap_from_name(NULL), -1);

    const float map[4] = {0.0f, -2.0f, 1.0f, 4.0f};
    float s = -1.0f;
    assert_int_equal(rp_xai_map_scale(ctx, map, 4, 100.0f, &s), RP_OK);
    assert_true(s == 4.0f);
    assert_int_equal(rp_xai_map_scale(ctx, map, 4, 50.0f, &s), RP_OK); /* nearest rank: 2nd of 0,1,2,4 */
    assert_true(s == 1.0f);
    assert_int_equal(rp_xai_map_scale(ctx, NULL, 0, 99.0f, &s), RP_OK);
    assert_true(s == 0.0f);
    tu_expect_status(rp_xai_map_scale(ctx, map, 4, 0.0f, &s), RP_ERR_ARG, ctx, "percentile 0 outside (0, 100]");
    tu_expect_status(rp_xai_map_scale(ctx, map, 4, 101.0f, &s), RP_ERR_ARG, ctx, "outside (0, 100]");
    tu_expect_status(rp_xai_map_scale(ctx, NULL, 4, 99.0f, &s), RP_ERR_ARG, ctx, "map is NULL");
    tu_expect_status(rp_xai_map_scale(ctx, map, 4, 99.0f, NULL), RP_ERR_ARG, ctx, "scale is NULL");

    float rgb[4 * 3], img[4] = {1, 1, 1, 1};
    assert_int_equal(rp_xai_map_colorize(ctx, map, 2, 2, 4.0f, true, RP_CMAP_DIVERGING, rgb), RP_OK);
    assert_true(fabsf(rgb[0] - 1.0f) < 1e-3f && fabsf(rgb[1] - 1.0f) < 1e-3f && fabsf(rgb[2] - 1.0f) < 1e-3f); /* 0: white */
    assert_true(rgb[9] > rgb[11]); /* the largest positive value: red */
    assert_int_equal(rp_xai_map_overlay(ctx, img, 1, map, 2, 2, 0.0f, false, RP_CMAP_VIRIDIS, 0.0f, rgb), RP_OK);
    for (int k = 0; k < 12; k++) assert_true(fabsf(rgb[k] - 1.0f) < 1e-6f); /* alpha 0: the image */
    tu_expect_status(rp_xai_map_colorize(ctx, NULL, 2, 2, 1.0f, false, RP_CMAP_JET, rgb), RP_ERR_ARG, ctx, "map is NULL");
    tu_expect_status(rp_xai_map_colorize(ctx, map, 2, 2, 1.0f, false, RP_CMAP_JET, NULL), RP_ERR_ARG, ctx, "rgb is NULL");
    tu_expect_status(rp_xai_map_colorize(ctx, map, 0, 2, 1.0f, false, RP_CMAP_JET, rgb), RP_ERR_ARG, ctx, "map 0x2");
    tu_expect_status(rp_xai_map_colorize(ctx, map, 2, 2, -1.0f, false, RP_CMAP_JET, rgb), RP_ERR_ARG, ctx, "scale -1");
    tu_expect_status(rp_xai_map_colorize(ctx, map, 2, 2, NAN, false, RP_CMAP_JET, rgb), RP_ERR_ARG, ctx, "scale nan");
    tu_expect_status(rp_xai_map_colorize(ctx, map, 2, 2, 1.0f, false, (rp_colormap)7, rgb), RP_ERR_ARG, ctx, "unknown colour map 7");
    tu_expect_status(rp_xai_map_overlay(ctx, NULL, 1, map, 2, 2, 1.0f, false, RP_CMAP_JET, 0.5f, rgb), RP_ERR_ARG, ctx, "img is NULL");
    tu_expect_status(rp_xai_map_overlay(ctx, img, 2, map, 2, 2, 1.0f, false, RP_CMAP_JET, 0.5f, rgb), RP_ERR_ARG, ctx, "C = 2");

    assert_int_equal(rp_view_scale(28, 20, 112), 4);
    assert_int_equal(rp_view_scale(200, 20, 112), 1);
    assert_int_equal(rp_view_scale(0, 0, 112), 1);
    rp_ctx_destroy(ctx);
}

static void test_explainer_config(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config cfg = {.arch = "smallcnn", .num_classes = 3, .H = 8, .W = 8, .C = 1, .max_batch = 2, .seed = 1};
    cfg.mean[0] = 0.5f, cfg.std[0] = 0.25f;
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    rp_explain_config ec = rp_explain_defaults();
    ec.chunk = 5, ec.ig_steps = 7;
    rp_explainer *ex = NULL;
    assert_int_equal(rp_explainer_create(ctx, m, &ec, &ex), RP_OK);
    const rp_explain_config *got = rp_explainer_get_config(ex);
    assert_non_null(got);
    assert_int_equal(got->chunk, 5);
    assert_int_equal(got->ig_steps, 7);
    assert_null(rp_explainer_get_config(NULL));
    rp_explainer_destroy(ex);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_colormaps_and_scales),
        cmocka_unit_test(test_explainer_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
