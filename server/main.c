/* gradserve: options, start-up (warm-up, listen), signals and graceful
 * shutdown. The HTTP handling is in http/, the routes in api/ (docs/architecture.md). */
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "gradserve.h"
#include "http/http.h"
#include "kernels.h"
#include "log.h"
#include "http/loop.h"
#include "options.h"
#include "api/routes.h"

/* One forward and backward pass per dtype through BLAS before accepting
 * requests: OpenBLAS initialises its buffers and threads on first use. */
static int warm_up(void)
{
    gs_layer_def layers[2] = {gs_layer(32, GS_ACT_TANH), gs_layer(2, GS_ACT_LINEAR)};
    float x32[4 * 16] = {0}, t32[4 * 2] = {0};
    double x64[4 * 16] = {0}, t64[4 * 2] = {0};
    for (int dt = GS_FLOAT32; dt <= GS_FLOAT64; dt++) {
        gs_net_def def;
        gs_net_def_init(&def);
        def.inputs = 16;
        def.n_layers = 2;
        def.layers = layers;
        def.dtype = (gs_dtype)dt;
        def.gemm = GS_GEMM_BLAS;
        gs_error e;
        gs_net *net = gs_net_create(&def, NULL, NULL, &e);
        gs_pass *pass = net ? gs_pass_create(net, 4, NULL, &e) : NULL;
        gs_batch b = {dt == GS_FLOAT32 ? (void *)x32 : (void *)x64,
                      {dt == GS_FLOAT32 ? (void *)t32 : (void *)t64, NULL}, 4};
        double loss;
        int ok = pass && gs_backward(net, pass, &b, 0, &loss, &e) == GS_OK;
        if (!ok) log_event("error", "warm-up failed: %s", e.message);
        gs_pass_free(pass);
        gs_net_free(net);
        if (!ok) return -1;
    }
    return 0;
}

/* "host:port" or "[v6 address]:port" -> a socket address. */
static struct addrinfo *resolve_listen(const char *listen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1]) return NULL;
    size_t n = (size_t)(colon - listen);
    if (listen[0] == '[' && colon[-1] == ']') {
        listen++;
        n -= 2;
    }
    if (n >= sizeof host) return NULL;
    memcpy(host, listen, n);
    host[n] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) return NULL;
    return res;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    log_event("error", "libmicrohttpd: %s", msg);
}

/* Each connection's memory pool (headers, read and write buffers; the body
 * is copied out of it): libmicrohttpd zeroes the whole pool between
 * requests, so an idle keep-alive connection holds all of it. 32 KiB (the
 * default) made 1,000 idle connections 32.5 MB of RSS; 12 KiB makes them
 * about 12 MB, still leaves room for several KB of headers (more gets 431),
 * and read the 29 MB nested-JSON and 7.8 MB base64 bodies no slower than
 * 32 KiB in alternating runs (8 KiB was no slower either). 256 KiB read a
 * 7.8 MB body 0.5 ms faster but cut small-request throughput by a fifth. */
#define CONNECTION_POOL_BYTES ((size_t)12 << 10)

/* The listening socket the event loops share and accept from (loop.h), or
 * -1. */
static int listen_on(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Event loops: one per CPU, as many as can compute at once. A loop runs the
 * requests estimated tiny itself (http.c), so two of them on two cores keep
 * both busy with small requests without a hand-over to a worker. */
static unsigned event_loops(const server_options *o)
{
    unsigned n = o->cpus < o->max_concurrent ? o->cpus : o->max_concurrent;
    if (n < 1) n = 1;
    return n < LOOP_MAX_THREADS ? n : LOOP_MAX_THREADS;
}

static struct MHD_Daemon *start_daemon(server *s, unsigned max_connections)
{
    const server_options *o = s->opts;
    /* An event loop (epoll, run by a loop.c thread) owns the sockets: an idle
     * keep-alive connection is a descriptor and a pool, not a thread.
     * Computations run on the queue's workers while their connections are
     * suspended (http.c), so no callback blocks the loop; loop_resume wakes
     * the loop when a worker is done. */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, http_handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_POOL_BYTES,
        MHD_OPTION_CONNECTION_LIMIT, max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->idle_timeout, MHD_OPTION_NOTIFY_COMPLETED,
        http_completed, s, MHD_OPTION_END);
}

/* The daemons and the socket they share (loop.h): --max-connections shared
 * out among them. 0, or -1 with everything already freed through
 * loop_stop. */
static int start_loops(server *s, const struct addrinfo *ai)
{
    unsigned n = event_loops(s->opts), total = s->opts->max_connections;
    struct MHD_Daemon *d[LOOP_MAX_THREADS] = {0};
    int fd = listen_on(ai);
    if (fd < 0) return -1;
    unsigned started = 0;
    for (; started < n; started++) {
        unsigned share = total / n + (started < total % n);
        if (!(d[started] = start_daemon(s, share ? share : 1))) break;
    }
    if (started < n) started++; /* the NULL one: loop_run fails on it */
    if (loop_run(s->loop, d, started, fd, total) != 0) {
        loop_stop(s->loop);
        s->loop = NULL;
        return -1;
    }
    return 0;
}

