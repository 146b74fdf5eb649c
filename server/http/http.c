#include "http/http.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "alloc.h"
#include "api/assets.h"
#include "http/estimate.h"
#include "log.h"
#include "wire/problem.h"
#include "api/routes.h"

#define REQUEST_ID_MAX 128
#define CORS_ALLOW_HEADERS "Content-Type, Authorization, X-Request-Id, " BINARY_HEADER
#define CORS_EXPOSE_HEADERS "X-Request-Id, Retry-After, WWW-Authenticate, " BINARY_HEADER
/* The JSON header's length in a body that carries binary tensors after it
 * (Triton's binary tensor extension), in requests and responses. */
#define BINARY_HEADER "Inference-Header-Content-Length"
#define CORS_MAX_AGE "7200" /* Chromium's cap; Firefox allows a day */

/* Where a compute request is once its body has arrived. */
typedef enum {
    WAIT_NONE = 0, /* not submitted (yet) */
    WAIT_QUEUED,   /* suspended: queued or running on a worker */
    WAIT_DONE,     /* resumed: the worker's outcome is in the job and res */
    WAIT_REFUSED,  /* resumed without queueing: the queue was full */
    WAIT_STREAMING, /* answering with NDJSON lines while the worker runs */
} wait_state;

/* /train answered as NDJSON while it runs (Accept: application/x-ndjson):
 * the worker appends lines (stream_line, then the final answer in
 * finish_job) and libmicrohttpd's content reader hands them out
 * (stream_read), suspending the connection while there is nothing to send.
 * The request is then shared by the connection and the worker: whichever
 * leaves last frees it. */
typedef struct {
    pthread_mutex_t mu;
    char *buf;
    size_t len, cap, sent; /* buf[sent, len): not handed out yet */
    int opened;            /* the first line is in: the 200 answer may start */
    int finished;          /* the last line is in */
    int waiting;           /* the reader found nothing and suspended the connection */
    int gone;              /* the connection has ended (http_completed) */
    atomic_int closed;     /* the same, read by the worker without the lock */
    double next_probe;     /* the worker's next look at the socket (stream_closed) */
    int worker;            /* the worker still holds the request */
} ndjson_stream;

/* State of one request, from its headers to its completion. */
typedef struct {
    job work; /* first: queue.c hands back this address */
    server *srv;
    struct MHD_Connection *conn;
    wait_state wait;
    compute_result res;  /* the worker's answer (WAIT_DONE, JOB_RAN) */
    size_t json_len;     /* the JSON header's length in a binary body; 0: all JSON */
    double t_body;       /* the whole body had arrived */
    const route_def *route;
    const char *param; /* the path's parameter (route_find), in path */
    double start;
    char id[REQUEST_ID_MAX + 1];
    char method[16];
    char path[256];
    char *body; /* capped at --max-body-bytes; at buf + pad */
    size_t len, cap;
    char *buf;  /* the allocation */
    size_t pad; /* puts the binary part after a JSON header on an 8-byte boundary,
                   so that its tensors can be used where they lie (codec.h) */
    int too_large;
    size_t discarded; /* bytes dropped since too_large */
    int compute; /* the route reads this request's body (route_reads_body) */
    sha256_stream *sha; /* BODY_BYTES: the body's sha256, as it arrives */
    unsigned char digest[DIGEST_BYTES];
    int status;  /* queued; 0 until then */
    size_t bytes;
    size_t expect_len; /* Content-Length, when given and within the limit */
    double t_queued;   /* when the response was queued (the send phase starts) */
    ndjson_stream *stream; /* a /train that asked for NDJSON, or NULL */
} http_request;

typedef route_header header;

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
    /* options_parse keeps the store's share below max_memory */
    s->compute_memory = o->max_memory - o->tensor_store_bytes;
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

/* ---- responses ------------------------------------------------------------------- */

static int origin_allowed(const server *s, const char *origin)
{
    for (size_t i = 0; origin && i < s->n_origins; i++)
        if (strcmp(s->origins[i], origin) == 0) return 1;
    return 0;
}

