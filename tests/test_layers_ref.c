/* Linear, flatten, BatchNorm2d, ReLU/ReLU6, Normalize and the losses against PyTorch 1.13
 * (tests/reference/layers.py; references computed in float64 from the float32 inputs, so
 * they hold the true answer rounded once). Activations are converted NCHW <-> NHWC here.
 *
 * Tolerances: rtol 1e-5, atol 1e-5 unless a case says otherwise. Values are O(1); float
 * outputs are a few roundings away from the double reference, i.e. ~1e-7 relative, so
 * 1e-5 leaves room only for a different summation order (GEMM over IN <= 60, BatchNorm
 * sums over N*H*W <= 120 in double). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "kernels/loss.h"
#include "testutil.h"

#define RTOL 1e-5f
#define ATOL 1e-5f

typedef struct ref_file {
    rp_ctx *ctx;
    rp_st_file *f;
    char name[64];
} ref_file;

static void ref_open(ref_file *r, const char *name)
{
    char path[512], file[128];
    r->ctx = rp_ctx_create(1);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(file, sizeof file, "layers_%s.safetensors", name);
    if (rp_st_open(r->ctx, tu_ref_path(path, sizeof path, file), &r->f) != RP_OK)
        fail_msg("%s", rp_ctx_error(r->ctx));
}

static void ref_close(ref_file *r)
{
    rp_st_close(r->f);
    rp_ctx_destroy(r->ctx);
}

static const rp_st_tensor *ref_tensor(ref_file *r, const char *key)
{
    const rp_st_tensor *t = rp_st_find(r->f, key);
    if (!t) fail_msg("%s: no tensor %s", r->name, key);
    return t;
}

/* OWNED: tensor key as float32, numel elements. */
static float *ref_read(ref_file *r, const char *key, size_t *numel)
{
    const rp_st_tensor *t = ref_tensor(r, key);
    float *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
    assert_non_null(v);
    if (rp_st_read_f32(r->ctx, r->f, key, v, t->numel) != RP_OK) fail_msg("%s", rp_ctx_error(r->ctx));
    if (numel) *numel = t->numel;
    return v;
}

/* (N, C, H, W) <-> (N, H, W, C) */
static void nchw_to_nhwc(float *dst, const float *src, int N, int C, int H, int W)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    dst[(((size_t)n * H + h) * W + w) * C + c] = src[(((size_t)n * C + c) * H + h) * W + w];
}

/* OWNED: tensor key in NHWC when it is 4-D, as stored otherwise. */
static float *ref_read_nhwc(ref_file *r, const char *key, size_t *numel)
{
    const rp_st_tensor *t = ref_tensor(r, key);
    float *v = ref_read(r, key, numel);
    if (t->ndim != 4) return v;
    float *o = malloc(t->numel * sizeof *o);
    nchw_to_nhwc(o, v, (int)t->shape[0], (int)t->shape[1], (int)t->shape[2], (int)t->shape[3]);
    free(v);
    return o;
}

static void expect_close(ref_file *r, const char *key, const float *got, size_t n, float rtol,
                         float atol)
{
    size_t want_n;
    float *want = ref_read_nhwc(r, key, &want_n);
    assert_int_equal(want_n, n);
    char what[128];
    snprintf(what, sizeof what, "%s: %s", r->name, key);
    tu_assert_close(what, got, want, n, rtol, atol);
    free(want);
}

/* ---- layers: one node after the input, parameters from the file ------------------------ */

typedef int (*build_fn)(rp_graph *g, const ref_file *r);

/* Every parameter gradient in the file must be one the layer produced. */
static int param_grads_in_file(const ref_file *r)
{
    int count = 0;
    for (int i = 0; i < rp_st_count(r->f); i++) {
        const char *key = rp_st_at(r->f, i)->name;
        count += key[0] == 'd' && strcmp(key, "dx") != 0 && strcmp(key, "dy") != 0;
    }
    return count;
}

static void run_layer(const char *name, build_fn build, bool train)
{
    ref_file r;
    ref_open(&r, name);
    const rp_st_tensor *xt = ref_tensor(&r, "x");
    int N = (int)xt->shape[0];
    rp_shape in = xt->ndim == 4 ? (rp_shape){(int)xt->shape[2], (int)xt->shape[3], (int)xt->shape[1]}
                                : (rp_shape){1, 1, (int)xt->shape[1]};
    rp_graph g;
    rp_graph_init(&g, r.ctx, in);
    int last = build(&g, &r);
    assert_true(last >= 0);
    assert_int_equal(rp_graph_finalize(&g, N, 1), RP_OK);
    rp_node *node = &g.nodes[last];
    const char *keys[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < node->n_params; i++) {
        rp_param *p = &node->param[i];
        const char *suffix = strrchr(p->name, '.') + 1;
        if (strcmp(suffix, "num_batches_tracked") == 0) {
            p->data[0] = strtof(rp_st_meta(r.f, "num_batches_before"), NULL);
            continue;
        }
        for (int k = 0; k < 4; k++)
            if (strcmp(suffix, keys[k]) == 0)
                assert_int_equal(rp_st_read_f32(r.ctx, r.f, keys[k], p->data, p->numel), RP_OK);
    }

    size_t nx, ny;
    float *x = ref_read_nhwc(&r, "x", &nx), *dy = ref_read_nhwc(&r, "dy", &ny);
    assert_int_equal(nx, (size_t)N * rp_shape_numel(in));
    assert_int_equal(ny, (size_t)N * rp_shape_numel(node->out_shape));
    const float *y = rp_graph_forward(&g, x, N, train);
    expect_close(&r, "y", y, ny, RTOL, ATOL);
    float *dx = malloc(nx * sizeof *dx);
    rp_graph_zero_grad(&g);
    rp_graph_backward(&g, dy, dx, true);
    expect_close(&r, "dx", dx, nx, RTOL, ATOL);
    int grads = 0;
    for (int i = 0; i < node->n_params; i++) {
        rp_param *p = &node->param[i];
        const char *suffix = strrchr(p->name, '.') + 1;
        char key[64];
        if (p->trainable) {
            snprintf(key, sizeof key, "d%s", suffix);
            expect_close(&r, key, p->grad, p->numel, RTOL, ATOL);
            grads++;
        } else if (strcmp(suffix, "num_batches_tracked") == 0) {
            expect_close(&r, suffix, p->data, 1, 0, 0);
        } else {
            snprintf(key, sizeof key, "new_%s", suffix);
            expect_close(&r, key, p->data, p->numel, RTOL, ATOL);
        }
    }
    assert_int_equal(grads, param_grads_in_file(&r));
    free(x);
    free(dy);
    free(dx);
    rp_graph_free(&g);
    ref_close(&r);
}

