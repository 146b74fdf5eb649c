#include "api/tensors_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static int path_digest(const compute_env *env, unsigned char digest[DIGEST_BYTES], diag *d)
{
    if (ref_parse(env->param, strlen(env->param), digest)) return 1;
    diag_set(d, 400, "bad-digest",
             "A tensor is named /tensors/sha256:<64 lowercase hex digits>, the sha256 of its "
             "bytes; not %.80s.",
             env->param);
    return 0;
}

static void too_big(const tensor_store *s, size_t len, diag *d)
{
    size_t budget = s ? store_budget(s) : 0;
    d->status = 413;
    d->slug = "payload-too-large";
    d->limit = "tensor_store_bytes";
    d->limit_value = (double)budget;
    snprintf(d->detail, sizeof d->detail,
             "A tensor of %zu bytes is larger than the whole tensor store (%zu bytes, "
             "--tensor-store-bytes); send it inline instead.",
             len, budget);
}

int admit_tensor(const compute_env *env, long long length, diag *d)
{
    unsigned char digest[DIGEST_BYTES];
    if (!path_digest(env, digest, d)) return 1;
    if (length < 0 || (env->store && (size_t)length <= store_budget(env->store))) return 0;
    too_big(env->store, (size_t)length, d);
    return 1;
}

static void not_held(compute_result *res)
{
    diag_set(&res->d, 404, "not-found",
             "The tensor store does not hold this tensor (never stored, deleted, or evicted); "
             "PUT it again.");
}

typedef struct {
    tensor_store *store;
    store_entry *entry;
} pinned_bytes;

static void unpin_sent(void *ctx)
{
    pinned_bytes *p = ctx;
    store_unpin(p->store, p->entry);
    srv_free(p);
}

/* GET and HEAD: the stored bytes themselves, no copy, pinned while sent. */
static void get_tensor(const compute_env *env, const unsigned char *digest, compute_result *res)
{
    store_entry *e = env->store ? store_pin(env->store, digest, 0) : NULL;
    pinned_bytes *p = e ? srv_malloc(sizeof *p) : NULL;
    if (!e) {
        not_held(res);
        return;
    }
    if (!p) {
        store_unpin(env->store, e);
        diag_set(&res->d, 500, "internal", "out of memory sending the tensor");
        return;
    }
    *p = (pinned_bytes){env->store, e};
    res->status = 200;
    res->content_type = "application/octet-stream";
    res->fixed = store_entry_bytes(e, &res->len);
    res->release = unpin_sent;
    res->release_ctx = p;
}

/* {"ref", "bytes"} */
static void stored(compute_result *res, int status, const unsigned char *digest, size_t len)
{
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
    if ((res->body = jw_take(&w, &res->len))) res->status = status;
    else diag_set(&res->d, 500, "internal", "out of memory answering the PUT");
}

static void put_tensor(const char *body, size_t len, const compute_env *env,
                       const unsigned char *digest, compute_result *res)
{
    /* a chunked body: its length is known only now */
    if (!env->store || len > store_budget(env->store)) {
        too_big(env->store, len, &res->d);
        return;
    }
    unsigned char computed[DIGEST_BYTES];
    if (env->body_sha256) memcpy(computed, env->body_sha256, DIGEST_BYTES);
    else if (!sha256_of(body, len, computed)) {
        diag_set(&res->d, 500, "internal", "OpenSSL could not hash the body");
        return;
    }
    if (memcmp(digest, computed, DIGEST_BYTES) != 0) {
        char ref[REF_TEXT_LEN + 1];
        ref_text(ref, computed);
        diag_set(&res->d, 400, "bad-digest",
                 "The body's sha256 is %s, not the digest of the path: nothing was stored.", ref);
        return;
    }
    /* the body's own allocation becomes the entry when the handler may keep it */
    void *buf = NULL;
    if (env->body_alloc && *env->body_alloc) {
        buf = srv_realloc(*env->body_alloc, len ? len : 1); /* a chunked body's buffer grew past it */
        if (buf) *env->body_alloc = NULL;
    } else if ((buf = srv_malloc(len ? len : 1))) {
        memcpy(buf, body, len);
    }
    if (!buf) {
        diag_set(&res->d, 500, "internal", "out of memory storing the tensor");
        return;
    }
    store_put_result r = store_put(env->store, digest, buf, len);
    if (r == STORE_TOO_BIG) {
        too_big(env->store, len, &res->d);
    } else if (r == STORE_FULL) {
        diag_set(&res->d, 503, "store-full",
                 "Running requests are reading tensors that fill the tensor store "
                 "(--tensor-store-bytes); retry when they end.");
    } else if (r == STORE_NO_MEMORY) {
        diag_set(&res->d, 500, "internal", "out of memory storing the tensor");
    } else {
        stored(res, r == STORE_ADDED ? 201 : 200, digest, len);
    }
}

void serve_tensors(const char *body, size_t len, const compute_env *env, compute_result *res)
{
    unsigned char digest[DIGEST_BYTES];
    const char *method = env->method ? env->method : "GET";
    if (!path_digest(env, digest, &res->d)) return;
    if (!strcmp(method, "PUT")) {
        put_tensor(body, len, env, digest, res);
    } else if (!strcmp(method, "DELETE")) {
        if (env->store && store_delete(env->store, digest)) {
            res->status = 204;
            res->fixed = "";
        } else {
            not_held(res);
        }
    } else {
        get_tensor(env, digest, res);
    }
}
