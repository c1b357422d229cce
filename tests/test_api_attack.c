/* The public attack and robustness-evaluation API (include/rampart.h), on an mlp trained here
 * for two epochs on 3,000 Fashion-MNIST images and attacked on 100 test images:
 *  - every attack by name: perturbations inside the ball and [0, 1], success flags that agree
 *    with the model's own predictions on x_adv, the worst case fooling at least what its first
 *    stage (APGD-CE) fools; FGSM's step is eps times the sign of the input gradient
 *    computed here through rp_model_backward; targeted PGD reaches its targets;
 *  - examples keyed by number: one run of 20 equals two runs of 10 after rp_attack_seek;
 *  - rp_evaluate_conditions: clean accuracy equal to rp_evaluate's, a corruption row equal to
 *    corrupting with rp_corrupt (image i from the stream of (seed, i)) and classifying, saturate
 *    not applicable to gray images, robust accuracies <= clean, the worst case <= every attack
 *    it combines, per-example bitmaps that add up to the counts;
 *  - bad arguments return RP_ERR_ARG / RP_ERR_UNSUPPORTED / RP_ERR_NUMERIC / RP_ERR_SHAPE with a
 *    message naming them, and never abort. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rampart.h"
#include "model_testutil.h"
#include "testutil.h"

enum { N_TRAIN = 3000, N_TEST = 100, TRAIN_B = 100 };
#define EPS 0.05f

static struct {
    rp_ctx *ctx;
    rp_model *m;
    rp_dataset *test;
    float *x, *x_adv, *x_adv2;
    int32_t *y;
    bool *succ;
    size_t X;
    int K, H, W, C;
} S;

static int setup(void **state)
{
    (void)state;
    S.ctx = rp_ctx_create(2);
    rp_dataset *tr = NULL;
    assert_int_equal(rp_dataset_open(S.ctx, "fashion-mnist", true, &tr), RP_OK);
    assert_int_equal(rp_dataset_open(S.ctx, "fashion-mnist", false, &S.test), RP_OK);
    S.m = mtu_trained_mlp(S.ctx, tr, N_TRAIN, TRAIN_B, N_TEST);
    rp_dataset_shape(tr, &S.H, &S.W, &S.C);
    S.K = rp_dataset_num_classes(tr);
    S.X = (size_t)S.H * S.W * S.C;
    S.x = malloc((size_t)N_TEST * S.X * sizeof(float));
    S.x_adv = malloc((size_t)N_TEST * S.X * sizeof(float));
    S.x_adv2 = malloc((size_t)N_TEST * S.X * sizeof(float));
    S.y = malloc(N_TEST * sizeof(int32_t));
    S.succ = malloc(N_TEST * sizeof(bool));
    int idx[N_TEST];
    for (int i = 0; i < N_TEST; i++) idx[i] = i;
    rp_dataset_gather(S.test, idx, N_TEST, S.x, S.y);
    rp_dataset_destroy(tr);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rp_model_destroy(S.m);
    rp_dataset_destroy(S.test);
    free(S.x), free(S.x_adv), free(S.x_adv2), free(S.y), free(S.succ);
    rp_ctx_destroy(S.ctx);
    return 0;
}

static int argmax(const float *z, int K)
{
    int b = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[b]) b = k;
    return b;
}

static void test_names(void **state)
{
    (void)state;
    const char *names[] = {"fgsm", "fgsm-rs", "pgd", "apgd-ce", "apgd-t", "square", "noise", "worst"};
    for (int k = 0; k < 8; k++) {
        assert_int_equal(rp_attack_kind_from_name(names[k]), k);
        assert_string_equal(rp_attack_name((rp_attack_kind)k), names[k]);
    }
    assert_int_equal(rp_attack_kind_from_name("pgd2"), -1);
    assert_int_equal(rp_attack_kind_from_name(NULL), -1);
    assert_string_equal(rp_attack_name((rp_attack_kind)99), "unknown");
}

/* Every attack: in the ball, flags agree with the model; returns the number fooled. */
static int run_checked(const rp_attack_config *cfg, const int32_t *target)
{
    rp_attack *a = NULL;
    assert_int_equal(rp_attack_create(S.ctx, S.m, cfg, N_TEST, &a), RP_OK);
    long passes = 0;
    rp_status s = rp_attack_run(a, S.x, S.y, target, N_TEST, S.x_adv, S.succ, &passes);
    if (s != RP_OK) fail_msg("%s: %s", rp_attack_name(cfg->kind), rp_ctx_error(S.ctx));
    assert_true(passes >= 1);
    float worst = 0.0f;
    assert_true(rp_attack_check_ball(S.x, S.x_adv, N_TEST, S.X, cfg->norm, cfg->eps, 0.0f, 1.0f, &worst));
    assert_true(worst <= cfg->eps * (1.0f + 1e-5f));
    const float *z = rp_model_forward(S.m, S.x_adv, N_TEST, false);
    int fooled = 0;
    for (int i = 0; i < N_TEST; i++) {
        int p = argmax(z + (size_t)i * S.K, S.K);
        bool hit = target ? p == target[i] : p != S.y[i];
        if (hit != S.succ[i]) fail_msg("%s: example %d flagged %d, prediction %d", rp_attack_name(cfg->kind), i, S.succ[i], p);
        fooled += S.succ[i];
    }
    rp_attack_destroy(a);
    return fooled;
}

