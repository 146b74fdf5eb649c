/* The allocation hook (see alloc.h). Its state is process-wide on purpose:
 * a test arms it, runs one request in-process, and disarms it. */
#include <jansson.h>
#include <stdatomic.h>

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

void srv_alloc_install(void) { json_set_alloc_funcs(json_malloc_hook, free); }

/* The core's own allocator behind the hook: its big blocks on huge pages. */
static void *gs_malloc_hook(size_t n, void *ctx)
{
    (void)ctx;
    if (srv_alloc_fail()) return srv_alloc_null_();
    return srv_checked_(gs_default_allocator.malloc_fn(n, gs_default_allocator.ctx));
}

static void gs_free_hook(void *p, void *ctx)
{
    (void)ctx;
    gs_default_allocator.free_fn(p, gs_default_allocator.ctx);
}

const gs_allocator SRV_GS_ALLOC = {gs_malloc_hook, gs_free_hook, NULL};
