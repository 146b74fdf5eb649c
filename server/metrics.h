/* Counters and histograms of the server (atomics: request threads update
 * them without locks) and their Prometheus text exposition (format 0.0.4). */
#ifndef GS_SERVER_METRICS_H
#define GS_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "api/net_cache.h"
#include "store/store.h"
#include "wire/json_cache.h"

typedef enum {
    REJECT_QUEUE_FULL = 0,  /* 503: --max-queue requests already wait */
    REJECT_QUEUE_TIMEOUT,   /* 503: waited --queue-ms without starting */
    REJECT_DRAINING,        /* 503: shutting down */
    REJECT_MEMORY,          /* 422: alone over --max-memory */
    REJECT_BODY_TOO_LARGE,  /* 413 */
    REJECT_UNAUTHORIZED,    /* 401 */
    REJECT_MEDIA_TYPE,      /* 415 */
    REJECT_LIMIT,           /* 422: over a size or step limit */
    REJECT_DEADLINE,        /* 422: training ran out of --max-request-seconds */
    REJECT_CLIENT_GONE,     /* a streamed /train's client left: the training stopped */
    REJECT_COUNT
} reject_reason;

/* Phases of a compute request, timed separately (gradserve_phase_seconds). */
typedef enum {
    PHASE_RECEIVE = 0, /* headers to the whole body read */
    PHASE_QUEUE,       /* waiting in the queue for a compute worker */
    PHASE_DECODE,      /* JSON and tensors into the core's buffers */
    PHASE_COMPUTE,     /* the core: forward, backward, optimizer */
    PHASE_ENCODE,      /* the response body written */
    PHASE_SEND,        /* response queued to its last byte handed to the kernel */
    PHASE_COUNT
} phase_id;
#define PHASE_BUCKETS 16

/* Routes with series of their own, by index: the caller's numbering (the
 * server's is the route table's, api/routes.h), named at metrics_init. */
#define METRIC_ROUTES 24

typedef struct {
    const char *label; /* the route label of its series: "/gradients" */
    int computes;      /* has compute and phase series (runs on a worker) */
} metrics_route;

/* Status codes with a series of their own; any other is counted as "other". */
#define METRIC_CODES 12
#define METRIC_BUCKETS 16

typedef struct {
    atomic_uint_fast64_t bucket[METRIC_BUCKETS]; /* non-cumulative; +Inf is the count */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
} histogram;

typedef struct {
    metrics_route routes[METRIC_ROUTES]; /* set by metrics_init, read-only after */
    size_t n_routes;
    atomic_uint_fast64_t requests[METRIC_ROUTES][METRIC_CODES + 1];
    histogram request_seconds[METRIC_ROUTES];
    histogram compute_seconds[METRIC_ROUTES];
    struct {
        atomic_uint_fast64_t bucket[PHASE_BUCKETS];
        atomic_uint_fast64_t count, sum_ns;
    } phase[METRIC_ROUTES][PHASE_COUNT];
    atomic_int inflight;
    atomic_uint_fast64_t rejected[REJECT_COUNT];
    /* gradserve_blas_info's labels, set once at start-up (metrics_set_blas)
     * before any request thread exists, read-only afterwards. */
    struct {
        char core[32], openblas[32], cpu[128], reason[24];
    } blas;
    /* the compute queue (queue.c) */
    atomic_uint_fast64_t queued;        /* requests waiting now */
    histogram queue_wait;               /* arrival in the queue to a worker, PHASE bounds */
    atomic_uint_fast64_t memory_budget; /* --max-memory, bytes */
    atomic_uint_fast64_t memory_in_use; /* estimated working sets of the running requests */
    atomic_uint_fast64_t memory_waits;  /* requests that reached the queue's head and
                                           waited for the budget */
    tensor_store *store;                /* gradserve_tensor_store_*, or NULL */
    json_cache *skeletons;              /* gradserve_skeleton_cache_*, or NULL */
    net_cache *nets;                    /* gradserve_network_cache_*, or NULL */
} metrics;

/* Zeroes m and names its routes (n <= METRIC_ROUTES; the strings must
 * outlive m). 0, or -1 when there are too many. */
int metrics_init(metrics *m, const metrics_route *routes, size_t n);
void metrics_request_done(metrics *m, size_t route, int status, double seconds);
void metrics_compute_done(metrics *m, size_t route, double seconds);
void metrics_reject(metrics *m, reject_reason why);
void metrics_phase(metrics *m, size_t route, phase_id p, double seconds);
/* The kernels in use, OpenBLAS's own choice, the processor and why
 * (server/kernels.h): the labels of gradserve_blas_info. */
void metrics_set_blas(metrics *m, const char *core, const char *openblas, const char *cpu,
                      const char *reason);
void metrics_queue_wait(metrics *m, double seconds);

/* The exposition text (malloc'd), or NULL when out of memory. */
char *metrics_render(metrics *m, size_t *len);

#endif
