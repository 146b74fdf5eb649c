/* The tensor store's route, /tensors/sha256:<hex> (docs/tensor-store.md): a
 * row of the route table (api/routes.c) answered on the event loop. PUT's
 * body is hashed by http/ as it arrives (compute_env.body_sha256) and its
 * buffer becomes the entry (compute_env.body_alloc); GET sends the stored
 * bytes themselves, pinned until sent (compute_result.release). */
#ifndef GS_SERVER_TENSORS_ROUTE_H
#define GS_SERVER_TENSORS_ROUTE_H

#include "api/routes.h"

/* The row's admit: a PUT refused before its body is read, 400 when the
 * path is not sha256:<64 lowercase hex>, 413 naming tensor_store_bytes when
 * Content-Length is over the whole store. */
int admit_tensor(const compute_env *env, long long length, diag *d);

/* GET and HEAD: 200 with the bytes, or 404; DELETE: 204 or 404 (a request
 * reading the tensor keeps its bytes until it ends); PUT: 201 stored, 200
 * held already, 400 when the body's sha256 is not the path's digest (nothing
 * stored), 413 over the store, 503 when running requests pin the whole
 * store. A path that is not a digest: 400. */
void serve_tensors(const char *body, size_t len, const compute_env *env, compute_result *res);

#endif
