/* NumPy .npy reader: the header dict parsed by key, data read with fseeko from its offset. */
#include "data/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define MAX_HEADER (1 << 20) /* numpy writes a few hundred bytes; guards the allocation */

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    return p;
}

/* The value after 'key': in the dict h, or NULL. */
static const char *find_key(const char *h, const char *key)
{
    char q1[32], q2[32];
    snprintf(q1, sizeof q1, "'%s'", key);
    snprintf(q2, sizeof q2, "\"%s\"", key);
    const char *p = strstr(h, q1);
    if (!p) p = strstr(h, q2);
    if (!p) return NULL;
    p = skip_space(p + strlen(q1));
    if (*p != ':') return NULL;
    return skip_space(p + 1);
}

/* Parse the dict into info; false when a key is missing or malformed (*why says which). */
static bool parse_dict(const char *h, rp_npy_info *info, const char **why)
{
    const char *d = find_key(h, "descr"), *f = find_key(h, "fortran_order"), *s = find_key(h, "shape");
    *why = !d ? "no 'descr'" : !f ? "no 'fortran_order'" : !s ? "no 'shape'" : NULL;
    if (*why) return false;
    char q = *d;
    const char *end = (q == '\'' || q == '"') ? strchr(d + 1, q) : NULL;
    if (!end || end - d - 1 >= (long)sizeof info->descr || end - d - 1 < 2) {
        *why = "'descr' is not a simple type string (structured dtypes are not read)";
        return false;
    }
    memcpy(info->descr, d + 1, (size_t)(end - d - 1));
    info->descr[end - d - 1] = '\0';
    if (!strncmp(f, "True", 4)) {
        *why = "fortran_order is True (only C-order arrays are read; save with np.ascontiguousarray)";
        return false;
    }
    if (strncmp(f, "False", 5)) {
        *why = "'fortran_order' is neither True nor False";
        return false;
    }
    if (*s != '(') {
        *why = "'shape' is not a tuple";
        return false;
    }
    s = skip_space(s + 1);
    info->ndim = 0;
    info->count = 1;
    while (*s != ')') {
        char *e;
        errno = 0;
        long long v = strtoll(s, &e, 10);
        if (e == s || errno || v < 0 || info->ndim == RP_NPY_MAX_DIMS) {
            *why = "'shape' is not a tuple of at most 8 sizes";
            return false;
        }
        info->shape[info->ndim++] = (size_t)v;
        if (v > 0 && info->count > SIZE_MAX / (size_t)v) {
            *why = "'shape' is too large";
            return false;
        }
        info->count *= (size_t)v;
        s = skip_space(e);
        if (*s == ',') s = skip_space(s + 1);
        else if (*s != ')') {
            *why = "'shape' is not a tuple of sizes";
            return false;
        }
    }
    return true;
}

/* '|u1' / '<i8' / '>u2': kind and size; byte order must be little or not applicable. */
static bool parse_descr(rp_npy_info *info, const char **why)
{
    const char *d = info->descr;
    char order = d[0];
    char *end;
    long size = strtol(d + 2, &end, 10);
    if (!strchr("<>|=", order) || !d[1] || *end || size < 1 || size > 16) {
        *why = "unknown 'descr'";
        return false;
    }
    if (order == '>' && size > 1) {
        *why = "big-endian data (only little-endian is read)";
        return false;
    }
    info->kind = d[1];
    info->item_size = (int)size;
    return true;
}

rp_status rp_npy_info_read(rp_ctx *ctx, const char *path, rp_npy_info *info)
{
    memset(info, 0, sizeof *info);
    FILE *f = fopen(path, "rb");
    if (!f) return rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    unsigned char pre[12];
    rp_status s = RP_OK;
    size_t got = fread(pre, 1, 10, f);
    if (fstat(fileno(f), &st) != 0) s = rp_fail(ctx, RP_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
        s = rp_fail(ctx, RP_ERR_FORMAT, "%s: not a NumPy .npy file (bad magic)", path);
    else if (pre[6] < 1 || pre[6] > 3)
        s = rp_fail(ctx, RP_ERR_FORMAT, "%s: .npy format version %d.%d is not supported (1.0-3.0)", path, pre[6],
                    pre[7]);
    unsigned long hlen = 0;
    long long pre_len = 10;
    if (s == RP_OK && pre[6] == 1) hlen = (unsigned long)pre[8] | (unsigned long)pre[9] << 8;
    else if (s == RP_OK) {
        if (fread(pre + 10, 1, 2, f) != 2) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: truncated .npy header", path);
        hlen = (unsigned long)pre[8] | (unsigned long)pre[9] << 8 | (unsigned long)pre[10] << 16 |
               (unsigned long)pre[11] << 24;
        pre_len = 12;
    }
    if (s == RP_OK && hlen > MAX_HEADER) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: .npy header of %lu bytes", path, hlen);
    char *h = s == RP_OK ? malloc(hlen + 1) : NULL;
    if (s == RP_OK && !h) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    if (s == RP_OK && fread(h, 1, hlen, f) != hlen) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: truncated .npy header", path);
    fclose(f);
    const char *why = NULL;
    if (s == RP_OK) {
        h[hlen] = '\0';
        if (!parse_dict(h, info, &why) || !parse_descr(info, &why))
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s: bad .npy header: %s", path, why);
    }
    free(h);
    RP_TRY(s);
    info->data_offset = pre_len + (long long)hlen;
    long long want = info->data_offset + (long long)(info->count * (size_t)info->item_size);
    if ((long long)st.st_size < want)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: truncated: %lld bytes of data for %zu elements of %s, expected %lld",
                       path, (long long)st.st_size - info->data_offset, info->count, info->descr,
                       want - info->data_offset);
    if ((long long)st.st_size > want)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: %lld bytes past the end of the array's data", path,
                       (long long)st.st_size - want);
    return RP_OK;
}

