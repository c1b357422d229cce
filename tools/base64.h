/* Base64 (RFC 4648, standard alphabet, padded): per-image correctness bitmaps in the JSON
 * lines (docs/json.md) and images embedded in the HTML report as data: URIs. */
#ifndef RP_TOOLS_BASE64_H
#define RP_TOOLS_BASE64_H

#include <stddef.h>

/* The encoding of data[0..n) as a NUL-terminated string, malloc'd; NULL when out of memory. */
char *cli_base64_encode(const unsigned char *data, size_t n);

/* Decode s (padded or not; no whitespace) into a malloc'd buffer of *n bytes; NULL when s is
 * not base64 or out of memory. */
unsigned char *cli_base64_decode(const char *s, size_t *n);

#endif
