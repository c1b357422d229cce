/* The public explanation API (include/rampart.h) on a smallcnn with random weights built
 * through rp_model_create:
 *  - saliency is max over channels of |d logit_t / dx| and gradient*input the channel sum of
 *    x * gradient, both against the gradient computed here with rp_model_forward/backward;
 *  - Integrated Gradients: sum of attributions = f(x) - f(black) + the reported gap, and the gap
 *    shrinks from 8 to 256 steps;
 *  - targets: PRED is the argmax, TRUE the labels, CLASS the class;
 *  - Grad-CAM: the map is the ReLU'd low-resolution map (of rp_explainer_layer_shape's size)
 *    upsampled; without the ReLU it is the signed map and has negative values; CAM is refused
 *    without a GAP + linear head; a named layer is used;
 *  - every method runs and gives finite maps; an image alone gets its map in the batch;
 *  - sanity checks: one randomization row per parametrised layer (top down) with the model's
 *    logits unchanged after; deletion/insertion AUCs in [0, 1];
 *  - the PNG writers: sizes and pixels read back;
 *  - bad arguments: RP_ERR_ARG / RP_ERR_NUMERIC / RP_ERR_UNSUPPORTED with messages, no abort. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "explain/explain.h"
#include "io/png.h"
#include "rampart.h"
#include "testutil.h"

enum { B = 4, H = 28, W = 28, C = 1, K = 10 };
#define X ((size_t)H * W * C)
#define P ((size_t)H * W)

static struct {
    rp_ctx *ctx;
    rp_model *cnn;
    float x[B * H * W * C];
    int32_t y[B];
} S;

static rp_model *model(const char *arch, uint64_t seed)
{
    rp_model_config mc = {.arch = arch, .num_classes = K, .H = H, .W = W, .C = C, .max_batch = 64, .seed = seed,
                          .mean = {0.5f}, .std = {0.25f}};
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(S.ctx, &mc, &m), RP_OK);
    return m;
}

static int setup(void **state)
{
    (void)state;
    S.ctx = rp_ctx_create(2);
    S.cnn = model("smallcnn", 5);
    tu_fill_uniform(S.x, sizeof S.x / sizeof S.x[0], 0.0f, 1.0f, 8);
    for (int i = 0; i < B; i++) S.y[i] = (int32_t)(i * 3 % K);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rp_model_destroy(S.cnn);
    rp_ctx_destroy(S.ctx);
    return 0;
}

static rp_explainer *explainer(rp_model *m, const rp_explain_config *cfg)
{
    rp_explainer *ex = NULL;
    rp_status s = rp_explainer_create(S.ctx, m, cfg, &ex);
    if (s != RP_OK) fail_msg("explainer: %s", rp_ctx_error(S.ctx));
    return ex;
}

static void ok(rp_status s)
{
    if (s != RP_OK) fail_msg("%s: %s", rp_status_name(s), rp_ctx_error(S.ctx));
}

static void test_names(void **state)
{
    (void)state;
    for (int m = 0; m < RP_XAI_COUNT; m++)
        assert_int_equal(rp_xai_method_from_name(rp_xai_method_name((rp_xai_method)m)), m);
    assert_int_equal(rp_xai_method_from_name("gradcam++"), RP_XAI_GRADCAMPP);
    assert_int_equal(rp_xai_method_from_name("lime"), -1);
    assert_int_equal(rp_xai_method_from_name(NULL), -1);
    assert_string_equal(rp_xai_method_name((rp_xai_method)77), "unknown");
    rp_explain_config cfg = rp_explain_defaults();
    assert_false(rp_xai_map_is_signed(RP_XAI_SALIENCY, &cfg));
    assert_true(rp_xai_map_is_signed(RP_XAI_IG, &cfg));
    assert_false(rp_xai_map_is_signed(RP_XAI_GRADCAM, &cfg));
    cfg.cam_relu = false;
    assert_true(rp_xai_map_is_signed(RP_XAI_GRADCAM, &cfg));
    assert_false(rp_xai_map_is_signed(RP_XAI_GRADCAM, NULL));
}

/* d logit_t / dx for the B images, through the public forward and backward. */
static void input_gradient(rp_model *m, const int32_t *t, float *g)
{
    rp_model_forward(m, S.x, B, false);
    float dl[B * K] = {0};
    for (int i = 0; i < B; i++) dl[i * K + t[i]] = 1.0f;
    rp_model_backward(m, dl, g, RP_GRAD_INPUT);
}

