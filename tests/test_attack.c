/* Attacks: the evaluation checklist (ANCHORS §3) automated on a small model trained here
 * (mlp on 3,000 Fashion-MNIST images, 2 epochs, a few seconds), attacked on 200 test images;
 * closed forms on a hand-built linear model; gradients of the attack losses. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "robust/attack_internal.h"
#include "model_testutil.h"
#include "testutil.h"

enum { N_TRAIN = 3000, N_TEST = 200, TRAIN_B = 100 };
#define EPS 0.05f /* small enough that white-box accuracies stay informative (not all 0) */

static struct {
    rp_ctx *ctx;
    rp_model *m;
    float *x, *x_adv, *x_adv2;
    int32_t *y, *t;
    bool *succ;
    size_t X;
    int K;
    double clean;
} S;

static int setup(void **state)
{
    (void)state;
    S.ctx = rp_ctx_create(2);
    rp_dataset *tr = NULL, *te = NULL;
    assert_int_equal(rp_dataset_open(S.ctx, "fashion-mnist", true, &tr), RP_OK);
    assert_int_equal(rp_dataset_open(S.ctx, "fashion-mnist", false, &te), RP_OK);
    S.m = mtu_trained_mlp(S.ctx, tr, N_TRAIN, TRAIN_B, N_TEST);
    int H, W, C;
    rp_dataset_shape(tr, &H, &W, &C);
    S.K = rp_dataset_num_classes(tr);
    S.X = (size_t)H * W * C;
    S.x = malloc((size_t)N_TEST * S.X * sizeof(float));
    S.x_adv = malloc((size_t)N_TEST * S.X * sizeof(float));
    S.x_adv2 = malloc((size_t)N_TEST * S.X * sizeof(float));
    S.y = malloc(N_TEST * sizeof(int32_t));
    S.t = malloc(N_TEST * sizeof(int32_t));
    S.succ = malloc(N_TEST * sizeof(bool));
    int idx[N_TEST];
    for (int i = 0; i < N_TEST; i++) idx[i] = i;
    rp_dataset_gather(te, idx, N_TEST, S.x, S.y);
    for (int i = 0; i < N_TEST; i++) S.t[i] = (S.y[i] + 1) % S.K;
    const float *z = rp_model_forward(S.m, S.x, N_TEST, false);
    int c = 0;
    rp_softmax_xent(z, S.y, N_TEST, S.K, 0.0f, NULL, 1.0f, &c);
    S.clean = (double)c / N_TEST;
    printf("# clean accuracy of the mlp on %d test images: %.3f\n", N_TEST, S.clean);
    assert_true(S.clean > 0.7);
    rp_dataset_destroy(tr);
    rp_dataset_destroy(te);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rp_model_destroy(S.m);
    rp_ctx_destroy(S.ctx);
    free(S.x), free(S.x_adv), free(S.x_adv2), free(S.y), free(S.t), free(S.succ);
    return 0;
}

/* Run cfg on the test images into out; returns the robust accuracy (1 - success rate), checks
 * the output is in its ball and that success[i] is the prediction on x_adv[i]. */
static double run(const rp_attack_config *cfg, float *out, long *passes, const char *label)
{
    rp_attack *a = NULL;
    assert_int_equal(rp_attack_create(S.ctx, S.m, cfg, N_TEST, &a), RP_OK);
    long p = 0;
    assert_int_equal(rp_attack_run(a, S.x, S.y, cfg->targeted ? S.t : NULL, N_TEST, out, S.succ, &p), RP_OK);
    float mx = 0.0f;
    if (!rp_attack_check_ball(S.x, out, N_TEST, S.X, cfg->norm, cfg->eps, cfg->clip_min, cfg->clip_max, &mx))
        fail_msg("%s: output leaves the eps=%g ball or [0,1] (max norm %.9g)", label, (double)cfg->eps, (double)mx);
    const float *z = rp_model_forward(S.m, out, N_TEST, false);
    int fooled = 0, mismatch = 0;
    for (int i = 0; i < N_TEST; i++) {
        bool f = rp_atk_fooled(z + (size_t)i * S.K, S.K, S.y[i], S.t[i], cfg->targeted);
        mismatch += f != S.succ[i];
        fooled += S.succ[i];
    }
    if (mismatch) fail_msg("%s: %d success flags disagree with the prediction on x_adv", label, mismatch);
    rp_attack_destroy(a);
    if (passes) *passes = p;
    double acc = 1.0 - (double)fooled / N_TEST;
    printf("# %-28s eps %.4f: %s %.3f  (%ld passes, max norm %.5f)\n", label, (double)cfg->eps,
           cfg->targeted ? "target hit rate" : "robust accuracy", cfg->targeted ? 1.0 - acc : acc, p, (double)mx);
    return acc;
}

