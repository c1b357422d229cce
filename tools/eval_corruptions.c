/* rampart eval's corruption rows and their summary (see eval_corruptions.h). */
#include "eval_corruptions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Corruption k's name and family (k < rp_corruption_count(): describe cannot fail). */
static rp_corruption_info info_of(int k)
{
    rp_corruption_info i = {.name = "?", .family = "?"};
    rp_corruption_describe(NULL, k, &i);
    return i;
}

static int family_count(void)
{
    int n = 0;
    for (const char *const *f = rp_corruption_family_names(); *f; f++) n++;
    return n < RP_CORRUPTION_FAMILIES ? n : RP_CORRUPTION_FAMILIES;
}

int eval_corruption_conditions(const char *spec, const cli_list *severities, rp_eval_condition *conds, int n, int max)
{
    char sev_spec[256] = "1-5"; /* corruptions' default: every severity, as CE is defined */
    size_t k = 0;
    for (int i = 0; i < severities->n; i++) {
        int w = snprintf(sev_spec + k, sizeof sev_spec - k, "%s%s", i ? "," : "", severities->items[i]);
        if (w < 0 || (size_t)w >= sizeof sev_spec - k) {
            fprintf(stderr, "rampart eval: --severity list too long\n");
            return -1;
        }
        k += (size_t)w;
    }
    int K = rp_corruption_count();
    bool *which = calloc((size_t)K, sizeof *which), sev[6];
    rp_ctx *ctx = rp_ctx_create(1);
    rp_status s = which ? rp_corruption_select(ctx, spec, which) : rp_fail(ctx, RP_ERR_NOMEM, "out of memory");
    if (s == RP_OK) s = rp_corruption_parse_severities(ctx, sev_spec, sev);
    if (s != RP_OK) fprintf(stderr, "rampart eval: %s\n", rp_ctx_error(ctx));
    rp_ctx_destroy(ctx);
    for (int c = 0; s == RP_OK && c < K; c++)
        for (int v = 1; v <= 5 && which[c]; v++) {
            if (!sev[v]) continue;
            if (n == max) {
                fprintf(stderr, "rampart eval: more than %d conditions; give fewer corruptions or severities\n", max);
                s = RP_ERR_ARG;
                break;
            }
            conds[n++] = (rp_eval_condition){.kind = RP_EVAL_CORRUPTION, .corruption = info_of(c).name, .severity = v};
        }
    free(which);
    return s == RP_OK ? n : -1;
}

void eval_corruption_label(const rp_eval_condition *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s sev %d", c->corruption, c->severity);
}

void eval_corruption_json_fields(cJSON *j, const rp_eval_condition *c, const rp_eval_result *r)
{
    int k = -1;
    rp_corruption_find(NULL, c->corruption, &k); /* the conditions came from eval_corruption_conditions */
    cJSON_AddStringToObject(j, "corruption", c->corruption);
    cJSON_AddStringToObject(j, "family", info_of(k).family);
    cJSON_AddNumberToObject(j, "severity", c->severity);
    cJSON_AddBoolToObject(j, "applicable", !r->not_applicable);
}

/* ---- summary ---------------------------------------------------------------------------- */

static void add_number_or_null(cJSON *j, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
    else cJSON_AddNullToObject(j, key);
}

/* The severities the table holds, as "1,3,5", and as a JSON array when arr is not NULL. */
static void severities_of(const rp_eval_condition *conds, int n_conds, char *buf, size_t size, cJSON *arr)
{
    bool sev[6] = {0};
    for (int c = 0; c < n_conds; c++)
        if (conds[c].kind == RP_EVAL_CORRUPTION) sev[conds[c].severity] = true;
    size_t k = 0;
    buf[0] = '\0';
    for (int v = 1; v <= 5; v++)
        if (sev[v]) {
            k += (size_t)snprintf(buf + k, size - k, "%s%d", k ? "," : "", v);
            if (arr) cJSON_AddItemToArray(arr, cJSON_CreateNumber(v));
        }
}

static cJSON *summary_row(const eval_corruption_report *r, int m)
{
    cJSON *j = jsonl_row(r->run, "eval_summary");
    jsonl_add_model(j, r->paths[m], r->sha[m]);
    return j;
}

