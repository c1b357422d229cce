/* Fuzz the JSON-lines reader of `rampart report` (tools/report_read.c, report_model.c) and the
 * page it builds from the rows (report_html.c, report_plots.c): the bytes as one file of rows,
 * read strictly or skipping bad lines (the first byte's low bit), then checked for one test set,
 * indexed into models, conditions and training runs, and rendered to HTML in memory. The
 * reader's messages (fprintf to stderr) go to /dev/null: glibc lets the stderr stream be
 * replaced, while the sanitizers' reports still reach file descriptor 2. */
#include <stdio.h>

#include "fuzz_util.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    bool skip_bad = data[0] & 1;
    FILE *f = fmemopen((void *)(data + 1), size - 1, "r");
    if (!f) return 0;
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    FILE *saved = stderr;
    if (null) stderr = null;
    rpt_data d = {0};
    if (rpt_read(&d, "fuzz.jsonl", f, skip_bad) == 0 && rpt_check_test_set(&d, skip_bad) == 0 &&
        rpt_index(&d) == 0) {
        rpt_buf b = {0};
        rpt_opts o = {.out = "fuzz.html", .skip_bad = skip_bad, .bootstrap = 20, .seed = 1};
        (void)rpt_page(&b, &d, &o);
        rpt_buf_free(&b);
    }
    rpt_free(&d);
    fclose(f);
    stderr = saved;
    return 0;
}
