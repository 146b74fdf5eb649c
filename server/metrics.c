#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "gradserve.h"

static const int CODES[METRIC_CODES] = {200, 204, 400, 401, 404, 405,
                                        413, 415, 422, 500, 503, 431};

/* Upper bounds in seconds: from a tiny forward pass to a long /train. */
static const double BUCKETS[METRIC_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                               0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                               5,      10,    30,     60};

/* Phases run from microseconds (a 2-4-1 decode) to seconds (a big /train). */
static const double PHASE_BOUNDS[PHASE_BUCKETS] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   1,     10};

static const char *const PHASES[PHASE_COUNT] = {
    [PHASE_RECEIVE] = "receive", [PHASE_QUEUE] = "queue",   [PHASE_DECODE] = "decode",
    [PHASE_COMPUTE] = "compute", [PHASE_ENCODE] = "encode", [PHASE_SEND] = "send",
};

static const char *const REASONS[REJECT_COUNT] = {
    [REJECT_QUEUE_FULL] = "queue_full",
    [REJECT_QUEUE_TIMEOUT] = "queue_timeout",
    [REJECT_DRAINING] = "draining",
    [REJECT_MEMORY] = "over_memory_budget",
    [REJECT_BODY_TOO_LARGE] = "body_too_large",
    [REJECT_UNAUTHORIZED] = "unauthorized",
    [REJECT_MEDIA_TYPE] = "unsupported_media_type",
    [REJECT_LIMIT] = "limit_exceeded",
    [REJECT_DEADLINE] = "deadline_exceeded",
    [REJECT_CLIENT_GONE] = "client_gone",
};

int metrics_init(metrics *m, const metrics_route *routes, size_t n)
{
    /* All-zero bits are a valid zero for the lock-free atomics used here. */
    memset(m, 0, sizeof *m);
    if (n > METRIC_ROUTES) return -1;
    memcpy(m->routes, routes, n * sizeof *routes);
    m->n_routes = n;
    return 0;
}

static void observe(histogram *h, double seconds)
{
    if (!(seconds >= 0)) seconds = 0;
    int b = 0;
    while (b < METRIC_BUCKETS && seconds > BUCKETS[b]) b++;
    if (b < METRIC_BUCKETS) atomic_fetch_add(&h->bucket[b], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_ns, (uint_fast64_t)(seconds * 1e9));
}

void metrics_request_done(metrics *m, size_t r, int status, double seconds)
{
    int c = 0;
    while (c < METRIC_CODES && CODES[c] != status) c++;
    atomic_fetch_add(&m->requests[r][c], 1);
    observe(&m->request_seconds[r], seconds);
}

void metrics_compute_done(metrics *m, size_t r, double seconds)
{
    observe(&m->compute_seconds[r], seconds);
}

void metrics_reject(metrics *m, reject_reason why) { atomic_fetch_add(&m->rejected[why], 1); }

void metrics_phase(metrics *m, size_t r, phase_id p, double seconds)
{
    if (!(seconds >= 0)) seconds = 0;
    int b = 0;
    while (b < PHASE_BUCKETS && seconds > PHASE_BOUNDS[b]) b++;
    if (b < PHASE_BUCKETS) atomic_fetch_add(&m->phase[r][p].bucket[b], 1);
    atomic_fetch_add(&m->phase[r][p].count, 1);
    atomic_fetch_add(&m->phase[r][p].sum_ns, (uint_fast64_t)(seconds * 1e9));
}

void metrics_set_blas(metrics *m, const char *core, const char *openblas, const char *cpu,
                      const char *reason)
{
    snprintf(m->blas.core, sizeof m->blas.core, "%s", core);
    snprintf(m->blas.openblas, sizeof m->blas.openblas, "%s", openblas);
    snprintf(m->blas.cpu, sizeof m->blas.cpu, "%s", cpu);
    snprintf(m->blas.reason, sizeof m->blas.reason, "%s", reason);
}

void metrics_queue_wait(metrics *m, double seconds)
{
    if (!(seconds >= 0)) seconds = 0;
    int b = 0;
    while (b < PHASE_BUCKETS && seconds > PHASE_BOUNDS[b]) b++;
    if (b < PHASE_BUCKETS) atomic_fetch_add(&m->queue_wait.bucket[b], 1);
    atomic_fetch_add(&m->queue_wait.count, 1);
    atomic_fetch_add(&m->queue_wait.sum_ns, (uint_fast64_t)(seconds * 1e9));
}

