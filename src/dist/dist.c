#include "dist/dist.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef RP_HAVE_MPI
#include <mpi.h>
#endif

struct rp_dist {
    rp_ctx *ctx;       /* BORROWED: where failures are reported */
    int rank, size;
    bool mpi;          /* talking over MPI (size may still be 1) */
    bool owns_mpi;     /* rp_dist_create initialised MPI: destroy finalises it */
    void *scratch;     /* the sums' receive buffer */
    size_t scratch_bytes;
    bool overlap;      /* rp_dist_set_overlap: training's gradient sum overlaps the backward */
#ifdef RP_HAVE_MPI
    /* the bucketed sums' own communicators (MPI_Comm_dup of MPI_COMM_WORLD, size > 1), one for
     * the all-to-alls, one for the all-gathers: each sees its collectives in the order the
     * buckets started on every rank, however the ranks' tests interleave the two phases, and
     * neither meets the batch norms' collectives on MPI_COMM_WORLD */
    MPI_Comm scatter_comm, gather_comm;
#endif
};

bool rp_dist_built_with_mpi(void)
{
#ifdef RP_HAVE_MPI
    return true;
#else
    return false;
#endif
}

int rp_dist_rank(const rp_dist *d) { return d ? d->rank : 0; }
void rp_dist_set_overlap(rp_dist *d, bool on) { if (d) d->overlap = on; }
bool rp_dist_overlap(const rp_dist *d) { return d && d->overlap && d->size > 1; }
int rp_dist_size(const rp_dist *d) { return d ? d->size : 1; }

/* A caller's NULL handle or buffer (see rampart.h: a NULL handle has no context to name it). */
#define DIST_CHECK(d, what, buf, bytes)                                                              \
    do {                                                                                         \
        if (!(d)) return RP_ERR_ARG;                                                             \
        if (!(buf) && (bytes) > 0) return rp_fail((d)->ctx, RP_ERR_ARG, "dist: %s is NULL", what); \
    } while (0)

#ifdef RP_HAVE_MPI
static bool launched_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static rp_status mpi_fail(rp_dist *d, const char *op, int err)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", err);
    return rp_fail(d->ctx, RP_ERR_IO, "rank %d of %d: MPI %s failed: %s", d->rank, d->size, op, msg);
}
#endif

rp_status rp_dist_create(rp_ctx *ctx, rp_dist **out)
{
    if (!out) return rp_fail(ctx, RP_ERR_ARG, "rp_dist_create: out is NULL");
    *out = NULL;
    rp_dist *d = calloc(1, sizeof *d);
    if (!d) return rp_fail(ctx, RP_ERR_NOMEM, "dist: out of memory");
    const char *ov = getenv("RAMPART_DIST_OVERLAP");
    *d = (rp_dist){.ctx = ctx, .rank = 0, .size = 1, .overlap = !(ov && strcmp(ov, "0") == 0)};
#ifdef RP_HAVE_MPI
    d->scatter_comm = d->gather_comm = MPI_COMM_NULL;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && launched_by_mpirun()) {
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            free(d);
            return rp_fail(ctx, RP_ERR_IO, "MPI_Init_thread failed");
        }
        d->owns_mpi = true;
        inited = 1;
    }
    if (inited) {
        d->mpi = true;
        /* failures come back as codes, so rampart can say which rank and operation failed */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    }
    if (d->size > 1) { /* collective: every rank creates its handle */
        int err = MPI_Comm_dup(MPI_COMM_WORLD, &d->scatter_comm);
        if (err == MPI_SUCCESS) err = MPI_Comm_dup(MPI_COMM_WORLD, &d->gather_comm);
        if (err != MPI_SUCCESS) {
            rp_status s = mpi_fail(d, "communicator duplication", err);
            rp_dist_destroy(d);
            return s;
        }
        MPI_Comm_set_errhandler(d->scatter_comm, MPI_ERRORS_RETURN);
        MPI_Comm_set_errhandler(d->gather_comm, MPI_ERRORS_RETURN);
    }
#endif
    *out = d;
    return RP_OK;
}

void rp_dist_destroy(rp_dist *d)
{
    if (!d) return;
#ifdef RP_HAVE_MPI
    if (d->scatter_comm != MPI_COMM_NULL) MPI_Comm_free(&d->scatter_comm);
    if (d->gather_comm != MPI_COMM_NULL) MPI_Comm_free(&d->gather_comm);
    if (d->owns_mpi) MPI_Finalize();
#endif
    free(d->scratch);
    free(d);
}

