/* The public platform facts, plan switches and profiling (include/rampart.h): unknown option bits and a NULL
 * model are RP_ERR_ARG with a message; every plan computes the same logits to rounding (ResNet-18:
 * the conv + batch-norm fold in training, no dropout to draw); on MobileNetV2 (chains in
 * evaluation)
 * the profile rows count the FLOPs of the layers that ran once per call (a chain row the same
 * as its layers run one by one), count calls, accumulate nothing outside start..stop, and start
 * zeroes them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { B = 2, H = 32, K = 7 };

static rp_model *make(rp_ctx *ctx, const char *arch)
{
    rp_model_config cfg = {.arch = arch, .num_classes = K, .H = H, .W = H, .C = 3, .max_batch = B, .seed = 3,
                           .width = !strcmp(arch, "mobilenet_v2") ? 0.5f : 0.0f};
    for (int c = 0; c < 3; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    rp_model *m = NULL;
    if (rp_model_create(ctx, &cfg, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    return m;
}

static void test_plan_options(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = make(ctx, "resnet18");
    assert_int_equal(rp_model_plan_options(m), 0u);
    assert_int_equal(rp_model_set_plan_options(ctx, m, 16u), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "unknown bits 0x10"));
    assert_int_equal(rp_model_set_plan_options(ctx, NULL, 0u), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "no model"));
    assert_int_equal(rp_model_plan_options(m), 0u); /* a refused call changes nothing */

    float x[B * H * H * 3], ref[B * K];
    tu_fill_uniform(x, sizeof x / sizeof x[0], 0.0f, 1.0f, 4);
    static const unsigned OPTS[] = {0u, RP_PLAN_NO_FUSION, RP_PLAN_NO_CHAIN, RP_PLAN_NO_TRAIN_FOLD,
                                    RP_PLAN_NO_DW_BN, RP_PLAN_NO_CHAIN | RP_PLAN_NO_TRAIN_FOLD | RP_PLAN_NO_DW_BN};
    for (int train = 0; train < 2; train++)
        for (size_t o = 0; o < sizeof OPTS / sizeof OPTS[0]; o++) {
            assert_int_equal(rp_model_set_plan_options(ctx, m, OPTS[o]), RP_OK);
            assert_int_equal(rp_model_plan_options(m), OPTS[o]);
            const float *y = rp_model_forward(m, x, B, train);
            if (o == 0) memcpy(ref, y, sizeof ref);
            for (int i = 0; i < B * K; i++) /* fused plans agree to rounding */
                if (fabsf(y[i] - ref[i]) > 1e-4f * (1.0f + fabsf(ref[i])))
                    fail_msg("train %d options 0x%x: logit %d %g vs %g", train, OPTS[o], i, (double)y[i], (double)ref[i]);
        }
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* Sums over the rows; whether a chain row is among them. */
static void totals(const rp_profile_row *r, int n, double *fwd_flop, double *bwd_flop, bool *chain, int *max_calls)
{
    *fwd_flop = *bwd_flop = 0.0, *chain = false, *max_calls = 0;
    for (int k = 0; k < n; k++) {
        *fwd_flop += r[k].fwd_flop, *bwd_flop += r[k].bwd_flop;
        *chain |= !strncmp(r[k].kind, "chain(", 6);
        if (r[k].fwd_calls > *max_calls) *max_calls = r[k].fwd_calls;
        assert_true(r[k].fwd_ms >= 0.0 && r[k].bwd_ms >= 0.0 && r[k].name[0] && r[k].kind[0]);
    }
}

static void test_profile_rows(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = make(ctx, "mobilenet_v2");
    int max = 2 * rp_model_num_layers(m);
    rp_profile_row *rows = malloc((size_t)max * sizeof *rows);
    float x[B * H * H * 3], dl[B * K];
    tu_fill_uniform(x, sizeof x / sizeof x[0], 0.0f, 1.0f, 5);
    tu_fill_uniform(dl, sizeof dl / sizeof dl[0], -1.0f, 1.0f, 6);
    double flops = rp_model_flops(m) * B, f, bw;
    bool chain;
    int calls;

    /* evaluation with chains: two forwards at batches B and 1, some layers through a chain row;
     * each call counted at its own batch; the same FLOPs as the layers one by one; nothing
     * counted after stop */
    double f_plain = 0.0;
    for (int plain = 1; plain >= 0; plain--) {
        assert_int_equal(rp_model_set_plan_options(ctx, m, plain ? RP_PLAN_NO_FUSION : 0u), RP_OK);
        rp_model_profile_start(m);
        rp_model_forward(m, x, B, false);
        rp_model_forward(m, x, 1, false);
        rp_model_profile_stop(m);
        rp_model_forward(m, x, B, false);
        int n = rp_model_profile_rows(m, rows, max);
        assert_true(n > 0 && n <= max);
        totals(rows, n, &f, &bw, &chain, &calls);
        assert_true(chain == !plain);
        assert_int_equal(calls, 2);
        double want = flops * (B + 1) / B; /* identity layers (flatten) may not run */
        assert_true(f <= want * (1 + 1e-12) && f > 0.995 * want);
        assert_float_equal(bw, 0.0, 0.0);
        if (plain) f_plain = f;
        else assert_float_equal(f, f_plain, 1e-9 * f);
    }

    /* training, every layer its own step: one forward and one backward; start zeroed the counters */
    assert_int_equal(rp_model_set_plan_options(ctx, m, RP_PLAN_NO_FUSION), RP_OK);
    rp_model_profile_start(m);
    rp_model_forward(m, x, B, true);
    rp_model_backward(m, dl, NULL, RP_GRAD_PARAMS);
    rp_model_profile_stop(m);
    int n = rp_model_profile_rows(m, rows, max);
    assert_true(n >= rp_model_num_layers(m) - 1); /* every layer ran on its own (flatten may be a view) */
    totals(rows, n, &f, &bw, &chain, &calls);
    assert_false(chain);
    assert_int_equal(calls, 1);
    assert_true(f <= flops * (1 + 1e-12) && f > 0.999 * flops);
    assert_true(bw > flops); /* convs and linears count two backward products, the rest one */
    assert_int_equal(rp_model_profile_rows(m, rows, 3), 3); /* max_rows bounds the rows */
    free(rows);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* The platform facts bench lines carry: the SIMD level is one of the three names, the FMA peak
 * positive wherever a vector level runs, for 1 and 2 threads (a measured rate: no comparison
 * between the two, which would be a timing assertion that a loaded machine breaks). */
static void test_platform(void **state)
{
    (void)state;
    const char *simd = rp_simd_info();
    assert_true(!strcmp(simd, "portable") || !strcmp(simd, "avx2") || !strcmp(simd, "avx512"));
    if (strcmp(simd, "portable") != 0) {
        double one = rp_fma_peak(1), two = rp_fma_peak(2);
        assert_true(one > 0.0 && two > 0.0);
    } else {
        assert_float_equal(rp_fma_peak(1), 0.0, 0.0);
    }
    /* the BF16 rate exists exactly where BF16 products do */
    if (rp_precision_supported(RP_PRECISION_BF16))
        assert_true(rp_bf16_peak(1) > 0.0 && rp_bf16_peak(2) > 0.0);
    else
        assert_float_equal(rp_bf16_peak(1), 0.0, 0.0);
    assert_non_null(strstr(rp_blas_info(), "core "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform),
        cmocka_unit_test(test_plan_options),
        cmocka_unit_test(test_profile_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
