/* Conv2d and pooling against PyTorch (tests/reference/conv_pool.py): the same input,
 * weights and upstream gradient give the same output and gradients wrt the input, the
 * weight and the bias. Files are NCHW / OIHW; rampart is NHWC / OHWI, converted here.
 * Tolerance: |ours - torch| <= 1e-4 + 1e-4 * |torch| (torch's answer is float64 rounded
 * once; ours sums in float32). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "kernels/conv2d.h"
#include "testutil.h"

#define RTOL 1e-4f
#define ATOL 1e-4f

static const char *const CASES[] = {
    "conv3x3", "conv3x3_s2_g2", "conv1x1", "conv1x1_g3", "conv5x5_s2_p2", "conv3x3_wide",
    "dw3x3", "dw3x3_s2_m2", "dw5x5_p2", "maxpool2", "maxpool3_s2_p1", "maxpool3_ties",
    "avgpool3_s2_p1", "avgpool2", "global_avgpool",
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static const rp_st_tensor *need(const rp_st_file *f, const char *name, int ndim)
{
    const rp_st_tensor *t = rp_st_find(f, name);
    if (!t) fail_msg("%s: no tensor %s", rp_st_path(f), name);
    if (t->ndim != ndim) fail_msg("%s: %s has %d dims, want %d", rp_st_path(f), name, t->ndim, ndim);
    return t;
}

static int meta_int(const rp_st_file *f, const char *key)
{
    const char *v = rp_st_meta(f, key);
    if (!v) fail_msg("%s: no metadata %s", rp_st_path(f), key);
    return atoi(v);
}

/* OWNED: tensor `name` (N, C, H, W) read as float32 and reordered to (N, H, W, C). */
static float *read_nhwc(rp_ctx *ctx, const rp_st_file *f, const char *name)
{
    const rp_st_tensor *t = need(f, name, 4);
    int N = (int)t->shape[0], C = (int)t->shape[1], H = (int)t->shape[2], W = (int)t->shape[3];
    float *nchw = malloc(t->numel * sizeof *nchw), *nhwc = malloc(t->numel * sizeof *nhwc);
    assert_int_equal(rp_st_read_f32(ctx, f, name, nchw, t->numel), RP_OK);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    nhwc[(((size_t)n * H + h) * W + w) * C + c] = nchw[(((size_t)n * C + c) * H + h) * W + w];
    free(nchw);
    return nhwc;
}

/* OWNED: tensor `name` (OC, ICg, K, K) read and reordered to OHWI. */
static float *read_ohwi(rp_ctx *ctx, const rp_st_file *f, const char *name)
{
    const rp_st_tensor *t = need(f, name, 4);
    float *oihw = malloc(t->numel * sizeof *oihw), *ohwi = malloc(t->numel * sizeof *ohwi);
    assert_int_equal(rp_st_read_f32(ctx, f, name, oihw, t->numel), RP_OK);
    conv_weight_oihw_to_ohwi(ohwi, oihw, (int)t->shape[0], (int)t->shape[1], (int)t->shape[2]);
    free(oihw);
    return ohwi;
}

static float *read_flat(rp_ctx *ctx, const rp_st_file *f, const char *name, size_t numel)
{
    float *v = malloc(numel * sizeof *v);
    assert_int_equal(rp_st_read_f32(ctx, f, name, v, numel), RP_OK);
    return v;
}

/* Add the case's layer; returns its node. */
static int build_layer(rp_graph *g, const rp_st_file *f, const char *kind)
{
    int K = meta_int(f, "K"), stride = meta_int(f, "stride"), pad = meta_int(f, "pad");
    if (strcmp(kind, "conv") == 0) {
        const rp_st_tensor *w = need(f, "weight", 4);
        return rp_g_conv2d(g, RP_INPUT, "conv", (int)w->shape[0], K, stride, pad,
                           meta_int(f, "groups"), meta_int(f, "bias") != 0);
    }
    if (strcmp(kind, "max") == 0) return rp_g_maxpool2d(g, RP_INPUT, "pool", K, stride, pad);
    if (strcmp(kind, "avg") == 0) return rp_g_avgpool2d(g, RP_INPUT, "pool", K, stride, pad);
    if (strcmp(kind, "global_avg") == 0) return rp_g_global_avgpool(g, RP_INPUT, "pool");
    fail_msg("%s: unknown kind %s", rp_st_path(f), kind);
    return -1;
}

static void test_case(void **state)
{
    const char *name = *state;
    char file[128], path[512];
    snprintf(file, sizeof file, "conv_pool_%s.safetensors", name);
    rp_ctx *ctx = rp_ctx_create(1);
    rp_st_file *f = NULL;
    if (rp_st_open(ctx, tu_ref_path(path, sizeof path, file), &f) != RP_OK)
        fail_msg("%s", rp_ctx_error(ctx));
    const char *kind = rp_st_meta(f, "kind");
    assert_non_null(kind);
    const rp_st_tensor *xt = need(f, "x", 4);
    int N = (int)xt->shape[0];
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){(int)xt->shape[2], (int)xt->shape[3], (int)xt->shape[1]});
    int node = build_layer(&g, f, kind);
    assert_true(node >= 0);
    assert_int_equal(rp_graph_finalize(&g, N, 0), RP_OK);

    bool conv = strcmp(kind, "conv") == 0, bias = conv && meta_int(f, "bias");
    float *w = NULL;
    if (conv) {
        w = read_ohwi(ctx, f, "weight");
        memcpy(g.params[0].data, w, g.params[0].numel * sizeof *w);
        if (bias) {
            float *b = read_flat(ctx, f, "bias", g.params[1].numel);
            memcpy(g.params[1].data, b, g.params[1].numel * sizeof *b);
            free(b);
        }
    }
    float *x = read_nhwc(ctx, f, "x"), *dy = read_nhwc(ctx, f, "dy");
    float *y_ref = read_nhwc(ctx, f, "y"), *dx_ref = read_nhwc(ctx, f, "dx");
    size_t nx = xt->numel, ny = need(f, "y", 4)->numel;
    assert_int_equal(ny, (size_t)N * rp_shape_numel(g.nodes[node].out_shape));

    const float *y = rp_graph_forward(&g, x, N, true);
    tu_assert_close("output vs torch", y, y_ref, ny, RTOL, ATOL);
    float *dx = malloc(nx * sizeof *dx);
    rp_graph_zero_grad(&g);
    rp_graph_backward(&g, dy, dx, true);
    tu_assert_close("grad wrt input vs torch", dx, dx_ref, nx, RTOL, ATOL);
    if (conv) {
        float *dw_ref = read_ohwi(ctx, f, "dweight");
        tu_assert_close("grad wrt weight vs torch", g.params[0].grad, dw_ref, g.params[0].numel,
                        RTOL, ATOL);
        free(dw_ref);
        if (bias) {
            float *db_ref = read_flat(ctx, f, "dbias", g.params[1].numel);
            tu_assert_close("grad wrt bias vs torch", g.params[1].grad, db_ref,
                            g.params[1].numel, RTOL, ATOL);
            free(db_ref);
        }
    }
    free(w); free(x); free(dy); free(y_ref); free(dx_ref); free(dx);
    rp_graph_free(&g);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    static struct CMUnitTest tests[N_CASES];
    for (int i = 0; i < N_CASES; i++)
        tests[i] = (struct CMUnitTest){CASES[i], test_case, NULL, NULL, (void *)CASES[i]};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
