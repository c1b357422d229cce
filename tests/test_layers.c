/* Linear, BatchNorm2d, dropout, flatten, normalize and add: finite-difference gradient
 * checks of input and parameter gradients, plus values against closed forms. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------- */

static rp_param *param(rp_graph *g, const char *name)
{
    int i = rp_graph_find_param(g, name);
    if (i < 0) fail_msg("no parameter %s", name);
    return &g->params[i];
}

/* ---- linear --------------------------------------------------------------------------- */

static int build_linear(rp_graph *g, int in, void *arg)
{
    return rp_g_linear(g, in, "fc", 5, *(bool *)arg);
}

/* Linear is linear in x, W and b: central differences are exact up to float rounding
 * of the outputs (|y| ~ 1, 2*eps = 2e-2), hence atol 1e-3. */
static void test_linear_gradcheck(void **state)
{
    (void)state;
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        bool bias = with_bias;
        tu_gc_opts o = {.B = 3, .eps = 1e-2f, .rtol = 1e-3f, .atol = 1e-3f, .max_checks = 200,
                        .lo = -2, .hi = 2, .seed = 10 + with_bias};
        tu_gradcheck((rp_shape){2, 3, 2}, build_linear, &bias, &o);
    }
}

static void test_linear_values_and_params(void **state)
{
    (void)state;
    tu_graph o;
    tu_graph_init(&o, (rp_shape){1, 1, 3});
    int fc = rp_g_linear(&o.g, RP_INPUT, "fc", 2, true);
    assert_true(fc >= 0);
    assert_int_equal(rp_graph_finalize(&o.g, 2, 7), RP_OK);
    rp_param *w = param(&o.g, "fc.weight"), *b = param(&o.g, "fc.bias");
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(b->ndim, 1);
    assert_int_equal(b->shape[0], 2);
    /* PyTorch's default init: U(+-1/sqrt(IN)) for weight and bias */
    float bound = 1.0f / sqrtf(3.0f);
    for (size_t i = 0; i < 6; i++) assert_true(fabsf(w->data[i]) <= bound);
    for (size_t i = 0; i < 2; i++) assert_true(fabsf(b->data[i]) <= bound);
    assert_true(w->data[0] != w->data[1]);

    float W[6] = {1, 2, 3, -1, 0.5f, 0}, Bv[2] = {0.25f, -2};
    memcpy(w->data, W, sizeof W);
    memcpy(b->data, Bv, sizeof Bv);
    float x[6] = {1, 0, -1, 2, 4, 8};
    const float *y = rp_graph_forward(&o.g, x, 2, false);
    float want[4] = {1 - 3 + 0.25f, -1 - 2, 2 + 8 + 24 + 0.25f, -2 + 2 - 2};
    tu_assert_close("linear y", y, want, 4, 0, 1e-6f);

    /* frozen weight: only the bias gets a gradient; param_grads=false: none at all */
    float dy[4] = {1, 1, 1, 1}, dx[6];
    w->frozen = true;
    rp_graph_zero_grad(&o.g);
    rp_graph_backward(&o.g, dy, dx, true);
    for (int i = 0; i < 6; i++) assert_true(w->grad[i] == 0.0f);
    assert_true(b->grad[0] == 2.0f && b->grad[1] == 2.0f);
    float want_dx[6] = {0, 2.5f, 3, 0, 2.5f, 3}; /* column sums of W */
    tu_assert_close("linear dx", dx, want_dx, 6, 0, 1e-6f);
    w->frozen = false;
    rp_graph_zero_grad(&o.g);
    rp_graph_backward(&o.g, dy, dx, false);
    for (int i = 0; i < 6; i++) assert_true(w->grad[i] == 0.0f);
    assert_true(b->grad[0] == 0.0f && b->grad[1] == 0.0f);
    tu_graph_free(&o);
}

/* ---- batchnorm ------------------------------------------------------------------------- */

static int build_bn(rp_graph *g, int in, void *arg)
{
    (void)arg;
    return rp_g_batchnorm2d(g, in, "bn", 1e-5f, 0.1f);
}

/* gamma, beta away from 1 and 0, running statistics away from 0 and 1 */
static void set_bn_params(rp_graph *g, void *arg)
{
    (void)arg;
    rp_param *w = param(g, "bn.weight"), *b = param(g, "bn.bias");
    rp_param *rm = param(g, "bn.running_mean"), *rv = param(g, "bn.running_var");
    for (size_t c = 0; c < w->numel; c++) {
        w->data[c] = 0.5f + 0.3f * (float)c;
        b->data[c] = -0.4f + 0.25f * (float)c;
        rm->data[c] = 0.2f - 0.1f * (float)c;
        rv->data[c] = 0.6f + 0.5f * (float)c;
    }
}