static rp_attack_config cfg_of(rp_attack_kind k, float eps)
{
    rp_attack_config c = rp_attack_defaults(k, eps);
    c.seed = 11;
    return c;
}

/* §3.1: accuracy ~0 at eps 0.5; §3.2: unbounded PGD succeeds on (nearly) everything. */
static void test_large_eps(void **state)
{
    (void)state;
    rp_attack_config c = cfg_of(RP_ATTACK_PGD, 0.5f);
    assert_true(run(&c, S.x_adv, NULL, "pgd-10 eps 0.5") <= 0.01);
    c = cfg_of(RP_ATTACK_PGD, INFINITY);
    c.step_size = 0.1f, c.steps = 50;
    assert_true(run(&c, S.x_adv, NULL, "pgd-50 unbounded") <= 0.01);
}

/* §3.3: iterative <= single step; more steps and restarts never raise accuracy.
 * §3.4: the white-box attacks beat Square (score-based) and random noise of the same eps;
 * Square and noise still work at all. §3.7: the worst case is at most each of its parts. */
static void test_checklist(void **state)
{
    (void)state;
    rp_attack_config c = cfg_of(RP_ATTACK_FGSM, EPS);
    double fgsm = run(&c, S.x_adv, NULL, "fgsm");
    c = cfg_of(RP_ATTACK_PGD, EPS);
    double pgd10 = run(&c, S.x_adv, NULL, "pgd-10");
    c.steps = 20;
    double pgd20 = run(&c, S.x_adv, NULL, "pgd-20");
    c.restarts = 3;
    double pgd20r = run(&c, S.x_adv, NULL, "pgd-20 x3 restarts");
    c = cfg_of(RP_ATTACK_APGD_CE, EPS);
    c.steps = 20;
    double apgd = run(&c, S.x_adv, NULL, "apgd-ce-20");
    c = cfg_of(RP_ATTACK_APGD_T, EPS);
    c.steps = 20, c.n_target_classes = 3;
    double apgdt = run(&c, S.x_adv, NULL, "apgd-t-20 (3 targets)");
    c = cfg_of(RP_ATTACK_WORST, EPS);
    c.steps = 20, c.n_target_classes = 3, c.square_queries = 50;
    double worst = run(&c, S.x_adv, NULL, "worst (apgd-ce, -t, square)");
    c = cfg_of(RP_ATTACK_SQUARE, EPS);
    c.steps = 100;
    double sq = run(&c, S.x_adv, NULL, "square-100");
    c.eps = 0.15f;
    double sq_big = run(&c, S.x_adv, NULL, "square-100");
    c = cfg_of(RP_ATTACK_NOISE, EPS);
    double noise = run(&c, S.x_adv, NULL, "noise");
    assert_true(fgsm < S.clean);
    assert_true(pgd10 <= fgsm);
    /* different step sizes take different paths: allow one example (0.5 points) */
    assert_true(pgd20 <= pgd10 + 1.0 / N_TEST);
    assert_true(pgd20r <= pgd20); /* the first restart is the single run: exact */
    assert_true(apgd <= pgd20 + 1.0 / N_TEST);
    assert_true(worst <= apgd);   /* its first stage is the same APGD-CE run: exact */
    assert_true(worst <= apgdt + 1.0 / N_TEST);
    double white = apgd < apgdt ? apgd : apgdt;
    assert_true(sq >= white);
    assert_true(sq_big <= S.clean - 0.3);                    /* Square finds adversarials */
    assert_true(S.clean - noise <= (S.clean - white) / 3.0); /* noise is far weaker */
}

