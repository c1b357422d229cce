/* Conv2d: finite-difference gradient checks over K, stride, pad, groups (incl. depthwise
 * with multiplier 1 and 2), bias; values and gradients against a naive 7-loop convolution
 * written here; the depthwise kernel against the im2col path; batch chunking; thread-count
 * independence; frozen parameters and param_grads=false; bad configurations. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/conv2d.h"
#include "testutil.h"

typedef struct conv_case {
    int H, W, C, OC, K, stride, pad, groups;
    bool bias;
} conv_case;

static const conv_case CASES[] = {
    /* H  W  C  OC K  s  p  g  bias */
    {5, 6, 4, 3, 1, 1, 0, 1, true},   /* pointwise: no im2col */
    {5, 4, 4, 6, 1, 1, 0, 2, true},   /* pointwise, grouped */
    {5, 6, 4, 3, 1, 2, 0, 1, false},  /* 1x1 stride 2: im2col path */
    {6, 5, 3, 4, 3, 1, 1, 1, true},
    {7, 6, 3, 5, 3, 2, 1, 1, false},
    {6, 7, 4, 6, 3, 1, 0, 2, true},   /* groups 2 */
    {4, 5, 2, 3, 3, 1, 2, 1, true},   /* pad 2 with K 3 */
    {7, 8, 2, 2, 3, 3, 0, 1, true},   /* stride 3, W not a multiple */
    {6, 5, 2, 3, 5, 1, 2, 1, true},
    {7, 8, 3, 2, 5, 2, 2, 1, false},
    {8, 6, 6, 4, 5, 2, 1, 2, true},   /* K 5, groups 2, stride 2 */
    {5, 6, 4, 4, 3, 1, 1, 4, true},   /* depthwise */
    {6, 5, 3, 6, 3, 2, 1, 3, false},  /* depthwise, multiplier 2 */
    {7, 6, 2, 4, 5, 2, 2, 2, true},   /* depthwise K 5, multiplier 2 */
    {5, 5, 1, 3, 3, 1, 1, 1, true},   /* one input channel */
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static int build_conv(rp_graph *g, int in, void *arg)
{
    const conv_case *c = arg;
    return rp_g_conv2d(g, in, "conv", c->OC, c->K, c->stride, c->pad, c->groups, c->bias);
}

/* Conv is linear in x and in the weights, so central differences are exact up to
 * rounding: eps 1e-2 keeps that small; tolerance |diff| <= 1e-4 + 1e-3 * |numeric|. */
static void test_gradcheck_case(void **state)
{
    const conv_case *c = *state;
    tu_gc_opts o = {.B = 2, .eps = 1e-2f, .rtol = 1e-3f, .atol = 1e-4f, .max_checks = 1000,
                    .lo = -1, .hi = 1, .seed = 11};
    tu_gradcheck((rp_shape){c->H, c->W, c->C}, build_conv, (void *)c, &o);
}

/* The reference: the definition, seven loops, in double. w is OHWI. */
static void naive_forward(double *y, const float *x, const float *w, const float *b,
                          const conv2d_shape *s)
{
    int ICg = s->C / s->groups, OCg = s->OC / s->groups, K = s->K;
    for (int n = 0; n < s->B; n++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                for (int oc = 0; oc < s->OC; oc++) {
                    double acc = b ? b[oc] : 0.0;
                    int g = oc / OCg;
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++)
                            for (int ic = 0; ic < ICg; ic++) {
                                int ih = oh * s->stride - s->pad + kh;
                                int iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)x[((n * s->H + ih) * s->W + iw) * s->C + g * ICg + ic] *
                                       w[((oc * K + kh) * K + kw) * ICg + ic];
                            }
                    y[((n * s->OH + oh) * s->OW + ow) * s->OC + oc] = acc;
                }
}