/* ---- text exposition --------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) break;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *p = srv_realloc(t->buf, cap);
        if (!p) break;
        t->buf = p;
        t->cap = cap;
    }
    t->failed = 1;
}

static void put_histogram(text *t, const char *name, histogram *h, const char *route)
{
    uint_fast64_t cumulative = 0;
    for (int b = 0; b < METRIC_BUCKETS; b++) {
        cumulative += atomic_load(&h->bucket[b]);
        put(t, "%s_bucket{route=\"%s\",le=\"%g\"} %llu\n", name, route, BUCKETS[b],
            (unsigned long long)cumulative);
    }
    /* count is read after the buckets, so +Inf >= every bucket even while
     * other threads observe. */
    unsigned long long count = atomic_load(&h->count);
    if (count < cumulative) count = cumulative;
    put(t, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, route, count);
    put(t, "%s_sum{route=\"%s\"} %.9f\n", name, route, (double)atomic_load(&h->sum_ns) * 1e-9);
    put(t, "%s_count{route=\"%s\"} %llu\n", name, route, count);
}

/* A label value with \\, " and newline escaped, as the exposition format
 * requires (the CPU description comes from CPUID's vendor string). */
static void put_label(text *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') put(t, "\\%c", *v);
        else if (*v == '\n') put(t, "\\n");
        else put(t, "%c", *v);
    }
}

static void put_blas_info(text *t, metrics *m)
{
    put(t, "# HELP gradserve_blas_info The OpenBLAS kernels in use (core), those OpenBLAS chose "
           "by itself (openblas), the processor, and why (reason).\n"
           "# TYPE gradserve_blas_info gauge\n"
           "gradserve_blas_info{core=\"");
    put_label(t, m->blas.core);
    put(t, "\",openblas=\"");
    put_label(t, m->blas.openblas);
    put(t, "\",cpu=\"");
    put_label(t, m->blas.cpu);
    put(t, "\",reason=\"");
    put_label(t, m->blas.reason);
    put(t, "\"} 1\n");
}

static void put_requests(text *t, metrics *m)
{
    put(t, "# HELP gradserve_requests_total HTTP requests answered, by route and status code.\n"
           "# TYPE gradserve_requests_total counter\n");
    for (size_t r = 0; r < m->n_routes; r++)
        for (int c = 0; c <= METRIC_CODES; c++) {
            unsigned long long n = atomic_load(&m->requests[r][c]);
            if (!n) continue;
            char code[8];
            if (c < METRIC_CODES) snprintf(code, sizeof code, "%d", CODES[c]);
            else snprintf(code, sizeof code, "other");
            put(t, "gradserve_requests_total{route=\"%s\",code=\"%s\"} %llu\n", m->routes[r].label,
                code, n);
        }
}

