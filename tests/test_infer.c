/* The inference forward (rp_graph_infer, rp_plan_assign_outputs): outputs live in slots only
 * while a later step reads them. Every registered model's logits are the bits of the
 * evaluation forward's, under every option, with the shared outputs' memory poisoned first;
 * training and evaluation passes and their backward after it are the bits they were before it;
 * the lifetimes on a small graph with a residual add and a concat are what the steps say; and
 * each model's outputs memory (the sum, the largest live set, the slots) is printed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/model.h"
#include "testutil.h"

static rp_model *make(rp_ctx *ctx, const char *arch, int H, int C, int max_batch)
{
    rp_model_config cfg = {.arch = arch, .num_classes = 10, .H = H, .W = H, .C = C, .max_batch = max_batch, .seed = 3};
    for (int c = 0; c < 4; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    rp_model *m;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    return m;
}

/* The last inference forward's slots (the evaluation plan of the graph's options) never
 * overlap while both outputs live, lie in the shared outputs' block, and leave the last node and
 * kept nodes their own buffers. */
static void check_slots(rp_graph *g, int B)
{
    int N = g->n_nodes, *lo = malloc((size_t)N * sizeof *lo), *hi = malloc((size_t)N * sizeof *hi);
    rp_plan_out_lives(g, rp_graph_plan(g, RP_PLAN_EVAL, B), lo, hi);
    const float *end = g->y_shared + g->y_shared_floats;
    assert_true(g->y_infer && g->y_planned);
    for (int i = 0; i < N; i++) {
        const rp_node *a = &g->nodes[i];
        if (i == N - 1 || a->keep_y) assert_int_equal(a->y_slot, -1);
        if (a->y_slot < 0) continue;
        size_t n = (size_t)B * rp_shape_numel(a->out_shape);
        assert_true(a->y == a->y_infer && a->y_infer >= g->y_shared && a->y_infer + n <= end);
        assert_true(a->y_own >= g->y_shared && a->y_own + n <= end);
        for (int j = i + 1; j < N; j++) {
            const rp_node *b = &g->nodes[j];
            if (b->y_slot != a->y_slot) continue;
            if (!(hi[i] < lo[j] || hi[j] < lo[i]))
                fail_msg("%s [%d, %d] and %s [%d, %d] share slot %d", a->name, lo[i], hi[i], b->name, lo[j], hi[j],
                         a->y_slot);
        }
    }
    free(lo), free(hi);
}

/* Floats per image: every output, the largest live set of the default evaluation plan, the slots. */
static void print_memory(rp_graph *g, const char *what)
{
    int N = g->n_nodes, *lo = malloc((size_t)N * sizeof *lo), *hi = malloc((size_t)N * sizeof *hi);
    rp_plan_out_lives(g, rp_graph_plan(g, RP_PLAN_EVAL, 1), lo, hi);
    size_t sum = 0, peak = 0, slots = 0, own = 0;
    for (int i = 0; i < N; i++) {
        sum += rp_shape_numel(g->nodes[i].out_shape);
        if (!rp_node_shares_y(g, i)) own += rp_shape_numel(g->nodes[i].out_shape);
    }
    int at = 0;
    for (int t = 0; t < N; t++) {
        size_t live = own;
        for (int i = 0; i < N; i++)
            if (g->nodes[i].y_slot >= 0 && lo[i] <= t && t <= hi[i]) live += rp_shape_numel(g->nodes[i].out_shape);
        if (live > peak) peak = live, at = t;
    }
    for (int s = 0; s < g->n_y_slots; s++) {
        size_t most = 0;
        for (int i = 0; i < N; i++)
            if (g->nodes[i].y_slot == s && rp_shape_numel(g->nodes[i].out_shape) > most)
                most = rp_shape_numel(g->nodes[i].out_shape);
        slots += most;
    }
    printf("%-28s %4d nodes: outputs %9zu floats/image, live-set peak %8zu (at %s), inference slots %8zu "
           "(+%zu own) in %d slots: %.1fx less\n",
           what, N, sum, peak, g->nodes[at].name, slots, own, g->n_y_slots, (double)sum / (double)(slots + own));
    free(lo), free(hi);
}

