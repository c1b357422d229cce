/* rampart report: the page, its tables and the statistics beside them (see report.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "report_stats.h"

static const char CSS[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;max-width:1240px;margin:0 auto;"
    "padding:16px 24px}h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:2px solid #0072B2;"
    "padding-bottom:2px;margin-top:28px}h3{font-size:15px;margin:16px 0 6px}.meta{color:#555}"
    "table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}th{background:#eef3f8}"
    "td.l,th.l{text-align:left}.ci{color:#666;font-size:12px;display:block}.sig{font-weight:bold;color:#B03000}"
    ".warn{border:3px solid #D55E00;background:#fff4ec;padding:8px 14px;margin:12px 0}.warn h2{border:0;"
    "color:#B03000;margin:0}.ok{border:2px solid #009E73;background:#effaf5;padding:6px 14px}"
    ".plots{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:flex-start}.plots>div{break-inside:avoid}"
    "svg.plot{font-size:11px;background:#fff}svg .grid{stroke:#e4e4e4}svg .frame{fill:none;stroke:#888}"
    "svg .tickmark{stroke:#888}svg .tick{fill:#444}svg .axis{fill:#222}svg .title{font-weight:bold;fill:#222}"
    "svg .legend{fill:#222}svg .mark{stroke:#999;stroke-dasharray:3 3}svg .err{stroke-width:1}"
    "figure{margin:0 0 10px;break-inside:avoid}figure img{image-rendering:pixelated;border:1px solid #ddd;"
    "max-width:100%}figcaption{font-size:12px;color:#444;max-width:520px}code{font-size:12px;word-break:break-all}"
    "@page{margin:12mm}@media print{body{max-width:none;padding:0;font-size:10px}h3{break-after:avoid}h2{break-after:avoid;"
    "font-size:15px}table{font-size:9.5px}th,td{padding:1px 4px}.ci{font-size:8.5px}table,figure,svg{"
    "break-inside:avoid}svg.plot{max-width:100%;height:auto}figure img{max-width:60%}.warn{border-width:2px}}";

static void head(rp_rpt_buf *b)
{
    rp_rpt_buf_put(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                  "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                  "style-src 'unsafe-inline'; img-src data:\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<title>rampart report</title>\n<style>");
    rp_rpt_buf_put(b, CSS);
    rp_rpt_buf_put(b, "</style></head><body>\n");
}

/* "92.10" and its 95% Wilson interval under it, for acc of n images. */
void rp_rpt_table_cell_acc(rp_rpt_buf *b, double acc, long n)
{
    if (!isfinite(acc)) {
        rp_rpt_buf_put(b, "<td>n/a</td>");
        return;
    }
    double lo, hi;
    rp_rpt_wilson(lround(acc * (double)n), n, RPT_Z95, &lo, &hi);
    rp_rpt_buf_printf(b, "<td>%.2f<span class=\"ci\">[%.1f, %.1f]</span></td>", 100 * acc, 100 * lo, 100 * hi);
}

static double row_num(const rp_rpt_data *d, int row, const char *key)
{
    return row < 0 ? NAN : rp_rpt_num(d->rows[row].j, key);
}

/* A count of a row (0 when the model has no row there). */
static long row_count(const rp_rpt_data *d, int row, const char *key)
{
    return row < 0 ? 0 : rp_rpt_count(d->rows[row].j, key);
}

static void th(rp_rpt_buf *b, const char *cls, const char *text)
{
    rp_rpt_buf_printf(b, "<th%s>", cls ? " class=\"l\"" : "");
    rp_rpt_buf_escape(b, text);
    rp_rpt_buf_put(b, "</th>");
}

/* Mean accuracy over the model's conditions of kind, with a bootstrap interval over images. */
static void mean_cell(rp_rpt_buf *b, const rp_rpt_data *d, const rp_rpt_opts *o, int m, rp_rpt_cond_kind kind)
{
    int n = 0, count = 0;
    double *v = rp_rpt_per_image_mean(d, m, kind, &n, &count), lo, hi;
    if (!v) {
        rp_rpt_buf_put(b, "<td>–</td>");
        return;
    }
    double mean = 0.0;
    for (int i = 0; i < n; i++) mean += v[i] / n;
    if (rp_rpt_bootstrap_mean(v, n, o->bootstrap, 0.05, o->seed, &lo, &hi) == 0)
        rp_rpt_buf_printf(b, "<td>%.2f<span class=\"ci\">[%.1f, %.1f] over %d conditions</span></td>", 100 * mean, 100 * lo, 100 * hi,
                      count);
    else rp_rpt_buf_printf(b, "<td>%.2f</td>", 100 * mean);
    free(v);
}

