/* The report: reading and checking the JSON lines (see report.h, docs/json.md). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

rp_status rp_rpt_problem(rp_rpt_data *d, bool skip_bad, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!skip_bad) return rp_fail(d->ctx, RP_ERR_FORMAT, "%s", msg);
    if (d->on_skipped) d->on_skipped(d->on_skipped_arg, msg);
    char **s = realloc(d->skipped, (size_t)(d->n_skipped + 1) * sizeof *s);
    if (s) d->skipped = s, s[d->n_skipped] = strdup(msg), d->n_skipped += s[d->n_skipped] != NULL;
    return RP_OK;
}

/* The fields each kind must have: name and type ('s' string, 'n' number, 'N' number or null, 'c' a
 * count: an integer in [0, 2^31), so that no cast of it to an integer type is undefined). */
typedef struct need {
    const char *kind, *fields;
} need;
static const need NEEDS[] = {
    {"run", "command:s"},
    {"train_epoch", "model:s epoch:n loss:n train_accuracy:n test_accuracy:n seconds:n lr:n"},
    {"train_event", "event:s epoch:n"},
    {"eval", "model:s condition:s n:c accuracy:N test_sha256:s test_n:c data:s"},
    {"eval_warning", "model:s check:s warning:s"},
    {"eval_summary", "model:s summary:s"},
    {"attack", "model:s n:c accuracy:n"},
    {"explain", "model:s out:s"},
};

static bool has_type(const cJSON *v, char t)
{
    if (t == 's') return cJSON_IsString(v);
    if (t == 'n') return cJSON_IsNumber(v);
    if (t == 'c') return cJSON_IsNumber(v) && v->valuedouble >= 0.0 && v->valuedouble < 2147483648.0 &&
                         v->valuedouble == floor(v->valuedouble);
    return cJSON_IsNumber(v) || cJSON_IsNull(v);
}

/* NULL when the row has every field its kind needs; else the first missing one's name. */
static const char *missing_field(const cJSON *j, const char *kind, char *buf, size_t size)
{
    for (size_t k = 0; k < sizeof NEEDS / sizeof NEEDS[0]; k++) {
        if (strcmp(NEEDS[k].kind, kind)) continue;
        const char *p = NEEDS[k].fields;
        while (*p) {
            size_t len = strcspn(p, " ");
            snprintf(buf, size, "%.*s", (int)len, p);
            char *colon = strchr(buf, ':');
            *colon = '\0';
            if (!has_type(cJSON_GetObjectItemCaseSensitive(j, buf), colon[1])) return buf;
            p += len + (p[len] == ' ');
        }
        return NULL;
    }
    snprintf(buf, size, "?");
    return buf;
}

static bool known_kind(const char *kind)
{
    for (size_t k = 0; k < sizeof NEEDS / sizeof NEEDS[0]; k++)
        if (!strcmp(NEEDS[k].kind, kind)) return true;
    return false;
}

/* An eval row's bitmap must decode to n bits whose count is its accuracy. */
static const char *bad_bitmap(const cJSON *j)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "correct_b64");
    if (!b) return NULL;
    if (!cJSON_IsString(b)) return "correct_b64 is not a string";
    size_t len = 0;
    unsigned char *bits = rp_base64_decode(b->valuestring, &len);
    long n = (long)cJSON_GetObjectItemCaseSensitive(j, "n")->valuedouble, k = 0;
    const char *why = !bits                      ? "correct_b64 is not base64"
                      : len != (size_t)(n + 7) / 8 ? "correct_b64 does not hold n bits"
                                                   : NULL;
    for (long i = 0; !why && i < n; i++) k += bits[i >> 3] >> (i & 7) & 1;
    double acc = cJSON_GetObjectItemCaseSensitive(j, "accuracy")->valuedouble;
    if (!why && n > 0 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "accuracy")) && fabs((double)k / n - acc) > 1e-9)
        why = "correct_b64 disagrees with accuracy";
    free(bits);
    return why;
}

