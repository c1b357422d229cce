/* rp_checkpoint_norm (include/rampart.h): the normalisation a rampart checkpoint was saved with
 * comes back for its channel count only; a NULL argument or a channel count outside [1, 4] is
 * RP_ERR_ARG with a message, a missing file RP_ERR_IO naming it. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static void test_checkpoint_norm(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config cfg = {.arch = "mlp", .num_classes = 3, .H = 4, .W = 4, .C = 2, .max_batch = 1, .seed = 1};
    cfg.mean[0] = 0.25f, cfg.mean[1] = 0.5f, cfg.std[0] = 2.0f, cfg.std[1] = 4.0f;
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/api_checkpoint_norm.safetensors", tu_tmpdir());
    assert_int_equal(rp_model_save(ctx, m, path, NULL), RP_OK);

    float mean[4] = {9, 9, 9, 9}, std[4] = {9, 9, 9, 9};
    bool found = false;
    assert_int_equal(rp_checkpoint_norm(ctx, path, 2, mean, std, &found), RP_OK);
    assert_true(found);
    assert_true(mean[0] == 0.25f && mean[1] == 0.5f && std[0] == 2.0f && std[1] == 4.0f && mean[2] == 9);
    mean[0] = 9;
    assert_int_equal(rp_checkpoint_norm(ctx, path, 3, mean, std, &found), RP_OK); /* another C */
    assert_false(found);
    assert_true(mean[0] == 9);

    tu_expect_status(rp_checkpoint_norm(ctx, NULL, 2, mean, std, &found), RP_ERR_ARG, ctx, "path is NULL");
    tu_expect_status(rp_checkpoint_norm(ctx, path, 2, NULL, std, &found), RP_ERR_ARG, ctx, "mean is NULL");
    tu_expect_status(rp_checkpoint_norm(ctx, path, 2, mean, NULL, &found), RP_ERR_ARG, ctx, "std is NULL");
    tu_expect_status(rp_checkpoint_norm(ctx, path, 2, mean, std, NULL), RP_ERR_ARG, ctx, "found is NULL");
    tu_expect_status(rp_checkpoint_norm(ctx, path, 0, mean, std, &found), RP_ERR_ARG, ctx, "C = 0 outside [1, 4]");
    tu_expect_status(rp_checkpoint_norm(ctx, path, 5, mean, std, &found), RP_ERR_ARG, ctx, "C = 5 outside [1, 4]");
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no_such_checkpoint.safetensors", tu_tmpdir());
    tu_expect_status(rp_checkpoint_norm(ctx, missing, 2, mean, std, &found), RP_ERR_IO, ctx, "no_such_checkpoint");
    remove(path);
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
