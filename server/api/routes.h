/* The routes: their table (paths, methods, metric labels) and the compute
 * handlers, each decode -> core -> encode. */
#ifndef GS_SERVER_ROUTES_H
#define GS_SERVER_ROUTES_H

#include <stdatomic.h>
#include <stddef.h>

#include "options.h"
#include "store/store.h"
#include "wire/problem.h"

typedef enum {
    R_FORWARD = 0,
    R_GRADIENTS,
    R_TRAIN,
    R_GRADCHECK,
    R_AUTODIFF,
    R_LIVE,
    R_READY,
    R_METRICS,
    R_OPENAPI,
    R_PAGE,   /* GET /: the playground */
    R_STATIC, /* GET /static/<file>: the playground's scripts and style */
    R_TENSORS, /* /tensors/sha256:<hex>: the tensor store (api/tensors_route.h) */
    R_OTHER, /* no route matched: one label for every unknown path */
    R_COUNT
} route_id;

#define ROUTE_IS_COMPUTE(r) ((r) <= R_AUTODIFF)

typedef struct {
    const char *path;
    const char *allow; /* the Allow header: methods besides OPTIONS */
} route_info;

extern const route_info ROUTES[R_COUNT];

/* The route of a path, or R_OTHER. */
route_id route_find(const char *path);

/* /train's progress as NDJSON (Accept: application/x-ndjson), on the
 * worker: line() gets one JSON object per finished epoch and answers nonzero
 * when nobody listens any more; closed(), asked before every step, answers
 * nonzero once the client has left. Either way training stops. */
typedef struct {
    int (*line)(void *ctx, const char *json, size_t len);
    int (*closed)(void *ctx);
    void *ctx;
} train_stream;

typedef struct {
    const server_options *opts;
    double deadline;         /* monotonic seconds when /train must stop; 0: none */
    const atomic_int *abort; /* nonzero: shutdown's grace ran out, stop training */
    size_t json_len;         /* > 0: the JSON is body[0, json_len) and binary tensors
                                follow (Inference-Header-Content-Length); 0: all JSON */
    int split_binary;        /* 1: a binary answer comes as its JSON in body and its
                                tensors in bin, not joined (HTTP sends both as they are) */
    const train_stream *stream; /* /train streams its epochs; NULL: one answer */
    tensor_store *store;     /* refs are read from it, "encoding": "ref" answers put in it;
                                NULL: no store (every ref is missing) */
} compute_env;

/* What a compute route answers: status and JSON body, or (status >= 400) the
 * problem in d. Free the body with free(); with a 409 missing-refs it holds
 * the problem's errors array (d.errors_json points at it). */
typedef struct {
    int status;
    char *body;
    size_t len;
    size_t json_len; /* > 0: body is that much JSON, then binary tensors
                        (application/octet-stream); 0: body is JSON */
    char *bin;       /* with split_binary: the binary tensors (free()), body and
                        len being the JSON alone (json_len = len) */
    size_t bin_len;
    diag d;
    double decode_s, compute_s, encode_s; /* where the time went */
} compute_result;

/* Parses body as JSON and runs the compute route r on it. */
void compute_run(route_id r, const char *body, size_t len, const compute_env *env,
                 compute_result *res);

/* Monotonic clock, in seconds. */
double now_seconds(void);

#endif
