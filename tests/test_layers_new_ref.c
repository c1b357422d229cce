/* The newer backbones' layers against PyTorch 1.13 / torchvision 0.14
 * (tests/reference/layers_new.py): SiLU, Sigmoid, torchvision's SqueezeExcitation with SiLU
 * (global average pool, 1x1 convs on 1x1 maps, channel-wise multiply), concatenation along
 * channels (torch.cat's order), grouped 3x3 convs with groups = 32, and StochasticDepth's
 * per-sample scaling. Files are NCHW / OIHW, converted here to NHWC / OHWI.
 *
 * Tolerance: |ours - torch| <= 1e-5 + 1e-4 |torch|. The references are float64 answers
 * rounded once; ours are float32 with sums of at most a few hundred terms of size ~1 (the
 * grouped convs' weight gradients: 2 * 36 pixels; the SE's 1x1 convs' over 8 channels and
 * 25 pixels), so a few float roundings of relative size 6e-8 each. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "kernels/conv2d.h"
#include "testutil.h"

#define RTOL 1e-4f
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
    snprintf(file, sizeof file, "layers_new_%s.safetensors", name);
    if (rp_st_open(r->ctx, tu_ref_path(path, sizeof path, file), &r->f) != RP_OK) fail_msg("%s", rp_ctx_error(r->ctx));
}

static void ref_close(ref_file *r)
{
    rp_st_close(r->f);
    rp_ctx_destroy(r->ctx);
}

static const rp_st_tensor *ref_tensor(const ref_file *r, const char *key)
{
    const rp_st_tensor *t = rp_st_find(r->f, key);
    if (!t) fail_msg("%s: no tensor %s", r->name, key);
    return t;
}

static int meta_int(const ref_file *r, const char *key)
{
    const char *v = rp_st_meta(r->f, key);
    if (!v) fail_msg("%s: no metadata %s", r->name, key);
    return atoi(v);
}

/* OWNED: tensor key as float32, converted to NHWC (4-D activations) or OHWI (ohwi). */
static float *ref_read(const ref_file *r, const char *key, bool ohwi, size_t *numel)
{
    const rp_st_tensor *t = ref_tensor(r, key);
    float *v = malloc((t->numel ? t->numel : 1) * sizeof *v), *o = malloc((t->numel ? t->numel : 1) * sizeof *o);
    assert_true(v && o);
    if (rp_st_read_f32(r->ctx, r->f, key, v, t->numel) != RP_OK) fail_msg("%s", rp_ctx_error(r->ctx));
    if (numel) *numel = t->numel;
    if (t->ndim != 4) {
        free(o);
        return v;
    }
    int N = (int)t->shape[0], C = (int)t->shape[1], H = (int)t->shape[2], W = (int)t->shape[3];
    if (ohwi) {
        conv_weight_oihw_to_ohwi(o, v, N, C, H);
    } else {
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++)
                        o[(((size_t)n * H + h) * W + w) * C + c] = v[(((size_t)n * C + c) * H + h) * W + w];
    }
    free(v);
    return o;
}

static void expect_close(const ref_file *r, const char *key, const float *got, size_t n, bool ohwi)
{
    size_t want_n;
    float *want = ref_read(r, key, ohwi, &want_n);
    assert_int_equal(want_n, n);
    char what[160];
    snprintf(what, sizeof what, "%s: %s", r->name, key);
    tu_assert_close(what, got, want, n, RTOL, ATOL);
    free(want);
}

typedef int (*build_fn)(rp_graph *g, const ref_file *r);

/* Builds the case's graph, sets every parameter from the file (under its own name), and
 * compares y, dx and every parameter gradient (grad.<name>); the file has no others. */
static void run_case(const char *name, build_fn build)
{
    ref_file r;
    ref_open(&r, name);
    const rp_st_tensor *xt = ref_tensor(&r, "x");
    int N = (int)xt->shape[0];
    rp_shape in = {(int)xt->shape[2], (int)xt->shape[3], (int)xt->shape[1]};
    rp_graph g;
    rp_graph_init(&g, r.ctx, in);
    int last = build(&g, &r);
    assert_true(last >= 0);
    assert_int_equal(last, g.n_nodes - 1);
    assert_int_equal(rp_graph_finalize(&g, N, 1), RP_OK);
    for (int i = 0; i < g.n_params; i++) {
        rp_param *p = &g.params[i];
        size_t n;
        float *v = ref_read(&r, p->name, p->layout == RP_LAYOUT_OHWI, &n);
        assert_int_equal(n, p->numel);
        memcpy(p->data, v, n * sizeof *v);
        free(v);
    }
    size_t nx, ny;
    float *x = ref_read(&r, "x", false, &nx), *dy = ref_read(&r, "dy", false, &ny);
    assert_int_equal(ny, (size_t)N * rp_shape_numel(g.nodes[last].out_shape));
    expect_close(&r, "y", rp_graph_forward(&g, x, N, false), ny, false);
    float *dx = malloc(nx * sizeof *dx);
    rp_graph_zero_grad(&g);
    rp_graph_backward(&g, dy, dx, true);
    expect_close(&r, "dx", dx, nx, false);
    int grads = 0, in_file = 0;
    for (int i = 0; i < g.n_params; i++) {
        char key[80];
        snprintf(key, sizeof key, "grad.%s", g.params[i].name);
        expect_close(&r, key, g.params[i].grad, g.params[i].numel, g.params[i].layout == RP_LAYOUT_OHWI);
        grads++;
    }
    for (int i = 0; i < rp_st_count(r.f); i++) in_file += strncmp(rp_st_at(r.f, i)->name, "grad.", 5) == 0;
    assert_int_equal(grads, in_file);
    free(x);
    free(dy);
    free(dx);
    rp_graph_free(&g);
    ref_close(&r);
}

