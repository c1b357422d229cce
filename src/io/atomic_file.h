/* A file written whole or not at all, shared by every writer whose output must survive a crash
 * (checkpoints, training states, PNG pictures, the report page): the bytes go to PATH.tmp,
 * which is flushed, fsynced and renamed over PATH, and PATH's folder is fsynced so the rename
 * itself is durable. On any failure PATH is left as it was and no PATH.tmp remains. */
#ifndef RP_IO_ATOMIC_FILE_H
#define RP_IO_ATOMIC_FILE_H

#include <stdbool.h>
#include <stdio.h>

#include "core/status.h"

typedef struct rp_atomic_file {
    FILE *fp;         /* write here between open and commit/abort */
    const char *path; /* BORROWED: the destination */
    char *tmp;        /* OWNED: PATH.tmp */
} rp_atomic_file;

/* Create PATH.tmp for writing. Fails (RP_ERR_IO, naming PATH) when PATH is a folder or the
 * temporary file cannot be created; nothing is left open then. */
rp_status rp_atomic_open(rp_ctx *ctx, rp_atomic_file *af, const char *path);

/* Finish the file: written says whether every write into af->fp succeeded (errno then tells why
 * not). Flush, fsync, close and rename into place; on any failure report it, naming PATH, and
 * remove PATH.tmp. af is closed either way. */
rp_status rp_atomic_commit(rp_ctx *ctx, rp_atomic_file *af, bool written);

/* Give up without an error of its own (the caller reports why): close and remove PATH.tmp. */
void rp_atomic_abort(rp_atomic_file *af);

#endif
