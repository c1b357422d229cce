/* Data-parallel training of models with dropout and stochastic depth (rp_objective_set_dist):
 * every example's masks are keyed by (seed, epoch, sample, layer, pass, copy), so the
 * processes' pieces of a global batch draw the masks one process draws for the whole batch.
 *  - A model with dropout and stochastic depth and no batch norm: the summed gradients of the
 *    pieces (12 examples: 4/4/4 with 3 processes, and 6/6/0) and the weights after five SGD
 *    steps equal one process's within 1e-5 relative per tensor for erm, advreg (two training
 *    passes), TRADES ([x; x_adv]: two copies of every example; the first step only) and
 *    AugMix's consistency (three copies); with other examples' masks they would differ by O(1)
 *    (checked, so the agreement is not vacuous).
 *  - MobileNetV2 (width 0.25, classifier dropout 0.5) and EfficientNet-B0 (dropout 0.5,
 *    stochastic depth up to 0.47), 16x16 images, a global batch of 20 (7/7/6): for erm and
 *    advreg, the first step's gradients and running statistics within the batch-norm-over-
 *    processes tolerance of tests/test_dist_bn.c (four times the spread between one process's
 *    fused and unfused plans, at least 1e-5). Later steps are not compared here: on these
 *    random images and labels the updates are large and rounding differences grow within a few
 *    steps, between one process's own fused and unfused plans as much as between processes
 *    (tests/mpi_cli.sh trains both models on data under 3 processes against one).
 * Run alone (one process: the identity) and as test_dist_dropout_mpi3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "model_testutil.h"

/* ---- a model without batch norm: exact up to the order of the sums ------------------------- */

enum { SB = 12, SH = 8, SW = 8, SC = 2, SK = 5 };

/* mtu_masked_model: input -> conv -> relu -> (x + stochastic_depth(conv(x))) -> average pool ->
 * dropout -> linear */
static rp_model *small_model(rp_ctx *ctx)
{
    return mtu_masked_model(ctx, SH, SW, SC, SK, SB);
}

/* Steps of cfg on samples [lo, hi) of (x, views, y), named idx[i] + shift, over d (NULL:
 * alone): `steps` SGD steps at lr (lr 0: the gradients of one step stay in m). */
static void train(rp_ctx *ctx, rp_model *m, const rp_objective_config *cfg, rp_dist *d, const float *x,
                  const float *views, const int32_t *y, const int *idx, int shift, int lo, int hi, int BG, int steps,
                  float lr)
{
    rp_objective *o;
    rp_optim *opt;
    mtu_objective(ctx, m, cfg, BG, lr, &o, &opt);
    assert_int_equal(rp_objective_set_dist(o, d), RP_OK);
    size_t X = (size_t)m->cfg.H * m->cfg.W * m->cfg.C, n = (size_t)(hi - lo);
    float *v = NULL;
    if (views) { /* (2, n, X): this piece's rows of both views */
        v = malloc((2 * n + 1) * X * sizeof *v);
        for (int k = 0; k < 2; k++) memcpy(v + k * n * X, views + ((size_t)k * BG + lo) * X, n * X * sizeof *v);
    }
    int *names = malloc(((size_t)BG + 1) * sizeof *names);
    for (int i = lo; i < hi; i++) names[i - lo] = idx[i] + shift;
    for (int s = 0; s < steps; s++) {
        rp_objective_set_examples(o, 1 + s, names);
        rp_step_stats st;
        if (rp_train_step_views(o, opt, x + (size_t)lo * X, v, y + lo, hi - lo, &st) != RP_OK)
            fail_msg("step: %s", rp_ctx_error(ctx));
    }
    free(names);
    free(v);
    rp_optim_destroy(opt);
    rp_objective_destroy(o);
}

/* What is compared of tensor i of m: its gradient (trainable, unless weights) or its value
 * (the weights; buffers: running statistics). */
static double value(const rp_model *m, bool weights, int i, size_t k)
{
    const rp_param *p = &m->g.params[i];
    return p->trainable && !weights ? p->grad[k] : p->data[k];
}

/* The largest |value| of m's trainable tensors or buffers. */
static double largest(const rp_model *m, bool weights, bool trainable)
{
    double g = 0.0;
    for (int i = 0; i < m->g.n_params; i++)
        if (m->g.params[i].trainable == trainable && !m->g.params[i].is_int64)
            for (size_t k = 0; k < m->g.params[i].numel; k++) g = fmax(g, fabs(value(m, weights, i, k)));
    return g;
}

/* Per tensor: max |a - b| over max(max |a|, 1e-3 G), G the largest |value| of a's tensors of
 * that kind (as tests/test_dist_bn.c: a tensor whose exact value is 0, a batch norm's bias
 * before another batch norm, holds rounding only); the largest over the tensors. */
static double worst(const rp_model *a, const rp_model *b, bool weights)
{
    double G[2] = {largest(a, weights, false), largest(a, weights, true)}, w = 0.0;
    for (int i = 0; i < a->g.n_params; i++) {
        const rp_param *p = &a->g.params[i];
        if (p->is_int64) continue;
        double num = 0.0, den = fmax(1e-3 * G[p->trainable], 1e-30);
        for (size_t k = 0; k < p->numel; k++) {
            double u = value(a, weights, i, k);
            num = fmax(num, fabs(u - value(b, weights, i, k)));
            den = fmax(den, fabs(u));
        }
        w = fmax(w, num / den);
    }
    return w;
}