/* One line: RP_OK (kept or skipped) or the status of a fatal problem (its message in d->ctx). */
static rp_status take_line(rp_rpt_data *d, const char *name, int line, const char *text, bool skip_bad)
{
    cJSON *j = cJSON_ParseWithOpts(text, NULL, true);
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, "rampart_schema") : NULL;
    const cJSON *kind = j ? cJSON_GetObjectItemCaseSensitive(j, "kind") : NULL;
    char buf[64];
    const char *miss = NULL, *bits = NULL;
    rp_status rc = RP_OK;
    if (!cJSON_IsObject(j)) rc = rp_rpt_problem(d, skip_bad, "%s:%d: not a JSON object (a truncated line?)", name, line);
    else if (!v) rc = rp_rpt_problem(d, skip_bad, "%s:%d: not a rampart JSON line (no rampart_schema field)", name, line);
    else if (!cJSON_IsNumber(v) || v->valuedouble != RP_RPT_JSON_SCHEMA)
        rc = rp_rpt_problem(d, skip_bad, "%s:%d: rampart_schema %s is not one this rampart reads (it reads %d)", name, line,
                         cJSON_IsNumber(v) ? (snprintf(buf, sizeof buf, "%g", v->valuedouble), buf) : "(not a number)",
                         RP_RPT_JSON_SCHEMA);
    else if (!cJSON_IsString(kind) || !known_kind(kind->valuestring))
        rc = rp_rpt_problem(d, skip_bad, "%s:%d: unknown kind of row", name, line);
    else if ((miss = missing_field(j, kind->valuestring, buf, sizeof buf)))
        rc = rp_rpt_problem(d, skip_bad, "%s:%d: %s row without a valid '%s' field", name, line, kind->valuestring, miss);
    else if (!strcmp(kind->valuestring, "eval") && (bits = bad_bitmap(j)))
        rc = rp_rpt_problem(d, skip_bad, "%s:%d: %s", name, line, bits);
    else {
        if (d->n_rows == d->cap) {
            int cap = d->cap ? 2 * d->cap : 256;
            rp_rpt_row *r = realloc(d->rows, (size_t)cap * sizeof *r);
            if (!r) return cJSON_Delete(j), rp_fail(d->ctx, RP_ERR_NOMEM, "out of memory");
            d->rows = r, d->cap = cap;
        }
        d->rows[d->n_rows++] = (rp_rpt_row){.j = j, .kind = kind->valuestring, .file = strdup(name), .line = line};
        return RP_OK;
    }
    cJSON_Delete(j);
    return rc;
}

rp_status rp_rpt_read(rp_rpt_data *d, const char *name, FILE *f, bool skip_bad)
{
    char *text = NULL;
    size_t cap = 0;
    ssize_t len;
    int line = 0, nonblank = 0;
    rp_status rc = RP_OK;
    while (rc == 0 && (len = getline(&text, &cap, f)) >= 0) {
        line++;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
        if (strspn(text, " \t") == (size_t)len) continue;
        nonblank++;
        rc = take_line(d, name, line, text, skip_bad);
    }
    free(text);
    if (rc == 0 && nonblank == 0) rc = rp_rpt_problem(d, skip_bad, "%s: empty: no JSON lines", name);
    return rc;
}

rp_status rp_rpt_check_test_set(rp_rpt_data *d, bool skip_bad)
{
    const cJSON *first = NULL;
    const char *first_file = NULL;
    int w = 0, first_line = 0;
    for (int i = 0; i < d->n_rows; i++) {
        rp_rpt_row *r = &d->rows[i];
        bool keep = true;
        if (!strcmp(r->kind, "eval")) {
            if (!first) first = r->j, first_file = r->file, first_line = r->line;
            else if (strcmp(rp_rpt_str(r->j, "test_sha256", ""), rp_rpt_str(first, "test_sha256", ""))) {
                rp_status rc = rp_rpt_problem(d, skip_bad,
                                "%s:%d: a row of another test set (%s, %g images, test_sha256 %.12s...) than %s:%d's "
                                "(%s, %g images, %.12s...): one report compares models on one test set",
                                r->file, r->line, rp_rpt_str(r->j, "data", "?"), rp_rpt_num(r->j, "test_n"),
                                rp_rpt_str(r->j, "test_sha256", ""), first_file, first_line, rp_rpt_str(first, "data", "?"),
                                rp_rpt_num(first, "test_n"), rp_rpt_str(first, "test_sha256", ""));
                if (rc != RP_OK) return rc;
                keep = false;
            }
        }
        if (keep) d->rows[w++] = *r;
        else cJSON_Delete(r->j), free(r->file);
    }
    d->n_rows = w;
    return RP_OK;
}

void rp_rpt_free(rp_rpt_data *d)
{
    for (int i = 0; i < d->n_rows; i++) cJSON_Delete(d->rows[i].j), free(d->rows[i].file);
    for (int i = 0; i < d->n_skipped; i++) free(d->skipped[i]);
    free(d->rows), free(d->skipped), free(d->conds);
    *d = (rp_rpt_data){0};
}
