/* The way of a request through the server, stage by stage. On the event
 * loop (http/http.c, http_handle):
 *
 *   1. admit     the route's row, method, auth, media type, size (headers),
 *                and the row's own refusals (admit: a PUT /tensors/ digest)
 *   2. receive   the body, within --max-body-bytes (raw bytes hashed as they
 *                arrive: compute_env.body_sha256)
 *   3. queue     estimate the working set, wait for a worker and the budget
 *                (rows that are not queued skip this: they run at once)
 *
 * then on a compute worker, compute_run below:
 *
 *   4. scan      fastjson at the row's tensor positions, jansson, binary part
 *   5. decode    into the core's types (request_decode, with the row's keys);
 *                refs read from the tensor store, pinned; every missing ref
 *                answered as one 409 (route_refs_missing)
 *   6. compute   the row's handler: the core's passes, writing the answer
 *   7. encode    the writer's text (and binary part) into the result
 *
 * and back on the event loop: 8. respond (http/respond.c), the answer or its
 * problem, or the NDJSON stream of a /train (http/stream.c). */
#ifndef GS_SERVER_PIPELINE_H
#define GS_SERVER_PIPELINE_H

#include "api/routes.h"

/* Stages 4 to 7 of route r on body[len] (for on_plain rows: the handler on
 * the body as it is). res is always filled: status and body, or the problem
 * in res->d (srv_free res->body, jw_parts_free res->parts); and the time of
 * each stage. */
void compute_run(const route_def *r, const char *body, size_t len, const compute_env *env,
                 compute_result *res);

#endif
