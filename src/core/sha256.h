/* SHA-256 (FIPS 180-4): content hashes of checkpoints and test sets in the JSON lines, so
 * that rows from different runs are matched by what they measured, not by file names. */
#ifndef RP_CORE_SHA256_H
#define RP_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct rp_sha256 {
    uint32_t h[8];
    uint64_t bytes;       /* message length so far */
    unsigned char buf[64];
    size_t fill;          /* bytes waiting in buf */
} rp_sha256;

void rp_sha256_init(rp_sha256 *s);
void rp_sha256_update(rp_sha256 *s, const void *data, size_t n);
/* The digest as 64 lower-case hex digits and a NUL. */
void rp_sha256_hex(rp_sha256 *s, char out[65]);

#endif
