/* A gs_allocator that counts allocations and live blocks and fails the
 * fail_at-th one (0-based; -1 never): walking fail_at over 0, 1, 2, ...
 * makes every allocation of a run fail in turn, and live shows leaks. */
#ifndef GS_COUNTING_ALLOC_H
#define GS_COUNTING_ALLOC_H

#include <stdlib.h>

typedef struct {
    long fail_at, count, live;
} counting;

static inline void *counting_malloc(size_t n, void *ctx)
{
    counting *c = ctx;
    if (c->count++ == c->fail_at) return NULL;
    c->live++;
    return malloc(n);
}

static inline void counting_free(void *p, void *ctx)
{
    counting *c = ctx;
    c->live--;
    free(p);
}

#endif
