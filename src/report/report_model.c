/* rampart report: the rows indexed by model (content hash), condition and training run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

double rp_rpt_num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

long rp_rpt_count(const cJSON *j, const char *key)
{
    double v = rp_rpt_num(j, key);
    return v >= 0.0 && v < 2147483648.0 ? (long)v : 0;
}

const char *rp_rpt_str(const cJSON *j, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static void model_key(const cJSON *j, char *key, size_t size)
{
    const char *sha = rp_rpt_str(j, "model_sha256", NULL);
    if (sha) snprintf(key, size, "%s", sha);
    else snprintf(key, size, "path:%.70s", rp_rpt_str(j, "model", ""));
}

static void base_label(const char *path, char *buf, size_t size)
{
    const char *b = strrchr(path, '/');
    snprintf(buf, size, "%s", b ? b + 1 : path);
    char *dot = strstr(buf, ".safetensors");
    if (dot && dot != buf) *dot = '\0';
}

/* The model of row j (added when new); -1 (message in d->ctx) past RPT_MAX_MODELS. */
static int model_of(rp_rpt_data *d, const cJSON *j)
{
    char key[80];
    model_key(j, key, sizeof key);
    for (int m = 0; m < d->n_models; m++)
        if (!strcmp(d->models[m].key, key)) return m;
    if (d->n_models == RPT_MAX_MODELS) {
        rp_fail(d->ctx, RP_ERR_UNSUPPORTED, "more than %d models", RPT_MAX_MODELS);
        return -1;
    }
    rp_rpt_model *md = &d->models[d->n_models];
    snprintf(md->key, sizeof md->key, "%s", key);
    md->path = rp_rpt_str(j, "model", "");
    md->sha = rp_rpt_str(j, "model_sha256", NULL);
    base_label(md->path, md->label, sizeof md->label);
    for (int m = 0; m < d->n_models; m++) /* two checkpoints of one name: number them */
        if (!strcmp(d->models[m].label, md->label)) {
            char base[48];
            snprintf(base, sizeof base, "%.47s", md->label);
            snprintf(md->label, sizeof md->label, "%s#%d", base, d->n_models + 1 < 100 ? d->n_models + 1 : 99);
        }
    return d->n_models++;
}

static const char *eps_text(double eps, char *buf, size_t size)
{
    if (isinf(eps)) snprintf(buf, size, "inf");
    else snprintf(buf, size, "%g", eps);
    return buf;
}

static void attack_cond(const cJSON *j, const char *cond, rp_rpt_cond *c)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "eps");
    double eps = cJSON_IsNumber(e) ? e->valuedouble : INFINITY;
    int steps = (int)rp_rpt_count(j, "steps"), restarts = (int)rp_rpt_count(j, "restarts"); /* 0 when absent */
    const char *src = rp_rpt_str(j, "source", "");
    char es[32], name[64];
    bool iter = !strcmp(cond, "pgd") || !strcmp(cond, "apgd-ce") || !strcmp(cond, "apgd-t");
    char it[16] = "", rs[16] = ""; /* one snprintf: a long condition name is cut, never overrun */
    if (iter) snprintf(it, sizeof it, "-%d", steps);
    if (restarts > 1) snprintf(rs, sizeof rs, "x%d", restarts);
    snprintf(name, sizeof name, "%s%s%s", cond, it, rs);
    c->kind = RPT_ATTACK;
    c->x = eps;
    c->worst = !strcmp(cond, "worst");
    snprintf(c->group, sizeof c->group, "%.47s", name);
    snprintf(c->norm, sizeof c->norm, "%s", rp_rpt_str(j, "norm", "linf"));
    snprintf(c->key, sizeof c->key, "attack/%s/%s/%s/%d/%d/%s", cond, c->norm, eps_text(eps, es, sizeof es), steps,
             restarts, src);
    snprintf(c->label, sizeof c->label, "%s %s eps %s%s", name, c->norm, es, src[0] ? " (transfer)" : "");
}