/* Batch statistics make the training-mode map non-linear; float outputs of size ~1 over
 * 120 values, differenced over 2*eps = 2e-3, give noise ~1e-3: atol 3e-3, rtol 1e-2. */
static void test_batchnorm_gradcheck_train(void **state)
{
    (void)state;
    tu_gc_opts o = {.B = 2, .train = true, .eps = 1e-3f, .rtol = 1e-2f, .atol = 3e-3f,
                    .max_checks = 200, .lo = -2, .hi = 3, .seed = 20,
                    .after_finalize = set_bn_params};
    tu_gradcheck((rp_shape){3, 4, 5}, build_bn, NULL, &o);
}

/* Evaluation mode is affine in x: same tolerances. */
static void test_batchnorm_gradcheck_eval(void **state)
{
    (void)state;
    tu_gc_opts o = {.B = 2, .train = false, .eps = 1e-3f, .rtol = 1e-2f, .atol = 3e-3f,
                    .max_checks = 200, .lo = -2, .hi = 3, .seed = 21,
                    .after_finalize = set_bn_params};
    tu_gradcheck((rp_shape){3, 4, 5}, build_bn, NULL, &o);
}

/* Output and running statistics after one training forward, against closed forms in
 * double: mean, biased variance for normalising, unbiased for running_var, momentum 0.1. */
static void test_batchnorm_running_stats(void **state)
{
    (void)state;
    enum { B = 2, H = 2, W = 3, C = 3, N = B * H * W };
    tu_graph o;
    tu_graph_init(&o, (rp_shape){H, W, C});
    assert_true(rp_g_batchnorm2d(&o.g, RP_INPUT, "bn", 1e-5f, 0.1f) >= 0);
    assert_int_equal(rp_graph_finalize(&o.g, B, 3), RP_OK);
    set_bn_params(&o.g, NULL);
    rp_param *w = param(&o.g, "bn.weight"), *b = param(&o.g, "bn.bias");
    rp_param *rm = param(&o.g, "bn.running_mean"), *rv = param(&o.g, "bn.running_var");
    rp_param *nbt = param(&o.g, "bn.num_batches_tracked");
    assert_true(nbt->is_int64 && !nbt->trainable && nbt->ndim == 0 && nbt->grad == NULL);
    assert_true(!rm->trainable && !rv->trainable && rm->grad == NULL);
    float rm0[C], rv0[C];
    memcpy(rm0, rm->data, sizeof rm0);
    memcpy(rv0, rv->data, sizeof rv0);

    float x[N * C];
    tu_fill_uniform(x, N * C, -1, 4, 33);
    const float *y = rp_graph_forward(&o.g, x, B, true);
    float want_y[N * C], want_rm[C], want_rv[C];
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int n = 0; n < N; n++) m += x[n * C + c];
        m /= N;
        for (int n = 0; n < N; n++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
        double biased = v / N, unbiased = v / (N - 1);
        for (int n = 0; n < N; n++)
            want_y[n * C + c] = (float)((x[n * C + c] - m) / sqrt(biased + 1e-5) * w->data[c] + b->data[c]);
        want_rm[c] = (float)(0.9 * rm0[c] + 0.1 * m);
        want_rv[c] = (float)(0.9 * rv0[c] + 0.1 * unbiased);
    }
    tu_assert_close("bn train y", y, want_y, N * C, 1e-5f, 1e-5f);
    tu_assert_close("bn running_mean", rm->data, want_rm, C, 1e-6f, 1e-6f);
    tu_assert_close("bn running_var", rv->data, want_rv, C, 1e-6f, 1e-6f);
    assert_true(nbt->data[0] == 1.0f);

    /* evaluation uses the running statistics and leaves them alone */
    y = rp_graph_forward(&o.g, x, B, false);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            want_y[n * C + c] = (float)((x[n * C + c] - (double)want_rm[c]) /
                                        sqrt((double)want_rv[c] + 1e-5) * w->data[c] + b->data[c]);
    tu_assert_close("bn eval y", y, want_y, N * C, 1e-5f, 1e-5f);
    tu_assert_close("bn running_mean after eval", rm->data, want_rm, C, 0, 0);
    assert_true(nbt->data[0] == 1.0f);
    rp_graph_forward(&o.g, x, B, true);
    assert_true(nbt->data[0] == 2.0f);
    tu_graph_free(&o);
}

/* Large enough to take the parallel paths: forward, backward and running statistics must
 * be bitwise the same with 1 and 2 threads. */
