/* Dropout and stochastic-depth masks keyed by example (rp_graph_set_examples, one process): an
 * example's masks are the same whatever batch it is in, wherever it sits there, whether the
 * batch is run whole or in pieces, with any thread count; they differ between layers (agreeing
 * as often as independent masks would), between training passes after one naming (advreg's two
 * passes), between the copies of an example in one pass (TRADES' [x; x_adv]) and between keys
 * (epochs, seeds); naming the same examples again repeats them. Their distribution is
 * unchanged: values 0 or 1/(1 - p), ~p dropped. And a training step of each objective (erm,
 * advreg, trades, consistency) over a model with dropout and stochastic depth but no batch norm
 * gives, from the pieces of a batch weighted by their share, the gradients of the whole batch
 * within 1e-5 (what data-parallel training computes, tests/test_dist_dropout.c). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_testutil.h"

/* ---- the masks of one graph --------------------------------------------------------------- */

enum { MH = 16, MW = 16, MC = 64, MS = MH * MW * MC, MB = 12 }; /* 6 x 16384 > the layers' threading size */
static const float PA = 0.3f, PSD = 0.4f, PB = 0.3f;

typedef struct masked {
    rp_ctx *ctx;
    rp_graph g;
    int a, sd, b; /* dropout, stochastic depth, dropout */
    float *x;     /* (MB, MS) ones */
} masked;

static void masked_init(masked *m, uint64_t seed)
{
    m->ctx = rp_ctx_create(1);
    rp_graph_init(&m->g, m->ctx, (rp_shape){MH, MW, MC});
    m->a = rp_g_dropout(&m->g, RP_INPUT, "a", PA);
    m->sd = rp_g_stochastic_depth(&m->g, m->a, "sd", PSD);
    m->b = rp_g_dropout(&m->g, m->sd, "b", PB);
    assert_true(m->b >= 0);
    assert_int_equal(rp_graph_finalize(&m->g, MB, seed), RP_OK);
    m->x = malloc((size_t)MB * MS * sizeof *m->x);
    for (size_t i = 0; i < (size_t)MB * MS; i++) m->x[i] = 1.0f;
}

static void masked_free(masked *m)
{
    free(m->x);
    rp_graph_free(&m->g);
    rp_ctx_destroy(m->ctx);
}

/* The masks of row r of the last forward: a's, sd's factor, b's. */
typedef struct row_masks {
    float a[MS], sd, b[MS];
} row_masks;

static void row_of(const masked *m, int r, row_masks *out)
{
    memcpy(out->a, m->g.nodes[m->a].saved + (size_t)r * MS, sizeof out->a);
    out->sd = m->g.nodes[m->sd].saved[r];
    memcpy(out->b, m->g.nodes[m->b].saved + (size_t)r * MS, sizeof out->b);
}

static bool same(const row_masks *u, const row_masks *v)
{
    return !memcmp(u->a, v->a, sizeof u->a) && u->sd == v->sd && !memcmp(u->b, v->b, sizeof u->b);
}

/* A training forward of B rows after naming idx[0..n) under key; row r's masks into rows[r]. */
static void run(masked *m, uint64_t key, const int *idx, int n, int B, row_masks *rows)
{
    rp_graph_set_examples(&m->g, key, idx, 0, n);
    rp_graph_forward(&m->g, m->x, B, true);
    for (int r = 0; r < B; r++) row_of(m, r, &rows[r]);
}

static void test_masks_follow_the_example(void **state)
{
    (void)state;
    masked m;
    masked_init(&m, 5);
    row_masks *one = malloc(MB * sizeof *one), *two = malloc(MB * sizeof *two);
    const uint64_t key = rp_rng_key(1, RP_STREAM_DROPOUT, 3); /* seed 1, epoch 3 */
    const int batch[6] = {10, 11, 12, 13, 14, 15};
    run(&m, key, batch, 6, 6, one);

    /* another batch, other places: example 14 first, 10 third */
    const int other[4] = {14, 99, 10, 7};
    run(&m, key, other, 4, 4, two);
    assert_true(same(&two[0], &one[4]));
    assert_true(same(&two[2], &one[0]));
    for (int r = 0; r < 6; r++) assert_false(same(&two[1], &one[r]) || same(&two[3], &one[r]));

    /* the batch in two pieces, as two processes run it */
    run(&m, key, batch, 3, 3, two);
    run(&m, key, batch + 3, 3, 3, two + 3);
    for (int r = 0; r < 6; r++) assert_true(same(&two[r], &one[r]));

    /* one thread */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    run(&m, key, batch, 6, 6, two);
    omp_set_num_threads(threads);
    for (int r = 0; r < 6; r++) assert_true(same(&two[r], &one[r]));

    /* a graph of another seed: the same masks (the key is the caller's) */
    masked m2;
    masked_init(&m2, 6);
    run(&m2, key, batch, 6, 6, two);
    for (int r = 0; r < 6; r++) assert_true(same(&two[r], &one[r]));
    masked_free(&m2);
    free(one);
    free(two);
    masked_free(&m);
}

