/* What rampart eval needs from the public API (include/rampart.h) beyond
 * rp_evaluate_conditions' clean, corruption and attack rows: noise rows (rp_eval_noise_strength,
 * RP_EVAL_NOISE), batch-norm adaptation, transfer, progress, the evaluation checklist
 * (rp_evaluate_checklist) and the corruption summary with CE and mCE
 * (rp_evaluate_corruption_summary). NULL arguments, unknown names, out-of-range severities,
 * columns and sizes are RP_ERR_ARG with a message, never an abort. */
#include <math.h>
#include <string.h>

#include "testutil.h"

#include "rampart.h"

static void test_noise_strength(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    float s1 = 0.0f, s3 = 0.0f;
    const char *name = NULL;
    assert_int_equal(rp_eval_noise_strength(ctx, "gaussian", 1, 28, 28, &s1, &name), RP_OK);
    assert_string_equal(name, "gaussian");
    assert_int_equal(rp_eval_noise_strength(ctx, "gaussian", 3, 28, 28, &s3, NULL), RP_OK);
    assert_true(s1 > 0.0f && s3 > s1);
    assert_int_equal(rp_eval_noise_strength(ctx, "salt-and-pepper", 2, 32, 32, &s1, &name), RP_OK);
    assert_string_equal(name, "impulse");
    tu_expect_status(rp_eval_noise_strength(ctx, "pink", 1, 28, 28, &s1, NULL), RP_ERR_ARG, ctx,
                     "unknown noise 'pink'");
    tu_expect_status(rp_eval_noise_strength(ctx, "shot", 0, 28, 28, &s1, NULL), RP_ERR_ARG, ctx, "severity 0 (1..5)");
    tu_expect_status(rp_eval_noise_strength(ctx, "shot", 6, 28, 28, &s1, NULL), RP_ERR_ARG, ctx, "severity 6");
    tu_expect_status(rp_eval_noise_strength(ctx, "shot", 1, 0, 28, &s1, NULL), RP_ERR_ARG, ctx, "images of 0 x 28");
    tu_expect_status(rp_eval_noise_strength(ctx, NULL, 1, 28, 28, &s1, NULL), RP_ERR_ARG, ctx, "name is NULL");
    tu_expect_status(rp_eval_noise_strength(ctx, "shot", 1, 28, 28, NULL, NULL), RP_ERR_ARG, ctx, "strength is NULL");
    assert_int_equal(rp_eval_noise_strength(NULL, "pink", 1, 28, 28, &s1, NULL), RP_ERR_ARG); /* no context */
    rp_ctx_destroy(ctx);
}

/* ---- the checklist over a made-up table ------------------------------------------------ */

static void test_checklist(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    enum { NC = 4, M = 2 };
    rp_eval_condition conds[NC] = {
        {.kind = RP_EVAL_CLEAN},
        {.kind = RP_EVAL_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_FGSM, 0.1f)},
        {.kind = RP_EVAL_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_FGSM, 0.2f)},
        {.kind = RP_EVAL_CORRUPTION, .corruption = "fog", .severity = 1},
    };
    rp_eval_result r[NC * M] = {0};
    const double acc[NC][M] = {{0.9, 0.9}, {0.3, 0.5}, {0.6, 0.4}, {0.1, 0.1}}; /* model 0: FGSM rises with eps */
    for (int c = 0; c < NC; c++)
        for (int m = 0; m < M; m++)
            r[c * M + m] = (rp_eval_result){.n = 10, .accuracy = acc[c][m], .deterministic = true,
                                            .ball_checked = c == 1 || c == 2, .in_ball = !(c == 2 && m == 1)};
    rp_warning w[8];
    int n = -1;
    assert_int_equal(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, 0.0, w, 8, &n), RP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(w[0].check, "eps-monotone");
    assert_int_equal(rp_evaluate_checklist(ctx, conds, NC, r, M, 1, 10, false, 0.0, w, 8, &n), RP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(w[0].check, "ball");
    assert_int_equal(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, 0.5, NULL, 0, &n), RP_OK);
    assert_int_equal(n, 0); /* within the slack; no room needed to count */
    r[0].deterministic = false;
    assert_int_equal(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, true, 0.0, w, 1, &n), RP_OK);
    assert_int_equal(n, 1); /* transfer: the ball only (and determinism) */
    assert_string_equal(w[0].check, "nondeterministic");

    tu_expect_status(rp_evaluate_checklist(ctx, NULL, NC, r, M, 0, 10, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "conds is NULL");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, NULL, M, 0, 10, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "results is NULL");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, 0.0, w, 8, NULL), RP_ERR_ARG, ctx,
                     "count is NULL");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, 0.0, NULL, 8, &n), RP_ERR_ARG, ctx,
                     "out is NULL");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 2, 10, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "model 2 of 2");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, -1, 10, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "model -1");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, 0, r, M, 0, 10, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "0 conditions");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 0, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "0 classes");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, -0.1, w, 8, &n), RP_ERR_ARG, ctx,
                     "slack -0.1");
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, NAN, w, 8, &n), RP_ERR_ARG, ctx,
                     "slack nan");
    conds[3].corruption = "smog";
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "condition 3: unknown corruption 'smog'");
    conds[3] = (rp_eval_condition){.kind = RP_EVAL_NOISE, .noise = "pink", .severity = 1};
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "condition 3: unknown noise 'pink'");
    conds[3].kind = (rp_eval_kind)9;
    tu_expect_status(rp_evaluate_checklist(ctx, conds, NC, r, M, 0, 10, false, 0.0, w, 8, &n), RP_ERR_ARG, ctx,
                     "unknown kind 9");
    rp_ctx_destroy(ctx);
}

