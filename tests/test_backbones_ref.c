/* resnet50, resnext50_32x4d and densenet121 against torchvision 0.14 (tests/reference/
 * backbones.py; as test_efficientnet_ref.c for efficientnet_b0): a torchvision state_dict
 * (random weights, calibrated batch-norm statistics) loads into rampart's model by its own
 * keys (every tensor NaN before: nothing unset); evaluation mode gives torchvision's logits
 * and input gradient, with the plan's fusions and chains and without them; training mode
 * (batch statistics) its logits, input gradient and parameter gradients. 64 px, 2 images,
 * float64 references. The reference keeps every ReLU input >= 1e-5 from 0 and the two largest
 * entries of every max-pool window >= 1e-6 apart (asserted from the metadata), so float
 * rounding cannot flip a mask or a max.
 *
 * Tolerances, with the largest errors measured (printed by each run):
 *   logits              |ours - torch| <= 1e-4 + 1e-4 |torch|   (6e-6: 0.03 of it)
 *   input gradient      relative L2 <= 1e-4                     (eval 9e-7, training 8e-6)
 *   parameter gradients each tensor's norm within 1e-4 relative + 1e-5 of the largest norm,
 *                       seven whole tensors relative L2 <= 1e-4 (1.2e-5)
 * The training fold (CONV_BN_TRAIN) is forced for densenet121 only, whose one widening
 * pointwise conv has 64 inputs: the ResNets' (64 to 512 inputs, up to 2048 outputs) never pass
 * pwbn_worth, and forcing it there costs about a minute of pwbn_backward's C x C x OC loops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "kernels/conv2d.h"
#include "nn/model.h"
#include "testutil.h"

enum { CLASSES = 10, GRAD_KEYS = 7 /* per model in tests/reference/backbones.py */ };

static float *read_all(rp_ctx *ctx, rp_st_file *f, const char *key, size_t *n)
{
    const rp_st_tensor *t = rp_st_find(f, key);
    if (!t) fail_msg("reference file: no tensor %s", key);
    float *v = malloc(t->numel * sizeof *v);
    assert_int_equal(rp_st_read_f32(ctx, f, key, v, t->numel), RP_OK);
    *n = t->numel;
    return v;
}

static const char *meta(rp_st_file *f, const char *key)
{
    const char *v = rp_st_meta(f, key);
    if (!v) fail_msg("reference file: no metadata %s", key);
    return v;
}

static double rel_l2(const float *got, const float *want, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        s += (double)want[i] * want[i];
    }
    return s > 0 ? sqrt(d / s) : INFINITY;
}

static void expect_rel_l2(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double e = rel_l2(got, want, n);
    if (!(e <= tol)) fail_msg("%s: relative L2 error %g (tolerance %g)", what, e, tol);
    print_message("  %-40s relative L2 error %.2e (tolerance %.0e)\n", what, e, tol);
}

/* logits within 1e-4 + 1e-4 |ref|; prints the largest |error| / (1e-4 + 1e-4 |ref|) */
static void expect_logits(const char *what, const float *got, const float *want, size_t n)
{
    double worst = 0, abs_err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (e / (1e-4 + 1e-4 * fabs(want[i])) > worst) worst = e / (1e-4 + 1e-4 * fabs(want[i]));
        if (e > abs_err) abs_err = e;
    }
    tu_assert_close(what, got, want, n, 1e-4f, 1e-4f);
    print_message("  %-40s max |error| %.2e (%.2f of the tolerance)\n", what, abs_err, worst);
}

/* The training pass's gradients against the file: every tensor's norm, a few whole. Norms
 * within 1e-4 relative plus 1e-5 of the largest norm (a gradient that is zero in exact
 * arithmetic is rounding noise in both implementations). */
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
    double worst_norm = 0, worst_whole = 0;
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        if (!p->trainable) continue;
        char key[96], msg[160];
        snprintf(key, sizeof key, "gnorm.%s", p->name);
        float want;
        if (rp_st_read_f32(ctx, f, key, &want, 1) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
        double ss = 0;
        for (size_t k = 0; k < p->numel; k++) ss += (double)p->grad[k] * p->grad[k];
        double err = fabs(sqrt(ss) - want), tol = 1e-4 * want + 1e-5 * largest;
        if (!(err <= tol)) fail_msg("%s: |grad %s| %g, torchvision %g", what, p->name, sqrt(ss), (double)want);
        if (err / tol > worst_norm) worst_norm = err / tol;
        snprintf(key, sizeof key, "grad.%s", p->name);
        const rp_st_tensor *t = rp_st_find(f, key);
        if (!t) continue;
        size_t n;
        float *g = read_all(ctx, f, key, &n), *o = malloc(n * sizeof *o);
        assert_int_equal(n, p->numel);
        if (p->layout == RP_LAYOUT_OHWI)
            conv_weight_oihw_to_ohwi(o, g, (int)t->shape[0], (int)t->shape[1], (int)t->shape[2]);
        else memcpy(o, g, n * sizeof *o);
        snprintf(msg, sizeof msg, "%s: grad %s", what, p->name);
        double e = rel_l2(p->grad, o, n);
        if (!(e <= 1e-4)) fail_msg("%s: relative L2 error %g (tolerance 1e-4)", msg, e);
        if (e > worst_whole) worst_whole = e;
        whole++;
        free(g);
        free(o);
    }
    assert_int_equal(whole, GRAD_KEYS);
    print_message("  %-40s gradient norms at most %.1e of their tolerance; %d whole gradients within %.2e "
                  "relative L2\n", what, worst_norm, whole, worst_whole);
}