/* Its transpose: the same loops, scattering dy into dx, dw, db (which start at zero). */
static void naive_backward(double *dx, double *dw, double *db, const float *dy, const float *x,
                           const float *w, const conv2d_shape *s)
{
    int ICg = s->C / s->groups, OCg = s->OC / s->groups, K = s->K;
    for (int n = 0; n < s->B; n++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                for (int oc = 0; oc < s->OC; oc++) {
                    double g = dy[((n * s->OH + oh) * s->OW + ow) * s->OC + oc];
                    db[oc] += g;
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++)
                            for (int ic = 0; ic < ICg; ic++) {
                                int ih = oh * s->stride - s->pad + kh;
                                int iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                size_t xi = ((size_t)(n * s->H + ih) * s->W + iw) * s->C +
                                            (size_t)(oc / OCg) * ICg + ic;
                                size_t wi = ((size_t)(oc * K + kh) * K + kw) * ICg + ic;
                                dx[xi] += g * w[wi];
                                dw[wi] += g * x[xi];
                            }
                }
}

typedef struct conv_bufs {
    conv2d_shape s;
    size_t nx, nw, ny;
    float *x, *w, *b, *dy, *scratch;
} conv_bufs;

static conv_bufs bufs_make(const conv_case *c, int B, uint64_t seed)
{
    conv_bufs t;
    t.s = conv2d_shape_make(B, c->H, c->W, c->C, c->OC, c->K, c->stride, c->pad, c->groups);
    t.nx = (size_t)B * c->H * c->W * c->C;
    t.nw = (size_t)c->OC * c->K * c->K * (c->C / c->groups);
    t.ny = (size_t)B * t.s.OH * t.s.OW * c->OC;
    t.x = malloc(t.nx * sizeof(float));
    t.w = malloc(t.nw * sizeof(float));
    t.b = malloc((size_t)c->OC * sizeof(float));
    t.dy = malloc(t.ny * sizeof(float));
    size_t ns = conv2d_gemm_scratch_floats(&t.s);
    size_t nd = c->groups == c->C ? dwconv2d_scratch_floats(&t.s) : 0;
    size_t nf = conv2d_scratch_floats(&t.s); /* the path conv2d_forward/backward take */
    if (nd > ns) ns = nd;
    t.scratch = malloc((nf > ns ? nf : ns) * sizeof(float) + 4);
    tu_fill_uniform(t.x, t.nx, -1, 1, seed);
    tu_fill_uniform(t.w, t.nw, -1, 1, seed + 1);
    tu_fill_uniform(t.b, (size_t)c->OC, -1, 1, seed + 2);
    tu_fill_uniform(t.dy, t.ny, -1, 1, seed + 3);
    return t;
}

static void bufs_free(conv_bufs *t)
{
    free(t->x);
    free(t->w);
    free(t->b);
    free(t->dy);
    free(t->scratch);
}