/* The mean ECE over the model's corruption rows. */
static double mean_ece(const rp_rpt_data *d, int m)
{
    double s = 0.0;
    int k = 0;
    for (int c = 0; c < d->n_conds; c++)
        if (d->conds[c].kind == RPT_CORRUPTION && d->conds[c].row[m] >= 0) {
            double e = row_num(d, d->conds[c].row[m], "ece");
            if (isfinite(e)) s += e, k++;
        }
    return k ? s / k : NAN;
}

static double training_seconds(const rp_rpt_data *d, int m)
{
    for (int t = 0; t < d->n_train; t++) {
        if (d->train[t].model != m) continue;
        double s = 0.0;
        for (int i = 0; i < d->train[t].n; i++) s += row_num(d, d->train[t].rows[i], "seconds");
        return s;
    }
    return NAN;
}

static bool any_kind(const rp_rpt_data *d, rp_rpt_cond_kind kind)
{
    for (int c = 0; c < d->n_conds; c++)
        if (d->conds[c].kind == kind) return true;
    return false;
}

static void opt_cell(rp_rpt_buf *b, double v, const char *fmt)
{
    if (isfinite(v)) rp_rpt_buf_printf(b, fmt, v);
    else rp_rpt_buf_put(b, "<td>–</td>");
}

static void summary(rp_rpt_buf *b, const rp_rpt_data *d, const rp_rpt_opts *o)
{
    double eps[32];
    int ne = rp_rpt_worst_eps(d, "linf", eps), clean = -1;
    bool corr = any_kind(d, RPT_CORRUPTION);
    for (int c = 0; c < d->n_conds; c++)
        if (d->conds[c].kind == RPT_CLEAN && clean < 0) clean = c;
    rp_rpt_buf_put(b, "<h2 id=\"summary\">Summary</h2><table><tr><th class=\"l\">model</th><th>clean</th>");
    for (int e = 0; e < ne; e++) rp_rpt_buf_printf(b, "<th>worst case<br>L&infin; &epsilon; = %g</th>", eps[e]);
    if (corr) rp_rpt_buf_put(b, "<th>mean corruption accuracy</th><th>mCE<br>(first model = 100)</th>");
    rp_rpt_buf_put(b, "<th>ECE clean</th>");
    if (corr) rp_rpt_buf_put(b, "<th>ECE corrupted<br>(mean)</th>");
    rp_rpt_buf_put(b, "<th>training time</th></tr>\n");
    for (int m = 0; m < d->n_models; m++) {
        int cr = clean >= 0 ? d->conds[clean].row[m] : -1;
        rp_rpt_buf_put(b, "<tr><td class=\"l\">");
        rp_rpt_buf_escape(b, d->models[m].label);
        rp_rpt_buf_put(b, "</td>");
        rp_rpt_table_cell_acc(b, row_num(d, cr, "accuracy"), row_count(d, cr, "n"));
        for (int e = 0; e < ne; e++) {
            int w = rp_rpt_worst_cond(d, "linf", eps[e]), r = w >= 0 ? d->conds[w].row[m] : -1;
            rp_rpt_table_cell_acc(b, row_num(d, r, "accuracy"), row_count(d, r, "n"));
        }
        if (corr) {
            mean_cell(b, d, o, m, RPT_CORRUPTION);
            opt_cell(b, 100 * rp_rpt_mce(d, m, 0), "<td>%.1f</td>");
        }
        opt_cell(b, 100 * row_num(d, cr, "ece"), "<td>%.2f</td>");
        if (corr) opt_cell(b, 100 * mean_ece(d, m), "<td>%.2f</td>");
        opt_cell(b, training_seconds(d, m), "<td>%.1f s</td>");
        rp_rpt_buf_put(b, "</tr>\n");
    }
    rp_rpt_buf_printf(b, "</table><p class=\"meta\">Accuracy and calibration error (ECE, 15 bins) in %%. Under each "
                     "accuracy its 95%% Wilson interval for the number of test images; under a mean over conditions "
                     "a 95%% percentile bootstrap interval over test images (%d resamples, seed %llu) and the number "
                     "of conditions averaged. Worst case: per image, the worst over every attack at that &epsilon;. "
                     "mCE: corruption error (sum over severities of the error, over the first model's), averaged over "
                     "corruptions.</p>\n", o->bootstrap, o->seed);
}

