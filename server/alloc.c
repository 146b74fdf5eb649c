/* The allocation hook, and where big blocks come from (see alloc.h). Its
 * state is process-wide on purpose: a test arms the hook, runs one request
 * in-process, and disarms it; the cache of mappings serves every thread. */
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define SRV_HAVE_VALGRIND 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SRV_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang */
#define SRV_UNDER_ASAN 1
#endif
#endif

#define SRV_ALLOC_LIBC_NAMES /* here malloc and free are libc's */
#include "alloc.h"

_Thread_local unsigned long srv_alloc_nulls;

static atomic_int armed;
static atomic_long counted, fail_at;
static atomic_int sticky_fail, failed;

int srv_alloc_fail(void)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed)) return 0;
    long k = atomic_fetch_add(&counted, 1) + 1, n = atomic_load(&fail_at);
    if (k == n || (k > n && atomic_load(&sticky_fail))) {
        atomic_store(&failed, 1);
        return 1;
    }
    return 0;
}

void srv_alloc_fail_at(long n, int sticky)
{
    atomic_store(&armed, 0);
    atomic_store(&counted, 0);
    atomic_store(&failed, 0);
    atomic_store(&fail_at, n);
    atomic_store(&sticky_fail, sticky);
    atomic_store(&armed, n > 0);
}

long srv_alloc_count(void) { return atomic_load(&counted); }
int srv_alloc_failed(void) { return atomic_load(&failed); }

static atomic_int jansson_exempt;

void srv_alloc_exempt_jansson(int on) { atomic_store(&jansson_exempt, on); }

static void *json_malloc_hook(size_t n)
{
    if (atomic_load_explicit(&jansson_exempt, memory_order_relaxed))
        return srv_checked_(malloc(n));
    return srv_malloc(n);
}

static void json_free_hook(void *p) { srv_free(p); }

void srv_alloc_install(void) { json_set_alloc_funcs(json_malloc_hook, json_free_hook); }

/* ---- big blocks: mappings of our own, and a cache of freed ones ---------- */

/* Mapped lengths are multiples of this, so that sizes differing by a few
 * bytes (two bodies of the same shapes) share cached mappings. */
#define MAP_GRAIN ((size_t)64 << 10)
/* Freed mappings kept at most. A round of 16 concurrent 784-512-512-10
 * requests frees about 300 big blocks but reuses them as it goes: at most
 * 40 were cached at once. Past this the oldest is unmapped. */
#define CACHE_SLOTS 256

typedef struct {
    char *p;
    size_t len;  /* mapped bytes */
    size_t size; /* bytes asked for: what realloc copies */
} mapping;

static struct {
    pthread_mutex_t lock;
    mapping *live; /* handed out, in no order (looked up by address) */
    size_t n_live, cap_live, live_bytes;
    mapping cached[CACHE_SLOTS]; /* freed, oldest first */
    size_t n_cached, cached_bytes;
    size_t limit; /* live + cached before a fresh mapping evicts cached ones */
} maps = {.lock = PTHREAD_MUTEX_INITIALIZER, .limit = SIZE_MAX};

/* AddressSanitizer and valgrind cannot see use after free or leaks inside
 * mappings of ours: under them every block comes from malloc. */
static int under_checker(void)
{
#if defined(SRV_UNDER_ASAN)
    return 1;
#elif defined(SRV_HAVE_VALGRIND)
    return RUNNING_ON_VALGRIND != 0;
#else
    return 0;
#endif
}

int srv_alloc_maps(void) { return !under_checker(); }

/* len bytes (a multiple of MAP_GRAIN) on a 2 MiB boundary, asking for
 * transparent huge pages (Debian's default THP mode is "madvise": fewer TLB
 * misses when GEMM streams activations); the kernel zero-fills each page at
 * its first touch. NULL when it has no memory. */
