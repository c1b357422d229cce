/* Sharded evaluation (rp_eval_table_opts.dist): every process evaluates its run of whole
 * batches and gets the table one process computes -- accuracies, calibration errors,
 * ball checks, pass counts and per-example flags bit for bit -- for clean, noise, corruption
 * and attack rows (random starts, restarts and Square's squares keyed by example), with a
 * batch size that does not divide the set and with more processes than some shards need.
 * Run alone (one process: the identity) and, when the build has MPI, by mpirun with 3
 * processes (ctest's test_dist_eval_mpi3). Each process computes the whole table itself as
 * the reference. */
#include <math.h>
#include <string.h>

#include "data/dataset.h"
#include "dist/dist.h"
#include "robust/evaluate.h"
#include "testutil.h"

enum { N = 45, H = 8, W = 8, C = 1, K = 10 };

static rp_condition attack(rp_attack_kind k, float eps)
{
    rp_attack_config c = rp_attack_defaults(k, eps);
    c.steps = k == RP_ATTACK_SQUARE ? 30 : 3;
    c.restarts = k == RP_ATTACK_PGD ? 2 : 1;
    c.square_queries = 30;
    c.seed = 3;
    return (rp_condition){.kind = RP_COND_ATTACK, .attack = c};
}

static void same_result(const rp_cond_result *a, const rp_cond_result *b, int i)
{
    if (a->n != b->n || a->correct != b->correct || a->ball_checked != b->ball_checked || a->in_ball != b->in_ball ||
        a->max_norm != b->max_norm || a->deterministic != b->deterministic || a->passes != b->passes ||
        a->not_applicable != b->not_applicable || memcmp(&a->ece, &b->ece, sizeof a->ece) ||
        memcmp(&a->accuracy, &b->accuracy, sizeof a->accuracy))
        fail_msg("row %d: sharded n %d correct %ld passes %ld ece %.17g, whole n %d correct %ld passes %ld ece %.17g",
                 i, a->n, a->correct, a->passes, a->ece, b->n, b->correct, b->passes, b->ece);
}

static void test_shards_equal_whole(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dist *d = NULL;
    assert_int_equal(rp_dist_create(ctx, &d), RP_OK);
    rp_model_config mc = {.arch = "mlp", .num_classes = K, .H = H, .W = W, .C = C, .max_batch = 64, .seed = 5,
                          .mean = {0.5f}, .std = {0.25f}};
    rp_model *m = NULL;
    assert_int_equal(rp_model_create(ctx, &mc, &m), RP_OK);
    uint8_t pix[N * H * W * C];
    int32_t y[N];
    rp_rng r;
    rp_rng_seed(&r, 77, 1);
    for (int i = 0; i < N * H * W * C; i++) pix[i] = (uint8_t)rp_rng_below(&r, 256);
    for (int i = 0; i < N; i++) y[i] = (int32_t)rp_rng_below(&r, K);
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_from_memory(ctx, pix, y, N, H, W, C, K, NULL, &ds), RP_OK);
    rp_condition c[] = {{.kind = RP_COND_CLEAN},
                        {.kind = RP_COND_NOISE, .noise = RP_NOISE_GAUSSIAN, .severity = 5, .strength = 0.3f},
                        {.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_FROST, .severity = 3},
                        {.kind = RP_COND_CORRUPTION, .corruption = RP_CORR_SATURATE, .severity = 3},
                        attack(RP_ATTACK_PGD, 0.1f), attack(RP_ATTACK_SQUARE, 0.05f), attack(RP_ATTACK_WORST, 0.05f)};
    enum { NC = sizeof c / sizeof c[0] };
    for (int batch = 4; batch <= 16; batch += 12) { /* 12 batches, or 3 (some rank may get one) */
        rp_cond_result whole[NC], shard[NC];
        unsigned char ok_w[NC * N], ok_s[NC * N];
        rp_eval_table_opts o = {.batch = batch, .seed = 9, .correct = ok_w};
        assert_int_equal(rp_evaluate_table(ctx, &m, 1, ds, c, NC, &o, whole), RP_OK);
        o.dist = d, o.correct = ok_s;
        if (rp_evaluate_table(ctx, &m, 1, ds, c, NC, &o, shard) != RP_OK)
            fail_msg("rank %d: %s", rp_dist_rank(d), rp_ctx_error(ctx));
        for (int i = 0; i < NC; i++) same_result(&shard[i], &whole[i], i);
        assert_memory_equal(ok_s, ok_w, sizeof ok_w);
        assert_true(whole[3].not_applicable); /* saturate on gray */
        assert_true(whole[4].accuracy < whole[0].accuracy);
    }
    rp_dataset_destroy(ds);
    rp_model_destroy(m);
    rp_dist_destroy(d);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shards_equal_whole)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
