/* The gradient sum overlapped with the backward (rp_dist_set_overlap, robust/grad_sync.c):
 *  - rp_dist_bsum, the bucketed non-blocking sum, gives rp_dist_sum_f32's bits over the whole
 *    buffer: buckets of odd sizes (empty, smaller than the job, uneven), started in a shuffled
 *    order between blocking collectives on MPI_COMM_WORLD (as the batch norms' run meanwhile),
 *    two rounds over one handle.
 *  - Training: two SGD steps of a model with dropout and stochastic depth (no batch norm) for
 *    erm, advreg (two parameter-gradient passes: only the last may start buckets), TRADES and
 *    AugMix's consistency, and of MobileNetV2 (width 0.25, 52 batch norms over the job) for
 *    erm, TRADES and erm with SAM (two objective passes per step), a process's piece empty in
 *    one run: with overlap on -- the default 1 MiB buckets, and small ones (every tensor its
 *    own; 500 values, dozens of them) -- every parameter, gradient and running statistic holds the bits of the run with
 *    overlap off, and every bucket of a process with rows was started by the backward.
 * Run alone (one process: no sum, overlap never on) and as test_dist_overlap_mpi3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "model_testutil.h"

static void test_bucketed_sum_is_the_sum(void **state)
{
    const mtu_job *j = *state;
    rp_dist *d = j->d;
    int R = j->R;
    enum { N = 1000, NB = 6 };
    const size_t ends[NB] = {3, 3, 250, 251, 700, N}; /* bucket 1 is empty, bucket 3 one value */
    const int orders[2][NB] = {{4, 0, 5, 2, 1, 3}, {5, 4, 3, 2, 1, 0}};
    float *buf = malloc(N * sizeof *buf), *want = malloc(N * sizeof *want);
    rp_dist_bsum *s = NULL;
    assert_int_equal(rp_dist_bsum_create(d, buf, ends, NB, &s), RP_OK);
    for (int round = 0; round < 2; round++) {
        tu_fill_uniform(buf, N, -1.0f, 1.0f, 100 + 10 * (uint64_t)R + (uint64_t)round);
        for (int k = 0; k < N; k++) buf[k] *= (float)(1 + k % 7) * (R % 2 ? 1e3f : 1e-3f); /* rounding shows */
        memcpy(want, buf, N * sizeof *buf);
        assert_int_equal(rp_dist_sum_f32(d, want, N), RP_OK);
        for (int i = 0; i < NB; i++) {
            assert_false(rp_dist_bsum_started(s, orders[round][i]));
            assert_int_equal(rp_dist_bsum_start(s, orders[round][i]), RP_OK);
            assert_true(rp_dist_bsum_started(s, orders[round][i]));
            double v = i;
            assert_int_equal(rp_dist_sum_f64(d, &v, 1), RP_OK); /* a batch norm's collective */
            rp_dist_bsum_progress(s);
        }
        assert_int_equal(rp_dist_bsum_wait(s), RP_OK);
        assert_memory_equal(buf, want, N * sizeof *buf);
    }
    rp_dist_bsum_destroy(s);
    free(buf), free(want);
}

typedef struct run_spec {
    const char *what;
    rp_model *(*model)(rp_ctx *ctx);
    int BG;
    rp_objective_config cfg;
    float sam;
    bool empty;   /* the last process's piece is empty */
    size_t fine;  /* small buckets: every tensor (1) or 500 values */
} run_spec;

enum { SB = 12, SH = 8, SW = 8, SC = 2, SK = 5, MB = 20, MH = 16, MK = 10 };

static rp_model *masked_model(rp_ctx *ctx) { return mtu_masked_model(ctx, SH, SW, SC, SK, SB); }

/* mobilenet_v2 without its dropout, as tests/test_dist_bn.c. */
static rp_model *mobilenet(rp_ctx *ctx)
{
    rp_model_config mc = {.arch = "mobilenet_v2", .num_classes = MK, .H = MH, .W = MH, .C = 3, .max_batch = MB,
                          .seed = 9, .width = 0.25f, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.25f, 0.25f, 0.25f}};
    rp_model *m = mtu_model_begin(ctx, &mc);
    assert_true(rp_build_mobilenet_v2_dropout(&m->g, &m->cfg, 0.0f) >= 0);
    mtu_model_finish(m);
    return m;
}

/* Two SGD steps of r on this process's piece of b, overlap on or off, buckets of `bucket`
 * values (0: the default); returns the model (OWNED). */
