/* The command's place in an MPI job (mpirun -np N rampart ...): one rp_dist for the process
 * (rampart.h's processes), created before the command runs. Rank 0 speaks: the other ranks' stdout goes
 * to /dev/null and they draw no progress; every rank's errors reach stderr prefixed with its
 * rank. A command that fails on some rank stops the whole job (no rank is left waiting), and
 * a rank the MPI runtime stops because another died says so before it goes. */
#ifndef RP_TOOLS_CLI_DIST_H
#define RP_TOOLS_CLI_DIST_H

#include <stdbool.h>

#include "rampart.h"

/* Join the job (or be rank 0 of 1); returns 0 or an exit code. */
int cli_dist_start(void);
/* End: with rc != 0 in a job of several processes, abort the job (naming this rank). */
int cli_dist_end(int rc);
/* BORROWED: this process's place (rank 0 of 1 before cli_dist_start). */
rp_dist *cli_dist(void);
int cli_rank(void);
int cli_ranks(void);
/* Whether this process prints results and writes files (rank 0). */
bool cli_main_rank(void);

/* This rank's share of n items processed in batches of `batch`: a contiguous run of whole
 * batches, [*first, *first + *count) (all n with one process). */
void cli_shard(int n, int batch, int *first, int *count);
/* rows (n rows of row_bytes, each rank having filled its cli_shard(n, batch) part) <- every
 * rank's part, on every rank. Returns 0 or an exit code (with a message). */
int cli_gather_rows(void *rows, size_t row_bytes, int n, int batch);

#endif
