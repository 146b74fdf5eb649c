#include "http/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "alloc.h"
#include "http/estimate.h"
#include "http/exchange.h"
#include "log.h"
#include "wire/problem.h"

/* ---- server state --------------------------------------------------------- */

static int parse_origins(server *s, const char *list)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        const char *b = p, *e = p + n;
        while (b < e && isspace((unsigned char)*b)) b++;
        while (e > b && isspace((unsigned char)e[-1])) e--;
        if (e - b == 1 && *b == '*') s->any_origin = 1;
        else if (e > b) {
            char **o = srv_realloc(s->origins, (s->n_origins + 1) * sizeof *o);
            if (!o) return -1;
            s->origins = o;
            if (!(o[s->n_origins] = srv_strndup(b, (size_t)(e - b)))) return -1;
            s->n_origins++;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

int server_init(server *s, const server_options *o)
{
    memset(s, 0, sizeof *s);
    s->opts = o;
    metrics_route labels[METRIC_ROUTES];
    for (size_t i = 0; i < ROUTE_COUNT && i < METRIC_ROUTES; i++)
        labels[i] = (metrics_route){route_label(&ROUTE_TABLE[i]), ROUTE_TABLE[i].queued};
    if (metrics_init(&s->metrics, labels, ROUTE_COUNT) != 0) return -1;
    atomic_init(&s->draining, 0);
    atomic_init(&s->abort_compute, 0);
    if (parse_origins(s, o->cors_origins) != 0) return -1;
    if (!(s->loop = loop_new())) return -1;
    if (!(s->store = store_new(o->tensor_store_bytes))) return -1;
    s->metrics.store = s->store;
    s->skeletons = json_cache_create(64, 4096); /* NULL: every skeleton is parsed */
    s->metrics.skeletons = s->skeletons;
    s->nets = net_cache_create(64); /* NULL: every network is read */
    s->metrics.nets = s->nets;
    /* options_parse keeps the store's share below max_memory */
    s->compute_memory = o->max_memory - o->tensor_store_bytes;
    srv_alloc_map_limit(o->max_memory); /* what the cache of mappings may add up to */
    return wq_start(&s->queue, o->max_concurrent, o->max_queue, o->queue_ms / 1000.0,
                    s->compute_memory, &s->metrics);
}

void server_free(server *s)
{
    wq_stop(&s->queue);
    if (s->loop) loop_stop(s->loop); /* when it never ran (drain stops it otherwise) */
    for (size_t i = 0; i < s->n_origins; i++) srv_free(s->origins[i]);
    srv_free(s->origins);
    store_free(s->store);
    s->store = NULL;
    json_cache_free(s->skeletons);
    s->skeletons = NULL;
    net_cache_free(s->nets);
    s->nets = NULL;
}

/* ---- request id -------------------------------------------------------------- */

/* A client's id is kept if it is 1..128 characters of A-Z a-z 0-9 . _ : -
 * (safe in logs and headers as it is); otherwise a random one is made. */
static int id_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == ':' || ch == '-';
}