static int out_features(const ref_file *r) { return atoi(rp_st_meta(r->f, "out")); }
static bool has_bias(const ref_file *r) { return atoi(rp_st_meta(r->f, "bias")) != 0; }

static int build_linear(rp_graph *g, const ref_file *r)
{
    return rp_g_linear(g, RP_INPUT, "fc", out_features(r), has_bias(r));
}

static int build_flatten_linear(rp_graph *g, const ref_file *r)
{
    return rp_g_linear(g, rp_g_flatten(g, RP_INPUT, "flat"), "fc", out_features(r), has_bias(r));
}

static int build_bn(rp_graph *g, const ref_file *r)
{
    float eps = strtof(rp_st_meta(r->f, "eps"), NULL), mom = strtof(rp_st_meta(r->f, "momentum"), NULL);
    return rp_g_batchnorm2d(g, RP_INPUT, "bn", eps, mom);
}

static int build_relu(rp_graph *g, const ref_file *r)
{
    (void)r;
    return rp_g_relu(g, RP_INPUT, "act");
}

static int build_relu6(rp_graph *g, const ref_file *r)
{
    (void)r;
    return rp_g_relu6(g, RP_INPUT, "act");
}

static int build_normalize(rp_graph *g, const ref_file *r)
{
    float mean[3], std[3];
    assert_int_equal(rp_st_read_f32(r->ctx, r->f, "mean", mean, 3), RP_OK);
    assert_int_equal(rp_st_read_f32(r->ctx, r->f, "std", std, 3), RP_OK);
    return rp_g_normalize(g, RP_INPUT, "norm", mean, std);
}

static void test_linear(void **state)
{
    (void)state;
    run_layer("linear", build_linear, true);
    run_layer("linear_nobias", build_linear, true);
}

/* PyTorch's NCHW flatten order: the weight from the file is used as it is. */
static void test_flatten_linear(void **state)
{
    (void)state;
    run_layer("flatten_linear", build_flatten_linear, true);
}

static void test_batchnorm(void **state)
{
    (void)state;
    run_layer("bn_train", build_bn, true);
    run_layer("bn_eval", build_bn, false);
    run_layer("bn_train_1x1", build_bn, true);
}

static void test_activations(void **state)
{
    (void)state;
    run_layer("relu", build_relu, false);
    run_layer("relu6", build_relu6, false);
    run_layer("normalize", build_normalize, false);
}

/* ---- losses ------------------------------------------------------------------------------ */

static void test_xent(void **state)
{
    (void)state;
    const char *cases[] = {"xent", "xent_smooth"};
    for (int c = 0; c < 2; c++) {
        ref_file r;
        ref_open(&r, cases[c]);
        const rp_st_tensor *lt = ref_tensor(&r, "logits");
        int B = (int)lt->shape[0], K = (int)lt->shape[1];
        float *logits = ref_read(&r, "logits", NULL), *yf = ref_read(&r, "labels", NULL);
        int32_t *y = malloc((size_t)B * sizeof *y);
        for (int b = 0; b < B; b++) y[b] = (int32_t)yf[b];
        float *d = malloc((size_t)B * K * sizeof *d);
        float s = strtof(rp_st_meta(r.f, "smoothing"), NULL);
        float loss = rp_softmax_xent(logits, y, B, K, s, d, 1.0f, NULL);
        expect_close(&r, "loss", &loss, 1, RTOL, ATOL);
        /* gradients are O(1/B): atol 1e-7 keeps the check relative */
        expect_close(&r, "dlogits", d, (size_t)B * K, RTOL, 1e-7f);
        free(logits);
        free(yf);
        free(y);
        free(d);
        ref_close(&r);
    }
}

static void test_kl(void **state)
{
    (void)state;
    ref_file r;
    ref_open(&r, "kl");
    const rp_st_tensor *pt = ref_tensor(&r, "p");
    int B = (int)pt->shape[0], K = (int)pt->shape[1];
    float *p = ref_read(&r, "p", NULL), *q = ref_read(&r, "q", NULL);
    float *dp = malloc((size_t)B * K * sizeof *dp), *dq = malloc((size_t)B * K * sizeof *dq);
    float loss = rp_kl_div_logits(p, q, B, K, dp, dq, 1.0f);
    expect_close(&r, "loss", &loss, 1, RTOL, ATOL);
    expect_close(&r, "dp", dp, (size_t)B * K, RTOL, 1e-7f);
    expect_close(&r, "dq", dq, (size_t)B * K, RTOL, 1e-7f);
    free(p);
    free(q);
    free(dp);
    free(dq);
    ref_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_flatten_linear),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_xent),
        cmocka_unit_test(test_kl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
