/* rampart report: the plots (SVG, report_svg.h) with their numbers, and the pictures of
 * the --explain folders as data: URIs (see report.h). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"
#include "report_stats.h"
#include "report_svg.h"

enum { MAX_PTS = 64, MAX_GROUPS = 48 };

static double acc_of(const rp_rpt_data *d, int row) { return row < 0 ? NAN : rp_rpt_num(d->rows[row].j, "accuracy"); }

static int clean_cond(const rp_rpt_data *d)
{
    for (int c = 0; c < d->n_conds; c++)
        if (d->conds[c].kind == RPT_CLEAN) return c;
    return -1;
}

/* Distinct groups of conditions of kind (and norm, for attacks) in order of appearance. */
static int groups_of(const rp_rpt_data *d, rp_rpt_cond_kind kind, const char *norm, const char **g, bool *transfer)
{
    int n = 0;
    for (int c = 0; c < d->n_conds; c++) {
        const rp_rpt_cond *cd = &d->conds[c];
        if (cd->kind != kind || (norm && strcmp(cd->norm, norm)) || isinf(cd->x) || strstr(cd->key, "/adapt") ||
            !cd->applicable) /* saturate on grayscale: the identity, never run */
            continue;
        bool tr = strstr(cd->label, "(transfer)") != NULL, seen = false;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(g[k], cd->group) && (!transfer || transfer[k] == tr);
        if (!seen && n < MAX_GROUPS) {
            if (transfer) transfer[n] = tr;
            g[n++] = cd->group;
        }
    }
    return n;
}

/* Points (x, acc, Wilson interval) of model m over the group's conditions, clean at x = 0 first. */
static int points(const rp_rpt_data *d, rp_rpt_cond_kind kind, const char *norm, const char *group, bool transfer, int m,
                  double *x, double *y, double *lo, double *hi)
{
    int n = 0, cc = clean_cond(d);
    if (cc >= 0 && d->conds[cc].row[m] >= 0) x[n] = 0, y[n++] = acc_of(d, d->conds[cc].row[m]);
    for (int c = 0; c < d->n_conds && n < MAX_PTS; c++) {
        const rp_rpt_cond *cd = &d->conds[c];
        if (cd->kind != kind || strcmp(cd->group, group) || (norm && strcmp(cd->norm, norm)) || cd->row[m] < 0 ||
            isinf(cd->x) || strstr(cd->key, "/adapt") || (strstr(cd->label, "(transfer)") != NULL) != transfer)
            continue;
        int k = n; /* keep x sorted */
        while (k > 0 && x[k - 1] > cd->x) x[k] = x[k - 1], y[k] = y[k - 1], k--;
        x[k] = cd->x, y[k] = acc_of(d, cd->row[m]), n++;
    }
    long N = cc >= 0 && d->conds[cc].row[m] >= 0 ? rp_rpt_count(d->rows[d->conds[cc].row[m]].j, "n") : 0;
    for (int i = 0; lo && i < n; i++)
        if (isfinite(y[i])) rp_rpt_wilson(lround(y[i] * N), N, RPT_Z95, &lo[i], &hi[i]);
        else lo[i] = hi[i] = NAN;
    return n;
}

/* The sorted distinct finite eps of the attack rows of norm (max 32). */
static int attack_eps(const rp_rpt_data *d, const char *norm, double *eps)
{
    int n = 0;
    for (int c = 0; c < d->n_conds; c++) {
        const rp_rpt_cond *cd = &d->conds[c];
        if (cd->kind == RPT_ATTACK && !strcmp(cd->norm, norm) && !isinf(cd->x)) n = rp_rpt_eps_insert(eps, n, cd->x);
    }
    return n;
}