static void request_id(struct MHD_Connection *c, char out[REQUEST_ID_MAX + 1])
{
    const char *given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = given ? strlen(given) : 0;
    int ok = n >= 1 && n <= REQUEST_ID_MAX;
    for (size_t i = 0; ok && i < n; i++) ok = id_char(given[i]);
    if (ok) {
        memcpy(out, given, n + 1);
        return;
    }
    /* Ids need to be unique, not secret: each thread draws 128 bits from
     * splitmix64 (a counter through a bijective mixer) seeded once from
     * getrandom, rather than a system call per request. */
    static _Thread_local uint64_t state;
    static _Thread_local int seeded;
    if (!seeded) {
        if (getrandom(&state, sizeof state, 0) != (ssize_t)sizeof state) {
            /* no entropy: time and a per-thread address are unique enough */
            double t = now_seconds();
            memcpy(&state, &t, sizeof state);
            state ^= (uint64_t)(uintptr_t)&state;
        }
        seeded = 1;
    }
    static const char HEX[] = "0123456789abcdef";
    for (int half = 0; half < 2; half++) {
        uint64_t z = (state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        z ^= z >> 31;
        for (int i = 0; i < 16; i++) out[16 * half + i] = HEX[(z >> (60 - 4 * i)) & 15];
    }
    out[32] = 0;
}

/* s into out[cap], truncated as snprintf("%s") would. */
static void copy_str(char *out, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(out, s, n);
    out[n] = 0;
}

/* ---- 1. admit: checks made on the headers, before any body is read ------------ */

/* Constant-time in the expected token's length: the time taken does not
 * tell how many leading characters of a guess were right. */
static int token_equal(const char *expected, const char *given)
{
    size_t n = strlen(expected), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(expected[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

static enum MHD_Result check_auth(server *s, struct MHD_Connection *c, http_request *q, int *done)
{
    const char *token = s->opts->auth_token;
    if (!token) return MHD_YES;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *given = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        given = h + 7;
        while (*given == ' ') given++;
    }
    if (given && token_equal(token, given)) return MHD_YES;
    *done = 1;
    metrics_reject(&s->metrics, REJECT_UNAUTHORIZED);
    static const header missing[] = {{"WWW-Authenticate", "Bearer realm=\"gradserve\""},
                                     {NULL, NULL}};
    static const header invalid[] = {
        {"WWW-Authenticate", "Bearer realm=\"gradserve\", error=\"invalid_token\""},
        {NULL, NULL}};
    if (!given)
        return respond_error(s, c, q, 401, "unauthorized", missing,
                             "This route needs an Authorization: Bearer token.");
    return respond_error(s, c, q, 401, "unauthorized", invalid, "The bearer token is not valid.");
}

/* 1 when ct (parameters aside) is one of the n types in ok; no Content-Type
 * at all is taken as the route's own type. JSON is read from
 * application/json, and from the two types browsers and curl send without
 * asking (text/plain, application/x-www-form-urlencoded); raw bytes
 * (BODY_BYTES) come as application/octet-stream. */
static int media_type_in(const char *ct, const char *const *ok, size_t n_ok)
{
    if (!ct) return 1;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
    for (size_t i = 0; i < n_ok; i++)
        if (strlen(ok[i]) == n && strncasecmp(ok[i], ct, n) == 0) return 1;
    return 0;
}

static const char *const JSON_TYPES[] = {"application/json", "text/plain",
                                         "application/x-www-form-urlencoded",
                                         "application/octet-stream"};
static const char *const BYTES_TYPES[] = {"application/octet-stream"};

static compute_env env_of(server *s, http_request *q, const train_stream *stream);

/* Everything a request with a body can be refused for before it is read. */
static enum MHD_Result admit_compute(server *s, struct MHD_Connection *c, http_request *q,
                                     int *done)
{
    if (q->route->auth) {
        enum MHD_Result ret = check_auth(s, c, q, done);
        if (*done) return ret;
    }
    *done = 1;
    if (atomic_load(&s->draining)) return respond_unavailable(s, c, q, REJECT_DRAINING);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (q->route->body == BODY_BYTES && !media_type_in(ct, BYTES_TYPES, 1)) {
        metrics_reject(&s->metrics, REJECT_MEDIA_TYPE);
        return respond_error(s, c, q, 415, "unsupported-media-type", NULL,
                             "%s takes the raw bytes as application/octet-stream, not %s.",
                             q->route->path, ct);
    }
    if (q->route->body == BODY_JSON && !media_type_in(ct, JSON_TYPES, 4)) {
        metrics_reject(&s->metrics, REJECT_MEDIA_TYPE);
        return respond_error(s, c, q, 415, "unsupported-media-type", NULL,
                             "Send the request as application/json (text/plain and "
                             "application/x-www-form-urlencoded are read as JSON too), or as "
                             "application/octet-stream with binary tensors, not %s.",
                             ct);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > s->opts->max_body_bytes)
        return respond_too_large(s, c, q, cl);
    if (cl) q->expect_len = (size_t)strtoull(cl, NULL, 10);
    if (q->route->admit) {
        compute_env env = env_of(s, q, NULL);
        diag d = {0};
        if (q->route->admit(&env, cl ? (long long)q->expect_len : -1, &d)) {
            if (d.status == 413) metrics_reject(&s->metrics, REJECT_BODY_TOO_LARGE);
            return respond_problem(s, c, q, &d, NULL);
        }
    }
    if (q->route->body == BODY_BYTES && !(q->sha = sha256_begin())) return MHD_NO;
    const char *ihcl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, BINARY_HEADER);
    if (ihcl) q->pad = (8 - strtoull(ihcl, NULL, 10) % 8) % 8; /* checked when the body is in */
    *done = 0;
    return MHD_YES;
}

/* ---- 2. receive: the body ---------------------------------------------------------- */

/* Bytes of a body over the limit read and dropped before the connection is
 * closed without an answer (see take_chunk). */
#define DISCARD_MIN ((size_t)16 << 20)

/* Copies a chunk into the request's buffer (growing by doubling, never past
 * the limit). A chunked body that passes the limit is dropped from then on:
 * MHD 0.9.75 cannot queue a response while a body is arriving, so 413 is
 * answered when the body ends, unless the client sends more than
 * max(limit, 16 MiB) beyond the limit, when the connection is closed. */
static enum MHD_Result take_chunk(server *s, http_request *q, const char *data, size_t n)
{
    size_t max = s->opts->max_body_bytes;
    if (q->too_large) {
        size_t allowance = max > DISCARD_MIN ? max : DISCARD_MIN;
        q->discarded += n;
        if (q->discarded <= allowance) return MHD_YES;
        metrics_reject(&s->metrics, REJECT_BODY_TOO_LARGE);
        return MHD_NO;
    }
    if (n > max - q->len) {
        q->too_large = 1;
        q->discarded = n;
        srv_free(q->buf);
        q->buf = q->body = NULL;
        q->len = q->cap = 0;
        return MHD_YES;
    }
    if (q->len + n > q->cap) {
        /* Content-Length sizes the buffer at once: no copies while growing. */
        size_t cap = q->cap ? q->cap : q->expect_len ? q->expect_len : 16384;
        while (cap < q->len + n) cap = cap > max / 2 ? max : cap * 2;
        char *b = srv_realloc(q->buf, q->pad + cap);
        if (!b) return MHD_NO; /* out of memory: drop the connection */
        q->buf = b;
        q->body = b + q->pad;
        q->cap = cap;
    }
    memcpy(q->body + q->len, data, n);
    q->len += n;
    if (q->sha) sha256_update(q->sha, data, n); /* a chunk at a time: the loop stays free */
    return MHD_YES;
}

void http_request_free(http_request *q)
{
    stream_free(q->stream);
    sha256_abandon(q->sha);
    if (q->res.release) q->res.release(q->res.release_ctx); /* never sent */
    srv_free(q->buf);
    srv_free(q->res.body); /* set when the answer was never queued */
    jw_parts_free(q->res.parts);
    srv_free(q);
}

/* The request's environment for compute_run: the server's options and state,
 * the row's parameter, and on a worker its deadline and stream. */
static compute_env env_of(server *s, http_request *q, const train_stream *stream)
{
    double limit = s->opts->max_request_seconds;
    return (compute_env){.opts = s->opts,
                         .deadline = limit > 0 ? q->start + limit : 0,
                         .abort = &s->abort_compute,
                         .json_len = q->json_len,
                         .text_numbers = q->text_numbers,
                         .split_answer = 1, /* HTTP sends the chunks as they lie */
                         .stream = stream,
                         .method = q->method,
                         .param = q->param,
                         .metrics = &s->metrics,
                         .draining = atomic_load(&s->draining),
                         .store = s->store,
                         .skeletons = s->skeletons,
                         .nets = s->nets};
}

/* ---- 1. admit: the first call --------------------------------------------------------- */

/* Everything but a request whose body is read: unknown paths, wrong
 * methods, preflights, and the routes without a body, answered at once. */
static enum MHD_Result answer_plain(server *s, struct MHD_Connection *c, http_request *q)
{
    const char *method = q->method;
    if (!q->route->path)
        return respond_error(s, c, q, 404, "not-found", NULL, "No route %s; see /openapi.yaml.",
                             q->path);
    if (strcmp(method, "OPTIONS") == 0) return respond_preflight(s, c, q);
    if (!route_allows(q->route, method)) {
        char allow[64];
        snprintf(allow, sizeof allow, "%s, OPTIONS", q->route->methods);
        header h[] = {{"Allow", allow}, {NULL, NULL}};
        return respond_error(s, c, q, 405, "method-not-allowed", h,
                             "%s does not take %s; it takes %s.", q->path, method, allow);
    }
    int done = 0;
    if (q->route->auth) {
        enum MHD_Result ret = check_auth(s, c, q, &done);
        if (done) return ret;
    }
    compute_env env = env_of(s, q, NULL);
    compute_run(q->route, "", 0, &env, &q->res);
    return respond_result(s, c, q, &q->res);
}

static int has_body(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    return (cl && strtoull(cl, NULL, 10) > 0) ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
}

/* The first call, on the headers: the request's state and its row. MHD
 * 0.9.75 closes the connection after any response queued this early (it
 * stops reading the request), so only refusals that spare reading a body
 * answer now; everything else answers on the next call and keeps the
 * connection alive. */
static enum MHD_Result admit(server *s, struct MHD_Connection *c, const char *url,
                             const char *method, void **con_cls)
{
    /* 8 KB (compute_result's problem details) from malloc for each request,
     * zeroed but for the 7 KB of problem entries (REQUEST_HEAD). A
     * per-thread list of up to 16 freed states for reuse (kept
     * while the server ran one malloc arena) was measured against this with
     * an arena per thread (alloc.c) and removed: server CPU per small request
     * at 32 connections, 14 rounds in turns, medians 36.7 µs with it and
     * 38.9 without, the rounds' differences of either sign (7 for it, 6
     * against, 1 even); the malloc calls of a whole request are 3% of the
     * server's samples (docs/concurrency.md, "The transport's cost per
     * request"). */
    http_request *q = srv_malloc(sizeof *q);
    if (!q) return MHD_NO;
    memset(q, 0, REQUEST_HEAD);
    *con_cls = q;
    atomic_fetch_add(&s->metrics.inflight, 1);
    q->start = now_seconds();
    copy_str(q->method, sizeof q->method, method);
    copy_str(q->path, sizeof q->path, url);
    const char *param;
    q->route = route_find(url, &param);
    size_t at = (size_t)(param - url); /* the parameter, in the copy of the path */
    q->param = *param && at < strlen(q->path) ? q->path + at : "";
    request_id(c, q->id);
    q->compute = route_reads_body(q->route, q->method);
    if (q->compute) {
        int done = 0;
        return admit_compute(s, c, q, &done);
    }
    return has_body(c) ? answer_plain(s, c, q) : MHD_YES;
}

/* ---- 3. queue (4 to 7 on a worker) ------------------------------------------------------ */

/* On a worker: stages 4 to 7 into q->res. The body is freed as soon as the
 * answer is made: it is not needed to send it. */
static void run_job(job *j)
{
    http_request *q = (http_request *)j;
    train_stream stream = {stream_line, stream_closed, q};
    compute_env env = env_of(q->srv, q, q->stream ? &stream : NULL);
    compute_run(q->route, q->body ? q->body : "", q->len, &env, &q->res);
    srv_free(q->buf);
    q->buf = q->body = NULL;
}

/* Any thread, once per job: back to the event loop, which calls http_handle
 * again to respond (respond_queued). q may be freed as soon as this returns. */
static void finish_job(job *j)
{
    http_request *q = (http_request *)j;
    if (q->stream && stream_worker_done(q)) return; /* the stream answered, or q is gone */
    q->wait = WAIT_DONE;
    loop_resume(q->srv->loop, q->conn);
}

/* The body has arrived: checks that need it, then the queue. The connection
 * is suspended before the job is submitted, so that a worker can never
 * resume it first; a full queue resumes it at once (WAIT_REFUSED). A row
 * that is not queued runs at once, on the event loop. */
static enum MHD_Result enqueue(server *s, struct MHD_Connection *c, http_request *q)
{
    if (q->too_large) return respond_too_large(s, c, q, NULL);
    if (atomic_load(&s->draining)) return respond_unavailable(s, c, q, REJECT_DRAINING);
    const char *ihcl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, BINARY_HEADER);
    if (ihcl) {
        char *end;
        unsigned long long v = strtoull(ihcl, &end, 10);
        if (!isdigit((unsigned char)*ihcl) || *end || v == 0 || v > q->len)
            return respond_error(s, c, q, 400, "invalid-request", NULL,
                                 BINARY_HEADER " must be the length of the JSON header, "
                                 "from 1 to the body's %zu bytes, not \"%.40s\".",
                                 q->len, ihcl);
        q->json_len = (size_t)v;
    }
    q->t_body = now_seconds();
    if (!q->route->queued) { /* cheap enough to answer on the event loop */
        unsigned char digest[DIGEST_BYTES];
        int hashed = q->sha && sha256_end(q->sha, digest);
        q->sha = NULL;
        compute_env env = env_of(s, q, NULL);
        env.body_sha256 = hashed ? digest : NULL;
        env.body_alloc = q->buf && !q->pad ? &q->buf : NULL;
        compute_run(q->route, q->body ? q->body : "", q->len, &env, &q->res);
        if (!q->buf) q->body = NULL; /* kept by the handler */
        return respond_result(s, c, q, &q->res);
    }

    const char *json = q->body ? q->body : "";
    request_estimate est = estimate_request(q->route, json, q->json_len ? q->json_len : q->len,
                                            q->len, &s->opts->limits, s->opts->max_steps);
    size_t memory = est.memory;
    if (memory > s->compute_memory) {
        metrics_reject(&s->metrics, REJECT_MEMORY);
        diag d = {0};
        diag_limit(&d, "max_memory", (double)s->compute_memory, "",
                   "The request needs about %.0f MiB to compute, more than the server's "
                   "memory budget for computations of %.0f MiB (--max-memory less "
                   "--tensor-store-bytes) allows.",
                   (double)memory / (1 << 20), (double)s->compute_memory / (1 << 20));
        return respond_problem(s, c, q, &d, NULL);
    }
    if (q->route->ndjson && wants_ndjson(c) && stream_open(q) != 0) return MHD_NO;
    q->srv = s;
    q->conn = c;
    q->work.memory = memory;
    q->text_numbers = est.text_numbers; /* the scan sizes its pool from it */
    q->work.run = run_job;
    q->work.finish = finish_job;
    /* tiny and nobody waiting: computed here, on the event loop, without the
     * two thread wake-ups of the hand-over (estimate.h) */
    if (est.tiny && !q->stream && wq_run_here(&s->queue, &q->work)) {
        q->wait = WAIT_DONE;
        return respond_result(s, c, q, &q->res);
    }
    q->wait = WAIT_QUEUED;
    MHD_suspend_connection(c);
    if (wq_submit(&s->queue, &q->work) != 0) {
        if (q->stream) q->stream->worker = 0;
        q->wait = WAIT_REFUSED;
        loop_resume(s->loop, c);
    }
    return MHD_YES;
}

/* ---- 8. respond --------------------------------------------------------------------------- */

/* Back from the queue (the connection resumed): the answer, or why it never ran. */
static enum MHD_Result respond_queued(server *s, struct MHD_Connection *c, http_request *q)
{
    if (q->wait == WAIT_REFUSED) return respond_unavailable(s, c, q, REJECT_QUEUE_FULL);
    if (q->work.outcome == JOB_EXPIRED) return respond_unavailable(s, c, q, REJECT_QUEUE_TIMEOUT);
    if (q->work.outcome == JOB_DRAINED) return respond_unavailable(s, c, q, REJECT_DRAINING);
    return respond_result(s, c, q, &q->res);
}

/* ---- the pipeline --------------------------------------------------------------------- */

/* libmicrohttpd calls this for a request's headers, for each chunk of its
 * body, and again once the body is in and each time its connection is
 * resumed: each call moves the request to its next stage (api/pipeline.h). */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls)
{
    server *s = cls;
    http_request *q = *con_cls;
    (void)version;
    if (!q) return admit(s, c, url, method, con_cls);     /* 1. admit, on the headers */
    if (*upload_data_size) {                             /* 2. receive the body */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return take_chunk(s, q, upload_data, n);
    }
    if (q->status) return MHD_YES; /* answered already (cannot happen: MHD stops calling) */
    if (!q->compute) return answer_plain(s, c, q);       /* no body: answered at once */
    switch (q->wait) {
    case WAIT_NONE:                                      /* 3. queue; 4-7 on a worker */
        return enqueue(s, c, q);
    case WAIT_QUEUED: /* resumed by a streamed /train's first line */
        return q->stream ? stream_start(s, c, q) : MHD_YES;
    default:                                             /* 8. respond */
        return respond_queued(s, c, q);
    }
}

