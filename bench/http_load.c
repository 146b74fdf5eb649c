/* http_load: a small HTTP/1.1 load generator for bench/http.sh (wrk is not
 * always installed, and this one also checks statuses and keeps latencies).
 *
 * One thread, epoll, non-blocking sockets. Each of --connections keep-alive
 * connections sends the same request (method, path, headers, body), waits for
 * the whole response (Content-Length framing, which gradserve and gunicorn
 * both send), records the latency from the first byte written to the last
 * byte read, and sends it again. A response whose status is not --expect, a
 * response without Content-Length, or a connection error counts as an error
 * (a closed connection is reopened).
 *
 * usage: http_load --port P --path /gradients --body FILE [--host 127.0.0.1]
 *          [--header "Name: value"]... [--content-type T] [--connections 32]
 *          [--duration 5] [--warmup 1] [--requests N] [--expect 200]
 *          [--save FILE] [--step SIZES:BATCH:LOSS [--step-threads N]]
 *          [--trace FILE]
 *   --requests  stop after N measured requests (instead of --duration)
 *   --save      write the body of the last response to FILE
 *   --step      with one connection: after each measured response, time the
 *               same computation in this process (bench/lib/step.h, e.g.
 *               784-512-512-10:1000:ce, on --step-threads OpenBLAS threads,
 *               default 1): one untimed step, then one timed. Requests and
 *               steps then alternate in one time window, so that their ratio
 *               holds on a machine whose speed drifts.
 *   --trace     write every measured request and every wait of this client to
 *               FILE, tab-separated, times in µs from the start of measuring
 *               (bench/tail_trace.py reads it: per-connection latencies, stalls
 *               over time, the client's own lag):
 *                 r <connection> <due> <first byte written> <last byte read>
 *               (due: when the connection's previous answer was read; the
 *               client writes the next request in its next turn)
 *                 w <epoll_wait called> <returned> <events>
 *
 * Prints one tab-separated line on stdout:
 *   load <requests> <errors> <seconds> <req_per_s> <p50_us> <p99_us> <mean_us>
 *        <min_us> <max_us> <bytes_out> <bytes_in> <reconnects> <step_p50_us>
 * (step_p50_us is nan without --step)
 * and the first few error descriptions on stderr. Exit status 1 when the
 * server cannot be reached at all. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/step.h"

#define MAX_HEADERS 16
#define MAX_STEP_SIZES 8
#define MAX_CONNS 1024

typedef struct {
    int fd;
    size_t sent;         /* bytes of the request written */
    char *in;            /* response bytes read so far */
    size_t in_len, in_cap;
    size_t head_len;     /* header bytes incl. the blank line; 0 until seen */
    long long body_len;  /* Content-Length; -1 until known */
    int status;
    int close_after;     /* the response said Connection: close */
    double t_due;        /* when the request was due: the last answer read, or the connection made */
    double t0;           /* when the request's first byte was written */
    int id;              /* its index, for --trace */
} conn;

static struct {
    const char *host, *path, *content_type, *save;
    const char *headers[MAX_HEADERS];
    int n_headers, port, connections, expect;
    double duration, warmup;
    long long max_requests;
    char *req;           /* the whole request, headers and body */
    size_t req_len;
} cfg = {"127.0.0.1", "/", "application/json", NULL, {0}, 0, 0, 32, 200, 5, 1, 0, NULL, 0};

static struct {
    double *lat; /* microseconds, measured requests only */
    size_t n, cap;
    FILE *trace;       /* --trace */
    bench_step *step;  /* --step: the in-process step timed beside */
    double *step_us;   /* one per measured request */
    long long errors, bytes_in, bytes_out, reconnects;
    int measuring;
    double measure_from; /* --trace times are from here */
    int errors_printed;
} st;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "http_load: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) die("out of memory");
    return p;
}

static void error_note(const char *fmt, const char *arg, long v)
{
    if (st.measuring) st.errors++;
    if (st.errors_printed++ < 5) {
        fprintf(stderr, "http_load: ");
        fprintf(stderr, fmt, arg, v);
        fputc('\n', stderr);
    }
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    size_t cap = 1 << 16, n = 0;
    char *b = xrealloc(NULL, cap);
    for (size_t got; (got = fread(b + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) b = xrealloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

static void build_request(const char *body_path)
{
    size_t body_len;
    char *body = read_file(body_path, &body_len);
    size_t cap = 1024 + body_len;
    for (int i = 0; i < cfg.n_headers; i++) cap += strlen(cfg.headers[i]) + 2;
    cfg.req = xrealloc(NULL, cap);
    int n = snprintf(cfg.req, cap,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n",
                     cfg.path, cfg.host, cfg.port, cfg.content_type, body_len);
    for (int i = 0; i < cfg.n_headers; i++)
        n += snprintf(cfg.req + n, cap - (size_t)n, "%s\r\n", cfg.headers[i]);
    n += snprintf(cfg.req + n, cap - (size_t)n, "\r\n");
    memcpy(cfg.req + n, body, body_len);
    cfg.req_len = (size_t)n + body_len;
    free(body);
}

static int open_conn(int ep, conn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port)};
    if (inet_pton(AF_INET, cfg.host, &a.sin_addr) != 1) die("--host must be an IPv4 address");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) return -1;
    c->sent = 0;
    c->in_len = c->head_len = 0;
    c->body_len = -1;
    c->close_after = 0;
    c->t_due = c->t0 = now_s();
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
    return 0;
}

