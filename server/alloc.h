/* One allocation hook for the whole request path, so that tests can make the
 * N-th allocation fail (tests/test_alloc_faults.c walks N = 1, 2, 3, ...).
 *
 * The Makefile compiles every C file of server/ with `-include server/alloc.h`, so
 * malloc, calloc, realloc, strdup and strndup in server code (present and
 * future) go through srv_alloc_fail() without each file having to say so;
 * free() is libc's, so memory handed to libmicrohttpd (MHD_RESPMEM_MUST_FREE)
 * or to a caller stays ordinary heap memory. jansson's allocations are routed
 * here too (srv_alloc_install, once at start-up), and the core's through
 * SRV_GS_ALLOC, the gs_allocator that request_decode gives gs_net_create.
 *
 * Unarmed (always, outside tests) the hook is one relaxed atomic load. */
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

static inline void *srv_malloc_(size_t n)
{
    return srv_alloc_fail() ? srv_alloc_null_() : srv_checked_(malloc(n));
}
static inline void *srv_calloc_(size_t n, size_t s)
{
    return srv_alloc_fail() ? srv_alloc_null_() : srv_checked_(calloc(n, s));
}
static inline void *srv_realloc_(void *p, size_t n)
{
    if (srv_alloc_fail()) return srv_alloc_null_();
    void *q = realloc(p, n);
    return q || !n ? q : srv_alloc_null_();
}
static inline char *srv_strdup_(const char *s)
{
    return srv_alloc_fail() ? srv_alloc_null_() : srv_checked_(strdup(s));
}
static inline char *srv_strndup_(const char *s, size_t n)
{
    return srv_alloc_fail() ? srv_alloc_null_() : srv_checked_(strndup(s, n));
}

#undef strdup
#undef strndup
#define malloc(n) srv_malloc_(n)
#define calloc(n, s) srv_calloc_(n, s)
#define realloc(p, n) srv_realloc_(p, n)
#define strdup(s) srv_strdup_(s)
#define strndup(s, n) srv_strndup_(s, n)

#endif
