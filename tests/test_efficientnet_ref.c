/* efficientnet_b0 against torchvision 0.14 (tests/reference/efficientnet.py): a torchvision
 * state_dict (random weights, calibrated batch-norm statistics) loads into rampart's model by
 * its own keys; evaluation mode gives torchvision's logits and input gradient, with the plan's
 * fusions and chains and without them; training mode (batch statistics; dropout and
 * stochastic depth off, as in the reference) its logits, input gradient and parameter
 * gradients, layer by layer and with the training fold.
 *
 * Tolerances: logits |ours - torch| <= 1e-4 + 1e-4 |torch| (float32 through 81 convs and 49
 * batch norms against float64: measured 6e-6 in evaluation); gradients: relative L2 error
 * <= 1e-4 in evaluation, 1e-3 in training (batch norms over as few as 16 values at the
 * last stages, as test_models_ref.c allows MobileNetV2), per parameter tensor by its norm and,
 * for a few tensors, element by element. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "kernels/conv2d.h"
#include "nn/model.h"
#include "testutil.h"

static float *read_all(rp_ctx *ctx, rp_st_file *f, const char *key, size_t *n)
{
    const rp_st_tensor *t = rp_st_find(f, key);
    if (!t) fail_msg("efficientnet_b0.safetensors: no tensor %s", key);
    float *v = malloc(t->numel * sizeof *v);
    assert_int_equal(rp_st_read_f32(ctx, f, key, v, t->numel), RP_OK);
    *n = t->numel;
    return v;
}

static void expect_rel_l2(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        s += (double)want[i] * want[i];
    }
    if (!(s > 0 && sqrt(d / s) <= tol)) fail_msg("%s: relative L2 error %g (tolerance %g)", what, sqrt(d / s), tol);
}

/* The training pass's gradients against the file: every tensor's norm, a few whole. Norms
 * within 1e-3 relative, or 1e-4 of the largest norm: a batch norm whose output goes through a
 * conv into a training-mode batch norm has a bias gradient that is zero in exact arithmetic
 * (the second one subtracts any per-channel shift), rounding noise in both implementations. */
static void expect_param_grads(rp_ctx *ctx, rp_st_file *f, const rp_model *m, const char *what)
{
    float largest = 0.0f;
    for (int i = 0; i < m->g.n_params; i++) {
        char key[96];
        float v;
        snprintf(key, sizeof key, "gnorm.%s", m->g.params[i].name);
        if (m->g.params[i].trainable && rp_st_read_f32(ctx, f, key, &v, 1) == RP_OK && v > largest) largest = v;
    }
    assert_true(largest > 0.0f);
    int whole = 0;
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        if (!p->trainable) continue;
        char key[96], msg[160];
        snprintf(key, sizeof key, "gnorm.%s", p->name);
        float want;
        if (rp_st_read_f32(ctx, f, key, &want, 1) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
        double ss = 0;
        for (size_t k = 0; k < p->numel; k++) ss += (double)p->grad[k] * p->grad[k];
        if (!(fabs(sqrt(ss) - want) <= 1e-3 * want + 1e-4 * largest))
            fail_msg("%s: |grad %s| %g, torchvision %g", what, p->name, sqrt(ss), (double)want);
        snprintf(key, sizeof key, "grad.%s", p->name);
        const rp_st_tensor *t = rp_st_find(f, key);
        if (!t) continue;
        size_t n;
        float *g = read_all(ctx, f, key, &n), *o = malloc(n * sizeof *o);
        assert_int_equal(n, p->numel);
        if (p->layout == RP_LAYOUT_OHWI) conv_weight_oihw_to_ohwi(o, g, (int)t->shape[0], (int)t->shape[1], (int)t->shape[2]);
        else memcpy(o, g, n * sizeof *o);
        snprintf(msg, sizeof msg, "%s: grad %s", what, p->name);
        expect_rel_l2(msg, p->grad, o, n, 1e-3);
        whole++;
        free(g);
        free(o);
    }
    assert_int_equal(whole, 7); /* GRAD_KEYS in tests/reference/efficientnet.py */
}

