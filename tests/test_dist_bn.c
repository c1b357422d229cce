/* Data-parallel batch norm (rp_graph_set_dist through rp_objective_set_dist): MobileNetV2
 * (width 0.25, 16x16 images, no classifier dropout) steps on a global batch of 20 split over
 * the processes (7/7/6 with 3, and again with the last piece empty), and the summed parameter
 * gradients and the batch norms' running statistics equal the one-process step's within float
 * rounding per tensor -- within 1e-5 relative, or within four times the spread between two
 * one-process steps that round differently (with and without the plan's fusions: 7e-5 to
 * 1.1e-4 here, where the training backward's cancellations through 52 batch norms amplify rounding)
 * -- for erm, PGD (eval-mode crafting, one training pass) and advreg (the training pass's input
 * gradient). TRADES (one training pass of [x; x_adv], an empty piece included) runs and every
 * process holds the same bits, but its values are not compared: its crafting starts where the
 * KL gradient is 0 but for rounding, so its signs -- and the step -- differ by O(1) between any
 * two roundings, one process with and without fusions included. The same for a conv, a depthwise
 * conv and their batch norms (16x16x64), whose depthwise conv does its batch norm's backward
 * (RP_STEP_DW_BN_TRAIN: the sums over the processes, then the tiles); its fusions round as the
 * plain run does, so its yardstick is one process on inputs moved by an ulp. Run alone (one
 * process: the identity) and as test_dist_bn_mpi3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "model_testutil.h"

enum { BG = 20, H = 16, W = 16, C = 3, K = 10 };

/* dw: conv 3x3 (64) -> batch norm -> ReLU6 -> depthwise 3x3 -> batch norm -> ReLU6 -> pool ->
 * linear, whose depthwise conv does its batch norm's backward (RP_STEP_DW_BN_TRAIN: a 16x16x64
 * sample is large enough); else mobilenet_v2 as rp_model_create makes it, without its dropout
 * (masks are per process). */
static rp_model *model(rp_ctx *ctx, bool dw)
{
    if (dw) {
        const rp_model_config c = {.arch = "dwbn", .num_classes = K, .H = H, .W = W, .C = C, .max_batch = BG,
                                   .seed = 9};
        rp_model *m = mtu_model_begin(ctx, &c);
        rp_graph *g = &m->g;
        int x = rp_g_conv2d(g, RP_INPUT, "conv0", 64, 3, 1, 1, 1, false);
        x = rp_g_relu6(g, rp_g_batchnorm2d(g, x, "bn0", 1e-5f, 0.1f), "act0");
        x = rp_g_conv2d(g, x, "dw", 64, 3, 1, 1, 64, false);
        x = rp_g_relu6(g, rp_g_batchnorm2d(g, x, "bn1", 1e-5f, 0.1f), "act1");
        x = rp_g_linear(g, rp_g_flatten(g, rp_g_global_avgpool(g, x, "pool"), "flat"), "fc", K, true);
        assert_true(x >= 0);
        mtu_model_finish(m);
        return m;
    }
    rp_model_config mc = {.arch = "mobilenet_v2", .num_classes = K, .H = H, .W = W, .C = C, .max_batch = BG,
                          .seed = 9, .width = 0.25f, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.25f, 0.25f, 0.25f}};
    rp_model *m = mtu_model_begin(ctx, &mc);
    assert_true(rp_build_mobilenet_v2_dropout(&m->g, &m->cfg, 0.0f) >= 0);
    mtu_model_finish(m);
    return m;
}

/* One step of cfg on samples [lo, hi) of (x, y, idx) with d (NULL: alone), learning rate 0. */
static void step(rp_ctx *ctx, rp_model *m, const rp_objective_config *cfg, rp_dist *d, const float *x,
                 const int32_t *y, const int *idx, int lo, int hi, rp_step_stats *st)
{
    rp_objective *o;
    rp_optim *opt;
    mtu_objective(ctx, m, cfg, BG, 0.0f, &o, &opt);
    assert_int_equal(rp_objective_set_dist(o, d), RP_OK);
    rp_objective_set_examples(o, 1, idx + lo);
    if (rp_train_step(o, opt, x + (size_t)lo * H * W * C, y + lo, hi - lo, st) != RP_OK)
        fail_msg("step: %s", rp_ctx_error(ctx));
    rp_optim_destroy(opt);
    rp_objective_destroy(o);
}

/* Per tensor: max |a - b| over max(max |a|, 1e-3 G), G the largest |value| of a's tensors of
 * that kind (gradients, buffers): tensors whose exact value is 0 (a batch norm's bias before
 * another batch norm, a running mean after one) hold rounding only. */
static double largest(const rp_model *m, bool trainable)
{
    double g = 0.0;
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        const float *v = trainable ? p->grad : p->data;
        if (p->trainable != trainable || p->is_int64) continue;
        for (size_t k = 0; k < p->numel; k++) g = fabs(v[k]) > g ? fabs(v[k]) : g;
    }
    return g;
}

static double rel_diff(const rp_model *a, const rp_model *b, int i, const double G[2])
{
    const rp_param *p = &a->g.params[i], *q = &b->g.params[i];
    const float *u = p->trainable ? p->grad : p->data, *v = p->trainable ? q->grad : q->data;
    double num = 0, den = 1e-3 * G[p->trainable];
    for (size_t k = 0; k < p->numel; k++) {
        double e = fabs((double)u[k] - v[k]);
        num = e > num ? e : num;
        den = fabs(u[k]) > den ? fabs(u[k]) : den;
    }
    return num / den;
}