/* §3.6: every output inside its ball and [0,1], for every kind and both norms (checked in
 * run()); plus the pass counts: PGD-k costs k + 1 forward passes. */
static void test_ball_and_passes(void **state)
{
    (void)state;
    long p = 0;
    rp_attack_config c = cfg_of(RP_ATTACK_PGD, 0.001f);
    c.random_start = false;
    run(&c, S.x_adv, &p, "pgd-10 tiny eps");
    assert_int_equal(p, 11);
    c = cfg_of(RP_ATTACK_FGSM, 0.001f);
    run(&c, S.x_adv, &p, "fgsm tiny eps");
    assert_int_equal(p, 2);
    c = cfg_of(RP_ATTACK_APGD_CE, 0.001f);
    c.steps = 20;
    run(&c, S.x_adv, &p, "apgd-ce-20 tiny eps");
    assert_int_equal(p, 22); /* clean check + random start + 20 */
    c = cfg_of(RP_ATTACK_FGSM_RS, EPS);
    run(&c, S.x_adv, NULL, "fgsm-rs");
    c = cfg_of(RP_ATTACK_PGD, 1.5f);
    c.norm = RP_NORM_L2;
    double l2 = run(&c, S.x_adv, NULL, "pgd-10 L2");
    assert_true(l2 < S.clean - 0.3);
    c = cfg_of(RP_ATTACK_APGD_CE, 1.5f);
    c.norm = RP_NORM_L2, c.steps = 20;
    assert_true(run(&c, S.x_adv, NULL, "apgd-ce-20 L2") <= l2 + 1.0 / N_TEST);
    c = cfg_of(RP_ATTACK_NOISE, 1.5f);
    c.norm = RP_NORM_L2;
    run(&c, S.x_adv, NULL, "noise L2");
    c = cfg_of(RP_ATTACK_PGD, EPS);
    c.loss = RP_LOSS_MARGIN;
    run(&c, S.x_adv, NULL, "pgd-10 margin loss");
    c.loss = RP_LOSS_DLR;
    run(&c, S.x_adv, NULL, "pgd-10 dlr loss");
}

/* §3.5/§3.8: the same seed gives the same x_adv; another seed another one. */
static void test_deterministic(void **state)
{
    (void)state;
    rp_attack_kind kinds[] = {RP_ATTACK_PGD, RP_ATTACK_SQUARE, RP_ATTACK_APGD_CE};
    for (int q = 0; q < 3; q++) {
        rp_attack_config c = cfg_of(kinds[q], EPS);
        c.steps = kinds[q] == RP_ATTACK_SQUARE ? 20 : 5;
        run(&c, S.x_adv, NULL, rp_attack_name(kinds[q]));
        run(&c, S.x_adv2, NULL, rp_attack_name(kinds[q]));
        assert_memory_equal(S.x_adv, S.x_adv2, (size_t)N_TEST * S.X * sizeof(float));
        c.seed = 12;
        run(&c, S.x_adv2, NULL, rp_attack_name(kinds[q]));
        assert_memory_not_equal(S.x_adv, S.x_adv2, (size_t)N_TEST * S.X * sizeof(float));
    }
}

/* An example's attack does not depend on its batch: the test images in one run, in runs of
 * 64, 64, 72 on one attack (numbered on), and the last 72 alone on a fresh attack after
 * rp_attack_seek(128) give the same x_adv bit for bit -- random starts, APGD's restarts,
 * Square's squares, the noise attack. */
