/* resnet50 and resnext50_32x4d without PyTorch: torchvision 0.14's parameter counts and
 * multiply-adds, key names and shapes, the Bottleneck's structure (stride on the 3x3 conv,
 * ResNeXt's 32 groups, which blocks have a downsample), initialisation, and a whole model's
 * training and evaluation passes: finite, the plan's bit-identical fusions giving the plain
 * run's bits, chains within float rounding of it. The key set and order against torchvision
 * itself, and its logits and gradients: test_backbones_ref.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "testutil.h"

static rp_model_config config(const char *arch, int classes, int H, int max_batch)
{
    rp_model_config c = {.arch = arch, .num_classes = classes, .H = H, .W = H, .C = 3,
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

static const rp_param *param(const rp_model *m, const char *name)
{
    int i = rp_graph_find_param(&m->g, name);
    if (i < 0) fail_msg("no parameter %s", name);
    return &m->g.params[i];
}

static void expect_shape(const rp_model *m, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    const rp_param *p = param(m, name);
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

static rp_shape out_shape(const rp_model *m, const char *node)
{
    int i = rp_graph_find_node(&m->g, node);
    if (i < 0) fail_msg("no node %s", node);
    return m->g.nodes[i].out_shape;
}

/* conv + linear FLOPs of arch at S px, 1000 classes, from the graph alone */
static double gemm_flops(const char *arch, int S)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config(arch, 1000, S, 1);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){S, S, 3});
    assert_true(rp_arch_find(arch)->build(&g, &c) >= 0);
    double f = 0.0;
    for (int i = 0; i < g.n_nodes; i++)
        if (g.nodes[i].ops->kind == RP_LAYER_CONV2D || g.nodes[i].ops->kind == RP_LAYER_LINEAR)
            f += rp_graph_node_flops(&g, i);
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
    return f;
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
            size_t params = 0;
            double flops = 0.0;
            if (rp_model_cost(ctx, &c, &params, &flops) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
            if (params != want[k])
                fail_msg("%s at %d classes: %zu parameters, torchvision has %zu", cases[i].arch, classes[k], params,
                         want[k]);
        }
        if (gemm_flops(cases[i].arch, 224) != 2.0 * cases[i].macs)
            fail_msg("%s: %.0f conv and linear multiply-adds at 224 px, torchvision %.0f", cases[i].arch,
                     gemm_flops(cases[i].arch, 224) / 2, cases[i].macs);
        rp_model_config c = config(cases[i].arch, 1000, 32, 1);
        rp_model *m = create(ctx, &c);
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

/* N(0, 2/fan_out) with fan_out = OC*K*K (PyTorch's, groups ignored): the sample's standard deviation */
static void expect_kaiming_fan_out(const rp_model *m, const char *name)
{
    const rp_param *p = param(m, name);
    double s = 0, ss = 0, want = sqrt(2.0 / (double)(p->shape[0] * p->shape[2] * p->shape[3]));
    for (size_t i = 0; i < p->numel; i++) s += p->data[i], ss += (double)p->data[i] * p->data[i];
    double mean = s / (double)p->numel, sd = sqrt(ss / (double)p->numel - mean * mean);
    if (!(fabs(sd / want - 1.0) < 0.02 && fabs(mean) < 0.02 * want))
        fail_msg("%s: mean %g sd %g, torchvision's init N(0, %g^2)", name, mean, sd, want);
}