static void test_saliency_and_gradxinput(void **state)
{
    (void)state;
    rp_explain_config cfg = rp_explain_defaults();
    rp_explainer *ex = explainer(S.cnn, &cfg);
    static float g[B * X], map[B * P], sig[B * P], attr[B * X], want[B * P];
    input_gradient(S.cnn, S.y, g);
    ok(rp_xai_explain(ex, RP_XAI_SALIENCY, S.x, S.y, B, &(rp_xai_result){.map = map, .signed_map = sig, .attr = attr}));
    tu_assert_close("saliency attr = gradient", attr, g, B * X, 1e-5f, 1e-7f);
    for (size_t p = 0; p < B * P; p++) want[p] = fabsf(g[p]); /* C = 1: max over channels of |g| */
    tu_assert_close("saliency map", map, want, B * P, 1e-5f, 1e-7f);
    tu_assert_close("saliency signed", sig, g, B * P, 1e-5f, 1e-7f);
    ok(rp_xai_explain(ex, RP_XAI_GRADXINPUT, S.x, S.y, B, &(rp_xai_result){.map = map}));
    for (size_t p = 0; p < B * P; p++) want[p] = S.x[p] * g[p];
    tu_assert_close("gradient x input", map, want, B * P, 1e-5f, 1e-7f);
    rp_explainer_destroy(ex);
}

/* sum(attr) = f(x) - f(0) + gap exactly, and the gap (the Riemann sum's error) shrinks with
 * more steps. */
static double ig_gaps(int steps, bool print)
{
    rp_explain_config cfg = rp_explain_defaults();
    cfg.ig_steps = steps;
    rp_explainer *ex = explainer(S.cnn, &cfg);
    static float map[B * P];
    double gap[B], df[B], total = 0.0;
    ok(rp_xai_explain(ex, RP_XAI_IG, S.x, S.y, B, &(rp_xai_result){.map = map, .ig_gap = gap, .ig_delta_f = df}));
    for (int i = 0; i < B; i++) {
        double sum = 0.0;
        for (size_t p = 0; p < P; p++) sum += map[i * P + p];
        if (print) printf("# IG %d steps, image %d: sum %.5f, f(x) - f(0) %.5f, gap %.2e\n", steps, i, sum, df[i], gap[i]);
        assert_true(fabs(sum - df[i] - gap[i]) <= 1e-4 * (1.0 + fabs(df[i])));
        total += fabs(gap[i]);
    }
    rp_explainer_destroy(ex);
    return total;
}

static void test_ig_complete(void **state)
{
    (void)state;
    double coarse = ig_gaps(8, false), fine = ig_gaps(256, true);
    printf("# IG total |gap|: %.2e at 8 steps, %.2e at 256\n", coarse, fine);
    assert_true(fine < 0.5 * coarse);
}

static void test_targets(void **state)
{
    (void)state;
    rp_explain_config cfg = rp_explain_defaults();
    rp_explainer *ex = explainer(S.cnn, &cfg);
    int32_t t[B];
    ok(rp_xai_targets(ex, S.x, NULL, B, RP_TARGET_PRED, 0, t));
    const float *z = rp_model_forward(S.cnn, S.x, B, false);
    for (int i = 0; i < B; i++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (z[i * K + k] > z[i * K + best]) best = k;
        assert_int_equal(t[i], best);
    }
    ok(rp_xai_targets(ex, S.x, S.y, B, RP_TARGET_TRUE, 0, t));
    assert_memory_equal(t, S.y, sizeof t);
    ok(rp_xai_targets(ex, S.x, NULL, B, RP_TARGET_CLASS, 7, t));
    for (int i = 0; i < B; i++) assert_int_equal(t[i], 7);
    assert_int_equal(rp_xai_targets(ex, S.x, NULL, B, RP_TARGET_CLASS, K, t), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "class 10"));
    assert_int_equal(rp_xai_targets(ex, S.x, NULL, B, RP_TARGET_TRUE, 0, t), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "labels"));
    rp_explainer_destroy(ex);
}

