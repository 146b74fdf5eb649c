/* The routes: one table with a row per route (its path, methods, body,
 * handler, accepted keys, tensors, metric label). The transport (http/) and
 * the pipeline (api/pipeline.h) learn of a route only through its row. */
#ifndef GS_SERVER_ROUTES_H
#define GS_SERVER_ROUTES_H

#include <stdatomic.h>
#include <stddef.h>

#include "api/request.h"
#include "metrics.h"
#include "options.h"
#include "store/store.h"
#include "wire/json_writer.h"
#include "wire/problem.h"

/* /train's progress as NDJSON (Accept: application/x-ndjson), on the
 * worker: line() gets one JSON object per finished epoch and answers nonzero
 * when nobody listens any more; closed(), asked before every step, answers
 * nonzero once the client has left. Either way training stops. */
typedef struct {
    int (*line)(void *ctx, const char *json, size_t len);
    int (*closed)(void *ctx);
    void *ctx;
} train_stream;

/* What a handler is given besides the body: the server's options and
 * state, and the request line's parts that a row may need. */
typedef struct {
    const server_options *opts;
    double deadline;         /* monotonic seconds when /train must stop; 0: none */
    const atomic_int *abort; /* nonzero: shutdown's grace ran out, stop training */
    size_t json_len;         /* > 0: the JSON is body[0, json_len) and binary tensors
                                follow (Inference-Header-Content-Length); 0: all JSON */
    size_t text_numbers;     /* numbers in the tensors written as text, as the request's
                                estimate counted them (http/estimate.h); 0: not known.
                                The scan sizes its pool from it (wire/fastjson.h) */
    int split_answer;        /* 1: an answer of more than one chunk (a long one, or a
                                binary one) comes as its chunks in parts, not joined
                                (HTTP sends them as they lie); 0: in body */
    const train_stream *stream; /* /train streams its epochs; NULL: one answer */
    const char *method;      /* "GET", "POST", ...; NULL: the row's first method */
    const char *param;       /* the path parameter of a templated path ("app.js" of
                                /static/app.js); "" for a plain path */
    metrics *metrics;        /* GET /metrics renders it; may be NULL elsewhere */
    int draining;            /* SIGTERM seen: /health/ready answers 503 */
    tensor_store *store;     /* refs are read from it, "encoding": "ref" answers and PUT
                                /tensors/ put in it; NULL: none (every ref is missing) */
    json_cache *skeletons;   /* parsed skeletons shared by the requests that send the
                                same one (wire/json_cache.h); NULL: each is parsed */
    net_cache *nets;         /* their networks' checked definitions (api/net_cache.h);
                                NULL: each is read and checked */
    /* BODY_BYTES: the body's sha256, computed while it arrived (NULL: not
     * computed), and the allocation that holds it, which the handler may
     * keep (setting *body_alloc to NULL) instead of copying the body; the
     * body starts at that allocation when body_alloc is not NULL. */
    const unsigned char *body_sha256;
    char **body_alloc;
} compute_env;

/* One extra response header; arrays of them end with {NULL, NULL}. */
typedef struct {
    const char *name, *value;
} route_header;

/* What a route answers: status and body, or (status >= 400) the problem in
 * d. body is malloc'd (srv_free() it) unless it is fixed: a constant or a built-in
 * file that lives as long as the program, or bytes held until release is
 * called. With a 409 missing-refs, body holds the problem's errors array
 * (d.errors_json points at it). */
typedef struct {
    int status;
    char *body;
    size_t len;
    size_t json_len; /* > 0: body is that much JSON, then binary tensors
                        (application/octet-stream); 0: body is JSON */
    jw_parts *parts; /* with split_answer, instead of body: the answer's chunks
                        (jw_parts_free()), len bytes of which json_len are JSON */
    const char *fixed;            /* instead of body: not to be freed */
    void (*release)(void *ctx);   /* with fixed: called once the response is sent (or
                                     dropped), e.g. to unpin stored bytes */
    void *release_ctx;
    const char *content_type;     /* NULL: application/json (octet-stream with json_len) */
    const route_header *headers;  /* extra headers (static), or NULL */
    double decode_s, compute_s, encode_s; /* where the time went */
    diag d; /* last, its errors array last in it: see RESULT_HEAD */
} compute_result;

/* The bytes of a compute_result to clear to make it empty: all but the 7 KB
 * of d.errors, which are written before they are read (problem.h). A small
 * request used to zero them twice, in its state's calloc and in compute_run. */
#define RESULT_HEAD offsetof(compute_result, d.errors)

