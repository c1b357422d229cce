/* The threaded batch loader: identical batches whatever the number of workers (0, 1, 2,
 * 3) and ring size; each epoch a permutation (rp_permutation's); batch contents and
 * augmentation recomputed independently from (seed, epoch, sample), and the same augmented
 * samples with another batch size; a bounded ring that never
 * deadlocks; clean shutdown with workers waiting. Comparisons are exact (memcmp). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"

enum { N = 103, H = 6, W = 5, C = 3, K = 7, BATCH = 16, EPOCHS = 3 };
#define X ((size_t)H * W * C)
#define AUG "flip,crop:2,brightness:0.3@0.7,gaussian:0.05@0.5"

static rp_dataset *make_set(rp_ctx *ctx)
{
    uint8_t *px = malloc((size_t)N * X);
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (size_t k = 0; k < X; k++) px[i * X + k] = (uint8_t)((i * 31 + k * 7) % 256);
    }
    rp_dataset *ds = NULL;
    assert_int_equal(rp_dataset_from_memory(ctx, px, y, N, H, W, C, K, NULL, &ds), RP_OK);
    free(px);
    return ds;
}

/* Everything the loader hands out over EPOCHS epochs, concatenated. */
typedef struct run {
    float *x;
    int32_t *y;
    int *idx, *B, *epoch, *index;
    int batches;
} run;

static run collect(rp_ctx *ctx, const rp_dataset *ds, int workers, int ahead, const char *aug, uint64_t seed)
{
    rp_loader_config cfg = {.batch = BATCH, .workers = workers, .ahead = ahead, .seed = seed, .shuffle = true,
                            .first_epoch = 1, .epochs = EPOCHS, .augment = aug, .augment_prob = 1.0f};
    rp_loader *l = NULL;
    assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_OK);
    int per = rp_loader_batches(l), total = per * EPOCHS;
    assert_int_equal(per, (N + BATCH - 1) / BATCH);
    run r = {.x = calloc((size_t)EPOCHS * N * X, sizeof(float)), .y = calloc((size_t)EPOCHS * N, sizeof(int32_t)),
             .idx = calloc((size_t)EPOCHS * N, sizeof(int)), .B = calloc((size_t)total, sizeof(int)),
             .epoch = calloc((size_t)total, sizeof(int)), .index = calloc((size_t)total, sizeof(int))};
    size_t at = 0;
    rp_batch b;
    while (rp_loader_next(l, &b)) {
        assert_true(r.batches < total);
        r.B[r.batches] = b.B;
        r.epoch[r.batches] = b.epoch;
        r.index[r.batches] = b.index;
        memcpy(r.x + at * X, b.x, (size_t)b.B * X * sizeof(float));
        memcpy(r.y + at, b.y, (size_t)b.B * sizeof(int32_t));
        memcpy(r.idx + at, b.idx, (size_t)b.B * sizeof(int));
        at += (size_t)b.B;
        r.batches++;
    }
    assert_int_equal(b.B, 0);
    assert_false(rp_loader_next(l, &b)); /* stays at the end */
    assert_int_equal(r.batches, total);
    assert_int_equal(at, (size_t)EPOCHS * N);
    assert_true(rp_loader_wait_seconds(l) >= 0.0);
    rp_loader_destroy(l);
    return r;
}

static void run_free(run *r)
{
    free(r->x), free(r->y), free(r->idx), free(r->B), free(r->epoch), free(r->index);
}

static void assert_same(const run *a, const run *b)
{
    assert_int_equal(a->batches, b->batches);
    assert_memory_equal(a->B, b->B, (size_t)a->batches * sizeof(int));
    assert_memory_equal(a->idx, b->idx, (size_t)EPOCHS * N * sizeof(int));
    assert_memory_equal(a->y, b->y, (size_t)EPOCHS * N * sizeof(int32_t));
    assert_memory_equal(a->x, b->x, (size_t)EPOCHS * N * X * sizeof(float));
}

/* Order, labels and batch sizes as documented, and x recomputed independently: gather,
 * then augment each image from its stream keyed by (seed, epoch, sample index). */
