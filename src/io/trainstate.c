#include "io/trainstate.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "nn/model.h"

#define NAME_MAX_LEN 128

/* The state's tensors of model tensor i, k = -1 .. state_kinds(p) - 1: the value (model/<param>),
 * each optimizer moment (optim/<slot>/<param>), the weight average (optim/average/<param>).
 * Writes the name to buf and returns the memory, or NULL where tensor i has none (a buffer's
 * moments). */
static bool has_average(const rp_optim *o) { return rp_optim_get_config(o)->ema_decay > 0.0f; }

static int state_kinds(const rp_train_parts *p) { return rp_optim_num_slots(p->opt) + has_average(p->opt); }

static float *state_tensor(const rp_train_parts *p, int k, int i, char *buf)
{
    const rp_param *q = &p->m->g.params[i];
    int S = rp_optim_num_slots(p->opt);
    float *data = k < 0 ? q->data : k < S ? rp_optim_slot(p->opt, k, i) : rp_optim_average(p->opt, i);
    if (k < 0) snprintf(buf, NAME_MAX_LEN, "model/%s", q->name);
    else snprintf(buf, NAME_MAX_LEN, "optim/%s/%s", k < S ? rp_optim_slot_name(p->opt, k) : "average", q->name);
    return data;
}

/* ---- saving ------------------------------------------------------------------------- */

static char *meta_json(const rp_train_parts *p, const rp_train_position *pos)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *jp = cJSON_AddObjectToObject(root, "position");
    cJSON_AddNumberToObject(jp, "epoch", pos->epoch);
    cJSON_AddNumberToObject(jp, "batch", pos->batch);
    cJSON_AddNumberToObject(jp, "loss_sum", pos->loss_sum);
    cJSON_AddNumberToObject(jp, "seen", (double)pos->seen);
    cJSON_AddNumberToObject(jp, "correct", (double)pos->correct);
    cJSON_AddNumberToObject(jp, "steps", (double)pos->steps);
    cJSON_AddNumberToObject(jp, "seconds", pos->seconds);
    cJSON *jo = cJSON_AddObjectToObject(root, "optim");
    cJSON_AddNumberToObject(jo, "steps", (double)rp_optim_steps(p->opt));
    cJSON_AddNumberToObject(jo, "slots", rp_optim_num_slots(p->opt));
    cJSON_AddBoolToObject(jo, "average", has_average(p->opt));
    cJSON *ps = cJSON_AddArrayToObject(jo, "param_steps");
    for (int i = 0; i < p->m->g.n_params; i++)
        cJSON_AddItemToArray(ps, cJSON_CreateNumber((double)rp_optim_param_steps(p->opt, i)));
    if (p->unfreeze) {
        rp_unfreeze_state u = rp_unfreeze_get_state(p->unfreeze);
        cJSON *ju = cJSON_AddObjectToObject(root, "unfreeze");
        cJSON_AddNumberToObject(ju, "frozen", u.n_frozen);
        cJSON_AddNumberToObject(ju, "best", u.have_best ? u.best : 0.0);
        cJSON_AddBoolToObject(ju, "have_best", u.have_best);
        cJSON_AddNumberToObject(ju, "bad", u.bad);
    }
    char *s = cJSON_PrintUnformatted(root); /* doubles round-trip: cJSON prints 17 digits when 15 do not */
    cJSON_Delete(root);
    return s;
}

/* A caller's NULL arguments (rampart.h). */
static rp_status check_args(rp_ctx *ctx, const char *fn, const char *path, const rp_train_parts *p, const void *pos)
{
    const char *what = !path ? "path" : !p ? "parts" : !p->m ? "parts->m (the model)" : !p->opt ? "parts->opt (the optimizer)"
                     : !pos ? "pos" : NULL;
    return what ? rp_fail(ctx, RP_ERR_ARG, "%s: %s is NULL", fn, what) : RP_OK;
}

