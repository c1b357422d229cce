/* Fitting images against PIL (tests/reference/images.py): bilinear resize of the shorter
 * side, antialiased when shrinking, then torchvision's centre crop; shrinking and growing, RGB and
 * gray, square and skewed aspects. rp_image_fit follows PIL's fixed-point arithmetic, so
 * every value must be equal (tolerance 0). */
#include "testutil.h"

#include <stdlib.h>

#include "data/image.h"
#include "io/safetensors.h"

static const char *const CASES[] = {"shrink_rgb",  "shrink_tall_gray", "tiny_to_mnist", "grow_rgb",
                                    "grow_wide_gray", "photo_to_64", "crop_odd",      "crop_odd_gray"};

static void test_fit_matches_pil(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char path[1024], name[64];
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, tu_ref_path(path, sizeof path, "images.safetensors"), &f), RP_OK);
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        snprintf(name, sizeof name, "%s.x", CASES[c]);
        const rp_st_tensor *x = rp_st_find(f, name);
        snprintf(name, sizeof name, "%s.y", CASES[c]);
        const rp_st_tensor *y = rp_st_find(f, name);
        assert_non_null(x);
        assert_non_null(y);
        assert_true(x->dtype == RP_ST_U8 && y->dtype == RP_ST_U8 && x->ndim == 3 && y->ndim == 3);
        rp_image im = {.H = (int)x->shape[0], .W = (int)x->shape[1], .C = (int)x->shape[2],
                       .pixels = (uint8_t *)x->data};
        int H = (int)y->shape[0], W = (int)y->shape[1];
        uint8_t *out = malloc(y->numel);
        assert_int_equal(rp_image_fit(ctx, &im, out, H, W, im.C), RP_OK);
        for (size_t i = 0; i < y->numel; i++)
            if (out[i] != y->data[i]) fail_msg("%s: element %zu is %d, PIL %d", CASES[c], i, out[i], y->data[i]);
        free(out);
    }
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fit_matches_pil)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