/* Rows: attacks; columns: eps x models. */
static void eps_table(rp_rpt_buf *b, const rp_rpt_data *d, const char *norm, const char **g, const bool *tr, int ng)
{
    double eps[32];
    int ne = attack_eps(d, norm, eps);
    rp_rpt_buf_printf(b, "<table><tr><th class=\"l\" rowspan=\"2\">attack</th>");
    for (int e = 0; e < ne; e++)
        rp_rpt_buf_printf(b, "<th colspan=\"%d\">&epsilon; = %g (%.3g/255)</th>", d->n_models, eps[e], eps[e] * 255);
    rp_rpt_buf_put(b, "</tr><tr>");
    for (int e = 0; e < ne; e++)
        for (int m = 0; m < d->n_models; m++) {
            rp_rpt_buf_put(b, "<th>");
            rp_rpt_buf_escape(b, d->models[m].label);
            rp_rpt_buf_put(b, "</th>");
        }
    rp_rpt_buf_put(b, "</tr>\n");
    for (int a = 0; a < ng; a++) {
        bool worst = !strcmp(g[a], "worst");
        rp_rpt_buf_printf(b, "<tr><td class=\"l\">%s", worst ? "<b>" : "");
        rp_rpt_buf_escape(b, g[a]);
        rp_rpt_buf_printf(b, "%s%s</td>", tr[a] ? " (transfer)" : "", worst ? "</b>" : "");
        for (int e = 0; e < ne; e++)
            for (int m = 0; m < d->n_models; m++) {
                int r = -1;
                for (int c = 0; c < d->n_conds && r < 0; c++) {
                    const rp_rpt_cond *cd = &d->conds[c];
                    if (cd->kind == RPT_ATTACK && !strcmp(cd->norm, norm) && !strcmp(cd->group, g[a]) && cd->x == eps[e] &&
                        (strstr(cd->label, "(transfer)") != NULL) == tr[a] && !strstr(cd->key, "/adapt"))
                        r = cd->row[m];
                }
                rp_rpt_table_cell_acc(b, acc_of(d, r), r < 0 ? 0 : rp_rpt_count(d->rows[r].j, "n"));
            }
        rp_rpt_buf_put(b, "</tr>\n");
    }
    rp_rpt_buf_put(b, "</table>");
}

static void eps_chart(rp_rpt_buf *b, const rp_rpt_data *d, const char *norm, const char **g, const bool *tr, int ng)
{
    static double x[RPT_MAX_MODELS * MAX_GROUPS][MAX_PTS], y[RPT_MAX_MODELS * MAX_GROUPS][MAX_PTS];
    rp_rpt_svg_series s[RPT_MAX_MODELS * MAX_GROUPS];
    rp_rpt_svg_legend leg[MAX_GROUPS + RPT_MAX_MODELS];
    char names[RPT_MAX_MODELS * MAX_GROUPS][120], gl[MAX_GROUPS][64];
    int ns = 0, nl = 0;
    double xmax = 0;
    for (int a = 0; a < ng; a++) {
        bool worst = !strcmp(g[a], "worst");
        snprintf(gl[a], sizeof gl[a], "%s%s", g[a], tr[a] ? " (transfer)" : "");
        int colour = worst ? 7 : a % 7; /* the worst case black and bold; attacks in the other colours */
        leg[nl++] = (rp_rpt_svg_legend){.label = gl[a], .colour = colour, .bold = worst};
        for (int m = 0; m < d->n_models; m++) {
            int n = points(d, RPT_ATTACK, norm, g[a], tr[a], m, x[ns], y[ns], NULL, NULL);
            if (n < 2) continue;
            snprintf(names[ns], sizeof names[ns], "%s, %s", d->models[m].label, gl[a]);
            s[ns] = (rp_rpt_svg_series){.name = names[ns], .x = x[ns], .y = y[ns], .n = n, .colour = colour, .dash = m,
                                    .bold = worst};
            xmax = fmax(xmax, x[ns][n - 1]);
            ns++;
        }
    }
    for (int m = 0; m < d->n_models && d->n_models > 1; m++)
        leg[nl++] = (rp_rpt_svg_legend){.label = d->models[m].label, .colour = 6, .dash = m};
    char title[96];
    snprintf(title, sizeof title, "Accuracy against %s eps (0: clean)", norm);
    rp_rpt_svg_chart c = {.title = title, .xlabel = "eps (pixels in [0, 1])", .ylabel = "accuracy", .width = 640,
                      .height = 320, .x0 = 0, .x1 = xmax > 0 ? xmax : 1, .y0 = 0, .y1 = 1, .percent = true,
                      .legend = leg, .n_legend = nl};
    rp_rpt_svg_line_chart(b, &c, s, ns);
}

