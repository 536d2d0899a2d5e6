/*
 * arena.c - chunked bump allocator with a hard cap; see arena.h.
 *
 * Layer: src/common. Chunks are malloc'ed blocks, newest first; allocations
 * are carved from the head chunk and rounded up to max_align_t. A request
 * that needs more than the head has left gets a new chunk (at least
 * RN_ARENA_CHUNK_BYTES, or the allocation's size if larger). used_bytes
 * counts rounded allocation sizes and never passes limit_bytes.
 *
 * With -DRN_ARENA_DEBUG every allocation is its own malloc'ed chunk whose
 * data ends exactly where the object ends, so ASan reports overruns, and
 * reset frees them all.
 */
#include "common/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RN_ARENA_CHUNK_BYTES 8192
#define RN_ARENA_KEEP_BYTES_MAX (1u << 20)
#define RN_ARENA_ALIGN _Alignof(max_align_t)

struct rn_arena_chunk {
    rn_arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(max_align_t) unsigned char data[];
};

void rn_arena_init(rn_arena *a, size_t limit_bytes)
{
    a->head = NULL;
    a->used_bytes = 0;
    a->limit_bytes = limit_bytes;
}

static rn_arena_chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(rn_arena_chunk))
        return NULL;
    rn_arena_chunk *c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

void *rn_arena_alloc(rn_arena *a, size_t size)
{
#ifdef RN_ARENA_DEBUG
    size_t need = size ? size : 1;
    if (a->limit_bytes && (need > a->limit_bytes || a->used_bytes > a->limit_bytes - need))
        return NULL;
    rn_arena_chunk *c = chunk_new(need);
    if (!c)
        return NULL;
    c->used = need;
    c->next = a->head;
    a->head = c;
    a->used_bytes += need;
    memset(c->data, 0, need);
    return c->data;
#else
    if (size > SIZE_MAX - RN_ARENA_ALIGN)
        return NULL;
    size_t need = size ? (size + RN_ARENA_ALIGN - 1) & ~(size_t)(RN_ARENA_ALIGN - 1) : RN_ARENA_ALIGN;
    if (a->limit_bytes && (need > a->limit_bytes || a->used_bytes > a->limit_bytes - need))
        return NULL;
    rn_arena_chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        c = chunk_new(need > RN_ARENA_CHUNK_BYTES ? need : RN_ARENA_CHUNK_BYTES);
        if (!c)
            return NULL;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used_bytes += need;
    memset(p, 0, need);
    return p;
#endif
}

void *rn_arena_calloc(rn_arena *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return rn_arena_alloc(a, n * size);
}

char *rn_arena_strndup(rn_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = rn_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void free_chain(rn_arena_chunk *c)
{
    while (c) {
        rn_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

void rn_arena_reset(rn_arena *a)
{
#ifdef RN_ARENA_DEBUG
    free_chain(a->head);
    a->head = NULL;
#else
    /* Keep the largest chunk, the next request being likely alike, unless it
     * is an outsized one that an idle connection should not pin. */
    rn_arena_chunk *keep = NULL, **pp;
    for (rn_arena_chunk *c = a->head; c; c = c->next) {
        if (c->size <= RN_ARENA_KEEP_BYTES_MAX && (!keep || c->size > keep->size))
            keep = c;
    }
    if (!keep) {
        free_chain(a->head);
        a->head = NULL;
    }
    if (keep) {
        for (pp = &a->head; *pp != keep; pp = &(*pp)->next)
            ;
        *pp = keep->next;
        free_chain(a->head);
        keep->next = NULL;
        keep->used = 0;
        a->head = keep;
    }
#endif
    a->used_bytes = 0;
}

void rn_arena_release(rn_arena *a)
{
    free_chain(a->head);
    a->head = NULL;
    a->used_bytes = 0;
}
