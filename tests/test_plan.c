/* nn/plan.h: the execution plan. Whole models get the fused steps they are built for (the fast
 * paths stay taken: MobileNetV2's chains and folded batch norms, ResNet-18's folds and its
 * max-pool doing the ReLU's backward, smallcnn's convs doing their ReLUs), the options mask
 * turns them off, and no backward operation of any plan writes a gradient into the buffer it
 * reads (the lifetimes derived from the same operations). */
#include <string.h>

#include "kernels/gemm_direct.h"
#include "nn/chain.h"
#include "nn/model.h"
#include "testutil.h"

static rp_model *make(rp_ctx *ctx, const char *arch, int H, int C, int max_batch)
{
    rp_model_config cfg = {.arch = arch, .num_classes = 10, .H = H, .W = H, .C = C, .max_batch = max_batch, .seed = 1};
    for (int c = 0; c < 4; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    rp_model *m;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    return m;
}

typedef struct expect {
    int steps[RP_STEP_KINDS]; /* steps of each kind */
    int acts;                 /* steps whose forward does a ReLU/ReLU6 after their layer */
    int act_bwd;              /* ... whose backward has a batch norm apply that activation's mask */
    int pool_act;             /* max-pools doing the backward of the ReLU before them */
    int conv_pool;            /* ... whose forward the conv before that ReLU does (in its step) */
} expect;

static void check(rp_graph *g, rp_plan_kind kind, int B, const char *what, expect e)
{
    const rp_plan *p = rp_graph_plan(g, kind, B);
    int acts = 0;
    for (int k = 0; k < p->n_steps; k++) acts += p->steps[k].act >= 0 && p->steps[k].kind != RP_STEP_CHAIN;
    for (int s = 0; s < RP_STEP_KINDS; s++)
        if (rp_plan_count(p, (rp_step_kind)s) != e.steps[s])
            fail_msg("%s: %d steps %s, expected %d", what, rp_plan_count(p, (rp_step_kind)s),
                     rp_step_kind_name((rp_step_kind)s), e.steps[s]);
    if (acts != e.acts || rp_plan_count_act_bwd(g, p) != e.act_bwd || rp_plan_count_pool_act(p) != e.pool_act ||
        rp_plan_count_conv_pool(p) != e.conv_pool)
        fail_msg("%s: %d activations done by their producer (expected %d), %d masked by a batch norm's backward "
                 "(%d), %d by a max-pool's (%d), %d max-pools done by their conv (%d)", what, acts, e.acts,
                 rp_plan_count_act_bwd(g, p), e.act_bwd, rp_plan_count_pool_act(p), e.pool_act,
                 rp_plan_count_conv_pool(p), e.conv_pool);
}

/* MobileNetV2 at 64x64, batch 64 (the counts of the run loop before the plan): the 17 inverted
 * residual blocks as chains in evaluation (the stem in the first), the last conv folding its
 * batch norm and ReLU6; in training 6 expand convs doing their batch norms (kernels/pwbn.h:
 * where that pays at this batch), every other conv but the 7 large GEMM ones forming its batch
 * norm's statistics, and every batch norm before a ReLU6 doing that one too, forward and
 * backward; the 17 depthwise convs doing their batch norm's backward with their own. */
static void test_mobilenet_v2(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = make(ctx, "mobilenet_v2", 64, 3, 2);
    rp_graph *g = &m->g;
    check(g, RP_PLAN_EVAL, 64, "mnv2 eval",
          (expect){.steps = {[RP_STEP_LAYER] = 5, [RP_STEP_CONV_BN_EVAL] = 1, [RP_STEP_CHAIN] = 17},
                   .acts = 1, .act_bwd = 1});
    check(g, RP_PLAN_TRAIN, 64, "mnv2 train",
          (expect){.steps = {[RP_STEP_LAYER] = 25, [RP_STEP_LAYER_ACT] = 4, [RP_STEP_CONV_BN_SUMS] = 22,
                             [RP_STEP_CONV_BN_TRAIN] = 6, [RP_STEP_DW_BN_TRAIN] = 17},
                   .acts = 35, .act_bwd = 35});
    /* at batch 3 the fold pays for 3 of the expand convs; always: all 17 and features.18 */
    check(g, RP_PLAN_TRAIN, 3, "mnv2 train B=3",
          (expect){.steps = {[RP_STEP_LAYER] = 25, [RP_STEP_LAYER_ACT] = 4, [RP_STEP_CONV_BN_SUMS] = 25,
                             [RP_STEP_CONV_BN_TRAIN] = 3, [RP_STEP_DW_BN_TRAIN] = 17},
                   .acts = 35, .act_bwd = 35});
    g->options = RP_OPT_TRAIN_FOLD_ALWAYS;
    assert_int_equal(rp_plan_count(rp_graph_plan(g, RP_PLAN_TRAIN, 3), RP_STEP_CONV_BN_TRAIN), 17);
    g->options = 0;
    check(g, RP_PLAN_EVAL_UNCHAINED, 64, "mnv2 eval unchained",
          (expect){.steps = {[RP_STEP_LAYER] = 15, [RP_STEP_CONV_BN_EVAL] = 52}, .acts = 35, .act_bwd = 35});
    check(g, RP_PLAN_EVAL_PARAMS, 64, "mnv2 eval for parameter gradients",
          (expect){.steps = {[RP_STEP_LAYER] = 84, [RP_STEP_LAYER_ACT] = 35}, .acts = 35, .act_bwd = 35});
    /* the options: no chains; no training fold; nothing fused at all */
    g->options = RP_OPT_NO_CHAIN;
    assert_int_equal(rp_plan_count(rp_graph_plan(g, RP_PLAN_EVAL, 64), RP_STEP_CHAIN), 0);
    assert_int_equal(rp_plan_count(rp_graph_plan(g, RP_PLAN_EVAL, 64), RP_STEP_CONV_BN_EVAL), 52);
    g->options = RP_OPT_NO_TRAIN_FOLD;
    assert_int_equal(rp_plan_count(rp_graph_plan(g, RP_PLAN_TRAIN, 64), RP_STEP_CONV_BN_TRAIN), 0);
    g->options = RP_OPT_NO_DW_BN; /* the depthwise convs form their batch norms' sums alone */
    assert_int_equal(rp_plan_count(rp_graph_plan(g, RP_PLAN_TRAIN, 64), RP_STEP_DW_BN_TRAIN), 0);
    assert_int_equal(rp_plan_count(rp_graph_plan(g, RP_PLAN_TRAIN, 64), RP_STEP_CONV_BN_SUMS), 39);
    g->options = RP_OPT_NO_FUSION;
    for (int kind = 0; kind < RP_PLAN_KINDS; kind++) {
        const rp_plan *p = rp_graph_plan(g, (rp_plan_kind)kind, 64);
        assert_int_equal(p->n_steps, g->n_nodes);
        assert_int_equal(rp_plan_count(p, RP_STEP_LAYER), g->n_nodes);
    }
    g->options = 0;
    /* a kept node (CAM) takes its chain out, and only that one */
    assert_int_equal(rp_graph_keep(g, g->chains[1].first + 1), RP_OK);
    assert_int_equal(rp_plan_count(rp_graph_plan(g, RP_PLAN_EVAL, 64), RP_STEP_CHAIN), 16);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* ResNet-18: every conv folds its batch norm in evaluation (and the ReLU after it, where there
 * is one: not before the residual adds); the stem's max-pool does its ReLU's backward (the
 * batch norm, not the conv, does that ReLU: the pool stays a step of its own). */
static void test_resnet18(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = make(ctx, "resnet18", 64, 3, 2);
    rp_graph *g = &m->g;
    check(g, RP_PLAN_EVAL, 64, "resnet18 eval",
          (expect){.steps = {[RP_STEP_LAYER] = 21, [RP_STEP_CONV_BN_EVAL] = 20}, .acts = 9, .act_bwd = 8,
                   .pool_act = 1});
    /* at the AVX-512 level the six Winograd convs too large for the slots path (layer2's and
     * layer3's 3x3 stride-1 convs: 4+ tiles per sample at 64 px) form their batch norm's sums as
     * well, so fewer plain layer steps remain */
    bool wino = gemm_direct_applies();
    check(g, RP_PLAN_TRAIN, 64, "resnet18 train",
          (expect){.steps = {[RP_STEP_LAYER] = wino ? 28 : 38, [RP_STEP_LAYER_ACT] = wino ? 3 : 5,
                             [RP_STEP_CONV_BN_SUMS] = wino ? 15 : 9},
                   .acts = 9, .act_bwd = 8, .pool_act = 1});
    rp_model_destroy(m);
    /* smallcnn: both convs do their ReLU and the max-pool after it (one step of three nodes each),
     * in training and in evaluation; without fusion, every node its own step */
    m = make(ctx, "smallcnn", 28, 1, 2);
    for (int kind = RP_PLAN_TRAIN; kind <= RP_PLAN_EVAL; kind++)
        check(&m->g, (rp_plan_kind)kind, 64, kind == RP_PLAN_TRAIN ? "smallcnn train" : "smallcnn eval",
              (expect){.steps = {[RP_STEP_LAYER] = 5, [RP_STEP_LAYER_ACT] = 2}, .acts = 2, .pool_act = 2,
                       .conv_pool = 2});
    m->g.options = RP_OPT_NO_FUSION;
    check(&m->g, RP_PLAN_TRAIN, 64, "smallcnn unfused", (expect){.steps = {[RP_STEP_LAYER] = 11}});
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

/* No backward operation of any plan, with any options, plain or fused, writes a gradient into
 * the buffer of the gradient it reads: the lifetimes that share buffers come from these
 * operations (a training fold once read a batch norm's gradient from the buffer it wrote its
 * input's into). */
static void check_no_overlap(const char *arch, int H, int C)
{
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = make(ctx, arch, H, C, 3);
    rp_graph *g = &m->g;
    static const unsigned OPTS[] = {0, RP_OPT_TRAIN_FOLD_ALWAYS, RP_OPT_NO_TRAIN_FOLD, RP_OPT_NO_CHAIN, RP_OPT_NO_DW_BN,
                                    RP_OPT_NO_FUSION};
    int checked = 0;
    for (size_t o = 0; o < sizeof OPTS / sizeof OPTS[0]; o++)
        for (int kind = 0; kind < RP_PLAN_KINDS; kind++) {
            g->options = OPTS[o];
            const rp_plan *p = rp_graph_plan(g, (rp_plan_kind)kind, 3);
            for (int plain = 0; plain < 2; plain++)
                for (int k = 0; k < p->n_steps; k++) {
                    if (plain && p->steps[k].kind == RP_STEP_CHAIN) continue;
                    rp_bop ops[3];
                    int n = rp_step_bwd_ops(g, &p->steps[k], plain, ops);
                    for (int j = 0; j < n; j++) {
                        const rp_bop *b = &ops[j];
                        const rp_node *nd = &g->nodes[b->node];
                        int reads = b->kind == RP_BOP_NODE || b->kind == RP_BOP_POOL_ACT ? b->node
                                    : b->kind == RP_BOP_CHAIN ? g->chains[b->chain].last : b->grad;
                        int writes[2] = {nd->in[0], nd->n_in > 1 ? nd->in[1] : RP_INPUT};
                        if (b->kind == RP_BOP_POOL_ACT) writes[0] = g->nodes[b->act].in[0];
                        if (b->kind == RP_BOP_CHAIN) writes[0] = g->chains[b->chain].input;
                        for (int w = 0; w < 2; w++) {
                            if (writes[w] == RP_INPUT) continue;
                            if (g->nodes[writes[w]].dy_slot == g->nodes[reads].dy_slot)
                                fail_msg("%s: the backward of %s writes %s's gradient into the buffer of %s's, "
                                         "which it reads", arch, nd->name, g->nodes[writes[w]].name,
                                         g->nodes[reads].name);
                            checked++;
                        }
                    }
                }
        }
    assert_true(checked > g->n_nodes);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

static void test_no_overlap(void **state)
{
    (void)state;
    check_no_overlap("mobilenet_v2", 64, 3);
    check_no_overlap("resnet18", 64, 3);
    check_no_overlap("smallcnn", 28, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mobilenet_v2),
        cmocka_unit_test(test_resnet18),
        cmocka_unit_test(test_no_overlap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
