/* See report_buf.h. */
#include "report_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(rp_rpt_buf *b, size_t more)
{
    if (b->failed) return false;
    if (b->len + more + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = true;
        return false;
    }
    b->s = s, b->cap = cap;
    return true;
}

void rp_rpt_buf_free(rp_rpt_buf *b)
{
    free(b->s);
    *b = (rp_rpt_buf){0};
}

void rp_rpt_buf_putn(rp_rpt_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void rp_rpt_buf_put(rp_rpt_buf *b, const char *s) { rp_rpt_buf_putn(b, s, strlen(s)); }

void rp_rpt_buf_printf(rp_rpt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void rp_rpt_buf_escape(rp_rpt_buf *b, const char *s)
{
    for (const char *p = s; p && *p; p++) {
        switch (*p) {
        case '&': rp_rpt_buf_put(b, "&amp;"); break;
        case '<': rp_rpt_buf_put(b, "&lt;"); break;
        case '>': rp_rpt_buf_put(b, "&gt;"); break;
        case '"': rp_rpt_buf_put(b, "&quot;"); break;
        case '\'': rp_rpt_buf_put(b, "&#39;"); break;
        default: rp_rpt_buf_putn(b, p, 1);
        }
    }
}
