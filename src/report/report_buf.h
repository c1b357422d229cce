/* A growing text buffer for the HTML report: printf-style appends and HTML escaping. An
 * allocation failure sets failed and drops further appends; the owner checks it once at the
 * end. */
#ifndef RP_REPORT_REPORT_BUF_H
#define RP_REPORT_REPORT_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rp_rpt_buf {
    char *s;     /* NUL-terminated; owned */
    size_t len, cap;
    bool failed; /* out of memory at some append */
} rp_rpt_buf;

void rp_rpt_buf_free(rp_rpt_buf *b);
void rp_rpt_buf_put(rp_rpt_buf *b, const char *s);
void rp_rpt_buf_putn(rp_rpt_buf *b, const char *s, size_t n);
void rp_rpt_buf_printf(rp_rpt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s with & < > " ' replaced by entities: safe as element text and inside a quoted attribute. */
void rp_rpt_buf_escape(rp_rpt_buf *b, const char *s);

#endif
