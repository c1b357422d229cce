/* The public processes API (include/rampart.h, "processes (MPI)") in one process: rank 0 of 1,
 * every collective the identity; a NULL handle is RP_ERR_ARG, a NULL buffer with bytes to move
 * RP_ERR_ARG with a message in the handle's context, a NULL out or a root outside the job too.
 * tests/test_dist.c checks the collectives themselves in three processes. */
#include <string.h>

#include "testutil.h"

static void test_dist_bad_arguments(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    tu_expect_status(rp_dist_create(ctx, NULL), RP_ERR_ARG, ctx, "out is NULL");
    rp_dist *d = NULL;
    assert_int_equal(rp_dist_create(ctx, &d), RP_OK);
    float f[2] = {1, 2};
    double g[2] = {3, 4};
    size_t total = 0;
    char all[8];
    /* a NULL handle: no context to name it, the status alone */
    assert_int_equal(rp_dist_sum_f32(NULL, f, 2), RP_ERR_ARG);
    assert_int_equal(rp_dist_sum_f64(NULL, g, 2), RP_ERR_ARG);
    assert_int_equal(rp_dist_bcast(NULL, f, sizeof f, 0), RP_ERR_ARG);
    assert_int_equal(rp_dist_allgather(NULL, f, sizeof f, all, NULL), RP_ERR_ARG);
    assert_int_equal(rp_dist_total(NULL, 4, &total), RP_ERR_ARG);
    assert_int_equal(rp_dist_check_same(NULL, 1, "w"), RP_ERR_ARG);
    assert_int_equal(rp_dist_rank(NULL), 0);
    assert_int_equal(rp_dist_size(NULL), 1);
    /* NULL buffers and a bad root: named in the handle's context */
    tu_expect_status(rp_dist_sum_f32(d, NULL, 2), RP_ERR_ARG, ctx, "sum's buffer is NULL");
    tu_expect_status(rp_dist_sum_f64(d, NULL, 2), RP_ERR_ARG, ctx, "sum's buffer is NULL");
    tu_expect_status(rp_dist_bcast(d, NULL, 4, 0), RP_ERR_ARG, ctx, "broadcast's buffer is NULL");
    tu_expect_status(rp_dist_bcast(d, f, sizeof f, 1), RP_ERR_ARG, ctx, "broadcast from rank 1 of 1");
    tu_expect_status(rp_dist_allgather(d, NULL, 4, all, NULL), RP_ERR_ARG, ctx, "own part is NULL");
    tu_expect_status(rp_dist_allgather(d, f, sizeof f, NULL, NULL), RP_ERR_ARG, ctx, "result is NULL");
    tu_expect_status(rp_dist_total(d, 4, NULL), RP_ERR_ARG, ctx, "total is NULL");
    tu_expect_status(rp_dist_check_same(d, 1, NULL), RP_ERR_ARG, ctx, "what is NULL");
    /* nothing to move: a NULL buffer is fine */
    assert_int_equal(rp_dist_sum_f32(d, NULL, 0), RP_OK);
    rp_dist_destroy(d);
    rp_dist_destroy(NULL);
    rp_ctx_destroy(ctx);
}

static void test_dist_one_process(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dist *d = NULL;
    assert_int_equal(rp_dist_create(ctx, &d), RP_OK);
    assert_int_equal(rp_dist_rank(d), 0);
    assert_int_equal(rp_dist_size(d), 1);
    float f[2] = {1.5f, -2.0f};
    assert_int_equal(rp_dist_sum_f32(d, f, 2), RP_OK);
    assert_true(f[0] == 1.5f && f[1] == -2.0f);
    char mine[5] = "abcd", all[5] = {0};
    size_t counts[1] = {0}, total = 0;
    assert_int_equal(rp_dist_allgather(d, mine, 4, all, counts), RP_OK);
    assert_memory_equal(all, "abcd", 4);
    assert_int_equal(counts[0], 4);
    assert_int_equal(rp_dist_total(d, 7, &total), RP_OK);
    assert_int_equal(total, 7);
    assert_int_equal(rp_dist_check_same(d, 42, "weights"), RP_OK);
    rp_dist_destroy(d);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dist_bad_arguments),
        cmocka_unit_test(test_dist_one_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
