/* PNG writer and canvas: a composed canvas survives a write/read round trip bit-exactly,
 * images are magnified by blocks, text uses the 3x5 font, and bad paths fail with the path
 * in the message. */
#include <stdlib.h>
#include <string.h>

#include "io/png.h"
#include "testutil.h"

static const uint8_t *px(const uint8_t *rgb, int W, int y, int x) { return rgb + ((size_t)y * W + x) * 3; }

static void test_round_trip(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_canvas cv;
    assert_int_equal(rp_canvas_create(ctx, &cv, 20, 30, 10), RP_OK);
    float gray[4] = {0.0f, 1.0f, 0.5f, 2.0f}; /* 2x2, last value clipped to 1 */
    rp_canvas_image(&cv, 1, 2, gray, 2, 2, 1, 3);
    float rgb[3] = {1.0f, 0.0f, 0.25f};
    rp_canvas_image(&cv, 10, 20, rgb, 1, 1, 3, 2);
    rp_canvas_text(&cv, 12, 1, "1", 1, 255, 255, 0);
    assert_int_equal(rp_text_width("AB1", 2), 22);
    char path[512];
    snprintf(path, sizeof path, "%s/a.png", tu_tmpdir());
    assert_int_equal(rp_canvas_write_png(ctx, &cv, path), RP_OK);
    uint8_t *back = NULL;
    int H = 0, W = 0;
    assert_int_equal(rp_png_read_rgb(ctx, path, &back, &H, &W), RP_OK);
    assert_int_equal(H, 20);
    assert_int_equal(W, 30);
    assert_memory_equal(back, cv.rgb, (size_t)H * W * 3);
    /* the 2x2 gray image magnified 3x at (1, 2) */
    assert_int_equal(px(back, W, 1, 2)[0], 0);
    assert_int_equal(px(back, W, 3, 4)[1], 0);
    assert_int_equal(px(back, W, 1, 5)[2], 255);
    assert_int_equal(px(back, W, 4, 2)[0], 128);
    assert_int_equal(px(back, W, 6, 7)[0], 255);
    assert_int_equal(px(back, W, 0, 0)[0], 10); /* background */
    /* the RGB pixel magnified 2x at (10, 20) */
    assert_int_equal(px(back, W, 11, 21)[0], 255);
    assert_int_equal(px(back, W, 11, 21)[1], 0);
    assert_int_equal(px(back, W, 11, 21)[2], 64);
    /* glyph '1' (010 / 110 / 010 / 010 / 111) at (12, 1) */
    static const char *one[5] = {".#.", "##.", ".#.", ".#.", "###"};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) {
            const uint8_t *p = px(back, W, 12 + i, 1 + j);
            bool on = one[i][j] == '#';
            assert_int_equal(p[0], on ? 255 : 10);
            assert_int_equal(p[2], on ? 0 : 10);
        }
    free(back);
    rp_canvas_free(&cv);
    rp_ctx_destroy(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    uint8_t pix[12] = {0};
    assert_int_equal(rp_png_write(ctx, "/nonexistent-dir/x.png", pix, 2, 2, 3), RP_ERR_IO);
    assert_non_null(strstr(rp_ctx_error(ctx), "/nonexistent-dir/x.png"));
    assert_int_equal(rp_png_write(ctx, "x.png", pix, 2, 2, 2), RP_ERR_ARG);
    char path[512];
    snprintf(path, sizeof path, "%s/notpng.png", tu_tmpdir());
    tu_write_file(path, "garbage", 7);
    uint8_t *back = NULL;
    int H, W;
    assert_int_not_equal(rp_png_read_rgb(ctx, path, &back, &H, &W), RP_OK);
    assert_null(back);
    assert_non_null(strstr(rp_ctx_error(ctx), path));
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
