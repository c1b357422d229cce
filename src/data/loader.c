/* The batch loader (loader.h): a ring of batch buffers filled by worker threads. */
#include "data/loader.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "data/augment.h"
#include "data/dataset.h"

enum slot_state { SLOT_FREE, SLOT_BUSY, SLOT_READY };

typedef struct slot {
    float *x;          /* (B, H, W, C) */
    float *views;      /* (2, B, H, W, C) with cfg.views */
    int32_t *y;        /* (B) */
    int *idx;          /* (B) */
    long job;          /* job held, when not free */
    enum slot_state state;
} slot;

typedef struct worker_arg {
    struct rp_loader *l;
    int id;
} worker_arg;

struct rp_loader {
    const rp_dataset *ds;
    rp_loader_config cfg;
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n_ops;
    int n, batches, K; /* samples, batches per epoch, ring slots */
    long last_job;     /* jobs stop before this (LONG_MAX-like when unbounded) */
    size_t X;          /* floats per image */
    size_t S;          /* scratch floats per worker (rp_augment_scratch_floats) */
    slot *slots;
    float **scratch;   /* one image per worker (and one for the caller), for augmentation */
    int *perm[2];      /* permutations of the epochs in flight, by epoch parity */
    int perm_epoch[2];
    pthread_t *threads;
    worker_arg *args;
    int n_scratch;     /* scratch images: max(1, workers) */
    int n_started;     /* threads running (joined at destroy) */
    pthread_mutex_t mu;
    pthread_cond_t work, ready;
    long next_job;     /* next job to claim */
    long current;      /* job held by the consumer, first_batch - 1 before the first */
    bool stop;
    double waited;
};

static int job_epoch(const rp_loader *l, long j) { return l->cfg.first_epoch + (int)(j / l->batches); }

/* The permutation of epoch e, computed once by whoever needs it first; called with mu
 * held. Safe because the ring never spans more than two epochs (K <= batches): a buffer
 * is rewritten only after every job of the epoch two back has been handed back. */
static const int *epoch_perm(rp_loader *l, int e)
{
    int k = e & 1;
    if (l->perm_epoch[k] != e) {
        if (l->cfg.shuffle) rp_permutation(l->perm[k], l->n, l->cfg.seed, (uint64_t)e);
        else
            for (int i = 0; i < l->n; i++) l->perm[k][i] = i;
        l->perm_epoch[k] = e;
    }
    return l->perm[k];
}

/* This process's part of batch b: [*start, *start + *B) of the epoch's order. */
static void batch_range(const rp_loader *l, int b, int *start, int *B)
{
    int s0 = b * l->cfg.batch, all = l->n - s0 < l->cfg.batch ? l->n - s0 : l->cfg.batch;
    int parts = l->cfg.parts > 1 ? l->cfg.parts : 1, part = parts > 1 ? l->cfg.part : 0;
    int lo = (int)((long)all * part / parts), hi = (int)((long)all * (part + 1) / parts);
    *start = s0 + lo;
    *B = hi - lo;
}

/* Fill slot s with job j: gather, then augment each image from its own stream, keyed by
 * (seed, epoch, sample index). */
static void fill(rp_loader *l, slot *s, long j, const int *perm, float *scratch)
{
    int e = job_epoch(l, j), b = (int)(j % l->batches), start, B;
    batch_range(l, b, &start, &B);
    if (B == 0) return;
    memcpy(s->idx, perm + start, (size_t)B * sizeof *s->idx);
    rp_dataset_gather(l->ds, s->idx, B, s->x, s->y);
    if (l->n_ops == 0) return;
    const rp_dataset *ds = l->ds;
    for (int i = 0; i < B; i++) {
        float *img = s->x + (size_t)i * l->X;
        rp_rng rng;
        rp_rng_seed_key(&rng, l->cfg.seed, RP_STREAM_AUGMENT, (uint64_t)e, (uint64_t)s->idx[i]);
        if (!l->cfg.views) {
            rp_augment_image(l->ops, l->n_ops, img, ds->H, ds->W, ds->C, &rng, scratch);
            continue;
        }
        /* the two views of image i land at rows i and B + i of [view1; view2] */
        float *v = scratch + l->S - 2 * l->X; /* the scratch's last two images */
        rp_augment_views(l->ops, l->n_ops, img, v, ds->H, ds->W, ds->C, &rng, scratch);
        memcpy(s->views + (size_t)i * l->X, v, l->X * sizeof *v);
        memcpy(s->views + ((size_t)B + i) * l->X, v + l->X, l->X * sizeof *v);
    }
}

