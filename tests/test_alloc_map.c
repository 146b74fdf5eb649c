/* Where big blocks come from (server/alloc.c), in-process: blocks of 1 MiB
 * and more are mappings of alloc.c's, 2 MiB-aligned; a freed one is cached
 * and handed to the next request of a fitting size as it is; srv_calloc
 * zeroes a reused one; realloc keeps the bytes across every move (small to
 * big, big to bigger, big to small); srv_alloc_release unmaps the cache; the
 * limit unmaps cached ones before a fresh mapping would pass it; a block of
 * malloc's that happens to start on a 2 MiB boundary is still freed by
 * srv_free; the injection hook fails big allocations too.
 *
 * Under AddressSanitizer and valgrind the mappings are off on purpose (they
 * cannot see use after free inside them): there the test checks that big
 * blocks come from malloc and nothing is mapped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_ALLOC_LIBC_NAMES /* posix_memalign below, as libc's */
#include "alloc.h"
#include "check.h"

#define MAPPED srv_alloc_maps()

#define MiB ((size_t)1 << 20)

static size_t live_bytes(void)
{
    size_t live, cached;
    srv_alloc_mapped(&live, &cached);
    return live;
}

static size_t cached_bytes(void)
{
    size_t live, cached;
    srv_alloc_mapped(&live, &cached);
    return cached;
}

static int aligned(const void *p) { return ((uintptr_t)p & (SRV_MAP_ALIGN - 1)) == 0; }

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 31 + seed);
}

static size_t first_difference(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31 + seed)) return i;
    return n;
}

static void test_big_block_cached_and_reused(void)
{
    srv_alloc_release();
    unsigned char *a = srv_malloc(3 * MiB + 5);
    CHECK(a != NULL, "3 MiB not allocated");
    if (!a) return;
    fill(a, 3 * MiB + 5, 1);
    if (!MAPPED) {
        CHECK(live_bytes() == 0, "%zu bytes mapped under a memory checker", live_bytes());
        srv_free(a);
        return;
    }
    CHECK(aligned(a), "big block %p not on a 2 MiB boundary", (void *)a);
    CHECK(live_bytes() >= 3 * MiB + 5, "live %zu bytes", live_bytes());
    srv_free(a);
    CHECK(live_bytes() == 0, "live %zu bytes after free", live_bytes());
    CHECK(cached_bytes() >= 3 * MiB, "freed block not cached (%zu bytes)", cached_bytes());
    unsigned char *b = srv_malloc(3 * MiB);
    CHECK(b == a, "a block of the same size did not reuse the cached mapping");
    CHECK(cached_bytes() == 0, "cache still holds %zu bytes", cached_bytes());
    srv_free(b);
    unsigned char *z = srv_calloc(3, MiB);
    CHECK(z == a, "calloc did not reuse the cached mapping");
    size_t nonzero = 0;
    for (size_t i = 0; z && i < 3 * MiB; i++) nonzero += z[i] != 0;
    CHECK(nonzero == 0, "%zu bytes of a reused calloc block not zero", nonzero);
    srv_free(z);
    /* twice too big is not a fit: a 1 MiB request maps afresh */
    unsigned char *small = srv_malloc(MiB);
    CHECK(small && small != a, "a 1 MiB request took the 3 MiB mapping");
    srv_free(small);
    srv_alloc_release();
    CHECK(cached_bytes() == 0, "release left %zu bytes cached", cached_bytes());
}

static void test_realloc_keeps_bytes(void)
{
    srv_alloc_release();
    size_t n = 100000;
    unsigned char *p = srv_malloc(n);
    CHECK(p != NULL, "small block");
    if (!p) return;
    fill(p, n, 7);
    p = srv_realloc(p, 2 * MiB); /* small to big */
    CHECK(p && first_difference(p, n, 7) == n, "small to big lost bytes");
    if (!p) return;
    CHECK(!MAPPED || (aligned(p) && live_bytes() >= 2 * MiB), "small to big: not mapped");
    fill(p, 2 * MiB, 9);
    p = srv_realloc(p, 2 * MiB - 4096); /* fits where it is */
    CHECK(p && first_difference(p, 2 * MiB - 4096, 9) == 2 * MiB - 4096, "shrink in place lost bytes");
    if (!p) return;
    p = srv_realloc(p, 9 * MiB); /* big to bigger */
    CHECK(p && first_difference(p, 2 * MiB - 4096, 9) == 2 * MiB - 4096, "big to bigger lost bytes");
    if (!p) return;
    CHECK(!MAPPED || live_bytes() >= 9 * MiB, "big to bigger: live %zu", live_bytes());
    p = srv_realloc(p, 5000); /* big to small: back to malloc */
    CHECK(p && first_difference(p, 5000, 9) == 5000, "big to small lost bytes");
    CHECK(live_bytes() == 0, "big to small left %zu bytes mapped", live_bytes());
    srv_free(p);
    srv_alloc_release();
}

static void test_limit_unmaps_cached_first(void)
{
    srv_alloc_release();
    srv_alloc_map_limit(8 * MiB);
    void *a = srv_malloc(4 * MiB);
    srv_free(a);
    CHECK(!MAPPED || cached_bytes() == 4 * MiB, "cached %zu", cached_bytes());
    void *b = srv_malloc(6 * MiB); /* no fit in the cache; 4 + 6 > 8 */
    CHECK(b != NULL, "6 MiB not allocated");
    CHECK(cached_bytes() == 0, "the cached mapping was kept past the limit (%zu bytes)",
          cached_bytes());
    srv_free(b);
    srv_alloc_map_limit(SIZE_MAX);
    srv_alloc_release();
}

/* A block of malloc's on a 2 MiB boundary goes through srv_map_free's
 * look-up, is not found there, and is freed by libc (ASan/valgrind would
 * report a bad free or a leak otherwise; without them, mallinfo2 shows it). */
static void test_aligned_malloc_block_freed(void)
{
    void *p = NULL;
    CHECK(posix_memalign(&p, SRV_MAP_ALIGN, 4096) == 0, "posix_memalign");
    size_t live = live_bytes();
    srv_free(p);
    CHECK(live_bytes() == live, "the mapped bytes changed: %zu to %zu", live, live_bytes());
}

static void test_injected_failure_of_big_block(void)
{
    unsigned long nulls = srv_alloc_nulls;
    srv_alloc_fail_at(1, 0);
    void *p = srv_malloc(4 * MiB);
    void *q = srv_malloc(4 * MiB); /* the second is not made to fail */
    srv_alloc_fail_at(0, 0);
    CHECK(p == NULL && q != NULL, "injection: first %p, second %p", p, q);
    CHECK(srv_alloc_nulls == nulls + 1, "srv_alloc_nulls counted %lu", srv_alloc_nulls - nulls);
    srv_free(q);
    srv_alloc_release();
}

int main(void)
{
    RUN(test_big_block_cached_and_reused);
    RUN(test_realloc_keeps_bytes);
    RUN(test_limit_unmaps_cached_first);
    RUN(test_aligned_malloc_block_freed);
    RUN(test_injected_failure_of_big_block);
    return CHECK_DONE();
}