static void test_gradcam(void **state)
{
    (void)state;
    rp_explain_config cfg = rp_explain_defaults();
    rp_explainer *ex = explainer(S.cnn, &cfg);
    assert_string_equal(rp_explainer_layer(ex), "pool2"); /* the last spatial feature map */
    int h = 0, w = 0;
    ok(rp_explainer_layer_shape(ex, &h, &w));
    assert_int_equal(h, 7);
    assert_int_equal(w, 7);
    static float map[B * P], sig[B * P], low[B * 49];
    ok(rp_xai_explain(ex, RP_XAI_GRADCAM, S.x, S.y, B, &(rp_xai_result){.map = map, .signed_map = sig, .lowres = low}));
    static float up[B * P], raw[B * P], sig2[B * P];
    for (int k = 0; k < B * 49; k++) assert_true(low[k] >= 0.0f);
    rp_xai_upsample(low, B, 7, 7, up, H, W); /* the map is the ReLU'd low-resolution map, upsampled */
    tu_assert_close("gradcam map = upsampled lowres", map, up, B * P, 1e-6f, 1e-9f);
    int pos = 0;
    for (size_t p = 0; p < B * P; p++) assert_true(map[p] >= 0.0f), pos += map[p] > 0.0f;
    assert_true(pos > 0);
    rp_explain_config raw_cfg = cfg; /* without the ReLU the map is the signed map */
    raw_cfg.cam_relu = false;
    rp_explainer *ex_raw = explainer(S.cnn, &raw_cfg);
    ok(rp_xai_explain(ex_raw, RP_XAI_GRADCAM, S.x, S.y, B, &(rp_xai_result){.map = raw, .signed_map = sig2}));
    tu_assert_close("raw gradcam = signed", raw, sig2, B * P, 0.0f, 0.0f);
    tu_assert_close("signed maps with and without ReLU", sig2, sig, B * P, 1e-6f, 1e-9f);
    int neg = 0;
    for (size_t p = 0; p < B * P; p++) neg += raw[p] < 0.0f;
    assert_true(neg > 0);
    rp_explainer_destroy(ex_raw);
    /* CAM needs a GAP + linear head, which smallcnn does not have */
    assert_int_equal(rp_xai_explain(ex, RP_XAI_CAM, S.x, S.y, B, &(rp_xai_result){.map = map}), RP_ERR_UNSUPPORTED);
    rp_explainer_destroy(ex);
    cfg.layer = "conv1";
    ex = explainer(S.cnn, &cfg);
    assert_string_equal(rp_explainer_layer(ex), "conv1");
    ok(rp_explainer_layer_shape(ex, &h, &w));
    assert_int_equal(h, 28);
    rp_explainer_destroy(ex);
}

/* Every method: finite maps, and image 2 explained alone equals image 2 in the batch. */
static void test_every_method(void **state)
{
    (void)state;
    rp_explain_config cfg = rp_explain_defaults();
    cfg.sg_samples = 8, cfg.ig_steps = 16, cfg.chunk = 16;
    rp_explainer *ex = explainer(S.cnn, &cfg);
    static float map[B * P], one[P];
    for (int m = 0; m < RP_XAI_COUNT; m++) {
        if (m == RP_XAI_CAM) continue;
        ok(rp_xai_explain(ex, (rp_xai_method)m, S.x, S.y, B, &(rp_xai_result){.map = map}));
        for (size_t p = 0; p < B * P; p++) assert_true(isfinite(map[p]));
        ok(rp_xai_explain(ex, (rp_xai_method)m, S.x + 2 * X, S.y + 2, 1, &(rp_xai_result){.map = one}));
        char what[64];
        snprintf(what, sizeof what, "%s: image 2 alone vs in the batch", rp_xai_method_name((rp_xai_method)m));
        tu_assert_close(what, one, map + 2 * P, P, 1e-4f, 1e-6f);
    }
    rp_explainer_destroy(ex);
}

