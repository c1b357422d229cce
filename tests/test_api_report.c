/* The public report (include/rampart.h, src/report/): a page made from a small JSON-lines file
 * written here holds the model's row and condition, and so does the page made in memory from
 * the same rows; bad arguments and bad input (NULL context, inputs or page, no inputs, a missing
 * file, a malformed line, a row of another test set) are statuses with a message naming the
 * file and line, never an abort, and a page already at the out path is left as it was;
 * skip_bad passes each problem to the callback and still makes the page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Two models evaluated clean on the same 8 test images (bitmaps agree with the accuracies). */
#define ROW(model, acc, b64)                                                                                  \
    "{\"rampart_schema\":1,\"kind\":\"eval\",\"run\":\"r1\",\"model\":\"/m/" model ".safetensors\","          \
    "\"model_sha256\":\"" model "\",\"condition\":\"clean\",\"n\":8,\"accuracy\":" acc ",\"correct_b64\":\"" b64 \
    "\",\"test_sha256\":\"abc\",\"test_n\":8,\"data\":\"fashion-mnist\"}\n"
static const char ROWS[] = ROW("alpha", "0.75", "Pw==") ROW("beta", "0.5", "Dw==");
static const char OTHER_SET[] = "{\"rampart_schema\":1,\"kind\":\"eval\",\"run\":\"r2\",\"model\":\"/m/gamma.safetensors\","
                                "\"condition\":\"clean\",\"n\":8,\"accuracy\":0.5,\"test_sha256\":\"def\",\"test_n\":8,"
                                "\"data\":\"mnist\"}\n";

static char *path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/api_report_%s", tu_tmpdir(), name);
    return buf;
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *s = malloc((size_t)len + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
    s[len] = '\0';
    fclose(f);
    if (n) *n = (size_t)len;
    return s;
}

static void test_report_page(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char in[512], out[512];
    tu_write_file(path_of(in, sizeof in, "good.jsonl"), ROWS, strlen(ROWS));
    path_of(out, sizeof out, "good.html");
    remove(out);
    const char *inputs[] = {in};
    rp_report_summary sum = {0};
    rp_report_options o = rp_report_defaults();
    assert_int_equal(o.bootstrap, 1000);
    tu_expect_status(rp_report_write(ctx, inputs, 1, &o, out, &sum), RP_OK, ctx, NULL);
    assert_int_equal(sum.n_models, 2);
    assert_int_equal(sum.n_conditions, 1);
    assert_int_equal(sum.n_training_runs, 0);
    assert_int_equal(sum.n_skipped, 0);
    size_t n = 0;
    char *page = read_all(out, &n);
    assert_non_null(page);
    assert_int_equal(n, sum.bytes);
    assert_non_null(strstr(page, "<title>rampart report</title>"));
    assert_non_null(strstr(page, "id=\"summary\""));
    assert_non_null(strstr(page, "<b>alpha</b>")); /* each model named, its row in the summary */
    assert_non_null(strstr(page, "<b>beta</b>"));
    assert_non_null(strstr(page, "75.0"));
    assert_non_null(strstr(page, "</body></html>\n"));
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    assert_null(fopen(tmp, "r")); /* renamed into place */

    /* the same rows from memory, the page into memory: the same page but for the minute it names */
    char *html = NULL;
    size_t len = 0;
    tu_expect_status(rp_report_write_rows(ctx, in, ROWS, strlen(ROWS), NULL, NULL, &html, &len, NULL), RP_OK, ctx,
                     NULL);

    assert_non_null(html);
    assert_int_equal(strlen(html), len);
    assert_true(len > n - 8 && len < n + 8);
    assert_non_null(strstr(html, "<b>alpha</b>"));
    free(html);
    free(page);
    rp_ctx_destroy(ctx);
}

/* A failed call: the status, a message holding want, and out as it was ("OLD PAGE"). */
static void expect_fail(rp_ctx *ctx, rp_status got, rp_status want, const char *want_msg, const char *out)
{
    assert_int_equal(got, want);
    if (!strstr(rp_ctx_error(ctx), want_msg)) fail_msg("message '%s' lacks '%s'", rp_ctx_error(ctx), want_msg);
    char *page = read_all(out, NULL);
    assert_non_null(page);
    assert_string_equal(page, "OLD PAGE");
    free(page);
}