static void test_batch_independent(void **state)
{
    (void)state;
    rp_attack_kind kinds[] = {RP_ATTACK_PGD, RP_ATTACK_APGD_CE, RP_ATTACK_SQUARE, RP_ATTACK_NOISE};
    for (int q = 0; q < 4; q++) {
        rp_attack_config c = cfg_of(kinds[q], EPS);
        c.steps = kinds[q] == RP_ATTACK_SQUARE ? 20 : 5;
        c.restarts = kinds[q] == RP_ATTACK_NOISE ? 1 : 2;
        run(&c, S.x_adv, NULL, rp_attack_name(kinds[q]));
        rp_attack *a = NULL, *b = NULL;
        assert_int_equal(rp_attack_create(S.ctx, S.m, &c, N_TEST, &a), RP_OK);
        assert_int_equal(rp_attack_create(S.ctx, S.m, &c, N_TEST, &b), RP_OK);
        const int parts[] = {0, 64, 128, N_TEST};
        for (int k = 0; k < 3; k++) {
            int at = parts[k], n = parts[k + 1] - at;
            assert_int_equal(rp_attack_run(a, S.x + (size_t)at * S.X, S.y + at, NULL, n, S.x_adv2 + (size_t)at * S.X,
                                           NULL, NULL), RP_OK);
        }
        if (memcmp(S.x_adv, S.x_adv2, (size_t)N_TEST * S.X * sizeof(float)))
            fail_msg("%s: batches of 64, 64, 72 differ from one run", rp_attack_name(kinds[q]));
        rp_attack_seek(b, 128);
        assert_int_equal(rp_attack_run(b, S.x + 128 * S.X, S.y + 128, NULL, N_TEST - 128, S.x_adv2, NULL, NULL), RP_OK);
        if (memcmp(S.x_adv + 128 * S.X, S.x_adv2, (size_t)(N_TEST - 128) * S.X * sizeof(float)))
            fail_msg("%s: the last 72 after seek(128) differ from the whole run's", rp_attack_name(kinds[q]));
        rp_attack_destroy(a), rp_attack_destroy(b);
    }
}

/* Targeted PGD reaches the target class (y + 1) often, and more often with a larger eps. */
static void test_targeted(void **state)
{
    (void)state;
    rp_attack_config c = cfg_of(RP_ATTACK_PGD, 0.1f);
    c.targeted = true, c.steps = 10;
    double miss_small = run(&c, S.x_adv, NULL, "targeted pgd-10");
    c.eps = 0.3f;
    double miss = run(&c, S.x_adv, NULL, "targeted pgd-10");
    assert_true(miss <= 0.1);
    assert_true(miss <= miss_small);
    c.loss = RP_LOSS_MARGIN;
    assert_true(run(&c, S.x_adv, NULL, "targeted pgd-10 margin") <= 0.1);
}

/* ---- a binary linear model: exact robustness ------------------------------------------ */

enum { LH = 4, LW = 4, LX = LH * LW, LB = 64 };