/* The cells of model m against the first under condition c: accuracy, difference, the
 * discordant counts, exact and chi-square p; dashes when either lacks its bitmap. */
static void mcnemar_cells(rp_rpt_buf *b, const rp_rpt_data *d, const rp_rpt_cond *c, int m)
{
    int n0 = 0, n1 = 0;
    unsigned char *a = c->row[m] >= 0 ? rp_rpt_correct(d, c->row[0], &n0) : NULL;
    unsigned char *r = a ? rp_rpt_correct(d, c->row[m], &n1) : NULL;
    if (a && r && n0 == n1) {
        long only_first = 0, only_m = 0;
        for (int i = 0; i < n0; i++) only_first += a[i] && !r[i], only_m += !a[i] && r[i];
        rp_rpt_mcnemar_result t = rp_rpt_mcnemar(only_first, only_m);
        double acc0 = row_num(d, c->row[0], "accuracy"), acc1 = row_num(d, c->row[m], "accuracy");
        const char *sig = t.p_exact < 0.05 ? " class=\"sig\"" : "";
        rp_rpt_buf_printf(b, "<td>%.2f</td><td%s>%+.2f</td><td>%ld / %ld</td><td%s>%.3g</td><td>%.3g</td>", 100 * acc1, sig,
                      100 * (acc1 - acc0), only_first, only_m, sig, t.p_exact, t.p_chi2);
    } else {
        rp_rpt_buf_put(b, "<td>–</td><td>–</td><td>–</td><td>–</td><td>–</td>");
    }
    free(a), free(r);
}

/* One table: a row per condition, the first model's accuracy, then each other model's cells. */
static void mcnemar(rp_rpt_buf *b, const rp_rpt_data *d)
{
    if (d->n_models < 2) return;
    rp_rpt_buf_put(b, "<h2 id=\"paired\">Paired on the same images: McNemar's test against the first model</h2>"
                  "<table><tr><th class=\"l\" rowspan=\"2\">condition</th>");
    th(b, NULL, d->models[0].label);
    for (int m = 1; m < d->n_models; m++) {
        rp_rpt_buf_put(b, "<th colspan=\"5\">");
        rp_rpt_buf_escape(b, d->models[m].label);
        rp_rpt_buf_put(b, "</th>");
    }
    rp_rpt_buf_put(b, "</tr><tr><th>accuracy</th>");
    for (int m = 1; m < d->n_models; m++)
        rp_rpt_buf_put(b, "<th>accuracy</th><th>difference</th><th>right only:<br>first / this</th><th>p exact</th>"
                      "<th>p &chi;&sup2;</th>");
    rp_rpt_buf_put(b, "</tr>\n");
    for (int c = 0; c < d->n_conds; c++) {
        const rp_rpt_cond *cd = &d->conds[c];
        if (cd->row[0] < 0 || !cd->applicable) continue;
        rp_rpt_buf_put(b, "<tr><td class=\"l\">");
        rp_rpt_buf_escape(b, cd->label);
        rp_rpt_buf_printf(b, "</td><td>%.2f</td>", 100 * row_num(d, cd->row[0], "accuracy"));
        for (int m = 1; m < d->n_models; m++) mcnemar_cells(b, d, cd, m);
        rp_rpt_buf_put(b, "</tr>\n");
    }
    rp_rpt_buf_put(b, "</table><p class=\"meta\">Accuracy and differences in points. Each image counts once per "
                  "condition; only the images one model gets right and the other wrong carry evidence. p exact: "
                  "two-sided binomial test of those counts (McNemar's exact test); p &chi;&sup2;: with Edwards' "
                  "continuity correction. In bold: p &lt; 0.05 — a difference unlikely to be chance on these images "
                  "(one test per row: with many rows, some fall below 0.05 by chance).</p>\n");
}

