#include "cli_dist.h"

#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static rp_ctx *dist_ctx;
static rp_dist *dist;
static char stopped_msg[128];

static void on_term(int sig)
{
    (void)sig;
    ssize_t w = write(STDERR_FILENO, stopped_msg, strlen(stopped_msg)); /* async-signal-safe */
    (void)w;
    _exit(CLI_EXIT_FAIL);
}

/* The job size an MPI launcher announced (1 when none did). */
static int launcher_size(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    return v ? atoi(v) : 1;
}

int cli_dist_start(void)
{
    if (!rp_dist_built_with_mpi() && launcher_size() > 1) {
        fprintf(stderr, "rampart: started as one of %d MPI processes, but this rampart was built without MPI "
                        "(install libopenmpi-dev and rebuild, or run it alone)\n", launcher_size());
        return CLI_EXIT_USAGE;
    }
    dist_ctx = rp_ctx_create(1);
    if (!dist_ctx || rp_dist_create(dist_ctx, &dist) != RP_OK) {
        fprintf(stderr, "rampart: cannot join the MPI job: %s\n", dist_ctx ? rp_ctx_error(dist_ctx) : "out of memory");
        return CLI_EXIT_FAIL;
    }
    if (rp_dist_size(dist) > 1) {
        snprintf(stopped_msg, sizeof stopped_msg,
                 "rampart: rank %d of %d: stopped by the MPI runtime (another rank of the job died or failed)\n",
                 rp_dist_rank(dist), rp_dist_size(dist));
        signal(SIGTERM, on_term);
        if (rp_dist_rank(dist) > 0 && !freopen("/dev/null", "w", stdout)) {
            fprintf(stderr, "rampart: rank %d: cannot silence stdout\n", rp_dist_rank(dist));
            return CLI_EXIT_FAIL;
        }
    }
    return 0;
}

int cli_dist_end(int rc)
{
    if (dist && rp_dist_size(dist) > 1 && rc != 0) {
        fprintf(stderr, "rampart: rank %d of %d failed (exit %d): stopping the job\n", rp_dist_rank(dist),
                rp_dist_size(dist), rc);
        fflush(stderr);
        rp_dist_abort(dist, rc);
    }
    fflush(stdout);
    rp_dist_destroy(dist);
    rp_ctx_destroy(dist_ctx);
    dist = NULL, dist_ctx = NULL;
    return rc;
}

rp_dist *cli_dist(void) { return dist; }
int cli_rank(void) { return dist ? rp_dist_rank(dist) : 0; }
int cli_ranks(void) { return dist ? rp_dist_size(dist) : 1; }
bool cli_main_rank(void) { return cli_rank() == 0; }

void cli_shard(int n, int batch, int *first, int *count)
{
    long nb = (n + batch - 1) / batch, N = cli_ranks(), r = cli_rank();
    long s0 = nb * r / N * batch, s1 = nb * (r + 1) / N * batch;
    *first = (int)(s0 < n ? s0 : n);
    *count = (int)((s1 < n ? s1 : n) - *first);
}

int cli_gather_rows(void *rows, size_t row_bytes, int n, int batch)
{
    if (cli_ranks() == 1) return 0;
    int first, count;
    cli_shard(n, batch, &first, &count);
    unsigned char *all = malloc((size_t)n * row_bytes + 1);
    rp_status s = all ? rp_dist_allgather(dist, (unsigned char *)rows + (size_t)first * row_bytes,
                                          (size_t)count * row_bytes, all, NULL)
                      : RP_ERR_NOMEM;
    if (s == RP_OK) memcpy(rows, all, (size_t)n * row_bytes); /* the shards are contiguous, in rank order */
    free(all);
    if (s == RP_OK) return 0;
    fprintf(stderr, "rampart: rank %d: %s\n", cli_rank(), all ? rp_ctx_error(dist_ctx) : "out of memory");
    return CLI_EXIT_FAIL;
}