/* The compute queue and the memory budget (docs/concurrency.md). */
static void put_queue(text *t, metrics *m)
{
    put(t, "# HELP gradserve_queue_length Compute requests waiting for a worker.\n"
           "# TYPE gradserve_queue_length gauge\n"
           "gradserve_queue_length %llu\n",
        (unsigned long long)atomic_load(&m->queued));
    put(t, "# HELP gradserve_queue_wait_seconds Time from a request's arrival in the queue "
           "to a worker starting it.\n"
           "# TYPE gradserve_queue_wait_seconds histogram\n");
    uint_fast64_t cumulative = 0;
    for (int b = 0; b < PHASE_BUCKETS; b++) {
        cumulative += atomic_load(&m->queue_wait.bucket[b]);
        put(t, "gradserve_queue_wait_seconds_bucket{le=\"%g\"} %llu\n", PHASE_BOUNDS[b],
            (unsigned long long)cumulative);
    }
    unsigned long long count = atomic_load(&m->queue_wait.count);
    if (count < cumulative) count = cumulative;
    put(t, "gradserve_queue_wait_seconds_bucket{le=\"+Inf\"} %llu\n"
           "gradserve_queue_wait_seconds_sum %.9f\n"
           "gradserve_queue_wait_seconds_count %llu\n",
        count, (double)atomic_load(&m->queue_wait.sum_ns) * 1e-9, count);
    put(t, "# HELP gradserve_memory_budget_bytes The memory budget for running requests "
           "(--max-memory less --tensor-store-bytes).\n"
           "# TYPE gradserve_memory_budget_bytes gauge\n"
           "gradserve_memory_budget_bytes %llu\n"
           "# HELP gradserve_memory_in_use_bytes Estimated working sets of the requests "
           "running now.\n"
           "# TYPE gradserve_memory_in_use_bytes gauge\n"
           "gradserve_memory_in_use_bytes %llu\n"
           "# HELP gradserve_memory_waits_total Requests that reached the head of the queue "
           "and waited for the memory budget.\n"
           "# TYPE gradserve_memory_waits_total counter\n"
           "gradserve_memory_waits_total %llu\n",
        (unsigned long long)atomic_load(&m->memory_budget),
        (unsigned long long)atomic_load(&m->memory_in_use),
        (unsigned long long)atomic_load(&m->memory_waits));
    size_t live, cached;
    srv_alloc_mapped(&live, &cached);
    put(t, "# HELP gradserve_memory_mapped_bytes Big blocks mapped by the server (alloc.h): "
           "handed out, or cached for the next request of a fitting size.\n"
           "# TYPE gradserve_memory_mapped_bytes gauge\n"
           "gradserve_memory_mapped_bytes{state=\"live\"} %zu\n"
           "gradserve_memory_mapped_bytes{state=\"cached\"} %zu\n",
        live, cached);
}

/* The tensor store (docs/tensor-store.md). */
static void put_store(text *t, metrics *m)
{
    if (!m->store) return;
    store_stats st;
    store_get_stats(m->store, &st);
    put(t, "# HELP gradserve_tensor_store_budget_bytes The tensor store's budget "
           "(--tensor-store-bytes).\n"
           "# TYPE gradserve_tensor_store_budget_bytes gauge\n"
           "gradserve_tensor_store_budget_bytes %zu\n"
           "# HELP gradserve_tensor_store_bytes Bytes of tensors the store holds (deleted ones "
           "still read by a running request included).\n"
           "# TYPE gradserve_tensor_store_bytes gauge\n"
           "gradserve_tensor_store_bytes %zu\n"
           "# HELP gradserve_tensor_store_entries Tensors the store holds.\n"
           "# TYPE gradserve_tensor_store_entries gauge\n"
           "gradserve_tensor_store_entries %zu\n",
        st.budget, st.bytes, st.entries);
    put(t, "# HELP gradserve_tensor_store_hits_total Refs in requests that the store held.\n"
           "# TYPE gradserve_tensor_store_hits_total counter\n"
           "gradserve_tensor_store_hits_total %llu\n"
           "# HELP gradserve_tensor_store_misses_total Refs in requests that the store did not "
           "hold (answered 409).\n"
           "# TYPE gradserve_tensor_store_misses_total counter\n"
           "gradserve_tensor_store_misses_total %llu\n"
           "# HELP gradserve_tensor_store_evictions_total Tensors evicted, least recently used "
           "first, to make room.\n"
           "# TYPE gradserve_tensor_store_evictions_total counter\n"
           "gradserve_tensor_store_evictions_total %llu\n",
        (unsigned long long)st.hits, (unsigned long long)st.misses,
        (unsigned long long)st.evictions);
}

static void put_skeletons(text *t, metrics *m)
{
    if (!m->skeletons) return;
    unsigned long hits, misses;
    json_cache_counts(m->skeletons, &hits, &misses);
    put(t, "# HELP gradserve_skeleton_cache_hits_total Requests whose JSON, tensors taken out, "
           "was parsed before (a client sending one network again).\n"
           "# TYPE gradserve_skeleton_cache_hits_total counter\n"
           "gradserve_skeleton_cache_hits_total %lu\n"
           "# HELP gradserve_skeleton_cache_misses_total Requests whose JSON, tensors taken out, "
           "was parsed.\n"
           "# TYPE gradserve_skeleton_cache_misses_total counter\n"
           "gradserve_skeleton_cache_misses_total %lu\n",
        hits, misses);
    if (!m->nets) return;
    net_cache_counts(m->nets, &hits, &misses);
    put(t, "# HELP gradserve_network_cache_hits_total Requests whose network definition, "
           "decoded and checked, was kept from an earlier request with the same skeleton.\n"
           "# TYPE gradserve_network_cache_hits_total counter\n"
           "gradserve_network_cache_hits_total %lu\n"
           "# HELP gradserve_network_cache_misses_total Requests whose network definition was "
           "decoded and checked.\n"
           "# TYPE gradserve_network_cache_misses_total counter\n"
           "gradserve_network_cache_misses_total %lu\n",
        hits, misses);
}