static void per_class(rp_rpt_buf *b, const rp_rpt_data *d)
{
    if (d->clean_row < 0) return;
    const cJSON *cj = d->rows[d->clean_row].j, *names = cJSON_GetObjectItemCaseSensitive(cj, "class_names"),
                *cn = cJSON_GetObjectItemCaseSensitive(cj, "class_n");
    double eps[32];
    int ne = rp_rpt_worst_eps(d, "linf", eps), w = ne ? rp_rpt_worst_cond(d, "linf", eps[ne / 2]) : -1, clean = -1;
    for (int c = 0; c < d->n_conds; c++)
        if (d->conds[c].kind == RPT_CLEAN && clean < 0) clean = c;
    rp_rpt_buf_put(b, "<h2 id=\"classes\">Per class</h2><table><tr><th class=\"l\">class</th><th>images</th>");
    for (int m = 0; m < d->n_models; m++) {
        rp_rpt_buf_put(b, "<th>");
        rp_rpt_buf_escape(b, d->models[m].label);
        rp_rpt_buf_put(b, "<br>clean</th>");
        if (w >= 0) {
            rp_rpt_buf_put(b, "<th>");
            rp_rpt_buf_escape(b, d->models[m].label);
            rp_rpt_buf_printf(b, "<br>worst &epsilon; = %g</th>", eps[ne / 2]);
        }
    }
    rp_rpt_buf_put(b, "</tr>\n");
    for (int k = 0; k < cJSON_GetArraySize(names); k++) {
        double n = cJSON_GetArrayItem(cn, k) ? cJSON_GetArrayItem(cn, k)->valuedouble : 0;
        rp_rpt_buf_put(b, "<tr><td class=\"l\">");
        rp_rpt_buf_escape(b, cJSON_IsString(cJSON_GetArrayItem(names, k)) ? cJSON_GetArrayItem(names, k)->valuestring : "?");
        rp_rpt_buf_printf(b, "</td><td>%g</td>", n);
        for (int m = 0; m < d->n_models; m++)
            for (int c = 0; c < (w >= 0 ? 2 : 1); c++) {
                int cond = c ? w : clean, r = cond >= 0 ? d->conds[cond].row[m] : -1;
                const cJSON *cc = r >= 0 ? cJSON_GetObjectItemCaseSensitive(d->rows[r].j, "class_correct") : NULL;
                const cJSON *v = cJSON_GetArrayItem(cc, k);
                rp_rpt_table_cell_acc(b, v && n > 0 ? v->valuedouble / n : NAN, n > 0 && n < 2147483648.0 ? (long)n : 0);
            }
        rp_rpt_buf_put(b, "</tr>\n");
    }
    rp_rpt_buf_put(b, "</table><p class=\"meta\">Accuracy in % of the class's test images, with 95% Wilson intervals: "
                  "which classes a robust model pays for.</p>\n");
}

static void warning_item(rp_rpt_buf *b, const char *model, const char *check, const char *msg)
{
    rp_rpt_buf_put(b, "<li><b>");
    rp_rpt_buf_escape(b, model);
    rp_rpt_buf_put(b, "</b> [");
    rp_rpt_buf_escape(b, check);
    rp_rpt_buf_put(b, "] ");
    rp_rpt_buf_escape(b, msg);
    rp_rpt_buf_put(b, "</li>\n");
}

/* The checklist's warnings (and catastrophic overfitting seen in training) where they cannot be missed. */
static void checklist(rp_rpt_buf *b, const rp_rpt_data *d)
{
    int n = 0;
    rp_rpt_buf put = {0};
    for (int i = 0; i < d->n_rows; i++) {
        const cJSON *j = d->rows[i].j;
        char label[80];
        const char *path = rp_rpt_str(j, "model", "?"), *base = strrchr(path, '/');
        snprintf(label, sizeof label, "%s", base ? base + 1 : path);
        if (!strcmp(d->rows[i].kind, "eval_warning"))
            warning_item(&put, label, rp_rpt_str(j, "check", ""), rp_rpt_str(j, "warning", "")), n++;
        else if (!strcmp(rp_rpt_str(j, "event", ""), "robust_check") &&
                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "catastrophic_overfitting"))) {
            char msg[200];
            snprintf(msg, sizeof msg, "epoch %g: held-out PGD accuracy fell to %.4f while FGSM accuracy rose to %.4f",
                     rp_rpt_num(j, "epoch"), rp_rpt_num(j, "pgd_accuracy"), rp_rpt_num(j, "fgsm_accuracy"));
            warning_item(&put, label, "catastrophic-overfitting", msg), n++;
        }
    }
    if (n) {
        rp_rpt_buf_printf(b, "<div class=\"warn\" id=\"checklist\"><h2>Evaluation checklist: %d warning%s</h2><ul>\n", n,
                      n == 1 ? "" : "s");
        rp_rpt_buf_put(b, put.s);
        rp_rpt_buf_put(b, "</ul><p>Each names the check and the rows that failed it. A warning means the numbers above may "
                      "overstate robustness (gradient masking, too weak an attack); see docs/report.md.</p></div>\n");
    } else {
        rp_rpt_buf_put(b, "<div class=\"ok\" id=\"checklist\">Evaluation checklist: no warnings in these rows.</div>\n");
    }
    rp_rpt_buf_free(&put);
}