/* The condition an eval row measures (key, label, kind, group, x). */
static void cond_of(const cJSON *j, rp_rpt_cond *c)
{
    const char *cond = rp_rpt_str(j, "condition", "");
    *c = (rp_rpt_cond){.applicable = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "applicable"))};
    double sev = rp_rpt_num(j, "severity");
    if (!strcmp(cond, "clean")) {
        c->kind = RPT_CLEAN;
        snprintf(c->key, sizeof c->key, "clean");
        snprintf(c->label, sizeof c->label, "clean");
    } else if (!strcmp(cond, "corruption")) {
        c->kind = RPT_CORRUPTION, c->x = sev;
        snprintf(c->group, sizeof c->group, "%s", rp_rpt_str(j, "corruption", "?"));
        snprintf(c->key, sizeof c->key, "corruption/%s/%g", c->group, sev);
        snprintf(c->label, sizeof c->label, "%s sev %g", c->group, sev);
    } else if (cJSON_GetObjectItemCaseSensitive(j, "eps")) {
        attack_cond(j, cond, c);
    } else {
        c->kind = RPT_NOISE, c->x = sev;
        snprintf(c->group, sizeof c->group, "%s", cond);
        snprintf(c->key, sizeof c->key, "noise/%s/%g", cond, sev);
        snprintf(c->label, sizeof c->label, "%s noise sev %g", cond, sev);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "adapt_bn"))) {
        strncat(c->key, "/adapt_bn", sizeof c->key - strlen(c->key) - 1);
        strncat(c->label, " (BN adapted)", sizeof c->label - strlen(c->label) - 1);
    }
}

static int add_eval(rp_rpt_data *d, int i, int m)
{
    rp_rpt_cond c;
    cond_of(d->rows[i].j, &c);
    int k = 0;
    while (k < d->n_conds && strcmp(d->conds[k].key, c.key)) k++;
    if (k == d->n_conds) {
        if (k == RPT_MAX_CONDS) {
            rp_fail(d->ctx, RP_ERR_UNSUPPORTED, "more than %d conditions", RPT_MAX_CONDS);
            return -1;
        }
        for (int mm = 0; mm < RPT_MAX_MODELS; mm++) c.row[mm] = -1;
        d->conds[d->n_conds++] = c;
    }
    if (d->conds[k].row[m] < 0) d->conds[k].row[m] = i; /* a repeated row: the first counts */
    if (c.kind == RPT_CLEAN && d->clean_row < 0 && cJSON_GetObjectItemCaseSensitive(d->rows[i].j, "class_names"))
        d->clean_row = i;
    if (d->test_row < 0) d->test_row = i;
    return 0;
}

static rp_rpt_train *train_of(rp_rpt_data *d, const char *run)
{
    for (int t = 0; t < d->n_train; t++)
        if (!strcmp(d->train[t].run, run)) return &d->train[t];
    if (d->n_train == RPT_MAX_TRAIN) return NULL;
    rp_rpt_train *t = &d->train[d->n_train++];
    *t = (rp_rpt_train){.run = run, .model = -1};
    return t;
}

static void add_train(rp_rpt_data *d, int i)
{
    const cJSON *j = d->rows[i].j;
    rp_rpt_train *t = train_of(d, rp_rpt_str(j, "run", ""));
    if (!t) return;
    if (!strcmp(d->rows[i].kind, "train_event")) {
        if (t->n_events < 128) t->events[t->n_events++] = i;
        return;
    }
    if (t->n < 512) t->rows[t->n++] = i;
    t->path = rp_rpt_str(j, "model", "");
    t->sha = rp_rpt_str(j, "model_sha256", NULL);
}

/* Each training run's model: the eval model with its last checkpoint's hash. */
static void link_training(rp_rpt_data *d)
{
    for (int t = 0; t < d->n_train; t++) {
        rp_rpt_train *tr = &d->train[t];
        base_label(tr->path ? tr->path : "?", tr->label, sizeof tr->label);
        for (int m = 0; m < d->n_models && tr->sha; m++)
            if (d->models[m].sha && !strcmp(d->models[m].sha, tr->sha)) {
                tr->model = m;
                memcpy(tr->label, d->models[m].label, sizeof tr->label);
            }
    }
}

rp_status rp_rpt_index(rp_rpt_data *d)
{
    d->conds = calloc(RPT_MAX_CONDS, sizeof *d->conds);
    if (!d->conds) return rp_fail(d->ctx, RP_ERR_NOMEM, "out of memory");
    d->test_row = d->clean_row = -1;
    for (int i = 0; i < d->n_rows; i++) {
        const char *kind = d->rows[i].kind;
        if (!strcmp(kind, "eval")) {
            int m = model_of(d, d->rows[i].j);
            if (m < 0 || add_eval(d, i, m) != 0) return RP_ERR_UNSUPPORTED;
        } else if (!strcmp(kind, "train_epoch") || !strcmp(kind, "train_event")) {
            add_train(d, i);
        }
    }
    link_training(d);
    return RP_OK;
}

