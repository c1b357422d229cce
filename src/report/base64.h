/* Base64 (RFC 4648, standard alphabet, padded) for the report: the per-image correctness
 * bitmaps of the JSON lines it reads (docs/json.md) and the images it embeds as data: URIs.
 * The command's writer of those lines has its own copy (tools/base64.c, tested with it by
 * tests/test_sha256_base64.c): tools/ compiles without the library's internal headers. */
#ifndef RP_REPORT_BASE64_H
#define RP_REPORT_BASE64_H

#include <stddef.h>

/* The encoding of data[0..n) as a NUL-terminated string, malloc'd; NULL when out of memory. */
char *rp_base64_encode(const unsigned char *data, size_t n);

/* Decode s (padded or not; no whitespace) into a malloc'd buffer of *n bytes; NULL when s is
 * not base64 or out of memory. */
unsigned char *rp_base64_decode(const char *s, size_t *n);

#endif