rp_status rp_trainstate_save(rp_ctx *ctx, const char *path, const rp_train_parts *p, const rp_train_position *pos,
                             const char *flags_json, const char *extra_json, const char *weights_sha256)
{
    RP_TRY(check_args(ctx, "rp_trainstate_save", path, p, pos));
    const rp_graph *g = &p->m->g;
    int S = state_kinds(p), cap = g->n_params * (1 + S);
    rp_st_entry *e = calloc((size_t)cap, sizeof *e);
    char(*names)[NAME_MAX_LEN] = calloc((size_t)cap, sizeof *names);
    char *meta = meta_json(p, pos);
    rp_status s = e && names && meta ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    int n = 0;
    for (int i = 0; s == RP_OK && i < g->n_params; i++) {
        for (int k = -1; k < S; k++) {
            const float *data = state_tensor(p, k, i, names[n]);
            if (!data) continue; /* buffers have no moments */
            e[n] = (rp_st_entry){.name = names[n], .dtype = RP_ST_F32, .ndim = 1,
                                 .shape = {(int64_t)g->params[i].numel}, .data = data};
            n++;
        }
    }
    if (s == RP_OK) {
        const char *keys[] = {"format", "state", "flags", "extra", "weights_sha256"};
        const char *vals[] = {RP_TRAINSTATE_FORMAT, meta, flags_json ? flags_json : "{}",
                              extra_json ? extra_json : "null", weights_sha256 ? weights_sha256 : ""};
        s = rp_st_write(ctx, path, e, n, keys, vals, 5);
    }
    cJSON_free(meta);
    free(names);
    free(e);
    return s;
}

/* ---- loading ------------------------------------------------------------------------ */

/* The first key whose value differs between two flat JSON objects of strings, described in
 * msg; false when they agree. */
static bool flags_differ(const cJSON *file, const cJSON *run, char *msg, size_t size)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, run)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(file, it->string);
        const char *a = f ? cJSON_GetStringValue(f) : NULL, *b = cJSON_GetStringValue(it);
        if (!a || !b || strcmp(a, b)) {
            snprintf(msg, size, "%s: the state was saved with '%s', this run has '%s'", it->string, a ? a : "(none)",
                     b ? b : "(none)");
            return true;
        }
    }
    cJSON_ArrayForEach(it, file)
    if (!cJSON_GetObjectItemCaseSensitive(run, it->string)) {
        snprintf(msg, size, "%s: the state was saved with '%s', this run has none", it->string,
                 cJSON_GetStringValue(it) ? cJSON_GetStringValue(it) : "?");
        return true;
    }
    return false;
}

static bool get_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(j) || j->valuedouble < (double)lo || j->valuedouble > (double)hi ||
        j->valuedouble != (double)(int64_t)j->valuedouble)
        return false;
    *out = (int64_t)j->valuedouble;
    return true;
}

static bool get_double(const cJSON *o, const char *key, double *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(j)) return false;
    *out = j->valuedouble;
    return true;
}

typedef struct parsed_state {
    rp_train_position pos;
    int64_t steps;
    int64_t *param_steps; /* (n_params) */
    bool has_unfreeze;
    rp_unfreeze_state unfreeze;
} parsed_state;

static bool parse_position(const cJSON *jp, rp_train_position *pos)
{
    int64_t epoch = 0, batch = 0;
    bool ok = get_int(jp, "epoch", 1, INT32_MAX, &epoch) && get_int(jp, "batch", 0, INT32_MAX, &batch) &&
              get_double(jp, "loss_sum", &pos->loss_sum) && get_int(jp, "seen", 0, INT64_MAX / 2, &pos->seen) &&
              get_int(jp, "correct", 0, INT64_MAX / 2, &pos->correct) &&
              get_int(jp, "steps", 0, INT64_MAX / 2, &pos->steps) && get_double(jp, "seconds", &pos->seconds);
    pos->epoch = (int)epoch;
    pos->batch = (int)batch;
    return ok;
}

