/* The public training state (include/rampart.h): a state saved after a step restores the
 * weights, the optimizer's step count and the position into a fresh model and optimizer (no
 * flags on either side is {}); a NULL path, parts, model, optimizer or position is RP_ERR_ARG
 * with a message, a missing file an error naming it. tests/test_trainstate.c checks the
 * format, the flags and exact resume in depth. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

enum { B = 4, S = 4, K = 3 };

static void make(rp_ctx *ctx, uint64_t seed, rp_model **m, rp_optim **o)
{
    rp_model_config cfg = {.arch = "mlp", .num_classes = K, .H = S, .W = S, .C = 1, .max_batch = B, .seed = seed};
    cfg.mean[0] = 0.5f, cfg.std[0] = 0.25f;
    assert_int_equal(rp_model_create(ctx, &cfg, m), RP_OK);
    rp_optim_config oc = rp_optim_defaults(RP_ADAMW);
    assert_int_equal(rp_optim_create(ctx, *m, &oc, o), RP_OK);
}

static void test_trainstate(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model *ma, *mb;
    rp_optim *oa, *ob;
    make(ctx, 1, &ma, &oa);
    make(ctx, 2, &mb, &ob);
    float x[B * S * S];
    int32_t y[B] = {0, 1, 2, 1};
    tu_fill_uniform(x, sizeof x / sizeof x[0], 0.0f, 1.0f, 3);
    const float *z = rp_model_forward(ma, x, B, true);
    float dl[B * K];
    rp_softmax_xent(z, y, B, K, 0.0f, dl, 1.0f, NULL);
    rp_model_zero_grad(ma);
    rp_model_backward(ma, dl, NULL, RP_GRAD_PARAMS);
    rp_optim_step(oa);
    assert_int_equal(rp_optim_steps(oa), 1);
    assert_int_equal(rp_optim_steps(NULL), 0);

    char path[512], missing[512];
    snprintf(path, sizeof path, "%s/api_trainstate.state", tu_tmpdir());
    snprintf(missing, sizeof missing, "%s/no_such.state", tu_tmpdir());
    rp_train_parts pa = {.m = ma, .opt = oa}, pb = {.m = mb, .opt = ob};
    rp_train_position pos = {.epoch = 2, .batch = 5, .loss_sum = 1.5, .seen = 20, .correct = 7, .steps = 1}, got = {0};
    assert_int_equal(rp_trainstate_save(ctx, path, &pa, &pos, NULL, NULL, NULL), RP_OK);
    assert_true(rp_model_weights_hash(ma) != rp_model_weights_hash(mb));
    assert_int_equal(rp_trainstate_load(ctx, path, &pb, NULL, &got, NULL, NULL), RP_OK);
    assert_true(rp_model_weights_hash(ma) == rp_model_weights_hash(mb));
    assert_int_equal(rp_optim_steps(ob), 1);
    assert_true(got.epoch == 2 && got.batch == 5 && got.seen == 20 && got.correct == 7 && got.loss_sum == 1.5);

    rp_train_parts no_model = {.opt = oa}, no_opt = {.m = ma};
    tu_expect_status(rp_trainstate_save(ctx, NULL, &pa, &pos, NULL, NULL, NULL), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_trainstate_save(ctx, path, NULL, &pos, NULL, NULL, NULL), RP_ERR_ARG, ctx, "parts is NULL");
    tu_expect_status(rp_trainstate_save(ctx, path, &no_model, &pos, NULL, NULL, NULL), RP_ERR_ARG, ctx, "the model");
    tu_expect_status(rp_trainstate_save(ctx, path, &no_opt, &pos, NULL, NULL, NULL), RP_ERR_ARG, ctx, "the optimizer");
    tu_expect_status(rp_trainstate_save(ctx, path, &pa, NULL, NULL, NULL, NULL), RP_ERR_ARG, ctx, "pos is NULL");
    tu_expect_status(rp_trainstate_load(ctx, NULL, &pb, NULL, &got, NULL, NULL), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_trainstate_load(ctx, path, NULL, NULL, &got, NULL, NULL), RP_ERR_ARG, ctx, "parts is NULL");
    tu_expect_status(rp_trainstate_load(ctx, path, &no_opt, NULL, &got, NULL, NULL), RP_ERR_ARG, ctx, "the optimizer");
    tu_expect_status(rp_trainstate_load(ctx, path, &pb, NULL, NULL, NULL, NULL), RP_ERR_ARG, ctx, "pos is NULL");
    assert_int_not_equal(rp_trainstate_load(ctx, missing, &pb, NULL, &got, NULL, NULL), RP_OK);
    assert_non_null(strstr(rp_ctx_error(ctx), "no_such.state"));
    remove(path);
    rp_optim_destroy(oa), rp_optim_destroy(ob);
    rp_model_destroy(ma), rp_model_destroy(mb);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trainstate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