/* CORS on every response, errors included, or browsers hide them. */
static void add_cors(const server *s, struct MHD_Connection *c, struct MHD_Response *r)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (s->any_origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    } else {
        MHD_add_response_header(r, "Vary", "Origin");
        if (origin_allowed(s, origin))
            MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
    }
    MHD_add_response_header(r, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

static enum MHD_Result send_response(server *s, struct MHD_Connection *c, http_request *q,
                                     int status, const char *content_type,
                                     struct MHD_Response *r, size_t len, const header *extra);

/* Queues body (freed by MHD when owned) with the headers every response has. */
static enum MHD_Result respond(server *s, struct MHD_Connection *c, http_request *q, int status,
                               const char *content_type, const char *body, size_t len,
                               int owned, const header *extra)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned) srv_free((void *)body);
        return MHD_NO;
    }
    return send_response(s, c, q, status, content_type, r, len, extra);
}

/* A binary answer: its JSON header and its tensors, two buffers MHD sends as
 * they are (no copy to join them), both freed with the response. */
typedef struct {
    char *json, *bin;
} two_parts;

static void free_parts(void *cls)
{
    two_parts *p = cls;
    srv_free(p->json);
    srv_free(p->bin);
    srv_free(p);
}

static enum MHD_Result respond_parts(server *s, struct MHD_Connection *c, http_request *q,
                                     char *json, size_t json_len, char *bin, size_t bin_len,
                                     const header *extra)
{
    two_parts *p = srv_malloc(sizeof *p);
    struct MHD_IoVec iov[2] = {{json, json_len}, {bin, bin_len}};
    struct MHD_Response *r =
        p ? MHD_create_response_from_iovec(iov, bin_len ? 2 : 1, free_parts, p) : NULL;
    if (!r) {
        srv_free(p);
        srv_free(json);
        srv_free(bin);
        return MHD_NO;
    }
    p->json = json;
    p->bin = bin;
    return send_response(s, c, q, 200, "application/octet-stream", r, json_len + bin_len, extra);
}

/* Queues r with the headers every response has. */
static enum MHD_Result send_response(server *s, struct MHD_Connection *c, http_request *q,
                                     int status, const char *content_type,
                                     struct MHD_Response *r, size_t len, const header *extra)
{
    if (content_type) MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "X-Request-Id", q->id);
    /* Bodies quote the request's bytes (problems name paths, keys, header
     * values): no browser may sniff one as HTML. */
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    add_cors(s, c, r);
    for (; extra && extra->name; extra++) MHD_add_response_header(r, extra->name, extra->value);
    /* While draining, keep-alive clients are sent elsewhere. */
    if (atomic_load(&s->draining)) MHD_add_response_header(r, "Connection", "close");
    q->t_queued = now_seconds();
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    q->status = status;
    q->bytes = len;
    return ret;
}

static enum MHD_Result respond_problem(server *s, struct MHD_Connection *c, http_request *q,
                                       const diag *d, const header *extra)
{
    size_t len = 0;
    char *body = problem_render(d, q->id, &len);
    if (!body) return MHD_NO;
    return respond(s, c, q, d->status, "application/problem+json", body, len, 1, extra);
}

static enum MHD_Result respond_error(server *s, struct MHD_Connection *c, http_request *q,
                                     int status, const char *slug, const header *extra,
                                     const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static enum MHD_Result respond_error(server *s, struct MHD_Connection *c, http_request *q,
                                     int status, const char *slug, const header *extra,
                                     const char *fmt, ...)
{
    diag d = {.status = status, .slug = slug};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d.detail, sizeof d.detail, fmt, ap);
    va_end(ap);
    return respond_problem(s, c, q, &d, extra);
}

static const header RETRY_AFTER[] = {{"Retry-After", "1"}, {NULL, NULL}};

static enum MHD_Result respond_too_large(server *s, struct MHD_Connection *c, http_request *q,
                                         const char *size)
{
    metrics_reject(&s->metrics, REJECT_BODY_TOO_LARGE);
    diag d = {.status = 413, .slug = "payload-too-large", .limit = "max_body_bytes",
              .limit_value = (double)s->opts->max_body_bytes};
    snprintf(d.detail, sizeof d.detail, "The body%s%s%s is over the limit of %zu bytes.",
             size ? " of " : "", size ? size : "", size ? " bytes" : "",
             s->opts->max_body_bytes);
    return respond_problem(s, c, q, &d, NULL);
}

