/* safetensors reader and writer. The reader loads the whole file and checks every
 * promise the format makes before handing out a single tensor; the writer never
 * leaves a half-written file behind (io/atomic_file.h: temp file, fsync, rename, fsync folder). */
#include "io/safetensors.h"

#include "io/atomic_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct rp_st_file {
    char *path;
    unsigned char *buf; /* the whole file */
    size_t size;
    rp_st_tensor *t;
    int n;
    char **meta_key, **meta_val;
    int n_meta;
};

typedef struct dtype_info {
    const char *name;
    rp_st_dtype dtype;
    size_t size;
} dtype_info;

static const dtype_info DTYPES[] = {
    {"F32", RP_ST_F32, 4}, {"F64", RP_ST_F64, 8}, {"F16", RP_ST_F16, 2}, {"BF16", RP_ST_BF16, 2},
    {"I64", RP_ST_I64, 8}, {"I32", RP_ST_I32, 4}, {"U8", RP_ST_U8, 1},   {"BOOL", RP_ST_BOOL, 1},
};
#define N_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

static const dtype_info *dtype_by_name(const char *s)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(DTYPES[i].name, s) == 0) return &DTYPES[i];
    return NULL;
}

static const dtype_info *dtype_by_id(rp_st_dtype d)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dtype == d) return &DTYPES[i];
    return NULL;
}

/* ---- reading ---------------------------------------------------------------------- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static rp_status read_all(rp_ctx *ctx, const char *path, unsigned char **buf, size_t *size)
{
    *buf = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return rp_fail(ctx, RP_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    if (n && fread(b, 1, n, f) != n) {
        free(b);
        fclose(f);
        return rp_fail(ctx, RP_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *buf = b;
    *size = n;
    return RP_OK;
}

/* A JSON number that is a whole value in [0, 2^53]. */
static bool json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

static rp_status parse_metadata(rp_ctx *ctx, rp_st_file *f, const cJSON *meta)
{
    if (!cJSON_IsObject(meta))
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: __metadata__ is not a JSON object", f->path);
    int n = cJSON_GetArraySize(meta);
    f->meta_key = calloc((size_t)n + 1, sizeof(char *));
    f->meta_val = calloc((size_t)n + 1, sizeof(char *));
    if (!f->meta_key || !f->meta_val) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", f->path);
    const cJSON *e;
    cJSON_ArrayForEach(e, meta) {
        if (!cJSON_IsString(e))
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string",
                           f->path, e->string);
        f->meta_key[f->n_meta] = dup_str(e->string);
        f->meta_val[f->n_meta] = dup_str(e->valuestring);
        if (!f->meta_key[f->n_meta] || !f->meta_val[f->n_meta])
            return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", f->path);
        f->n_meta++;
    }
    return RP_OK;
}

/* One header entry: dtype, shape, offsets; the byte size must equal numel*dtype. */
static rp_status parse_entry(rp_ctx *ctx, rp_st_file *f, const cJSON *e, rp_st_tensor *t,
                             uint64_t *begin, uint64_t *end, size_t data_size)
{
    const char *p = f->path, *name = e->string;
    if (!cJSON_IsObject(e)) return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': entry is not an object", p, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': missing dtype", p, name);
    const dtype_info *di = dtype_by_name(dt->valuestring);
    if (!di) return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", p, name, dt->valuestring);
    if (!cJSON_IsArray(sh)) return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': missing shape", p, name);
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > 8) return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most 8)", p, name, ndim);
    t->dtype = di->dtype;
    t->ndim = ndim;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!json_uint(cJSON_GetArrayItem(sh, d), &v))
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", p, name, d);
        if (v != 0 && numel > UINT64_MAX / 8 / v)
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': shape overflows", p, name);
        t->shape[d] = (int64_t)v;
        numel *= v;
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_uint(cJSON_GetArrayItem(off, 0), begin) ||
        !json_uint(cJSON_GetArrayItem(off, 1), end) || *begin > *end)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end] with begin <= end",
                       p, name);
    if (*end > data_size)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s': data_offsets end %llu beyond the %zu data bytes",
                       p, name, (unsigned long long)*end, data_size);
    if (numel * di->size != *end - *begin)
        return rp_fail(ctx, RP_ERR_FORMAT,
                       "%s: tensor '%s': shape holds %llu elements of %s (%llu bytes) but offsets span %llu bytes",
                       p, name, (unsigned long long)numel, di->name, (unsigned long long)(numel * di->size),
                       (unsigned long long)(*end - *begin));
    t->numel = (size_t)numel;
    t->nbytes = (size_t)(*end - *begin);
    t->name = dup_str(name);
    if (!t->name) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", p);
    return RP_OK;
}