/* ---- CE and mCE over a made-up table --------------------------------------------------- */

static void test_corruption_summary(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    enum { NC = 4, M = 2 };
    const rp_eval_condition conds[NC] = {
        {.kind = RP_EVAL_CLEAN},
        {.kind = RP_EVAL_CORRUPTION, .corruption = "fog", .severity = 1},
        {.kind = RP_EVAL_CORRUPTION, .corruption = "fog", .severity = 2},
        {.kind = RP_EVAL_CORRUPTION, .corruption = "saturate", .severity = 1},
    };
    const double acc[NC][M] = {{0.9, 0.9}, {0.8, 0.6}, {0.6, 0.4}, {NAN, NAN}};
    rp_eval_result r[NC * M];
    for (int c = 0; c < NC; c++)
        for (int m = 0; m < M; m++)
            r[c * M + m] = (rp_eval_result){.n = c == 3 ? 0 : 10, .accuracy = acc[c][m], .not_applicable = c == 3};
    int K = rp_corruption_count(), fog = -1, weather = -1;
    assert_int_equal(rp_corruption_find(ctx, "fog", &fog), RP_OK);
    for (int f = 0; rp_corruption_family_names()[f]; f++)
        if (!strcmp(rp_corruption_family_names()[f], "weather")) weather = f;
    assert_true(weather >= 0 && weather < RP_CORRUPTION_FAMILIES);
    rp_corruption_summary *sum = calloc((size_t)K, sizeof *sum);
    rp_corruption_means mn;
    assert_int_equal(rp_evaluate_corruption_summary(ctx, conds, NC, r, M, 0, 1, sum, K, &mn), RP_OK);
    assert_true(sum[fog].present && sum[fog].applicable && sum[fog].severities == 2);
    assert_true(fabs(sum[fog].accuracy - 0.7) < 1e-12);
    assert_true(fabs(sum[fog].ce - 0.6) < 1e-12);          /* (0.2 + 0.4) / (0.4 + 0.6) */
    assert_true(fabs(sum[fog].relative_ce - 0.5) < 1e-12); /* (0.1 + 0.3) / (0.3 + 0.5) */
    assert_int_equal(mn.count, 1);
    assert_int_equal(mn.family_count[weather], 1);
    assert_true(fabs(mn.family_accuracy[weather] - 0.7) < 1e-12);
    assert_true(!mn.mce_imagenet_c && mn.mce_count == 1 && mn.mce_defined == 1);
    assert_true(fabs(mn.mce - 0.6) < 1e-12 && fabs(mn.relative_mce - 0.5) < 1e-12);
    assert_int_equal(rp_evaluate_corruption_summary(ctx, conds, NC, r, M, 1, -1, sum, K, &mn), RP_OK);
    assert_true(isnan(sum[fog].ce) && isnan(mn.mce) && fabs(mn.accuracy - 0.5) < 1e-12); /* no reference */

    tu_expect_status(rp_evaluate_corruption_summary(ctx, conds, NC, r, M, 0, 1, sum, K - 1, &mn), RP_ERR_ARG, ctx,
                     "room for");
    tu_expect_status(rp_evaluate_corruption_summary(ctx, conds, NC, r, M, 0, 2, sum, K, &mn), RP_ERR_ARG, ctx,
                     "reference column 2 of 2");
    tu_expect_status(rp_evaluate_corruption_summary(ctx, conds, NC, r, M, 0, -2, sum, K, &mn), RP_ERR_ARG, ctx,
                     "reference column -2");
    tu_expect_status(rp_evaluate_corruption_summary(ctx, conds, NC, r, M, 5, 1, sum, K, &mn), RP_ERR_ARG, ctx,
                     "model 5 of 2");
    tu_expect_status(rp_evaluate_corruption_summary(ctx, conds, NC, r, M, 0, 1, NULL, K, &mn), RP_ERR_ARG, ctx,
                     "out is NULL");
    tu_expect_status(rp_evaluate_corruption_summary(ctx, conds, NC, r, M, 0, 1, sum, K, NULL), RP_ERR_ARG, ctx,
                     "means is NULL");
    tu_expect_status(rp_evaluate_corruption_summary(ctx, NULL, NC, r, M, 0, 1, sum, K, &mn), RP_ERR_ARG, ctx,
                     "conds is NULL");
    tu_expect_status(rp_evaluate_corruption_summary(ctx, conds, NC, NULL, M, 0, 1, sum, K, &mn), RP_ERR_ARG, ctx,
                     "results is NULL");
    tu_expect_status(rp_evaluate_corruption_summary(ctx, conds, NC, r, 0, 0, -1, sum, K, &mn), RP_ERR_ARG, ctx,
                     "0 models");
    rp_eval_condition bad[NC];
    memcpy(bad, conds, sizeof bad);
    bad[2].severity = 7;
    tu_expect_status(rp_evaluate_corruption_summary(ctx, bad, NC, r, M, 0, 1, sum, K, &mn), RP_ERR_ARG, ctx,
                     "condition 2: corruption fog at severity 7");
    free(sum);
    rp_ctx_destroy(ctx);
}