static void skipped(rp_rpt_buf *b, const rp_rpt_data *d)
{
    if (!d->n_skipped) return;
    rp_rpt_buf_printf(b, "<div class=\"warn\"><h2>%d input problem%s skipped (--skip-bad)</h2><ul>", d->n_skipped,
                  d->n_skipped == 1 ? "" : "s");
    for (int i = 0; i < d->n_skipped; i++) {
        rp_rpt_buf_put(b, "<li>");
        rp_rpt_buf_escape(b, d->skipped[i]);
        rp_rpt_buf_put(b, "</li>");
    }
    rp_rpt_buf_put(b, "</ul></div>\n");
}

/* rampart attack's summaries (kind attack): what each attack run did to its images. */
static void attack_runs(rp_rpt_buf *b, const rp_rpt_data *d)
{
    int n = 0;
    for (int i = 0; i < d->n_rows; i++) {
        const cJSON *j = d->rows[i].j;
        if (strcmp(d->rows[i].kind, "attack")) continue;
        if (!n++)
            rp_rpt_buf_put(b, "<h2 id=\"attacks\">Attack runs (rampart attack)</h2><table><tr><th class=\"l\">model</th>"
                          "<th class=\"l\">attack</th>"
                          "<th>&epsilon;</th><th>steps</th><th>images</th><th>clean</th><th>robust</th>"
                          "<th class=\"l\">in the ball</th><th class=\"l\">folder</th></tr>\n");
        const char *path = rp_rpt_str(j, "model", "?"), *base = strrchr(path, '/');
        rp_rpt_buf_put(b, "<tr><td class=\"l\">");
        rp_rpt_buf_escape(b, base ? base + 1 : path);
        rp_rpt_buf_put(b, "</td><td class=\"l\">");
        rp_rpt_buf_escape(b, rp_rpt_str(j, "attack", "?"));
        rp_rpt_buf_put(b, " ");
        rp_rpt_buf_escape(b, rp_rpt_str(j, "norm", ""));
        rp_rpt_buf_printf(b, "</td><td>%g</td><td>%g</td><td>%g</td>", rp_rpt_num(j, "eps"), rp_rpt_num(j, "steps"), rp_rpt_num(j, "n"));
        rp_rpt_table_cell_acc(b, rp_rpt_num(j, "clean_accuracy"), rp_rpt_count(j, "n"));
        rp_rpt_table_cell_acc(b, rp_rpt_num(j, "accuracy"), rp_rpt_count(j, "n"));
        rp_rpt_buf_printf(b, "<td class=\"l\">%s</td><td class=\"l\"><code>",
                      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "in_ball")) ? "yes" : "<b>NO</b>");
        rp_rpt_buf_escape(b, rp_rpt_str(j, "out", ""));
        rp_rpt_buf_put(b, "</code></td></tr>\n");
    }
    if (n) rp_rpt_buf_put(b, "</table>\n");
}

static void run_row(rp_rpt_buf *b, const cJSON *j)
{
    rp_rpt_buf_put(b, "<tr><td class=\"l\">");
    rp_rpt_buf_escape(b, rp_rpt_str(j, "command", ""));
    rp_rpt_buf_put(b, "</td><td class=\"l\"><code>rampart ");
    rp_rpt_buf_escape(b, rp_rpt_str(j, "command", ""));
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(j, "args"))
    {
        rp_rpt_buf_put(b, " ");
        if (cJSON_IsString(a)) rp_rpt_buf_escape(b, a->valuestring);
    }
    rp_rpt_buf_put(b, "</code></td><td class=\"l\">");
    rp_rpt_buf_escape(b, rp_rpt_str(j, "started", ""));
    rp_rpt_buf_printf(b, "</td><td>%.1f s</td><td>%g</td><td>%g</td><td class=\"l\">", rp_rpt_num(j, "seconds"),
                  rp_rpt_num(j, "seed"), rp_rpt_num(j, "threads"));
    rp_rpt_buf_escape(b, rp_rpt_str(j, "cpu", ""));
    rp_rpt_buf_put(b, " (");
    rp_rpt_buf_escape(b, rp_rpt_str(j, "simd", ""));
    rp_rpt_buf_put(b, ")</td><td>");
    rp_rpt_buf_escape(b, rp_rpt_str(j, "version", ""));
    rp_rpt_buf_put(b, "</td></tr>\n");
}

