/* CIFAR-10 binary reader: CHW planes per record, converted to HWC on load. */
#include "data/cifar.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

void rp_cifar_record_to_hwc(const uint8_t *record, uint8_t *hwc, uint8_t *label)
{
    const int P = RP_CIFAR_SIDE * RP_CIFAR_SIDE;
    *label = record[0];
    const uint8_t *planes = record + 1; /* (3, 32, 32) */
    for (int p = 0; p < P; p++)
        for (int c = 0; c < 3; c++) hwc[(size_t)p * 3 + c] = planes[(size_t)c * P + p];
}

/* Size of a regular file, or -1 with the error recorded. */
static long long file_size(rp_ctx *ctx, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        rp_fail(ctx, RP_ERR_IO, "%s: not a regular file", path);
        return -1;
    }
    return (long long)st.st_size;
}

/* Append the records of one file at pixels/labels + *n. */
static rp_status read_file(rp_ctx *ctx, const char *path, size_t records, uint8_t *pixels, uint8_t *labels)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t rec[RP_CIFAR_RECORD];
    const size_t img = (size_t)RP_CIFAR_SIDE * RP_CIFAR_SIDE * 3;
    rp_status s = RP_OK;
    for (size_t r = 0; r < records && s == RP_OK; r++) {
        if (fread(rec, 1, sizeof rec, f) != sizeof rec)
            s = rp_fail(ctx, RP_ERR_IO, "%s: read failed at record %zu", path, r);
        else if (rec[0] >= RP_CIFAR_CLASSES)
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s: record %zu has label %d, but CIFAR-10 has %d classes", path, r,
                        rec[0], RP_CIFAR_CLASSES);
        else
            rp_cifar_record_to_hwc(rec, pixels + r * img, &labels[r]);
    }
    fclose(f);
    return s;
}

rp_status rp_cifar_read(rp_ctx *ctx, const char *const *files, int n_files, uint8_t **pixels, uint8_t **labels,
                        int *N)
{
    *pixels = NULL;
    *labels = NULL;
    size_t total = 0;
    for (int i = 0; i < n_files; i++) {
        long long size = file_size(ctx, files[i]);
        if (size < 0) return RP_ERR_IO;
        if (size == 0 || size % RP_CIFAR_RECORD != 0)
            return rp_fail(ctx, RP_ERR_FORMAT,
                           "%s: %lld bytes is not a whole number of %d-byte CIFAR-10 records (truncated?)",
                           files[i], size, RP_CIFAR_RECORD);
        total += (size_t)size / RP_CIFAR_RECORD;
    }
    if (total > (size_t)1 << 30) return rp_fail(ctx, RP_ERR_FORMAT, "%s: %zu records is too many", files[0], total);
    const size_t img = (size_t)RP_CIFAR_SIDE * RP_CIFAR_SIDE * 3;
    uint8_t *px = malloc(total * img), *lb = malloc(total);
    if (!px || !lb) {
        free(px);
        free(lb);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: cannot allocate %zu images", files[0], total);
    }
    size_t at = 0;
    for (int i = 0; i < n_files; i++) {
        size_t records = (size_t)file_size(ctx, files[i]) / RP_CIFAR_RECORD;
        rp_status s = read_file(ctx, files[i], records, px + at * img, lb + at);
        if (s != RP_OK) {
            free(px);
            free(lb);
            return s;
        }
        at += records;
    }
    *pixels = px;
    *labels = lb;
    *N = (int)total;
    return RP_OK;
}

static void free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

rp_status rp_cifar_read_names(rp_ctx *ctx, const char *dir, char ***names)
{
    *names = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? RP_OK : rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char **out = calloc(RP_CIFAR_CLASSES, sizeof *out);
    if (!out) {
        fclose(f);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    }
    int n = 0;
    char line[256];
    while (n < RP_CIFAR_CLASSES && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = '\0';
        if (len == 0) continue;
        out[n] = malloc(len + 1);
        if (!out[n]) break;
        memcpy(out[n++], line, len + 1);
    }
    fclose(f);
    if (n < RP_CIFAR_CLASSES) {
        free_names(out, n);
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: holds %d class names, CIFAR-10 needs %d", path, n, RP_CIFAR_CLASSES);
    }
    *names = out;
    return RP_OK;
}
