/* AugMix's mixing (data/augmix.h) and the distributions under it (core/rng_dist.h): Gamma,
 * Beta and Dirichlet moments; weights on the simplex; the view equals the documented formula
 * replayed op by op from the same stream; output in [0, 1]; determinism; the family map;
 * the spec parser; and hand cases of single ops. (Ops against PIL: test_augmix_ref.c.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng_dist.h"
#include "data/augmix.h"
#include "testutil.h"

static void test_gamma_beta_dirichlet_moments(void **state)
{
    (void)state;
    rp_rng r;
    rp_rng_seed(&r, 5, 1);
    const double alphas[] = {0.3, 1.0, 2.5, 7.0};
    const int N = 40000;
    for (size_t a = 0; a < sizeof alphas / sizeof alphas[0]; a++) {
        double s = 0, s2 = 0, al = alphas[a];
        for (int i = 0; i < N; i++) {
            double g = rp_rng_gamma(&r, al);
            assert_true(g >= 0.0 && isfinite(g));
            s += g;
            s2 += g * g;
        }
        double mean = s / N, var = s2 / N - mean * mean;
        /* Gamma(al, 1): mean al, variance al; the mean's standard error is sqrt(al / N) */
        if (fabs(mean - al) > 5 * sqrt(al / N) || fabs(var - al) > 0.1 * al)
            fail_msg("gamma(%g): mean %g, variance %g", al, mean, var);
    }
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        double b = rp_rng_beta(&r, 1.0, 1.0);
        assert_true(b >= 0.0 && b <= 1.0);
        s += b;
        s2 += b * b;
    }
    assert_true(fabs(s / N - 0.5) < 0.01);
    assert_true(fabs(s2 / N - 0.25 - 1.0 / 12.0) < 0.005 + fabs(s / N - 0.5)); /* Uniform: var 1/12 */
    double w[5], first = 0;
    for (int i = 0; i < N; i++) {
        rp_rng_dirichlet(&r, 1.0, 5, w);
        double t = 0;
        for (int k = 0; k < 5; k++) {
            assert_true(w[k] >= 0.0 && w[k] <= 1.0);
            t += w[k];
        }
        assert_true(fabs(t - 1.0) < 1e-12);
        first += w[0];
    }
    assert_true(fabs(first / N - 0.2) < 0.01); /* symmetric: each mean 1/5 */
}

static void test_mixing_weights(void **state)
{
    (void)state;
    rp_augmix_config cfg;
    rp_augmix_config_default(&cfg);
    rp_rng r;
    rp_rng_seed(&r, 9, 2);
    float w[RP_AUGMIX_MAX_WIDTH], m, msum = 0;
    for (int width = 1; width <= RP_AUGMIX_MAX_WIDTH; width += 5) {
        cfg.width = width;
        for (int t = 0; t < 2000; t++) {
            rp_augmix_mixing_weights(&cfg, &r, w, &m);
            float sum = 0;
            for (int i = 0; i < width; i++) {
                assert_true(w[i] >= 0.0f && w[i] <= 1.0f);
                sum += w[i];
            }
            assert_true(fabsf(sum - 1.0f) < 1e-5f);
            assert_true(m >= 0.0f && m <= 1.0f);
            msum += m;
        }
    }
    assert_true(fabsf(msum / 8000.0f - 0.5f) < 0.02f);
}

/* A test image (H, W, C): smooth pattern, values k / 255 as from a dataset. */
static float *test_image(int H, int W, int C)
{
    float *x = malloc((size_t)H * W * C * sizeof(float));
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            for (int c = 0; c < C; c++) {
                double v = 0.5 + 0.45 * sin(0.37 * j + 0.23 * i + c) * cos(0.11 * i * j / (double)W);
                x[((size_t)i * W + j) * C + c] = (float)(int)(v * 255.0 + 0.5) / 255.0f;
            }
    return x;
}