static void reopen(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    st.reconnects++;
    if (open_conn(ep, c) != 0) die("connect");
}

/* Parses the status line and headers once the blank line has arrived. */
static int parse_head(conn *c)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return 0;
    c->head_len = (size_t)(end - c->in) + 4;
    *end = 0;
    c->status = 0;
    sscanf(c->in, "HTTP/1.%*d %d", &c->status);
    c->body_len = -1;
    for (char *line = strstr(c->in, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (!strncasecmp(h, "Content-Length:", 15)) c->body_len = strtoll(h + 15, NULL, 10);
        else if (!strncasecmp(h, "Connection:", 11) && strcasestr(h, "close")) c->close_after = 1;
    }
    *end = '\r';
    return 1;
}

static void save_body(const conn *c)
{
    if (!cfg.save) return;
    FILE *f = fopen(cfg.save, "wb");
    if (!f) die(cfg.save);
    fwrite(c->in + c->head_len, 1, (size_t)c->body_len, f);
    fclose(f);
}

/* A whole response has arrived: record it and send the request again. */
static void complete(int ep, conn *c)
{
    double us = (now_s() - c->t0) * 1e6;
    if (c->status != cfg.expect) {
        char what[96];
        snprintf(what, sizeof what, "%.80s", c->in + c->head_len);
        error_note("status %2$ld: %1$s", what, c->status);
    } else if (st.measuring) {
        if (st.n == st.cap) {
            st.cap = st.cap ? st.cap * 2 : 65536;
            st.lat = xrealloc(st.lat, st.cap * sizeof *st.lat);
            if (st.step) st.step_us = xrealloc(st.step_us, st.cap * sizeof *st.step_us);
        }
        if (st.step) {
            if (bench_step_run(st.step, 1) != 0) die("the --step computation failed");
            double t1 = now_s();
            if (bench_step_run(st.step, 1) != 0) die("the --step computation failed");
            st.step_us[st.n] = (now_s() - t1) * 1e6;
        }
        st.lat[st.n++] = us;
        if (st.trace)
            fprintf(st.trace, "r\t%d\t%.1f\t%.1f\t%.1f\n", c->id,
                    (c->t_due - st.measure_from) * 1e6, (c->t0 - st.measure_from) * 1e6,
                    (c->t0 - st.measure_from) * 1e6 + us);
    }
    if (st.measuring) {
        st.bytes_in += (long long)(c->head_len + (size_t)c->body_len);
        st.bytes_out += (long long)cfg.req_len;
    }
    save_body(c);
    size_t whole = c->head_len + (size_t)c->body_len;
    if (c->close_after) {
        reopen(ep, c);
        return;
    }
    /* anything after the response would be a pipelined reply: none is asked */
    c->in_len = c->in_len > whole ? c->in_len - whole : 0;
    c->head_len = 0;
    c->body_len = -1;
    c->sent = 0;
    c->t_due = now_s();
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_event(int ep, conn *c, unsigned events)
{
    if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
        error_note("connection error%s (%ld)", "", (long)events);
        reopen(ep, c);
        return;
    }
    if ((events & EPOLLOUT) && c->sent < cfg.req_len) {
        /* the latency runs from here, as wrk's does: not from t_due, which
         * would count the rest of this client's turn through its events */
        if (!c->sent) c->t0 = now_s();
        ssize_t n = send(c->fd, cfg.req + c->sent, cfg.req_len - c->sent, MSG_NOSIGNAL);
        if (n > 0) c->sent += (size_t)n;
        else if (n < 0 && errno != EAGAIN) {
            error_note("send: %s%ld", strerror(errno), 0);
            reopen(ep, c);
            return;
        }
        if (c->sent == cfg.req_len) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
    }
    if (!(events & EPOLLIN)) return;
    for (;;) {
        if (c->in_cap - c->in_len < 65536) c->in = xrealloc(c->in, c->in_cap = c->in_cap * 2 + 131072);
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            if (c->in_len || c->sent) error_note("connection closed by the server%s (%ld)", "", (long)n);
            reopen(ep, c);
            return;
        }
        c->in_len += (size_t)n;
        if (!c->head_len && !parse_head(c)) continue;
        if (c->body_len < 0) {
            error_note("response without Content-Length%s (%ld)", "", c->status);
            reopen(ep, c);
            return;
        }
        if (c->in_len >= c->head_len + (size_t)c->body_len) {
            complete(ep, c);
            return;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *sorted, double q)
{
    if (!st.n) return NAN;
    size_t i = (size_t)ceil(q * (double)st.n);
    return sorted[i ? i - 1 : 0];
}

/* --step SIZES:BATCH:LOSS, e.g. 784-512-512-10:1000:ce */
static bench_step *parse_step(const char *spec, int threads)
{
    size_t sizes[MAX_STEP_SIZES], n = 0;
    const char *p = spec;
    char *end;
    for (;;) {
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || n == MAX_STEP_SIZES) die("--step: SIZES:BATCH:LOSS, e.g. 784-128-10:64:ce");
        sizes[n++] = v;
        p = end + 1;
        if (*end != '-') break;
    }
    unsigned long batch = *end == ':' ? strtoul(p, &end, 10) : 0;
    if (*end != ':' || !batch) die("--step: SIZES:BATCH:LOSS, e.g. 784-128-10:64:ce");
    const char *why = "";
    bench_step_set_threads(threads);
    bench_step *s = bench_step_new(sizes, n, batch, end + 1, 1234, &why);
    if (!s) {
        fprintf(stderr, "http_load: --step %s: %s\n", spec, why);
        exit(2);
    }
    return s;
}