static uint64_t hash(uint64_t h, const float *v, size_t n)
{
    const unsigned char *b = (const unsigned char *)v;
    for (size_t k = 0; k < n * sizeof *v; k++) h = (h ^ b[k]) * 1099511628211ULL;
    return h;
}

static void test_bn_over_processes(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dist *d = NULL;
    assert_int_equal(rp_dist_create(ctx, &d), RP_OK);
    int R = rp_dist_rank(d), N = rp_dist_size(d);
    float *x = malloc((size_t)BG * H * W * C * sizeof *x);
    int32_t y[BG];
    int idx[BG];
    tu_fill_uniform(x, (size_t)BG * H * W * C, 0.0f, 1.0f, 33);
    float *xu = malloc((size_t)BG * H * W * C * sizeof *xu);
    for (size_t i = 0; i < (size_t)BG * H * W * C; i++) xu[i] = nextafterf(x[i], 2.0f);
    for (int i = 0; i < BG; i++) y[i] = (int32_t)(i * 7 % K), idx[i] = 40 + i * 3;
    rp_objective_config erm = rp_objective_defaults(), pgd = erm, advreg = erm, trades = erm;
    pgd.kind = RP_OBJ_PGD, pgd.eps = 0.05f, pgd.norm = RP_NORM_LINF, pgd.steps = 2, pgd.random_init = true;
    advreg.kind = RP_OBJ_ADVREG, advreg.eps = 0.05f, advreg.norm = RP_NORM_LINF, advreg.steps = 1;
    advreg.multiplier = 0.5f;
    trades.kind = RP_OBJ_TRADES, trades.eps = 0.05f, trades.norm = RP_NORM_LINF, trades.steps = 1, trades.beta = 2.0f;
    const rp_objective_config *cfgs[] = {&erm, &pgd, &advreg, &trades};
    const char *names[] = {"erm", "pgd", "advreg", "trades"};
    for (int dw = 0; dw < 2; dw++) {
        for (int q = 0; q < 4; q++)
            for (int empty = 0; empty < 2; empty++) { /* empty: the last rank's piece is empty */
                rp_model *whole = model(ctx, dw), *plain = model(ctx, dw), *part = model(ctx, dw);
                rp_step_stats sw, sq, sp;
                step(ctx, whole, cfgs[q], NULL, x, y, idx, 0, BG, &sw);
                /* the same function with other roundings: one process without its fusions (mobilenet_v2's
                 * chains and folds round differently; dw's fusions give the same bits, so its inputs
                 * moved by one rounding, an ulp each, instead) */
                plain->g.options = RP_OPT_NO_FUSION;
                step(ctx, plain, cfgs[q], NULL, dw ? xu : x, y, idx, 0, BG, &sq);
                int P = empty && N > 1 ? N - 1 : N;
                int lo = R < P ? BG * R / P : BG, hi = R < P ? BG * (R + 1) / P : BG;
                step(ctx, part, cfgs[q], d, x, y, idx, lo, hi, &sp);
                if (dw && hi > lo) /* the training pass ran the depthwise + batch-norm backward */
                    assert_int_equal(rp_plan_count(&part->g.plans[RP_PLAN_TRAIN], RP_STEP_DW_BN_TRAIN), 1);
                double G[2] = {largest(whole, false), largest(whole, true)}, spread = 0.0, worst[2] = {0.0, 0.0};
                for (int i = 0; i < whole->g.n_params; i++)
                    if (!whole->g.params[i].is_int64) {
                        double e = rel_diff(whole, plain, i, G);
                        spread = e > spread ? e : spread;
                    }
                double tol = 4.0 * spread > 1e-5 ? 4.0 * spread : 1e-5;
                bool chaotic = cfgs[q] == &trades; /* see below */
                uint64_t h = 1469598103934665603ULL;
                for (int i = 0; i < whole->g.n_params; i++) {
                    const rp_param *a = &whole->g.params[i], *b = &part->g.params[i];
                    if (a->is_int64) { /* num_batches_tracked: one per training pass, as one process counts */
                        assert_true(a->data[0] == b->data[0]);
                        continue;
                    }
                    double e = rel_diff(whole, part, i, G);
                    if (e > tol && !chaotic)
                        fail_msg("%s, rank %d of %d%s: %s off by %.3g relative (one process's own spread %.3g)",
                                 names[q], R, N, empty ? " (an empty piece)" : "", a->name, e, spread);
                    worst[a->trainable] = e > worst[a->trainable] ? e : worst[a->trainable];
                    h = hash(h, a->trainable ? b->grad : b->data, b->numel);
                }
                if (!chaotic) {
                    assert_int_equal(sp.correct, sw.correct);
                    assert_true(fabsf(sp.loss - sw.loss) <= 1e-5f * fabsf(sw.loss));
                }
                if (rp_dist_check_same(d, h, "gradients and batch-norm statistics") != RP_OK)
                    fail_msg("%s", rp_ctx_error(ctx));
                if (R == 0)
                    printf("%s %-6s%s: per tensor, largest relative difference from one process: gradients %.2g, "
                           "running statistics %.2g (one process with and without fusions: %.2g)\n",
                           dw ? "dw+bn" : "mobilenet_v2", names[q], empty ? " (an empty piece)" : "", worst[1],
                           worst[0], spread);
                rp_model_destroy(plain);
                rp_model_destroy(whole), rp_model_destroy(part);
            }
    }
    free(x);
    free(xu);
    rp_dist_destroy(d);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bn_over_processes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
