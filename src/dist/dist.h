/* Processes working together over MPI (data-parallel training, sharded evaluation).
 *
 * A build finds MPI (Debian's OpenMPI) when it is installed and then defines RP_HAVE_MPI; a
 * process started by mpirun (an MPI launcher's environment: OMPI_COMM_WORLD_SIZE, PMI_SIZE or
 * PMIX_RANK) joins the world communicator; any other process -- and every process of a build
 * without MPI -- is rank 0 of 1, where every collective is the identity. An application that
 * initialised MPI itself keeps it: rampart then neither initialises nor finalises it.
 *
 * Collectives are deterministic: the sum is formed in rank order (rank 0's value first),
 * whatever the message size, the MPI library's algorithm choice or the timing, and every
 * rank receives the same bits. Only the calling thread uses MPI (MPI_THREAD_FUNNELED): call
 * these outside OpenMP regions. Every collective must be called by all ranks in the same
 * order with the same sizes. Errors (a peer gone, an MPI failure) are RP_ERR_IO naming the
 * operation and the rank. */
#ifndef RP_DIST_DIST_H
#define RP_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct rp_dist rp_dist;

/* True when this build has MPI. */
bool rp_dist_built_with_mpi(void);

/* OWNED: this process's place among the job's processes (see above). */
rp_status rp_dist_create(rp_ctx *ctx, rp_dist **out);
/* Finalises MPI when rp_dist_create initialised it. NULL is fine. */
void rp_dist_destroy(rp_dist *d);
int rp_dist_rank(const rp_dist *d);
int rp_dist_size(const rp_dist *d);

/* buf (n values, the same n on every rank) <- the sum over ranks of every rank's buf, added
 * in rank order: ((buf_0 + buf_1) + buf_2) + ... Scratch grows to n values and is kept. */
rp_status rp_dist_sum_f32(rp_dist *d, float *buf, size_t n);
rp_status rp_dist_sum_f64(rp_dist *d, double *buf, size_t n);
/* Every rank's buf <- root's (bytes the same on every rank). */
rp_status rp_dist_bcast(rp_dist *d, void *buf, size_t bytes, int root);
/* all <- the concatenation, in rank order, of every rank's `bytes` bytes at mine (bytes may
 * differ between ranks; all holds their total). counts (size() entries, may be NULL) gets
 * each rank's byte count. */
rp_status rp_dist_allgather(rp_dist *d, const void *mine, size_t bytes, void *all, size_t *counts);
/* The total of `bytes` over ranks, without gathering (to size `all` for rp_dist_allgather). */
rp_status rp_dist_total(rp_dist *d, size_t bytes, size_t *total);
/* A cheap agreement check (e.g. a hash of the weights): RP_ERR_ARG naming `what`, the first
 * rank whose v differs from rank 0's, and both values, on every rank. */
rp_status rp_dist_check_same(rp_dist *d, uint64_t v, const char *what);
/* Stop the whole job now with this exit code (MPI_Abort; exit() with one process). */
void rp_dist_abort(rp_dist *d, int code);

#endif
