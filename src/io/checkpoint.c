/* Model checkpoints: safetensors with the model's parameter names, values in PyTorch's
 * layout (conv weights OIHW; stored OHWI in memory), num_batches_tracked as I64, and
 * metadata describing the model: format, arch, num_classes, input "HxWxC", mean, std
 * (JSON arrays) and optionally class_names (JSON array). A checkpoint loads only when
 * it fits the model exactly: no missing tensor, no unknown tensor, equal shapes,
 * finite values. Loading checks everything before it changes a single weight. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "nn/model.h"

/* ---- layouts ------------------------------------------------------------------------ */

/* (O, KH, KW, I) -> (O, I, KH, KW) */
static void ohwi_to_oihw(float *dst, const float *src, const int64_t *shape)
{
    int64_t O = shape[0], I = shape[1], KH = shape[2], KW = shape[3];
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
            for (int64_t h = 0; h < KH; h++)
                for (int64_t w = 0; w < KW; w++)
                    dst[((o * I + i) * KH + h) * KW + w] = src[((o * KH + h) * KW + w) * I + i];
}

/* (O, I, KH, KW) -> (O, KH, KW, I) */
static void oihw_to_ohwi(float *dst, const float *src, const int64_t *shape)
{
    int64_t O = shape[0], I = shape[1], KH = shape[2], KW = shape[3];
    for (int64_t o = 0; o < O; o++)
        for (int64_t h = 0; h < KH; h++)
            for (int64_t w = 0; w < KW; w++)
                for (int64_t i = 0; i < I; i++)
                    dst[((o * KH + h) * KW + w) * I + i] = src[((o * I + i) * KH + h) * KW + w];
}

static const char *fmt_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}

/* ---- saving ------------------------------------------------------------------------- */

/* "[a,b,c]" with enough digits that every float reads back exactly. */
static void fmt_floats(char *buf, size_t size, const float *v, int n)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%.9g", i ? "," : "", (double)v[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

/* OWNED JSON array of the K class names (a NULL entry is written as its index). */
static char *names_json(const char *const *names, int K)
{
    cJSON *arr = cJSON_CreateArray();
    bool ok = arr != NULL;
    for (int k = 0; ok && k < K; k++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", k);
        ok = cJSON_AddItemToArray(arr, cJSON_CreateString(names[k] ? names[k] : idx));
    }
    char *s = ok ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return s;
}

rp_status rp_model_save(rp_ctx *ctx, const rp_model *m, const char *path, const char *const *class_names)
{
    const rp_graph *g = &m->g;
    for (int i = 0; i < g->n_params; i++)
        for (size_t k = 0; k < g->params[i].numel; k++)
            if (!isfinite(g->params[i].data[k]))
                return rp_fail(ctx, RP_ERR_NUMERIC, "%s: not saved: tensor '%s' holds %g at element %zu", path,
                               g->params[i].name, (double)g->params[i].data[k], k);
    rp_st_entry *e = calloc((size_t)g->n_params + 1, sizeof *e);
    float **tmp = calloc((size_t)g->n_params + 1, sizeof *tmp);
    char *names = class_names ? names_json(class_names, m->cfg.num_classes) : NULL;
    rp_status s = e && tmp && (names || !class_names) ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; s == RP_OK && i < g->n_params; i++) {
        const rp_param *p = &g->params[i];
        e[i] = (rp_st_entry){.name = p->name, .dtype = p->is_int64 ? RP_ST_I64 : RP_ST_F32, .ndim = p->ndim,
                             .data = p->data};
        for (int d = 0; d < p->ndim; d++) e[i].shape[d] = p->shape[d];
        if (p->layout == RP_LAYOUT_OHWI) {
            RP_ASSERT(p->ndim == 4);
            if (!(tmp[i] = malloc(p->numel * sizeof(float)))) {
                s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            ohwi_to_oihw(tmp[i], p->data, p->shape);
            e[i].data = tmp[i];
        }
    }
    if (s == RP_OK) {
        const rp_model_config *c = &m->cfg;
        char ncls[16], input[48], mean[160], std[160], width[32];
        snprintf(ncls, sizeof ncls, "%d", c->num_classes);
        snprintf(width, sizeof width, "%.9g", c->width > 0.0f ? (double)c->width : 1.0);
        snprintf(input, sizeof input, "%dx%dx%d", c->H, c->W, c->C);
        fmt_floats(mean, sizeof mean, c->mean, c->C);
        fmt_floats(std, sizeof std, c->std, c->C);
        const char *keys[8 + RP_MODEL_MAX_META] = {"format", "arch", "num_classes", "input", "mean", "std", "width"};
        const char *vals[8 + RP_MODEL_MAX_META] = {RP_CHECKPOINT_FORMAT, m->arch, ncls, input, mean, std, width};
        int nk = 7;
        if (names) keys[nk] = "class_names", vals[nk++] = names;
        for (int i = 0; i < m->n_meta; i++) keys[nk] = m->meta_key[i], vals[nk++] = m->meta_val[i];
        s = rp_st_write(ctx, path, e, g->n_params, keys, vals, nk);
    }
    for (int i = 0; tmp && i < g->n_params; i++) free(tmp[i]);
    free(tmp);
    free(e);
    cJSON_free(names);
    return s;
}