/* The request's metrics, in one place once it has ended (at now): its count
 * and duration, and for a request that read a body each phase it went
 * through (ran: a worker ran it and is done with it, so its times can be
 * read). */
static void observe(server *s, const http_request *q, int status, int ran, double now)
{
    size_t r = route_index(q->route);
    if (status) metrics_request_done(&s->metrics, r, status, now - q->start);
    if (!q->compute) return;
    if (q->t_body) metrics_phase(&s->metrics, r, PHASE_RECEIVE, q->t_body - q->start);
    if (ran) {
        const compute_result *res = &q->res;
        metrics_phase(&s->metrics, r, PHASE_QUEUE, q->work.started - q->t_body);
        metrics_phase(&s->metrics, r, PHASE_DECODE, res->decode_s);
        metrics_phase(&s->metrics, r, PHASE_COMPUTE, res->compute_s);
        metrics_phase(&s->metrics, r, PHASE_ENCODE, res->encode_s);
        metrics_compute_done(&s->metrics, r, res->decode_s + res->compute_s + res->encode_s);
    }
    if (status) metrics_phase(&s->metrics, r, PHASE_SEND, now - q->t_queued);
}

void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    http_request *q = *con_cls;
    (void)c;
    if (!q) return;
    /* A request that ended without a response (client gone, timeout) is
     * logged with status 0 and not counted as answered. */
    int status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? q->status : 0;
    /* a worker still streaming to this connection stops and frees q */
    int worker_holds = q->stream && stream_connection_ended(q);
    int ran = q->wait >= WAIT_DONE && q->wait != WAIT_REFUSED && q->work.outcome == JOB_RAN &&
              q->work.started > 0 && !worker_holds;
    double now = now_seconds();
    observe(s, q, status, ran, now);
    log_request(q->id, q->method, q->path, status, status ? q->bytes : 0, now - q->start);
    atomic_fetch_sub(&s->metrics.inflight, 1);
    *con_cls = NULL;
    if (!worker_holds) http_request_free(q);
}