static int build_silu(rp_graph *g, const ref_file *r)
{
    (void)r;
    return rp_g_silu(g, RP_INPUT, "act");
}

static int build_sigmoid(rp_graph *g, const ref_file *r)
{
    (void)r;
    return rp_g_sigmoid(g, RP_INPUT, "act");
}

/* torchvision.ops.SqueezeExcitation: avgpool -> fc1 (1x1 conv) -> activation -> fc2 ->
 * scale_activation (sigmoid) -> input * scale */
static int build_se(rp_graph *g, const ref_file *r)
{
    int C = meta_int(r, "C"), S = meta_int(r, "squeeze");
    int s = rp_g_global_avgpool(g, RP_INPUT, "avgpool");
    s = rp_g_silu(g, rp_g_conv2d(g, s, "fc1", S, 1, 1, 0, 1, true), "activation");
    s = rp_g_sigmoid(g, rp_g_conv2d(g, s, "fc2", C, 1, 1, 0, 1, true), "scale_activation");
    return rp_g_channel_mul(g, RP_INPUT, s, "scale");
}

static int build_cat(rp_graph *g, const ref_file *r)
{
    (void)r;
    int a = rp_g_conv2d(g, RP_INPUT, "a", 3, 1, 1, 0, 1, true);
    int b = rp_g_conv2d(g, RP_INPUT, "b", 2, 3, 1, 1, 1, false);
    int parts[3] = {RP_INPUT, a, b};
    return rp_g_concat(g, parts, 3, "cat");
}

static int build_gconv(rp_graph *g, const ref_file *r)
{
    return rp_g_conv2d(g, RP_INPUT, "conv", meta_int(r, "OC"), 3, meta_int(r, "stride"), 1, meta_int(r, "groups"),
                       false);
}

static void test_silu_sigmoid(void **state)
{
    (void)state;
    run_case("silu", build_silu);
    run_case("sigmoid", build_sigmoid);
}

static void test_squeeze_excitation(void **state)
{
    (void)state;
    run_case("se", build_se);
}

static void test_concat(void **state)
{
    (void)state;
    run_case("cat", build_cat);
}

static void test_grouped_conv(void **state)
{
    (void)state;
    run_case("gconv_g32", build_gconv);
    run_case("gconv_g32_s2", build_gconv);
}

/* torchvision's StochasticDepth(p, "row") in float32: in evaluation the input itself; in
 * training each sample either all zeros or, bit for bit, our kept sample (x * (1/(1 - p)) in
 * float, as torchvision's noise.div_(survival_rate) then input * noise). Which samples are
 * dropped is each generator's own draw: ours must drop some and keep some at p = 0.2 over 64. */
static void test_stochastic_depth(void **state)
{
    (void)state;
    ref_file r;
    ref_open(&r, "sdepth");
    const rp_st_tensor *xt = ref_tensor(&r, "x");
    int N = (int)xt->shape[0];
    rp_shape in = {(int)xt->shape[2], (int)xt->shape[3], (int)xt->shape[1]};
    size_t S = rp_shape_numel(in), n;
    float p = strtof(rp_st_meta(r.f, "p"), NULL);
    rp_graph g;
    rp_graph_init(&g, r.ctx, in);
    assert_true(rp_g_stochastic_depth(&g, RP_INPUT, "sd", p) >= 0);
    assert_int_equal(rp_graph_finalize(&g, N, 1), RP_OK);
    float *x = ref_read(&r, "x", false, &n), *yt = ref_read(&r, "y_train", false, NULL);
    float *ye = ref_read(&r, "y_eval", false, NULL);
    assert_memory_equal(rp_graph_forward(&g, x, N, false), ye, n * sizeof(float));
    const float *y = rp_graph_forward(&g, x, N, true);
    int torch_kept = 0, ours_kept = 0;
    for (int b = 0; b < N; b++) {
        bool tk = false, ok = false;
        for (size_t i = 0; i < S; i++) {
            tk |= yt[b * S + i] != 0.0f;
            ok |= y[b * S + i] != 0.0f;
        }
        torch_kept += tk;
        ours_kept += ok;
        if (tk && ok) assert_memory_equal(y + b * S, yt + b * S, S * sizeof(float));
        for (size_t i = 0; i < S && !tk; i++) assert_true(yt[b * S + i] == 0.0f);
    }
    assert_true(torch_kept > 0 && torch_kept < N);
    assert_true(ours_kept > 0 && ours_kept < N);
    free(x);
    free(yt);
    free(ye);
    rp_graph_free(&g);
    ref_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silu_sigmoid),
        cmocka_unit_test(test_squeeze_excitation),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_grouped_conv),
        cmocka_unit_test(test_stochastic_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