static enum MHD_Result respond_unavailable(server *s, struct MHD_Connection *c, http_request *q,
                                           reject_reason why)
{
    metrics_reject(&s->metrics, why);
    if (why == REJECT_DRAINING)
        return respond_error(s, c, q, 503, "draining", RETRY_AFTER,
                             "The server is shutting down; retry on another instance.");
    if (why == REJECT_QUEUE_FULL && !s->opts->queue_ms)
        return respond_error(s, c, q, 503, "saturated", RETRY_AFTER,
                             "All %u compute workers are busy and this server does not queue "
                             "(--queue-ms 0); retry shortly.",
                             s->opts->max_concurrent);
    if (why == REJECT_QUEUE_FULL)
        return respond_error(s, c, q, 503, "saturated", RETRY_AFTER,
                             "The queue of computations is full (%zu waiting for %u workers); "
                             "retry shortly.",
                             s->opts->max_queue, s->opts->max_concurrent);
    return respond_error(s, c, q, 503, "saturated", RETRY_AFTER,
                         "The computation waited %u ms in the queue without a free worker; "
                         "retry shortly.",
                         s->opts->queue_ms);
}

/* ---- checks made on the headers, before any body is read ------------------------- */

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
        compute_env env = {.opts = s->opts, .method = q->method, .param = q->param,
                           .store = s->store};
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

/* ---- the body --------------------------------------------------------------------- */

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

/* A compute problem in the rejection metrics: over a limit, out of time, or
 * a streamed /train whose client left. */
static void count_problem(server *s, const diag *d)
{
    if (d->slug && !strcmp(d->slug, "client-gone")) metrics_reject(&s->metrics, REJECT_CLIENT_GONE);
    if (!d->slug || strcmp(d->slug, "limit-exceeded")) return;
    metrics_reject(&s->metrics, d->limit && !strcmp(d->limit, "max_request_seconds")
                                    ? REJECT_DEADLINE
                                    : REJECT_LIMIT);
}

/* A route's answer (compute_run's result): its body as it is, the JSON and
 * binary parts of a binary answer as two buffers, or its problem. The bodies
 * are the response's from here on. */
static enum MHD_Result respond_result(server *s, struct MHD_Connection *c, http_request *q,
                                      compute_result *res)
{
    if (res->d.status) {
        count_problem(s, &res->d);
        return respond_problem(s, c, q, &res->d, res->status == 503 ? RETRY_AFTER : NULL);
    }
    if (res->json_len) {
        char n[24];
        snprintf(n, sizeof n, "%zu", res->json_len);
        header h[] = {{BINARY_HEADER, n}, {NULL, NULL}};
        char *body = res->body, *bin = res->bin;
        res->body = res->bin = NULL;
        return respond_parts(s, c, q, body, res->len, bin, res->bin_len, h);
    }
    const char *type = res->content_type ? res->content_type : "application/json";
    if (res->fixed && res->release) { /* bytes held until MHD has sent them */
        struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
            res->len, (void *)res->fixed, res->release, res->release_ctx);
        if (!r) return MHD_NO; /* http_request_free releases them */
        res->release = NULL;
        return send_response(s, c, q, res->status, type, r, res->len, res->headers);
    }
    if (res->fixed) return respond(s, c, q, res->status, type, res->fixed, res->len, 0, res->headers);
    char *body = res->body;
    res->body = NULL;
    return respond(s, c, q, res->status, type, body, res->len, 1, res->headers);
}

/* ---- streamed /train ------------------------------------------------------------------ */

static void http_request_free(http_request *q)
{
    if (q->stream) {
        pthread_mutex_destroy(&q->stream->mu);
        srv_free(q->stream->buf);
        srv_free(q->stream);
    }
    sha256_abandon(q->sha);
    if (q->res.release) q->res.release(q->res.release_ctx); /* never sent */
    srv_free(q->buf);
    srv_free(q->res.body); /* set when the answer was never queued */
    srv_free(q->res.bin);
    srv_free(q);
}

static int wants_ndjson(struct MHD_Connection *c)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    return accept && strcasestr(accept, "application/x-ndjson") != NULL;
}

/* Appends a line and its newline, and wakes the connection when the answer
 * can start or its reader waits. Called with st->mu held; 0, or -1 when out
 * of memory (the line is dropped). */
static int stream_append(http_request *q, const char *line, size_t len)
{
    ndjson_stream *st = q->stream;
    if (st->sent == st->len) st->sent = st->len = 0;
    if (st->len + len + 1 > st->cap) {
        size_t cap = 2 * (st->len + len + 1);
        char *b = srv_realloc(st->buf, cap);
        if (!b) return -1;
        st->buf = b;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, line, len);
    st->buf[st->len + len] = '\n';
    st->len += len + 1;
    if (!st->opened || st->waiting) {
        st->opened = 1;
        st->waiting = 0;
        loop_resume(q->srv->loop, q->conn);
    }
    return 0;
}