static void test_every_attack(void **state)
{
    (void)state;
    int fooled[8];
    for (int k = 0; k < 8; k++) {
        rp_attack_config c = rp_attack_defaults((rp_attack_kind)k, EPS);
        c.seed = 9;
        if (k == RP_ATTACK_APGD_CE || k == RP_ATTACK_APGD_T || k == RP_ATTACK_WORST) c.steps = 20;
        if (k == RP_ATTACK_SQUARE) c.steps = 200;
        if (k == RP_ATTACK_WORST) c.square_queries = 200, c.n_target_classes = 3;
        if (k == RP_ATTACK_APGD_T) c.n_target_classes = 3;
        fooled[k] = run_checked(&c, NULL);
        printf("# %-8s fooled %d of %d at eps %g\n", rp_attack_name((rp_attack_kind)k), fooled[k], N_TEST, (double)EPS);
    }
    assert_true(fooled[RP_ATTACK_WORST] >= fooled[RP_ATTACK_APGD_CE]);
    assert_true(fooled[RP_ATTACK_PGD] > fooled[RP_ATTACK_NOISE]);
    rp_attack_config l2 = rp_attack_defaults(RP_ATTACK_PGD, 1.0f);
    l2.norm = RP_NORM_L2;
    run_checked(&l2, NULL);
}

/* FGSM: for an example the clean model classifies correctly, x_adv = clip(x + eps sign(g)) with
 * g the gradient of its cross-entropy, computed here through the public backward. */
static void test_fgsm_is_the_signed_gradient(void **state)
{
    (void)state;
    rp_attack_config c = rp_attack_defaults(RP_ATTACK_FGSM, EPS);
    run_checked(&c, NULL);
    const float *z = rp_model_forward(S.m, S.x, N_TEST, false);
    float *dl = malloc((size_t)N_TEST * S.K * sizeof(float)), *g = malloc((size_t)N_TEST * S.X * sizeof(float));
    bool ok[N_TEST];
    for (int i = 0; i < N_TEST; i++) ok[i] = argmax(z + (size_t)i * S.K, S.K) == S.y[i];
    rp_softmax_xent(z, S.y, N_TEST, S.K, 0.0f, dl, (float)N_TEST, NULL); /* per-example CE gradients */
    rp_model_backward(S.m, dl, g, RP_GRAD_INPUT);
    long checked = 0;
    for (int i = 0; i < N_TEST; i++) {
        if (!ok[i]) continue;
        const float *gi = g + (size_t)i * S.X, *xi = S.x + (size_t)i * S.X, *ai = S.x_adv + (size_t)i * S.X;
        float gmax = 0.0f;
        for (size_t k = 0; k < S.X; k++) gmax = fabsf(gi[k]) > gmax ? fabsf(gi[k]) : gmax;
        for (size_t k = 0; k < S.X; k++) {
            if (fabsf(gi[k]) < 1e-3f * gmax) continue; /* a sign rounding could flip */
            float v = xi[k] + (gi[k] > 0.0f ? EPS : -EPS);
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            if (fabsf(ai[k] - v) > 1e-6f)
                fail_msg("fgsm: example %d pixel %zu: x %g, gradient %g, x_adv %g (expected %g)", i, k, (double)xi[k],
                         (double)gi[k], (double)ai[k], (double)v);
            checked++;
        }
    }
    assert_true(checked > 1000);
    free(dl), free(g);
}