static void test_small_model_exact(void **state)
{
    const mtu_job *j = *state;
    mtu_masked_batch b;
    mtu_masked_batch_init(&b, SB, (size_t)SH * SW * SC, SK);
    const char *names[] = {"erm", "advreg", "trades", "consistency"};
    for (int q = 0; q < 4; q++)
        for (int run = 0; run < (q == MTU_TRADES ? 2 : 3); run++) {
            /* one step's gradients, with an empty piece; five steps' weights -- not TRADES's: its
             * crafting starts where the KL gradient is 0 but for rounding, so once the weights
             * differ by the order of the gradient sums its steps' signs do (tests/test_dist_bn.c) */
            const float *v = q == MTU_CONSISTENCY ? b.views : NULL;
            bool empty = run == 1, weights = run == 2;
            int steps = weights ? 5 : 1;
            float lr = weights ? 0.2f : 0.0f;
            rp_model *whole = small_model(j->ctx), *part = small_model(j->ctx), *other = small_model(j->ctx);
            int lo, hi;
            mtu_piece(j, SB, empty, &lo, &hi);
            train(j->ctx, whole, &b.cfg[q], NULL, b.x, v, b.y, b.idx, 0, 0, SB, SB, steps, lr);
            train(j->ctx, part, &b.cfg[q], j->d, b.x, v, b.y, b.idx, 0, lo, hi, SB, steps, lr);
            train(j->ctx, other, &b.cfg[q], j->d, b.x, v, b.y, b.idx, 1000, lo, hi, SB, steps, lr); /* other masks */
            double e = worst(whole, part, weights), o = worst(whole, other, weights);
            const char *what = weights ? "five steps' weights" : empty ? "gradients (an empty piece)" : "gradients";
            if (e > 1e-5) fail_msg("%s, rank %d of %d: %s off by %.3g relative", names[q], j->R, j->N, what, e);
            if (o < (weights ? 1e-3 : 1e-2))
                fail_msg("%s: other examples' masks should change the %s (%.3g)", names[q], what, o);
            if (j->R == 0)
                printf("small model, %-11s %-26s: %d processes vs one %.2g per tensor (other masks: %.2g)\n", names[q],
                       what, j->N, e, o);
            rp_model_destroy(whole), rp_model_destroy(part), rp_model_destroy(other);
        }
    mtu_masked_batch_free(&b);
}

/* ---- MobileNetV2 and EfficientNet-B0: batch norm over the processes ------------------------- */

enum { BG = 20, H = 16, W = 16, C = 3, K = 10 };

static rp_model *big_model(rp_ctx *ctx, bool efficientnet)
{
    rp_model_config mc = {.arch = efficientnet ? "efficientnet_b0" : "mobilenet_v2", .num_classes = K, .H = H, .W = W,
                          .C = C, .max_batch = BG, .seed = 9, .width = efficientnet ? 1.0f : 0.25f,
                          .mean = {0.5f, 0.5f, 0.5f},
                          .std = {0.25f, 0.25f, 0.25f}};
    rp_model *m = mtu_model_begin(ctx, &mc);
    if (efficientnet) assert_true(rp_build_efficientnet_b0_opts(&m->g, &m->cfg, 0.5f, 0.5f) >= 0);
    else assert_true(rp_build_mobilenet_v2_dropout(&m->g, &m->cfg, 0.5f) >= 0);
    mtu_model_finish(m);
    return m;
}

static void test_backbones_over_processes(void **state)
{
    const mtu_job *j = *state;
    size_t X = (size_t)H * W * C;
    float *x = malloc(BG * X * sizeof *x);
    int32_t y[BG];
    int idx[BG];
    tu_fill_uniform(x, BG * X, 0.0f, 1.0f, 33);
    for (int i = 0; i < BG; i++) y[i] = (int32_t)(i * 7 % K), idx[i] = 40 + i * 3;
    rp_objective_config erm = rp_objective_defaults(), advreg = erm;
    advreg.kind = RP_OBJ_ADVREG, advreg.eps = 0.05f, advreg.norm = RP_NORM_LINF, advreg.multiplier = 0.5f;
    const rp_objective_config *cfgs[] = {&erm, &advreg};
    const char *names[] = {"erm", "advreg"};
    for (int e = 0; e < 2; e++)
        for (int q = 0; q < 2; q++) {
            rp_model *whole = big_model(j->ctx, e), *plain = big_model(j->ctx, e), *part = big_model(j->ctx, e);
            plain->g.options = RP_OPT_NO_FUSION; /* the same function, other roundings */
            int lo, hi;
            mtu_piece(j, BG, false, &lo, &hi);
            train(j->ctx, whole, cfgs[q], NULL, x, NULL, y, idx, 0, 0, BG, BG, 1, 0.0f);
            train(j->ctx, plain, cfgs[q], NULL, x, NULL, y, idx, 0, 0, BG, BG, 1, 0.0f);
            train(j->ctx, part, cfgs[q], j->d, x, NULL, y, idx, 0, lo, hi, BG, 1, 0.0f);
            double spread = worst(whole, plain, false), got = worst(whole, part, false);
            double tol = fmax(4.0 * spread, 1e-5);
            if (got > tol)
                fail_msg("%s %s, rank %d of %d: gradients or running statistics off by %.3g relative (one process's "
                         "own spread %.3g)", whole->arch, names[q], j->R, j->N, got, spread);
            if (j->R == 0)
                printf("%-15s %-6s: %d processes vs one %.2g per tensor (one process fused vs unfused %.2g)\n",
                       whole->arch, names[q], j->N, got, spread);
            rp_model_destroy(whole), rp_model_destroy(plain), rp_model_destroy(part);
        }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_model_exact),
        cmocka_unit_test(test_backbones_over_processes),
    };
    return cmocka_run_group_tests(tests, mtu_job_setup, mtu_job_teardown);
}