void rp_rpt_plot_eps(rp_rpt_buf *b, const rp_rpt_data *d)
{
    static const char *const NORMS[] = {"linf", "l2"};
    bool header = false;
    for (int k = 0; k < 2; k++) {
        const char *g[MAX_GROUPS];
        bool tr[MAX_GROUPS];
        int ng = groups_of(d, RPT_ATTACK, NORMS[k], g, tr);
        if (!ng) continue;
        if (!header) rp_rpt_buf_put(b, "<h2 id=\"eps\">Robustness against &epsilon;</h2>"), header = true;
        rp_rpt_buf_put(b, "<div class=\"plots\"><div>");
        eps_chart(b, d, NORMS[k], g, tr, ng);
        rp_rpt_buf_put(b, "</div><div>");
        eps_table(b, d, NORMS[k], g, tr, ng);
        rp_rpt_buf_put(b, "</div></div>\n");
    }
    if (header)
        rp_rpt_buf_put(b, "<p class=\"meta\">One colour per attack, one dash pattern per model; the per-image worst case "
                      "in bold. Robust accuracy: right on both the clean and the attacked image. Hover a point for its "
                      "value; the table gives every number with its 95% Wilson interval.</p>\n");
}

static void severity_chart(rp_rpt_buf *b, const rp_rpt_data *d, rp_rpt_cond_kind kind, const char *group)
{
    static double x[RPT_MAX_MODELS][MAX_PTS], y[RPT_MAX_MODELS][MAX_PTS], lo[RPT_MAX_MODELS][MAX_PTS],
        hi[RPT_MAX_MODELS][MAX_PTS];
    static const double TICKS[] = {0, 1, 2, 3, 4, 5};
    static const char *const TL[] = {"clean", "1", "2", "3", "4", "5"};
    rp_rpt_svg_series s[RPT_MAX_MODELS];
    rp_rpt_svg_legend leg[RPT_MAX_MODELS];
    int ns = 0;
    for (int m = 0; m < d->n_models; m++) {
        int n = points(d, kind, NULL, group, false, m, x[m], y[m], lo[m], hi[m]);
        leg[m] = (rp_rpt_svg_legend){.label = d->models[m].label, .colour = m};
        if (n) s[ns++] = (rp_rpt_svg_series){.name = d->models[m].label, .x = x[m], .y = y[m], .n = n, .colour = m,
                                         .lo = lo[m], .hi = hi[m]};
    }
    rp_rpt_svg_chart c = {.title = group, .xlabel = "severity", .ylabel = "accuracy", .width = 290, .height = 210,
                      .x0 = -0.2, .x1 = 5.2, .y0 = 0, .y1 = 1, .percent = true, .xticks = TICKS, .xtick_labels = TL,
                      .n_xticks = 6, .legend = leg, .n_legend = 0};
    rp_rpt_svg_line_chart(b, &c, s, ns);
}

static void severity_means(rp_rpt_buf *b, const rp_rpt_data *d, rp_rpt_cond_kind kind, const char **g, int ng)
{
    rp_rpt_buf_put(b, "<table><tr><th class=\"l\">mean over severities</th>");
    for (int m = 0; m < d->n_models; m++) {
        rp_rpt_buf_put(b, "<th>");
        rp_rpt_buf_escape(b, d->models[m].label);
        rp_rpt_buf_put(b, "</th>");
    }
    rp_rpt_buf_put(b, "</tr>\n");
    for (int k = 0; k < ng; k++) {
        rp_rpt_buf_put(b, "<tr><td class=\"l\">");
        rp_rpt_buf_escape(b, g[k]);
        rp_rpt_buf_put(b, "</td>");
        for (int m = 0; m < d->n_models; m++) {
            double s = 0;
            int n = 0;
            for (int c = 0; c < d->n_conds; c++)
                if (d->conds[c].kind == kind && !strcmp(d->conds[c].group, g[k]) && d->conds[c].row[m] >= 0 &&
                    isfinite(acc_of(d, d->conds[c].row[m])))
                    s += acc_of(d, d->conds[c].row[m]), n++;
            if (n) rp_rpt_buf_printf(b, "<td>%.2f</td>", 100 * s / n);
            else rp_rpt_buf_put(b, "<td>n/a</td>");
        }
        rp_rpt_buf_put(b, "</tr>\n");
    }
    rp_rpt_buf_put(b, "</table>");
}

