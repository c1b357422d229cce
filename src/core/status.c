#include "core/status.h"

#include <stdarg.h>
#include <string.h>

rp_status rp_fail(rp_ctx *ctx, rp_status code, const char *fmt, ...)
{
    if (ctx && !fmt) snprintf(ctx->msg, sizeof ctx->msg, "(no message)");
    if (ctx && fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

rp_ctx *rp_ctx_create(int threads)
{
    rp_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx) ctx->threads = threads > 0 ? threads : 1;
    return ctx;
}

void rp_ctx_destroy(rp_ctx *ctx) { free(ctx); }

const char *rp_ctx_error(const rp_ctx *ctx) { return ctx && ctx->msg[0] ? ctx->msg : "no error"; }

int rp_ctx_threads(const rp_ctx *ctx) { return ctx ? ctx->threads : 1; }

const char *rp_status_name(rp_status s)
{
    switch (s) {
    case RP_OK: return "ok";
    case RP_ERR_IO: return "i/o error";
    case RP_ERR_FORMAT: return "bad file format";
    case RP_ERR_SHAPE: return "shape mismatch";
    case RP_ERR_ARG: return "invalid argument";
    case RP_ERR_NOMEM: return "out of memory";
    case RP_ERR_NUMERIC: return "non-finite value";
    case RP_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

#ifndef RP_VERSION_STRING
#define RP_VERSION_STRING "unknown"
#endif
const char *rp_version(void) { return RP_VERSION_STRING; }