/* train_stream.line, on the worker: nonzero once the client has left. */
static int stream_line(void *ctx, const char *json, size_t len)
{
    http_request *q = ctx;
    pthread_mutex_lock(&q->stream->mu);
    int gone = q->stream->gone;
    if (!gone) stream_append(q, json, len);
    pthread_mutex_unlock(&q->stream->mu);
    return gone;
}

/* train_stream.closed, on the worker before every step. A suspended
 * connection is not watched by libmicrohttpd, so every 50 ms the worker
 * looks at the socket itself for the client's hang-up. */
static int stream_closed(void *ctx)
{
    http_request *q = ctx;
    ndjson_stream *st = q->stream;
    if (atomic_load(&st->closed)) return 1;
    double now = now_seconds();
    if (now < st->next_probe) return 0;
    st->next_probe = now + 0.05;
    /* under the lock the connection cannot end (http_completed takes it) */
    pthread_mutex_lock(&st->mu);
    int hung_up = st->gone;
    const union MHD_ConnectionInfo *ci =
        hung_up ? NULL : MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct pollfd p = {ci->connect_fd, POLLRDHUP, 0};
        hung_up = poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
    }
    pthread_mutex_unlock(&st->mu);
    return hung_up;
}

/* libmicrohttpd's content reader: what is there, the end, or (nothing yet)
 * the connection suspended until stream_append wakes it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_request *q = cls;
    ndjson_stream *st = q->stream;
    (void)pos;
    pthread_mutex_lock(&st->mu);
    size_t n = st->len - st->sent;
    if (n > max) n = max;
    if (n) {
        memcpy(buf, st->buf + st->sent, n);
        st->sent += n;
        q->bytes += n;
    } else if (!st->finished) {
        st->waiting = 1;
        MHD_suspend_connection(q->conn);
    }
    int end = !n && st->finished;
    pthread_mutex_unlock(&st->mu);
    return end ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

/* The first line is in: 200 and the lines as they come (chunked). */
static enum MHD_Result start_stream(server *s, struct MHD_Connection *c, http_request *q)
{
    static const header STREAM_HEADERS[] = {{"Cache-Control", "no-cache"},
                                            {"X-Accel-Buffering", "no"}, /* nginx: pass on */
                                            {NULL, NULL}};
    metrics_phase(&s->metrics, route_index(q->route), PHASE_QUEUE, q->work.started - q->t_body);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, q, NULL);
    if (!r) return MHD_NO;
    q->wait = WAIT_STREAMING;
    enum MHD_Result ret =
        send_response(s, c, q, 200, "application/x-ndjson", r, 0, STREAM_HEADERS);
    q->bytes = 0; /* counted as the reader hands bytes out */
    return ret;
}

/* The worker's answer as the stream's last line: the usual result, or the
 * problem that stopped it. Called with st->mu held. */
static void stream_finish(server *s, http_request *q)
{
    compute_result *res = &q->res;
    size_t len = res->len;
    char *line = res->status == 200 ? res->body : problem_render(&res->d, q->id, &len);
    if (res->status != 200) count_problem(s, &res->d);
    if (!line || stream_append(q, line, len) != 0) {
        static const char OOM[] = "{\"type\":\"https://gradserve.dev/problems/internal\","
                                  "\"title\":\"Internal error\",\"status\":500,"
                                  "\"detail\":\"out of memory writing the last line\"}";
        stream_append(q, OOM, sizeof OOM - 1); /* fits: the buffer holds the earlier lines */
    }
    if (line != res->body) srv_free(line);
    q->stream->finished = 1;
    if (q->stream->waiting) {
        q->stream->waiting = 0;
        loop_resume(s->loop, q->conn);
    }
}

/* ---- the routes --------------------------------------------------------------------- */


/* On a worker: decode, compute, encode into q->res. The body is freed as
 * soon as the answer is made: it is not needed to send it. */