void rp_rpt_plot_severity(rp_rpt_buf *b, const rp_rpt_data *d, rp_rpt_cond_kind kind)
{
    const char *g[MAX_GROUPS];
    int ng = groups_of(d, kind, NULL, g, NULL);
    if (!ng) return;
    const char *what = kind == RPT_NOISE ? "noise" : "corruptions";
    rp_rpt_buf_printf(b, "<h2 id=\"%s\">Accuracy against severity: %s</h2><p class=\"meta\">", what, what);
    for (int m = 0; m < d->n_models; m++) {
        rp_rpt_buf_printf(b, "%s<span style=\"color:%s\">&#9632;</span> ", m ? ", " : "", rp_rpt_svg_colour(m));
        rp_rpt_buf_escape(b, d->models[m].label);
    }
    rp_rpt_buf_put(b, ". Bars: 95% Wilson intervals.</p><div class=\"plots\">");
    for (int k = 0; k < ng; k++) {
        rp_rpt_buf_put(b, "<div>");
        severity_chart(b, d, kind, g[k]);
        rp_rpt_buf_put(b, "</div>");
    }
    rp_rpt_buf_put(b, "</div>");
    severity_means(b, d, kind, g, ng);
}

/* Whole epochs 1..xmax, at most 11 of them. */
static int epoch_ticks(double xmax, double *ticks)
{
    int last = xmax > 1 ? (xmax < 1e6 ? (int)xmax : 1000000) : 2, step = (last + 9) / 10, n = 0; /* no cast of a huge epoch */
    for (int e = 1; e <= last && n < 16; e += step) ticks[n++] = e;
    return n;
}

/* One training chart: field (and a second, dashed) per run against the epoch. */
static void train_chart(rp_rpt_buf *b, const rp_rpt_data *d, const char *title, const char *ylabel, const char *f1,
                        const char *f2, bool percent, bool events)
{
    static double x[RPT_MAX_TRAIN][512], y[2][RPT_MAX_TRAIN][512];
    rp_rpt_svg_series s[2 * RPT_MAX_TRAIN];
    double marks[64], ymax = percent ? 1 : 0, xmax = 1;
    int ns = 0, nm = 0;
    for (int t = 0; t < d->n_train; t++) {
        const rp_rpt_train *tr = &d->train[t];
        int colour = tr->model >= 0 ? tr->model : d->n_models + t;
        for (int i = 0; i < tr->n; i++) {
            const cJSON *j = d->rows[tr->rows[i]].j;
            x[t][i] = rp_rpt_num(j, "epoch"), y[0][t][i] = rp_rpt_num(j, f1), y[1][t][i] = f2 ? rp_rpt_num(j, f2) : NAN;
            for (int k = 0; k < 2; k++) ymax = isfinite(y[k][t][i]) ? fmax(ymax, y[k][t][i]) : ymax;
            xmax = fmax(xmax, x[t][i]);
        }
        for (int e = 0; events && e < tr->n_events && nm < 64; e++)
            if (!strcmp(rp_rpt_str(d->rows[tr->events[e]].j, "event", ""), "unfreeze"))
                marks[nm++] = rp_rpt_num(d->rows[tr->events[e]].j, "epoch") + 0.5;
        s[ns++] = (rp_rpt_svg_series){.name = tr->label, .x = x[t], .y = y[0][t], .n = tr->n, .colour = colour};
        if (f2) s[ns++] = (rp_rpt_svg_series){.name = tr->label, .x = x[t], .y = y[1][t], .n = tr->n, .colour = colour, .dash = 1};
    }
    double ticks[16];
    int nt = epoch_ticks(xmax, ticks);
    rp_rpt_svg_chart c = {.title = title, .xlabel = "epoch", .ylabel = ylabel, .width = 390, .height = 250, .x0 = 1,
                      .x1 = xmax > 1 ? xmax : 2, .y0 = 0, .y1 = ymax > 0 ? ymax * (percent ? 1 : 1.05) : 1,
                      .percent = percent, .marks = marks, .n_marks = nm, .mark_label = "layers unfrozen after epoch",
                      .xticks = ticks, .n_xticks = nt};
    rp_rpt_buf_put(b, "<div>");
    rp_rpt_svg_line_chart(b, &c, s, ns);
    rp_rpt_buf_put(b, "</div>");
}

