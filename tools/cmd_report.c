/* rampart report: the JSON lines of train, eval, attack and explain as one self-contained
 * HTML page (docs/report.md): no scripts, no external resources (a Content-Security-Policy of
 * default-src 'none' says so to the browser), plots as inline SVG, pictures as data: URIs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "report.h"

/* Write b to path through path.tmp and a rename, so a failed run leaves no half page. */
static int write_page(const char *path, const rpt_buf *b)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(b->s, 1, b->len, f) == b->len;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        fprintf(stderr, "rampart report: %s: cannot write: %s\n", path, strerror(errno));
        remove(tmp);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* The page from d (rows read) into o->out. */
static int finish(rpt_data *d, const rpt_opts *o)
{
    for (int i = 0; i < o->n_explain; i++) {
        struct stat st;
        if (stat(o->explain[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "rampart report: %s: no such folder (--explain)\n", o->explain[i]);
            return CLI_EXIT_FAIL;
        }
    }
    d->explain = o->explain, d->n_explain = o->n_explain;
    if (rpt_check_test_set(d, o->skip_bad) != 0 || rpt_index(d) != 0) return CLI_EXIT_FAIL;
    if (d->n_models == 0 && d->n_train == 0) {
        fprintf(stderr, "rampart report: no eval or train rows to report\n");
        return CLI_EXIT_FAIL;
    }
    rpt_buf b = {0};
    int rc = rpt_page(&b, d, o) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (rc == CLI_EXIT_OK && b.failed) {
        fprintf(stderr, "rampart report: out of memory\n");
        rc = CLI_EXIT_FAIL;
    }
    if (rc == CLI_EXIT_OK) rc = write_page(o->out, &b);
    if (rc == CLI_EXIT_OK)
        fprintf(stderr, "rampart report: wrote %s (%.1f kB; %d models, %d conditions, %d training runs)\n", o->out,
                b.len / 1000.0, d->n_models, d->n_conds, d->n_train);
    rpt_buf_free(&b);
    return rc;
}

int report_from_stream(const char *name, FILE *f, const char *out)
{
    rpt_data d = {0};
    rpt_opts o = {.out = out, .bootstrap = 1000};
    int rc = rpt_read(&d, name, f, false) == 0 ? finish(&d, &o) : CLI_EXIT_FAIL;
    rpt_free(&d);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    rpt_opts o = {0};
    cli_list explain = {0};
    int bootstrap = 0, seed = 0;
    cli_flag flags[] = {
        {"--out", CLI_STRING, &o.out, NULL, "the HTML file to write"},
        {"--explain", CLI_LIST, &explain, NULL, "folders written by rampart explain or rampart attack: their panels "
         "are embedded (up to 12 a folder, 1.3 MB in all)"},
        {"--skip-bad", CLI_BOOL, &o.skip_bad, "false", "leave out bad lines and rows of another test set (each named "
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
    else if (p == 0 && (!o.out || n_files == 0 || bootstrap < 2))
        fprintf(stderr, "rampart report: give at least one FILE.jsonl and --out FILE.html (--bootstrap >= 2)\n");
    else if (p == 0) {
        o.bootstrap = bootstrap, o.seed = (unsigned long long)seed;
        o.explain = explain.items, o.n_explain = explain.n;
        rpt_data d = {0};
        rc = CLI_EXIT_OK;
        for (int i = 0; i < n_files && rc == CLI_EXIT_OK; i++) {
            FILE *f = fopen(files[i], "r");
            if (!f) {
                fprintf(stderr, "rampart report: %s: cannot open: %s\n", files[i], strerror(errno));
                rc = CLI_EXIT_FAIL;
            } else {
                if (rpt_read(&d, files[i], f, o.skip_bad) != 0) rc = CLI_EXIT_FAIL;
                fclose(f);
            }
        }
        if (rc == CLI_EXIT_OK) rc = finish(&d, &o);
        rpt_free(&d);
    }
    free(opts), free(files);
    return rc;
}