static void to_float(float *dst, const double *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

/* Forward and backward of conv2d_forward/backward against the naive loops, for every case;
 * backward starts from non-zero buffers, so it must accumulate. Tolerance 1e-5 abs + 1e-5 rel
 * (float sums of at most a few hundred terms of size <= 1 against double sums). */
static void test_against_naive(void **state)
{
    (void)state;
    const float tol = 1e-5f;
    for (int k = 0; k < N_CASES; k++) {
        const conv_case *c = &CASES[k];
        conv_bufs t = bufs_make(c, 3, 100 + k);
        double *yr = calloc(t.ny, sizeof *yr), *dxr = calloc(t.nx, sizeof *dxr);
        double *dwr = calloc(t.nw, sizeof *dwr), *dbr = calloc((size_t)c->OC, sizeof *dbr);
        float *y = malloc(t.ny * sizeof *y), *want = malloc(t.ny * sizeof *want);
        naive_forward(yr, t.x, t.w, c->bias ? t.b : NULL, &t.s);
        conv2d_forward(y, t.x, t.w, c->bias ? t.b : NULL, &t.s, t.scratch, NULL);
        to_float(want, yr, t.ny);
        tu_assert_close("conv forward vs naive", y, want, t.ny, tol, tol);

        naive_backward(dxr, dwr, dbr, t.dy, t.x, t.w, &t.s);
        float *dx = malloc(t.nx * sizeof *dx), *dw = malloc(t.nw * sizeof *dw);
        float *db = malloc((size_t)c->OC * sizeof *db);
        for (size_t i = 0; i < t.nx; i++) { dx[i] = 0.5f; dxr[i] += 0.5; }
        for (size_t i = 0; i < t.nw; i++) { dw[i] = -0.25f; dwr[i] -= 0.25; }
        for (int i = 0; i < c->OC; i++) { db[i] = 2.0f; dbr[i] += 2.0; }
        conv2d_backward(dx, dw, db, t.dy, t.x, t.w, &t.s, t.scratch, true);
        float *wx = malloc(t.nx * sizeof *wx), *ww = malloc(t.nw * sizeof *ww), wb[64];
        to_float(wx, dxr, t.nx);
        to_float(ww, dwr, t.nw);
        to_float(wb, dbr, (size_t)c->OC);
        tu_assert_close("conv dx vs naive", dx, wx, t.nx, tol, tol);
        tu_assert_close("conv dw vs naive", dw, ww, t.nw, tol, tol);
        tu_assert_close("conv db vs naive", db, wb, (size_t)c->OC, tol, tol);

        /* dx == NULL skips the input gradient; dw/db alone still come out right */
        memset(dw, 0, t.nw * sizeof *dw);
        conv2d_backward(NULL, dw, NULL, t.dy, t.x, t.w, &t.s, t.scratch, true);
        for (size_t i = 0; i < t.nw; i++) ww[i] = (float)(dwr[i] + 0.25);
        tu_assert_close("conv dw alone vs naive", dw, ww, t.nw, tol, tol);

        free(yr); free(dxr); free(dwr); free(dbr); free(y); free(want);
        free(dx); free(dw); free(db); free(wx); free(ww);
        bufs_free(&t);
    }
}

/* The direct depthwise kernel against the im2col path on the same problem (tol 1e-5). */
static void test_depthwise_vs_gemm(void **state)
{
    (void)state;
    const conv_case dw_cases[] = {
        {5, 6, 8, 8, 3, 1, 1, 8, true}, {7, 6, 5, 10, 3, 2, 1, 5, true},
        {9, 7, 4, 12, 5, 2, 2, 4, false}, {6, 6, 16, 16, 3, 2, 0, 16, true},
    };
    for (size_t k = 0; k < sizeof dw_cases / sizeof dw_cases[0]; k++) {
        const conv_case *c = &dw_cases[k];
        conv_bufs t = bufs_make(c, 2, 300 + k);
        assert_true(conv2d_uses_depthwise(&t.s));
        float *y1 = malloc(t.ny * sizeof(float)), *y2 = malloc(t.ny * sizeof(float));
        float *g1 = calloc(t.nx + t.nw + c->OC, sizeof(float));
        float *g2 = calloc(t.nx + t.nw + c->OC, sizeof(float));
        const float *b = c->bias ? t.b : NULL;
        dwconv2d_forward(y1, t.x, t.w, b, &t.s, t.scratch);
        conv2d_gemm_forward(y2, t.x, t.w, b, &t.s, t.scratch);
        tu_assert_close("depthwise forward vs gemm", y1, y2, t.ny, 1e-5f, 1e-5f);
        dwconv2d_backward(g1, g1 + t.nx, g1 + t.nx + t.nw, t.dy, t.x, t.w, &t.s, t.scratch);
        conv2d_gemm_backward(g2, g2 + t.nx, g2 + t.nx + t.nw, t.dy, t.x, t.w, &t.s, t.scratch);
        tu_assert_close("depthwise grads vs gemm", g1, g2, t.nx + t.nw + c->OC, 1e-5f, 1e-5f);
        free(y1); free(y2); free(g1); free(g2);
        bufs_free(&t);
    }
}

/* Taking the batch one or two samples at a time gives the same answer as all at once. */
static void test_chunking(void **state)
{
    (void)state;
    const conv_case c = {6, 7, 4, 6, 3, 2, 1, 2, true};
    conv_bufs t = bufs_make(&c, 5, 400);
    assert_int_equal(t.s.chunk, 5);
    size_t ng = t.nx + t.nw + (size_t)c.OC;
    float *y[3], *g[3];
    int chunks[3] = {5, 1, 2};
    for (int i = 0; i < 3; i++) {
        conv2d_shape s = t.s;
        s.chunk = chunks[i];
        y[i] = malloc(t.ny * sizeof(float));
        g[i] = calloc(ng, sizeof(float));
        conv2d_gemm_forward(y[i], t.x, t.w, t.b, &s, t.scratch);
        conv2d_gemm_backward(g[i], g[i] + t.nx, g[i] + t.nx + t.nw, t.dy, t.x, t.w, &s, t.scratch);
    }
    for (int i = 1; i < 3; i++) {
        tu_assert_close("chunked forward", y[i], y[0], t.ny, 1e-6f, 1e-6f);
        tu_assert_close("chunked grads", g[i], g[0], ng, 1e-5f, 1e-5f);
    }
    /* a layer big enough that the budget splits the batch */
    conv2d_shape big = conv2d_shape_make(8, 64, 64, 64, 64, 3, 1, 1, 1);
    assert_true(big.chunk >= 1 && big.chunk < 8);
    assert_true(conv2d_gemm_scratch_floats(&big) <= RP_CONV_COLS_BUDGET);
    for (int i = 0; i < 3; i++) { free(y[i]); free(g[i]); }
    bufs_free(&t);
}

/* Same bits with 1 and 2 threads (OpenMP loops write disjoint outputs, sums in fixed order). */
static void test_thread_independence(void **state)
{
    (void)state;
    const conv_case cases[] = {{9, 8, 6, 8, 3, 1, 1, 1, true}, {9, 8, 6, 12, 3, 2, 1, 6, true}};
    int keep = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        conv_bufs t = bufs_make(&cases[k], 4, 500 + k);
        size_t ng = t.nx + t.nw + (size_t)cases[k].OC;
        float *y[2], *g[2];
        for (int i = 0; i < 2; i++) {
            omp_set_num_threads(i + 1);
            y[i] = malloc(t.ny * sizeof(float));
            g[i] = calloc(ng, sizeof(float));
            conv2d_forward(y[i], t.x, t.w, t.b, &t.s, t.scratch, NULL);
            conv2d_backward(g[i], g[i] + t.nx, g[i] + t.nx + t.nw, t.dy, t.x, t.w, &t.s, t.scratch, true);
        }
        assert_memory_equal(y[0], y[1], t.ny * sizeof(float));
        assert_memory_equal(g[0], g[1], ng * sizeof(float));
        for (int i = 0; i < 2; i++) { free(y[i]); free(g[i]); }
        bufs_free(&t);
    }
    omp_set_num_threads(keep);
}

