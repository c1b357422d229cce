#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

int rp_arena_init_raw(rp_arena *a, size_t cap)
{
    cap = (cap + RP_ALIGN - 1) / RP_ALIGN * RP_ALIGN;
    a->used = 0;
    a->cap = cap;
    a->base = cap ? aligned_alloc(RP_ALIGN, cap) : NULL;
    return cap && !a->base ? -1 : 0;
}

int rp_arena_init(rp_arena *a, size_t cap)
{
    if (rp_arena_init_raw(a, cap) != 0) return -1;
    if (a->cap) memset(a->base, 0, a->cap);
    return 0;
}

void rp_arena_free(rp_arena *a)
{
    free(a->base);
    a->base = NULL;
    a->cap = a->used = 0;
}

void *rp_arena_bytes(rp_arena *a, size_t n)
{
    size_t start = (a->used + RP_ALIGN - 1) / RP_ALIGN * RP_ALIGN;
    a->used = start + n;
    if (!a->base) return NULL;
    RP_ASSERT(a->used <= a->cap);
    return a->base + start;
}

float *rp_arena_floats(rp_arena *a, size_t n) { return rp_arena_bytes(a, n * sizeof(float)); }