/* "(50000, 32, 32, 3)" */
static const char *shape_str(const rp_npy_info *in, char *buf, size_t size)
{
    int k = snprintf(buf, size, "(");
    for (int d = 0; d < in->ndim && k < (int)size; d++)
        k += snprintf(buf + k, size - (size_t)k, "%s%zu", d ? ", " : "", in->shape[d]);
    if (k < (int)size) snprintf(buf + k, size - (size_t)k, in->ndim == 1 ? ",)" : ")");
    return buf;
}

/* Read bytes [offset, offset + n) of path into buf. */
static rp_status read_at(rp_ctx *ctx, const char *path, long long offset, void *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    rp_status s = RP_OK;
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0 || fread(buf, 1, n, f) != n)
        s = rp_fail(ctx, RP_ERR_FORMAT, "%s: truncated (could not read %zu bytes at %lld)", path, n, offset);
    fclose(f);
    return s;
}

/* Rows [first, first + count) of N: the range, checked (count < 0: to the end). */
static rp_status row_range(rp_ctx *ctx, const char *path, size_t N, int first, int *count)
{
    if (*count < 0) *count = first >= 0 && (size_t)first <= N ? (int)(N - (size_t)first) : 0;
    if (first < 0 || (size_t)first + (size_t)*count > N || N > (size_t)INT32_MAX)
        return rp_fail(ctx, RP_ERR_SHAPE, "%s: rows %d..%d asked of an array of %zu rows", path, first,
                       first + *count - 1, N);
    return RP_OK;
}

rp_status rp_npy_read_images(rp_ctx *ctx, const char *path, int first, int count, uint8_t **pixels, int *N, int *H,
                             int *W, int *C)
{
    *pixels = NULL;
    rp_npy_info in;
    RP_TRY(rp_npy_info_read(ctx, path, &in));
    if (in.kind != 'u' || in.item_size != 1)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: images have dtype '%s'; expected uint8 ('|u1')", path, in.descr);
    char sh[160];
    if (in.ndim != 4 || in.shape[1] < 1 || in.shape[2] < 1 || (in.shape[3] != 1 && in.shape[3] != 3) ||
        in.shape[1] > 32768 || in.shape[2] > 32768)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: images must have shape (N, H, W, 3) or (N, H, W, 1), not %s", path,
                       shape_str(&in, sh, sizeof sh));
    RP_TRY(row_range(ctx, path, in.shape[0], first, &count));
    size_t S = in.shape[1] * in.shape[2] * in.shape[3], bytes = (size_t)count * S;
    uint8_t *p = malloc(bytes ? bytes : 1);
    if (!p) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory for %zu bytes", path, bytes);
    rp_status s = read_at(ctx, path, in.data_offset + (long long)((size_t)first * S), p, bytes);
    if (s != RP_OK) {
        free(p);
        return s;
    }
    *pixels = p;
    *N = count;
    *H = (int)in.shape[1];
    *W = (int)in.shape[2];
    *C = (int)in.shape[3];
    return RP_OK;
}

/* Element i of little-endian integers of size bytes as a 64-bit value; false past int32. */
static bool label_at(const uint8_t *b, int size, bool is_signed, size_t i, int32_t *out)
{
    const uint8_t *e = b + i * (size_t)size;
    uint64_t u = 0;
    for (int k = 0; k < size; k++) u |= (uint64_t)e[k] << (8 * k);
    if (is_signed && size < 8 && (u >> (8 * size - 1)) & 1) u |= ~0ULL << (8 * size); /* sign-extend */
    long long v = is_signed ? (long long)u : (u > (uint64_t)INT32_MAX ? (long long)INT32_MAX + 1 : (long long)u);
    if (v < INT32_MIN || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

rp_status rp_npy_read_labels(rp_ctx *ctx, const char *path, int first, int count, int32_t **labels, int *N)
{
    *labels = NULL;
    rp_npy_info in;
    RP_TRY(rp_npy_info_read(ctx, path, &in));
    if ((in.kind != 'u' && in.kind != 'i') || in.item_size > 8 || (in.item_size & (in.item_size - 1)))
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: labels have dtype '%s'; expected integers ('|u1', '<i8', ...)", path,
                       in.descr);
    char sh[160];
    if (in.ndim != 1)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: labels must be a 1-D array, not of shape %s", path,
                       shape_str(&in, sh, sizeof sh));
    RP_TRY(row_range(ctx, path, in.shape[0], first, &count));
    size_t bytes = (size_t)count * (size_t)in.item_size;
    uint8_t *raw = malloc(bytes ? bytes : 1);
    int32_t *out = malloc((size_t)(count ? count : 1) * sizeof *out);
    rp_status s = raw && out ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    if (s == RP_OK) s = read_at(ctx, path, in.data_offset + (long long)((size_t)first * (size_t)in.item_size), raw, bytes);
    for (int i = 0; s == RP_OK && i < count; i++)
        if (!label_at(raw, in.item_size, in.kind == 'i', (size_t)i, &out[i]))
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s: label %d is outside the int32 range", path, first + i);
    free(raw);
    if (s != RP_OK) {
        free(out);
        return s;
    }
    *labels = out;
    *N = count;
    return RP_OK;
}