/* A second SIGTERM/SIGINT while draining stops at once. */
static void *second_signal(void *arg)
{
    sigset_t *set = arg;
    int sig;
    if (sigwait(set, &sig) == 0) {
        log_event("error", "signal %d during shutdown: exiting now", sig);
        _exit(1);
    }
    return NULL;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Not ready, no new connections; queued and running requests get
 * --grace-seconds to finish. Training still running a second before the end
 * (half-way through a grace under 2 s) is stopped, so that its answer is sent
 * before the daemon closes. When the grace ends, requests still queued are
 * answered 503 draining; none is dropped without an answer. libmicrohttpd
 * must not be stopped while a connection is suspended, so the running ones
 * are waited for (training stops at once; other computations are bounded by
 * the size limits), then their answers get a second to leave. */
static void drain(server *s, event_loop *loop, sigset_t *signals)
{
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, second_signal, signals) == 0) pthread_detach(watcher);
    atomic_store(&s->draining, 1);
    loop_quiesce(loop);
    double grace = s->opts->grace_seconds, start = now_seconds(), deadline = start + grace;
    double abort_at = grace > 2 ? deadline - 1 : start + grace / 2;
    int inflight;
    while ((inflight = atomic_load(&s->metrics.inflight)) > 0 && now_seconds() < deadline) {
        if (now_seconds() >= abort_at && !atomic_exchange(&s->abort_compute, 1))
            log_event("info", "grace period ending with %d requests in flight: stopping training",
                      inflight);
        pause_ms(20);
    }
    atomic_store(&s->abort_compute, 1);
    unsigned queued = (unsigned)atomic_load(&s->metrics.queued);
    if (queued) log_event("error", "grace period over: answering %u queued requests 503", queued);
    wq_refuse_queued(&s->queue);
    while (wq_outstanding(&s->queue) > 0) pause_ms(5);
    for (double until = now_seconds() + 1; atomic_load(&s->metrics.inflight) > 0 &&
                                           now_seconds() < until;)
        pause_ms(5);
    if ((inflight = atomic_load(&s->metrics.inflight)) > 0)
        log_event("error", "closing with %d requests still in flight", inflight);
    loop_stop(loop);
}

int main(int argc, char **argv)
{
    server_options o;
    int rc = options_parse(&o, argc, argv, stdout, stderr);
    if (rc != 0) {
        options_free(&o);
        return rc > 0 ? 0 : 2;
    }
    log_set_format(o.log_format);
    gs_blas_set_threads((int)o.blas_threads);
    /* First, while this image is alone: it may be replaced (execv) by one
     * with the processor's best OpenBLAS kernels. */
    kernels_info kernels;
    if (kernels_settle(&kernels, (int)o.blas_upgrade, argv) != 0) {
        options_free(&o);
        return 1;
    }
    /* Big requests allocate and free the same large buffers (body, tensors,
     * the pass, the response) every time. They do not come from malloc:
     * server/alloc.c maps blocks of 1 MiB and more itself and keeps freed
     * ones for the next request (no page faults), and the queue has that
     * cache unmapped once it has been idle a second (queue.c). malloc keeps
     * its defaults, an arena per thread (up to 8 per core): with one arena
     * (M_ARENA_MAX 1) every event loop and worker met on its lock. Small
     * blocks leave little in the arenas (docs/concurrency.md: the figures). */
    srv_alloc_install(); /* jansson's allocations through the request path's hook */
    json_object_seed(0); /* before any thread: jansson seeds its hash lazily otherwise */

    server s;
    struct addrinfo *ai = resolve_listen(o.listen);
    if (!ai) {
        log_event("error", "cannot resolve --listen %s (want HOST:PORT)", o.listen);
        options_free(&o);
        return 2;
    }
    /* Signals are taken by sigwait below; every thread started from here on
     * (OpenBLAS's in warm_up, the compute workers in server_init, MHD's)
     * inherits the mask, so none of them is interrupted: a worker started
     * before it would take a SIGTERM's default action and kill the process. */
    /* static: drain()'s watcher thread waits on it and may still be starting
     * when main returns (valgrind: sigwait read main's dead frame) */
    static sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (warm_up() != 0 || server_init(&s, &o) != 0) {
        freeaddrinfo(ai);
        options_free(&o);
        return 1;
    }
    metrics_set_blas(&s.metrics, kernels.core, kernels.openblas, kernels.cpu, kernels.reason);

    int listening = start_loops(&s, ai);
    freeaddrinfo(ai);
    if (listening != 0) {
        log_event("error", "cannot listen on %s", o.listen);
        server_free(&s);
        options_free(&o);
        return 1;
    }
    log_event("info", "gradserve %s listening on %s, %u event loops, %u compute workers, auth %s",
              GS_VERSION, o.listen, event_loops(&o), o.max_concurrent,
              o.auth_token ? "on" : "off");
    log_event("info",
              "open-file limit %lu: up to %u connections; queue of %zu for up to %u ms; "
              "memory budget %zu MiB (from %s)",
              o.fd_limit, o.max_connections, o.max_queue, o.queue_ms,
              o.max_memory >> 20, o.memory_from);

    int sig = 0;
    sigwait(&signals, &sig);
    log_event("info", "signal %d: draining for up to %u s", sig, o.grace_seconds);
    drain(&s, s.loop, &signals);
    s.loop = NULL; /* stopped by drain */
    log_event("info", "stopped");
    server_free(&s);
    options_free(&o);
    return 0;
}