static float *copy_of(const float *x, size_t n)
{
    float *c = malloc(n * sizeof *c);
    memcpy(c, x, n * sizeof *c);
    return c;
}

static size_t grad_floats(const rp_graph *g)
{
    size_t n = 0;
    for (int i = 0; i < g->n_params; i++) n += g->params[i].grad ? g->params[i].numel : 0;
    return n;
}

/* A training step's (or, train false, an evaluation pass's) logits, input and parameter
 * gradients, the examples named so that dropout draws the same masks each time. */
static float *pass(rp_graph *g, const float *x, const float *dout, int B, bool train)
{
    size_t K = rp_shape_numel(g->nodes[g->n_nodes - 1].out_shape), X = rp_shape_numel(g->input_shape);
    size_t P = grad_floats(g), n = (size_t)B * K + (size_t)B * X + P;
    float *out = malloc(n * sizeof *out);
    rp_graph_set_examples(g, 7, NULL, 0, B);
    rp_graph_zero_grad(g);
    memcpy(out, rp_graph_forward(g, x, B, train), (size_t)B * K * sizeof *out);
    rp_graph_backward(g, dout, out + (size_t)B * K, true);
    float *p = out + (size_t)B * (K + X);
    for (int i = 0; i < g->n_params; i++)
        if (g->params[i].grad) memcpy(p, g->params[i].grad, g->params[i].numel * sizeof *p), p += g->params[i].numel;
    return out;
}

