/* densenet121 without PyTorch: torchvision 0.14's parameter counts and multiply-adds, key
 * names and shapes, the dense blocks' structure (BN-ReLU-conv, the running concatenation
 * and its channel counts, transitions halving channels and size), initialisation, what the
 * concatenations cost in memory, and a whole model's training and evaluation passes: finite,
 * the plan's bit-identical fusions giving the plain run's bits, chains and the training fold
 * within float rounding of it. The key set and order against torchvision itself, and its
 * logits and gradients: test_backbones_ref.c. */
#include <math.h>

#include "model_testutil.h"

static rp_model_config config(int classes, int H, int max_batch)
{
    return mtu_config("densenet121", classes, H, max_batch);
}

/* torchvision's documented num_params 7,978,856 at 1000 classes (200 classes remove
 * 800 * (1024 + 1)), and the multiply-adds PyTorch's forward hooks count on its convs and
 * linear at 224 px ("2.83 GFLOPS" in its documentation); FLOPs are twice that. */
static void test_counts(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    const struct { int classes; size_t params; } cases[] = {{1000, 7978856}, {200, 7158856}};
    for (int i = 0; i < 2; i++) {
        rp_model_config c = config(cases[i].classes, 224, 1);
        mtu_expect_params(ctx, &c, cases[i].params);
    }
    rp_model_config c = config(1000, 224, 1);
    double gemm = mtu_gemm_flops(&c, NULL);
    if (gemm != 2.0 * 2834161664.0)
        fail_msg("densenet121: %.0f multiply-adds at 224 px, torchvision 2834161664", gemm / 2);
    c = config(1000, 32, 1);
    rp_model *m = mtu_create(ctx, &c);
    assert_int_equal(rp_model_num_params(m), 7978856);
    assert_int_equal(rp_model_num_tensors(m), 727); /* torchvision's state_dict */
    rp_model_destroy(m);
    rp_model *none = NULL;
    c.width = 0.5f;
    assert_int_equal(rp_model_create(ctx, &c, &none), RP_ERR_ARG);
    assert_null(none);
    c = config(10, 16, 1); /* 16 px leave transition3's 2x2 average pool a 1x1 input, as in PyTorch */
    assert_int_equal(rp_model_create(ctx, &c, &none), RP_ERR_SHAPE);
    assert_null(none);
    rp_ctx_destroy(ctx);
}

