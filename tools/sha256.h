/* SHA-256 (FIPS 180-4): content hashes of checkpoints and test sets in the JSON lines, so
 * that rows from different runs are matched by what they measured, not by file names. */
#ifndef RP_TOOLS_SHA256_H
#define RP_TOOLS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_sha256 {
    uint32_t h[8];
    uint64_t bytes;       /* message length so far */
    unsigned char buf[64];
    size_t fill;          /* bytes waiting in buf */
} cli_sha256;

void cli_sha256_init(cli_sha256 *s);
void cli_sha256_update(cli_sha256 *s, const void *data, size_t n);
/* The digest as 64 lower-case hex digits and a NUL. */
void cli_sha256_hex(cli_sha256 *s, char out[65]);

#endif