static void check_model(const char *arch, int H, int C, int B)
{
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = make(ctx, arch, H, C, B);
    rp_graph *g = &m->g;
    size_t X = (size_t)H * H * C, K = 10, P = grad_floats(g);
    float *x = malloc((size_t)B * X * sizeof *x), *dout = malloc((size_t)B * K * sizeof *dout);
    tu_fill_uniform(x, (size_t)B * X, 0.0f, 1.0f, 11);
    tu_fill_uniform(dout, (size_t)B * K, -1.0f, 1.0f, 12);
    /* the evaluation pass after the training step's running statistics, both times */
    float *train0 = pass(g, x, dout, B, true), *eval0 = pass(g, x, dout, B, false);
    static const unsigned OPTS[] = {0, RP_OPT_NO_CHAIN, RP_OPT_NO_FUSION};
    for (int o = 0; o < 3; o++) {
        g->options = OPTS[o];
        float *z = copy_of(rp_graph_forward(g, x, B, false), (size_t)B * K);
        memset(g->y_shared, 0xff, g->y_shared_floats * sizeof(float)); /* NaN: read before written shows */
        const float *zi = rp_graph_infer(g, x, B);
        if (memcmp(z, zi, (size_t)B * K * sizeof *z) != 0)
            fail_msg("%s options %u: inference logits differ from the evaluation forward's", arch, OPTS[o]);
        check_slots(g, B);
        if (o == 0) print_memory(g, arch);
        free(z);
    }
    g->options = 0;
    /* the own buffers now hold the poison: every pass after it writes what it reads */
    float *eval1 = pass(g, x, dout, B, false), *train1 = pass(g, x, dout, B, true);
    size_t n = (size_t)B * K + (size_t)B * X + P;
    if (memcmp(train0, train1, n * sizeof *train0) != 0) fail_msg("%s: the training step changed", arch);
    if (memcmp(eval0, eval1, n * sizeof *eval0) != 0) fail_msg("%s: the evaluation backward changed", arch);
    free(train0), free(train1), free(eval0), free(eval1), free(x), free(dout);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_small_models(void **state)
{
    (void)state;
    check_model("smallcnn", 28, 1, 3);
    check_model("mlp", 28, 1, 3);
    check_model("mobilenet_v2", 32, 3, 3);
    check_model("efficientnet_b0", 32, 3, 2);
}

static void test_resnets(void **state)
{
    (void)state;
    check_model("resnet18", 32, 3, 2);
    check_model("resnet18_cifar", 16, 3, 2);
    check_model("resnet50", 32, 3, 2);
    check_model("resnext50_32x4d", 32, 3, 2);
    check_model("densenet121", 32, 3, 2);
}

/* input -> a conv -> b relu -> c conv -> d = b + c -> e conv -> f = concat(b, e) -> g pool -> h fc */
static void test_residual_concat_lives(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph g;
    rp_graph_init(&g, ctx, (rp_shape){6, 6, 3});
    int a = rp_g_conv2d(&g, RP_INPUT, "a", 4, 3, 1, 1, 1, true);
    int b = rp_g_relu(&g, a, "b");
    int c = rp_g_conv2d(&g, b, "c", 4, 3, 1, 1, 1, true);
    int d = rp_g_add(&g, b, c, "d");
    int e = rp_g_conv2d(&g, d, "e", 4, 1, 1, 0, 1, true);
    int f = rp_g_concat(&g, (int[]){b, e}, 2, "f");
    int p = rp_g_global_avgpool(&g, f, "g");
    int h = rp_g_linear(&g, p, "h", 5, true);
    assert_int_equal(h, 7);
    assert_int_equal(rp_graph_finalize(&g, 2, 1), RP_OK);
    int lo[8], hi[8];
    /* every node its own step: an output lives from its node to its last reader */
    g.options = RP_OPT_NO_FUSION;
    rp_plan_out_lives(&g, rp_graph_plan(&g, RP_PLAN_EVAL, 2), lo, hi);
    static const int LO[8] = {0, 1, 2, 3, 4, 5, 6, 7}, HI[8] = {1, 5, 3, 4, 5, 6, 7, 7};
    for (int i = 0; i < 8; i++)
        if (lo[i] != LO[i] || hi[i] != HI[i])
            fail_msg("plain: %s lives [%d, %d], expected [%d, %d]", g.nodes[i].name, lo[i], hi[i], LO[i], HI[i]);
    /* fused: the conv writes the ReLU's output (step [a, b]); a's own is never written */
    g.options = 0;
    rp_plan_out_lives(&g, rp_graph_plan(&g, RP_PLAN_EVAL, 2), lo, hi);
    assert_true(lo[a] > hi[a]);
    assert_int_equal(lo[b], 0);
    assert_int_equal(hi[b], f); /* through the residual to the concat */
    float x[2 * 6 * 6 * 3], z[2 * 5];
    tu_fill_uniform(x, sizeof x / sizeof x[0], 0.0f, 1.0f, 5);
    memcpy(z, rp_graph_forward(&g, x, 2, false), sizeof z);
    for (int o = 0; o < 2; o++) { /* the same logits, fused and not */
        g.options = o ? RP_OPT_NO_FUSION : 0;
        memset(g.y_shared, 0xff, g.y_shared_floats * sizeof(float));
        assert_memory_equal(rp_graph_infer(&g, x, 2), z, sizeof z);
        check_slots(&g, 2);
        assert_int_equal(g.nodes[h].y_slot, -1);
        assert_true(g.nodes[b].y_slot != g.nodes[c].y_slot && g.nodes[b].y_slot != g.nodes[d].y_slot &&
                    g.nodes[b].y_slot != g.nodes[e].y_slot && g.nodes[d].y_slot != g.nodes[e].y_slot);
        print_memory(&g, o ? "residual + concat, plain" : "residual + concat");
    }
    assert_int_equal(g.nodes[a].y_slot, g.nodes[c].y_slot); /* plain: [0, 1] then [2, 3], the same size */
    g.options = 0;
    /* the kept node keeps its own buffer */
    assert_int_equal(rp_graph_keep(&g, d), RP_OK);
    float yd[2 * 6 * 6 * 4];
    rp_graph_forward(&g, x, 2, false);
    memcpy(yd, g.nodes[d].y, sizeof yd);
    memset(g.y_shared, 0xff, g.y_shared_floats * sizeof(float));
    assert_memory_equal(rp_graph_infer(&g, x, 2), z, sizeof z);
    check_slots(&g, 2);
    assert_memory_equal(g.nodes[d].y, yd, sizeof yd);
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residual_concat_lives),
        cmocka_unit_test(test_small_models),
        cmocka_unit_test(test_resnets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
