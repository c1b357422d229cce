/* Pooling: finite-difference gradient checks (max-pool on distinct inputs, so no tie
 * flips under +-eps), values and gradients against naive loops written here, PyTorch's
 * semantics (padding as -inf, first maximum wins ties, NaN propagates, count_include_pad),
 * accumulation into dx, and bad configurations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/pool.h"
#include "testutil.h"

typedef enum { MAX, AVG, GAP } pool_kind;

typedef struct pool_case {
    pool_kind kind;
    int H, W, C, K, stride, pad;
} pool_case;

static const pool_case CASES[] = {
    {MAX, 6, 7, 3, 2, 2, 0}, {MAX, 7, 6, 2, 3, 2, 1}, {MAX, 5, 6, 3, 3, 1, 1},
    {MAX, 7, 5, 2, 3, 3, 0}, {MAX, 8, 7, 2, 5, 2, 2}, {MAX, 4, 5, 3, 1, 1, 0},
    {AVG, 6, 7, 3, 2, 2, 0}, {AVG, 7, 6, 2, 3, 2, 1}, {AVG, 5, 6, 3, 3, 1, 1},
    {AVG, 7, 5, 2, 3, 3, 0}, {AVG, 8, 7, 2, 5, 2, 2}, {GAP, 5, 6, 3, 0, 0, 0},
    {GAP, 1, 1, 4, 0, 0, 0},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])
#define B_GC 2

static int build_pool(rp_graph *g, int in, void *arg)
{
    const pool_case *c = arg;
    switch (c->kind) {
    case MAX: return rp_g_maxpool2d(g, in, "pool", c->K, c->stride, c->pad);
    case AVG: return rp_g_avgpool2d(g, in, "pool", c->K, c->stride, c->pad);
    case GAP: return rp_g_global_avgpool(g, in, "pool");
    }
    return -1;
}

/* n values on a grid 0.01 apart, in a seeded random order: pairwise distinct by 0.01. */
static void fill_distinct(float *x, size_t n, uint64_t seed)
{
    rp_rng r;
    rp_rng_seed(&r, seed, 5);
    for (size_t i = 0; i < n; i++) x[i] = 0.01f * ((float)i - (float)n / 2);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rp_rng_below(&r, (uint32_t)(i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

/* Pooling is piecewise linear: with inputs 0.01 apart and eps 4e-3 no maximum changes,
 * so central differences are exact up to rounding. Tolerance 1e-4 + 1e-3 * |numeric|. */
static void test_gradcheck_case(void **state)
{
    const pool_case *c = *state;
    size_t nx = (size_t)B_GC * c->H * c->W * c->C;
    float *x0 = malloc(nx * sizeof *x0);
    fill_distinct(x0, nx, 7 + (uint64_t)c->H);
    tu_gc_opts o = {.B = B_GC, .eps = 4e-3f, .rtol = 1e-3f, .atol = 1e-4f, .max_checks = 1000,
                    .seed = 3, .x0 = x0};
    tu_gradcheck((rp_shape){c->H, c->W, c->C}, build_pool, (void *)c, &o);
    free(x0);
}

/* Naive references: one output element at a time, in double; ties go to the first
 * maximum in (kh, kw) order, padding is -inf for max and 0 (counted) for avg. */
static void naive_pool(float *y, int32_t *arg, const float *x, const pool2d_shape *s, pool_kind k)
{
    for (int b = 0; b < s->B; b++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                for (int c = 0; c < s->C; c++) {
                    double best = -INFINITY, sum = 0;
                    int besti = -1;
                    for (int kh = 0; kh < s->K; kh++)
                        for (int kw = 0; kw < s->K; kw++) {
                            int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                            if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                            int i = (ih * s->W + iw) * s->C + c;
                            double v = x[(size_t)b * s->H * s->W * s->C + i];
                            sum += v;
                            if (besti < 0 || v > best) { best = v; besti = i; }
                        }
                    size_t o = (((size_t)b * s->OH + oh) * s->OW + ow) * s->C + c;
                    y[o] = k == MAX ? (float)best : (float)(sum / (s->K * s->K));
                    if (arg) arg[o] = besti;
                }
}

static void naive_pool_backward(double *dx, const float *dy, const int32_t *arg,
                                const pool2d_shape *s, pool_kind k)
{
    for (int b = 0; b < s->B; b++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                for (int c = 0; c < s->C; c++) {
                    size_t o = (((size_t)b * s->OH + oh) * s->OW + ow) * s->C + c;
                    double *dxb = dx + (size_t)b * s->H * s->W * s->C;
                    if (k == MAX) { dxb[arg[o]] += dy[o]; continue; }
                    for (int kh = 0; kh < s->K; kh++)
                        for (int kw = 0; kw < s->K; kw++) {
                            int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                            if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                            dxb[(ih * s->W + iw) * s->C + c] += dy[o] / (double)(s->K * s->K);
                        }
                }
}

/* Kernels against the naive loops on inputs with many ties (values rounded to 0.5), with
 * dx starting at 1 so backward must accumulate. Tolerance 1e-6 abs + 1e-6 rel. */
static void test_against_naive(void **state)
{
    (void)state;
    for (int k = 0; k < N_CASES; k++) {
        const pool_case *c = &CASES[k];
        if (c->kind == GAP) continue;
        pool2d_shape s = pool2d_shape_make(3, c->H, c->W, c->C, c->K, c->stride, c->pad);
        size_t nx = (size_t)3 * c->H * c->W * c->C, ny = (size_t)3 * s.OH * s.OW * c->C;
        float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
        float *y = malloc(ny * sizeof *y), *want = malloc(ny * sizeof *want);
        float *dx = malloc(nx * sizeof *dx), *dxw = malloc(nx * sizeof *dxw);
        int32_t *arg = malloc(ny * sizeof *arg), *argw = malloc(ny * sizeof *argw);
        double *dxr = calloc(nx, sizeof *dxr);
        tu_fill_uniform(x, nx, -2, 2, 40 + k);
        for (size_t i = 0; i < nx; i++) x[i] = roundf(x[i] * 2) / 2;
        tu_fill_uniform(dy, ny, -1, 1, 60 + k);
        naive_pool(want, argw, x, &s, c->kind);
        if (c->kind == MAX) {
            maxpool2d_forward(y, arg, x, &s);
            assert_memory_equal(arg, argw, ny * sizeof *arg);
        } else {
            avgpool2d_forward(y, x, &s);
        }
        tu_assert_close("pool forward vs naive", y, want, ny, 1e-6f, 1e-6f);
        for (size_t i = 0; i < nx; i++) { dx[i] = 1.0f; dxr[i] = 1.0; }
        naive_pool_backward(dxr, dy, argw, &s, c->kind);
        if (c->kind == MAX)
            maxpool2d_backward(dx, dy, arg, &s);
        else
            avgpool2d_backward(dx, dy, &s);
        for (size_t i = 0; i < nx; i++) dxw[i] = (float)dxr[i];
        tu_assert_close("pool backward vs naive", dx, dxw, nx, 1e-6f, 1e-6f);
        free(x); free(dy); free(y); free(want); free(dx); free(dxw); free(arg); free(argw);
        free(dxr);
    }
}

/* A graph with one pooling layer on input (H, W, C), batch 1. */
static rp_graph *one_layer(rp_ctx *ctx, rp_shape in, pool_kind k, int K, int stride, int pad)
{
    static rp_graph g;
    rp_graph_init(&g, ctx, in);
    pool_case c = {k, in.H, in.W, in.C, K, stride, pad};
    assert_true(build_pool(&g, RP_INPUT, &c) >= 0);
    assert_int_equal(rp_graph_finalize(&g, 1, 0), RP_OK);
    return &g;
}

/* PyTorch: max_pool2d(pad=1) of an all-negative input is negative (padding is -inf, not
 * 0); ties give the gradient to the first maximum; a NaN in the window wins. */
static void test_max_semantics(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph *g = one_layer(ctx, (rp_shape){2, 3, 1}, MAX, 3, 2, 1);
    float x[6] = {-5, -4, -3, -6, -2, -7};
    const float *y = rp_graph_forward(g, x, 1, false);
    float want[2] = {-2, -2}; /* windows rows -1..1, cols -1..1 and 1..3 */
    tu_assert_close("maxpool padded negatives", y, want, 2, 0, 0);
    rp_graph_free(g);

    g = one_layer(ctx, (rp_shape){2, 4, 1}, MAX, 2, 2, 0);
    float t[8] = {1, 3, 2, 2, 3, 3, 2, 2}, dout[2] = {1, 10}, dx[8];
    y = rp_graph_forward(g, t, 1, true);
    float wy[2] = {3, 2};
    tu_assert_close("maxpool ties", y, wy, 2, 0, 0);
    rp_graph_backward(g, dout, dx, true);
    float wdx[8] = {0, 1, 10, 0, 0, 0, 0, 0}; /* first maximum in (kh, kw) order */
    tu_assert_close("maxpool tie gradient", dx, wdx, 8, 0, 0);

    float n[8] = {1, NAN, 2, 2, 3, 3, 2, 2};
    y = rp_graph_forward(g, n, 1, true);
    assert_true(isnan(y[0]));
    assert_true(y[1] == 2.0f);
    rp_graph_backward(g, dout, dx, true);
    float wdn[8] = {0, 1, 10, 0, 0, 0, 0, 0};
    tu_assert_close("maxpool NaN gradient", dx, wdn, 8, 0, 0);
    rp_graph_free(g);
    rp_ctx_destroy(ctx);
}

/* count_include_pad = True: a 2x2 block of ones, 3x3 windows with pad 1 -> 4/9 each;
 * the global average pool is the plain mean. */
static void test_avg_semantics(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph *g = one_layer(ctx, (rp_shape){2, 2, 1}, AVG, 3, 1, 1);
    float x[4] = {1, 1, 1, 1}, dout[4] = {1, 1, 1, 1}, dx[4];
    const float *y = rp_graph_forward(g, x, 1, false);
    float want[4] = {4.0f / 9, 4.0f / 9, 4.0f / 9, 4.0f / 9};
    tu_assert_close("avgpool count_include_pad", y, want, 4, 1e-7f, 0);
    rp_graph_backward(g, dout, dx, true);
    tu_assert_close("avgpool gradient", dx, want, 4, 1e-7f, 0);
    rp_graph_free(g);

    g = one_layer(ctx, (rp_shape){2, 3, 2}, GAP, 0, 0, 0);
    assert_int_equal(g->nodes[0].out_shape.H, 1);
    assert_int_equal(g->nodes[0].out_shape.W, 1);
    assert_int_equal(g->nodes[0].out_shape.C, 2);
    float z[12] = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60}, gd[2] = {6, 12}, gx[12];
    y = rp_graph_forward(g, z, 1, false);
    float wz[2] = {3.5f, 35.0f};
    tu_assert_close("global avgpool", y, wz, 2, 1e-7f, 0);
    rp_graph_backward(g, gd, gx, true);
    for (int i = 0; i < 12; i++) assert_true(gx[i] == (i % 2 ? 2.0f : 1.0f));
    rp_graph_free(g);
    rp_ctx_destroy(ctx);
}

/* Global average pool backward accumulates into dx. */
static void test_gap_accumulates(void **state)
{
    (void)state;
    float dx[6] = {1, 1, 1, 1, 1, 1}, dy[2] = {3, 6};
    global_avgpool_backward(dx, dy, 1, 3, 2);
    float want[6] = {2, 3, 2, 3, 2, 3};
    tu_assert_close("gap backward accumulates", dx, want, 6, 0, 0);
}

static void expect_error(rp_shape in, pool_kind k, int K, int stride, int pad, rp_status want)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph g;
    rp_graph_init(&g, ctx, in);
    int n = k == MAX ? rp_g_maxpool2d(&g, RP_INPUT, "badpool", K, stride, pad)
                     : rp_g_avgpool2d(&g, RP_INPUT, "badpool", K, stride, pad);
    assert_int_equal(n, -1);
    assert_int_equal(g.status, want);
    assert_non_null(strstr(rp_ctx_error(ctx), "badpool"));
    assert_int_equal(g.n_nodes, 0);
    assert_int_equal(rp_g_global_avgpool(&g, RP_INPUT, "next"), -1);
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
}

static void test_bad_configs(void **state)
{
    (void)state;
    rp_shape in = {4, 5, 2};
    for (pool_kind k = MAX; k <= AVG; k++) {
        expect_error(in, k, 0, 1, 0, RP_ERR_ARG);    /* K = 0 */
        expect_error(in, k, 2, 0, 0, RP_ERR_ARG);    /* stride 0 */
        expect_error(in, k, 3, 1, 2, RP_ERR_ARG);    /* pad > K/2 (PyTorch refuses too) */
        expect_error(in, k, 2, 1, -1, RP_ERR_ARG);   /* negative pad */
        expect_error(in, k, 6, 1, 0, RP_ERR_SHAPE);  /* window larger than the input */
    }
}

int main(void)
{
    static struct CMUnitTest tests[N_CASES + 5];
    static char names[N_CASES][80];
    static const char *kinds[] = {"max", "avg", "global_avg"};
    int n = 0;
    for (int i = 0; i < N_CASES; i++) {
        const pool_case *c = &CASES[i];
        snprintf(names[i], sizeof names[i], "gradcheck_%s_%dx%dx%d_k%d_s%d_p%d", kinds[c->kind],
                 c->H, c->W, c->C, c->K, c->stride, c->pad);
        tests[n++] = (struct CMUnitTest){names[i], test_gradcheck_case, NULL, NULL, (void *)c};
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_against_naive);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_max_semantics);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_avg_semantics);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_gap_accumulates);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_bad_configs);
    assert_true(n == N_CASES + 5);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