static void test_eval_against_torchvision(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    char path[512];
    rp_st_file *f;
    if (rp_st_open(ctx, tu_ref_path(path, sizeof path, "efficientnet_b0.safetensors"), &f) != RP_OK)
        fail_msg("%s", rp_ctx_error(ctx));
    int B = atoi(rp_st_meta(f, "B")), H = atoi(rp_st_meta(f, "H")), W = atoi(rp_st_meta(f, "W"));
    rp_model_config c = {.arch = "efficientnet_b0", .num_classes = 10, .H = H, .W = W, .C = 3,
                         .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}, .max_batch = B, .seed = 1};
    rp_model *m = NULL;
    if (rp_model_create(ctx, &c, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    /* every tensor NaN first: whatever the file does not set would show */
    for (int i = 0; i < m->g.n_params; i++)
        for (size_t k = 0; k < m->g.params[i].numel; k++) m->g.params[i].data[k] = NAN;
    if (rp_model_load_weights(ctx, m, tu_ref_path(path, sizeof path, "efficientnet_b0_weights.safetensors"), false) != RP_OK)
        fail_msg("%s", rp_ctx_error(ctx));
    size_t nx, ny, n;
    float *x = read_all(ctx, f, "x", &nx), *dy = read_all(ctx, f, "dy", &ny);
    float *want_y = read_all(ctx, f, "eval_logits", &n), *want_dx = read_all(ctx, f, "eval_dx", &n);
    assert_int_equal(nx, (size_t)B * H * W * 3);
    assert_int_equal(ny, (size_t)B * 10);
    float *dx = malloc(nx * sizeof *dx);
    const unsigned options[2] = {0, RP_OPT_NO_FUSION | RP_OPT_NO_CHAIN};
    for (int o = 0; o < 2; o++) {
        m->g.options = options[o];
        tu_assert_close(o ? "logits, plain" : "logits", rp_graph_forward(&m->g, x, B, false), want_y, ny, 1e-4f, 1e-4f);
        rp_graph_backward(&m->g, dy, dx, false);
        expect_rel_l2(o ? "input gradient, plain" : "input gradient", dx, want_dx, nx, 1e-4);
    }
    rp_model_destroy(m);

    /* training mode without dropout and stochastic depth: the model rp_model_create makes,
     * built with p = 0 for both */
    m = calloc(1, sizeof *m);
    m->ctx = ctx;
    m->cfg = c;
    snprintf(m->arch, sizeof m->arch, "%s", c.arch);
    m->cfg.arch = m->arch;
    rp_graph_init(&m->g, ctx, (rp_shape){H, W, 3});
    assert_true(rp_build_efficientnet_b0_opts(&m->g, &m->cfg, 0.0f, 0.0f) >= 0);
    assert_int_equal(rp_graph_finalize(&m->g, B, 1), RP_OK);
    float *train_y = read_all(ctx, f, "train_logits", &n), *train_dx = read_all(ctx, f, "train_dx", &n);
    const unsigned train_options[2] = {RP_OPT_NO_TRAIN_FOLD, RP_OPT_TRAIN_FOLD_ALWAYS};
    for (int o = 0; o < 2; o++) {
        const char *what = o ? "training, fold" : "training";
        /* the same weights and running statistics for each pass */
        if (rp_model_load_weights(ctx, m, tu_ref_path(path, sizeof path, "efficientnet_b0_weights.safetensors"), false) != RP_OK)
            fail_msg("%s", rp_ctx_error(ctx));
        m->g.options = train_options[o];
        tu_assert_close(what, rp_graph_forward(&m->g, x, B, true), train_y, ny, 1e-4f, 1e-4f);
        rp_graph_zero_grad(&m->g);
        rp_graph_backward(&m->g, dy, dx, true);
        expect_rel_l2(what, dx, train_dx, nx, 1e-3);
        expect_param_grads(ctx, f, m, what);
        if (o) assert_true(rp_plan_count(m->g.last_plan, RP_STEP_CONV_BN_TRAIN) > 0);
    }
    free(train_y);
    free(train_dx);
    free(x);
    free(dy);
    free(dx);
    free(want_y);
    free(want_dx);
    rp_model_destroy(m);
    rp_st_close(f);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_against_torchvision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