int main(int argc, char **argv)
{
    const char *body = NULL, *step = NULL, *trace = NULL;
    int step_threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("every option takes a value");
        i++;
        if (!strcmp(a, "--host")) cfg.host = v;
        else if (!strcmp(a, "--port")) cfg.port = atoi(v);
        else if (!strcmp(a, "--path")) cfg.path = v;
        else if (!strcmp(a, "--body")) body = v;
        else if (!strcmp(a, "--content-type")) cfg.content_type = v;
        else if (!strcmp(a, "--header") && cfg.n_headers < MAX_HEADERS) cfg.headers[cfg.n_headers++] = v;
        else if (!strcmp(a, "--connections")) cfg.connections = atoi(v);
        else if (!strcmp(a, "--duration")) cfg.duration = atof(v);
        else if (!strcmp(a, "--warmup")) cfg.warmup = atof(v);
        else if (!strcmp(a, "--requests")) cfg.max_requests = atoll(v);
        else if (!strcmp(a, "--expect")) cfg.expect = atoi(v);
        else if (!strcmp(a, "--save")) cfg.save = v;
        else if (!strcmp(a, "--step")) step = v;
        else if (!strcmp(a, "--step-threads")) step_threads = atoi(v);
        else if (!strcmp(a, "--trace")) trace = v;
        else {
            fprintf(stderr, "http_load: unknown option %s (see the comment in bench/http_load.c)\n", a);
            return 2;
        }
    }
    if (!cfg.port || !body || cfg.connections < 1 || cfg.connections > MAX_CONNS) {
        fprintf(stderr, "usage: http_load --port P --path PATH --body FILE [options]\n");
        return 2;
    }
    if (step && (cfg.connections != 1 || step_threads < 1)) die("--step needs --connections 1");
    if (step) st.step = parse_step(step, step_threads);
    if (trace && !(st.trace = fopen(trace, "w"))) die(trace);
    build_request(body);
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    conn *conns = calloc((size_t)cfg.connections, sizeof *conns);
    if (!conns) die("out of memory");
    for (int i = 0; i < cfg.connections; i++) {
        conns[i].id = i;
        if (open_conn(ep, &conns[i]) != 0) die("connect");
    }

    struct epoll_event evs[MAX_CONNS];
    double start = now_s(), measure_from = start + cfg.warmup, t_end = 0;
    double stop_at = measure_from + cfg.duration;
    for (;;) {
        double t = now_s();
        if (!st.measuring && t >= measure_from) {
            st.measuring = 1;
            st.measure_from = measure_from = t;
        }
        if (st.measuring && (cfg.max_requests ? (long long)st.n + st.errors >= cfg.max_requests
                                              : t >= stop_at)) {
            t_end = t;
            break;
        }
        int n = epoll_wait(ep, evs, MAX_CONNS, 100);
        if (st.trace && st.measuring)
            fprintf(st.trace, "w\t%.1f\t%.1f\t%d\n", (t - measure_from) * 1e6,
                    (now_s() - measure_from) * 1e6, n);
        for (int i = 0; i < n; i++) on_event(ep, evs[i].data.ptr, evs[i].events);
    }
    double secs = t_end - measure_from;
    qsort(st.lat, st.n, sizeof *st.lat, cmp_double);
    if (st.step) qsort(st.step_us, st.n, sizeof *st.step_us, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < st.n; i++) sum += st.lat[i];
    printf("load\t%zu\t%lld\t%.3f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%lld\t%lld\t%lld\t%.1f\n",
           st.n, st.errors, secs, (double)st.n / secs, quantile(st.lat, 0.5),
           quantile(st.lat, 0.99), st.n ? sum / (double)st.n : NAN, st.n ? st.lat[0] : NAN,
           st.n ? st.lat[st.n - 1] : NAN, st.bytes_out, st.bytes_in, st.reconnects,
           st.step ? quantile(st.step_us, 0.5) : NAN);
    for (int i = 0; i < cfg.connections; i++) {
        close(conns[i].fd);
        free(conns[i].in);
    }
    free(conns);
    free(st.lat);
    free(st.step_us);
    if (st.trace && fclose(st.trace) != 0) die(trace);
    bench_step_free(st.step);
    free(cfg.req);
    return 0;
}