static void assert_as_documented(const rp_dataset *ds, const run *r, const char *aug, uint64_t seed)
{
    int per = (N + BATCH - 1) / BATCH, perm[N];
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n_ops = 0;
    if (aug) assert_int_equal(rp_augment_parse(NULL, aug, 1.0f, ops, &n_ops), RP_OK);
    float *x = malloc(BATCH * X * sizeof(float)), *scratch = malloc(X * sizeof(float));
    int32_t y[BATCH];
    size_t at = 0;
    for (int e = 1; e <= EPOCHS; e++) {
        rp_permutation(perm, N, seed, (uint64_t)e);
        assert_memory_equal(r->idx + (size_t)(e - 1) * N, perm, sizeof perm);
        for (int b = 0; b < per; b++) {
            int j = (e - 1) * per + b, B = b == per - 1 ? N - b * BATCH : BATCH;
            assert_int_equal(r->epoch[j], e);
            assert_int_equal(r->index[j], b);
            assert_int_equal(r->B[j], B);
            rp_dataset_gather(ds, perm + b * BATCH, B, x, y);
            for (int i = 0; i < B; i++) {
                rp_rng rng;
                rp_rng_seed_key(&rng, seed, RP_STREAM_AUGMENT, (uint64_t)e, (uint64_t)perm[b * BATCH + i]);
                rp_augment_image(ops, n_ops, x + i * X, H, W, C, &rng, scratch);
            }
            assert_memory_equal(r->y + at, y, (size_t)B * sizeof(int32_t));
            assert_memory_equal(r->x + at * X, x, (size_t)B * X * sizeof(float));
            at += (size_t)B;
        }
    }
    free(x);
    free(scratch);
}

static void test_same_batches_any_workers(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_dataset *ds = make_set(ctx);
    run ref = collect(ctx, ds, 0, 0, AUG, 42);
    assert_as_documented(ds, &ref, AUG, 42);
    const int workers[] = {1, 2, 3, 3, 2}, ahead[] = {0, 0, 0, 2, 100};
    for (int t = 0; t < 5; t++) {
        run r = collect(ctx, ds, workers[t], ahead[t], AUG, 42);
        assert_same(&ref, &r);
        run_free(&r);
    }
    /* the augmentation really changed the images, and another seed gives another order */
    run plain = collect(ctx, ds, 2, 0, NULL, 42), other = collect(ctx, ds, 2, 0, AUG, 43);
    assert_as_documented(ds, &plain, NULL, 42);
    assert_memory_equal(plain.idx, ref.idx, (size_t)EPOCHS * N * sizeof(int));
    assert_memory_not_equal(plain.x, ref.x, (size_t)EPOCHS * N * X * sizeof(float));
    assert_memory_not_equal(other.idx, ref.idx, (size_t)N * sizeof(int));
    /* another batch size: every sample of every epoch augmented exactly as before */
    rp_loader_config cfg = {.batch = 7, .workers = 2, .seed = 42, .shuffle = true, .first_epoch = 1,
                            .epochs = EPOCHS, .augment = AUG, .augment_prob = 1.0f};
    rp_loader *l = NULL;
    assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_OK);
    rp_batch b;
    while (rp_loader_next(l, &b))
        for (int i = 0; i < b.B; i++) {
            size_t at = (size_t)(b.epoch - 1) * N;
            while (ref.idx[at] != b.idx[i]) at++; /* where the batch-16 run had this sample */
            assert_memory_equal(b.x + (size_t)i * X, ref.x + at * X, X * sizeof(float));
        }
    rp_loader_destroy(l);
    run_free(&plain);
    run_free(&other);
    run_free(&ref);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

/* A loader that starts at batch 4 of epoch 1 (a resumed run) hands out exactly the batches
 * the uninterrupted loader hands out from there on, with any number of workers; a first
 * batch outside the epoch is refused. */
static void test_first_batch(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_dataset *ds = make_set(ctx);
    run ref = collect(ctx, ds, 2, 0, AUG, 42);
    int per = (N + BATCH - 1) / BATCH, skip = 4;
    for (int workers = 0; workers <= 3; workers += 3) {
        rp_loader_config cfg = {.batch = BATCH, .workers = workers, .seed = 42, .shuffle = true, .first_epoch = 1,
                                .first_batch = skip, .epochs = EPOCHS, .augment = AUG, .augment_prob = 1.0f};
        rp_loader *l = NULL;
        assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_OK);
        rp_batch b;
        size_t at = (size_t)skip * BATCH;
        for (int j = skip; j < per * EPOCHS; j++) {
            assert_true(rp_loader_next(l, &b));
            assert_int_equal(b.epoch, ref.epoch[j]);
            assert_int_equal(b.index, ref.index[j]);
            assert_int_equal(b.B, ref.B[j]);
            assert_memory_equal(b.idx, ref.idx + at, (size_t)b.B * sizeof(int));
            assert_memory_equal(b.x, ref.x + at * X, (size_t)b.B * X * sizeof(float));
            at += (size_t)b.B;
        }
        assert_false(rp_loader_next(l, &b));
        rp_loader_destroy(l);
        cfg.first_batch = per;
        assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_ERR_ARG);
        assert_non_null(strstr(rp_ctx_error(ctx), "first batch"));
    }
    run_free(&ref);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