typedef struct span {
    uint64_t begin, end;
    int index;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Tensors must tile [0, data_size) exactly: sorted by offset, no gap, no overlap. */
static rp_status check_tiling(rp_ctx *ctx, const rp_st_file *f, span *s, int n, size_t data_size)
{
    qsort(s, (size_t)n, sizeof *s, cmp_span);
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        const char *name = f->t[s[i].index].name;
        if (s[i].begin > pos)
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s' starts at %llu, leaving a gap after byte %llu",
                           f->path, name, (unsigned long long)s[i].begin, (unsigned long long)pos);
        if (s[i].begin < pos)
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s' at %llu overlaps the previous tensor (ends at %llu)",
                           f->path, name, (unsigned long long)s[i].begin, (unsigned long long)pos);
        pos = s[i].end;
    }
    if (pos != data_size)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensors end at data byte %llu but the file holds %zu data bytes",
                       f->path, (unsigned long long)pos, data_size);
    return RP_OK;
}

static rp_status parse_header(rp_ctx *ctx, rp_st_file *f, const cJSON *root, const unsigned char *data,
                              size_t data_size)
{
    if (!cJSON_IsObject(root)) return rp_fail(ctx, RP_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    int total = cJSON_GetArraySize(root);
    f->t = calloc((size_t)total + 1, sizeof *f->t);
    span *s = calloc((size_t)total + 1, sizeof *s);
    if (!f->t || !s) {
        free(s);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", f->path);
    }
    rp_status st = RP_OK;
    bool seen_meta = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta) st = rp_fail(ctx, RP_ERR_FORMAT, "%s: __metadata__ appears twice", f->path);
            else st = parse_metadata(ctx, f, e);
            seen_meta = true;
        } else {
            for (int i = 0; i < f->n && st == RP_OK; i++)
                if (strcmp(f->t[i].name, e->string) == 0)
                    st = rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path, e->string);
            if (st == RP_OK) st = parse_entry(ctx, f, e, &f->t[f->n], &s[f->n].begin, &s[f->n].end, data_size);
            if (st == RP_OK) {
                f->t[f->n].data = data + s[f->n].begin;
                s[f->n].index = f->n;
                f->n++;
            }
        }
        if (st != RP_OK) break;
    }
    if (st == RP_OK) st = check_tiling(ctx, f, s, f->n, data_size);
    free(s);
    return st;
}

rp_status rp_st_open(rp_ctx *ctx, const char *path, rp_st_file **out)
{
    *out = NULL;
    rp_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = dup_str(path))) {
        free(f);
        return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    }
    rp_status st = read_all(ctx, path, &f->buf, &f->size);
    if (st == RP_OK && f->size < 8)
        st = rp_fail(ctx, RP_ERR_FORMAT, "%s: file is %zu bytes, too short for a safetensors header (8 bytes)",
                     path, f->size);
    uint64_t hlen = 0;
    if (st == RP_OK) {
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->buf[i];
        if (hlen > f->size - 8)
            st = rp_fail(ctx, RP_ERR_FORMAT, "%s: header length %llu exceeds file size %zu", path,
                         (unsigned long long)hlen, f->size);
    }
    if (st == RP_OK) {
        const char *js = (const char *)f->buf + 8, *end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(js, (size_t)hlen, &end, false);
        while (root && end < js + hlen && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
        if (!root || end != js + hlen)
            st = rp_fail(ctx, RP_ERR_FORMAT, "%s: header is not valid JSON (near byte %ld of the %llu-byte header)",
                         path, (long)((end ? end : js) - js), (unsigned long long)hlen);
        else st = parse_header(ctx, f, root, f->buf + 8 + hlen, f->size - 8 - (size_t)hlen);
        cJSON_Delete(root);
    }
    if (st != RP_OK) {
        rp_st_close(f);
        return st;
    }
    *out = f;
    return RP_OK;
}

void rp_st_close(rp_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    if (f->meta_key) free(f->meta_key[f->n_meta]);
    if (f->meta_val) free(f->meta_val[f->n_meta]);
    free(f->meta_key);
    free(f->meta_val);
    free(f->buf);
    free(f->path);
    free(f);
}

int rp_st_count(const rp_st_file *f) { return f->n; }

const rp_st_tensor *rp_st_at(const rp_st_file *f, int i)
{
    RP_ASSERT(i >= 0 && i < f->n);
    return &f->t[i];
}