static void test_keys_and_structure(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config(1000, 64, 1);
    rp_model *m = mtu_create(ctx, &c);
    mtu_expect_shape(m, "features.conv0.weight", 4, 64, 3, 7, 7);
    mtu_expect_shape(m, "features.norm0.num_batches_tracked", 0, 0, 0, 0, 0);
    mtu_expect_shape(m, "features.denseblock1.denselayer1.norm1.weight", 1, 64, 0, 0, 0);
    mtu_expect_shape(m, "features.denseblock1.denselayer1.conv1.weight", 4, 128, 64, 1, 1);
    mtu_expect_shape(m, "features.denseblock1.denselayer1.norm2.running_mean", 1, 128, 0, 0, 0);
    mtu_expect_shape(m, "features.denseblock1.denselayer1.conv2.weight", 4, 32, 128, 3, 3);
    mtu_expect_shape(m, "features.denseblock1.denselayer6.norm1.running_var", 1, 224, 0, 0, 0);
    mtu_expect_shape(m, "features.transition1.norm.weight", 1, 256, 0, 0, 0);
    mtu_expect_shape(m, "features.transition1.conv.weight", 4, 128, 256, 1, 1);
    mtu_expect_shape(m, "features.denseblock2.denselayer12.conv1.weight", 4, 128, 480, 1, 1);
    mtu_expect_shape(m, "features.transition2.conv.weight", 4, 256, 512, 1, 1);
    mtu_expect_shape(m, "features.denseblock3.denselayer24.norm1.num_batches_tracked", 0, 0, 0, 0, 0);
    mtu_expect_shape(m, "features.denseblock3.denselayer24.conv1.weight", 4, 128, 992, 1, 1);
    mtu_expect_shape(m, "features.transition3.conv.weight", 4, 512, 1024, 1, 1);
    mtu_expect_shape(m, "features.denseblock4.denselayer16.norm1.bias", 1, 992, 0, 0, 0);
    mtu_expect_shape(m, "features.norm5.weight", 1, 1024, 0, 0, 0);
    mtu_expect_shape(m, "classifier.weight", 2, 1000, 1024, 0, 0);
    mtu_expect_shape(m, "classifier.bias", 1, 1000, 0, 0, 0);
    /* 58 dense layers of 2 x (BN, ReLU, conv), 3 transitions of BN, ReLU, conv, avg pool */
    assert_int_equal(mtu_count_kind(&m->g, RP_LAYER_CONV2D), 1 + 58 * 2 + 3);
    assert_int_equal(mtu_count_kind(&m->g, RP_LAYER_BATCHNORM2D), 1 + 58 * 2 + 3 + 1);
    assert_int_equal(mtu_count_kind(&m->g, RP_LAYER_RELU), 1 + 58 * 2 + 3 + 1);
    assert_int_equal(mtu_count_kind(&m->g, RP_LAYER_CONCAT), 58);
    assert_int_equal(mtu_count_kind(&m->g, RP_LAYER_AVGPOOL2D), 3);
    assert_int_equal(mtu_count_kind(&m->g, RP_LAYER_MAXPOOL2D), 1);
    assert_int_equal(mtu_count_kind(&m->g, RP_LAYER_DROPOUT), 0);
    /* the running concatenation: layer N reads the concat of the block input and layers 1..N-1;
     * a block's last concat is named after the block */
    const struct { const char *name; int C, H; } outs[] = { /* at 64 px */
        {"features.pool0", 64, 16},
        {"features.denseblock1.denselayer1.cat", 96, 16},
        {"features.denseblock1.denselayer5.cat", 224, 16},
        {"features.denseblock1", 256, 16},
        {"features.transition1.pool", 128, 8},
        {"features.denseblock2", 512, 8},
        {"features.denseblock3", 1024, 4},
        {"features.transition3.pool", 512, 2},
        {"features.denseblock4", 1024, 2},
        {"relu", 1024, 2},
    };
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        rp_shape s = m->g.nodes[mtu_node(m, outs[i].name)].out_shape;
        if (s.C != outs[i].C || s.H != outs[i].H || s.W != outs[i].H)
            fail_msg("%s: %dx%dx%d, torchvision %dx%dx%d", outs[i].name, s.H, s.W, s.C, outs[i].H, outs[i].H,
                     outs[i].C);
    }
    assert_true(rp_graph_find_node(&m->g, "features.denseblock1.denselayer6.cat") < 0);
    const rp_node *cat = &m->g.nodes[mtu_node(m, "features.denseblock2.denselayer3.cat")];
    assert_int_equal(cat->n_in, 2);
    assert_int_equal(cat->in[0], mtu_node(m, "features.denseblock2.denselayer2.cat"));
    assert_int_equal(cat->in[1], mtu_node(m, "features.denseblock2.denselayer3.conv2"));
    cat = &m->g.nodes[mtu_node(m, "features.denseblock2.denselayer1.cat")];
    assert_int_equal(cat->in[0], mtu_node(m, "features.transition1.pool"));
    /* BN-ReLU-conv: norm1 reads the previous concat, relu1 norm1, conv1 relu1 */
    int n1 = mtu_node(m, "features.denseblock2.denselayer3.norm1");
    assert_int_equal(m->g.nodes[n1].in[0], mtu_node(m, "features.denseblock2.denselayer2.cat"));
    assert_int_equal(m->g.nodes[mtu_node(m, "features.denseblock2.denselayer3.relu1")].in[0], n1);
    assert_int_equal(m->g.nodes[mtu_node(m, "features.denseblock2.denselayer3.conv1")].in[0],
                     mtu_node(m, "features.denseblock2.denselayer3.relu1"));
    assert_int_equal(m->g.nodes[mtu_node(m, "relu")].in[0], mtu_node(m, "features.norm5"));
    /* torchvision's init: BN 1 and 0, classifier bias 0, weight U(+-1/sqrt(1024)), convs
     * N(0, 2/fan_in) (kaiming_normal_'s default mode) */
    const rp_param *p = mtu_param(m, "features.denseblock3.denselayer7.norm2.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 1.0f);
    p = mtu_param(m, "features.norm5.bias");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 0.0f);
    p = mtu_param(m, "classifier.bias");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 0.0f);
    p = mtu_param(m, "classifier.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(fabsf(p->data[i]) <= 1.0f / 32.0f);
    const char *convs[] = {"features.denseblock3.denselayer24.conv1.weight", "features.transition3.conv.weight",
                           "features.denseblock2.denselayer5.conv2.weight"};
    for (int k = 0; k < 3; k++) mtu_expect_kaiming(m, convs[k], false);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* What arch_densenet.c's comment says of memory: the graph keeps every node's output, the
 * 58 running concatenations are about a fifth of it (40.7 of 195.7 MB per image at 224 px),
 * and one concat per layer of all its inputs (RP_MAX_IN raised) would hold exactly as much:
 * its output is the same tensor. */
static void test_concat_memory(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config(1000, 224, 1);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){224, 224, 3});
    assert_true(rp_build_densenet121(&g, &c) >= 0);
    size_t all = 0, cat = 0, wide = 0;
    for (int i = 0; i < g.n_nodes; i++) {
        size_t n = rp_shape_numel(g.nodes[i].out_shape);
        all += n;
        if (g.nodes[i].ops->kind != RP_LAYER_CONCAT) continue;
        cat += n;
        assert_int_equal(g.nodes[i].n_in, 2);
        /* the same output as concatenating the block input and every layer so far */
        int k = i, parts = 0;
        size_t channels = 0;
        while (g.nodes[k].ops->kind == RP_LAYER_CONCAT) {
            channels += (size_t)g.nodes[g.nodes[k].in[1]].out_shape.C, parts++;
            k = g.nodes[k].in[0];
        }
        channels += (size_t)g.nodes[k].out_shape.C;
        assert_int_equal(channels, g.nodes[i].out_shape.C);
        assert_true(parts + 1 <= 25);
        wide += (size_t)g.nodes[i].out_shape.H * g.nodes[i].out_shape.W * channels;
    }
    assert_int_equal(cat, wide);
    double share = (double)cat / (double)all;
    if (!(share > 0.18 && share < 0.24)) fail_msg("concatenations: %.3f of the node outputs", share);
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
}

/* Training and evaluation: every output finite; the bit-identical fusions give the plain
 * run's bits. Evaluation with chains and folds: the relative L2 difference of each part
 * (logits, input gradient, parameter gradients) under 1e-4. Training with the fold forced
 * (denselayer1 of block 1, 64 -> 128 channels): finite only; at 32 px and B = 3 the last
 * block's batch norms normalise over 3 values, which magnifies any change of rounding (the
 * fold's accuracy: test_backbones_ref.c at 64 px, test_pwbn.c). */
static void test_passes(void **state)
{
    (void)state;
    const mtu_passes p = {.config = config(10, 32, 3), .threads = 2, .train_all = RP_OPT_TRAIN_FOLD_ALWAYS,
                          .train_l2 = false, .train_folds = 1};
    mtu_check_passes(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_keys_and_structure),
        cmocka_unit_test(test_concat_memory),
        cmocka_unit_test(test_passes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