/* param_grads = false (attacks) and frozen parameters leave gradients untouched. */
static void test_frozen_and_no_param_grads(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){5, 5, 3});
    assert_true(rp_g_conv2d(&g, RP_INPUT, "c", 4, 3, 1, 1, 1, true) >= 0);
    assert_int_equal(rp_graph_finalize(&g, 2, 3), RP_OK);
    rp_param *w = &g.params[rp_graph_find_param(&g, "c.weight")];
    rp_param *b = &g.params[rp_graph_find_param(&g, "c.bias")];
    float x[2 * 75], dout[2 * 100], dx[2 * 75];
    tu_fill_uniform(x, 150, -1, 1, 1);
    tu_fill_uniform(dout, 200, -1, 1, 2);
    for (size_t i = 0; i < w->numel; i++) w->grad[i] = 7.0f;
    for (size_t i = 0; i < b->numel; i++) b->grad[i] = 7.0f;

    rp_graph_forward(&g, x, 2, true);
    memset(dx, 0, sizeof dx);
    rp_graph_backward(&g, dout, dx, false);
    for (size_t i = 0; i < w->numel; i++) assert_true(w->grad[i] == 7.0f);
    for (size_t i = 0; i < b->numel; i++) assert_true(b->grad[i] == 7.0f);
    double s = 0;
    for (int i = 0; i < 150; i++) s += fabs(dx[i]);
    assert_true(s > 0.1); /* the input gradient is still computed */

    w->frozen = true;
    rp_graph_backward(&g, dout, NULL, true);
    for (size_t i = 0; i < w->numel; i++) assert_true(w->grad[i] == 7.0f);
    int changed = 0;
    for (size_t i = 0; i < b->numel; i++) changed += b->grad[i] != 7.0f;
    assert_int_equal(changed, 4); /* the bias is not frozen */
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
}

