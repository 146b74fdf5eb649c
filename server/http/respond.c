/* Stage 8 of the pipeline (api/pipeline.h): every response, with the
 * headers each one has (CORS, request id, nosniff), a route's answer or its
 * problem+json, and the refusals the HTTP side makes itself. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "http/exchange.h"
#include "wire/problem.h"

#define CORS_ALLOW_HEADERS "Content-Type, Authorization, X-Request-Id, " BINARY_HEADER
#define CORS_EXPOSE_HEADERS "X-Request-Id, Retry-After, WWW-Authenticate, " BINARY_HEADER
#define CORS_MAX_AGE "7200" /* Chromium's cap; Firefox allows a day */

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


/* MHD frees an owned body through this: a big one is a mapping (alloc.h). */
static void free_body(void *body) { srv_free(body); }

/* Queues body (freed by MHD when owned) with the headers every response has. */
enum MHD_Result respond(server *s, struct MHD_Connection *c, http_request *q, int status,
                               const char *content_type, const char *body, size_t len,
                               int owned, const header *extra)
{
    struct MHD_Response *r =
        owned ? MHD_create_response_from_buffer_with_free_callback(len, (void *)body, free_body)
              : MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned) srv_free((void *)body);
        return MHD_NO;
    }
    return send_response(s, c, q, status, content_type, r, len, extra);
}

/* An answer in its chunks (a long one, or a binary one: its JSON, then its
 * tensors), which MHD sends as they lie (one iovec, no copy to join them)
 * and frees with the response. */
static void free_parts(void *cls) { jw_parts_free(cls); }

static enum MHD_Result respond_parts(server *s, struct MHD_Connection *c, http_request *q,
                                     int status, const char *content_type, jw_parts *p,
                                     const header *extra)
{
    struct MHD_IoVec *iov = p->n <= UINT_MAX ? srv_malloc(p->n * sizeof *iov) : NULL;
    for (size_t i = 0; iov && i < p->n; i++)
        iov[i] = (struct MHD_IoVec){p->part[i].p, p->part[i].len};
    /* MHD copies the iovec itself; the chunks stay ours until free_parts */
    struct MHD_Response *r =
        iov ? MHD_create_response_from_iovec(iov, (unsigned)p->n, free_parts, p) : NULL;
    srv_free(iov);
    if (!r) {
        jw_parts_free(p);
        return MHD_NO;
    }
    return send_response(s, c, q, status, content_type, r, p->len, extra);
}

/* Queues r with the headers every response has. */
enum MHD_Result send_response(server *s, struct MHD_Connection *c, http_request *q,
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

enum MHD_Result respond_problem(server *s, struct MHD_Connection *c, http_request *q,
                                       const diag *d, const header *extra)
{
    size_t len = 0;
    char *body = problem_render(d, q->id, &len);
    if (!body) return MHD_NO;
    return respond(s, c, q, d->status, "application/problem+json", body, len, 1, extra);
}

enum MHD_Result respond_error(server *s, struct MHD_Connection *c, http_request *q,
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

const header RETRY_AFTER[] = {{"Retry-After", "1"}, {NULL, NULL}};

enum MHD_Result respond_too_large(server *s, struct MHD_Connection *c, http_request *q,
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

enum MHD_Result respond_unavailable(server *s, struct MHD_Connection *c, http_request *q,
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

/* A compute problem in the rejection metrics: over a limit, out of time, or
 * a streamed /train whose client left. */
void count_problem(server *s, const diag *d)
{
    if (d->slug && !strcmp(d->slug, "client-gone")) metrics_reject(&s->metrics, REJECT_CLIENT_GONE);
    if (!d->slug || strcmp(d->slug, "limit-exceeded")) return;
    metrics_reject(&s->metrics, d->limit && !strcmp(d->limit, "max_request_seconds")
                                    ? REJECT_DEADLINE
                                    : REJECT_LIMIT);
}

/* A route's answer (compute_run's result): its body as it is, or its
 * chunks (a long answer, or a binary one's JSON and tensors), or its
 * problem. The bodies are the response's from here on. */
enum MHD_Result respond_result(server *s, struct MHD_Connection *c, http_request *q,
                                      compute_result *res)
{
    if (res->d.status) {
        count_problem(s, &res->d);
        return respond_problem(s, c, q, &res->d, res->status == 503 ? RETRY_AFTER : NULL);
    }
    const char *type = res->content_type ? res->content_type : "application/json";
    const header *extra = res->headers;
    char n[24];
    header binary[] = {{BINARY_HEADER, n}, {NULL, NULL}};
    if (res->json_len) { /* JSON, then binary tensors */
        snprintf(n, sizeof n, "%zu", res->json_len);
        type = "application/octet-stream";
        extra = binary;
    }
    if (res->parts) {
        jw_parts *p = res->parts;
        res->parts = NULL;
        return respond_parts(s, c, q, res->status, type, p, extra);
    }
    if (res->fixed && res->release) { /* bytes held until MHD has sent them */
        struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
            res->len, (void *)res->fixed, res->release, res->release_ctx);
        if (!r) return MHD_NO; /* http_request_free releases them */
        res->release = NULL;
        return send_response(s, c, q, res->status, type, r, res->len, extra);
    }
    if (res->fixed) return respond(s, c, q, res->status, type, res->fixed, res->len, 0, extra);
    char *body = res->body;
    res->body = NULL;
    return respond(s, c, q, res->status, type, body, res->len, 1, extra);
}

/* OPTIONS: the CORS preflight (no auth: browsers send none with it). */
enum MHD_Result respond_preflight(server *s, struct MHD_Connection *c, http_request *q)
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