static const char *mce_set(const rp_corruption_means *mn) { return mn->mce_imagenet_c ? "imagenet-c" : "evaluated"; }

static void json_summary(const eval_corruption_report *r, const rp_eval_condition *conds, int n_conds, int m,
                         const rp_corruption_summary *sum, const rp_corruption_means *mn)
{
    const char *ref = r->ref >= 0 ? r->paths[r->ref] : NULL;
    for (int k = 0; k < rp_corruption_count(); k++) {
        if (!sum[k].present) continue;
        cJSON *j = summary_row(r, m);
        cJSON_AddStringToObject(j, "summary", "corruption");
        cJSON_AddStringToObject(j, "corruption", info_of(k).name);
        cJSON_AddStringToObject(j, "family", info_of(k).family);
        char sv[16];
        severities_of(conds, n_conds, sv, sizeof sv, cJSON_AddArrayToObject(j, "severities"));
        cJSON_AddBoolToObject(j, "applicable", sum[k].applicable);
        add_number_or_null(j, "accuracy", sum[k].accuracy);
        if (ref) {
            add_number_or_null(j, "ce", sum[k].ce);
            add_number_or_null(j, "relative_ce", sum[k].relative_ce);
            cJSON_AddStringToObject(j, "reference", ref);
        }
        jsonl_write(r->run, j);
    }
    for (int f = 0; f < family_count(); f++) {
        if (!mn->family_count[f]) continue;
        cJSON *j = summary_row(r, m);
        cJSON_AddStringToObject(j, "summary", "family");
        cJSON_AddStringToObject(j, "family", rp_corruption_family_names()[f]);
        cJSON_AddNumberToObject(j, "corruptions", mn->family_count[f]);
        add_number_or_null(j, "accuracy", mn->family_accuracy[f]);
        jsonl_write(r->run, j);
    }
    cJSON *j = summary_row(r, m);
    cJSON_AddStringToObject(j, "summary", "corruptions");
    cJSON_AddNumberToObject(j, "corruptions", mn->count);
    add_number_or_null(j, "accuracy", mn->accuracy);
    if (ref) {
        add_number_or_null(j, "mce", mn->mce);
        add_number_or_null(j, "relative_mce", mn->relative_mce);
        cJSON_AddStringToObject(j, "mce_over", mce_set(mn));
        cJSON_AddNumberToObject(j, "mce_corruptions", mn->mce_count);
        cJSON_AddNumberToObject(j, "mce_defined", mn->mce_defined);
        cJSON_AddNumberToObject(j, "relative_mce_defined", mn->relative_mce_defined);
        cJSON_AddStringToObject(j, "reference", ref);
    }
    jsonl_write(r->run, j);
}

typedef struct summaries {
    rp_corruption_summary *sum; /* (M, rp_corruption_count()) */
    int K;                      /* rp_corruption_count() */
    rp_corruption_means *mn;                     /* (M) */
} summaries;

/* One table row: label, then one cell per column from get(m); NaN prints as n/a. */
static void text_row(const eval_corruption_report *r, const char *label, const summaries *s, bool percent,
                     double (*get)(const summaries *, int m, int k), int k)
{
    printf("%-44s", label);
    for (int m = 0; m < r->M; m++) {
        double v = get(s, m, k);
        if (!isfinite(v)) printf("  %14s", "n/a");
        else if (percent) printf("  %13.2f%%", 100.0 * v);
        else printf("  %14.3f", v);
    }
    printf("\n");
}

static double get_acc(const summaries *s, int m, int k) { return s->sum[(size_t)m * s->K + k].accuracy; }
static double get_ce(const summaries *s, int m, int k) { return s->sum[(size_t)m * s->K + k].ce; }
static double get_rce(const summaries *s, int m, int k) { return s->sum[(size_t)m * s->K + k].relative_ce; }
static double get_fam(const summaries *s, int m, int k) { return s->mn[m].family_accuracy[k]; }
static double get_all(const summaries *s, int m, int k) { return (void)k, s->mn[m].accuracy; }
static double get_mce(const summaries *s, int m, int k) { return (void)k, s->mn[m].mce; }
static double get_rmce(const summaries *s, int m, int k) { return (void)k, s->mn[m].relative_mce; }

