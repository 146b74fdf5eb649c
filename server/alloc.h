/* One allocation hook for the whole request path, so that tests can make the
 * N-th allocation fail (tests/test_alloc_faults.c walks N = 1, 2, 3, ...).
 *
 * Server code allocates by name: srv_malloc, srv_calloc, srv_realloc,
 * srv_strdup, srv_strndup, and frees with srv_free, never free (a big block
 * is a mapping of alloc.c's, below: memory handed to libmicrohttpd is freed
 * by a callback that calls srv_free). A file that includes this header cannot call the
 * libc names any more (they are poisoned below: a compile error), and
 * tests/test_alloc_names.sh finds them in a file that does not include it.
 * jansson's allocations are routed here too (srv_alloc_install, once at
 * start-up), and the core's through SRV_GS_ALLOC, the gs_allocator that
 * request_decode gives gs_net_create.
 *
 * Unarmed (always, outside tests) the hook is one relaxed atomic load.
 * Include it after the system headers (<malloc.h> declares malloc). */
#ifndef GS_SERVER_ALLOC_H
#define GS_SERVER_ALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gradserve.h"

/* 1 when the allocation being made must fail (counts the calls while armed). */
int srv_alloc_fail(void);

/* Arms the hook: the n-th allocation from now fails (n >= 1), and with
 * sticky every one after it too; n = 0 disarms. */
void srv_alloc_fail_at(long n, int sticky);
/* Allocations counted since the last srv_alloc_fail_at, and whether one was
 * made to fail. */
long srv_alloc_count(void);
int srv_alloc_failed(void);

/* Routes jansson's allocations through the hook (json_set_alloc_funcs):
 * call once, before any other jansson call and before threads start. */
void srv_alloc_install(void);

/* on: jansson's allocations never fail by injection (they still fail for
 * real). jansson 2.14's lexer is not safe when its token buffer cannot grow:
 * it asserts (load.c lex_unget_unsave) or reads past the token
 * (lex_scan_string); see tests/fuzz/regressions/fuzz_compute/jansson-*. The
 * fuzzer exempts it so as to find our bugs rather than that one again. */
void srv_alloc_exempt_jansson(int on);

/* The core's allocator, through the same hook. */
extern const gs_allocator SRV_GS_ALLOC;

/* Allocations that failed on this thread (injected or real), so that a
 * caller can tell "out of memory" from what a library reports instead:
 * jansson 2.14 answers some failed allocations with a syntax error. */
extern _Thread_local unsigned long srv_alloc_nulls;

static inline void *srv_alloc_null_(void)
{
    srv_alloc_nulls++;
    return NULL;
}
static inline void *srv_checked_(void *p) { return p ? p : srv_alloc_null_(); }

/* Big blocks (SRV_MAP_MIN bytes and more) do not come from malloc: alloc.c
 * maps them itself, 2 MiB-aligned with huge-page advice, and keeps a freed
 * one in a small process-wide cache of mappings, which the next request of a
 * fitting size reuses without page faults (a big request allocates the same
 * sizes every time) and which srv_alloc_release empties (the queue's keeper
 * calls it once the queue has been idle a second). So the memory a burst of
 * big requests used goes back to the kernel, whichever thread's malloc arena
 * would otherwise have kept it. Under AddressSanitizer or valgrind (tested at
 * start) every block comes from malloc, so that they see big blocks too. */
#define SRV_MAP_MIN ((size_t)1 << 20)
#define SRV_MAP_ALIGN ((size_t)2 << 20)

/* n >= SRV_MAP_MIN: a mapped block (zeroed if zero), or malloc's under a
 * checker; NULL when the kernel has no memory. */
void *srv_map_alloc(size_t n, int zero);
/* Frees p, mapped or malloc's (p 2 MiB-aligned: maybe ours, looked up). */
void srv_map_free(void *p);
/* realloc for a mapped p or a big n; NULL leaves p as it was. */
void *srv_map_realloc(void *p, size_t n);
/* Unmaps every cached mapping (the keeper, once the queue is idle). */
void srv_alloc_release(void);
/* Caps live + cached mapped bytes: before a fresh mapping, cached ones are
 * unmapped (oldest first) until it fits (the server's memory budget). */
void srv_alloc_map_limit(size_t bytes);
/* Mapped bytes handed out and cached (tests: leaks, the cache emptied). */
void srv_alloc_mapped(size_t *live, size_t *cached);
/* 0 under AddressSanitizer or valgrind: big blocks come from malloc there. */
int srv_alloc_maps(void);

/* Whether p may be a mapped block: those start on a 2 MiB boundary. A block
 * of malloc's rarely does; srv_map_free looks such a one up, then frees it. */
static inline int srv_maybe_mapped_(const void *p)
{
    return p && ((size_t)p & (SRV_MAP_ALIGN - 1)) == 0;
}

static inline void *srv_malloc(size_t n)
{
    if (srv_alloc_fail()) return srv_alloc_null_();
    return srv_checked_(n >= SRV_MAP_MIN ? srv_map_alloc(n, 0) : malloc(n));
}
static inline void *srv_calloc(size_t n, size_t s)
{
    if (srv_alloc_fail()) return srv_alloc_null_();
    size_t total;
    if (__builtin_mul_overflow(n, s, &total)) return srv_alloc_null_();
    return srv_checked_(total >= SRV_MAP_MIN ? srv_map_alloc(total, 1) : calloc(n, s));
}
/* Like realloc: NULL leaves p as it was. */
static inline void *srv_realloc(void *p, size_t n)
{
    if (srv_alloc_fail()) return srv_alloc_null_();
    void *q = n >= SRV_MAP_MIN || srv_maybe_mapped_(p) ? srv_map_realloc(p, n) : realloc(p, n);
    return q || !n ? q : srv_alloc_null_();
}
static inline char *srv_strdup(const char *s)
{
    return srv_alloc_fail() ? srv_alloc_null_() : srv_checked_(strdup(s));
}
static inline char *srv_strndup(const char *s, size_t n)
{
    return srv_alloc_fail() ? srv_alloc_null_() : srv_checked_(strndup(s, n));
}
/* Every block from the functions above, and only those (or malloc's). */
static inline void srv_free(void *p)
{
    if (srv_maybe_mapped_(p)) srv_map_free(p);
    else free(p);
}

/* alloc.c (the hook itself) and the tests that arm it define SRV_ALLOC_LIBC_NAMES:
 * they call libc's names themselves. */
#ifndef SRV_ALLOC_LIBC_NAMES
#undef strdup
#undef strndup
#pragma GCC poison malloc calloc realloc strdup strndup free
#endif

#endif
