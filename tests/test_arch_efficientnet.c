/* efficientnet_b0 without PyTorch: torchvision 0.14's parameter counts, key names and
 * shapes, block structure (which blocks are residual, hence have stochastic depth), and a
 * whole model's training and evaluation passes: finite, the plan's bit-identical fusions
 * giving the plain run's bits, chains and folds within float rounding of it. The key set
 * and order against torchvision itself: test_efficientnet_ref.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "testutil.h"

static rp_model_config config(int classes, int H, int max_batch)
{
    rp_model_config c = {.arch = "efficientnet_b0", .num_classes = classes, .H = H, .W = H, .C = 3,
                         .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
                         .max_batch = max_batch, .seed = 7};
    return c;
}

static rp_model *create(rp_ctx *ctx, const rp_model_config *c)
{
    rp_model *m = NULL;
    if (rp_model_create(ctx, c, &m) != RP_OK) fail_msg("%s: %s", c->arch, rp_ctx_error(ctx));
    return m;
}

static void expect_shape(const rp_model *m, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int i = rp_graph_find_param(&m->g, name);
    if (i < 0) fail_msg("no parameter %s", name);
    const rp_param *p = &m->g.params[i];
    int64_t want[4] = {a, b, c, d};
    assert_int_equal(p->ndim, ndim);
    for (int k = 0; k < ndim; k++)
        if (p->shape[k] != want[k])
            fail_msg("%s: dim %d is %lld, torchvision has %lld", name, k, (long long)p->shape[k], (long long)want[k]);
}

static int count_kind(const rp_model *m, rp_layer_kind kind)
{
    int n = 0;
    for (int i = 0; i < m->g.n_nodes; i++) n += m->g.nodes[i].ops->kind == kind;
    return n;
}

/* torchvision's documented num_params 5,288,548 at 1000 classes; 200 classes remove
 * 800 * (1280 + 1). */
static void test_param_counts(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    const struct { int classes; size_t params; } cases[] = {{1000, 5288548}, {200, 4263748}};
    for (int i = 0; i < 2; i++) {
        rp_model_config c = config(cases[i].classes, 224, 1);
        size_t params = 0;
        double flops = 0.0;
        if (rp_model_cost(ctx, &c, &params, &flops) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
        if (params != cases[i].params)
            fail_msg("efficientnet_b0 at %d classes: %zu parameters, torchvision has %zu", cases[i].classes, params,
                     cases[i].params);
        /* torchvision: 0.39 GFLOPS (multiply-adds) at 224 px; ours counts conv and linear FLOPs as 2 per
         * multiply-add */
        if (i == 0 && fabs(flops / 2e9 - 0.39) > 0.01) fail_msg("efficientnet_b0: %.3f G multiply-adds", flops / 2e9);
    }
    rp_model_config c = config(1000, 32, 1);
    rp_model *m = create(ctx, &c);
    assert_int_equal(rp_model_num_params(m), 5288548);
    rp_model_destroy(m);
    rp_model_config bad = config(10, 32, 1);
    bad.width = 0.5f;
    rp_model *none = NULL;
    assert_int_equal(rp_model_create(ctx, &bad, &none), RP_ERR_ARG);
    assert_null(none);
    rp_ctx_destroy(ctx);
}

static void test_keys_and_structure(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config(1000, 32, 1);
    rp_model *m = create(ctx, &c);
    assert_int_equal(rp_model_num_tensors(m), 360); /* torchvision's state_dict */
    expect_shape(m, "features.0.0.weight", 4, 32, 3, 3, 3);
    expect_shape(m, "features.0.1.num_batches_tracked", 0, 0, 0, 0, 0);
    expect_shape(m, "features.1.0.block.0.0.weight", 4, 32, 1, 3, 3); /* t = 1: no expand */
    expect_shape(m, "features.1.0.block.1.fc1.weight", 4, 8, 32, 1, 1);
    expect_shape(m, "features.1.0.block.1.fc1.bias", 1, 8, 0, 0, 0);
    expect_shape(m, "features.1.0.block.1.fc2.weight", 4, 32, 8, 1, 1);
    expect_shape(m, "features.1.0.block.2.0.weight", 4, 16, 32, 1, 1);
    expect_shape(m, "features.2.0.block.0.0.weight", 4, 96, 16, 1, 1);
    expect_shape(m, "features.2.0.block.1.0.weight", 4, 96, 1, 3, 3);
    expect_shape(m, "features.2.0.block.2.fc1.weight", 4, 4, 96, 1, 1); /* squeeze: the block's input / 4 */
    expect_shape(m, "features.3.0.block.1.0.weight", 4, 144, 1, 5, 5);
    expect_shape(m, "features.6.3.block.2.fc1.weight", 4, 48, 1152, 1, 1);
    expect_shape(m, "features.6.3.block.3.1.running_var", 1, 192, 0, 0, 0);
    expect_shape(m, "features.7.0.block.3.0.weight", 4, 320, 1152, 1, 1);
    expect_shape(m, "features.8.0.weight", 4, 1280, 320, 1, 1);
    expect_shape(m, "classifier.1.weight", 2, 1000, 1280, 0, 0);
    /* 16 blocks; residual iff stride 1 and in == out: the 9 that are not a stage's first */
    assert_int_equal(count_kind(m, RP_LAYER_CHANNEL_MUL), 16);
    assert_int_equal(count_kind(m, RP_LAYER_SIGMOID), 16);
    assert_int_equal(count_kind(m, RP_LAYER_STOCHASTIC_DEPTH), 9);
    assert_int_equal(count_kind(m, RP_LAYER_ADD), 9);
    assert_int_equal(count_kind(m, RP_LAYER_SILU), 49); /* stem, head, 3 per block (2 in block 1.0) */
    assert_int_equal(count_kind(m, RP_LAYER_BATCHNORM2D), 49);
    assert_int_equal(count_kind(m, RP_LAYER_CONV2D), 81);
    assert_true(rp_graph_find_node(&m->g, "features.2.1") >= 0);
    assert_true(rp_graph_find_node(&m->g, "features.2.1.stochastic_depth") >= 0);
    assert_true(rp_graph_find_node(&m->g, "features.2.0.stochastic_depth") < 0);
    assert_true(rp_graph_find_node(&m->g, "features.7.0.stochastic_depth") < 0);
    assert_true(rp_graph_find_node(&m->g, "features.6.3.stochastic_depth") >= 0);
    /* torchvision's init: BN 1 and 0, conv and SE biases 0, fc1's weight N(0, 2/fan_out) */
    const rp_param *p = &m->g.params[rp_graph_find_param(&m->g, "features.4.1.block.2.fc1.bias")];
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 0.0f);
    p = &m->g.params[rp_graph_find_param(&m->g, "features.4.1.block.1.1.weight")];
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 1.0f);
    p = &m->g.params[rp_graph_find_param(&m->g, "classifier.1.weight")];
    for (size_t i = 0; i < p->numel; i++) assert_true(fabsf(p->data[i]) <= 1.0f / sqrtf(1000.0f));
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