static void provenance(rp_rpt_buf *b, const rp_rpt_data *d)
{
    rp_rpt_buf_put(b, "<h2 id=\"made\">How it was made</h2>");
    if (d->test_row >= 0) {
        const cJSON *t = d->rows[d->test_row].j;
        rp_rpt_buf_put(b, "<p>Test set: <b>");
        rp_rpt_buf_escape(b, rp_rpt_str(t, "data", ""));
        rp_rpt_buf_printf(b, "</b>, the first %g images of its ", rp_rpt_num(t, "test_n"));
        rp_rpt_buf_escape(b, rp_rpt_str(t, "split", ""));
        rp_rpt_buf_put(b, " split (SHA-256 of images and labels <code>");
        rp_rpt_buf_escape(b, rp_rpt_str(t, "test_sha256", ""));
        rp_rpt_buf_put(b, "</code>).</p>");
    }
    rp_rpt_buf_put(b, "<table><tr><th class=\"l\">model</th><th class=\"l\">checkpoint</th><th class=\"l\">SHA-256</th></tr>");
    for (int m = 0; m < d->n_models; m++) {
        rp_rpt_buf_put(b, "<tr><td class=\"l\">");
        rp_rpt_buf_escape(b, d->models[m].label);
        rp_rpt_buf_put(b, "</td><td class=\"l\"><code>");
        rp_rpt_buf_escape(b, d->models[m].path);
        rp_rpt_buf_put(b, "</code></td><td class=\"l\"><code>");
        rp_rpt_buf_escape(b, d->models[m].sha ? d->models[m].sha : "unknown");
        rp_rpt_buf_put(b, "</code></td></tr>");
    }
    rp_rpt_buf_put(b, "</table><table><tr><th class=\"l\">step</th><th class=\"l\">command</th><th class=\"l\">started "
                  "(UTC)</th><th>took</th><th>seed</th><th>threads</th><th class=\"l\">CPU</th><th>rampart</th></tr>\n");
    for (int i = 0; i < d->n_rows; i++)
        if (!strcmp(d->rows[i].kind, "run")) run_row(b, d->rows[i].j);
    rp_rpt_buf_put(b, "</table>\n");
}

static void title(rp_rpt_buf *b, const rp_rpt_data *d)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%d %H:%M UTC", &tm);
    rp_rpt_buf_put(b, "<h1>rampart report</h1><p class=\"meta\">");
    for (int m = 0; m < d->n_models; m++) {
        if (m) rp_rpt_buf_put(b, m + 1 < d->n_models ? ", " : " and ");
        rp_rpt_buf_put(b, "<b>");
        rp_rpt_buf_escape(b, d->models[m].label);
        rp_rpt_buf_put(b, "</b>");
    }
    rp_rpt_buf_printf(b, "%s made %s by rampart " RP_VERSION_STRING ". Sections: checklist, summary, robustness against "
                     "&epsilon;, corruptions, per class, training, paired tests, pictures, how it was made.</p>\n",
                  d->n_models ? ";" : "", now);
}

int rp_rpt_page(rp_rpt_buf *b, rp_rpt_data *d, const rp_rpt_opts *o)
{
    head(b);
    title(b, d);
    skipped(b, d);
    checklist(b, d);
    if (d->n_models) summary(b, d, o);
    rp_rpt_plot_eps(b, d);
    rp_rpt_plot_severity(b, d, RPT_CORRUPTION);
    rp_rpt_plot_severity(b, d, RPT_NOISE);
    per_class(b, d);
    rp_rpt_plot_training(b, d);
    mcnemar(b, d);
    if (rp_rpt_pictures(b, d) != 0) return -1;
    attack_runs(b, d);
    provenance(b, d);
    rp_rpt_buf_put(b, "</body></html>\n");
    return 0;
}
