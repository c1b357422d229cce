/* AugMix's operations against PIL 9 (tests/reference/augmix_pil.py): every op at five fixed
 * (level, sign) pairs on a 28x28 gray and two 32x32 RGB images.
 *   autocontrast, equalize, posterize, solarize: uint8 LUTs, equal to PIL's (tolerance 0
 *     on round(out * 255)).
 *   rotate, shear_x/y, translate_x/y: PIL computes the bilinear sample in double and
 *     truncates it to uint8, we keep the float, so 0 <= 255 out - PIL < 1 everywhere:
 *     checked as -0.01 <= 255 out - PIL <= 1.001 (one-sided: PIL only truncates) and mean
 *     |255 out - PIL| <= 0.6 (0.5 expected from truncation; translations by whole pixels
 *     are exact).
 *   color, contrast, brightness, sharpness: PIL truncates its blend and rounds its smoothed
 *     image (sharpness), we keep floats: |255 out - PIL| <= 1.5, mean <= 0.6 (measured: max
 *     1.33, mean 0.56). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "data/augmix.h"
#include "io/safetensors.h"

static const char *const IMAGES[] = {"gray28", "rgb32", "low32"};
static const struct { float level; int sign; } LEVELS[] = {{0.5f, 1}, {2.75f, -1}, {3.0f, 1}, {7.5f, -1}, {10.0f, 1}};

typedef struct tol { float lo, hi, mean_abs; } tol; /* lo <= 255 out - PIL <= hi */

static tol op_tolerance(rp_augmix_opkind op)
{
    switch (op) {
    case RP_AUGMIX_AUTOCONTRAST:
    case RP_AUGMIX_EQUALIZE:
    case RP_AUGMIX_POSTERIZE:
    case RP_AUGMIX_SOLARIZE: return (tol){0.0f, 0.0f, 0.0f};
    case RP_AUGMIX_ROTATE:
    case RP_AUGMIX_SHEAR_X:
    case RP_AUGMIX_SHEAR_Y:
    case RP_AUGMIX_TRANSLATE_X:
    case RP_AUGMIX_TRANSLATE_Y: return (tol){-0.01f, 1.001f, 0.6f};
    default: return (tol){-1.5f, 1.5f, 0.6f};
    }
}

static void test_ops_match_pil(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char path[1024], name[96];
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, tu_ref_path(path, sizeof path, "augmix.safetensors"), &f), RP_OK);
    for (size_t im = 0; im < sizeof IMAGES / sizeof IMAGES[0]; im++) {
        snprintf(name, sizeof name, "%s.x", IMAGES[im]);
        const rp_st_tensor *x = rp_st_find(f, name);
        assert_non_null(x);
        assert_true(x->dtype == RP_ST_U8 && x->ndim == 3);
        int H = (int)x->shape[0], W = (int)x->shape[1], C = (int)x->shape[2];
        size_t n = (size_t)H * W * C;
        float *img = malloc(n * sizeof(float)), *scratch = malloc(rp_augmix_op_scratch_floats(H, W, C) * sizeof(float));
        for (int op = 0; op < RP_AUGMIX_OP_COUNT; op++) {
            tol t = op_tolerance((rp_augmix_opkind)op);
            double worst = 0.0, worst_mean = 0.0;
            for (size_t k = 0; k < sizeof LEVELS / sizeof LEVELS[0]; k++) {
                snprintf(name, sizeof name, "%s.%s.%zu", IMAGES[im], rp_augmix_op_name((rp_augmix_opkind)op), k);
                const rp_st_tensor *y = rp_st_find(f, name);
                assert_non_null(y);
                assert_true(y->dtype == RP_ST_U8 && y->numel == n);
                for (size_t i = 0; i < n; i++) img[i] = x->data[i] / 255.0f;
                rp_augmix_op((rp_augmix_opkind)op, LEVELS[k].level, LEVELS[k].sign, img, H, W, C, scratch);
                double sum = 0.0;
                for (size_t i = 0; i < n; i++) {
                    assert_true(img[i] >= 0.0f && img[i] <= 1.0f);
                    double d = t.hi == 0.0f ? (double)(int)(img[i] * 255.0f + 0.5f) - y->data[i]
                                            : img[i] * 255.0 - y->data[i];
                    if (d < t.lo || d > t.hi)
                        fail_msg("%s: element %zu (row %zu, col %zu, ch %zu) is %.3f/255, PIL %d (allowed %.3f..%.3f)",
                                 name, i, i / ((size_t)W * C), i / C % W, i % C, img[i] * 255.0, y->data[i], t.lo,
                                 t.hi);
                    sum += fabs(d);
                    if (fabs(d) > worst) worst = fabs(d);
                }
                if (sum / n > t.mean_abs) fail_msg("%s: mean |diff| %.3f/255 over %.3f", name, sum / n, t.mean_abs);
                if (sum / n > worst_mean) worst_mean = sum / n;
            }
            print_message("%-7s %-13s max |255 out - PIL| %.3f  mean %.3f\n", IMAGES[im],
                          rp_augmix_op_name((rp_augmix_opkind)op), worst, worst_mean);
        }
        free(img);
        free(scratch);
    }
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ops_match_pil)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