static void test_view_is_the_documented_mix(void **state)
{
    (void)state;
    const int H = 28, W = 28;
    for (int C = 1; C <= 3; C += 2)
        for (int all = 0; all <= 1; all++) {
            rp_augmix_config cfg;
            assert_int_equal(rp_augmix_parse(NULL, all ? "ops=all,width=4" : "", &cfg), RP_OK);
            size_t n = (size_t)H * W * C;
            float *x = test_image(H, W, C), *out = malloc(n * sizeof(float)), *ref = calloc(n, sizeof(float));
            float *chain = malloc(n * sizeof(float));
            float *scratch = malloc(rp_augmix_scratch_floats(H, W, C) * sizeof(float));
            for (uint64_t seed = 0; seed < 20; seed++) {
                rp_rng r, q;
                rp_rng_seed(&r, seed, 3);
                q = r;
                rp_augmix_image(&cfg, x, out, H, W, C, &r, scratch);
                /* replay: weights, then per chain depth, then per op (op, level, sign) */
                float w[RP_AUGMIX_MAX_WIDTH], m;
                rp_augmix_mixing_weights(&cfg, &q, w, &m);
                memset(ref, 0, n * sizeof(float));
                for (int i = 0; i < cfg.width; i++) {
                    memcpy(chain, x, n * sizeof(float));
                    int depth = 1 + (int)rp_rng_below(&q, 3);
                    for (int d = 0; d < depth; d++) {
                        rp_augmix_opkind op = (rp_augmix_opkind)rp_rng_below(&q, all ? RP_AUGMIX_OP_COUNT : RP_AUGMIX_PAPER_OPS);
                        float level = 0.1f + (cfg.severity - 0.1f) * rp_rng_uniform(&q);
                        int sign = rp_augmix_op_signed(op) && (rp_rng_u32(&q) & 1u) ? -1 : 1;
                        rp_augmix_op(op, level, sign, chain, H, W, C, scratch);
                    }
                    for (size_t e = 0; e < n; e++) ref[e] += w[i] * chain[e];
                }
                for (size_t e = 0; e < n; e++) {
                    ref[e] = (1.0f - m) * x[e] + m * ref[e];
                    assert_true(out[e] >= 0.0f && out[e] <= 1.0f);
                }
                tu_assert_close("augmix view", out, ref, n, 0.0f, 1e-6f);
                assert_memory_equal(&r, &q, sizeof r); /* both consumed the same draws */
            }
            free(x), free(out), free(ref), free(chain), free(scratch);
        }
}

static void test_deterministic_and_varied(void **state)
{
    (void)state;
    const int H = 32, W = 32, C = 3;
    size_t n = (size_t)H * W * C;
    rp_augmix_config cfg;
    rp_augmix_config_default(&cfg);
    float *x = test_image(H, W, C), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *scratch = malloc(rp_augmix_scratch_floats(H, W, C) * sizeof(float));
    rp_rng r1, r2;
    rp_rng_seed(&r1, 77, 3);
    r2 = r1;
    rp_augmix_image(&cfg, x, a, H, W, C, &r1, scratch);
    rp_augmix_image(&cfg, x, b, H, W, C, &r2, scratch);
    assert_memory_equal(a, b, n * sizeof(float));
    rp_augmix_image(&cfg, x, b, H, W, C, &r2, scratch); /* the next draw: another view */
    double diff = 0, from_x = 0;
    for (size_t e = 0; e < n; e++) diff += fabsf(a[e] - b[e]), from_x += fabsf(a[e] - x[e]);
    assert_true(diff / n > 1e-3 && from_x / n > 1e-3);
    free(x), free(a), free(b), free(scratch);
}

static void test_family_map(void **state)
{
    (void)state;
    const unsigned G = 1u << RP_FAMILY_GEOMETRIC, D = 1u << RP_FAMILY_DIGITAL;
    static const rp_corruption_family expect[RP_AUGMIX_OP_COUNT] = {
        [RP_AUGMIX_AUTOCONTRAST] = RP_FAMILY_DIGITAL, [RP_AUGMIX_EQUALIZE] = RP_FAMILY_DIGITAL,
        [RP_AUGMIX_POSTERIZE] = RP_FAMILY_DIGITAL,    [RP_AUGMIX_ROTATE] = RP_FAMILY_GEOMETRIC,
        [RP_AUGMIX_SOLARIZE] = RP_FAMILY_DIGITAL,     [RP_AUGMIX_SHEAR_X] = RP_FAMILY_GEOMETRIC,
        [RP_AUGMIX_SHEAR_Y] = RP_FAMILY_GEOMETRIC,    [RP_AUGMIX_TRANSLATE_X] = RP_FAMILY_GEOMETRIC,
        [RP_AUGMIX_TRANSLATE_Y] = RP_FAMILY_GEOMETRIC, [RP_AUGMIX_COLOR] = RP_FAMILY_DIGITAL,
        [RP_AUGMIX_CONTRAST] = RP_FAMILY_DIGITAL,     [RP_AUGMIX_BRIGHTNESS] = RP_FAMILY_WEATHER,
        [RP_AUGMIX_SHARPNESS] = RP_FAMILY_BLUR,
    };
    for (int k = 0; k < RP_AUGMIX_OP_COUNT; k++) {
        assert_int_equal(rp_augmix_op_family((rp_augmix_opkind)k), expect[k]);
        rp_augmix_opkind back;
        assert_true(rp_augmix_op_parse(rp_augmix_op_name((rp_augmix_opkind)k), &back));
        assert_int_equal(back, k);
        bool sign = k == RP_AUGMIX_ROTATE || (k >= RP_AUGMIX_SHEAR_X && k <= RP_AUGMIX_TRANSLATE_Y);
        assert_int_equal(rp_augmix_op_signed((rp_augmix_opkind)k), sign);
    }
    rp_augmix_config cfg;
    rp_augmix_config_default(&cfg);
    assert_int_equal(rp_augmix_families(&cfg), G | D);
    assert_int_equal(rp_augmix_families_all(), G | D);
    cfg.all_ops = true;
    assert_int_equal(rp_augmix_families(&cfg), G | D | 1u << RP_FAMILY_WEATHER | 1u << RP_FAMILY_BLUR);
}

