/* The public figures (include/rampart.h): a picture filled, drawn on (an image magnified, text,
 * a rectangle clipped at the edge) and written is a PNG of the right size whose pixels read
 * back; text sizes follow the 3x5 font; NULL figures, images, text and paths, bad shapes and
 * scales are RP_ERR_ARG (with a message in the figure's context), never an abort. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static void test_figure_draws(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    enum { H = 12, W = 16 };
    rp_figure *f = NULL;
    assert_int_equal(rp_figure_create(ctx, H, W, 24, &f), RP_OK);
    const float img[2 * 2] = {0.0f, 1.0f, 0.5f, 2.0f}; /* gray, 2 x 2, the last clipped to 1 */
    assert_int_equal(rp_figure_image(f, 0, 0, img, 2, 2, 1, 3), RP_OK);                  /* rows 0..5, cols 0..5 */
    assert_int_equal(rp_figure_fill(f, 10, 14, 100, 100, 255, 0, 0), RP_OK);          /* clipped: 2 x 2 red */
    assert_int_equal(rp_figure_fill(f, -5, -5, 1, 1, 0, 255, 0), RP_OK);              /* wholly outside */
    assert_int_equal(rp_figure_text(f, 7, 0, "A1", 1, 255, 255, 255), RP_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/api_figure.png", tu_tmpdir());
    assert_int_equal(rp_figure_write_png(f, path), RP_OK);
    float x[H * W * 3];
    assert_int_equal(rp_image_load(ctx, path, H, W, 3, x), RP_OK); /* the same size: read as written */
#define PX(y, x_, ch) (x[((size_t)(y) * W + (x_)) * 3 + (ch)] * 255.0f)
    assert_true(fabsf(PX(0, 0, 0) - 0) < 0.5f && fabsf(PX(2, 4, 1) - 255) < 0.5f);  /* img[0], img[1] */
    assert_true(fabsf(PX(4, 1, 2) - 128) < 0.5f && fabsf(PX(5, 5, 0) - 255) < 0.5f); /* 0.5 -> 128, clipped 2 */
    assert_true(fabsf(PX(11, 15, 0) - 255) < 0.5f && fabsf(PX(11, 15, 1)) < 0.5f);   /* the clipped fill */
    assert_true(fabsf(PX(6, 8, 0) - 24) < 0.5f);                                      /* background */
    assert_true(fabsf(PX(7, 1, 0) - 255) < 0.5f);                                     /* A's top row: .X. */
#undef PX
    assert_int_equal(rp_text_width("A1", 1), 7);
    assert_int_equal(rp_text_width("A1", 2), 14);
    assert_int_equal(rp_text_width("", 2), 0);
    assert_int_equal(rp_text_width(NULL, 2), 0);
    assert_int_equal(rp_text_height(3), 15);

    tu_expect_status(rp_figure_image(f, 0, 0, NULL, 2, 2, 1, 1), RP_ERR_ARG, ctx, "img is NULL");
    tu_expect_status(rp_figure_image(f, 0, 0, img, 2, 2, 2, 1), RP_ERR_ARG, ctx, "c must be 1 or 3");
    tu_expect_status(rp_figure_image(f, 0, 0, img, 0, 2, 1, 1), RP_ERR_ARG, ctx, "image 0x2x1");
    tu_expect_status(rp_figure_image(f, 0, 0, img, 2, 2, 1, 0), RP_ERR_ARG, ctx, "scale 0");
    tu_expect_status(rp_figure_text(f, 0, 0, NULL, 1, 0, 0, 0), RP_ERR_ARG, ctx, "text is NULL");
    tu_expect_status(rp_figure_text(f, 0, 0, "X", 0, 0, 0, 0), RP_ERR_ARG, ctx, "scale < 1");
    tu_expect_status(rp_figure_write_png(f, NULL), RP_ERR_ARG, ctx, "path is NULL");
    assert_int_equal(rp_figure_fill(NULL, 0, 0, 1, 1, 0, 0, 0), RP_ERR_ARG);
    assert_int_equal(rp_figure_image(NULL, 0, 0, img, 2, 2, 1, 1), RP_ERR_ARG);
    assert_int_equal(rp_figure_text(NULL, 0, 0, "X", 1, 0, 0, 0), RP_ERR_ARG);
    assert_int_equal(rp_figure_write_png(NULL, path), RP_ERR_ARG);
    rp_figure_destroy(f);
    rp_figure_destroy(NULL);

    rp_figure *g = NULL;
    tu_expect_status(rp_figure_create(ctx, 0, 4, 0, &g), RP_ERR_ARG, ctx, "size 0x4");
    assert_null(g);
    tu_expect_status(rp_figure_create(ctx, 4, 40000, 0, &g), RP_ERR_ARG, ctx, "1..32768");
    tu_expect_status(rp_figure_create(ctx, 4, 4, 0, NULL), RP_ERR_ARG, ctx, "out is NULL");
    remove(path);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_figure_draws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
