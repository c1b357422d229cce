/* Arenas: one allocation, carved into 64-byte aligned pieces.
 * Sizing is done by carving twice: once with a measuring arena (base == NULL),
 * which only counts, then for real into a block of the measured size. */
#ifndef RP_CORE_ARENA_H
#define RP_CORE_ARENA_H

#include <stddef.h>

typedef struct rp_arena {
    char *base;  /* NULL while measuring */
    size_t cap;  /* bytes available (0 while measuring) */
    size_t used; /* bytes carved so far */
} rp_arena;

#define RP_ALIGN 64

/* Allocate an arena of cap bytes, zero-filled. Returns 0 on success, -1 on failure. */
int rp_arena_init(rp_arena *a, size_t cap);
/* The same, not zero-filled: the caller zeroes what it reads before writing (pages never
 * written are never touched). */
int rp_arena_init_raw(rp_arena *a, size_t cap);
void rp_arena_free(rp_arena *a);
/* Carve n floats (zeroed); returns NULL while measuring. */
float *rp_arena_floats(rp_arena *a, size_t n);
/* Carve n bytes (zeroed); returns NULL while measuring. */
void *rp_arena_bytes(rp_arena *a, size_t n);

#endif