static void test_masks_keys(void **state)
{
    (void)state;
    masked m;
    masked_init(&m, 5);
    row_masks *one = malloc(MB * sizeof *one), *two = malloc(MB * sizeof *two);
    const uint64_t key = rp_rng_key(1, RP_STREAM_DROPOUT, 3);
    const int batch[6] = {10, 11, 12, 13, 14, 15};
    run(&m, key, batch, 6, 6, one);

    /* the next training pass: masks of its own (an evaluation pass between does not count) */
    rp_graph_forward(&m.g, m.x, 6, false);
    rp_graph_forward(&m.g, m.x, 6, true);
    for (int r = 0; r < 6; r++) {
        row_of(&m, r, &two[r]);
        assert_false(!memcmp(two[r].a, one[r].a, sizeof one[r].a));
    }
    /* named again: the first pass's masks; an evaluation pass first changes nothing */
    rp_graph_set_examples(&m.g, key, batch, 0, 6);
    rp_graph_forward(&m.g, m.x, 6, false);
    rp_graph_forward(&m.g, m.x, 6, true);
    for (int r = 0; r < 6; r++) {
        row_of(&m, r, &two[r]);
        assert_true(same(&two[r], &one[r]));
    }
    /* another epoch or seed: other masks */
    const uint64_t keys[2] = {rp_rng_key(1, RP_STREAM_DROPOUT, 4), rp_rng_key(2, RP_STREAM_DROPOUT, 3)};
    for (int k = 0; k < 2; k++) {
        run(&m, keys[k], batch, 6, 6, two);
        for (int r = 0; r < 6; r++) assert_false(!memcmp(two[r].a, one[r].a, sizeof one[r].a));
    }
    /* two copies of each example in one pass ([x; x_adv]): the first copy's masks are the
     * example's, the second's its own */
    run(&m, key, batch, 6, 12, two);
    for (int r = 0; r < 6; r++) {
        assert_true(same(&two[r], &one[r]));
        assert_false(!memcmp(two[r + 6].a, two[r].a, sizeof two[r].a));
        assert_false(!memcmp(two[r + 6].b, two[r].b, sizeof two[r].b));
    }
    /* the layers' masks are independent: a and b agree on a value as often as independent
     * masks would, p^2 + (1 - p)^2 = 0.58 (std 0.0016 over 12 x 16384 values; 0.01 > 6 sigma) */
    size_t agree = 0, n = 0;
    for (int r = 0; r < 12; r++)
        for (int i = 0; i < MS; i++, n++) agree += (two[r].a[i] == 0.0f) == (two[r].b[i] == 0.0f);
    double want = (double)PA * PB + (1.0 - PA) * (1.0 - PB);
    assert_true(fabs((double)agree / (double)n - want) < 0.01);
    free(one);
    free(two);
    masked_free(&m);
}

/* Keyed masks keep the layers' distribution: values 0 or 1/(1 - p) exactly, ~1 - p kept
 * (dropout: 4 passes of 12 x 16384 values, std 0.0005; stochastic depth: 4800 examples, std
 * 0.007; tolerances > 5 sigma). */
static void test_masks_distribution(void **state)
{
    (void)state;
    masked m;
    masked_init(&m, 5);
    const uint64_t key = rp_rng_key(7, RP_STREAM_DROPOUT, 1);
    int idx[MB];
    size_t kept_a = 0, n_a = 0;
    int kept_sd = 0, n_sd = 0;
    for (int batch = 0; batch < 400; batch++) {
        for (int r = 0; r < MB; r++) idx[r] = batch * MB + r;
        rp_graph_set_examples(&m.g, key, idx, 0, MB);
        rp_graph_forward(&m.g, m.x, MB, true);
        const float *fa = m.g.nodes[m.a].saved, *fs = m.g.nodes[m.sd].saved;
        for (int r = 0; r < MB; r++, n_sd++) {
            assert_true(fs[r] == 0.0f || fs[r] == 1.0f / (1.0f - PSD));
            kept_sd += fs[r] != 0.0f;
        }
        for (size_t i = 0; batch < 4 && i < (size_t)MB * MS; i++, n_a++) {
            assert_true(fa[i] == 0.0f || fa[i] == 1.0f / (1.0f - PA));
            kept_a += fa[i] != 0.0f;
        }
    }
    assert_true(fabs((double)kept_a / (double)n_a - (1.0 - PA)) < 0.006);
    assert_true(fabs((double)kept_sd / n_sd - (1.0 - PSD)) < 0.035);
    masked_free(&m);
}

