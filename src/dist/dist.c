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
    *d = (rp_dist){.ctx = ctx, .rank = 0, .size = 1};
#ifdef RP_HAVE_MPI
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
#endif
    *out = d;
    return RP_OK;
}

void rp_dist_destroy(rp_dist *d)
{
    if (!d) return;
#ifdef RP_HAVE_MPI
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

/* Chunk k of n values: [n k / N, n (k + 1) / N). */
static size_t chunk_start(size_t n, int k, int N) { return n / (size_t)N * (size_t)k + n % (size_t)N * (size_t)k / (size_t)N; }

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
        char *acc = (char *)buf + (size_t)sd[me] * elem, *parts = d->scratch;
        memcpy(acc, parts, mine * elem); /* rank 0's part first, then 1, 2, ... */
        for (int k = 1; k < N; k++) add(acc, parts + (size_t)k * mine * elem, mine);
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
