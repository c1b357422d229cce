/* IDX reader over zlib's gzread, which passes raw files through unchanged. */
#include "data/idx.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <zlib.h>

/* Read up to n bytes; returns the count (short only at end of file) or -1 on a zlib
 * failure (corrupt compressed data), with the message in *err. */
static long long read_upto(gzFile gz, void *dst, size_t n, const char **err)
{
    unsigned char *p = dst;
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(gz, p + got, (unsigned)want);
        if (r < 0) {
            int code;
            *err = gzerror(gz, &code);
            if (code == Z_BUF_ERROR) *err = "truncated: the compressed stream ends early";
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

static rp_status read_exact(rp_ctx *ctx, gzFile gz, const char *path, void *dst, size_t n, const char *what)
{
    const char *err = NULL;
    long long got = read_upto(gz, dst, n, &err);
    if (got < 0) return rp_fail(ctx, RP_ERR_FORMAT, "%s: corrupt compressed data in %s: %s", path, what, err);
    if ((size_t)got < n)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: truncated: %s needs %zu bytes, the file ends after %lld", path,
                       what, n, got);
    return RP_OK;
}

/* Open, check the magic and read the dimensions; the data size is their product. */
static rp_status open_idx(rp_ctx *ctx, const char *path, uint32_t magic, int ndim, gzFile *out, int *dims,
                          size_t *total)
{
    *out = NULL;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    unsigned char head[16];
    rp_status s = read_exact(ctx, gz, path, head, 4, "the IDX magic");
    uint32_t got = s == RP_OK ? (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3] : 0;
    if (s == RP_OK && got != magic)
        s = rp_fail(ctx, RP_ERR_FORMAT, "%s: wrong magic 0x%08x, expected 0x%08x (IDX %s)", path, got, magic,
                    magic == RP_IDX_IMAGES ? "unsigned-byte images, 3 dimensions" : "unsigned-byte labels, 1 dimension");
    if (s == RP_OK) s = read_exact(ctx, gz, path, head + 4, 4 * (size_t)ndim, "the IDX dimensions");
    *total = 1;
    for (int d = 0; s == RP_OK && d < ndim; d++) {
        const unsigned char *b = head + 4 + 4 * d;
        uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (v == 0 || v > INT_MAX || (d > 0 && v > 65535))
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s: dimension %d is %u", path, d, v);
        else {
            dims[d] = (int)v;
            *total *= v;
        }
    }
    if (s != RP_OK) {
        gzclose(gz);
        return s;
    }
    *out = gz;
    return RP_OK;
}

/* Read the payload growing the buffer as data arrives, so that a header claiming
 * gigabytes in a small file fails as truncated, not as an enormous allocation. */
static rp_status read_payload(rp_ctx *ctx, gzFile gz, const char *path, size_t total, uint8_t **out)
{
    *out = NULL;
    size_t cap = total < ((size_t)64 << 20) ? total : ((size_t)64 << 20), got = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return rp_fail(ctx, RP_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, cap);
    rp_status s = RP_OK;
    while (s == RP_OK && got < total) {
        if (got == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : total;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                s = rp_fail(ctx, RP_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, ncap);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        const char *err = NULL;
        long long r = read_upto(gz, buf + got, cap - got, &err);
        if (r < 0)
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s: corrupt compressed data: %s", path, err);
        else if ((size_t)r < cap - got)
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s: truncated: the header declares %zu data bytes, the file holds %zu",
                        path, total, got + (size_t)r);
        else
            got = cap;
    }
    unsigned char extra;
    if (s == RP_OK && gzread(gz, &extra, 1) == 1)
        s = rp_fail(ctx, RP_ERR_FORMAT, "%s: data continues beyond the %zu bytes the header declares", path, total);
    if (s != RP_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    return RP_OK;
}

rp_status rp_idx_read_images(rp_ctx *ctx, const char *path, uint8_t **pixels, int *N, int *H, int *W)
{
    *pixels = NULL;
    gzFile gz;
    int dims[3];
    size_t total;
    RP_TRY(open_idx(ctx, path, RP_IDX_IMAGES, 3, &gz, dims, &total));
    rp_status s = read_payload(ctx, gz, path, total, pixels);
    gzclose(gz);
    if (s == RP_OK) {
        *N = dims[0];
        *H = dims[1];
        *W = dims[2];
    }
    return s;
}

rp_status rp_idx_read_labels(rp_ctx *ctx, const char *path, uint8_t **labels, int *N)
{
    *labels = NULL;
    gzFile gz;
    int dims[1];
    size_t total;
    RP_TRY(open_idx(ctx, path, RP_IDX_LABELS, 1, &gz, dims, &total));
    rp_status s = read_payload(ctx, gz, path, total, labels);
    gzclose(gz);
    if (s == RP_OK) *N = dims[0];
    return s;
}