void rp_dist_abort(rp_dist *d, int code)
{
#ifdef RP_HAVE_MPI
    if (d && d->mpi && d->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    (void)d;
    exit(code);
}

/* Chunk k of n values: [n k / N, n (k + 1) / N). */
static size_t chunk_start(size_t n, int k, int N) { return n / (size_t)N * (size_t)k + n % (size_t)N * (size_t)k / (size_t)N; }

#ifdef RP_HAVE_MPI
static rp_status grow_scratch(rp_dist *d, size_t bytes)
{
    if (bytes <= d->scratch_bytes) return RP_OK;
    void *p = realloc(d->scratch, bytes);
    if (!p) return rp_fail(d->ctx, RP_ERR_NOMEM, "dist: cannot allocate %zu bytes for a sum", bytes);
    d->scratch = p;
    d->scratch_bytes = bytes;
    return RP_OK;
}

/* acc <- parts[0] + parts[1] + ... + parts[N - 1], in that order: the N ranks' m values. */
static void add_in_rank_order(void *acc, const void *parts, size_t m, size_t elem, int N,
                              void (*add)(void *acc, const void *x, size_t m))
{
    memcpy(acc, parts, m * elem); /* rank 0's part first, then 1, 2, ... */
    for (int k = 1; k < N; k++) add(acc, (const char *)parts + (size_t)k * m * elem, m);
}

/* The deterministic sum: rank k owns chunk k; it receives every rank's chunk k (all-to-all),
 * adds them in rank order, and the summed chunks are gathered by everyone (all-gather). The
 * data moved per rank is 2 (N - 1) / N of the buffer, as a ring all-reduce's. */
static rp_status sum_mpi(rp_dist *d, void *buf, size_t n, size_t elem, MPI_Datatype type,
                         void (*add)(void *acc, const void *x, size_t m))
{
    int N = d->size, me = d->rank;
    if (n > (size_t)INT_MAX) return rp_fail(d->ctx, RP_ERR_ARG, "dist: a sum of %zu values exceeds MPI's counts", n);
    size_t mine = chunk_start(n, me + 1, N) - chunk_start(n, me, N);
    rp_status s = grow_scratch(d, (size_t)N * (mine ? mine : 1) * elem);
    if (s != RP_OK) return s;
    int *sc = malloc(4 * (size_t)N * sizeof(int));
    if (!sc) return rp_fail(d->ctx, RP_ERR_NOMEM, "dist: out of memory");
    int *sd = sc + N, *rc = sc + 2 * N, *rd = sc + 3 * N;
    for (int k = 0; k < N; k++) {
        sd[k] = (int)chunk_start(n, k, N);
        sc[k] = (int)(chunk_start(n, k + 1, N) - chunk_start(n, k, N));
        rc[k] = (int)mine;
        rd[k] = (int)mine * k;
    }
    int err = MPI_Alltoallv(buf, sc, sd, type, d->scratch, rc, rd, type, MPI_COMM_WORLD);
    if (err == MPI_SUCCESS) {
        add_in_rank_order((char *)buf + (size_t)sd[me] * elem, d->scratch, mine, elem, N, add);
        err = MPI_Allgatherv(MPI_IN_PLACE, 0, type, buf, sc, sd, type, MPI_COMM_WORLD);
    }
    free(sc);
    return err == MPI_SUCCESS ? RP_OK : mpi_fail(d, "sum", err);
}
#endif

static void add_f32(void *acc, const void *x, size_t m)
{
    float *a = acc;
    const float *b = x;
    for (size_t i = 0; i < m; i++) a[i] += b[i];
}

static void add_f64(void *acc, const void *x, size_t m)
{
    double *a = acc;
    const double *b = x;
    for (size_t i = 0; i < m; i++) a[i] += b[i];
}

rp_status rp_dist_sum_f32(rp_dist *d, float *buf, size_t n)
{
    DIST_CHECK(d, "the sum's buffer", buf, n);
    if (d->size == 1 || n == 0) return RP_OK;
#ifdef RP_HAVE_MPI
    return sum_mpi(d, buf, n, sizeof(float), MPI_FLOAT, add_f32);
#else
    (void)buf, (void)add_f32;
    return RP_OK;
#endif
}

rp_status rp_dist_sum_f64(rp_dist *d, double *buf, size_t n)
{
    DIST_CHECK(d, "the sum's buffer", buf, n);
    if (d->size == 1 || n == 0) return RP_OK;
#ifdef RP_HAVE_MPI
    return sum_mpi(d, buf, n, sizeof(double), MPI_DOUBLE, add_f64);
#else
    (void)buf, (void)add_f64;
    return RP_OK;
#endif
}

rp_status rp_dist_bcast(rp_dist *d, void *buf, size_t bytes, int root)
{
    DIST_CHECK(d, "the broadcast's buffer", buf, bytes);
    if (root < 0 || root >= d->size) return rp_fail(d->ctx, RP_ERR_ARG, "dist: broadcast from rank %d of %d", root, d->size);
    if (d->size == 1 || bytes == 0) return RP_OK;
#ifdef RP_HAVE_MPI
    if (bytes > (size_t)INT_MAX) return rp_fail(d->ctx, RP_ERR_ARG, "dist: a broadcast of %zu bytes", bytes);
    int err = MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
    return err == MPI_SUCCESS ? RP_OK : mpi_fail(d, "broadcast", err);
#else
    (void)buf;
    return RP_OK;
#endif
}

#ifdef RP_HAVE_MPI
static rp_status counts_mpi(rp_dist *d, size_t bytes, long long *all)
{
    long long b = (long long)bytes;
    int err = MPI_Allgather(&b, 1, MPI_LONG_LONG, all, 1, MPI_LONG_LONG, MPI_COMM_WORLD);
    return err == MPI_SUCCESS ? RP_OK : mpi_fail(d, "count exchange", err);
}
#endif

rp_status rp_dist_total(rp_dist *d, size_t bytes, size_t *total)
{
    DIST_CHECK(d, "total", total, 1);
    *total = bytes;
    if (d->size == 1) return RP_OK;
#ifdef RP_HAVE_MPI
    long long *all = malloc((size_t)d->size * sizeof *all);
    if (!all) return rp_fail(d->ctx, RP_ERR_NOMEM, "dist: out of memory");
    rp_status s = counts_mpi(d, bytes, all);
    *total = 0;
    for (int k = 0; s == RP_OK && k < d->size; k++) *total += (size_t)all[k];
    free(all);
    return s;
#else
    return RP_OK;
#endif
}

rp_status rp_dist_allgather(rp_dist *d, const void *mine, size_t bytes, void *all, size_t *counts)
{
    DIST_CHECK(d, "the gather's own part", mine, bytes);
    DIST_CHECK(d, "the gather's result", all, 1);
    if (d->size == 1) {
        if (bytes) memmove(all, mine, bytes);
        if (counts) counts[0] = bytes;
        return RP_OK;
    }
#ifdef RP_HAVE_MPI
    int N = d->size;
    long long *cnt = malloc((size_t)N * sizeof *cnt);
    int *c = malloc(2 * (size_t)N * sizeof *c);
    rp_status s = cnt && c ? counts_mpi(d, bytes, cnt) : rp_fail(d->ctx, RP_ERR_NOMEM, "dist: out of memory");
    long long off = 0;
    for (int k = 0; s == RP_OK && k < N; k++) {
        if (cnt[k] > INT_MAX || off > INT_MAX) s = rp_fail(d->ctx, RP_ERR_ARG, "dist: a gather beyond 2 GB");
        c[k] = (int)cnt[k];
        c[N + k] = (int)off;
        off += cnt[k];
        if (counts) counts[k] = (size_t)cnt[k];
    }
    if (s == RP_OK) {
        int err = MPI_Allgatherv(mine, (int)bytes, MPI_BYTE, all, c, c + N, MPI_BYTE, MPI_COMM_WORLD);
        if (err != MPI_SUCCESS) s = mpi_fail(d, "gather", err);
    }
    free(cnt);
    free(c);
    return s;
#else
    (void)mine, (void)all;
    return RP_OK;
#endif
}

rp_status rp_dist_check_same(rp_dist *d, uint64_t v, const char *what)
{
    DIST_CHECK(d, "what", what, 1);
    if (d->size == 1) return RP_OK;
    uint64_t *all = calloc((size_t)d->size, sizeof *all);
    if (!all) return rp_fail(d->ctx, RP_ERR_NOMEM, "dist: out of memory");
    size_t *counts = NULL;
    rp_status s = rp_dist_allgather(d, &v, sizeof v, all, counts);
    for (int k = 1; s == RP_OK && k < d->size; k++)
        if (all[k] != all[0])
            s = rp_fail(d->ctx, RP_ERR_ARG, "%s differs between ranks: rank %d has %016llx, rank 0 %016llx", what, k,
                        (unsigned long long)all[k], (unsigned long long)all[0]);
    free(all);
    return s;
}

/* ---- the bucketed, non-blocking sum (rp_dist_bsum, dist/dist.h) ---------------------------
 * Each bucket is sum_mpi over its own range, in two non-blocking phases: an all-to-all of its
 * chunks on scatter_comm, then (once a test or the wait finds it complete) the owner's sum in
 * rank order and an all-gather on gather_comm. Every element is still added as
 * ((r0 + r1) + r2) + ...: the bits are rp_dist_sum_f32's over the whole buffer. The all-gathers
 * are started in the buckets' start order (a bucket waits for the ones started before it), so
 * every rank issues the same collectives in the same order on each communicator. */

enum { BUCKET_IDLE, BUCKET_SCATTERING, BUCKET_GATHERING };

typedef struct bsum_bucket {
    size_t lo, n;  /* its range of the buffer */
    size_t mine;   /* this rank's chunk of it */
    int *counts;   /* (4 N) send counts, their displacements (from lo), receive counts, displacements */
    float *parts;  /* (N mine) every rank's part of this rank's chunk */
    int state;
#ifdef RP_HAVE_MPI
    MPI_Request req; /* the phase in flight */
#endif
} bsum_bucket;

struct rp_dist_bsum {
    rp_dist *d;       /* BORROWED */
    float *buf;       /* BORROWED */
    int n_buckets;
    bsum_bucket *b;
    int *order;       /* (n_buckets) the buckets in the order they started */
    int started;      /* order[0 .. started) are under way */
    int gathered;     /* order[0 .. gathered) have their all-gather started */
    rp_status status; /* the first failure since the last wait */
    int *counts_mem;
    float *parts_mem;
};

rp_status rp_dist_bsum_create(rp_dist *d, float *buf, const size_t *ends, int n_buckets, rp_dist_bsum **out)
{
    *out = NULL;
    DIST_CHECK(d, "the bucketed sum's buffer", buf, (size_t)(n_buckets > 0));
    int N = d->size;
    size_t parts = 0;
    for (int k = 0; k < n_buckets; k++) {
        size_t lo = k ? ends[k - 1] : 0;
        if (ends[k] < lo || ends[k] - lo > (size_t)INT_MAX)
            return rp_fail(d->ctx, RP_ERR_ARG, "dist: bucket %d [%zu, %zu) is not a range MPI can count", k, lo,
                           ends[k]);
        parts += (size_t)N * ((ends[k] - lo) / (size_t)N + 1);
    }
    rp_dist_bsum *s = calloc(1, sizeof *s);
    if (s) {
        s->b = calloc((size_t)n_buckets + 1, sizeof *s->b);
        s->order = calloc((size_t)n_buckets + 1, sizeof *s->order);
        s->counts_mem = malloc((4 * (size_t)N * n_buckets + 1) * sizeof *s->counts_mem);
        s->parts_mem = malloc((parts + 1) * sizeof *s->parts_mem);
    }
    if (!s || !s->b || !s->order || !s->counts_mem || !s->parts_mem) {
        rp_dist_bsum_destroy(s);
        return rp_fail(d->ctx, RP_ERR_NOMEM, "dist: out of memory for %d buckets", n_buckets);
    }
    s->d = d;
    s->buf = buf;
    s->n_buckets = n_buckets;
    float *p = s->parts_mem;
    for (int k = 0; k < n_buckets; k++) {
        bsum_bucket *bk = &s->b[k];
        bk->lo = k ? ends[k - 1] : 0;
        bk->n = ends[k] - bk->lo;
        bk->counts = s->counts_mem + 4 * (size_t)N * k;
        int *sc = bk->counts, *sd = sc + N, *rc = sc + 2 * N, *rd = sc + 3 * N;
        bk->mine = N > 1 ? chunk_start(bk->n, d->rank + 1, N) - chunk_start(bk->n, d->rank, N) : bk->n;
        for (int r = 0; r < N && N > 1; r++) {
            sd[r] = (int)chunk_start(bk->n, r, N);
            sc[r] = (int)(chunk_start(bk->n, r + 1, N) - chunk_start(bk->n, r, N));
            rc[r] = (int)bk->mine;
            rd[r] = (int)bk->mine * r;
        }
        bk->parts = p;
        p += (size_t)N * bk->mine;
#ifdef RP_HAVE_MPI
        bk->req = MPI_REQUEST_NULL;
#endif
    }
    *out = s;
    return RP_OK;
}

void rp_dist_bsum_destroy(rp_dist_bsum *s)
{
    if (!s) return;
    free(s->b);
    free(s->order);
    free(s->counts_mem);
    free(s->parts_mem);
    free(s);
}

#ifdef RP_HAVE_MPI
/* Starts the all-gathers of the started buckets, in their start order, whose all-to-alls are
 * complete (block: waiting for each); then tests the all-gathers, which drives MPI's progress. */
static void bsum_advance(rp_dist_bsum *s, bool block)
{
    rp_dist *d = s->d;
    int N = d->size;
    while (s->status == RP_OK && s->gathered < s->started) {
        bsum_bucket *b = &s->b[s->order[s->gathered]];
        int done = 1, err = block ? MPI_Wait(&b->req, MPI_STATUS_IGNORE) : MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
        if (err == MPI_SUCCESS && !done) return;
        float *chunk = s->buf + b->lo;
        if (err == MPI_SUCCESS) {
            add_in_rank_order(chunk + b->counts[N + d->rank], b->parts, b->mine, sizeof(float), N, add_f32);
            err = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, chunk, b->counts, b->counts + N, MPI_FLOAT,
                                  d->gather_comm, &b->req);
        }
        if (err != MPI_SUCCESS) s->status = mpi_fail(d, "bucketed sum", err);
        b->state = BUCKET_GATHERING;
        s->gathered++;
    }
    for (int k = 0; s->status == RP_OK && k < s->gathered; k++) {
        bsum_bucket *b = &s->b[s->order[k]];
        if (b->req == MPI_REQUEST_NULL) continue;
        int done = 0, err = MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
        if (err != MPI_SUCCESS) s->status = mpi_fail(d, "bucketed sum", err);
        if (!done) break; /* the later ones are younger */
    }
}
#endif