/* The response being written by a handler, and the problem that may replace it. */
typedef struct {
    jw w;
    tensor_encoding enc;
    gs_dtype dtype;
    tensor_store *store;     /* "encoding": "ref" puts the answer's tensors there */
    const codec_refs *refs;  /* the refs the request named */
    compute_result *res;
    diag *d;
    double t_decoded, t_computed; /* phase ends, for the metrics (0: not reached) */
} route_out;

/* What a request carries as its body (POST and PUT read one). */
typedef enum {
    BODY_NONE = 0, /* no body is read */
    BODY_JSON,     /* JSON, possibly followed by binary tensors */
    BODY_BYTES,    /* raw bytes, given to the handler as they are */
} route_body;

/* A row's handler: exactly one of the three is set.
 *   on_net:   a network request decoded by request_decode (the row's keys
 *             and needs_targets) -> the answer written in o;
 *   on_json:  the parsed JSON root, for a request without a network;
 *   on_plain: the body as it is (none for GET), answering res itself. */
typedef void (*net_handler)(request *r, const compute_env *env, route_out *o);
typedef void (*json_handler)(const json_t *root, const compute_env *env, route_out *o);
typedef void (*plain_handler)(const char *body, size_t len, const compute_env *env,
                              compute_result *res);

typedef struct {
    /* "/gradients", or a template whose last segment is a parameter,
     * "/static/{file}": the literal part is a prefix and the parameter one
     * non-empty segment. Also the metric label, as openapi.yaml writes it. */
    const char *path;
    const char *methods; /* besides OPTIONS, as the Allow header lists them */
    route_body body;     /* what a POST or PUT to the route carries */
    int auth;            /* needs the bearer token when --auth-token is set */
    int queued;          /* runs on a compute worker, admitted by the queue and the
                            memory budget; else on the event loop at once */
    int ndjson;          /* may answer application/x-ndjson as it runs */
    int late_tensors;    /* on_net decodes tensors of its own (/train's optimizer_state):
                            it asks route_refs_missing itself, once they are read */
    net_handler on_net;
    json_handler on_json;
    plain_handler on_plain;
    request_kind kind;   /* on_net: top-level keys beyond the common ones, targets */
    /* Where its tensors are, for the scan (wire/fastjson.h): JSON Pointers in
     * which "#" stands for any array index and "*" for any key. NULL-terminated. */
    const char *const *tensors;
    /* The working set's estimate (http/estimate.h): copies of the
     * parameters held (params, grads; a route of minibatches adds its
     * optimizer's state buffers, counted from the request); 0: the body's
     * length alone tells. float64: computes in float64 whatever the request says. */
    unsigned param_copies;
    int float64;
    int one_pass;        /* its work is one forward (and backward) pass: a tiny one
                            runs on the event loop (http/estimate.h) */
    int minibatches;     /* its passes take "batch_size" rows at a time and it answers
                            no number per row (/train): what the estimate counts */
    int backward;        /* its passes go backward too (deltas; input gradients when
                            asked) and it answers gradients; 0: a forward pass
                            answering outputs (/forward): what the estimate counts */
    /* A body route's refusals from the request line and Content-Length
     * (length; -1 when not given) before its body is read: 1 with the
     * problem in d (the connection is closed after it), else 0. NULL: none. */
    int (*admit)(const compute_env *env, long long length, diag *d);
} route_def;

/* The table; its last row (path NULL, no methods) stands for every path no
 * other row matches: it answers 404 and counts under the label "other". */
extern const route_def ROUTE_TABLE[];
extern const size_t ROUTE_COUNT; /* rows, the last one included */

/* Every ref the request named that the store lacks, answered as one 409
 * (codec_refs_missing) before anything is computed: 1 when so answered.
 * The pipeline asks after the decode stage; a late_tensors handler asks
 * once it has read its own tensors. */
int route_refs_missing(route_out *o);

/* The row of a path (never NULL), and where its parameter starts in path
 * (*param = "" for a plain path). */
const route_def *route_find(const char *path, const char **param);
/* The row's position in the table: the metrics' index. */
size_t route_index(const route_def *r);
/* Its label in the metrics and the Allow header: path, or "other". */
const char *route_label(const route_def *r);
/* 1 when the row takes method (exactly, as the request line has it). */
int route_allows(const route_def *r, const char *method);
/* 1 when a request with this method reads a body (POST and PUT, when the row
 * takes one). */
int route_reads_body(const route_def *r, const char *method);

/* Monotonic clock, in seconds. */
double now_seconds(void);

#endif