static char *map_fresh(size_t len)
{
    size_t span = len + SRV_MAP_ALIGN;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    char *p = (char *)(((uintptr_t)raw + SRV_MAP_ALIGN - 1) & ~(uintptr_t)(SRV_MAP_ALIGN - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    munmap(p + len, (size_t)(raw + span - (p + len))); /* at least a page: p - raw < 2 MiB */
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE); /* advice: failure is harmless */
#endif
    return p;
}

/* Room for one more live mapping (lock held); -1 when the table cannot grow. */
static int live_room(void)
{
    if (maps.n_live < maps.cap_live) return 0;
    size_t cap = maps.cap_live ? 2 * maps.cap_live : 64;
    mapping *t = realloc(maps.live, cap * sizeof *t);
    if (!t) return -1;
    maps.live = t;
    maps.cap_live = cap;
    return 0;
}

/* Index of p among the live mappings, or -1 (lock held). */
static long live_find(const void *p)
{
    for (size_t i = 0; i < maps.n_live; i++)
        if (maps.live[i].p == p) return (long)i;
    return -1;
}

/* Takes the i-th cached mapping out of the cache (lock held). */
static mapping cache_take(size_t i)
{
    mapping m = maps.cached[i];
    memmove(&maps.cached[i], &maps.cached[i + 1], (maps.n_cached - i - 1) * sizeof m);
    maps.n_cached--;
    maps.cached_bytes -= m.len;
    return m;
}

void *srv_map_alloc(size_t n, int zero)
{
    if (under_checker()) return zero ? calloc(1, n) : malloc(n);
    if (n > SIZE_MAX / 2) return NULL;
    size_t len = (n + MAP_GRAIN - 1) & ~(MAP_GRAIN - 1);
    pthread_mutex_lock(&maps.lock);
    if (live_room() != 0) {
        pthread_mutex_unlock(&maps.lock);
        return NULL;
    }
    /* the smallest cached mapping that fits and is not twice too big */
    size_t best = maps.n_cached;
    for (size_t i = 0; i < maps.n_cached; i++) {
        size_t l = maps.cached[i].len;
        if (l >= len && l / 2 <= len && (best == maps.n_cached || l < maps.cached[best].len))
            best = i;
    }
    if (best < maps.n_cached) {
        mapping m = cache_take(best);
        m.size = n;
        maps.live[maps.n_live++] = m;
        maps.live_bytes += m.len;
        pthread_mutex_unlock(&maps.lock);
        if (zero) memset(m.p, 0, n); /* its last user wrote there */
        return m.p;
    }
    /* A fresh one. Cached mappings go first (the oldest) while the total
     * would pass the limit; its bytes count as live from here, so that
     * threads mapping at once see each other's. */
    mapping evict[CACHE_SLOTS];
    size_t n_evict = 0;
    while (maps.n_cached && maps.live_bytes + maps.cached_bytes + len > maps.limit)
        evict[n_evict++] = cache_take(0);
    maps.live_bytes += len;
    pthread_mutex_unlock(&maps.lock);
    for (size_t i = 0; i < n_evict; i++) munmap(evict[i].p, evict[i].len);
    char *p = map_fresh(len);
    pthread_mutex_lock(&maps.lock);
    if (p && live_room() == 0) {
        maps.live[maps.n_live++] = (mapping){p, len, n};
    } else {
        maps.live_bytes -= len;
        if (p) munmap(p, len);
        p = NULL;
    }
    pthread_mutex_unlock(&maps.lock);
    return p;
}

/* The live mapping at p, taken out of the live table; {NULL} if p is not one. */
static mapping live_take(void *p)
{
    mapping m = {NULL, 0, 0};
    pthread_mutex_lock(&maps.lock);
    long i = live_find(p);
    if (i >= 0) {
        m = maps.live[i];
        maps.live[i] = maps.live[--maps.n_live];
        maps.live_bytes -= m.len;
    }
    pthread_mutex_unlock(&maps.lock);
    return m;
}

/* Puts m in the cache, the oldest out when it is full. */
static void cache_put(mapping m)
{
    mapping evict = {NULL, 0, 0};
    pthread_mutex_lock(&maps.lock);
    if (maps.n_cached == CACHE_SLOTS) evict = cache_take(0);
    maps.cached[maps.n_cached++] = m;
    maps.cached_bytes += m.len;
    pthread_mutex_unlock(&maps.lock);
    if (evict.p) munmap(evict.p, evict.len);
}

void srv_map_free(void *p)
{
    mapping m = live_take(p);
    if (m.p) cache_put(m);
    else free(p);
}

void *srv_map_realloc(void *p, size_t n)
{
    size_t old = 0;
    int mapped = 0;
    if (srv_maybe_mapped_(p)) {
        pthread_mutex_lock(&maps.lock);
        long i = live_find(p);
        if (i >= 0) {
            mapped = 1;
            old = maps.live[i].size;
            if (n >= SRV_MAP_MIN && n <= maps.live[i].len && n >= maps.live[i].len / 2) {
                maps.live[i].size = n; /* fits, and most of it stays in use */
                pthread_mutex_unlock(&maps.lock);
                return p;
            }
        }
        pthread_mutex_unlock(&maps.lock);
    }
    if (!mapped) {
        if (n < SRV_MAP_MIN || under_checker()) return realloc(p, n);
        old = p ? malloc_usable_size(p) : 0;
    }
    /* map and copy (or copy into a malloc block when it shrank below) */
    void *q = n >= SRV_MAP_MIN ? srv_map_alloc(n, 0) : malloc(n ? n : 1);
    if (!q) return NULL;
    if (p) memcpy(q, p, old < n ? old : n);
    if (mapped) cache_put(live_take(p));
    else free(p);
    return q;
}

void srv_alloc_release(void)
{
    mapping out[CACHE_SLOTS];
    pthread_mutex_lock(&maps.lock);
    size_t n = maps.n_cached;
    memcpy(out, maps.cached, n * sizeof *out);
    maps.n_cached = 0;
    maps.cached_bytes = 0;
    pthread_mutex_unlock(&maps.lock);
    for (size_t i = 0; i < n; i++) munmap(out[i].p, out[i].len);
}

void srv_alloc_map_limit(size_t bytes)
{
    pthread_mutex_lock(&maps.lock);
    maps.limit = bytes;
    pthread_mutex_unlock(&maps.lock);
}

void srv_alloc_mapped(size_t *live, size_t *cached)
{
    pthread_mutex_lock(&maps.lock);
    *live = maps.live_bytes;
    *cached = maps.cached_bytes;
    pthread_mutex_unlock(&maps.lock);
}

/* The core's own allocator behind the hook: its big blocks mapped here (on
 * huge pages, as gs_default_allocator puts them), the rest from malloc. */
static void *gs_malloc_hook(size_t n, void *ctx)
{
    (void)ctx;
    if (srv_alloc_fail()) return srv_alloc_null_();
    if (n >= SRV_MAP_MIN && !under_checker()) return srv_checked_(srv_map_alloc(n, 0));
    return srv_checked_(gs_default_allocator.malloc_fn(n, gs_default_allocator.ctx));
}

/* gs_default_allocator's blocks are malloc's: srv_free frees those too. */
static void gs_free_hook(void *p, void *ctx)
{
    (void)ctx;
    srv_free(p);
}

const gs_allocator SRV_GS_ALLOC = {gs_malloc_hook, gs_free_hook, NULL};
