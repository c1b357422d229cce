/* Fuzz the report (rp_report_write_rows, src/report/): the JSON-lines reader (report_read.c,
 * report_model.c) and the page it builds from the rows (report_html.c, report_plots.c). The
 * bytes after the first are one file of rows, read strictly or skipping bad lines (the first
 * byte's low bit), checked for one test set, indexed into models, conditions and training runs,
 * and rendered to HTML in memory. Problems are statuses with a message in the context: the
 * library prints nothing. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "rampart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static rp_ctx *ctx;
    if (!ctx && !(ctx = rp_ctx_create(1))) abort(); /* the machine's fault, not a finding */
    rp_report_options o = rp_report_defaults();
    o.skip_bad = data[0] & 1, o.bootstrap = 20, o.seed = 1;
    char *html = NULL;
    size_t len = 0;
    (void)rp_report_write_rows(ctx, "fuzz.jsonl", (const char *)data + 1, size - 1, &o, NULL, &html, &len, NULL);
    free(html);
    return 0;
}