/* ---- loading ------------------------------------------------------------------------ */

static bool same_shape(const rp_st_tensor *t, const rp_param *p)
{
    if (t->ndim != p->ndim) return false;
    for (int d = 0; d < p->ndim; d++)
        if (t->shape[d] != p->shape[d]) return false;
    return true;
}

/* Presence, unknown names and shapes; returns the floats needed to stage the file. */
static rp_status check_fit(rp_ctx *ctx, const rp_model *m, const rp_st_file *f, bool allow_missing,
                           size_t *stage_floats)
{
    const char *path = rp_st_path(f);
    const rp_graph *g = &m->g;
    for (int i = 0; i < rp_st_count(f); i++) {
        const char *name = rp_st_at(f, i)->name;
        if (rp_graph_find_param(g, name) < 0)
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: unknown tensor '%s': model %s has no such parameter", path, name,
                           m->arch);
    }
    *stage_floats = 0;
    for (int i = 0; i < g->n_params; i++) {
        const rp_param *p = &g->params[i];
        const rp_st_tensor *t = rp_st_find(f, p->name);
        if (!t) {
            if (allow_missing) continue;
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s' of model %s is missing", path, p->name, m->arch);
        }
        if (!same_shape(t, p)) {
            char a[128], b[128];
            return rp_fail(ctx, RP_ERR_SHAPE, "%s: tensor '%s' has shape %s, model %s needs %s", path, p->name,
                           fmt_shape(a, sizeof a, t->ndim, t->shape), m->arch, fmt_shape(b, sizeof b, p->ndim, p->shape));
        }
        *stage_floats += p->numel;
    }
    return RP_OK;
}

static rp_status load_from(rp_ctx *ctx, rp_model *m, const rp_st_file *f, bool allow_missing)
{
    const char *path = rp_st_path(f);
    rp_graph *g = &m->g;
    size_t total = 0;
    RP_TRY(check_fit(ctx, m, f, allow_missing, &total));
    float *stage = malloc((total ? total : 1) * sizeof *stage);
    if (!stage) return rp_fail(ctx, RP_ERR_NOMEM, "%s: cannot allocate %zu floats", path, total);
    rp_status s = RP_OK;
    size_t at = 0;
    for (int i = 0; s == RP_OK && i < g->n_params; i++) {
        const rp_param *p = &g->params[i];
        if (!rp_st_find(f, p->name)) continue;
        s = rp_st_read_f32(ctx, f, p->name, stage + at, p->numel);
        for (size_t k = 0; s == RP_OK && k < p->numel; k++)
            if (!isfinite(stage[at + k]))
                s = rp_fail(ctx, RP_ERR_NUMERIC, "%s: tensor '%s' holds %g at element %zu", path, p->name,
                            (double)stage[at + k], k);
        at += p->numel;
    }
    at = 0;
    for (int i = 0; s == RP_OK && i < g->n_params; i++) { /* all checked: now change the model */
        rp_param *p = &g->params[i];
        if (!rp_st_find(f, p->name)) continue;
        if (p->layout == RP_LAYOUT_OHWI) oihw_to_ohwi(p->data, stage + at, p->shape);
        else memcpy(p->data, stage + at, p->numel * sizeof(float));
        at += p->numel;
    }
    free(stage);
    return s;
}

rp_status rp_model_load_weights(rp_ctx *ctx, rp_model *m, const char *path, bool allow_missing)
{
    rp_st_file *f = NULL;
    RP_TRY(rp_st_open(ctx, path, &f));
    rp_status s = load_from(ctx, m, f, allow_missing);
    rp_st_close(f);
    return s;
}

bool rp_json_floats(const char *s, float *out, int n)
{
    cJSON *a = s ? cJSON_Parse(s) : NULL;
    bool ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) == n;
    for (int i = 0; ok && i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        ok = cJSON_IsNumber(v) && isfinite(v->valuedouble);
        if (ok) out[i] = (float)v->valuedouble;
    }
    cJSON_Delete(a);
    return ok;
}