static void run_job(job *j)
{
    http_request *q = (http_request *)j;
    server *s = q->srv;
    double limit = s->opts->max_request_seconds;
    train_stream stream = {stream_line, stream_closed, q};
    compute_env env = {s->opts, limit > 0 ? q->start + limit : 0, &s->abort_compute,
                       q->json_len, 1, q->stream ? &stream : NULL, q->method, q->param,
                       &s->metrics, atomic_load(&s->draining), s->store, NULL, NULL};
    compute_run(q->route, q->body ? q->body : "", q->len, &env, &q->res);
    metrics_compute_done(&s->metrics, route_index(q->route), now_seconds() - j->started);
    metrics_phase(&s->metrics, route_index(q->route), PHASE_DECODE, q->res.decode_s);
    metrics_phase(&s->metrics, route_index(q->route), PHASE_COMPUTE, q->res.compute_s);
    metrics_phase(&s->metrics, route_index(q->route), PHASE_ENCODE, q->res.encode_s);
    srv_free(q->buf);
    q->buf = q->body = NULL;
}

/* Any thread, once per job: back to the event loop, which calls http_handle
 * again and answers (answer_compute). q may be freed as soon as this returns. */
static void finish_job(job *j)
{
    http_request *q = (http_request *)j;
    ndjson_stream *st = q->stream;
    if (st) {
        pthread_mutex_lock(&st->mu);
        st->worker = 0;
        int streaming = st->opened, gone = st->gone;
        if (streaming && !gone) stream_finish(q->srv, q);
        pthread_mutex_unlock(&st->mu);
        if (gone) { /* the connection has ended: the worker is last */
            count_problem(q->srv, &q->res.d);
            http_request_free(q);
            return;
        }
        if (streaming) return;
    }
    q->wait = WAIT_DONE;
    loop_resume(q->srv->loop, q->conn);
}

/* The body has arrived: checks that need it, then the queue. The connection
 * is suspended before the job is submitted, so that a worker can never
 * resume it first; a full queue resumes it at once (WAIT_REFUSED). */
static enum MHD_Result enqueue_compute(server *s, struct MHD_Connection *c, http_request *q)
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
    metrics_phase(&s->metrics, route_index(q->route), PHASE_RECEIVE, q->t_body - q->start);
    if (!q->route->queued) { /* cheap enough to answer on the event loop */
        unsigned char digest[DIGEST_BYTES];
        int hashed = q->sha && sha256_end(q->sha, digest);
        q->sha = NULL;
        compute_env env = {.opts = s->opts, .abort = &s->abort_compute, .json_len = q->json_len,
                           .split_binary = 1, .method = q->method, .param = q->param,
                           .metrics = &s->metrics, .draining = atomic_load(&s->draining),
                           .store = s->store, .body_sha256 = hashed ? digest : NULL,
                           .body_alloc = q->buf && !q->pad ? &q->buf : NULL};
        compute_run(q->route, q->body ? q->body : "", q->len, &env, &q->res);
        if (!q->buf) q->body = NULL; /* kept by the handler */
        return respond_result(s, c, q, &q->res);
    }

    const char *json = q->body ? q->body : "";
    size_t memory = estimate_working_set(q->route, json, q->json_len ? q->json_len : q->len,
                                         q->len, &s->opts->limits);
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
    if (q->route->ndjson && wants_ndjson(c)) {
        if (!(q->stream = srv_calloc(1, sizeof *q->stream))) return MHD_NO;
        pthread_mutex_init(&q->stream->mu, NULL);
        q->stream->worker = 1;
    }
    q->srv = s;
    q->conn = c;
    q->work.memory = memory;
    q->work.run = run_job;
    q->work.finish = finish_job;
    q->wait = WAIT_QUEUED;
    MHD_suspend_connection(c);
    if (wq_submit(&s->queue, &q->work) != 0) {
        if (q->stream) q->stream->worker = 0;
        q->wait = WAIT_REFUSED;
        loop_resume(s->loop, c);
    }
    return MHD_YES;
}

/* Back from the queue (the connection resumed): the answer. */
static enum MHD_Result answer_compute(server *s, struct MHD_Connection *c, http_request *q)
{
    if (q->wait == WAIT_REFUSED) return respond_unavailable(s, c, q, REJECT_QUEUE_FULL);
    if (q->work.outcome == JOB_EXPIRED) return respond_unavailable(s, c, q, REJECT_QUEUE_TIMEOUT);
    if (q->work.outcome == JOB_DRAINED) return respond_unavailable(s, c, q, REJECT_DRAINING);
    metrics_phase(&s->metrics, route_index(q->route), PHASE_QUEUE, q->work.started - q->t_body);
    return respond_result(s, c, q, &q->res);
}