enum { B = 3, HW = 32, CLASSES = 10 };

/* OWNED: logits, input gradient and every parameter gradient of one pass under options */
static float *run_pass(unsigned options, bool train, const float *x, const float *dy, size_t *n)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config(CLASSES, HW, B);
    rp_model *m = create(ctx, &c);
    m->g.options = options;
    size_t nx = (size_t)B * HW * HW * 3, ny = (size_t)B * CLASSES, np = 0;
    for (int i = 0; i < m->g.n_params; i++) np += m->g.params[i].grad ? m->g.params[i].numel : 0;
    float *out = malloc((ny + nx + np) * sizeof *out);
    memcpy(out, rp_graph_forward(&m->g, x, B, train), ny * sizeof(float));
    rp_graph_zero_grad(&m->g);
    rp_graph_backward(&m->g, dy, out + ny, true);
    size_t at = ny + nx;
    for (int i = 0; i < m->g.n_params; i++)
        if (m->g.params[i].grad) {
            memcpy(out + at, m->g.params[i].grad, m->g.params[i].numel * sizeof(float));
            at += m->g.params[i].numel;
        }
    *n = at;
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
    return out;
}

/* Training (stochastic depth and dropout on: the runs draw the same masks from the same seed)
 * and evaluation: every output finite; the bit-identical fusions give the plain run's bits.
 * Evaluation with chains and folds: the relative L2 difference of each part (logits, input
 * gradient, parameter gradients) under 1e-4. Training with the fold wherever it applies: only
 * finite. At 32 px and B = 3 the last stages' batch norms normalise over 3 to 12 values, which
 * magnifies any change of rounding (the fold against the plain run: 2e-2 here in the
 * gradients, 5e-2 for MobileNetV2 under the same conditions); the fold's accuracy is tested
 * in test_pwbn.c and test_models_ref.c. */
static void test_passes(void **state)
{
    (void)state;
    size_t nx = (size_t)B * HW * HW * 3, ny = (size_t)B * CLASSES;
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
    tu_fill_uniform(x, nx, 0, 1, 170);
    tu_fill_uniform(dy, ny, -1, 1, 171);
    for (int train = 0; train < 2; train++) {
        const unsigned exact = RP_OPT_NO_CHAIN | RP_OPT_NO_TRAIN_FOLD;
        size_t n0, n1, n2;
        float *plain = run_pass(exact | RP_OPT_NO_FUSION, train, x, dy, &n0);
        float *fused = run_pass(exact, train, x, dy, &n1);
        float *all = run_pass(train ? RP_OPT_TRAIN_FOLD_ALWAYS : 0, train, x, dy, &n2);
        assert_int_equal(n0, n1);
        assert_int_equal(n0, n2);
        for (size_t i = 0; i < n0; i++)
            if (!isfinite(plain[i]) || !isfinite(all[i]))
                fail_msg("%s pass: element %zu is %g, with every fusion %g", train ? "training" : "evaluation", i,
                         (double)plain[i], (double)all[i]);
        assert_memory_equal(plain, fused, n0 * sizeof(float));
        size_t parts[4] = {0, ny, ny + nx, n0};
        for (int k = 0; k < 3 && !train; k++) {
            double d = 0, s = 0;
            for (size_t i = parts[k]; i < parts[k + 1]; i++) {
                d += ((double)all[i] - plain[i]) * ((double)all[i] - plain[i]);
                s += (double)plain[i] * plain[i];
            }
            if (!(sqrt(d) <= 1e-4 * sqrt(s) + 1e-12))
                fail_msg("evaluation, part %d: relative L2 difference %g with chains and folds", k, sqrt(d / s));
        }
        free(plain);
        free(fused);
        free(all);
    }
    free(x);
    free(dy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_keys_and_structure),
        cmocka_unit_test(test_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