static rp_model *train(const mtu_job *j, const run_spec *r, const mtu_masked_batch *b, bool overlap, size_t bucket)
{
    rp_ctx *ctx = j->ctx;
    rp_dist *d = j->d;
    int R = j->R, N = j->N, lo, hi;
    mtu_piece(j, r->BG, r->empty, &lo, &hi);
    int n = hi - lo;
    rp_model *m = r->model(ctx);
    size_t X = (size_t)m->cfg.H * m->cfg.W * m->cfg.C;
    rp_objective *o;
    rp_optim *opt;
    mtu_objective(ctx, m, &r->cfg, r->BG, 0.1f, &o, &opt);
    o->bucket_floats = bucket;
    rp_dist_set_overlap(d, overlap);
    assert_int_equal(rp_objective_set_dist(o, d), RP_OK);
    assert_int_equal(rp_objective_set_sam(o, r->sam), RP_OK);
    float *views = malloc((2 * (size_t)n + 1) * X * sizeof *views);
    for (int k = 0; k < 2; k++) /* (2, n, X): this piece's rows of both views */
        memcpy(views + k * n * X, b->views + ((size_t)k * r->BG + lo) * X, n * X * sizeof *views);
    for (int s = 0; s < 2; s++) {
        rp_objective_set_examples(o, 1 + s, b->idx + lo);
        rp_step_stats st;
        if (rp_train_step_views(o, opt, b->x + (size_t)lo * X, views, b->y + lo, n, &st) != RP_OK)
            fail_msg("%s: %s", r->what, rp_ctx_error(ctx));
        bool on = overlap && N > 1;
        assert_int_equal(rp_dist_overlap(d), on);
        if (on) assert_true(o->sync.n_buckets >= (bucket ? 6 : 1));
        /* every bucket started by the backward where it ran (an empty piece: after the passes) */
        if (o->sync.early != (on && n > 0 ? o->sync.n_buckets : 0))
            fail_msg("%s, rank %d: %d of %d buckets started by the backward", r->what, R, o->sync.early,
                     o->sync.n_buckets);
    }
    free(views);
    rp_optim_destroy(opt);
    rp_objective_destroy(o);
    return m;
}

/* Every tensor of a and b (values, and the trainable ones' last gradients) the same bits. */
static void expect_same_bits(const rp_model *a, const rp_model *b, const char *what, int R)
{
    for (int i = 0; i < a->g.n_params; i++) {
        const rp_param *p = &a->g.params[i], *q = &b->g.params[i];
        if (memcmp(p->data, q->data, p->numel * sizeof *p->data) != 0 ||
            (p->grad && memcmp(p->grad, q->grad, p->numel * sizeof *p->grad) != 0))
            fail_msg("%s, rank %d: %s differs with overlap", what, R, p->name);
    }
}

static void test_training_same_bits(void **state)
{
    const mtu_job *j = *state;
    rp_dist *d = j->d;
    int R = j->R;
    mtu_masked_batch small, big;
    mtu_masked_batch_init(&small, SB, (size_t)SH * SW * SC, SK);
    mtu_masked_batch_init(&big, MB, (size_t)MH * MH * 3, MK);
    const run_spec runs[] = {
        {"masked erm", masked_model, SB, small.cfg[MTU_ERM], 0.0f, false, 1},
        {"masked advreg", masked_model, SB, small.cfg[MTU_ADVREG], 0.0f, false, 1},
        {"masked trades", masked_model, SB, small.cfg[MTU_TRADES], 0.0f, true, 1},
        {"masked consistency", masked_model, SB, small.cfg[MTU_CONSISTENCY], 0.0f, false, 1},
        {"mobilenet_v2 erm", mobilenet, MB, big.cfg[MTU_ERM], 0.0f, false, 500},
        {"mobilenet_v2 erm, a piece empty", mobilenet, MB, big.cfg[MTU_ERM], 0.0f, true, 500},
        {"mobilenet_v2 trades", mobilenet, MB, big.cfg[MTU_TRADES], 0.0f, false, 500},
        {"mobilenet_v2 erm + sam", mobilenet, MB, big.cfg[MTU_ERM], 0.05f, false, 500},
    };
    for (size_t q = 0; q < sizeof runs / sizeof runs[0]; q++) {
        const run_spec *r = &runs[q];
        const mtu_masked_batch *b = r->model == mobilenet ? &big : &small;
        rp_model *off = train(j, r, b, false, 0), *on = train(j, r, b, true, 0), *fine = train(j, r, b, true, r->fine);
        expect_same_bits(off, on, r->what, R);
        expect_same_bits(off, fine, r->what, R);
        assert_int_equal(rp_dist_check_same(d, rp_model_weights_hash(on), r->what), RP_OK);
        if (R == 0) printf("%-32s: overlap on (default and %zu-value buckets) = off, bit for bit\n", r->what, r->fine);
        rp_model_destroy(off), rp_model_destroy(on), rp_model_destroy(fine);
    }
    rp_dist_set_overlap(d, true);
    mtu_masked_batch_free(&small), mtu_masked_batch_free(&big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bucketed_sum_is_the_sum),
                                       cmocka_unit_test(test_training_same_bits)};
    return cmocka_run_group_tests(tests, mtu_job_setup, mtu_job_teardown);
}