static rp_model *linear_model(void)
{
    rp_model *m = calloc(1, sizeof *m);
    m->ctx = S.ctx;
    m->cfg = (rp_model_config){.arch = "linear", .num_classes = 2, .H = LH, .W = LW, .C = 1, .max_batch = LB};
    snprintf(m->arch, sizeof m->arch, "linear");
    m->cfg.arch = m->arch;
    rp_graph_init(&m->g, S.ctx, (rp_shape){LH, LW, 1});
    int f = rp_g_flatten(&m->g, RP_INPUT, "flatten");
    rp_g_linear(&m->g, f, "fc", 2, true);
    assert_int_equal(m->g.status, RP_OK);
    assert_int_equal(rp_graph_finalize(&m->g, LB, 9), RP_OK);
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

/* z = W x + b, K = 2: an example with margin mu = (w_y - w_o) x + b_y - b_o > 0 survives every
 * L-inf perturbation of size eps iff mu > eps ||w_y - w_o||_1 (L2: ||.||_2), away from the box.
 * FGSM, PGD and APGD must find exactly the non-robust ones; FGSM moves each pixel by exactly
 * eps sign(w_o - w_y). */
static void test_linear_closed_form(void **state)
{
    (void)state;
    rp_model *m = linear_model();
    rp_param *w = &m->g.params[rp_graph_find_param(&m->g, "fc.weight")];
    rp_param *b = &m->g.params[rp_graph_find_param(&m->g, "fc.bias")];
    float x[LB * LX], xa[LB * LX];
    int32_t y[LB];
    bool succ[LB];
    tu_fill_uniform(x, LB * LX, 0.3f, 0.7f, 4);
    tu_fill_uniform(w->data, 2 * LX, -1.0f, 1.0f, 5);
    b->data[0] = 0.1f, b->data[1] = -0.1f;
    double d1 = 0.0, d2 = 0.0, mu[LB];
    for (int k = 0; k < LX; k++) d1 += fabs((double)w->data[k] - w->data[LX + k]), d2 += pow((double)w->data[k] - w->data[LX + k], 2);
    d2 = sqrt(d2);
    for (int i = 0; i < LB; i++) {
        double z0 = b->data[0], z1 = b->data[1];
        for (int k = 0; k < LX; k++) z0 += (double)w->data[k] * x[i * LX + k], z1 += (double)w->data[LX + k] * x[i * LX + k];
        y[i] = z1 > z0;
        mu[i] = fabs(z1 - z0);
    }
    for (int norm = 0; norm < 2; norm++) {
        double dn = norm == 0 ? d1 : d2;
        /* eps = the median margin over ||w_y - w_o||_*: half the examples robust */
        double r[LB];
        for (int i = 0; i < LB; i++) r[i] = mu[i] / dn;
        qsort(r, LB, sizeof r[0], cmp_double);
        float eps = (float)r[LB / 2];
        rp_attack_kind kinds[] = {RP_ATTACK_FGSM, RP_ATTACK_PGD, RP_ATTACK_APGD_CE};
        for (int q = 0; q < 3; q++) {
            rp_attack_config c = rp_attack_defaults(kinds[q], eps);
            c.norm = norm == 0 ? RP_NORM_LINF : RP_NORM_L2;
            c.clip_min = -100.0f, c.clip_max = 100.0f;
            c.steps = kinds[q] == RP_ATTACK_FGSM ? 1 : 20;
            c.step_size = kinds[q] == RP_ATTACK_PGD ? eps / 4 : 0.0f;
            rp_attack *a = NULL;
            assert_int_equal(rp_attack_create(S.ctx, m, &c, LB, &a), RP_OK);
            assert_int_equal(rp_attack_run(a, x, y, NULL, LB, xa, succ, NULL), RP_OK);
            int robust = 0, decided = 0;
            for (int i = 0; i < LB; i++) {
                double slack = mu[i] - eps * dn;
                if (fabs(slack) < 1e-4) continue; /* on the boundary: float rounding decides */
                decided++;
                robust += slack > 0;
                if (succ[i] == (slack > 0))
                    fail_msg("%s %s: example %d margin %.6f, eps*||w||* %.6f, attack %s", rp_attack_name(kinds[q]),
                             norm ? "L2" : "Linf", i, mu[i], eps * dn, succ[i] ? "succeeded" : "failed");
                if (kinds[q] == RP_ATTACK_FGSM && norm == 0 && slack > 0)
                    for (int k = 0; k < LX; k++) {
                        float dw = w->data[(1 - y[i]) * LX + k] - w->data[y[i] * LX + k];
                        float want = x[i * LX + k] + (dw > 0 ? eps : dw < 0 ? -eps : 0.0f);
                        assert_float_equal(xa[i * LX + k], want, 0.0f);
                    }
            }
            assert_true(robust > 5 && robust < decided - 5); /* both outcomes are exercised */
            printf("# linear %s %-8s eps %.4f: %d of %d decided examples robust, as predicted\n",
                   norm ? "L2" : "Linf", rp_attack_name(kinds[q]), (double)eps, robust, decided);
            rp_attack_destroy(a);
        }
    }
    rp_model_destroy(m);
}

/* The attack losses' gradients against central differences (double-precision losses). */
static void test_loss_gradients(void **state)
{
    (void)state;
    enum { K = 6 };
    float z[K], dz[K];
    tu_fill_uniform(z, K, -3.0f, 3.0f, 8);
    rp_atk_obj objs[] = {RP_AOBJ_CE, RP_AOBJ_CE_T, RP_AOBJ_MARGIN, RP_AOBJ_MARGIN_T, RP_AOBJ_DLR, RP_AOBJ_DLR_T};
    for (int q = 0; q < 6; q++) {
        for (int y = 0; y < K; y++) {
            int t = (y + 2) % K;
            rp_atk_row_loss(objs[q], z, K, y, t, dz);
            for (int k = 0; k < K; k++) {
                float zp[K], zm[K];
                memcpy(zp, z, sizeof z), memcpy(zm, z, sizeof z);
                zp[k] += 1e-3f, zm[k] -= 1e-3f;
                double num = ((double)rp_atk_row_loss(objs[q], zp, K, y, t, NULL) -
                              rp_atk_row_loss(objs[q], zm, K, y, t, NULL)) / (zp[k] - zm[k]);
                if (fabs(num - dz[k]) > 2e-3 + 1e-2 * fabs(num))
                    fail_msg("loss %d, y %d, d/dz[%d]: analytic %.6f, numeric %.6f", q, y, k, (double)dz[k], num);
            }
        }
    }
    /* DLR's value: -(z_y - max_other) / (z_pi1 - z_pi3) */
    float v[4] = {3.0f, 1.0f, 2.0f, 0.0f};
    assert_float_equal(rp_atk_row_loss(RP_AOBJ_DLR, v, 4, 0, -1, NULL), -(3.0 - 2.0) / (3.0 - 1.0), 1e-6);
    assert_float_equal(rp_atk_row_loss(RP_AOBJ_DLR_T, v, 4, 0, 3, NULL), -(3.0 - 0.0) / (3.0 - 0.5), 1e-6);
}

static void test_bad_config(void **state)
{
    (void)state;
    rp_attack *a = NULL;
    rp_attack_config c = cfg_of(RP_ATTACK_PGD, -0.1f);
    assert_int_equal(rp_attack_create(S.ctx, S.m, &c, 4, &a), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "eps"));
    c = cfg_of(RP_ATTACK_SQUARE, 0.1f);
    c.norm = RP_NORM_L2;
    assert_int_equal(rp_attack_create(S.ctx, S.m, &c, 4, &a), RP_ERR_UNSUPPORTED);
    c = cfg_of(RP_ATTACK_APGD_CE, 0.1f);
    c.targeted = true;
    assert_int_equal(rp_attack_create(S.ctx, S.m, &c, 4, &a), RP_ERR_UNSUPPORTED);
    c = cfg_of(RP_ATTACK_PGD, INFINITY);
    assert_int_equal(rp_attack_create(S.ctx, S.m, &c, 4, &a), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "step size"));
    c = cfg_of(RP_ATTACK_PGD, 0.1f);
    assert_int_equal(rp_attack_create(S.ctx, S.m, &c, 4, &a), RP_OK);
    int32_t yy[4] = {0, 1, 2, 10};
    assert_int_equal(rp_attack_run(a, S.x, yy, NULL, 4, S.x_adv, NULL, NULL), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "label 10"));
    assert_int_equal(rp_attack_run(a, S.x, S.y, NULL, 5, S.x_adv, NULL, NULL), RP_ERR_ARG);
    assert_int_equal(rp_attack_run(a, S.x, S.y, NULL, 2, S.x + S.X, NULL, NULL), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(S.ctx), "overlaps"));
    float bad[784 * 1];
    memcpy(bad, S.x, sizeof bad);
    bad[7] = NAN;
    assert_int_equal(rp_attack_run(a, bad, S.y, NULL, 1, S.x_adv, NULL, NULL), RP_ERR_NUMERIC);
    rp_attack_destroy(a);
    assert_int_equal(rp_attack_kind_from_name("apgd-t"), RP_ATTACK_APGD_T);
    assert_int_equal(rp_attack_kind_from_name("nope"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_gradients),
        cmocka_unit_test(test_linear_closed_form),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_large_eps),
        cmocka_unit_test(test_checklist),
        cmocka_unit_test(test_ball_and_passes),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_batch_independent),
        cmocka_unit_test(test_targeted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
