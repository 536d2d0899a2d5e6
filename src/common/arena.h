/*
 * arena.h - bump allocator for memory that lives as long as one request.
 *
 * Layer: src/common. A request is decoded into an arena that is reset when
 * its response is queued, so decoding never frees piece by piece. The arena
 * has a hard cap (limit_bytes): a request whose decoded form would exceed it
 * fails to decode instead of exhausting memory.
 *
 * Build with -DRN_ARENA_DEBUG to send every allocation to malloc so that
 * ASan sees overruns between objects (nginx's trick).
 *
 * Threads: one owner at a time.
 */
#ifndef RN_COMMON_ARENA_H
#define RN_COMMON_ARENA_H

#include <stddef.h>

typedef struct rn_arena_chunk rn_arena_chunk;

typedef struct rn_arena {
    rn_arena_chunk *head;  /* newest chunk first */
    size_t used_bytes;     /* bytes handed out since the last reset */
    size_t limit_bytes;    /* cap on used_bytes; 0 = no cap */
} rn_arena;

void rn_arena_init(rn_arena *a, size_t limit_bytes);
/* Returns zeroed memory aligned for any type, or NULL when the cap would be
 * passed or malloc fails. */
void *rn_arena_alloc(rn_arena *a, size_t size);
/* Allocates n elements of size each, checking n * size for overflow. */
void *rn_arena_calloc(rn_arena *a, size_t n, size_t size);
char *rn_arena_strndup(rn_arena *a, const char *s, size_t n);
/* Forgets everything allocated; keeps one chunk for reuse. */
void rn_arena_reset(rn_arena *a);
void rn_arena_release(rn_arena *a);

#endif
