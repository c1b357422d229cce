/* resnet50 and resnext50_32x4d without PyTorch: torchvision 0.14's parameter counts and
 * multiply-adds, key names and shapes, the Bottleneck's structure (stride on the 3x3 conv,
 * ResNeXt's 32 groups, which blocks have a downsample), initialisation, and a whole model's
 * training and evaluation passes: finite, the plan's bit-identical fusions giving the plain
 * run's bits, chains within float rounding of it. The key set and order against torchvision
 * itself, and its logits and gradients: test_backbones_ref.c. */
#include <math.h>

#include "model_testutil.h"

static rp_model_config config(const char *arch, int classes, int H, int max_batch)
{
    return mtu_config(arch, classes, H, max_batch);
}

static int count_kind(const rp_model *m, rp_layer_kind kind)
{
    return mtu_count_kind(&m->g, kind);
}

static rp_shape out_shape(const rp_model *m, const char *node)
{
    return m->g.nodes[mtu_node(m, node)].out_shape;
}

/* torchvision's documented num_params (1000 classes; 200 classes remove 800 * (2048 + 1)) and
 * the multiply-adds PyTorch's forward hooks count on its convs and linears at 224 px
 * ("4.09 GFLOPS" and "4.23 GFLOPS" in its documentation); FLOPs are twice that. */
static void test_counts(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    const struct { const char *arch; size_t p1000, p200; double macs; } cases[] = {
        {"resnet50", 25557032, 23917832, 4089184256.0},
        {"resnext50_32x4d", 25028904, 23389704, 4230479872.0},
    };
    for (int i = 0; i < 2; i++) {
        const size_t want[2] = {cases[i].p1000, cases[i].p200};
        const int classes[2] = {1000, 200};
        for (int k = 0; k < 2; k++) {
            rp_model_config c = config(cases[i].arch, classes[k], 224, 1);
            mtu_expect_params(ctx, &c, want[k]);
        }
        rp_model_config c = config(cases[i].arch, 1000, 224, 1);
        if (mtu_gemm_flops(&c, NULL) != 2.0 * cases[i].macs)
            fail_msg("%s: %.0f conv and linear multiply-adds at 224 px, torchvision %.0f", cases[i].arch,
                     mtu_gemm_flops(&c, NULL) / 2, cases[i].macs);
        c = config(cases[i].arch, 1000, 32, 1);
        rp_model *m = mtu_create(ctx, &c);
        assert_int_equal(rp_model_num_params(m), cases[i].p1000);
        assert_int_equal(rp_model_num_tensors(m), 320); /* torchvision's state_dict */
        rp_model_destroy(m);
        rp_model_config bad = config(cases[i].arch, 10, 32, 1);
        bad.width = 0.5f;
        rp_model *none = NULL;
        assert_int_equal(rp_model_create(ctx, &bad, &none), RP_ERR_ARG);
        assert_null(none);
    }
    rp_ctx_destroy(ctx);
}

/* Structure shared by both: 16 Bottlenecks (3, 4, 6, 3), each 3 conv+BN, 2 inner ReLUs, an add
 * and a ReLU; downsample in each layer's first block (layer1's too: 64 -> 256 channels). */
static void expect_bottlenecks(const rp_model *m)
{
    assert_int_equal(count_kind(m, RP_LAYER_CONV2D), 1 + 16 * 3 + 4);
    assert_int_equal(count_kind(m, RP_LAYER_BATCHNORM2D), 1 + 16 * 3 + 4);
    assert_int_equal(count_kind(m, RP_LAYER_ADD), 16);
    assert_int_equal(count_kind(m, RP_LAYER_RELU), 1 + 16 * 3);
    assert_int_equal(count_kind(m, RP_LAYER_MAXPOOL2D), 1);
    const char *down[] = {"layer1.0.downsample.0", "layer2.0.downsample.0", "layer3.0.downsample.0",
                          "layer4.0.downsample.0"};
    for (int i = 0; i < 4; i++) assert_true(rp_graph_find_node(&m->g, down[i]) >= 0);
    assert_true(rp_graph_find_node(&m->g, "layer1.1.downsample.0") < 0);
    assert_true(rp_graph_find_node(&m->g, "layer3.5.downsample.0") < 0);
    assert_true(rp_graph_find_node(&m->g, "layer3.6") < 0);
    /* v1.5: at 64 px layer1 is 16x16; layer2's first block keeps 16x16 through conv1 and
     * halves it in conv2 (the 3x3), as its downsample does */
    assert_int_equal(out_shape(m, "layer2.0.conv1").H, 16);
    assert_int_equal(out_shape(m, "layer2.0.conv2").H, 8);
    assert_int_equal(out_shape(m, "layer2.0.downsample.0").H, 8);
    assert_int_equal(out_shape(m, "layer4.2").H, 2);
    assert_int_equal(out_shape(m, "layer4.2").C, 2048);
    assert_int_equal(out_shape(m, "layer1.0").C, 256);
    /* a block's output is its final ReLU, named after the block, reading the add */
    int b = rp_graph_find_node(&m->g, "layer3.2");
    assert_int_equal(m->g.nodes[b].ops->kind, RP_LAYER_RELU);
    assert_int_equal(m->g.nodes[b].in[0], rp_graph_find_node(&m->g, "layer3.2.add"));
}

