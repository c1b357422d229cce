/* The report's public entry (rp_report_write, rp_report_write_rows; rampart.h): the arguments,
 * the rows read, the page built (report_html.c) and written to its file atomically
 * (io/atomic_file.h), so a failure leaves no half page and an earlier page as it was. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "report.h"

rp_report_options rp_report_defaults(void)
{
    return (rp_report_options){.bootstrap = 1000};
}

static rp_status check_options(rp_ctx *ctx, const rp_report_options *o)
{
    if (o->bootstrap < 2) return rp_fail(ctx, RP_ERR_ARG, "report: bootstrap %d < 2", o->bootstrap);
    if (o->n_explain_dirs < 0 || (o->n_explain_dirs > 0 && !o->explain_dirs))
        return rp_fail(ctx, RP_ERR_ARG, "report: %d explain folders but no list", o->n_explain_dirs);
    for (int i = 0; i < o->n_explain_dirs; i++)
        if (!o->explain_dirs[i]) return rp_fail(ctx, RP_ERR_ARG, "report: explain folder %d is NULL", i);
    return RP_OK;
}

static void start(rp_rpt_data *d, rp_ctx *ctx, const rp_report_options *o)
{
    *d = (rp_rpt_data){.ctx = ctx, .on_skipped = o->skipped, .on_skipped_arg = o->skipped_arg};
}

/* Write b to path atomically (io/atomic_file.h). */
static rp_status write_page(rp_ctx *ctx, const char *path, const rp_rpt_buf *b)
{
    rp_atomic_file af;
    RP_TRY(rp_atomic_open(ctx, &af, path));
    return rp_atomic_commit(ctx, &af, fwrite(b->s, 1, b->len, af.fp) == b->len);
}

/* The page from d (rows read) into out_html and/or *html. */
static rp_status finish(rp_rpt_data *d, const rp_report_options *o, const char *out_html, char **html,
                        size_t *html_len, rp_report_summary *summary)
{
    for (int i = 0; i < o->n_explain_dirs; i++) {
        struct stat st;
        if (stat(o->explain_dirs[i], &st) != 0 || !S_ISDIR(st.st_mode))
            return rp_fail(d->ctx, RP_ERR_IO, "%s: no such folder (--explain)", o->explain_dirs[i]);
    }
    d->explain = o->explain_dirs, d->n_explain = o->n_explain_dirs;
    RP_TRY(rp_rpt_check_test_set(d, o->skip_bad));
    RP_TRY(rp_rpt_index(d));
    if (d->n_models == 0 && d->n_train == 0) return rp_fail(d->ctx, RP_ERR_FORMAT, "no eval or train rows to report");
    rp_rpt_opts ro = {.skip_bad = o->skip_bad, .bootstrap = o->bootstrap, .seed = (unsigned long long)o->seed,
                      .explain = o->explain_dirs, .n_explain = o->n_explain_dirs};
    rp_rpt_buf b = {0};
    rp_status s = rp_rpt_page(&b, d, &ro) == 0 ? RP_OK : RP_ERR_IO;
    if (s == RP_OK && (b.failed || !b.s)) s = rp_fail(d->ctx, RP_ERR_NOMEM, "out of memory");
    if (s == RP_OK && out_html) s = write_page(d->ctx, out_html, &b);
    if (s == RP_OK && summary)
        *summary = (rp_report_summary){.bytes = b.len, .n_models = d->n_models, .n_conditions = d->n_conds,
                                       .n_training_runs = d->n_train, .n_skipped = d->n_skipped};
    if (s == RP_OK && html) {
        *html = b.s, *html_len = b.len;
        b = (rp_rpt_buf){0};
    }
    rp_rpt_buf_free(&b);
    return s;
}

rp_status rp_report_write(rp_ctx *ctx, const char *const *inputs, int n_inputs, const rp_report_options *opts,
                          const char *out_html, rp_report_summary *summary)
{
    rp_report_options o = opts ? *opts : rp_report_defaults();
    if (!ctx) return RP_ERR_ARG;
    if (!inputs || n_inputs < 1 || !out_html)
        return rp_fail(ctx, RP_ERR_ARG, "report: give at least one input file and the page's file");
    for (int i = 0; i < n_inputs; i++)
        if (!inputs[i]) return rp_fail(ctx, RP_ERR_ARG, "report: input %d is NULL", i);
    RP_TRY(check_options(ctx, &o));
    rp_rpt_data d;
    start(&d, ctx, &o);
    rp_status s = RP_OK;
    for (int i = 0; i < n_inputs && s == RP_OK; i++) {
        FILE *f = fopen(inputs[i], "r");
        if (!f) s = rp_fail(ctx, RP_ERR_IO, "%s: cannot open: %s", inputs[i], strerror(errno));
        else {
            s = rp_rpt_read(&d, inputs[i], f, o.skip_bad);
            fclose(f);
        }
    }
    if (s == RP_OK) s = finish(&d, &o, out_html, NULL, NULL, summary);
    rp_rpt_free(&d);
    return s;
}

rp_status rp_report_write_rows(rp_ctx *ctx, const char *name, const char *rows, size_t len,
                               const rp_report_options *opts, const char *out_html, char **html, size_t *html_len,
                               rp_report_summary *summary)
{
    rp_report_options o = opts ? *opts : rp_report_defaults();
    if (!ctx) return RP_ERR_ARG;
    if (!name || (!rows && len > 0) || (!out_html && !html) || (html && !html_len))
        return rp_fail(ctx, RP_ERR_ARG, "report: the rows need a name, and the page a file or html and html_len");
    RP_TRY(check_options(ctx, &o));
    if (html) *html = NULL, *html_len = 0;
    /* fmemopen wants a buffer of one byte or more: no rows read as one blank line */
    FILE *f = len > 0 ? fmemopen((void *)rows, len, "r") : fmemopen((void *)"\n", 1, "r");
    if (!f) return rp_fail(ctx, RP_ERR_NOMEM, "%s: cannot read the rows: %s", name, strerror(errno));
    rp_rpt_data d;
    start(&d, ctx, &o);
    rp_status s = rp_rpt_read(&d, name, f, o.skip_bad);
    fclose(f);
    if (s == RP_OK) s = finish(&d, &o, out_html, html, html_len, summary);
    rp_rpt_free(&d);
    return s;
}