/* The "state" metadata; a description of the first problem in msg. */
static bool parse_state(const char *json, int n_params, int n_slots, bool average, parsed_state *ps, char *msg,
                        size_t size)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(root, "optim");
    const cJSON *ju = cJSON_GetObjectItemCaseSensitive(root, "unfreeze");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(jo, "param_steps");
    int64_t slots = -1;
    bool ok = root && parse_position(cJSON_GetObjectItemCaseSensitive(root, "position"), &ps->pos) &&
              get_int(jo, "steps", 0, INT64_MAX / 2, &ps->steps) && get_int(jo, "slots", 0, 2, &slots);
    /* an "rng" record (the dropout stream, before masks were keyed by example) is ignored */
    if (!ok) snprintf(msg, size, "its position or optimizer record is missing or malformed");
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(jo, "average");
    if (ok && cJSON_IsTrue(ja) != average) { /* absent in states written before weight averaging: false */
        snprintf(msg, size, "it was saved %s a weight average, this optimizer keeps %s", cJSON_IsTrue(ja) ? "with" : "without",
                 average ? "one" : "none");
        ok = false;
    }
    if (ok && slots != n_slots) {
        snprintf(msg, size, "it holds %d optimizer moment(s) per parameter, this optimizer keeps %d", (int)slots,
                 n_slots);
        ok = false;
    }
    if (ok && cJSON_GetArraySize(arr) != n_params) {
        snprintf(msg, size, "it counts updates of %d tensors, the model has %d", cJSON_GetArraySize(arr), n_params);
        ok = false;
    }
    for (int i = 0; ok && i < n_params; i++) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        ok = cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble <= (double)ps->steps;
        ps->param_steps[i] = ok ? (int64_t)it->valuedouble : 0;
        if (!ok) snprintf(msg, size, "tensor %d's update count is not in 0..%" PRId64, i, ps->steps);
    }
    ps->has_unfreeze = ju != NULL;
    if (ok && ju) {
        int64_t frozen, bad;
        ok = get_int(ju, "frozen", 0, INT32_MAX, &frozen) && get_int(ju, "bad", 0, INT32_MAX, &bad) &&
             get_double(ju, "best", &ps->unfreeze.best) &&
             cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(ju, "have_best"));
        if (ok)
            ps->unfreeze = (rp_unfreeze_state){.n_frozen = (int)frozen, .bad = (int)bad, .best = ps->unfreeze.best,
                                               .have_best = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ju, "have_best"))};
        else snprintf(msg, size, "its unfreeze record is malformed");
    }
    cJSON_Delete(root);
    return ok;
}

/* Every tensor the parts need is in f with the right size. */
static rp_status check_tensors(rp_ctx *ctx, const rp_st_file *f, const rp_train_parts *p)
{
    const rp_graph *g = &p->m->g;
    char name[NAME_MAX_LEN];
    int S = state_kinds(p);
    for (int i = 0; i < g->n_params; i++)
        for (int k = -1; k < S; k++) {
            if (!state_tensor(p, k, i, name)) continue;
            const rp_st_tensor *t = rp_st_find(f, name);
            if (!t)
                return rp_fail(ctx, RP_ERR_FORMAT, "%s: no tensor '%s': the state is not of this model and optimizer",
                               rp_st_path(f), name);
            if (t->numel != g->params[i].numel)
                return rp_fail(ctx, RP_ERR_FORMAT, "%s: tensor '%s' has %zu values, this model's has %zu",
                               rp_st_path(f), name, t->numel, g->params[i].numel);
        }
    return RP_OK;
}

static rp_status read_tensors(rp_ctx *ctx, const rp_st_file *f, const rp_train_parts *p)
{
    const rp_graph *g = &p->m->g;
    char name[NAME_MAX_LEN];
    int S = state_kinds(p);
    rp_status s = RP_OK;
    for (int i = 0; s == RP_OK && i < g->n_params; i++)
        for (int k = -1; s == RP_OK && k < S; k++) {
            float *dst = state_tensor(p, k, i, name);
            if (!dst) continue;
            s = rp_st_read_f32(ctx, f, name, dst, g->params[i].numel);
        }
    return s;
}

