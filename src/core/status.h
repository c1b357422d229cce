/* Errors: status codes for the world's faults, asserts for our own bugs.
 * A library function that can fail returns rp_status and, on failure, leaves a
 * message naming what and where in its rp_ctx. The library never prints or exits. */
#ifndef RP_CORE_STATUS_H
#define RP_CORE_STATUS_H

#include <stdio.h>
#include <stdlib.h>

#include "rampart.h"

struct rp_ctx {
    char msg[1024]; /* last error message, "" when none */
    int threads;    /* OpenMP/OpenBLAS threads the caller asked for */
};

/* rp_fail (record a formatted error in ctx, which may be NULL, and return code) is public:
 * rampart.h. */

/* Our own bugs: report file:line and abort. Always on, also in release builds. */
#define RP_ASSERT(cond)                                                            \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "rampart: internal error at %s:%d: %s\n", __FILE__,    \
                    __LINE__, #cond);                                              \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* RP_TRY (return a failed status) is public: rampart.h. */

#endif
