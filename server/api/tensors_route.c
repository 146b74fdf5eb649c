#include "api/tensors_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/json_writer.h"

#define PREFIX "/tensors/"

int tensors_path_digest(const char *path, unsigned char digest[DIGEST_BYTES], diag *d)
{
    const char *ref = path + strlen(PREFIX);
    if (ref_parse(ref, strlen(ref), digest)) return 1;
    diag_set(d, 400, "bad-digest",
             "A tensor is named /tensors/sha256:<64 lowercase hex digits>, the sha256 of its "
             "bytes; not %.80s.",
             ref);
    return 0;
}

static void too_big(const tensor_store *s, size_t len, diag *d)
{
    d->status = 413;
    d->slug = "payload-too-large";
    d->limit = "tensor_store_bytes";
    d->limit_value = (double)store_budget(s);
    snprintf(d->detail, sizeof d->detail,
             "A tensor of %zu bytes is larger than the whole tensor store (%zu bytes, "
             "--tensor-store-bytes); send it inline instead.",
             len, store_budget(s));
}

int tensors_put_too_big(const tensor_store *s, size_t len, diag *d)
{
    if (len <= store_budget(s)) return 0;
    too_big(s, len, d);
    return 1;
}

static void not_held(tensor_answer *a)
{
    diag_set(&a->d, 404, "not-found",
             "The tensor store does not hold this tensor (never stored, deleted, or evicted); "
             "PUT it again.");
    a->status = 404;
}

void tensors_get(tensor_store *s, const unsigned char digest[DIGEST_BYTES], tensor_answer *a)
{
    memset(a, 0, sizeof *a);
    if ((a->entry = store_pin(s, digest, 0))) a->status = 200;
    else not_held(a);
}

void tensors_delete(tensor_store *s, const unsigned char digest[DIGEST_BYTES], tensor_answer *a)
{
    memset(a, 0, sizeof *a);
    if (store_delete(s, digest)) a->status = 204;
    else not_held(a);
}

void tensors_put(tensor_store *s, const unsigned char digest[DIGEST_BYTES], void *buf,
                 size_t len, const unsigned char computed[DIGEST_BYTES], tensor_answer *a)
{
    memset(a, 0, sizeof *a);
    if (memcmp(digest, computed, DIGEST_BYTES) != 0) {
        free(buf);
        char ref[REF_TEXT_LEN + 1];
        ref_text(ref, computed);
        diag_set(&a->d, 400, "bad-digest",
                 "The body's sha256 is %s, not the digest of the path: nothing was stored.", ref);
        a->status = 400;
        return;
    }
    store_put_result r = store_put(s, digest, buf, len);
    if (r == STORE_TOO_BIG) {
        too_big(s, len, &a->d);
    } else if (r == STORE_FULL) {
        diag_set(&a->d, 503, "store-full",
                 "Running requests are reading tensors that fill the tensor store "
                 "(--tensor-store-bytes); retry when they end.");
    } else if (r == STORE_NO_MEMORY) {
        diag_set(&a->d, 500, "internal", "out of memory storing the tensor");
    } else {
        char ref[REF_TEXT_LEN + 1];
        ref_text(ref, digest);
        jw w;
        jw_init(&w);
        jw_object(&w);
        jw_key(&w, "ref");
        jw_string(&w, ref);
        jw_key(&w, "bytes");
        jw_uint(&w, len);
        jw_end(&w);
        if ((a->body = jw_take(&w, &a->len))) a->status = r == STORE_ADDED ? 201 : 200;
        else diag_set(&a->d, 500, "internal", "out of memory answering the PUT");
    }
    if (a->d.status) a->status = a->d.status;
}
