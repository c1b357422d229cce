/* Base64, RFC 4648 section 4 (rampart.h: rp_base64_encode, rp_base64_decode). */
#include "rampart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *rp_base64_encode(const unsigned char *data, size_t n)
{
    if (!data && n > 0) return NULL;
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0) |
                     (i + 2 < n ? data[i + 2] : 0);
        *o++ = ALPHABET[v >> 18 & 63];
        *o++ = ALPHABET[v >> 12 & 63];
        *o++ = i + 1 < n ? ALPHABET[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? ALPHABET[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int value_of(char c)
{
    const char *p = c ? strchr(ALPHABET, c) : NULL;
    return p ? (int)(p - ALPHABET) : -1;
}

unsigned char *rp_base64_decode(const char *s, size_t *n)
{
    if (!s || !n) return NULL;
    size_t len = strlen(s);
    for (int pad = 0; pad < 2 && len > 0 && s[len - 1] == '='; pad++) len--;
    if (len % 4 == 1) return NULL;
    unsigned char *out = malloc(len * 3 / 4 + 1);
    if (!out) return NULL;
    size_t k = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        int v = value_of(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) out[k++] = (unsigned char)(acc >> 16), out[k++] = (unsigned char)(acc >> 8), out[k++] = (unsigned char)acc;
    }
    size_t rest = len % 4; /* 2 or 3 characters: 1 or 2 bytes */
    if (rest == 2) out[k++] = (unsigned char)(acc >> 4);
    if (rest == 3) out[k++] = (unsigned char)(acc >> 10), out[k++] = (unsigned char)(acc >> 2);
    *n = k;
    return out;
}