static void test_report_errors(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char good[512], bad[512], other[512], missing[512], out[512];
    tu_write_file(path_of(good, sizeof good, "ok.jsonl"), ROWS, strlen(ROWS));
    char text[2048];
    snprintf(text, sizeof text, "%s\n{\"rampart_schema\":1,\"kind\":\"eval\",", ROWS); /* line 4: cut short */
    tu_write_file(path_of(bad, sizeof bad, "bad.jsonl"), text, strlen(text));
    tu_write_file(path_of(other, sizeof other, "other.jsonl"), OTHER_SET, strlen(OTHER_SET));
    path_of(missing, sizeof missing, "nope.jsonl");
    remove(missing);
    tu_write_file(path_of(out, sizeof out, "kept.html"), "OLD PAGE", 8);
    const char *one[] = {good}, *with_null[] = {good, NULL}, *broken[] = {good, bad}, *absent[] = {missing},
               *two_sets[] = {good, other};

    assert_int_equal(rp_report_write(NULL, one, 1, NULL, out, NULL), RP_ERR_ARG);
    expect_fail(ctx, rp_report_write(ctx, NULL, 1, NULL, out, NULL), RP_ERR_ARG, "input", out);
    expect_fail(ctx, rp_report_write(ctx, one, 0, NULL, out, NULL), RP_ERR_ARG, "input", out);
    expect_fail(ctx, rp_report_write(ctx, with_null, 2, NULL, out, NULL), RP_ERR_ARG, "input 1 is NULL", out);
    assert_int_equal(rp_report_write(ctx, one, 1, NULL, NULL, NULL), RP_ERR_ARG);
    rp_report_options o = rp_report_defaults();
    o.bootstrap = 1;
    expect_fail(ctx, rp_report_write(ctx, one, 1, &o, out, NULL), RP_ERR_ARG, "bootstrap", out);
    o = rp_report_defaults();
    o.n_explain_dirs = 1;
    expect_fail(ctx, rp_report_write(ctx, one, 1, &o, out, NULL), RP_ERR_ARG, "explain", out);

    char want[600];
    snprintf(want, sizeof want, "%s: cannot open", missing);
    expect_fail(ctx, rp_report_write(ctx, absent, 1, NULL, out, NULL), RP_ERR_IO, want, out);
    snprintf(want, sizeof want, "%s:4: not a JSON object", bad);
    expect_fail(ctx, rp_report_write(ctx, broken, 2, NULL, out, NULL), RP_ERR_FORMAT, want, out);
    snprintf(want, sizeof want, "%s:1: a row of another test set", other);
    expect_fail(ctx, rp_report_write(ctx, two_sets, 2, NULL, out, NULL), RP_ERR_FORMAT, want, out);
    const char *dirs[] = {"/nonexistent/rampart-folder"};
    o = rp_report_defaults();
    o.explain_dirs = dirs, o.n_explain_dirs = 1;
    expect_fail(ctx, rp_report_write(ctx, one, 1, &o, out, NULL), RP_ERR_IO, "rampart-folder: no such folder", out);

    /* rows in memory: the name in the message; empty rows; no page asked for */
    char *html = (char *)"unset";
    size_t len = 7;
    expect_fail(ctx, rp_report_write_rows(ctx, "mem", text, strlen(text), NULL, out, &html, &len, NULL),
                RP_ERR_FORMAT, "mem:4: not a JSON object", out);
    assert_null(html);
    assert_int_equal(len, 0);
    expect_fail(ctx, rp_report_write_rows(ctx, "mem", "", 0, NULL, out, NULL, NULL, NULL), RP_ERR_FORMAT,
                "mem: empty: no JSON lines", out);
    expect_fail(ctx, rp_report_write_rows(ctx, "mem", ROWS, strlen(ROWS), NULL, NULL, NULL, NULL, NULL), RP_ERR_ARG,
                "report", out);
    expect_fail(ctx, rp_report_write_rows(ctx, NULL, ROWS, strlen(ROWS), NULL, out, NULL, NULL, NULL), RP_ERR_ARG,
                "report", out);
    expect_fail(ctx, rp_report_write_rows(ctx, "mem", NULL, 3, NULL, out, NULL, NULL, NULL), RP_ERR_ARG, "report",
                out);
    const char *no_rows = "{\"rampart_schema\":1,\"kind\":\"run\",\"run\":\"r\",\"command\":\"eval\"}\n";
    expect_fail(ctx, rp_report_write_rows(ctx, "mem", no_rows, strlen(no_rows), NULL, out, NULL, NULL, NULL),
                RP_ERR_FORMAT, "no eval or train rows to report", out);
    rp_ctx_destroy(ctx);
}

typedef struct seen {
    int n;
    char first[256];
} seen;

static void on_skipped(void *arg, const char *problem)
{
    seen *s = arg;
    if (s->n++ == 0) snprintf(s->first, sizeof s->first, "%s", problem);
}

static void test_report_skip_bad(void **state)
{
    (void)state;
    rp_ctx *ctx = rp_ctx_create(1);
    char text[2048], out[512];
    snprintf(text, sizeof text, "%s{\"rampart_schema\":1,\n%s", ROWS, OTHER_SET); /* line 3 cut, 4 another set */
    path_of(out, sizeof out, "skip.html");
    seen s = {0};
    rp_report_options o = rp_report_defaults();
    o.skip_bad = true, o.skipped = on_skipped, o.skipped_arg = &s;
    rp_report_summary sum = {0};
    rp_status st = rp_report_write_rows(ctx, "mem.jsonl", text, strlen(text), &o, out, NULL, NULL, &sum);
    tu_expect_status(st, RP_OK, ctx, NULL); /* skip_bad renders the rest */

    assert_int_equal(s.n, 2);
    assert_int_equal(sum.n_skipped, 2);
    assert_int_equal(sum.n_models, 2);
    assert_non_null(strstr(s.first, "mem.jsonl:3: not a JSON object"));
    char *page = read_all(out, NULL);
    assert_non_null(page);
    assert_non_null(strstr(page, "2 input problems skipped"));
    assert_non_null(strstr(page, "mem.jsonl:4: a row of another test set"));
    free(page);
    rp_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_page),
        cmocka_unit_test(test_report_errors),
        cmocka_unit_test(test_report_skip_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