static void test_targeted_pgd(void **state)
{
    (void)state;
    int32_t t[N_TEST];
    for (int i = 0; i < N_TEST; i++) t[i] = (S.y[i] + 1) % S.K;
    rp_attack_config c = rp_attack_defaults(RP_ATTACK_PGD, 0.2f);
    c.targeted = true, c.steps = 20;
    int reached = run_checked(&c, t);
    printf("# targeted pgd at eps 0.2 reached %d of %d targets\n", reached, N_TEST);
    assert_true(reached > 0);
}

/* Random starts are keyed by example number: one run of 20 equals runs of 10 + 10 (seek). */
static void test_keyed_by_example(void **state)
{
    (void)state;
    rp_attack_config c = rp_attack_defaults(RP_ATTACK_PGD, EPS);
    c.seed = 4, c.steps = 5;
    rp_attack *a = NULL;
    assert_int_equal(rp_attack_create(S.ctx, S.m, &c, 20, &a), RP_OK);
    assert_true(rp_attack_get_config(a)->step_size > 0.0f); /* the default resolved */
    assert_int_equal(rp_attack_run(a, S.x, S.y, NULL, 20, S.x_adv, NULL, NULL), RP_OK);
    rp_attack_seek(a, 10);
    assert_int_equal(rp_attack_run(a, S.x + 10 * S.X, S.y + 10, NULL, 10, S.x_adv2 + 10 * S.X, NULL, NULL), RP_OK);
    rp_attack_seek(a, 0);
    assert_int_equal(rp_attack_run(a, S.x, S.y, NULL, 10, S.x_adv2, NULL, NULL), RP_OK);
    assert_memory_equal(S.x_adv2, S.x_adv, 20 * S.X * sizeof(float)); /* bit for bit */
    rp_attack_destroy(a);
}

static void expect(rp_status got, rp_status want, const char *needle)
{
    if (got != want) fail_msg("status %s, expected %s (%s)", rp_status_name(got), rp_status_name(want), rp_ctx_error(S.ctx));
    if (needle && !strstr(rp_ctx_error(S.ctx), needle))
        fail_msg("message '%s' does not name '%s'", rp_ctx_error(S.ctx), needle);
}