const rp_st_tensor *rp_st_find(const rp_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

const char *rp_st_meta(const rp_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
    return NULL;
}

const char *rp_st_path(const rp_st_file *f) { return f->path; }

const char *rp_st_dtype_name(rp_st_dtype d)
{
    const dtype_info *di = dtype_by_id(d);
    return di ? di->name : "?";
}

/* Little-endian loads from possibly unaligned bytes. */
static uint64_t le_load(const unsigned char *p, int nbytes)
{
    uint64_t v = 0;
    for (int i = nbytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static float half_to_float(uint16_t h)
{
    int sign = (h >> 15) & 1, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 0) v = ldexpf((float)man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

static float element_f32(const rp_st_tensor *t, size_t i)
{
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case RP_ST_F32: {
        uint32_t u = (uint32_t)le_load(p + 4 * i, 4);
        float v;
        memcpy(&v, &u, 4);
        return v;
    }
    case RP_ST_F64: {
        uint64_t u = le_load(p + 8 * i, 8);
        double v;
        memcpy(&v, &u, 8);
        return (float)v;
    }
    case RP_ST_F16: return half_to_float((uint16_t)le_load(p + 2 * i, 2));
    case RP_ST_BF16: {
        uint32_t u = (uint32_t)le_load(p + 2 * i, 2) << 16;
        float v;
        memcpy(&v, &u, 4);
        return v;
    }
    case RP_ST_I64: return (float)(int64_t)le_load(p + 8 * i, 8);
    case RP_ST_I32: return (float)(int32_t)(uint32_t)le_load(p + 4 * i, 4);
    case RP_ST_U8: return (float)p[i];
    case RP_ST_BOOL: return p[i] ? 1.0f : 0.0f;
    }
    RP_ASSERT(0);
    return 0.0f;
}

rp_status rp_st_read_f32(rp_ctx *ctx, const rp_st_file *f, const char *name, float *dst, size_t numel)
{
    const rp_st_tensor *t = rp_st_find(f, name);
    if (!t) return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s' is missing", f->path, name);
    if (t->numel != numel)
        return rp_fail(ctx, RP_ERR_SHAPE, "%s: tensor '%s' has %zu elements, expected %zu", f->path, name,
                       t->numel, numel);
    for (size_t i = 0; i < numel; i++) dst[i] = element_f32(t, i);
    return RP_OK;
}

/* ---- writing ------------------------------------------------------------------------ */

static size_t entry_numel(const rp_st_entry *e)
{
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

static rp_status check_entries(rp_ctx *ctx, const char *path, const rp_st_entry *t, int n)
{
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !t[i].name[0] || strcmp(t[i].name, "__metadata__") == 0)
            return rp_fail(ctx, RP_ERR_ARG, "%s: tensor %d has an invalid name", path, i);
        if (t[i].ndim < 0 || t[i].ndim > 8)
            return rp_fail(ctx, RP_ERR_ARG, "%s: tensor '%s': %d dimensions", path, t[i].name, t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0)
                return rp_fail(ctx, RP_ERR_ARG, "%s: tensor '%s': negative shape", path, t[i].name);
        if (t[i].dtype != RP_ST_F32 && t[i].dtype != RP_ST_F64 && t[i].dtype != RP_ST_I64 &&
            t[i].dtype != RP_ST_I32 && t[i].dtype != RP_ST_U8)
            return rp_fail(ctx, RP_ERR_UNSUPPORTED, "%s: tensor '%s': cannot write dtype %s", path, t[i].name,
                           rp_st_dtype_name(t[i].dtype));
        if (!t[i].data && entry_numel(&t[i]) > 0)
            return rp_fail(ctx, RP_ERR_ARG, "%s: tensor '%s' has no data", path, t[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                return rp_fail(ctx, RP_ERR_ARG, "%s: tensor '%s' given twice", path, t[i].name);
    }
    return RP_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. OWNED, NULL on OOM. */
static char *build_header(const rp_st_entry *t, int n, const char *const *mk, const char *const *mv,
                          int n_meta, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < n_meta; i++) ok = cJSON_AddStringToObject(meta, mk[i], mv[i]) != NULL;
    }
    size_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *off = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        ok = e && shape && off && cJSON_AddStringToObject(e, "dtype", rp_st_dtype_name(t[i].dtype));
        for (int d = 0; ok && d < t[i].ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape[d]));
        size_t bytes = entry_numel(&t[i]) * dtype_by_id(t[i].dtype)->size;
        ok = ok && cJSON_AddItemToArray(off, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    char *js = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!js) return NULL;
    size_t n_js = strlen(js), padded = (n_js + 7) / 8 * 8;
    char *out = malloc(padded + 1);
    if (out) {
        memcpy(out, js, n_js);
        memset(out + n_js, ' ', padded - n_js);
        out[padded] = '\0';
        *len = padded;
    }
    cJSON_free(js);
    return out;
}

/* Convert one tensor to its dtype's little-endian bytes and write it. */
static bool write_tensor(FILE *fp, const rp_st_entry *e)
{
    size_t n = entry_numel(e), size = dtype_by_id(e->dtype)->size;
    unsigned char chunk[4096];
    size_t per = sizeof chunk / size;
    for (size_t i0 = 0; i0 < n; i0 += per) {
        size_t m = n - i0 < per ? n - i0 : per;
        for (size_t i = 0; i < m; i++) {
            float v = e->data[i0 + i];
            uint64_t u = 0;
            switch (e->dtype) {
            case RP_ST_F32: { uint32_t b; memcpy(&b, &v, 4); u = b; break; }
            case RP_ST_F64: { double d = v; memcpy(&u, &d, 8); break; }
            case RP_ST_I64: u = (uint64_t)(int64_t)v; break;
            case RP_ST_I32: u = (uint32_t)(int32_t)v; break;
            case RP_ST_U8: u = (unsigned char)v; break;
            default: RP_ASSERT(0);
            }
            for (size_t b = 0; b < size; b++) chunk[i * size + b] = (unsigned char)(u >> (8 * b));
        }
        if (fwrite(chunk, size, m, fp) != m) return false;
    }
    return true;
}

rp_status rp_st_write(rp_ctx *ctx, const char *path, const rp_st_entry *tensors, int n,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta)
{
    RP_TRY(check_entries(ctx, path, tensors, n));
    for (int i = 0; i < n_meta; i++)
        if (!meta_keys[i] || !meta_values[i])
            return rp_fail(ctx, RP_ERR_ARG, "%s: metadata entry %d is NULL", path, i);
    size_t hlen = 0;
    char *header = build_header(tensors, n, meta_keys, meta_values, n_meta, &hlen);
    if (!header) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory building the header", path);
    rp_atomic_file af;
    rp_status s = rp_atomic_open(ctx, &af, path);
    if (s != RP_OK) {
        free(header);
        return s;
    }
    unsigned char len8[8];
    for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
    bool ok = fwrite(len8, 1, 8, af.fp) == 8 && fwrite(header, 1, hlen, af.fp) == hlen;
    for (int i = 0; ok && i < n; i++) ok = write_tensor(af.fp, &tensors[i]);
    s = rp_atomic_commit(ctx, &af, ok);
    free(header);
    return s;
}

rp_status rp_tensors_write(rp_ctx *ctx, const char *path, const rp_tensor_entry *tensors, int n,
                           const char *const *meta_keys, const char *const *meta_values, int n_meta)
{
    if (!path) return rp_fail(ctx, RP_ERR_ARG, "rp_tensors_write: path is NULL");
    if (n < 0 || n_meta < 0) return rp_fail(ctx, RP_ERR_ARG, "%s: %d tensors, %d metadata pairs", path, n, n_meta);
    if ((!tensors && n > 0) || ((!meta_keys || !meta_values) && n_meta > 0))
        return rp_fail(ctx, RP_ERR_ARG, "%s: %s is NULL", path, !tensors && n > 0 ? "tensors" : "the metadata");
    rp_st_entry *e = malloc((size_t)(n > 0 ? n : 1) * sizeof *e);
    if (!e) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    rp_status s = RP_OK;
    for (int i = 0; i < n && s == RP_OK; i++) {
        if (tensors[i].dtype != RP_TENSOR_F32 && tensors[i].dtype != RP_TENSOR_I64)
            s = rp_fail(ctx, RP_ERR_ARG, "%s: tensor %d: unknown dtype %d", path, i, (int)tensors[i].dtype);
        e[i] = (rp_st_entry){.name = tensors[i].name, .dtype = tensors[i].dtype == RP_TENSOR_I64 ? RP_ST_I64 : RP_ST_F32,
                             .ndim = tensors[i].ndim, .data = tensors[i].data};
        memcpy(e[i].shape, tensors[i].shape, sizeof e[i].shape);
    }
    if (s == RP_OK) s = rp_st_write(ctx, path, e, n, meta_keys, meta_values, n_meta);
    free(e);
    return s;
}