/* Shapes, parameter shapes and PyTorch's default initialisation bounds. */
static void test_shapes_and_init(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){9, 7, 6});
    int n = rp_g_conv2d(&g, RP_INPUT, "c", 8, 3, 2, 1, 2, true);
    assert_true(n >= 0);
    rp_shape o = rp_graph_shape(&g, n);
    assert_int_equal(o.H, 5);
    assert_int_equal(o.W, 4);
    assert_int_equal(o.C, 8);
    assert_int_equal(rp_graph_finalize(&g, 1, 42), RP_OK);
    rp_param *w = &g.params[0], *b = &g.params[1];
    assert_string_equal(w->name, "c.weight");
    assert_string_equal(b->name, "c.bias");
    assert_int_equal(w->ndim, 4);
    assert_int_equal(w->shape[0], 8);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(w->shape[2], 3);
    assert_int_equal(w->shape[3], 3);
    assert_int_equal(w->layout, RP_LAYOUT_OHWI);
    assert_int_equal(b->numel, 8);
    float bound = 1.0f / sqrtf(27.0f), wmax = 0;
    for (size_t i = 0; i < w->numel; i++) {
        assert_true(fabsf(w->data[i]) <= bound);
        if (fabsf(w->data[i]) > wmax) wmax = fabsf(w->data[i]);
    }
    assert_true(wmax > 0.8f * bound); /* 216 draws: spread over the whole range */
    for (size_t i = 0; i < b->numel; i++) assert_true(fabsf(b->data[i]) <= bound);
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
}

static void expect_error(rp_shape in, int OC, int K, int stride, int pad, int groups,
                         rp_status want)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph g;
    rp_graph_init(&g, ctx, in);
    assert_int_equal(rp_g_conv2d(&g, RP_INPUT, "badconv", OC, K, stride, pad, groups, true), -1);
    assert_int_equal(g.status, want);
    assert_non_null(strstr(rp_ctx_error(ctx), "badconv"));
    assert_int_equal(g.n_nodes, 0);
    assert_int_equal(g.n_params, 0);
    /* later layers refuse too, and finalize reports the first failure */
    assert_int_equal(rp_g_conv2d(&g, RP_INPUT, "next", 2, 1, 1, 0, 1, true), -1);
    assert_int_equal(rp_graph_finalize(&g, 1, 0), want);
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
}

static void test_bad_configs(void **state)
{
    (void)state;
    rp_shape in = {6, 6, 4};
    expect_error(in, 6, 3, 1, 1, 3, RP_ERR_ARG);  /* groups does not divide IC */
    expect_error(in, 6, 3, 1, 1, 4, RP_ERR_ARG);  /* groups does not divide OC */
    expect_error(in, 4, 0, 1, 0, 1, RP_ERR_ARG);  /* K = 0 */
    expect_error(in, 4, 3, 0, 1, 1, RP_ERR_ARG);  /* stride 0 */
    expect_error(in, 4, 3, 1, -1, 1, RP_ERR_ARG); /* negative pad */
    expect_error(in, 0, 3, 1, 1, 1, RP_ERR_ARG);  /* no output channels */
    expect_error(in, 4, 3, 1, 1, 0, RP_ERR_ARG);  /* groups 0 */
    expect_error(in, 4, 9, 1, 1, 1, RP_ERR_SHAPE); /* window larger than padded input */
    expect_error((rp_shape){6, 2, 4}, 4, 5, 1, 1, 1, RP_ERR_SHAPE); /* too narrow only */
}

int main(void)
{
    static struct CMUnitTest tests[N_CASES + 7];
    static char names[N_CASES][96];
    int n = 0;
    for (int i = 0; i < N_CASES; i++) {
        const conv_case *c = &CASES[i];
        snprintf(names[i], sizeof names[i], "gradcheck_%dx%dx%d_oc%d_k%d_s%d_p%d_g%d%s", c->H,
                 c->W, c->C, c->OC, c->K, c->stride, c->pad, c->groups, c->bias ? "_bias" : "");
        tests[n++] = (struct CMUnitTest){names[i], test_gradcheck_case, NULL, NULL, (void *)c};
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_against_naive);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_depthwise_vs_gemm);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_chunking);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_thread_independence);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_frozen_and_no_param_grads);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_shapes_and_init);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_bad_configs);
    assert_true(n == N_CASES + 7);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