static void test_attack_bad_arguments(void **state)
{
    (void)state;
    rp_attack *a = NULL;
    rp_attack_config c = rp_attack_defaults(RP_ATTACK_PGD, EPS);
    expect(rp_attack_create(S.ctx, NULL, &c, 10, &a), RP_ERR_ARG, "the model is NULL");
    assert_null(a);
    expect(rp_attack_create(S.ctx, S.m, NULL, 10, &a), RP_ERR_ARG, "the config is NULL");
    expect(rp_attack_create(S.ctx, S.m, &c, 10, NULL), RP_ERR_ARG, "out is NULL");
    expect(rp_attack_create(S.ctx, S.m, &c, 0, &a), RP_ERR_ARG, "batch 0");
    rp_attack_config bad = c;
    bad.kind = (rp_attack_kind)42;
    expect(rp_attack_create(S.ctx, S.m, &bad, 10, &a), RP_ERR_ARG, "unknown attack kind 42");
    bad = c, bad.eps = -1.0f;
    expect(rp_attack_create(S.ctx, S.m, &bad, 10, &a), RP_ERR_ARG, "eps -1");
    bad = c, bad.steps = 0;
    expect(rp_attack_create(S.ctx, S.m, &bad, 10, &a), RP_ERR_ARG, "steps 0");
    bad = c, bad.norm = RP_NORM_L1;
    expect(rp_attack_create(S.ctx, S.m, &bad, 10, &a), RP_ERR_UNSUPPORTED, "norm");
    bad = rp_attack_defaults(RP_ATTACK_SQUARE, EPS), bad.norm = RP_NORM_L2;
    expect(rp_attack_create(S.ctx, S.m, &bad, 10, &a), RP_ERR_UNSUPPORTED, "square");
    assert_int_equal(rp_attack_create(S.ctx, S.m, &c, 10, &a), RP_OK);
    expect(rp_attack_run(a, S.x, S.y, NULL, 11, S.x_adv, NULL, NULL), RP_ERR_ARG, "batch 11 outside [1, 10]");
    expect(rp_attack_run(a, NULL, S.y, NULL, 5, S.x_adv, NULL, NULL), RP_ERR_ARG, "x is NULL");
    expect(rp_attack_run(a, S.x, NULL, NULL, 5, S.x_adv, NULL, NULL), RP_ERR_ARG, "labels");
    expect(rp_attack_run(a, S.x, S.y, NULL, 5, NULL, NULL, NULL), RP_ERR_ARG, "x_adv is NULL");
    expect(rp_attack_run(a, S.x, S.y, NULL, 5, S.x + S.X, NULL, NULL), RP_ERR_ARG, "overlaps");
    int32_t yb[2] = {0, 12};
    expect(rp_attack_run(a, S.x, yb, NULL, 2, S.x_adv, NULL, NULL), RP_ERR_ARG, "label 12 of example 1");
    memcpy(S.x_adv2, S.x, 2 * S.X * sizeof(float));
    S.x_adv2[S.X + 5] = NAN;
    expect(rp_attack_run(a, S.x_adv2, S.y, NULL, 2, S.x_adv, NULL, NULL), RP_ERR_NUMERIC, "example 1");
    rp_attack_destroy(a);
    c.targeted = true;
    assert_int_equal(rp_attack_create(S.ctx, S.m, &c, 10, &a), RP_OK);
    expect(rp_attack_run(a, S.x, S.y, NULL, 5, S.x_adv, NULL, NULL), RP_ERR_ARG, "no targets");
    rp_attack_destroy(a);
    assert_int_equal(rp_attack_run(NULL, S.x, S.y, NULL, 5, S.x_adv, NULL, NULL), RP_ERR_ARG);
    assert_null(rp_attack_get_config(NULL));
    rp_attack_seek(NULL, 3);
    rp_attack_destroy(NULL);
}

/* ---- rp_evaluate_conditions ---------------------------------------------------------- */

static void test_evaluate_conditions(void **state)
{
    (void)state;
    enum { NC = 7 };
    rp_eval_condition conds[NC] = {
        {.kind = RP_EVAL_CLEAN},
        {.kind = RP_EVAL_CORRUPTION, .corruption = "fog", .severity = 3},
        {.kind = RP_EVAL_CORRUPTION, .corruption = "saturate", .severity = 2},
        {.kind = RP_EVAL_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_FGSM, EPS)},
        {.kind = RP_EVAL_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_PGD, EPS)},
        {.kind = RP_EVAL_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_WORST, EPS)},
        {.kind = RP_EVAL_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_FGSM, 2 * EPS)},
    };
    conds[5].attack.steps = 10, conds[5].attack.square_queries = 100, conds[5].attack.n_target_classes = 3;
    unsigned char correct[NC * N_TEST];
    rp_eval_options o = {.first = 0, .n = N_TEST, .batch = 32, .seed = 17, .correct = correct};
    rp_eval_result r[NC];
    rp_status s = rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, conds, NC, &o, r);
    if (s != RP_OK) fail_msg("%s", rp_ctx_error(S.ctx));
    for (int c = 0; c < NC; c++) {
        printf("# condition %d: n %d accuracy %.3f\n", c, r[c].n, r[c].accuracy);
        if (c == 2) continue;
        assert_int_equal(r[c].n, N_TEST);
        long k = 0;
        for (int i = 0; i < N_TEST; i++) k += correct[c * N_TEST + i];
        assert_int_equal(k, r[c].correct);
        assert_true(fabs(r[c].accuracy - (double)r[c].correct / N_TEST) < 1e-12);
    }
    double acc = 0.0;
    assert_int_equal(rp_evaluate(S.ctx, S.m, S.test, N_TEST, 50, &acc, NULL), RP_OK);
    assert_true(fabs(r[0].accuracy - acc) < 1e-12);
    assert_true(isfinite(r[0].ece) && r[0].ece >= 0.0 && r[0].ece <= 1.0);
    /* fog row: the images corrupted by the public call, image i from the stream of (seed, i) */
    memcpy(S.x_adv, S.x, (size_t)N_TEST * S.X * sizeof(float));
    assert_int_equal(rp_corrupt(S.ctx, "fog", 3, S.x_adv, N_TEST, S.H, S.W, S.C, 17, 0), RP_OK);
    const float *z = rp_model_forward(S.m, S.x_adv, N_TEST, false);
    for (int i = 0; i < N_TEST; i++)
        assert_int_equal(correct[1 * N_TEST + i], argmax(z + (size_t)i * S.K, S.K) == S.y[i]);
    assert_true(r[2].not_applicable && r[2].n == 0 && isnan(r[2].accuracy)); /* saturate on gray */
    for (int c = 3; c < NC; c++) {
        assert_true(r[c].in_ball && r[c].passes > 0 && isnan(r[c].ece));
        assert_true(r[c].correct <= r[0].correct);
        for (int i = 0; i < N_TEST; i++) assert_true(correct[c * N_TEST + i] <= correct[i]);
    }
    /* the worst case at eps combines FGSM and PGD at eps (not the 2 eps row) */
    for (int i = 0; i < N_TEST; i++)
        assert_true(correct[5 * N_TEST + i] <= (correct[3 * N_TEST + i] & correct[4 * N_TEST + i]));
    assert_true(r[5].correct <= r[3].correct && r[5].correct <= r[4].correct);
}