static void test_batchnorm_thread_independent(void **state)
{
    (void)state;
    enum { B = 4, H = 16, W = 16, C = 40 };
    size_t n = (size_t)B * H * W * C;
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
    float *y[2], *dx[2], *stats[2];
    tu_fill_uniform(x, n, -3, 5, 40);
    tu_fill_uniform(dy, n, -1, 1, 41);
    int saved_threads = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        tu_graph o;
        tu_graph_init(&o, (rp_shape){H, W, C});
        assert_true(rp_g_batchnorm2d(&o.g, RP_INPUT, "bn", 1e-5f, 0.1f) >= 0);
        assert_int_equal(rp_graph_finalize(&o.g, B, 3), RP_OK);
        set_bn_params(&o.g, NULL);
        y[t] = malloc(n * sizeof(float));
        dx[t] = malloc(n * sizeof(float));
        stats[t] = malloc(4 * C * sizeof(float));
        memcpy(y[t], rp_graph_forward(&o.g, x, B, true), n * sizeof(float));
        rp_graph_zero_grad(&o.g);
        rp_graph_backward(&o.g, dy, dx[t], true);
        memcpy(stats[t], param(&o.g, "bn.running_mean")->data, C * sizeof(float));
        memcpy(stats[t] + C, param(&o.g, "bn.running_var")->data, C * sizeof(float));
        memcpy(stats[t] + 2 * C, param(&o.g, "bn.weight")->grad, C * sizeof(float));
        memcpy(stats[t] + 3 * C, param(&o.g, "bn.bias")->grad, C * sizeof(float));
        tu_graph_free(&o);
    }
    omp_set_num_threads(saved_threads);
    assert_memory_equal(y[0], y[1], n * sizeof(float));
    assert_memory_equal(dx[0], dx[1], n * sizeof(float));
    assert_memory_equal(stats[0], stats[1], 4 * C * sizeof(float));
    for (int t = 0; t < 2; t++) {
        free(y[t]);
        free(dx[t]);
        free(stats[t]);
    }
    free(x);
    free(dy);
}

static void test_batchnorm_bad_args(void **state)
{
    (void)state;
    tu_graph o;
    tu_graph_init(&o, (rp_shape){2, 2, 3});
    assert_int_equal(rp_g_batchnorm2d(&o.g, RP_INPUT, "bn", 0.0f, 0.1f), -1);
    assert_int_equal(o.g.status, RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(o.ctx), "bn"));
    tu_graph_free(&o);
}

/* ---- dropout --------------------------------------------------------------------------- */

enum { DB = 2, DH = 10, DW = 10, DC = 50, DN = DB * DH * DW * DC };

static void make_dropout(tu_graph *o, float p, uint64_t seed)
{
    tu_graph_init(o, (rp_shape){DH, DW, DC});
    assert_true(rp_g_dropout(&o->g, RP_INPUT, "drop", p) >= 0);
    assert_int_equal(rp_graph_finalize(&o->g, DB, seed), RP_OK);
}

static void test_dropout(void **state)
{
    (void)state;
    const float p = 0.3f;
    float *x = malloc(DN * sizeof *x), *y1 = malloc(DN * sizeof *y1);
    float *dy = malloc(DN * sizeof *dy), *dx = malloc(DN * sizeof *dx);
    float kinks[] = {0.0f};
    tu_fill_away_from(x, DN, -2, 2, kinks, 1, 0.05f, 50);
    tu_fill_uniform(dy, DN, -1, 1, 51);
    tu_graph o, o2, o3;
    make_dropout(&o, p, 5);
    make_dropout(&o2, p, 5);
    make_dropout(&o3, p, 6);

    /* evaluation: identity, forward and backward */
    const float *y = rp_graph_forward(&o.g, x, DB, false);
    assert_memory_equal(y, x, DN * sizeof(float));
    rp_graph_backward(&o.g, dy, dx, true);
    assert_memory_equal(dx, dy, DN * sizeof(float));

    /* training: ~1-p kept (std of the fraction 0.0046; 0.025 is > 5 sigma), scaled 1/(1-p) */
    y = rp_graph_forward(&o.g, x, DB, true);
    memcpy(y1, y, DN * sizeof(float));
    size_t kept = 0;
    for (size_t i = 0; i < DN; i++) {
        if (y1[i] == 0.0f) continue;
        kept++;
        float want = x[i] / (1.0f - p);
        if (fabsf(y1[i] - want) > 1e-6f * fabsf(want)) fail_msg("dropout y[%zu] %g, want %g", i, (double)y1[i], (double)want);
    }
    assert_true(fabs((double)kept / DN - (1.0 - p)) < 0.025);

    /* backward with that mask: dx = dy * mask / (1 - p) */
    rp_graph_backward(&o.g, dy, dx, true);
    for (size_t i = 0; i < DN; i++) {
        float want = y1[i] == 0.0f ? 0.0f : dy[i] / (1.0f - p);
        if (fabsf(dx[i] - want) > 1e-6f * fabsf(want)) fail_msg("dropout dx[%zu] %g, want %g", i, (double)dx[i], (double)want);
    }

    /* same seed, same mask; another seed or the next draw of the stream, another mask */
    assert_memory_equal(rp_graph_forward(&o2.g, x, DB, true), y1, DN * sizeof(float));
    assert_memory_not_equal(rp_graph_forward(&o3.g, x, DB, true), y1, DN * sizeof(float));
    assert_memory_not_equal(rp_graph_forward(&o.g, x, DB, true), y1, DN * sizeof(float));

    tu_graph_free(&o);
    tu_graph_free(&o2);
    tu_graph_free(&o3);
    free(x);
    free(y1);
    free(dy);
    free(dx);
}

