/* Collectives (dist/dist.h), run as one process and, when the build has MPI, by mpirun with 3
 * processes (ctest's test_dist_mpi3): the sum is formed in rank order -- bit for bit the
 * sequential float sum of the ranks' values in rank order, for sizes that do not divide
 * evenly among the ranks, including fewer values than ranks -- and is the same on every
 * rank; broadcast, gather of unequal parts, and the agreement check that names the rank
 * that differs. With one process every collective is the identity. */
#include <string.h>

#include "dist/dist.h"
#include "testutil.h"

static rp_ctx *ctx;
static rp_dist *d;

static int setup(void **state)
{
    (void)state;
    ctx = rp_ctx_create(1);
    assert_int_equal(rp_dist_create(ctx, &d), RP_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rp_dist_destroy(d);
    rp_ctx_destroy(ctx);
    return 0;
}

/* Rank r's value i: rank 0's large (float spacing 8 near 1e8), the others' about 3, so
 * ((big + 3) + 3) keeps big while (3 + 3) + big does not: the order shows in the bits. */
static double value(int r, size_t i)
{
    return r == 0 ? 1e8 * (1.0 + (double)(i % 13) / 16.0) : 3.0 + (double)((i * 7 + (size_t)r) % 5) / 8.0;
}

static void test_sum_in_rank_order(void **state)
{
    (void)state;
    int R = rp_dist_rank(d), N = rp_dist_size(d);
    const size_t sizes[] = {0, 1, 2, 3, 7, 1000, 4097};
    for (int t = 0; t < 7; t++) {
        size_t n = sizes[t];
        float *f = malloc((n + 1) * sizeof *f), *fe = malloc((n + 1) * sizeof *fe);
        double *g = malloc((n + 1) * sizeof *g), *ge = malloc((n + 1) * sizeof *ge);
        for (size_t i = 0; i < n; i++) {
            f[i] = (float)value(R, i), g[i] = value(R, i) / 7.0;
            fe[i] = (float)value(0, i), ge[i] = value(0, i) / 7.0;
            for (int r = 1; r < N; r++) fe[i] += (float)value(r, i), ge[i] += value(r, i) / 7.0;
        }
        assert_int_equal(rp_dist_sum_f32(d, f, n), RP_OK);
        assert_int_equal(rp_dist_sum_f64(d, g, n), RP_OK);
        if (n) {
            assert_memory_equal(f, fe, n * sizeof *f);
            assert_memory_equal(g, ge, n * sizeof *g);
        }
        free(f), free(fe), free(g), free(ge);
    }
}

static void test_bcast_gather_check(void **state)
{
    (void)state;
    int R = rp_dist_rank(d), N = rp_dist_size(d), root = N - 1;
    char msg[32];
    snprintf(msg, sizeof msg, "from rank %d", R);
    assert_int_equal(rp_dist_bcast(d, msg, sizeof msg, root), RP_OK);
    char want[32];
    snprintf(want, sizeof want, "from rank %d", root);
    assert_string_equal(msg, want);
    assert_int_equal(rp_dist_bcast(d, msg, sizeof msg, N), RP_ERR_ARG);
    /* rank r gives r + 1 bytes of value r */
    unsigned char mine[64], all[64 * 8];
    memset(mine, R, (size_t)R + 1);
    size_t total = 0, counts[8];
    assert_true(N <= 8);
    assert_int_equal(rp_dist_total(d, (size_t)R + 1, &total), RP_OK);
    assert_int_equal(total, (size_t)N * (N + 1) / 2);
    assert_int_equal(rp_dist_allgather(d, mine, (size_t)R + 1, all, counts), RP_OK);
    for (int r = 0, at = 0; r < N; r++) {
        assert_int_equal(counts[r], (size_t)r + 1);
        for (int k = 0; k <= r; k++, at++) assert_int_equal(all[at], r);
    }
    assert_int_equal(rp_dist_check_same(d, 0x1234, "the weights' hash"), RP_OK);
    rp_status s = rp_dist_check_same(d, 0x1234 + (uint64_t)(R == N - 1), "the weights' hash");
    if (N == 1) {
        assert_int_equal(s, RP_OK);
    } else {
        assert_int_equal(s, RP_ERR_ARG);
        snprintf(want, sizeof want, "rank %d has", N - 1);
        assert_non_null(strstr(rp_ctx_error(ctx), want));
        assert_non_null(strstr(rp_ctx_error(ctx), "the weights' hash differs"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_in_rank_order),
        cmocka_unit_test(test_bcast_gather_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