rp_status rp_dist_bsum_start(rp_dist_bsum *s, int k)
{
    RP_ASSERT(s && k >= 0 && k < s->n_buckets && s->b[k].state == BUCKET_IDLE);
    bsum_bucket *b = &s->b[k];
    b->state = BUCKET_SCATTERING;
    s->order[s->started++] = k;
    if (s->d->size == 1 || s->status != RP_OK) return s->status;
#ifdef RP_HAVE_MPI
    int N = s->d->size, *c = b->counts;
    int err = MPI_Ialltoallv(s->buf + b->lo, c, c + N, MPI_FLOAT, b->parts, c + 2 * N, c + 3 * N, MPI_FLOAT,
                             s->d->scatter_comm, &b->req);
    if (err != MPI_SUCCESS) s->status = mpi_fail(s->d, "bucketed sum", err);
    bsum_advance(s, false);
#endif
    return s->status;
}

bool rp_dist_bsum_started(const rp_dist_bsum *s, int k) { return s->b[k].state != BUCKET_IDLE; }

void rp_dist_bsum_progress(rp_dist_bsum *s)
{
#ifdef RP_HAVE_MPI
    if (s->d->size > 1) bsum_advance(s, false);
#endif
    (void)s;
}

rp_status rp_dist_bsum_wait(rp_dist_bsum *s)
{
#ifdef RP_HAVE_MPI
    if (s->d->size > 1) {
        bsum_advance(s, true);
        for (int k = 0; k < s->started; k++) {
            bsum_bucket *b = &s->b[s->order[k]];
            int err = b->req == MPI_REQUEST_NULL ? MPI_SUCCESS : MPI_Wait(&b->req, MPI_STATUS_IGNORE);
            if (err != MPI_SUCCESS && s->status == RP_OK) s->status = mpi_fail(s->d, "bucketed sum", err);
        }
    }
#endif
    rp_status st = s->status;
    for (int k = 0; k < s->n_buckets; k++) s->b[k].state = BUCKET_IDLE;
    s->started = s->gathered = 0;
    s->status = RP_OK;
    return st;
}
