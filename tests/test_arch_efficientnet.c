/* efficientnet_b0 without PyTorch: torchvision 0.14's parameter counts, key names and
 * shapes, block structure (which blocks are residual, hence have stochastic depth), and a
 * whole model's training and evaluation passes: finite, the plan's bit-identical fusions
 * giving the plain run's bits, chains and folds within float rounding of it. The key set
 * and order against torchvision itself: test_efficientnet_ref.c. */
#include <math.h>

#include "model_testutil.h"

static rp_model_config config(int classes, int H, int max_batch)
{
    return mtu_config("efficientnet_b0", classes, H, max_batch);
}

static int count_kind(const rp_model *m, rp_layer_kind kind)
{
    return mtu_count_kind(&m->g, kind);
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
        double flops = mtu_expect_params(ctx, &c, cases[i].params);
        /* torchvision: 0.39 GFLOPS (multiply-adds) at 224 px; ours counts conv and linear FLOPs as 2 per
         * multiply-add */
        if (i == 0 && fabs(flops / 2e9 - 0.39) > 0.01) fail_msg("efficientnet_b0: %.3f G multiply-adds", flops / 2e9);
    }
    rp_model_config c = config(1000, 32, 1);
    rp_model *m = mtu_create(ctx, &c);
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
    rp_model *m = mtu_create(ctx, &c);
    assert_int_equal(rp_model_num_tensors(m), 360); /* torchvision's state_dict */
    mtu_expect_shape(m, "features.0.0.weight", 4, 32, 3, 3, 3);
    mtu_expect_shape(m, "features.0.1.num_batches_tracked", 0, 0, 0, 0, 0);
    mtu_expect_shape(m, "features.1.0.block.0.0.weight", 4, 32, 1, 3, 3); /* t = 1: no expand */
    mtu_expect_shape(m, "features.1.0.block.1.fc1.weight", 4, 8, 32, 1, 1);
    mtu_expect_shape(m, "features.1.0.block.1.fc1.bias", 1, 8, 0, 0, 0);
    mtu_expect_shape(m, "features.1.0.block.1.fc2.weight", 4, 32, 8, 1, 1);
    mtu_expect_shape(m, "features.1.0.block.2.0.weight", 4, 16, 32, 1, 1);
    mtu_expect_shape(m, "features.2.0.block.0.0.weight", 4, 96, 16, 1, 1);
    mtu_expect_shape(m, "features.2.0.block.1.0.weight", 4, 96, 1, 3, 3);
    mtu_expect_shape(m, "features.2.0.block.2.fc1.weight", 4, 4, 96, 1, 1); /* squeeze: the block's input / 4 */
    mtu_expect_shape(m, "features.3.0.block.1.0.weight", 4, 144, 1, 5, 5);
    mtu_expect_shape(m, "features.6.3.block.2.fc1.weight", 4, 48, 1152, 1, 1);
    mtu_expect_shape(m, "features.6.3.block.3.1.running_var", 1, 192, 0, 0, 0);
    mtu_expect_shape(m, "features.7.0.block.3.0.weight", 4, 320, 1152, 1, 1);
    mtu_expect_shape(m, "features.8.0.weight", 4, 1280, 320, 1, 1);
    mtu_expect_shape(m, "classifier.1.weight", 2, 1000, 1280, 0, 0);
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
    const rp_param *p = mtu_param(m, "features.4.1.block.2.fc1.bias");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 0.0f);
    p = mtu_param(m, "features.4.1.block.1.1.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 1.0f);
    p = mtu_param(m, "classifier.1.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(fabsf(p->data[i]) <= 1.0f / sqrtf(1000.0f));
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
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
    const mtu_passes p = {.config = config(10, 32, 3), .threads = 1, .train_all = RP_OPT_TRAIN_FOLD_ALWAYS,
                          .train_l2 = false, .train_folds = -1};
    mtu_check_passes(&p);
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