static void test_dropout_bad_p(void **state)
{
    (void)state;
    tu_graph o;
    tu_graph_init(&o, (rp_shape){1, 1, 4});
    assert_int_equal(rp_g_dropout(&o.g, RP_INPUT, "drop", 1.0f), -1);
    assert_int_equal(o.g.status, RP_ERR_ARG);
    tu_graph_free(&o);
}

/* ---- flatten --------------------------------------------------------------------------- */

static double v_of(int b, int c, int h, int w) { return 1000.0 * b + 100.0 * c + 10.0 * h + w; }

static void test_flatten_order(void **state)
{
    (void)state;
    enum { B = 2, H = 2, W = 3, C = 4 };
    tu_graph o;
    tu_graph_init(&o, (rp_shape){H, W, C});
    int f = rp_g_flatten(&o.g, RP_INPUT, "flat");
    assert_true(f >= 0);
    rp_shape s = o.g.nodes[f].out_shape;
    assert_true(s.H == 1 && s.W == 1 && s.C == H * W * C);
    assert_int_equal(rp_graph_finalize(&o.g, B, 1), RP_OK);
    float x[B * H * W * C], want[B * H * W * C];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++) x[((b * H + h) * W + w) * C + c] = (float)v_of(b, c, h, w);
    /* torch.flatten(x_nchw, 1): the NCHW tensor read in memory order */
    int k = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) want[k++] = (float)v_of(b, c, h, w);
    const float *y = rp_graph_forward(&o.g, x, B, false);
    tu_assert_close("flatten", y, want, B * H * W * C, 0, 0);
    /* backward is the inverse permutation: feeding the output back gives the input */
    float dx[B * H * W * C];
    rp_graph_backward(&o.g, want, dx, false);
    tu_assert_close("flatten backward", dx, x, B * H * W * C, 0, 0);
    tu_graph_free(&o);
}

static int build_flatten_linear(rp_graph *g, int in, void *arg)
{
    (void)arg;
    return rp_g_linear(g, rp_g_flatten(g, in, "flat"), "fc", 4, true);
}

static void test_flatten_gradcheck(void **state)
{
    (void)state;
    tu_gc_opts o = {.B = 2, .eps = 1e-2f, .rtol = 1e-3f, .atol = 1e-3f, .max_checks = 200,
                    .lo = -2, .hi = 2, .seed = 60};
    tu_gradcheck((rp_shape){3, 2, 4}, build_flatten_linear, NULL, &o);
}

/* ---- normalize ------------------------------------------------------------------------- */

static const float NMEAN[3] = {0.485f, 0.456f, 0.406f}, NSTD[3] = {0.229f, 0.224f, 0.225f};

static int build_normalize(rp_graph *g, int in, void *arg)
{
    (void)arg;
    return rp_g_normalize(g, in, "norm", NMEAN, NSTD);
}