static void expect_torchvision_init(const rp_model *m)
{
    const rp_param *p = mtu_param(m, "layer2.1.bn3.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 1.0f); /* no zero-init residual */
    p = mtu_param(m, "layer2.1.bn3.bias");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 0.0f);
    const float bound = 1.0f / sqrtf(2048.0f);
    bool nonzero = false;
    p = mtu_param(m, "fc.bias"); /* ResNet keeps nn.Linear's default U(+-1/sqrt(in)) for the bias too */
    for (size_t i = 0; i < p->numel; i++) assert_true(fabsf(p->data[i]) <= bound), nonzero |= p->data[i] != 0.0f;
    assert_true(nonzero);
    p = mtu_param(m, "fc.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(fabsf(p->data[i]) <= bound);
    mtu_expect_kaiming(m, "layer3.0.conv2.weight", true); /* PyTorch's fan_out: groups ignored */
    mtu_expect_kaiming(m, "layer4.0.conv3.weight", true);
}

static void test_resnet50_structure(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("resnet50", 1000, 64, 1);
    rp_model *m = mtu_create(ctx, &c);
    mtu_expect_shape(m, "conv1.weight", 4, 64, 3, 7, 7);
    mtu_expect_shape(m, "bn1.num_batches_tracked", 0, 0, 0, 0, 0);
    mtu_expect_shape(m, "layer1.0.conv1.weight", 4, 64, 64, 1, 1);
    mtu_expect_shape(m, "layer1.0.conv2.weight", 4, 64, 64, 3, 3);
    mtu_expect_shape(m, "layer1.0.conv3.weight", 4, 256, 64, 1, 1);
    mtu_expect_shape(m, "layer1.0.downsample.0.weight", 4, 256, 64, 1, 1);
    mtu_expect_shape(m, "layer1.1.conv1.weight", 4, 64, 256, 1, 1);
    mtu_expect_shape(m, "layer2.0.conv2.weight", 4, 128, 128, 3, 3);
    mtu_expect_shape(m, "layer3.5.bn3.running_var", 1, 1024, 0, 0, 0);
    mtu_expect_shape(m, "layer4.0.downsample.0.weight", 4, 2048, 1024, 1, 1);
    mtu_expect_shape(m, "layer4.2.conv3.weight", 4, 2048, 512, 1, 1);
    mtu_expect_shape(m, "fc.weight", 2, 1000, 2048, 0, 0);
    expect_bottlenecks(m);
    expect_torchvision_init(m);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* ResNeXt-50 32x4d: width = planes * 4 / 64 * 32 = 2 planes, the 3x3 conv in 32 groups */
static void test_resnext50_structure(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("resnext50_32x4d", 1000, 64, 1);
    rp_model *m = mtu_create(ctx, &c);
    mtu_expect_shape(m, "layer1.0.conv1.weight", 4, 128, 64, 1, 1);
    mtu_expect_shape(m, "layer1.0.conv2.weight", 4, 128, 4, 3, 3);
    mtu_expect_shape(m, "layer1.0.conv3.weight", 4, 256, 128, 1, 1);
    mtu_expect_shape(m, "layer2.0.conv2.weight", 4, 256, 8, 3, 3);
    mtu_expect_shape(m, "layer3.3.conv2.weight", 4, 512, 16, 3, 3);
    mtu_expect_shape(m, "layer4.0.conv1.weight", 4, 1024, 1024, 1, 1);
    mtu_expect_shape(m, "layer4.2.conv2.weight", 4, 1024, 32, 3, 3);
    mtu_expect_shape(m, "layer4.2.conv3.weight", 4, 2048, 1024, 1, 1);
    mtu_expect_shape(m, "fc.weight", 2, 1000, 2048, 0, 0);
    expect_bottlenecks(m);
    expect_torchvision_init(m);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* Training and evaluation: every output finite; the bit-identical fusions give the plain
 * run's bits; evaluation with chains within 1e-4 relative L2 of it, part by part (logits,
 * input gradient, parameter gradients). No training fold is forced: pwbn_worth never takes it
 * for these convs (64 to 1024 inputs), and its C x C x OC backward is slow for them. */
static void check_passes(const char *arch)
{
    const mtu_passes p = {.config = config(arch, 10, 32, 3), .threads = 2, .train_all = 0, .train_l2 = true,
                          .train_folds = -1};
    mtu_check_passes(&p);
}

static void test_resnet50_passes(void **state)
{
    (void)state;
    check_passes("resnet50");
}

static void test_resnext50_passes(void **state)
{
    (void)state;
    check_passes("resnext50_32x4d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_resnet50_structure),
        cmocka_unit_test(test_resnext50_structure),
        cmocka_unit_test(test_resnet50_passes),
        cmocka_unit_test(test_resnext50_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