static bool has_robust_check(const rp_rpt_data *d)
{
    for (int t = 0; t < d->n_train; t++)
        for (int e = 0; e < d->train[t].n_events; e++)
            if (!strcmp(rp_rpt_str(d->rows[d->train[t].events[e]].j, "event", ""), "robust_check")) return true;
    return false;
}

/* The catastrophic-overfitting watch: held-out PGD (solid) and FGSM (dashed) accuracy per epoch. */
static void watch_chart(rp_rpt_buf *b, const rp_rpt_data *d)
{
    static double x[RPT_MAX_TRAIN][128], y[2][RPT_MAX_TRAIN][128];
    rp_rpt_svg_series s[2 * RPT_MAX_TRAIN];
    int ns = 0;
    double xmax = 2;
    for (int t = 0; t < d->n_train; t++) {
        const rp_rpt_train *tr = &d->train[t];
        int n = 0;
        for (int e = 0; e < tr->n_events; e++) {
            const cJSON *j = d->rows[tr->events[e]].j;
            if (strcmp(rp_rpt_str(j, "event", ""), "robust_check")) continue;
            x[t][n] = rp_rpt_num(j, "epoch"), y[0][t][n] = rp_rpt_num(j, "pgd_accuracy"), y[1][t][n] = rp_rpt_num(j, "fgsm_accuracy");
            xmax = fmax(xmax, x[t][n++]);
        }
        if (!n) continue;
        int colour = tr->model >= 0 ? tr->model : d->n_models + t;
        s[ns++] = (rp_rpt_svg_series){.name = tr->label, .x = x[t], .y = y[0][t], .n = n, .colour = colour};
        s[ns++] = (rp_rpt_svg_series){.name = tr->label, .x = x[t], .y = y[1][t], .n = n, .colour = colour, .dash = 1};
    }
    double ticks[16];
    int nt = epoch_ticks(xmax, ticks);
    rp_rpt_svg_chart c = {.title = "Overfitting watch: PGD solid, FGSM dashed", .xlabel = "epoch",
                      .ylabel = "held-out accuracy", .width = 390, .height = 250, .x0 = 1, .x1 = xmax, .y0 = 0,
                      .y1 = 1, .percent = true, .xticks = ticks, .n_xticks = nt};
    rp_rpt_buf_put(b, "<div>");
    rp_rpt_svg_line_chart(b, &c, s, ns);
    rp_rpt_buf_put(b, "</div>");
}

static void train_table(rp_rpt_buf *b, const rp_rpt_data *d)
{
    rp_rpt_buf_put(b, "<table><tr><th class=\"l\">run</th><th class=\"l\">objective</th><th class=\"l\">recipe</th>"
                  "<th>epochs</th><th>final train loss</th><th>final test accuracy</th><th>seconds</th></tr>\n");
    for (int t = 0; t < d->n_train; t++) {
        const rp_rpt_train *tr = &d->train[t];
        const cJSON *last = d->rows[tr->rows[tr->n - 1]].j;
        double secs = 0;
        for (int i = 0; i < tr->n; i++) secs += rp_rpt_num(d->rows[tr->rows[i]].j, "seconds");
        rp_rpt_buf_printf(b, "<tr><td class=\"l\"><span style=\"color:%s\">&#9632;</span> ",
                      rp_rpt_svg_colour(tr->model >= 0 ? tr->model : d->n_models + t));
        rp_rpt_buf_escape(b, tr->label);
        rp_rpt_buf_put(b, "</td><td class=\"l\">");
        rp_rpt_buf_escape(b, rp_rpt_str(last, "objective", "?"));
        rp_rpt_buf_put(b, "</td><td class=\"l\">");
        rp_rpt_buf_escape(b, rp_rpt_str(last, "recipe", "?"));
        rp_rpt_buf_printf(b, "</td><td>%d</td><td>%.4f</td><td>%.2f</td><td>%.1f</td></tr>\n", tr->n, rp_rpt_num(last, "loss"),
                      100 * rp_rpt_num(last, "test_accuracy"), secs);
    }
    rp_rpt_buf_put(b, "</table>");
}

