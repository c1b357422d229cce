/* Atomic file writes (io/atomic_file.h): temp file, fsync, rename, fsync of the folder. */
#include "io/atomic_file.h"

#include "rampart.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

rp_status rp_atomic_open(rp_ctx *ctx, rp_atomic_file *af, const char *path)
{
    *af = (rp_atomic_file){.path = path};
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return rp_fail(ctx, RP_ERR_IO, "%s: is a directory", path);
    size_t n = strlen(path);
    af->tmp = malloc(n + 5);
    if (!af->tmp) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp", 5);
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp) {
        rp_status s = rp_fail(ctx, RP_ERR_IO, "%s: cannot create temporary file %s: %s", path, af->tmp, strerror(errno));
        free(af->tmp);
        af->tmp = NULL;
        return s;
    }
    return RP_OK;
}

/* fsync the folder holding path so the rename itself is durable. */
static void sync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return;
    (void)fsync(fd); /* some file systems refuse a folder's fsync; the data is already safe */
    close(fd);
}

void rp_atomic_abort(rp_atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    if (af->tmp) remove(af->tmp);
    free(af->tmp);
    *af = (rp_atomic_file){0};
}

rp_status rp_atomic_commit(rp_ctx *ctx, rp_atomic_file *af, bool written)
{
    int err = errno;
    bool ok = written && fflush(af->fp) == 0 && fsync(fileno(af->fp)) == 0;
    if (written && !ok) err = errno;
    if (fclose(af->fp) != 0 && ok) {
        ok = false;
        err = errno;
    }
    af->fp = NULL;
    rp_status s = RP_OK;
    if (!ok) {
        s = rp_fail(ctx, RP_ERR_IO, "%s: writing %s failed: %s", af->path, af->tmp, strerror(err));
    } else if (rename(af->tmp, af->path) != 0) {
        s = rp_fail(ctx, RP_ERR_IO, "%s: cannot rename %s into place: %s", af->path, af->tmp, strerror(errno));
    } else {
        sync_dir(af->path);
        free(af->tmp);
        af->tmp = NULL;
    }
    rp_atomic_abort(af); /* removes PATH.tmp after a failure; frees and clears either way */
    return s;
}

rp_status rp_file_write_atomic(rp_ctx *ctx, const char *path, const void *data, size_t len)
{
    if (!path) return rp_fail(ctx, RP_ERR_ARG, "rp_file_write_atomic: path is NULL");
    if (!data && len > 0) return rp_fail(ctx, RP_ERR_ARG, "%s: data is NULL", path);
    rp_atomic_file af;
    RP_TRY(rp_atomic_open(ctx, &af, path));
    return rp_atomic_commit(ctx, &af, len == 0 || fwrite(data, 1, len, af.fp) == len);
}