/* The file's metadata checked against the run: format, flags, parts present. */
static rp_status check_meta(rp_ctx *ctx, const rp_st_file *f, const rp_train_parts *p, const char *flags_json,
                            parsed_state *ps)
{
    const char *path = rp_st_path(f), *fmt = rp_st_meta(f, "format"), *state = rp_st_meta(f, "state");
    if (!fmt || strcmp(fmt, RP_TRAINSTATE_FORMAT) || !state)
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: not a rampart training state (format '%s', expected '%s')", path,
                       fmt ? fmt : "none", RP_TRAINSTATE_FORMAT);
    char msg[512];
    cJSON *ff = cJSON_Parse(rp_st_meta(f, "flags") ? rp_st_meta(f, "flags") : ""), *rf = cJSON_Parse(flags_json);
    bool differ = !cJSON_IsObject(ff) || !cJSON_IsObject(rf) || flags_differ(ff, rf, msg, sizeof msg);
    if (differ && (!cJSON_IsObject(ff) || !cJSON_IsObject(rf))) snprintf(msg, sizeof msg, "its flags record is malformed");
    cJSON_Delete(ff);
    cJSON_Delete(rf);
    if (differ) return rp_fail(ctx, RP_ERR_ARG, "%s: cannot resume: %s", path, msg);
    rp_status s = check_tensors(ctx, f, p);
    if (s != RP_OK) return s;
    if (!parse_state(state, p->m->g.n_params, rp_optim_num_slots(p->opt), has_average(p->opt), ps, msg, sizeof msg))
        return rp_fail(ctx, RP_ERR_FORMAT, "%s: %s", path, msg);
    for (int i = 0; i < p->m->g.n_params; i++)
        if (!p->m->g.params[i].trainable && ps->param_steps[i])
            return rp_fail(ctx, RP_ERR_FORMAT, "%s: buffer '%s' has an update count", path, p->m->g.params[i].name);
    if (ps->has_unfreeze != (p->unfreeze != NULL))
        return rp_fail(ctx, RP_ERR_ARG, "%s: cannot resume: the state was saved %s an unfreeze schedule, this run has %s",
                       path, ps->has_unfreeze ? "with" : "without", p->unfreeze ? "one" : "none");
    return RP_OK;
}

rp_status rp_trainstate_load(rp_ctx *ctx, const char *path, const rp_train_parts *p, const char *flags_json,
                             rp_train_position *pos, char **extra_json, char *weights_sha256)
{
    RP_TRY(check_args(ctx, "rp_trainstate_load", path, p, pos));
    if (!flags_json) flags_json = "{}";
    if (extra_json) *extra_json = NULL;
    rp_st_file *f = NULL;
    rp_status s = rp_st_open(ctx, path, &f);
    if (s != RP_OK) return s;
    parsed_state ps = {.param_steps = calloc((size_t)p->m->g.n_params + 1, sizeof(int64_t))};
    if (!ps.param_steps) s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    if (s == RP_OK) s = check_meta(ctx, f, p, flags_json, &ps);
    /* every check passed: restore */
    if (s == RP_OK) s = read_tensors(ctx, f, p);
    if (s == RP_OK) s = rp_optim_restore_steps(p->opt, ps.steps, ps.param_steps, p->m->g.n_params);
    if (s == RP_OK && p->unfreeze) s = rp_unfreeze_set_state(ctx, p->unfreeze, &ps.unfreeze);
    if (s == RP_OK) {
        *pos = ps.pos;
        const char *extra = rp_st_meta(f, "extra"), *sha = rp_st_meta(f, "weights_sha256");
        if (extra_json && extra && strcmp(extra, "null") && !(*extra_json = strdup(extra)))
            s = rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
        if (weights_sha256) snprintf(weights_sha256, 65, "%s", sha && strlen(sha) == 64 ? sha : "");
    }
    free(ps.param_steps);
    rp_st_close(f);
    return s;
}