static void test_sanity_checks(void **state)
{
    (void)state;
    rp_explain_config cfg = rp_explain_defaults();
    rp_explainer *ex = explainer(S.cnn, &cfg);
    static float before[B * K], map[B * P], rnd[B * P];
    memcpy(before, rp_model_forward(S.cnn, S.x, B, false), sizeof before);
    rp_sanity_row rows[16];
    int n = 0;
    ok(rp_sanity_randomization(ex, RP_XAI_SALIENCY, S.x, S.y, B, 3, rows, 16, &n));
    assert_int_equal(n, 4); /* fc2, fc1, conv2, conv1: top down */
    assert_string_equal(rows[0].layer, "fc2");
    assert_string_equal(rows[3].layer, "conv1");
    for (int r = 0; r < n; r++) assert_true(rows[r].rho_map >= -1.0 && rows[r].rho_map <= 1.0);
    assert_memory_equal(rp_model_forward(S.cnn, S.x, B, false), before, sizeof before); /* restored */
    ok(rp_sanity_randomization(ex, RP_XAI_SALIENCY, S.x, S.y, B, 3, rows, 2, &n));
    assert_int_equal(n, 2);
    ok(rp_xai_explain(ex, RP_XAI_SALIENCY, S.x, S.y, B, &(rp_xai_result){.map = map}));
    rp_xai_random_map(rnd, B * P, 4);
    for (size_t p = 0; p < B * P; p++) assert_true(rnd[p] >= 0.0f && rnd[p] < 1.0f);
    double del[B], ins[B];
    ok(rp_xai_deletion_insertion(ex, S.x, S.y, B, map, 10, 1, del, ins));
    for (int i = 0; i < B; i++) assert_true(del[i] >= 0.0 && del[i] <= 1.0 && ins[i] >= 0.0 && ins[i] <= 1.0);
    rp_explainer_destroy(ex);
}

static void test_png(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/x.png", tu_tmpdir());
    ok(rp_image_write_png(S.ctx, path, S.x, H, W, C, 2));
    uint8_t *pix = NULL;
    int h, w;
    ok(rp_png_read_rgb(S.ctx, path, &pix, &h, &w));
    assert_int_equal(h, 2 * H);
    assert_int_equal(w, 2 * W);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            int v = (int)lrintf(S.x[i * W + j] * 255.0f), got = pix[((size_t)(2 * i + 1) * w + 2 * j) * 3];
            if (abs(v - got) > 1) fail_msg("pixel (%d,%d): %d, expected %d", i, j, got, v);
        }
    free(pix);
    static float map[P];
    for (size_t p = 0; p < P; p++) map[p] = (float)p / P - 0.5f;
    snprintf(path, sizeof path, "%s/ex.png", tu_tmpdir());
    ok(rp_xai_write_png(S.ctx, path, S.x, map, H, W, C, true, 0));
    ok(rp_png_read_rgb(S.ctx, path, &pix, &h, &w));
    assert_int_equal(h, 4 * H); /* 28 * 4 >= 112 */
    assert_int_equal(w, 3 * 4 * W + 8);
    free(pix);
    assert_int_equal(rp_xai_write_png(S.ctx, path, S.x, NULL, H, W, C, true, 0), RP_ERR_ARG);
    assert_int_equal(rp_image_write_png(S.ctx, path, S.x, H, W, 2, 1), RP_ERR_ARG);
    assert_int_equal(rp_image_write_png(S.ctx, path, S.x, H, W, 1, 0), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "scale 0"));
    map[5] = NAN;
    assert_int_equal(rp_xai_write_png(S.ctx, path, S.x, map, H, W, C, true, 1), RP_ERR_NUMERIC);
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", tu_tmpdir());
    assert_int_equal(rp_image_write_png(S.ctx, path, S.x, H, W, C, 1), RP_ERR_IO);
}

