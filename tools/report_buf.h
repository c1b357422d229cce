/* A growing text buffer for the HTML report: printf-style appends and HTML escaping. An
 * allocation failure sets failed and drops further appends; the owner checks it once at the
 * end. */
#ifndef RP_TOOLS_REPORT_BUF_H
#define RP_TOOLS_REPORT_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rpt_buf {
    char *s;     /* NUL-terminated; owned */
    size_t len, cap;
    bool failed; /* out of memory at some append */
} rpt_buf;

void rpt_buf_free(rpt_buf *b);
void rpt_buf_put(rpt_buf *b, const char *s);
void rpt_buf_putn(rpt_buf *b, const char *s, size_t n);
void rpt_buf_printf(rpt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s with & < > " ' replaced by entities: safe as element text and inside a quoted attribute. */
void rpt_buf_escape(rpt_buf *b, const char *s);

#endif
