/* The tensor store's routes, /tensors/sha256:<hex> (docs/tensor-store.md):
 * what each method answers, decided here without HTTP; http/http.c reads the
 * PUT's body (hashing it as it arrives), sends the answer and its bytes. */
#ifndef GS_SERVER_TENSORS_ROUTE_H
#define GS_SERVER_TENSORS_ROUTE_H

#include <stddef.h>

#include "store/store.h"
#include "wire/problem.h"

typedef struct {
    int status;         /* 200, 201 or 204; >= 400: the problem in d */
    diag d;
    char *body;         /* PUT: {"ref", "bytes"} (free()) */
    size_t len;
    store_entry *entry; /* GET and HEAD: pinned; the caller sends its bytes, then unpins */
} tensor_answer;

/* The digest named by a /tensors/ path: 1, or 0 with a 400 in d (not
 * "sha256:" and 64 lowercase hex digits). */
int tensors_path_digest(const char *path, unsigned char digest[DIGEST_BYTES], diag *d);

/* A PUT of len bytes that could never be stored (over the store's whole
 * budget), told from Content-Length before the body is read: 1 with a 413
 * naming tensor_store_bytes in d, else 0. */
int tensors_put_too_big(const tensor_store *s, size_t len, diag *d);

/* GET or HEAD: 200 with the entry pinned, or 404. */
void tensors_get(tensor_store *s, const unsigned char digest[DIGEST_BYTES], tensor_answer *a);
/* DELETE: 204, or 404. An entry a running request reads is freed when it ends. */
void tensors_delete(tensor_store *s, const unsigned char digest[DIGEST_BYTES],
                    tensor_answer *a);
/* PUT, its whole body arrived: buf (malloc'd, len bytes; taken in every case)
 * whose sha256 is computed. 201 stored, 200 held already, 400 when the
 * digests differ (nothing stored), 413 over the budget, 503 when requests
 * running now pin the whole budget. */
void tensors_put(tensor_store *s, const unsigned char digest[DIGEST_BYTES], void *buf,
                 size_t len, const unsigned char computed[DIGEST_BYTES], tensor_answer *a);

#endif