void rp_rpt_plot_training(rp_rpt_buf *b, const rp_rpt_data *d)
{
    int runs = 0;
    for (int t = 0; t < d->n_train; t++) runs += d->train[t].n > 0;
    if (!runs) return;
    rp_rpt_buf_put(b, "<h2 id=\"training\">Training</h2><div class=\"plots\">");
    train_chart(b, d, "Loss (train solid, test dashed)", "loss", "loss", "test_loss", false, true);
    train_chart(b, d, "Accuracy (train solid, test dashed)", "accuracy", "train_accuracy", "test_accuracy", true, true);
    train_chart(b, d, "Learning rate (start of epoch)", "learning rate", "lr", NULL, false, false);
    if (has_robust_check(d)) watch_chart(b, d);
    rp_rpt_buf_put(b, "</div>");
    train_table(b, d);
    rp_rpt_buf_put(b, "<p class=\"meta\">Dotted vertical lines: layers unfrozen (fine-tuning). Training time excludes the "
                  "test pass after each epoch.</p>\n");
}

/* ---- pictures ------------------------------------------------------------------------------- */

enum { PICTURES_PER_FOLDER = 12, PICTURE_BYTES = 1300000 };

/* Adversarial panels first, then attack grids, then the rest, each by name. */
static int rank(const char *s) { return !strncmp(s, "adv_", 4) ? 0 : !strcmp(s, "grid.png") ? 1 : 2; }
static int cmp_str(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    return rank(x) != rank(y) ? rank(x) - rank(y) : strcmp(x, y);
}

/* Panels worth showing: adversarial panels, method panels and attack grids (not the overlays). */
static bool wanted(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && !strcmp(name + n - 4, ".png") && !strstr(name, "_overlay");
}

static bool embed_png(rp_rpt_buf *b, const char *path, size_t *budget)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    unsigned char *data = NULL;
    size_t n = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (len > 8 && (size_t)len * 4 / 3 + 8 <= *budget && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)len)))
            n = fread(data, 1, (size_t)len, f);
    }
    fclose(f);
    static const unsigned char SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    char *b64 = n > 8 && !memcmp(data, SIG, 8) ? rp_base64_encode(data, n) : NULL;
    free(data);
    if (!b64) return false;
    rp_rpt_buf_put(b, "<img alt=\"\" src=\"data:image/png;base64,");
    rp_rpt_buf_put(b, b64);
    rp_rpt_buf_put(b, "\">");
    *budget -= strlen(b64);
    free(b64);
    return true;
}

static int folder(rp_rpt_buf *b, rp_ctx *ctx, const char *dir, size_t *budget)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        rp_fail(ctx, RP_ERR_IO, "%s: no such folder (--explain)", dir);
        return -1;
    }
    char *names[512];
    int n = 0, shown = 0;
    struct dirent *e;
    while ((e = readdir(dp)) && n < 512)
        if (wanted(e->d_name) && (names[n] = strdup(e->d_name))) n++;
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    rp_rpt_buf_put(b, "<h3>");
    rp_rpt_buf_escape(b, dir);
    rp_rpt_buf_put(b, "</h3><div class=\"plots\">");
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (shown < PICTURES_PER_FOLDER) {
            rp_rpt_buf_put(b, "<figure>");
            if (embed_png(b, path, budget)) {
                rp_rpt_buf_put(b, "<figcaption>");
                rp_rpt_buf_escape(b, names[i]);
                rp_rpt_buf_put(b, "</figcaption>");
                shown++;
            }
            rp_rpt_buf_put(b, "</figure>");
        }
        free(names[i]);
    }
    rp_rpt_buf_put(b, "</div>");
    if (shown < n) rp_rpt_buf_printf(b, "<p class=\"meta\">%d more picture%s in the folder, not embedded (size).</p>",
                                 n - shown, n - shown == 1 ? "" : "s");
    return 0;
}

int rp_rpt_pictures(rp_rpt_buf *b, const rp_rpt_data *d)
{
    if (!d->n_explain) return 0;
    rp_rpt_buf_put(b, "<h2 id=\"pictures\">Adversarial examples and explanations</h2><p class=\"meta\">The panels "
                  "<code>rampart explain</code> and <code>rampart attack</code> wrote (each panel's text names the "
                  "image, label, prediction and method).</p>");
    size_t budget = PICTURE_BYTES;
    for (int i = 0; i < d->n_explain; i++)
        if (folder(b, d->ctx, d->explain[i], &budget) != 0) return -1;
    return 0;
}