/* Unbounded epochs, a consumer that stops early, unshuffled order, bad arguments. */
static void test_loader_edges(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_dataset *ds = make_set(ctx);
    rp_loader_config cfg = {.batch = 40, .workers = 3, .first_epoch = 5};
    rp_loader *l = NULL;
    assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_OK);
    rp_batch b;
    for (int j = 0; j < 10; j++) { /* 3 batches an epoch: 40, 40, 23 in order */
        assert_true(rp_loader_next(l, &b));
        assert_int_equal(b.epoch, 5 + j / 3);
        assert_int_equal(b.index, j % 3);
        assert_int_equal(b.B, j % 3 == 2 ? 23 : 40);
        for (int i = 0; i < b.B; i++) assert_int_equal(b.idx[i], (j % 3) * 40 + i);
    }
    rp_loader_destroy(l); /* workers are waiting for free slots: must not hang */
    cfg.batch = 0;
    assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_ERR_ARG);
    cfg.batch = 8;
    cfg.augment = "flip,warp";
    assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "warp"));
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

/* Views for a consistency loss: the same images and views for 0 and 2 workers; x is the image
 * through the ops before the mixing op (here none: the plain image), the views are recomputed
 * here from the batch's stream (rp_augment_views), differ from x and from each other; a spec
 * without a mixing op refuses views. */
static void test_views(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(2);
    rp_dataset *ds = make_set(ctx);
    const char *spec = "augmix:3,gaussian:0.02@0.5";
    float *got[2] = {malloc((size_t)N * X * 3 * sizeof(float)), malloc((size_t)N * X * 3 * sizeof(float))};
    for (int r = 0; r < 2; r++) {
        rp_loader_config cfg = {.batch = BATCH, .workers = 2 * r, .seed = 9, .shuffle = true, .first_epoch = 1,
                                .epochs = 1, .augment = spec, .augment_prob = 0.5f, .views = true};
        rp_loader *l = NULL;
        assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_OK);
        rp_batch b;
        size_t at = 0;
        while (rp_loader_next(l, &b)) {
            assert_non_null(b.views);
            for (int i = 0; i < b.B; i++) {
                memcpy(got[r] + (at + i) * 3 * X, b.x + i * X, X * sizeof(float));
                memcpy(got[r] + ((at + i) * 3 + 1) * X, b.views + i * X, X * sizeof(float));
                memcpy(got[r] + ((at + i) * 3 + 2) * X, b.views + ((size_t)b.B + i) * X, X * sizeof(float));
            }
            if (r == 0 && b.index == 1) { /* recompute batch 1 image by image */
                rp_augment_op ops[RP_AUGMENT_MAX_OPS];
                int n_ops;
                assert_int_equal(rp_augment_parse(ctx, spec, 0.5f, ops, &n_ops), RP_OK);
                float *img = malloc(X * sizeof(float)), *v = malloc(2 * X * sizeof(float)),
                      *scratch = malloc(rp_augment_scratch_floats(ops, n_ops, H, W, C) * sizeof(float));
                int32_t y;
                for (int i = 0; i < b.B; i++) {
                    rp_rng rng;
                    rp_rng_seed_key(&rng, 9, RP_STREAM_AUGMENT, 1, (uint64_t)b.idx[i]);
                    rp_dataset_gather(ds, &b.idx[i], 1, img, &y);
                    rp_augment_views(ops, n_ops, img, v, H, W, C, &rng, scratch);
                    assert_memory_equal(img, b.x + i * X, X * sizeof(float));
                    assert_memory_equal(v, b.views + i * X, X * sizeof(float));
                    assert_memory_equal(v + X, b.views + ((size_t)b.B + i) * X, X * sizeof(float));
                    assert_memory_not_equal(v, v + X, X * sizeof(float));
                    assert_memory_not_equal(v, img, X * sizeof(float));
                }
                free(img), free(v), free(scratch);
            }
            at += (size_t)b.B;
        }
        assert_int_equal((int)at, N);
        rp_loader_destroy(l);
    }
    assert_memory_equal(got[0], got[1], (size_t)N * X * 3 * sizeof(float));
    rp_loader_config cfg = {.batch = 8, .epochs = 1, .augment = "flip,gaussian", .views = true};
    rp_loader *l = NULL;
    assert_int_equal(rp_loader_create(ctx, ds, &cfg, &l), RP_ERR_ARG);
    assert_non_null(strstr(rp_ctx_error(ctx), "augmix or prime"));
    free(got[0]), free(got[1]);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_batches_any_workers),
        cmocka_unit_test(test_loader_edges),
        cmocka_unit_test(test_first_batch),
        cmocka_unit_test(test_views),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