/* ---- noise rows, transfer, progress and bad options in rp_evaluate_conditions ----------- */

static int progress_calls;
static void on_progress(void *arg, int cond, int done, int total)
{
    (void)arg, (void)cond;
    assert_true(done > 0 && done <= total);
    progress_calls++;
}

static void test_noise_rows(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_open(ctx, "fashion-mnist", false, &ds), RP_OK);
    int H, W, C, K = rp_dataset_num_classes(ds);
    rp_dataset_shape(ds, &H, &W, &C);
    rp_model_config mc = {.arch = "mlp", .num_classes = K, .H = H, .W = W, .C = C, .max_batch = 32, .seed = 3,
                          .mean = {0.5f}, .std = {0.25f}};
    rp_model *m = NULL, *src = NULL;
    assert_int_equal(rp_model_create(ctx, &mc, &m), RP_OK);
    mc.seed = 4;
    assert_int_equal(rp_model_create(ctx, &mc, &src), RP_OK);
    float strength;
    assert_int_equal(rp_eval_noise_strength(ctx, "gaussian", 3, H, W, &strength, NULL), RP_OK);
    enum { NC = 4, N = 40 };
    rp_eval_condition conds[NC] = {
        {.kind = RP_EVAL_CLEAN},
        {.kind = RP_EVAL_NOISE, .noise = "gaussian", .severity = 3},
        {.kind = RP_EVAL_NOISE, .noise = "gaussian", .strength = strength},
        {.kind = RP_EVAL_ATTACK, .attack = rp_attack_defaults(RP_ATTACK_FGSM, 0.1f)},
    };
    unsigned char correct[NC * N];
    rp_eval_options o = {.n = N, .batch = 16, .seed = 5, .correct = correct, .source = src, .progress = on_progress};
    rp_eval_result r[NC];
    rp_status s = rp_evaluate_conditions(ctx, &m, 1, ds, conds, NC, &o, r);
    if (s != RP_OK) fail_msg("%s", rp_ctx_error(ctx));
    assert_true(progress_calls > 0);
    assert_true(r[0].deterministic);
    assert_true(r[1].n == N && isfinite(r[1].ece));
    assert_int_equal(r[1].correct, r[2].correct); /* severity 3 is that strength: the same images */
    assert_memory_equal(correct + N, correct + 2 * N, N);
    assert_true(r[3].ball_checked && r[3].in_ball);

    conds[1].noise = "pink";
    tu_expect_status(rp_evaluate_conditions(ctx, &m, 1, ds, conds, NC, &o, r), RP_ERR_ARG, ctx,
                     "condition 1: unknown noise 'pink'");
    conds[1] = (rp_eval_condition){.kind = RP_EVAL_NOISE, .noise = "shot"};
    tu_expect_status(rp_evaluate_conditions(ctx, &m, 1, ds, conds, NC, &o, r), RP_ERR_ARG, ctx,
                     "condition 1: noise shot at severity 0 (1..5) without a strength");
    conds[1].severity = 1;
    o.adapt_bn = true; /* an MLP has no batch norm */
    assert_int_equal(rp_evaluate_conditions(ctx, &m, 1, ds, conds, 2, &o, r), RP_ERR_ARG);
    assert_true(strlen(rp_ctx_error(ctx)) > 0 && strcmp(rp_ctx_error(ctx), "no error") != 0);
    rp_model_destroy(m);
    rp_model_destroy(src);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_strength),
        cmocka_unit_test(test_checklist),
        cmocka_unit_test(test_corruption_summary),
        cmocka_unit_test(test_noise_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