/* OPTIONS: the CORS preflight (no auth: browsers send none with it). */
static enum MHD_Result preflight(server *s, struct MHD_Connection *c, http_request *q)
{
    char methods[64];
    snprintf(methods, sizeof methods, "%s, OPTIONS", q->route->methods);
    const char *pna =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Private-Network");
    header h[] = {{"Allow", methods},
                  {"Access-Control-Allow-Methods", methods},
                  {"Access-Control-Allow-Headers", CORS_ALLOW_HEADERS},
                  {"Access-Control-Max-Age", CORS_MAX_AGE},
                  {pna && !strcasecmp(pna, "true") ? "Access-Control-Allow-Private-Network" : NULL,
                   "true"},
                  {NULL, NULL}};
    return respond(s, c, q, 204, NULL, "", 0, 0, h);
}

/* Everything but a request whose body is read: unknown paths, wrong
 * methods, preflights, and the routes without a body, answered at once. */
static enum MHD_Result answer_plain(server *s, struct MHD_Connection *c, http_request *q)
{
    const char *method = q->method;
    if (!q->route->path)
        return respond_error(s, c, q, 404, "not-found", NULL, "No route %s; see /openapi.yaml.",
                             q->path);
    if (strcmp(method, "OPTIONS") == 0) return preflight(s, c, q);
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
    compute_env env = {.opts = s->opts, .abort = &s->abort_compute, .method = method,
                       .param = q->param, .metrics = &s->metrics,
                       .draining = atomic_load(&s->draining), .store = s->store};
    compute_run(q->route, "", 0, &env, &q->res);
    return respond_result(s, c, q, &q->res);
}

static int has_body(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    return (cl && strtoull(cl, NULL, 10) > 0) ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
}

/* The first call, on the headers. libmicrohttpd 0.9.75 closes the connection
 * after any response queued this early (it stops reading the request), so
 * only refusals that spare reading a body answer now; everything else
 * answers on the next call and keeps the connection alive. */
static enum MHD_Result on_headers(server *s, struct MHD_Connection *c, http_request *q)
{
    q->compute = route_reads_body(q->route, q->method);
    if (q->compute) {
        int done = 0;
        return admit_compute(s, c, q, &done);
    }
    return has_body(c) ? answer_plain(s, c, q) : MHD_YES;
}

enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls)
{
    server *s = cls;
    http_request *q = *con_cls;
    (void)version;
    if (!q) {
        if (!(q = srv_calloc(1, sizeof *q))) return MHD_NO;
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
        return on_headers(s, c, q);
    }
    if (*upload_data_size) { /* only compute requests read bodies (see on_headers) */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return take_chunk(s, q, upload_data, n);
    }
    if (q->status) return MHD_YES; /* answered already (cannot happen: MHD stops calling) */
    if (!q->compute) return answer_plain(s, c, q);
    switch (q->wait) {
    case WAIT_NONE:
        return enqueue_compute(s, c, q);
    case WAIT_QUEUED: /* resumed by a streamed /train's first line */
        return q->stream ? start_stream(s, c, q) : MHD_YES;
    default:
        return answer_compute(s, c, q);
    }
}

void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    http_request *q = *con_cls;
    (void)c;
    if (!q) return;
    double seconds = now_seconds() - q->start;
    /* A request that ended without a response (client gone, timeout) is
     * logged with status 0 and not counted as answered. */
    int status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? q->status : 0;
    if (status) metrics_request_done(&s->metrics, route_index(q->route), status, seconds);
    if (status && q->compute) metrics_phase(&s->metrics, route_index(q->route), PHASE_SEND, now_seconds() - q->t_queued);
    log_request(q->id, q->method, q->path, status, status ? q->bytes : 0, seconds);
    atomic_fetch_sub(&s->metrics.inflight, 1);
    *con_cls = NULL;
    if (q->stream) { /* a worker still streaming to this connection stops and frees q */
        pthread_mutex_lock(&q->stream->mu);
        q->stream->gone = 1;
        atomic_store(&q->stream->closed, 1);
        int worker = q->stream->worker;
        pthread_mutex_unlock(&q->stream->mu);
        if (worker) return;
    }
    http_request_free(q);
}
