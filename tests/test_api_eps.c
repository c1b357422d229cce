/* rp_parse_eps and rp_check_model_fits (include/rampart.h), as the command uses them: eps as
 * a number, K/255 or inf; malformed, NaN, negative or NULL input is RP_ERR_ARG with a message;
 * a model that does not take a data set's images or classes is RP_ERR_SHAPE saying what
 * differs, a NULL model RP_ERR_ARG. */
#include <math.h>
#include <string.h>

#include "testutil.h"

static void test_parse_eps(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    float e = -1.0f;
    assert_int_equal(rp_parse_eps(ctx, "0.1", &e), RP_OK);
    assert_true(e == 0.1f);
    assert_int_equal(rp_parse_eps(ctx, "8/255", &e), RP_OK);
    assert_true(fabsf(e - 8.0f / 255.0f) < 1e-7f);
    assert_int_equal(rp_parse_eps(ctx, "inf", &e), RP_OK);
    assert_true(isinf(e));
    assert_int_equal(rp_parse_eps(ctx, "0", &e), RP_OK);
    assert_true(e == 0.0f);
    tu_expect_status(rp_parse_eps(ctx, "-0.1", &e), RP_ERR_ARG, ctx, ">= 0");
    tu_expect_status(rp_parse_eps(ctx, "8/0", &e), RP_ERR_ARG, ctx, "bad eps '8/0'");
    tu_expect_status(rp_parse_eps(ctx, "nan", &e), RP_ERR_ARG, ctx, "bad eps 'nan'");
    tu_expect_status(rp_parse_eps(ctx, "0.1x", &e), RP_ERR_ARG, ctx, "bad eps '0.1x'");
    tu_expect_status(rp_parse_eps(ctx, "", &e), RP_ERR_ARG, ctx, "bad eps ''");
    tu_expect_status(rp_parse_eps(ctx, NULL, &e), RP_ERR_ARG, ctx, "the text is NULL");
    tu_expect_status(rp_parse_eps(ctx, "0.1", NULL), RP_ERR_ARG, ctx, "out is NULL");
    rp_ctx_destroy(ctx);
}

static void test_model_fits(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_model_config cfg = {.arch = "mlp", .num_classes = 5, .H = 6, .W = 4, .C = 1, .max_batch = 1, .seed = 1};
    cfg.mean[0] = 0.5f, cfg.std[0] = 0.25f;
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &cfg, &m), RP_OK);
    assert_int_equal(rp_check_model_fits(ctx, m, 6, 4, 1, 5), RP_OK);
    assert_int_equal(rp_check_model_fits(ctx, m, 6, 4, 1, 3), RP_OK); /* fewer classes: fine */
    tu_expect_status(rp_check_model_fits(ctx, m, 4, 6, 1, 5), RP_ERR_SHAPE, ctx, "data images are 4x6x1 but the model expects 6x4x1");
    tu_expect_status(rp_check_model_fits(ctx, m, 6, 4, 3, 5), RP_ERR_SHAPE, ctx, "6x4x3");
    tu_expect_status(rp_check_model_fits(ctx, m, 6, 4, 1, 7), RP_ERR_SHAPE, ctx, "data has 7 classes but the model only 5");
    tu_expect_status(rp_check_model_fits(ctx, NULL, 6, 4, 1, 5), RP_ERR_ARG, ctx, "the model is NULL");
    rp_model_destroy(m);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_eps),
        cmocka_unit_test(test_model_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