/* Claim the next job when its slot is free; called with mu held. */
static bool claim(rp_loader *l, long *j, slot **s, const int **perm)
{
    if (l->next_job >= l->last_job) return false;
    slot *t = &l->slots[l->next_job % l->K];
    if (t->state != SLOT_FREE) return false;
    *j = l->next_job++;
    t->state = SLOT_BUSY;
    t->job = *j;
    *s = t;
    *perm = epoch_perm(l, job_epoch(l, *j));
    return true;
}

static void *worker(void *arg)
{
    rp_loader *l = ((worker_arg *)arg)->l;
    float *scratch = l->scratch[((worker_arg *)arg)->id];
    pthread_mutex_lock(&l->mu);
    for (;;) {
        long j;
        slot *s;
        const int *perm;
        while (!l->stop && !claim(l, &j, &s, &perm)) pthread_cond_wait(&l->work, &l->mu);
        if (l->stop) break;
        pthread_mutex_unlock(&l->mu);
        fill(l, s, j, perm, scratch);
        pthread_mutex_lock(&l->mu);
        s->state = SLOT_READY;
        pthread_cond_broadcast(&l->ready);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

bool rp_loader_next(rp_loader *l, rp_batch *out)
{
    if (!out) return false;
    memset(out, 0, sizeof *out);
    if (!l) return false;
    pthread_mutex_lock(&l->mu);
    if (l->current >= l->cfg.first_batch) { /* hand back the previous batch */
        l->slots[l->current % l->K].state = SLOT_FREE;
        pthread_cond_broadcast(&l->work);
    }
    long j = ++l->current;
    if (j >= l->last_job) {
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    slot *s = &l->slots[j % l->K];
    if (l->cfg.workers == 0) { /* no workers: prepare it here */
        slot *t;
        const int *perm;
        RP_ASSERT(claim(l, &j, &t, &perm) && t == s);
        fill(l, s, j, perm, l->scratch[0]);
        s->state = SLOT_READY;
    }
    double t0 = now();
    bool waited = false;
    while (!(s->state == SLOT_READY && s->job == j)) {
        waited = true;
        pthread_cond_wait(&l->ready, &l->mu);
    }
    if (waited) l->waited += now() - t0;
    pthread_mutex_unlock(&l->mu);
    int b = (int)(j % l->batches), start, B, s0 = b * l->cfg.batch;
    batch_range(l, b, &start, &B);
    *out = (rp_batch){.epoch = job_epoch(l, j), .index = b, .x = s->x, .views = s->views, .y = s->y, .idx = s->idx,
                      .B = B, .B_all = l->n - s0 < l->cfg.batch ? l->n - s0 : l->cfg.batch};
    return true;
}

static rp_status alloc_buffers(rp_ctx *ctx, rp_loader *l)
{
    size_t B = (size_t)l->cfg.batch;
    int n_scratch = l->n_scratch;
    l->slots = calloc((size_t)l->K, sizeof *l->slots);
    l->scratch = calloc((size_t)n_scratch, sizeof *l->scratch);
    l->perm[0] = malloc((size_t)l->n * sizeof(int));
    l->perm[1] = malloc((size_t)l->n * sizeof(int));
    l->threads = calloc((size_t)n_scratch, sizeof *l->threads);
    l->args = calloc((size_t)n_scratch, sizeof *l->args);
    bool ok = l->slots && l->scratch && l->perm[0] && l->perm[1] && l->threads && l->args;
    for (int k = 0; ok && k < l->K; k++) {
        slot *s = &l->slots[k];
        ok = (s->x = malloc(B * l->X * sizeof *s->x)) && (s->y = malloc(B * sizeof *s->y)) &&
             (s->idx = malloc(B * sizeof *s->idx)) &&
             (!l->cfg.views || (s->views = malloc(2 * B * l->X * sizeof *s->views)));
    }
    for (int w = 0; ok && w < n_scratch; w++) ok = (l->scratch[w] = malloc(l->S * sizeof(float))) != NULL;
    if (!ok)
        return rp_fail(ctx, RP_ERR_NOMEM, "loader: cannot allocate %d batches of %d images", l->K, l->cfg.batch);
    return RP_OK;
}

void rp_loader_destroy(rp_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int w = 0; w < l->n_started; w++) pthread_join(l->threads[w], NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->ready);
    for (int k = 0; l->slots && k < l->K; k++) {
        free(l->slots[k].x);
        free(l->slots[k].views);
        free(l->slots[k].y);
        free(l->slots[k].idx);
    }
    for (int w = 0; l->scratch && w < l->n_scratch; w++) free(l->scratch[w]);
    free(l->scratch);
    free(l->slots);
    free(l->perm[0]);
    free(l->perm[1]);
    free(l->threads);
    free(l->args);
    free(l);
}

rp_status rp_loader_create(rp_ctx *ctx, const rp_dataset *ds, const rp_loader_config *cfg, rp_loader **out)
{
    if (out) *out = NULL;
    if (!ds || !cfg || !out)
        return rp_fail(ctx, RP_ERR_ARG, "rp_loader_create: %s is NULL", !ds ? "the data set" : !cfg ? "cfg" : "out");
    int n = rp_dataset_size(ds);
    if (cfg->batch < 1 || cfg->workers < 0 || cfg->workers > 64 || n < 1)
        return rp_fail(ctx, RP_ERR_ARG, "loader: batch %d, workers %d (0..64) on %d samples", cfg->batch,
                       cfg->workers, n);
    if (cfg->parts > 1 && (cfg->part < 0 || cfg->part >= cfg->parts))
        return rp_fail(ctx, RP_ERR_ARG, "loader: part %d of %d", cfg->part, cfg->parts);
    if (cfg->first_batch < 0 || cfg->first_batch >= (n + cfg->batch - 1) / cfg->batch)
        return rp_fail(ctx, RP_ERR_ARG, "loader: first batch %d outside the %d batches of an epoch", cfg->first_batch,
                       (n + cfg->batch - 1) / cfg->batch);
    rp_loader *l = calloc(1, sizeof *l);
    if (!l) return rp_fail(ctx, RP_ERR_NOMEM, "loader: out of memory");
    l->ds = ds;
    l->cfg = *cfg;
    l->cfg.augment = NULL; /* parsed into ops below; the string is not kept */
    l->n = n;
    l->batches = (n + cfg->batch - 1) / cfg->batch;
    l->last_job = cfg->epochs > 0 ? (long)cfg->epochs * l->batches : (long)1 << 62;
    l->X = (size_t)ds->H * ds->W * ds->C;
    l->K = cfg->ahead > 0 ? cfg->ahead : 2 * cfg->workers;
    l->K = l->K < 2 ? 2 : l->K;
    l->K = l->K > l->batches ? l->batches : l->K; /* the ring spans at most two epochs */
    l->n_scratch = cfg->workers > 0 ? cfg->workers : 1;
    l->current = cfg->first_batch - 1;
    l->next_job = cfg->first_batch;
    l->perm_epoch[0] = l->perm_epoch[1] = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->ready, NULL);
    rp_status s = RP_OK;
    if (cfg->augment && cfg->augment[0]) { /* parsed and checked against the image size */
        rp_augment *a = NULL;
        s = rp_augment_create(ctx, cfg->augment, cfg->augment_prob, cfg->seed, ds->H, ds->W, ds->C, &a);
        if (s == RP_OK) {
            memcpy(l->ops, a->ops, sizeof l->ops);
            l->n_ops = a->n_ops;
        }
        rp_augment_destroy(a);
    }
    if (s == RP_OK && cfg->views && rp_augment_mix_index(l->ops, l->n_ops) < 0)
        s = rp_fail(ctx, RP_ERR_ARG, "loader: two views of every image need a mixing augmentation (augmix or prime) "
                    "in the augmentation spec '%s'", cfg->augment ? cfg->augment : "");
    l->S = rp_augment_scratch_floats(l->ops, l->n_ops, ds->H, ds->W, ds->C) + (cfg->views ? 2 * l->X : 0);
    if (s == RP_OK) s = alloc_buffers(ctx, l);
    for (int w = 0; s == RP_OK && w < cfg->workers; w++) {
        l->args[w] = (worker_arg){.l = l, .id = w};
        if (pthread_create(&l->threads[w], NULL, worker, &l->args[w]) != 0)
            s = rp_fail(ctx, RP_ERR_NOMEM, "loader: cannot start worker thread %d of %d", w + 1, cfg->workers);
        else l->n_started++;
    }
    if (s != RP_OK) {
        rp_loader_destroy(l);
        return s;
    }
    *out = l;
    return RP_OK;
}

int rp_loader_batches(const rp_loader *l) { return l ? l->batches : 0; }

double rp_loader_wait_seconds(const rp_loader *l) { return l->waited; }