static void test_evaluate_bad_arguments(void **state)
{
    (void)state;
    rp_eval_condition c = {.kind = RP_EVAL_CORRUPTION, .corruption = "fogg", .severity = 3};
    rp_eval_options o = {.n = 10, .batch = 10};
    rp_eval_result r[2];
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, &c, 1, &o, r), RP_ERR_ARG, "'fogg'");
    c.corruption = "fog", c.severity = 9;
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, &c, 1, &o, r), RP_ERR_ARG, "severity 9");
    c = (rp_eval_condition){.kind = (rp_eval_kind)7};
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, &c, 1, &o, r), RP_ERR_ARG, "unknown kind 7");
    c = (rp_eval_condition){.kind = RP_EVAL_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_PGD, EPS)};
    c.attack.steps = -2;
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, &c, 1, &o, r), RP_ERR_ARG, "steps -2");
    c = (rp_eval_condition){.kind = RP_EVAL_CLEAN};
    rp_model *none[1] = {NULL};
    expect(rp_evaluate_conditions(S.ctx, none, 1, S.test, &c, 1, &o, r), RP_ERR_ARG, "model 1 is NULL");
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, NULL, &c, 1, &o, r), RP_ERR_ARG, "data set");
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, &c, 0, &o, r), RP_ERR_ARG, "0 conditions");
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, &c, 1, NULL, r), RP_ERR_ARG, "opts");
    o.batch = 0;
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, &c, 1, &o, r), RP_ERR_ARG, "batch");
    o.batch = 10, o.first = 1 << 30;
    expect(rp_evaluate_conditions(S.ctx, &S.m, 1, S.test, &c, 1, &o, r), RP_ERR_ARG, "first example");
    o.first = 0;
    rp_model_config mc = *rp_model_get_config(S.m);
    mc.num_classes = 3;
    rp_model *three = NULL;
    assert_int_equal(rp_model_create(S.ctx, &mc, &three), RP_OK);
    expect(rp_evaluate_conditions(S.ctx, &three, 1, S.test, &c, 1, &o, r), RP_ERR_SHAPE, "model 1");
    rp_attack *a = NULL; /* and APGD-T needs 4 classes */
    rp_attack_config apgdt = rp_attack_defaults(RP_ATTACK_APGD_T, EPS);
    expect(rp_attack_create(S.ctx, three, &apgdt, 4, &a), RP_ERR_UNSUPPORTED, "4 classes");
    rp_model_destroy(three);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_every_attack),
        cmocka_unit_test(test_fgsm_is_the_signed_gradient),
        cmocka_unit_test(test_targeted_pgd),
        cmocka_unit_test(test_keyed_by_example),
        cmocka_unit_test(test_attack_bad_arguments),
        cmocka_unit_test(test_evaluate_conditions),
        cmocka_unit_test(test_evaluate_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
