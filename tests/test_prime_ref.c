/* PRIME's primitives against the authors' operations (tests/reference/prime_ref.py: their
 * RandomFilter, scalar_field + remap, random_smooth_color with the random draws replaced by
 * stored normals, computed in float64). The filter uses the code's delta at ceil(K/2); the
 * fields go through the folded modes here and the direct sum there (cut up to 60 on 32 px).
 * Tolerances: 1e-5 on images (float32 here), fields within 1e-5 of their largest value. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "core/status.h"
#include "data/prime.h"
#include "io/safetensors.h"

static const rp_st_tensor *need(const rp_st_file *f, const char *name, const char *suffix)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", name, suffix);
    const rp_st_tensor *t = rp_st_find(f, key);
    if (!t || t->dtype != RP_ST_F32) fail_msg("reference tensor %s missing or not F32", key);
    return t;
}

#define F32(t) ((const float *)(t)->data)

static rp_st_file *open_ref(rp_ctx *ctx)
{
    char path[1024];
    rp_st_file *f = NULL;
    assert_int_equal(rp_st_open(ctx, tu_ref_path(path, sizeof path, "prime.safetensors"), &f), RP_OK);
    return f;
}

static void test_filter_matches_code(void **state)
{
    (void)state;
    static const char *const CASES[] = {"filter_k3_gray", "filter_k3_rgb", "filter_k5_rgb"};
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = open_ref(ctx);
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
        const rp_st_tensor *x = need(f, CASES[c], "x"), *g = need(f, CASES[c], "g"), *y = need(f, CASES[c], "y");
        int H = (int)x->shape[0], W = (int)x->shape[1], C = (int)x->shape[2], K = (int)g->shape[0];
        float kernel[RP_PRIME_MAX_KERNEL * RP_PRIME_MAX_KERNEL], *out = malloc(x->numel * sizeof *out);
        rp_prime_spectral_kernel(F32(g), F32(need(f, CASES[c], "sigma"))[0], K, true, kernel);
        rp_prime_spectral_apply(F32(x), out, H, W, C, kernel, K);
        tu_assert_close(CASES[c], out, F32(y), y->numel, 0.0f, 1e-5f);
        free(out);
    }
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

static void test_diffeo_matches_code(void **state)
{
    (void)state;
    static const char *const CASES[] = {"diffeo_c8_gray", "diffeo_c60_rgb", "diffeo_c30_64"};
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = open_ref(ctx);
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
        const rp_st_tensor *x = need(f, CASES[c], "x"), *gu = need(f, CASES[c], "gu"), *y = need(f, CASES[c], "y");
        const rp_st_tensor *rdx = need(f, CASES[c], "dx"), *rdy = need(f, CASES[c], "dy");
        int H = (int)x->shape[0], W = (int)x->shape[1], C = (int)x->shape[2], cut = (int)gu->shape[0];
        float T = F32(need(f, CASES[c], "T"))[0];
        size_t HW = (size_t)H * W;
        float *dx = malloc(HW * sizeof *dx), *dy = malloc(HW * sizeof *dy), *out = malloc(x->numel * sizeof *out);
        float *scr = malloc(rp_prime_scratch_floats(H, W, 1) * sizeof *scr);
        rp_prime_spatial_field(F32(gu), cut, sqrtf(T) * (float)W, H, W, dx, scr);
        rp_prime_spatial_field(F32(need(f, CASES[c], "gv")), cut, sqrtf(T) * (float)H, H, W, dy, scr);
        float big = 0;
        for (size_t i = 0; i < HW; i++) big = fmaxf(big, fmaxf(fabsf(F32(rdx)[i]), fabsf(F32(rdy)[i])));
        tu_assert_close("dx", dx, F32(rdx), HW, 0.0f, 1e-5f * big);
        tu_assert_close("dy", dy, F32(rdy), HW, 0.0f, 1e-5f * big);
        rp_prime_spatial_apply(F32(x), out, H, W, C, dx, dy);
        tu_assert_close(CASES[c], out, F32(y), y->numel, 0.0f, 1e-5f);
        free(dx), free(dy), free(out), free(scr);
    }
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

static void test_colour_matches_code(void **state)
{
    (void)state;
    static const char *const CASES[] = {"colour_c100_rgb", "colour_c5_gray", "colour_c40_64"};
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = open_ref(ctx);
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
        const rp_st_tensor *x = need(f, CASES[c], "x"), *co = need(f, CASES[c], "coeff"), *y = need(f, CASES[c], "y");
        int H = (int)x->shape[0], W = (int)x->shape[1], C = (int)x->shape[2], K = (int)co->shape[1];
        float sT = sqrtf(F32(need(f, CASES[c], "T"))[0]);
        float *coeff = malloc(co->numel * sizeof *coeff), *out = malloc(x->numel * sizeof *out);
        for (size_t i = 0; i < co->numel; i++) coeff[i] = sT * F32(co)[i];
        rp_prime_colour_apply(F32(x), out, H, W, C, coeff, K);
        tu_assert_close(CASES[c], out, F32(y), y->numel, 0.0f, 1e-5f);
        free(coeff), free(out);
    }
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_matches_code),
        cmocka_unit_test(test_diffeo_matches_code),
        cmocka_unit_test(test_colour_matches_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