static void run_case(const char *arch, bool fold)
{
    rp_ctx *ctx = rp_ctx_create(2);
    char path[512], file[96], weights[96];
    snprintf(file, sizeof file, "%s.safetensors", arch);
    snprintf(weights, sizeof weights, "%s_weights.safetensors", arch);
    rp_st_file *f;
    if (rp_st_open(ctx, tu_ref_path(path, sizeof path, file), &f) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    int B = atoi(meta(f, "B")), H = atoi(meta(f, "H")), W = atoi(meta(f, "W"));
    double kink = strtod(meta(f, "kink_margin"), NULL), pool = strtod(meta(f, "pool_margin"), NULL);
    if (!(kink >= 1e-5 && pool >= 1e-6))
        fail_msg("%s: the reference's ReLU inputs come %g from 0 and its max-pool windows' two largest entries "
                 "%g from each other (need 1e-5 and 1e-6: float32 could choose otherwise)", file, kink, pool);
    rp_model_config c = {.arch = arch, .num_classes = CLASSES, .H = H, .W = W, .C = 3,
                         .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}, .max_batch = B, .seed = 1};
    rp_model *m = NULL;
    if (rp_model_create(ctx, &c, &m) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    /* every tensor NaN first: whatever the file does not set would show */
    for (int i = 0; i < m->g.n_params; i++)
        for (size_t k = 0; k < m->g.params[i].numel; k++) m->g.params[i].data[k] = NAN;
    if (rp_model_load_weights(ctx, m, tu_ref_path(path, sizeof path, weights), false) != RP_OK)
        fail_msg("%s", rp_ctx_error(ctx));
    print_message("%s (%d x %dx%d):\n", arch, B, H, W);
    size_t nx, ny, n;
    float *x = read_all(ctx, f, "x", &nx), *dy = read_all(ctx, f, "dy", &ny);
    float *want_y = read_all(ctx, f, "eval_logits", &n), *want_dx = read_all(ctx, f, "eval_dx", &n);
    assert_int_equal(nx, (size_t)B * H * W * 3);
    assert_int_equal(ny, (size_t)B * CLASSES);
    float *dx = malloc(nx * sizeof *dx);
    const unsigned options[2] = {0, RP_OPT_NO_FUSION | RP_OPT_NO_CHAIN};
    for (int o = 0; o < 2; o++) {
        m->g.options = options[o];
        expect_logits(o ? "evaluation logits, plain" : "evaluation logits", rp_graph_forward(&m->g, x, B, false),
                      want_y, ny);
        rp_graph_backward(&m->g, dy, dx, false);
        expect_rel_l2(o ? "evaluation input gradient, plain" : "evaluation input gradient", dx, want_dx, nx, 1e-4);
    }
    float *train_y = read_all(ctx, f, "train_logits", &n), *train_dx = read_all(ctx, f, "train_dx", &n);
    const unsigned train_options[2] = {RP_OPT_NO_TRAIN_FOLD, RP_OPT_TRAIN_FOLD_ALWAYS};
    for (int o = 0; o < 1 + fold; o++) {
        const char *what = o ? "training, fold" : "training";
        /* the same weights and running statistics for each pass */
        if (rp_model_load_weights(ctx, m, tu_ref_path(path, sizeof path, weights), false) != RP_OK)
            fail_msg("%s", rp_ctx_error(ctx));
        m->g.options = train_options[o];
        expect_logits(what, rp_graph_forward(&m->g, x, B, true), train_y, ny);
        rp_graph_zero_grad(&m->g);
        rp_graph_backward(&m->g, dy, dx, true);
        expect_rel_l2(o ? "training input gradient, fold" : "training input gradient", dx, train_dx, nx, 1e-4);
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

static void test_resnet50(void **state)
{
    (void)state;
    run_case("resnet50", false);
}

static void test_resnext50_32x4d(void **state)
{
    (void)state;
    run_case("resnext50_32x4d", false);
}

static void test_densenet121(void **state)
{
    (void)state;
    run_case("densenet121", true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet50),
        cmocka_unit_test(test_resnext50_32x4d),
        cmocka_unit_test(test_densenet121),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