unsigned char *rp_rpt_correct(const rp_rpt_data *d, int row, int *n)
{
    const cJSON *j = d->rows[row].j;
    const char *b = rp_rpt_str(j, "correct_b64", NULL);
    *n = (int)rp_rpt_count(j, "n");
    size_t len;
    unsigned char *bits = b ? rp_base64_decode(b, &len) : NULL, *ok = bits ? malloc((size_t)*n + 1) : NULL;
    for (int i = 0; ok && i < *n; i++) ok[i] = bits[i >> 3] >> (i & 7) & 1;
    free(bits);
    return ok;
}

double *rp_rpt_per_image_mean(const rp_rpt_data *d, int m, rp_rpt_cond_kind kind, int *n, int *count)
{
    double *v = NULL;
    *count = 0;
    for (int c = 0; c < d->n_conds; c++) {
        const rp_rpt_cond *cd = &d->conds[c];
        if (cd->kind != kind || !cd->applicable || cd->row[m] < 0) continue;
        int k;
        unsigned char *ok = rp_rpt_correct(d, cd->row[m], &k);
        if (!ok || (v && k != *n)) {
            free(ok), free(v);
            return NULL;
        }
        if (!v && !(v = calloc((size_t)k + 1, sizeof *v))) return free(ok), NULL;
        *n = k;
        for (int i = 0; i < k; i++) v[i] += ok[i];
        free(ok);
        (*count)++;
    }
    for (int i = 0; v && i < *n; i++) v[i] /= *count;
    return v;
}

double rp_rpt_mce(const rp_rpt_data *d, int m, int ref)
{
    double sum = 0.0;
    int defined = 0;
    for (int c = 0; c < d->n_conds; c++) { /* each corruption once: at its first condition */
        const rp_rpt_cond *cd = &d->conds[c];
        bool first = cd->kind == RPT_CORRUPTION && cd->applicable;
        for (int e = 0; first && e < c; e++)
            first = !(d->conds[e].kind == RPT_CORRUPTION && !strcmp(d->conds[e].group, cd->group));
        if (!first) continue;
        double err = 0.0, err_ref = 0.0;
        for (int e = c; e < d->n_conds; e++) {
            const rp_rpt_cond *ce = &d->conds[e];
            if (ce->kind != RPT_CORRUPTION || strcmp(ce->group, cd->group) || ce->row[m] < 0 || ce->row[ref] < 0) continue;
            err += 1.0 - rp_rpt_num(d->rows[ce->row[m]].j, "accuracy");
            err_ref += 1.0 - rp_rpt_num(d->rows[ce->row[ref]].j, "accuracy");
        }
        if (err_ref > 0.0 && isfinite(err)) sum += err / err_ref, defined++;
    }
    return defined ? sum / defined : NAN;
}

int rp_rpt_worst_eps(const rp_rpt_data *d, const char *norm, double *eps)
{
    int n = 0;
    for (int c = 0; c < d->n_conds; c++) {
        const rp_rpt_cond *cd = &d->conds[c];
        if (cd->kind == RPT_ATTACK && cd->worst && !strcmp(cd->norm, norm)) n = rp_rpt_eps_insert(eps, n, cd->x);
    }
    return n;
}

int rp_rpt_eps_insert(double *eps, int n, double x)
{
    if (n == 32) return n;
    int k = 0;
    while (k < n && eps[k] < x) k++;
    if (k < n && eps[k] == x) return n;
    memmove(eps + k + 1, eps + k, (size_t)(n - k) * sizeof *eps);
    eps[k] = x;
    return n + 1;
}

int rp_rpt_worst_cond(const rp_rpt_data *d, const char *norm, double eps)
{
    for (int c = 0; c < d->n_conds; c++) {
        const rp_rpt_cond *cd = &d->conds[c];
        if (cd->kind == RPT_ATTACK && cd->worst && !strcmp(cd->norm, norm) && cd->x == eps && !strstr(cd->key, "/adapt"))
            return c;
    }
    return -1;
}
