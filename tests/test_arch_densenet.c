/* densenet121 without PyTorch: torchvision 0.14's parameter counts and multiply-adds, key
 * names and shapes, the dense blocks' structure (BN-ReLU-conv, the running concatenation
 * and its channel counts, transitions halving channels and size), initialisation, what the
 * concatenations cost in memory, and a whole model's training and evaluation passes: finite,
 * the plan's bit-identical fusions giving the plain run's bits, chains and the training fold
 * within float rounding of it. The key set and order against torchvision itself, and its
 * logits and gradients: test_backbones_ref.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "testutil.h"

static rp_model_config config(int classes, int H, int max_batch)
{
    rp_model_config c = {.arch = "densenet121", .num_classes = classes, .H = H, .W = H, .C = 3,
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

static int count_kind(const rp_graph *g, rp_layer_kind kind)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].ops->kind == kind;
    return n;
}

static int node(const rp_model *m, const char *name)
{
    int i = rp_graph_find_node(&m->g, name);
    if (i < 0) fail_msg("no node %s", name);
    return i;
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
        size_t params = 0;
        double flops = 0.0;
        if (rp_model_cost(ctx, &c, &params, &flops) != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
        if (params != cases[i].params)
            fail_msg("densenet121 at %d classes: %zu parameters, torchvision has %zu", cases[i].classes, params,
                     cases[i].params);
    }
    rp_model_config c = config(1000, 224, 1);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){224, 224, 3});
    assert_true(rp_build_densenet121(&g, &c) >= 0);
    double gemm = 0.0;
    for (int i = 0; i < g.n_nodes; i++)
        if (g.nodes[i].ops->kind == RP_LAYER_CONV2D || g.nodes[i].ops->kind == RP_LAYER_LINEAR)
            gemm += rp_graph_node_flops(&g, i);
    if (gemm != 2.0 * 2834161664.0)
        fail_msg("densenet121: %.0f multiply-adds at 224 px, torchvision 2834161664", gemm / 2);
    rp_graph_free(&g);
    c = config(1000, 32, 1);
    rp_model *m = create(ctx, &c);
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
    rp_model *m = create(ctx, &c);
    expect_shape(m, "features.conv0.weight", 4, 64, 3, 7, 7);
    expect_shape(m, "features.norm0.num_batches_tracked", 0, 0, 0, 0, 0);
    expect_shape(m, "features.denseblock1.denselayer1.norm1.weight", 1, 64, 0, 0, 0);
    expect_shape(m, "features.denseblock1.denselayer1.conv1.weight", 4, 128, 64, 1, 1);
    expect_shape(m, "features.denseblock1.denselayer1.norm2.running_mean", 1, 128, 0, 0, 0);
    expect_shape(m, "features.denseblock1.denselayer1.conv2.weight", 4, 32, 128, 3, 3);
    expect_shape(m, "features.denseblock1.denselayer6.norm1.running_var", 1, 224, 0, 0, 0);
    expect_shape(m, "features.transition1.norm.weight", 1, 256, 0, 0, 0);
    expect_shape(m, "features.transition1.conv.weight", 4, 128, 256, 1, 1);
    expect_shape(m, "features.denseblock2.denselayer12.conv1.weight", 4, 128, 480, 1, 1);
    expect_shape(m, "features.transition2.conv.weight", 4, 256, 512, 1, 1);
    expect_shape(m, "features.denseblock3.denselayer24.norm1.num_batches_tracked", 0, 0, 0, 0, 0);
    expect_shape(m, "features.denseblock3.denselayer24.conv1.weight", 4, 128, 992, 1, 1);
    expect_shape(m, "features.transition3.conv.weight", 4, 512, 1024, 1, 1);
    expect_shape(m, "features.denseblock4.denselayer16.norm1.bias", 1, 992, 0, 0, 0);
    expect_shape(m, "features.norm5.weight", 1, 1024, 0, 0, 0);
    expect_shape(m, "classifier.weight", 2, 1000, 1024, 0, 0);
    expect_shape(m, "classifier.bias", 1, 1000, 0, 0, 0);
    /* 58 dense layers of 2 x (BN, ReLU, conv), 3 transitions of BN, ReLU, conv, avg pool */
    assert_int_equal(count_kind(&m->g, RP_LAYER_CONV2D), 1 + 58 * 2 + 3);
    assert_int_equal(count_kind(&m->g, RP_LAYER_BATCHNORM2D), 1 + 58 * 2 + 3 + 1);
    assert_int_equal(count_kind(&m->g, RP_LAYER_RELU), 1 + 58 * 2 + 3 + 1);
    assert_int_equal(count_kind(&m->g, RP_LAYER_CONCAT), 58);
    assert_int_equal(count_kind(&m->g, RP_LAYER_AVGPOOL2D), 3);
    assert_int_equal(count_kind(&m->g, RP_LAYER_MAXPOOL2D), 1);
    assert_int_equal(count_kind(&m->g, RP_LAYER_DROPOUT), 0);
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
        rp_shape s = m->g.nodes[node(m, outs[i].name)].out_shape;
        if (s.C != outs[i].C || s.H != outs[i].H || s.W != outs[i].H)
            fail_msg("%s: %dx%dx%d, torchvision %dx%dx%d", outs[i].name, s.H, s.W, s.C, outs[i].H, outs[i].H,
                     outs[i].C);
    }
    assert_true(rp_graph_find_node(&m->g, "features.denseblock1.denselayer6.cat") < 0);
    const rp_node *cat = &m->g.nodes[node(m, "features.denseblock2.denselayer3.cat")];
    assert_int_equal(cat->n_in, 2);
    assert_int_equal(cat->in[0], node(m, "features.denseblock2.denselayer2.cat"));
    assert_int_equal(cat->in[1], node(m, "features.denseblock2.denselayer3.conv2"));
    cat = &m->g.nodes[node(m, "features.denseblock2.denselayer1.cat")];
    assert_int_equal(cat->in[0], node(m, "features.transition1.pool"));
    /* BN-ReLU-conv: norm1 reads the previous concat, relu1 norm1, conv1 relu1 */
    int n1 = node(m, "features.denseblock2.denselayer3.norm1");
    assert_int_equal(m->g.nodes[n1].in[0], node(m, "features.denseblock2.denselayer2.cat"));
    assert_int_equal(m->g.nodes[node(m, "features.denseblock2.denselayer3.relu1")].in[0], n1);
    assert_int_equal(m->g.nodes[node(m, "features.denseblock2.denselayer3.conv1")].in[0],
                     node(m, "features.denseblock2.denselayer3.relu1"));
    assert_int_equal(m->g.nodes[node(m, "relu")].in[0], node(m, "features.norm5"));
    /* torchvision's init: BN 1 and 0, classifier bias 0, weight U(+-1/sqrt(1024)), convs
     * N(0, 2/fan_in) (kaiming_normal_'s default mode) */
    const rp_param *p = param(m, "features.denseblock3.denselayer7.norm2.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 1.0f);
    p = param(m, "features.norm5.bias");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 0.0f);
    p = param(m, "classifier.bias");
    for (size_t i = 0; i < p->numel; i++) assert_true(p->data[i] == 0.0f);
    p = param(m, "classifier.weight");
    for (size_t i = 0; i < p->numel; i++) assert_true(fabsf(p->data[i]) <= 1.0f / 32.0f);
    const char *convs[] = {"features.denseblock3.denselayer24.conv1.weight", "features.transition3.conv.weight",
                           "features.denseblock2.denselayer5.conv2.weight"};
    for (int k = 0; k < 3; k++) {
        p = param(m, convs[k]);
        double s = 0, ss = 0, want = sqrt(2.0 / (double)(p->shape[1] * p->shape[2] * p->shape[3]));
        for (size_t i = 0; i < p->numel; i++) s += p->data[i], ss += (double)p->data[i] * p->data[i];
        double mean = s / (double)p->numel, sd = sqrt(ss / (double)p->numel - mean * mean);
        if (!(fabs(sd / want - 1.0) < 0.02 && fabs(mean) < 0.02 * want))
            fail_msg("%s: mean %g sd %g, torchvision's init N(0, %g^2)", convs[k], mean, sd, want);
    }
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

enum { B = 3, HW = 32, CLASSES = 10 };

/* OWNED: logits, input gradient and every parameter gradient of one pass of m under options,
 * from the parameters and buffers in init (a training pass moves the running statistics) */
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
 * run's bits. Evaluation with chains and folds: the relative L2 difference of each part
 * (logits, input gradient, parameter gradients) under 1e-4. Training with the fold forced
 * (denselayer1 of block 1, 64 -> 128 channels): finite only; at 32 px and B = 3 the last
 * block's batch norms normalise over 3 values, which magnifies any change of rounding (the
 * fold's accuracy: test_backbones_ref.c at 64 px, test_pwbn.c). */
static void test_passes(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model_config c = config(CLASSES, HW, B);
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
        float *all = run_pass(m, init, train ? RP_OPT_TRAIN_FOLD_ALWAYS : 0, train, x, dy, &n2);
        if (train) assert_int_equal(rp_plan_count(m->g.last_plan, RP_STEP_CONV_BN_TRAIN), 1);
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
    free(init);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
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