static rp_status config_from_meta(rp_ctx *ctx, const rp_st_file *f, rp_model_config *c)
{
    const char *path = rp_st_path(f);
    const char *format = rp_st_meta(f, "format"), *arch = rp_st_meta(f, "arch");
    const char *ncls = rp_st_meta(f, "num_classes"), *input = rp_st_meta(f, "input");
    if (!format)
        return rp_fail(ctx, RP_ERR_FORMAT,
                       "%s: no \"format\" metadata: not a rampart checkpoint (load bare weights into a model you "
                       "build with rp_model_load_weights)",
                       path);
    if (strcmp(format, RP_CHECKPOINT_FORMAT) != 0)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata format '%s', expected '%s'", path, format,
                       RP_CHECKPOINT_FORMAT);
    if (!arch || !rp_arch_find(arch)) {
        char known[256] = "";
        for (const char *const *a = rp_model_archs(); *a; a++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", a == rp_model_archs() ? "" : ", ", *a);
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata arch '%s' is not one of: %s", path, arch ? arch : "(missing)",
                       known);
    }
    c->arch = arch;
    char *end = NULL;
    long k = ncls ? strtol(ncls, &end, 10) : 0;
    if (!ncls || *end != '\0' || k < 2 || k > 1000000)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata num_classes '%s' is not an integer >= 2", path,
                       ncls ? ncls : "(missing)");
    c->num_classes = (int)k;
    int used = 0;
    if (!input || sscanf(input, "%dx%dx%d%n", &c->H, &c->W, &c->C, &used) != 3 || input[used] != '\0' || c->H < 1 ||
        c->W < 1 || c->C < 1 || c->C > 4)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata input '%s' is not HxWxC", path, input ? input : "(missing)");
    if (!rp_json_floats(rp_st_meta(f, "mean"), c->mean, c->C) || !rp_json_floats(rp_st_meta(f, "std"), c->std, c->C))
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata mean/std are not JSON arrays of %d finite numbers", path,
                       c->C);
    /* width multiplier: absent in files written before it was recorded, meaning 1 */
    const char *width = rp_st_meta(f, "width");
    if (width) {
        char *wend = NULL;
        double w = strtod(width, &wend);
        if (wend == width || *wend || !(w > 0.0 && w <= 16.0))
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata width '%s' is not a number in (0, 16]", path, width);
        c->width = (float)w;
    }
    return RP_OK;
}

rp_status rp_model_load(rp_ctx *ctx, const char *path, int max_batch, rp_model **out)
{
    *out = NULL;
    rp_st_file *f = NULL;
    RP_TRY(rp_st_open(ctx, path, &f));
    rp_model_config cfg = {.max_batch = max_batch > 0 ? max_batch : 1};
    rp_model *m = NULL;
    rp_status s = config_from_meta(ctx, f, &cfg);
    if (s == RP_OK && (s = rp_model_create(ctx, &cfg, &m)) != RP_OK && ctx) {
        char why[sizeof ctx->msg];
        snprintf(why, sizeof why, "%s", ctx->msg);
        rp_fail(ctx, s, "%s: %s", path, why);
    }
    if (s == RP_OK) s = load_from(ctx, m, f, false);
    rp_st_close(f);
    if (s != RP_OK) {
        rp_model_destroy(m);
        return s;
    }
    *out = m;
    return RP_OK;
}

void rp_checkpoint_free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

rp_status rp_checkpoint_class_names(rp_ctx *ctx, const char *path, char ***names, int *n)
{
    if (!path || !names || !n)
        return rp_fail(ctx, RP_ERR_ARG, "rp_checkpoint_class_names: %s is NULL", !path ? "path" : !names ? "names" : "n");
    *names = NULL;
    *n = 0;
    rp_st_file *f = NULL;
    RP_TRY(rp_st_open(ctx, path, &f));
    const char *js = rp_st_meta(f, "class_names");
    rp_status s = RP_OK;
    cJSON *a = js ? cJSON_Parse(js) : NULL;
    if (js && !cJSON_IsArray(a)) s = rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata class_names is not a JSON array", path);
    int K = a ? cJSON_GetArraySize(a) : 0;
    const char *ncls = rp_st_meta(f, "num_classes");
    if (s == RP_OK && js && ncls && K != atoi(ncls))
        s = rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata class_names holds %d names for %s classes", path, K, ncls);
    char **out = K > 0 && s == RP_OK ? calloc((size_t)K, sizeof *out) : NULL;
    if (K > 0 && s == RP_OK && !out) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; s == RP_OK && i < K; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsString(v)) {
            s = rp_fail(ctx, RP_ERR_FORMAT, "%s: metadata class_names[%d] is not a string", path, i);
            break;
        }
        size_t len = strlen(v->valuestring) + 1;
        if (!(out[i] = malloc(len))) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
        else memcpy(out[i], v->valuestring, len);
    }
    cJSON_Delete(a);
    rp_st_close(f);
    if (s != RP_OK) {
        rp_checkpoint_free_names(out, K);
        return s;
    }
    *names = out;
    *n = out ? K : 0;
    return RP_OK;
}
