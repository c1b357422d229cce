/* rampart report: the JSON lines of train, eval, attack and explain as one self-contained
 * HTML page (docs/report.md): no scripts, no external resources (a Content-Security-Policy of
 * default-src 'none' says so to the browser), plots as inline SVG, pictures as data: URIs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_report.h"
#include "rampart.h"

/* rp_report_options.skipped: each problem --skip-bad leaves out, on stderr as it is met. */
static void print_skipped(void *arg, const char *problem)
{
    (void)arg;
    fprintf(stderr, "rampart report: skipped: %s\n", problem);
}

/* The status of a report as the command's exit code, its message or the page's summary on stderr. */
static int report_done(rp_ctx *ctx, rp_status s, const char *out, const rp_report_summary *sum)
{
    if (s != RP_OK) {
        fprintf(stderr, "rampart report: %s\n", rp_ctx_error(ctx));
        return CLI_EXIT_FAIL;
    }
    fprintf(stderr, "rampart report: wrote %s (%.1f kB; %d models, %d conditions, %d training runs)\n", out,
            sum->bytes / 1000.0, sum->n_models, sum->n_conditions, sum->n_training_runs);
    return CLI_EXIT_OK;
}

int report_from_stream(const char *name, FILE *f, const char *out)
{
    rp_ctx *ctx = rp_ctx_create(1);
    char *rows = NULL;
    size_t len = 0, cap = 0, got = 0;
    bool ok = ctx != NULL;
    do { /* the whole stream into rows */
        if (ok && len + 65536 > cap) {
            char *r = realloc(rows, cap = 2 * cap + 65536);
            if (!r) ok = false;
            else rows = r;
        }
        got = ok ? fread(rows + len, 1, cap - len, f) : 0;
        len += got;
    } while (ok && got > 0);
    int rc = CLI_EXIT_FAIL;
    if (!ok || ferror(f)) fprintf(stderr, "rampart report: %s: cannot read the rows (out of memory?)\n", name);
    else {
        rp_report_summary sum;
        rp_status s = rp_report_write_rows(ctx, name, rows, len, NULL, out, NULL, NULL, &sum);
        rc = report_done(ctx, s, out, &sum);
    }
    free(rows);
    rp_ctx_destroy(ctx);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    const char *out = NULL;
    bool skip_bad = false;
    cli_list explain = {0};
    int bootstrap = 0, seed = 0;
    cli_flag flags[] = {
        {"--out", CLI_STRING, &out, NULL, "the HTML file to write"},
        {"--explain", CLI_LIST, &explain, NULL, "folders written by rampart explain or rampart attack: their panels "
         "are embedded (up to 12 a folder, 1.3 MB in all)"},
        {"--skip-bad", CLI_BOOL, &skip_bad, "false", "leave out bad lines and rows of another test set (each named "
         "on stderr and on the page) instead of failing"},
        {"--bootstrap", CLI_INT, &bootstrap, "1000", "bootstrap resamples for intervals of means over conditions"},
        {"--seed", CLI_INT, &seed, "0", "seed of the bootstrap"},
    };
    const int n_flags = (int)(sizeof flags / sizeof flags[0]);
    char **opts = malloc((size_t)(argc + 1) * sizeof *opts), **files = malloc((size_t)(argc + 1) * sizeof *files);
    int n_opts = 0, n_files = 0, rc = CLI_EXIT_USAGE;
    for (int a = 0; opts && files && a < argc; a++) { /* files: arguments that are neither options nor values */
        if (argv[a][0] != '-' || !argv[a][1]) {
            files[n_files++] = argv[a];
            continue;
        }
        opts[n_opts++] = argv[a];
        for (int i = 0; i < n_flags; i++)
            if (!strcmp(argv[a], flags[i].name) && flags[i].type != CLI_BOOL && a + 1 < argc) opts[n_opts++] = argv[++a];
    }
    int p = opts && files ? cli_parse("report", "One self-contained HTML page from JSON lines: rampart report "
                                      "FILE.jsonl... [--explain DIR...] --out report.html", flags, n_flags, n_opts, opts)
                          : -1;
    if (p > 0) rc = CLI_EXIT_OK;
    else if (p == 0 && (!out || n_files == 0 || bootstrap < 2))
        fprintf(stderr, "rampart report: give at least one FILE.jsonl and --out FILE.html (--bootstrap >= 2)\n");
    else if (p == 0) {
        rp_report_options o = rp_report_defaults();
        o.skip_bad = skip_bad, o.bootstrap = bootstrap, o.seed = (uint64_t)seed;
        o.explain_dirs = (const char *const *)explain.items, o.n_explain_dirs = explain.n;
        o.skipped = print_skipped;
        rp_ctx *ctx = rp_ctx_create(1);
        rp_report_summary sum;
        rc = ctx ? report_done(ctx, rp_report_write(ctx, (const char *const *)files, n_files, &o, out, &sum), out, &sum)
                 : CLI_EXIT_FAIL;
        rp_ctx_destroy(ctx);
    }
    free(opts), free(files);
    return rc;
}