/* The phase histograms of route r. */
static void put_phases(text *t, metrics *m, size_t r)
{
    const char *route = m->routes[r].label;
    for (int p = 0; p < PHASE_COUNT; p++) {
        uint_fast64_t cumulative = 0;
        for (int b = 0; b < PHASE_BUCKETS; b++) {
            cumulative += atomic_load(&m->phase[r][p].bucket[b]);
            put(t,
                "gradserve_phase_duration_seconds_bucket{route=\"%s\",phase=\"%s\","
                "le=\"%g\"} %llu\n",
                route, PHASES[p], PHASE_BOUNDS[b], (unsigned long long)cumulative);
        }
        unsigned long long count = atomic_load(&m->phase[r][p].count);
        if (count < cumulative) count = cumulative;
        put(t,
            "gradserve_phase_duration_seconds_bucket{route=\"%s\",phase=\"%s\","
            "le=\"+Inf\"} %llu\n"
            "gradserve_phase_duration_seconds_sum{route=\"%s\",phase=\"%s\"} %.9f\n"
            "gradserve_phase_duration_seconds_count{route=\"%s\",phase=\"%s\"} %llu\n",
            route, PHASES[p], count, route, PHASES[p],
            (double)atomic_load(&m->phase[r][p].sum_ns) * 1e-9, route, PHASES[p], count);
    }
}

char *metrics_render(metrics *m, size_t *len)
{
    text t = {0};
    put_requests(&t, m);
    put(&t, "# HELP gradserve_request_duration_seconds Time from the request's headers to "
            "its response sent.\n"
            "# TYPE gradserve_request_duration_seconds histogram\n");
    for (size_t r = 0; r < m->n_routes; r++)
        put_histogram(&t, "gradserve_request_duration_seconds", &m->request_seconds[r],
                      m->routes[r].label);
    put(&t, "# HELP gradserve_compute_duration_seconds Time on a compute worker: "
            "decode, core, encode.\n"
            "# TYPE gradserve_compute_duration_seconds histogram\n");
    for (size_t r = 0; r < m->n_routes; r++)
        if (m->routes[r].computes)
            put_histogram(&t, "gradserve_compute_duration_seconds", &m->compute_seconds[r],
                          m->routes[r].label);
    put(&t, "# HELP gradserve_phase_duration_seconds Time of each phase of a compute request: "
            "receive, queue (for a compute worker), decode, compute, encode, send.\n"
            "# TYPE gradserve_phase_duration_seconds histogram\n");
    for (size_t r = 0; r < m->n_routes; r++)
        if (m->routes[r].computes) put_phases(&t, m, r);
    put(&t, "# HELP gradserve_inflight_requests Requests received and not yet completed.\n"
            "# TYPE gradserve_inflight_requests gauge\n"
            "gradserve_inflight_requests %d\n",
        atomic_load(&m->inflight));
    put(&t, "# HELP gradserve_rejected_total Requests refused before or instead of computing, "
            "by reason.\n"
            "# TYPE gradserve_rejected_total counter\n");
    for (int i = 0; i < REJECT_COUNT; i++)
        put(&t, "gradserve_rejected_total{reason=\"%s\"} %llu\n", REASONS[i],
            (unsigned long long)atomic_load(&m->rejected[i]));
    put_queue(&t, m);
    put_store(&t, m);
    put_skeletons(&t, m);
    put(&t, "# HELP gradserve_build_info The running version.\n"
            "# TYPE gradserve_build_info gauge\n"
            "gradserve_build_info{version=\"%s\"} 1\n",
        GS_VERSION);
    put_blas_info(&t, m);
    if (t.failed) {
        srv_free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}