static void text_summary(const eval_corruption_report *r, const rp_eval_condition *conds, int n_conds,
                         const summaries *s)
{
    const rp_corruption_summary *s0 = s->sum;
    const rp_corruption_means *m0 = &s->mn[0];
    char sv[16], lab[96];
    severities_of(conds, n_conds, sv, sizeof sv, NULL);
    printf("\nCorruptions: mean accuracy over severities %s\n%-44s", sv, "corruption");
    for (int m = 0; m < r->M; m++) printf("  %14.14s", r->heads[m]);
    printf("\n");
    for (int k = 0; k < s->K; k++) {
        if (!s0[k].present) continue;
        snprintf(lab, sizeof lab, "%s (%s)%s", info_of(k).name, info_of(k).family,
                 s0[k].applicable ? "" : ": not applicable");
        text_row(r, lab, s, true, get_acc, k);
    }
    for (int f = 0; f < family_count(); f++) {
        if (!m0->family_count[f]) continue;
        snprintf(lab, sizeof lab, "family %s (%d corruption%s)", rp_corruption_family_names()[f], m0->family_count[f],
                 m0->family_count[f] == 1 ? "" : "s");
        text_row(r, lab, s, true, get_fam, f);
    }
    snprintf(lab, sizeof lab, "mean over %d applicable corruption%s", m0->count, m0->count == 1 ? "" : "s");
    text_row(r, lab, s, true, get_all, 0);
    if (r->ref < 0) return;
    printf("\nCorruption error against %s: CE = sum_s err / sum_s err_ref; relative CE = sum_s (err_s - "
           "err_clean) / the reference's (n/a where the reference's sum is 0)\n",
           r->paths[r->ref]);
    for (int k = 0; k < s->K; k++) {
        if (!s0[k].applicable) continue;
        snprintf(lab, sizeof lab, "CE %s", info_of(k).name);
        text_row(r, lab, s, false, get_ce, k);
        snprintf(lab, sizeof lab, "relative CE %s", info_of(k).name);
        text_row(r, lab, s, false, get_rce, k);
    }
    const char *over = m0->mce_imagenet_c ? "ImageNet-C's 15" : "the evaluated";
    snprintf(lab, sizeof lab, "mCE over %s (%d of %d defined)", over, m0->mce_defined, m0->mce_count);
    text_row(r, lab, s, false, get_mce, 0);
    snprintf(lab, sizeof lab, "relative mCE (%d of %d defined)", m0->relative_mce_defined, m0->mce_count);
    text_row(r, lab, s, false, get_rmce, 0);
    if (!m0->mce_imagenet_c)
        printf("(not all of ImageNet-C's 15 corruptions were evaluated: the means are over the %d evaluated and "
               "are not comparable with published mCE)\n",
               m0->mce_count);
}

void eval_corruption_summary(const eval_corruption_report *r, const rp_eval_condition *conds, int n_conds,
                             const rp_eval_result *res)
{
    bool any = false;
    for (int c = 0; c < n_conds; c++) any = any || conds[c].kind == RP_EVAL_CORRUPTION;
    if (!any) return;
    int K = rp_corruption_count();
    summaries s = {.sum = calloc((size_t)r->M * K, sizeof *s.sum), .mn = calloc((size_t)r->M, sizeof *s.mn), .K = K};
    rp_ctx *ctx = rp_ctx_create(1);
    rp_status st = s.sum && s.mn && ctx ? RP_OK : RP_ERR_NOMEM;
    for (int m = 0; st == RP_OK && m < r->M; m++)
        st = rp_evaluate_corruption_summary(ctx, conds, n_conds, res, r->M, m, r->ref, s.sum + (size_t)m * K, K,
                                            &s.mn[m]);
    if (st != RP_OK) {
        fprintf(stderr, "rampart eval: the corruption summary: %s\n", ctx ? rp_ctx_error(ctx) : "out of memory");
    } else if (r->json) {
        for (int m = 0; m < r->M; m++) json_summary(r, conds, n_conds, m, s.sum + (size_t)m * K, &s.mn[m]);
    } else {
        text_summary(r, conds, n_conds, &s);
    }
    rp_ctx_destroy(ctx);
    free(s.sum);
    free(s.mn);
}