static void expect(rp_status got, rp_status want, const char *needle)
{
    if (got != want) fail_msg("status %s, expected %s (%s)", rp_status_name(got), rp_status_name(want), rp_ctx_error(S.ctx));
    if (needle && !strstr(rp_ctx_error(S.ctx), needle))
        fail_msg("message '%s' does not name '%s'", rp_ctx_error(S.ctx), needle);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    rp_explain_config cfg = rp_explain_defaults();
    rp_explainer *ex = NULL;
    expect(rp_explainer_create(S.ctx, NULL, &cfg, &ex), RP_ERR_ARG, "the model is NULL");
    expect(rp_explainer_create(S.ctx, S.cnn, NULL, &ex), RP_ERR_ARG, "the config is NULL");
    expect(rp_explainer_create(S.ctx, S.cnn, &cfg, NULL), RP_ERR_ARG, "out is NULL");
    rp_explain_config bad = cfg;
    bad.chunk = 0;
    expect(rp_explainer_create(S.ctx, S.cnn, &bad, &ex), RP_ERR_ARG, "chunk 0");
    bad = cfg, bad.layer = "conv9";
    expect(rp_explainer_create(S.ctx, S.cnn, &bad, &ex), RP_ERR_ARG, "'conv9'");
    bad = cfg, bad.ig_baseline = RP_BASELINE_CUSTOM;
    expect(rp_explainer_create(S.ctx, S.cnn, &bad, &ex), RP_ERR_ARG, "custom");
    assert_null(ex);
    ex = explainer(S.cnn, &cfg);
    static float map[B * P], xn[B * X];
    rp_xai_result r = {.map = map};
    expect(rp_xai_explain(ex, (rp_xai_method)42, S.x, S.y, B, &r), RP_ERR_ARG, "unknown method 42");
    expect(rp_xai_explain(ex, RP_XAI_SALIENCY, S.x, S.y, B, &(rp_xai_result){0}), RP_ERR_ARG, "no map");
    expect(rp_xai_explain(ex, RP_XAI_SALIENCY, S.x, S.y, B, NULL), RP_ERR_ARG, "no map");
    expect(rp_xai_explain(ex, RP_XAI_SALIENCY, S.x, NULL, B, &r), RP_ERR_ARG, "no targets");
    expect(rp_xai_explain(ex, RP_XAI_SALIENCY, NULL, S.y, B, &r), RP_ERR_ARG, "x is NULL");
    expect(rp_xai_explain(ex, RP_XAI_OCCLUSION, S.x, S.y, 0, &r), RP_ERR_ARG, "batch of 0");
    int32_t t[B] = {0, 1, 10, 2};
    expect(rp_xai_explain(ex, RP_XAI_GRADCAM, S.x, t, B, &r), RP_ERR_ARG, "target 10 of image 2");
    memcpy(xn, S.x, sizeof xn);
    xn[3 * X + 17] = INFINITY;
    expect(rp_xai_explain(ex, RP_XAI_IG, xn, S.y, B, &r), RP_ERR_NUMERIC, "image 3");
    rp_sanity_row rows[4];
    int n;
    expect(rp_sanity_randomization(ex, (rp_xai_method)-1, S.x, S.y, B, 0, rows, 4, &n), RP_ERR_ARG, "unknown method");
    expect(rp_sanity_randomization(ex, RP_XAI_SALIENCY, S.x, S.y, B, 0, NULL, 4, &n), RP_ERR_ARG, "rows");
    expect(rp_xai_deletion_insertion(ex, S.x, S.y, B, NULL, 10, 0, NULL, NULL), RP_ERR_ARG, "map");
    expect(rp_xai_deletion_insertion(ex, S.x, S.y, B, map, 0, 0, NULL, NULL), RP_ERR_ARG, "steps 0");
    int32_t tt[B];
    expect(rp_xai_targets(ex, S.x, NULL, B, (rp_target_kind)9, 0, tt), RP_ERR_ARG, "target kind 9");
    expect(rp_xai_targets(ex, S.x, NULL, B, RP_TARGET_PRED, 0, NULL), RP_ERR_ARG, "targets");
    int h, w;
    expect(rp_explainer_layer_shape(ex, NULL, &w), RP_ERR_ARG, "NULL");
    rp_explainer_destroy(ex);
    /* a NULL explainer has no context for a message, but still gets a status */
    assert_int_equal(rp_xai_explain(NULL, RP_XAI_SALIENCY, S.x, S.y, B, &r), RP_ERR_ARG);
    assert_int_equal(rp_xai_targets(NULL, S.x, NULL, B, RP_TARGET_PRED, 0, tt), RP_ERR_ARG);
    assert_int_equal(rp_explainer_layer_shape(NULL, &h, &w), RP_ERR_ARG);
    assert_int_equal(rp_sanity_randomization(NULL, RP_XAI_SALIENCY, S.x, S.y, B, 0, rows, 4, &n), RP_ERR_ARG);
    assert_int_equal(rp_xai_deletion_insertion(NULL, S.x, S.y, B, map, 10, 0, NULL, NULL), RP_ERR_ARG);
    assert_null(rp_explainer_layer(NULL));
    rp_explainer_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),         cmocka_unit_test(test_saliency_and_gradxinput),
        cmocka_unit_test(test_ig_complete),   cmocka_unit_test(test_targets),
        cmocka_unit_test(test_gradcam),       cmocka_unit_test(test_every_method),
        cmocka_unit_test(test_sanity_checks), cmocka_unit_test(test_png),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