/* ---- training steps over pieces ------------------------------------------------------------ */

enum { BG = 12, H = 8, W = 8, C = 2, K = 5 };

/* mtu_masked_model: dropout and stochastic depth, no batch norm (the pieces' gradients then
 * add up to the whole batch's to float rounding). */
static rp_model *model(rp_ctx *ctx)
{
    return mtu_masked_model(ctx, H, W, C, K, BG);
}

/* The gradients of one step of cfg on samples [lo, hi) (named idx[lo..hi) + shift) into grad,
 * weighted by (hi - lo) / BG. */
static void piece_grads(rp_ctx *ctx, const rp_objective_config *cfg, const float *x, const float *views,
                        const int32_t *y, const int *idx, int shift, int lo, int hi, float *grad)
{
    rp_model *m = model(ctx);
    rp_objective *o;
    rp_optim *opt;
    mtu_objective(ctx, m, cfg, BG, 0.0f, &o, &opt);
    int names[BG];
    for (int i = lo; i < hi; i++) names[i - lo] = idx[i] + shift;
    rp_objective_set_examples(o, 2, names);
    size_t X = (size_t)H * W * C, n = (size_t)(hi - lo);
    float *v = NULL;
    if (views) { /* (2, n, X): the pieces' rows of both views */
        v = malloc(2 * n * X * sizeof *v);
        for (int k = 0; k < 2; k++) memcpy(v + k * n * X, views + ((size_t)k * BG + lo) * X, n * X * sizeof *v);
    }
    rp_step_stats st;
    if (rp_train_step_views(o, opt, x + lo * X, v, y + lo, hi - lo, &st) != RP_OK)
        fail_msg("step: %s", rp_ctx_error(ctx));
    size_t at = 0;
    float w = (float)(hi - lo) / BG;
    for (int i = 0; i < m->g.n_params; i++)
        for (size_t k = 0; k < m->g.params[i].numel; k++) grad[at++] += w * m->g.params[i].grad[k];
    free(v);
    rp_optim_destroy(opt);
    rp_objective_destroy(o);
    rp_model_destroy(m);
}

/* Per tensor: max |a - b| over max |a|, the largest over the tensors. */
static double worst_tensor(rp_ctx *ctx, const float *a, const float *b)
{
    rp_model *m = model(ctx);
    double worst = 0.0;
    size_t at = 0;
    for (int i = 0; i < m->g.n_params; i++) {
        double num = 0.0, den = 1e-30;
        for (size_t k = 0; k < m->g.params[i].numel; k++, at++) {
            num = fmax(num, fabs((double)a[at] - b[at]));
            den = fmax(den, fabs((double)a[at]));
        }
        worst = fmax(worst, num / den);
    }
    rp_model_destroy(m);
    return worst;
}

static void test_pieces_give_the_batch(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    mtu_masked_batch b;
    mtu_masked_batch_init(&b, BG, (size_t)H * W * C, K);
    const char *names[] = {"erm", "advreg (two training passes)", "trades ([x; x_adv])", "consistency (three copies)"};
    rp_model *probe = model(ctx);
    size_t np = rp_model_num_params(probe);
    rp_model_destroy(probe);
    float *whole = malloc(np * sizeof *whole), *parts = malloc(np * sizeof *parts), *other = malloc(np * sizeof *other);
    const int cut[] = {0, 5, 9, BG}; /* pieces of 5, 4 and 3 */
    for (int q = 0; q < 4; q++) {
        const float *v = q == MTU_CONSISTENCY ? b.views : NULL;
        memset(whole, 0, np * sizeof *whole);
        memset(parts, 0, np * sizeof *parts);
        memset(other, 0, np * sizeof *other);
        piece_grads(ctx, &b.cfg[q], b.x, v, b.y, b.idx, 0, 0, BG, whole);
        for (int k = 0; k < 3; k++) piece_grads(ctx, &b.cfg[q], b.x, v, b.y, b.idx, 0, cut[k], cut[k + 1], parts);
        piece_grads(ctx, &b.cfg[q], b.x, v, b.y, b.idx, 1000, 0, BG, other); /* other examples' masks */
        double e = worst_tensor(ctx, whole, parts), d = worst_tensor(ctx, whole, other);
        printf("%s: pieces vs the whole batch %.2g per tensor; with other examples' masks %.2g\n", names[q], e, d);
        if (e > 1e-5) fail_msg("%s: the pieces' gradients differ from the batch's by %.3g", names[q], e);
        if (d < 1e-2) fail_msg("%s: other masks should change the gradients (by %.3g only)", names[q], d);
    }
    free(whole), free(parts), free(other);
    mtu_masked_batch_free(&b);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_follow_the_example),
        cmocka_unit_test(test_masks_keys),
        cmocka_unit_test(test_masks_distribution),
        cmocka_unit_test(test_pieces_give_the_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