static void test_parse(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_augmix_config cfg;
    assert_int_equal(rp_augmix_parse(ctx, "", &cfg), RP_OK);
    assert_true(cfg.severity == 3 && cfg.width == 3 && cfg.depth == -1 && cfg.alpha == 1.0f && !cfg.all_ops);
    assert_int_equal(rp_augmix_parse(ctx, "severity=5,width=2,depth=2,alpha=0.5,ops=all", &cfg), RP_OK);
    assert_true(cfg.severity == 5 && cfg.width == 2 && cfg.depth == 2 && cfg.alpha == 0.5f && cfg.all_ops);
    static const struct { const char *spec, *needle; } bad[] = {
        {"severity=11", "bad value '11' for severity"}, {"depth=0", "bad value '0' for depth"},
        {"width=17", "bad value '17' for width"},       {"alpha=-1", "bad value '-1' for alpha"},
        {"ops=some", "bad value 'some' for ops"},       {"sev=3", "unknown key 'sev'"},
        {"width", "'width' is not key=value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rp_augmix_parse(ctx, bad[i].spec, &cfg), RP_ERR_ARG);
        if (!strstr(rp_ctx_error(ctx), bad[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].spec, rp_ctx_error(ctx), bad[i].needle);
    }
    rp_ctx_destroy(ctx);
}

static void test_single_ops_by_hand(void **state)
{
    (void)state;
    const int H = 6, W = 30, C = 1;
    float img[6 * 30], x[6 * 30], scratch[6 * 30];
    for (int i = 0; i < H * W; i++) x[i] = (float)((i * 37) % 256) / 255.0f;
    /* posterize at level < 2.5 keeps 4 bits */
    memcpy(img, x, sizeof img);
    rp_augmix_op(RP_AUGMIX_POSTERIZE, 2.0f, 1, img, H, W, C, scratch);
    for (int i = 0; i < H * W; i++) assert_float_equal(img[i], (float)(((i * 37) % 256) & 0xF0) / 255.0f, 1e-7);
    /* solarize at level 10: threshold 0, everything inverted */
    memcpy(img, x, sizeof img);
    rp_augmix_op(RP_AUGMIX_SOLARIZE, 10.0f, 1, img, H, W, C, scratch);
    for (int i = 0; i < H * W; i++) assert_float_equal(img[i], 1.0f - x[i], 1e-6);
    /* translate_x at level 3: int(3 * (30 / 3) / 10) = 3 px; +3 samples x + 3 (content left) */
    memcpy(img, x, sizeof img);
    rp_augmix_op(RP_AUGMIX_TRANSLATE_X, 3.0f, 1, img, H, W, C, scratch);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) assert_float_equal(img[i * W + j], j + 3 < W ? x[i * W + j + 3] : 0.0f, 1e-6);
    /* rotate below level 1/3 is 0 degrees: unchanged */
    memcpy(img, x, sizeof img);
    rp_augmix_op(RP_AUGMIX_ROTATE, 0.3f, -1, img, H, W, C, scratch);
    assert_memory_equal(img, x, sizeof img);
    /* autocontrast stretches [lo, hi] to [0, 1] */
    for (int i = 0; i < H * W; i++) img[i] = (float)(100 + i % 51) / 255.0f;
    rp_augmix_op(RP_AUGMIX_AUTOCONTRAST, 0.0f, 1, img, H, W, C, scratch);
    float lo = 1, hi = 0;
    for (int i = 0; i < H * W; i++) lo = fminf(lo, img[i]), hi = fmaxf(hi, img[i]);
    assert_true(lo == 0.0f && hi == 1.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gamma_beta_dirichlet_moments), cmocka_unit_test(test_mixing_weights),
        cmocka_unit_test(test_view_is_the_documented_mix),   cmocka_unit_test(test_deterministic_and_varied),
        cmocka_unit_test(test_family_map),                   cmocka_unit_test(test_parse),
        cmocka_unit_test(test_single_ops_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