static void expect_torchvision_init(const rp_model *m)
{
    const rp_param *p = param(m, "layer2.1.bn3.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 1.0f); /* no zero-init residual */
    p = param(m, "layer2.1.bn3.bias");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 0.0f);
    const float bound = 1.0f / sqrtf(2048.0f);
    bool nonzero = false;
    p = param(m, "fc.bias"); /* ResNet keeps nn.Linear's default U(+-1/sqrt(in)) for the bias too */
    for (size_t i = 0; i < p->numel; i++) assert_true(fabsf(p->data[i]) <= bound), nonzero |= p->data[i] != 0.0f;
    assert_true(nonzero);
    p = param(m, "fc.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(fabsf(p->data[i]) <= bound);
    expect_kaiming_fan_out(m, "layer3.0.conv2.weight");
    expect_kaiming_fan_out(m, "layer4.0.conv3.weight");
}

static void test_resnet50_structure(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config c = config("resnet50", 1000, 64, 1);
    rp_model *m = create(ctx, &c);
    expect_shape(m, "conv1.weight", 4, 64, 3, 7, 7);
    expect_shape(m, "bn1.num_batches_tracked", 0, 0, 0, 0, 0);
    expect_shape(m, "layer1.0.conv1.weight", 4, 64, 64, 1, 1);
    expect_shape(m, "layer1.0.conv2.weight", 4, 64, 64, 3, 3);
    expect_shape(m, "layer1.0.conv3.weight", 4, 256, 64, 1, 1);
    expect_shape(m, "layer1.0.downsample.0.weight", 4, 256, 64, 1, 1);
    expect_shape(m, "layer1.1.conv1.weight", 4, 64, 256, 1, 1);
    expect_shape(m, "layer2.0.conv2.weight", 4, 128, 128, 3, 3);
    expect_shape(m, "layer3.5.bn3.running_var", 1, 1024, 0, 0, 0);
    expect_shape(m, "layer4.0.downsample.0.weight", 4, 2048, 1024, 1, 1);
    expect_shape(m, "layer4.2.conv3.weight", 4, 2048, 512, 1, 1);
    expect_shape(m, "fc.weight", 2, 1000, 2048, 0, 0);
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
    rp_model *m = create(ctx, &c);
    expect_shape(m, "layer1.0.conv1.weight", 4, 128, 64, 1, 1);
    expect_shape(m, "layer1.0.conv2.weight", 4, 128, 4, 3, 3);
    expect_shape(m, "layer1.0.conv3.weight", 4, 256, 128, 1, 1);
    expect_shape(m, "layer2.0.conv2.weight", 4, 256, 8, 3, 3);
    expect_shape(m, "layer3.3.conv2.weight", 4, 512, 16, 3, 3);
    expect_shape(m, "layer4.0.conv1.weight", 4, 1024, 1024, 1, 1);
    expect_shape(m, "layer4.2.conv2.weight", 4, 1024, 32, 3, 3);
    expect_shape(m, "layer4.2.conv3.weight", 4, 2048, 1024, 1, 1);
    expect_shape(m, "fc.weight", 2, 1000, 2048, 0, 0);
    expect_bottlenecks(m);
    expect_torchvision_init(m);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

enum { B = 3, HW = 32, CLASSES = 10 };

/* OWNED: logits, input gradient and every parameter gradient of one pass of m under options,
 * from the parameters and buffers in init (the training pass moves the running statistics) */
static float *run_pass(rp_model *m, const float *init, unsigned options, bool train, const float *x,
                       const float *dy, size_t *n)
{
    size_t at = 0, np = 0, nx = (size_t)B * HW * HW * 3, ny = (size_t)B * CLASSES;
    for (int i = 0; i < m->g.n_params; i++) {
        memcpy(m->g.params[i].data, init + at, m->g.params[i].numel * sizeof(float));
        at += m->g.params[i].numel;
        np += m->g.params[i].grad ? m->g.params[i].numel : 0;
    }
    m->g.options = options;
    float *out = malloc((ny + nx + np) * sizeof *out);
    memcpy(out, rp_graph_forward(&m->g, x, B, train), ny * sizeof(float));
    rp_graph_zero_grad(&m->g);
    rp_graph_backward(&m->g, dy, out + ny, true);
    at = ny + nx;
    for (int i = 0; i < m->g.n_params; i++)
        if (m->g.params[i].grad) {
            memcpy(out + at, m->g.params[i].grad, m->g.params[i].numel * sizeof(float));
            at += m->g.params[i].numel;
        }
    *n = at;
    return out;
}

/* Training and evaluation: every output finite; the bit-identical fusions give the plain
 * run's bits; evaluation with chains within 1e-4 relative L2 of it, part by part (logits,
 * input gradient, parameter gradients). No training fold is forced: pwbn_worth never takes it
 * for these convs (64 to 1024 inputs), and its C x C x OC backward is slow for them. */
static void check_passes(const char *arch)
{
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model_config c = config(arch, CLASSES, HW, B);
    rp_model *m = create(ctx, &c);
    size_t nx = (size_t)B * HW * HW * 3, ny = (size_t)B * CLASSES, total = 0;
    for (int i = 0; i < m->g.n_params; i++) total += m->g.params[i].numel;
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy), *init = malloc(total * sizeof *init);
    for (size_t i = 0, at = 0; i < (size_t)m->g.n_params; at += m->g.params[i].numel, i++)
        memcpy(init + at, m->g.params[i].data, m->g.params[i].numel * sizeof(float));
    tu_fill_uniform(x, nx, 0, 1, 170);
    tu_fill_uniform(dy, ny, -1, 1, 171);
    for (int train = 0; train < 2; train++) {
        const unsigned exact = RP_OPT_NO_CHAIN | RP_OPT_NO_TRAIN_FOLD;
        size_t n0, n1, n2;
        float *plain = run_pass(m, init, exact | RP_OPT_NO_FUSION, train, x, dy, &n0);
        float *fused = run_pass(m, init, exact, train, x, dy, &n1);
        float *all = run_pass(m, init, 0, train, x, dy, &n2);
        assert_int_equal(n0, n1);
        assert_int_equal(n0, n2);
        for (size_t i = 0; i < n0; i++)
            if (!isfinite(plain[i]) || !isfinite(all[i]))
                fail_msg("%s %s pass: element %zu is %g, with every fusion %g", arch, train ? "training" : "evaluation",
                         i, (double)plain[i], (double)all[i]);
        assert_memory_equal(plain, fused, n0 * sizeof(float));
        size_t parts[4] = {0, ny, ny + nx, n0};
        for (int k = 0; k < 3; k++) {
            double d = 0, s = 0;
            for (size_t i = parts[k]; i < parts[k + 1]; i++) {
                d += ((double)all[i] - plain[i]) * ((double)all[i] - plain[i]);
                s += (double)plain[i] * plain[i];
            }
            if (!(sqrt(d) <= 1e-4 * sqrt(s) + 1e-12))
                fail_msg("%s %s, part %d: relative L2 difference %g with every fusion", arch,
                         train ? "training" : "evaluation", k, sqrt(d / s));
        }
        free(plain);
        free(fused);
        free(all);
    }
    free(x);
    free(dy);
    free(init);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
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