static void test_normalize(void **state)
{
    (void)state;
    /* affine: outputs ~ 5, 2*eps = 2e-2 -> atol 1e-3 */
    tu_gc_opts o = {.B = 2, .eps = 1e-2f, .rtol = 1e-3f, .atol = 1e-3f, .max_checks = 200,
                    .lo = 0, .hi = 1, .seed = 70};
    tu_gradcheck((rp_shape){2, 3, 3}, build_normalize, NULL, &o);

    tu_graph g;
    tu_graph_init(&g, (rp_shape){1, 2, 3});
    assert_true(build_normalize(&g.g, RP_INPUT, NULL) >= 0);
    assert_int_equal(rp_graph_finalize(&g.g, 1, 0), RP_OK);
    assert_int_equal(g.g.n_params, 0);
    float x[6] = {0, 0.5f, 1, 1, 0.25f, 0}, want[6];
    for (int i = 0; i < 6; i++) want[i] = (x[i] - NMEAN[i % 3]) / NSTD[i % 3];
    tu_assert_close("normalize", rp_graph_forward(&g.g, x, 1, false), want, 6, 1e-6f, 0);
    float dy[6] = {1, 1, 1, 2, 2, 2}, dx[6], want_dx[6];
    for (int i = 0; i < 6; i++) want_dx[i] = dy[i] / NSTD[i % 3];
    rp_graph_backward(&g.g, dy, dx, false);
    tu_assert_close("normalize dx", dx, want_dx, 6, 1e-6f, 0);
    tu_graph_free(&g);

    /* 21 rows: one block of 16 rows through the vector loop, 5 after it; every element exact */
    tu_graph_init(&g, (rp_shape){1, 7, 3});
    assert_true(build_normalize(&g.g, RP_INPUT, NULL) >= 0);
    assert_int_equal(rp_graph_finalize(&g.g, 3, 0), RP_OK);
    float xs[63], ws[63], gs[63], dxs[63], wdx[63];
    tu_fill_uniform(xs, 63, 0, 1, 71);
    tu_fill_uniform(gs, 63, -1, 1, 72);
    for (int i = 0; i < 63; i++) ws[i] = (xs[i] - NMEAN[i % 3]) / NSTD[i % 3], wdx[i] = 0.0f + gs[i] / NSTD[i % 3];
    assert_memory_equal(rp_graph_forward(&g.g, xs, 3, false), ws, sizeof ws);
    rp_graph_backward(&g.g, gs, dxs, false);
    assert_memory_equal(dxs, wdx, sizeof wdx);
    tu_graph_free(&g);

    float bad[3] = {0.2f, 0.0f, 0.3f};
    tu_graph_init(&g, (rp_shape){1, 2, 5}); /* more channels than the layer takes */
    float m5[5] = {0}, s5[5] = {1, 1, 1, 1, 1};
    assert_int_equal(rp_g_normalize(&g.g, RP_INPUT, "norm", m5, s5), -1);
    assert_int_equal(g.g.status, RP_ERR_ARG);
    tu_graph_free(&g);
    tu_graph_init(&g, (rp_shape){1, 2, 3});
    assert_int_equal(rp_g_normalize(&g.g, RP_INPUT, "norm", NMEAN, bad), -1);
    assert_int_equal(g.g.status, RP_ERR_ARG);
    tu_graph_free(&g);
}

/* ---- add ------------------------------------------------------------------------------- */

static int build_add(rp_graph *g, int in, void *arg)
{
    (void)arg;
    int a = rp_g_normalize(g, in, "norm", NMEAN, NSTD);
    int b = rp_g_batchnorm2d(g, in, "bn", 1e-5f, 0.1f);
    int s = rp_g_add(g, a, b, "sum");
    return rp_g_add(g, s, s, "twice"); /* both inputs the same node */
}

static void test_add(void **state)
{
    (void)state;
    tu_gc_opts o = {.B = 2, .eps = 1e-3f, .rtol = 1e-2f, .atol = 3e-3f, .max_checks = 200,
                    .lo = 0, .hi = 1, .seed = 80, .after_finalize = set_bn_params};
    tu_gradcheck((rp_shape){2, 2, 3}, build_add, NULL, &o);

    tu_graph g;
    tu_graph_init(&g, (rp_shape){2, 2, 3});
    int f = rp_g_flatten(&g.g, RP_INPUT, "flat");
    assert_int_equal(rp_g_add(&g.g, RP_INPUT, f, "sum"), -1);
    assert_int_equal(g.g.status, RP_ERR_SHAPE);
    assert_non_null(strstr(rp_ctx_error(g.ctx), "sum"));
    tu_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_gradcheck),
        cmocka_unit_test(test_linear_values_and_params),
        cmocka_unit_test(test_batchnorm_gradcheck_train),
        cmocka_unit_test(test_batchnorm_gradcheck_eval),
        cmocka_unit_test(test_batchnorm_running_stats),
        cmocka_unit_test(test_batchnorm_thread_independent),
        cmocka_unit_test(test_batchnorm_bad_args),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_dropout_bad_p),
        cmocka_unit_test(test_flatten_order),
        cmocka_unit_test(test_flatten_gradcheck),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
