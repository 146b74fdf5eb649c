/* API tests of the tensor store (docs/tensor-store.md) against the real
 * binary: PUT/HEAD/GET/DELETE and their statuses, least-recently-used
 * eviction under a small --tensor-store-bytes with its metrics, refs in
 * /gradients, /forward and /train (with optimizer_state) giving the same
 * bytes as every inline encoding, "encoding": "ref" answers fetched back by
 * GET, one 409 listing every missing ref, auth, a DELETE while a request reads
 * the entry, concurrent PUTs of one digest, and hostile input. Every
 * response is checked against openapi.yaml (api_call). */
#include <openssl/evp.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "http/estimate.h"
#include "lib/apitest.h"
#include "wire/codec.h"

static const char *const OCTETS[] = {"Content-Type: application/octet-stream", NULL};

/* "sha256:<hex>" of n bytes, computed here with OpenSSL, not by the server. */
static void ref_of(const void *data, size_t n, char out[72])
{
    unsigned char d[32];
    unsigned len = 0;
    EVP_Digest(data, n, d, &len, EVP_sha256(), NULL);
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++) sprintf(out + 7 + 2 * i, "%02x", d[i]);
}

static void tensor_path(char out[96], const char *ref) { snprintf(out, 96, "/tensors/%s", ref); }

/* PUT bytes on client c (api_cli when NULL); the status. */
static long put_bytes(http_client *c, const void *data, size_t n, char ref[72])
{
    char path[96];
    ref_of(data, n, ref);
    tensor_path(path, ref);
    http_response r;
    json_decref(api_call(c, "PUT", path, OCTETS, data, n, -1, &r));
    long status = r.status;
    http_response_free(&r);
    return status;
}

static long head_status(const char *ref)
{
    char path[96];
    tensor_path(path, ref);
    http_response r;
    json_decref(api_call(NULL, "HEAD", path, NULL, NULL, 0, -1, &r));
    long status = r.status;
    http_response_free(&r);
    return status;
}

static double metric(const char *name)
{
    char *m = api_metrics_text(api_srv.port);
    double v = m ? api_metric_value(m, name) : -1;
    free(m);
    return v;
}

/* n deterministic float32s, distinct per seed. */
static float *floats(size_t n, unsigned seed)
{
    float *v = malloc(n * sizeof *v);
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[i] = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5);
    }
    return v;
}

/* ---- the routes ---------------------------------------------------------------- */

static void test_put_head_get_delete(void)
{
    float *v = floats(1000, 1);
    char ref[72], path[96];
    CHECK(put_bytes(NULL, v, 4000, ref) == 201, "first PUT");
    http_response r;
    json_t *j = api_call(NULL, "PUT", (tensor_path(path, ref), path), OCTETS, (char *)v, 4000, 200,
                         NULL);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "ref")) ?: "", ref) &&
              json_integer_value(json_object_get(j, "bytes")) == 4000,
          "second PUT answers {ref, bytes}");
    json_decref(j);

    json_decref(api_call(NULL, "HEAD", path, NULL, NULL, 0, 200, &r));
    const char *cl = http_header_get(&r, "Content-Length");
    CHECK(cl && atoi(cl) == 4000 && r.body_len == 0, "HEAD: Content-Length %s, %zu body bytes",
          cl ? cl : "-", r.body_len);
    http_response_free(&r);
    json_decref(api_call(NULL, "GET", path, NULL, NULL, 0, 200, &r));
    CHECK(r.body_len == 4000 && !memcmp(r.body, v, 4000), "GET gives back the %zu bytes",
          r.body_len);
    CHECK(!strcmp(http_header_get(&r, "Content-Type") ?: "", "application/octet-stream"),
          "GET content type");
    http_response_free(&r);

    json_decref(api_call(NULL, "DELETE", path, NULL, NULL, 0, 204, NULL));
    json_decref(api_call(NULL, "DELETE", path, NULL, NULL, 0, 404, NULL));
    json_decref(api_call(NULL, "GET", path, NULL, NULL, 0, 404, NULL));
    CHECK(head_status(ref) == 404, "HEAD after DELETE");
    /* an empty tensor is a tensor too */
    CHECK(put_bytes(NULL, "", 0, ref) == 201, "empty PUT");
    json_decref(api_call(NULL, "DELETE", (tensor_path(path, ref), path), NULL, NULL, 0, 204, NULL));
    free(v);
}

/* A wrong digest, a digest that is not lowercase hex, a wrong type: 4xx,
 * nothing stored. */
static void test_put_refusals(void)
{
    float *v = floats(64, 2);
    char ref[72], path[96];
    ref_of(v, 256, ref);
    char wrong[72];
    strcpy(wrong, ref);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    double entries = metric("gradserve_tensor_store_entries");
    tensor_path(path, wrong);
    json_t *p = api_call(NULL, "PUT", path, OCTETS, (char *)v, 256, 400, NULL);
    CHECK(p && !strcmp(api_problem_slug(p), "bad-digest"), "wrong digest: bad-digest");
    json_decref(p);
    CHECK(head_status(wrong) == 404 && head_status(ref) == 404, "a wrong digest stored nothing");
    char upper[96];
    snprintf(upper, sizeof upper, "/tensors/sha256:");
    for (int i = 0; i < 64; i++) upper[16 + i] = (char)toupper((unsigned char)ref[7 + i]);
    upper[80] = 0;
    const char *bad[] = {upper, "/tensors/sha256:xyz", "/tensors/md5:0123",
                         "/tensors/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = api_call(NULL, "PUT", bad[i], OCTETS, (char *)v, 256, 400, NULL);
        CHECK(p && !strcmp(api_problem_slug(p), "bad-digest"), "%s: bad-digest", bad[i]);
        json_decref(p);
        json_decref(api_call(NULL, "GET", bad[i], NULL, NULL, 0, 400, NULL));
    }
    json_decref(api_call(NULL, "PUT", "/tensors/", OCTETS, (char *)v, 256, 404, NULL));
    json_decref(api_call(NULL, "GET", "/tensors/sha256:/x", NULL, NULL, 0, 404, NULL));
    const char *json_type[] = {"Content-Type: application/json", NULL};
    tensor_path(path, ref);
    json_decref(api_call(NULL, "PUT", path, json_type, (char *)v, 256, 415, NULL));
    json_decref(api_call(NULL, "POST", path, OCTETS, (char *)v, 256, 405, NULL));
    CHECK(metric("gradserve_tensor_store_entries") == entries, "nothing stored");
    free(v);
}

/* ---- bit-identical answers across encodings ------------------------------------- */

/* A tensor of the test requests: float32 values, 1-D or 2-D. */
typedef struct {
    const float *v;
    size_t rank, dim[2];
} tens;

static size_t tens_count(const tens *t) { return t->rank == 1 ? t->dim[0] : t->dim[0] * t->dim[1]; }

typedef struct {
    char *buf;
    size_t len;
} bytes;

static void bytes_add(bytes *b, const void *p, size_t n)
{
    b->buf = realloc(b->buf, b->len + n + 1);
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static json_t *shape_json(const tens *t)
{
    json_t *s = json_array();
    for (size_t k = 0; k < t->rank; k++) json_array_append_new(s, json_integer((json_int_t)t->dim[k]));
    return s;
}

/* t in encoding enc ("nested", "flat", "b64", "binary": its bytes appended
 * to bin, "ref": PUT to the server). */
static json_t *enc_tensor(const tens *t, const char *enc, bytes *bin)
{
    size_t n = tens_count(t);
    if (!strcmp(enc, "nested") || !strcmp(enc, "flat")) {
        json_t *flat = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(flat, json_real(t->v[i]));
        if (!strcmp(enc, "flat")) return json_pack("{s:o,s:o}", "shape", shape_json(t), "data", flat);
        if (t->rank == 1) return flat;
        json_t *rows = json_array();
        for (size_t r = 0; r < t->dim[0]; r++) {
            json_t *row = json_array();
            for (size_t c = 0; c < t->dim[1]; c++)
                json_array_append(row, json_array_get(flat, r * t->dim[1] + c));
            json_array_append_new(rows, row);
        }
        json_decref(flat);
        return rows;
    }
    if (!strcmp(enc, "b64")) {
        char *text = malloc(base64_encoded_len(4 * n) + 1);
        base64_encode(text, (const unsigned char *)t->v, 4 * n);
        text[base64_encoded_len(4 * n)] = 0;
        json_t *j = json_pack("{s:o,s:s,s:s}", "shape", shape_json(t), "dtype", "float32", "b64", text);
        free(text);
        return j;
    }
    if (!strcmp(enc, "binary")) {
        bytes_add(bin, t->v, 4 * n);
        return json_pack("{s:o,s:s,s:I}", "shape", shape_json(t), "dtype", "float32",
                         "binary_data_size", (json_int_t)(4 * n));
    }
    char ref[72];
    long st = put_bytes(NULL, t->v, 4 * n, ref);
    CHECK(st == 201 || st == 200, "PUT for a ref: %ld", st);
    return json_pack("{s:s,s:o,s:s}", "ref", ref, "shape", shape_json(t), "dtype", "float32");
}

/* The test network 5-7-3 (tanh, linear) with mse, its tensors and an Adam
 * state to resume from. */
typedef struct {
    tens x, t, w1, b1, w2, b2, m[4], s[4];
} net_case;

static void case_make(net_case *c, size_t rows)
{
    c->x = (tens){floats(rows * 5, 10), 2, {rows, 5}};
    c->t = (tens){floats(rows * 3, 11), 2, {rows, 3}};
    c->w1 = (tens){floats(35, 12), 2, {7, 5}};
    c->b1 = (tens){floats(7, 13), 1, {7, 0}};
    c->w2 = (tens){floats(21, 14), 2, {3, 7}};
    c->b2 = (tens){floats(3, 15), 1, {3, 0}};
    tens *p[4] = {&c->w1, &c->b1, &c->w2, &c->b2};
    for (int i = 0; i < 4; i++) {
        c->m[i] = *p[i];
        c->m[i].v = floats(tens_count(p[i]), 20 + i);
        c->s[i] = *p[i];
        float *sq = floats(tens_count(p[i]), 30 + i);
        for (size_t k = 0; k < tens_count(p[i]); k++) sq[k] = sq[k] * sq[k]; /* >= 0 */
        c->s[i].v = sq;
    }
}

static void case_free(net_case *c)
{
    const tens *all[] = {&c->x, &c->t, &c->w1, &c->b1, &c->w2, &c->b2,
                         &c->m[0], &c->m[1], &c->m[2], &c->m[3],
                         &c->s[0], &c->s[1], &c->s[2], &c->s[3]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free((void *)all[i]->v);
}

static json_t *params_json(const tens *p, const char *enc, bytes *bin)
{
    json_t *l0 = json_object(), *l1 = json_object();
    json_object_set_new(l0, "weight", enc_tensor(&p[0], enc, bin));
    json_object_set_new(l0, "bias", enc_tensor(&p[1], enc, bin));
    json_object_set_new(l1, "weight", enc_tensor(&p[2], enc, bin));
    json_object_set_new(l1, "bias", enc_tensor(&p[3], enc, bin));
    return json_pack("[o,o]", l0, l1);
}

/* The request for route with its tensors in `in`, answers asked in `out`;
 * binary requests come with their bytes after the JSON. The tensors are
 * added in the order of the text, as binary tensors take their bytes. */
static void post_case(const net_case *c, const char *route, const char *in, const char *out,
                      long want, http_response *r)
{
    bytes bin = {0};
    json_t *q = json_object();
    json_object_set_new(q, "network", json_pack("{s:i,s:[{s:i,s:s},{s:i,s:s}],s:s}", "inputs", 5,
                                                "layers", "units", 7, "activation", "tanh",
                                                "units", 3, "activation", "linear", "loss", "mse"));
    tens p[4] = {c->w1, c->b1, c->w2, c->b2};
    json_object_set_new(q, "params", params_json(p, in, &bin));
    json_object_set_new(q, "inputs", enc_tensor(&c->x, in, &bin));
    json_object_set_new(q, "targets", enc_tensor(&c->t, in, &bin));
    json_object_set_new(q, "encoding", json_string(out));
    if (!strcmp(route, "/train")) {
        json_object_set_new(q, "optimizer", json_pack("{s:s,s:f}", "name", "adam", "lr", 0.01));
        json_object_set_new(q, "epochs", json_integer(2));
        json_object_set_new(q, "batch_size", json_integer(4));
        /* one after the other: binary tensors take their bytes in text order */
        json_t *m = params_json(c->m, in, &bin), *sq = params_json(c->s, in, &bin);
        json_object_set_new(q, "optimizer_state",
                            json_pack("{s:i,s:{s:o,s:o}}", "step", 3, "buffers", "exp_avg", m,
                                      "exp_avg_sq", sq));
    }
    char *text = json_dumps(q, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(q);
    bytes body = {0};
    bytes_add(&body, text, strlen(text));
    char ihcl[64];
    snprintf(ihcl, sizeof ihcl, "Inference-Header-Content-Length: %zu", strlen(text));
    const char *binary_headers[] = {OCTETS[0], ihcl, NULL};
    if (bin.len) bytes_add(&body, bin.buf, bin.len);
    json_decref(api_call(NULL, "POST", route, bin.len ? binary_headers : NULL, body.buf, body.len,
                         want, r));
    free(text);
    free(body.buf);
    free(bin.buf);
}

/* Replaces every {"ref", "shape", "dtype"} in an answer by the b64 tensor of
 * the bytes GET gives for it: the answer "encoding": "b64" would have given. */
static json_t *refs_fetched(json_t *v, int *fetched)
{
    if (json_is_array(v)) {
        json_t *a = json_array(), *e;
        size_t i;
        json_array_foreach(v, i, e) json_array_append_new(a, refs_fetched(e, fetched));
        return a;
    }
    if (!json_is_object(v)) return json_incref(v);
    const char *ref = json_string_value(json_object_get(v, "ref"));
    if (ref) {
        char path[96];
        http_response r;
        tensor_path(path, ref);
        json_decref(api_call(NULL, "GET", path, NULL, NULL, 0, 200, &r));
        char *text = malloc(base64_encoded_len(r.body_len) + 1);
        base64_encode(text, (const unsigned char *)r.body, r.body_len);
        text[base64_encoded_len(r.body_len)] = 0;
        json_t *t = json_pack("{s:O,s:O,s:s}", "shape", json_object_get(v, "shape"), "dtype",
                              json_object_get(v, "dtype"), "b64", text);
        free(text);
        http_response_free(&r);
        (*fetched)++;
        return t;
    }
    json_t *o = json_object(), *m;
    const char *k;
    json_object_foreach(v, k, m) json_object_set_new(o, k, refs_fetched(m, fetched));
    return o;
}

/* Each route with its tensors nested, flat, b64, binary and as refs: the same
 * bytes back (answers in b64, compared as whole bodies); and the answer as
 * refs, fetched by GET, equal to the b64 one. */
static void test_refs_bit_identical(void)
{
    static const char *const ROUTES_[] = {"/gradients", "/forward", "/train"};
    static const char *const ENCS[] = {"nested", "flat", "b64", "binary", "ref"};
    net_case c;
    case_make(&c, 12);
    for (size_t ri = 0; ri < 3; ri++) {
        http_response base;
        post_case(&c, ROUTES_[ri], "b64", "b64", 200, &base);
        for (size_t e = 0; e < sizeof ENCS / sizeof *ENCS; e++) {
            http_response r;
            post_case(&c, ROUTES_[ri], ENCS[e], "b64", 200, &r);
            CHECK(r.body_len == base.body_len && !memcmp(r.body, base.body, r.body_len),
                  "%s with %s tensors: the answer differs from b64's", ROUTES_[ri], ENCS[e]);
            http_response_free(&r);
        }
        http_response r;
        post_case(&c, ROUTES_[ri], "ref", "ref", 200, &r);
        json_t *got = json_loadb(r.body, r.body_len, 0, NULL), *want = json_loadb(base.body, base.body_len, 0, NULL);
        int fetched = 0;
        json_t *as_b64 = got ? refs_fetched(got, &fetched) : NULL;
        int tensors = ri == 0 ? 4 : ri == 1 ? 1 : 12; /* grads; outputs; params + 2 x state */
        CHECK(fetched == tensors, "%s: %d refs in the answer, want %d", ROUTES_[ri], fetched, tensors);
        CHECK(as_b64 && want && json_equal(as_b64, want),
              "%s: the answer's refs fetched back differ from the b64 answer", ROUTES_[ri]);
        json_decref(got);
        json_decref(want);
        json_decref(as_b64);
        http_response_free(&r);
        http_response_free(&base);
    }
    case_free(&c);
}

/* Class indices as an int64 ref mean what the same indices inline mean. */
static void test_int64_labels(void)
{
    int64_t labels[4] = {2, 0, 1, 2};
    char ref[72];
    CHECK(put_bytes(NULL, labels, sizeof labels, ref) == 201, "PUT labels");
    const char *fmt = "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"softmax\"}],"
                      "\"loss\":\"cross_entropy\"},\"init\":{\"seed\":3},\"encoding\":\"b64\","
                      "\"inputs\":[[1,2],[3,-4],[0.5,0],[-1,-1]],\"targets\":%s}";
    char inline_body[512], ref_body[600], t[160];
    snprintf(inline_body, sizeof inline_body, fmt, "[2,0,1,2]");
    snprintf(t, sizeof t, "{\"ref\":\"%s\",\"shape\":[4],\"dtype\":\"int64\"}", ref);
    snprintf(ref_body, sizeof ref_body, fmt, t);
    http_response a, b;
    json_decref(api_call(NULL, "POST", "/gradients", NULL, inline_body, strlen(inline_body), 200, &a));
    json_decref(api_call(NULL, "POST", "/gradients", NULL, ref_body, strlen(ref_body), 200, &b));
    CHECK(a.body_len == b.body_len && !memcmp(a.body, b.body, a.body_len),
          "int64 labels by ref differ from inline labels");
    http_response_free(&a);
    http_response_free(&b);
    /* out of range: 400 naming the ref */
    int64_t bad[4] = {2, 0, 3, 2};
    CHECK(put_bytes(NULL, bad, sizeof bad, ref) == 201, "PUT bad labels");
    snprintf(t, sizeof t, "{\"ref\":\"%s\",\"shape\":[4],\"dtype\":\"int64\"}", ref);
    snprintf(ref_body, sizeof ref_body, fmt, t);
    json_t *p = api_call(NULL, "POST", "/gradients", NULL, ref_body, strlen(ref_body), 400, NULL);
    api_check_problem(p, 400, "/targets/ref", "labels out of range");
    json_decref(p);
}

/* ---- 409 ---------------------------------------------------------------------- */

/* A /train whose 18 tensors are all refs the store lacks: one 409 naming
 * each by pointer and ref; after PUTting exactly those, the same request
 * answers 200. Misses and hits are counted. */
static void test_409_lists_every_missing_ref(void)
{
    net_case c;
    case_make(&c, 6);
    /* fresh values: nothing of them is in the store yet */
    float *fresh[14];
    tens *all[] = {&c.x, &c.t, &c.w1, &c.b1, &c.w2, &c.b2, &c.m[0], &c.m[1], &c.m[2], &c.m[3],
                   &c.s[0], &c.s[1], &c.s[2], &c.s[3]};
    for (int i = 0; i < 14; i++) {
        fresh[i] = floats(tens_count(all[i]), 500 + i);
        if (i >= 10)
            for (size_t k = 0; k < tens_count(all[i]); k++) fresh[i][k] *= fresh[i][k];
        free((void *)all[i]->v);
        all[i]->v = fresh[i];
    }
    json_t *q = json_object();
    char refs[14][72];
    for (int i = 0; i < 14; i++) ref_of(all[i]->v, 4 * tens_count(all[i]), refs[i]);
#define R(i) json_pack("{s:s,s:o,s:s}", "ref", refs[i], "shape", shape_json(all[i]), "dtype", "float32")
    json_object_set_new(q, "network", json_pack("{s:i,s:[{s:i,s:s},{s:i,s:s}],s:s}", "inputs", 5,
                                                "layers", "units", 7, "activation", "tanh",
                                                "units", 3, "activation", "linear", "loss", "mse"));
    json_object_set_new(q, "params", json_pack("[{s:o,s:o},{s:o,s:o}]", "weight", R(2), "bias", R(3),
                                               "weight", R(4), "bias", R(5)));
    json_object_set_new(q, "inputs", R(0));
    json_object_set_new(q, "targets", R(1));
    json_object_set_new(q, "optimizer", json_pack("{s:s}", "name", "adam"));
    json_object_set_new(q, "encoding", json_string("ref"));
    json_object_set_new(
        q, "optimizer_state",
        json_pack("{s:i,s:{s:[{s:o,s:o},{s:o,s:o}],s:[{s:o,s:o},{s:o,s:o}]}}", "step", 1, "buffers",
                  "exp_avg", "weight", R(6), "bias", R(7), "weight", R(8), "bias", R(9),
                  "exp_avg_sq", "weight", R(10), "bias", R(11), "weight", R(12), "bias", R(13)));
#undef R
    static const char *const PTRS[14] = {
        "/inputs", "/targets", "/params/0/weight", "/params/0/bias", "/params/1/weight",
        "/params/1/bias", "/optimizer_state/buffers/exp_avg/0/weight",
        "/optimizer_state/buffers/exp_avg/0/bias", "/optimizer_state/buffers/exp_avg/1/weight",
        "/optimizer_state/buffers/exp_avg/1/bias", "/optimizer_state/buffers/exp_avg_sq/0/weight",
        "/optimizer_state/buffers/exp_avg_sq/0/bias",
        "/optimizer_state/buffers/exp_avg_sq/1/weight",
        "/optimizer_state/buffers/exp_avg_sq/1/bias"};
    double misses = metric("gradserve_tensor_store_misses_total");
    double hits = metric("gradserve_tensor_store_hits_total");
    json_t *p = api_post("/train", q, 409);
    CHECK(p && !strcmp(api_problem_slug(p), "missing-refs"), "409 missing-refs");
    json_t *errs = json_object_get(p, "errors");
    CHECK(json_array_size(errs) == 14, "%zu missing refs listed, want 14", json_array_size(errs));
    for (int i = 0; i < 14; i++) {
        int found = 0;
        size_t k;
        json_t *e;
        json_array_foreach(errs, k, e)
            found |= !strcmp(json_string_value(json_object_get(e, "pointer")) ?: "", PTRS[i]) &&
                     !strcmp(json_string_value(json_object_get(e, "ref")) ?: "", refs[i]);
        CHECK(found, "409 does not list %s with its ref", PTRS[i]);
    }
    json_decref(p);
    CHECK(metric("gradserve_tensor_store_misses_total") == misses + 14, "misses counted");
    /* the client uploads what was listed and sends the same request again */
    for (int i = 0; i < 14; i++) {
        char r[72];
        put_bytes(NULL, all[i]->v, 4 * tens_count(all[i]), r);
    }
    json_t *a = api_post("/train", q, 200);
    CHECK(a && json_string_value(json_object_get(
                  json_object_get(json_array_get(json_object_get(a, "params"), 0), "weight"), "ref")),
          "the retried /train answers refs");
    json_decref(a);
    CHECK(metric("gradserve_tensor_store_hits_total") == hits + 14, "hits counted");
    json_decref(q);
    case_free(&c);
}

/* ---- hostile input ---------------------------------------------------------------- */

/* 10,000 refs in one request, refs of the wrong length, refs with extra keys:
 * clear 4xx, the server alive, the store unchanged. */
static void test_hostile_refs(void)
{
    float v[4] = {1, 2, 3, 4};
    char ref[72];
    put_bytes(NULL, v, sizeof v, ref);
    double entries = metric("gradserve_tensor_store_entries");
    size_t cap = 10000 * 200 + 512;
    char *body = malloc(cap), *p = body;
    p += sprintf(p, "{\"network\":{\"inputs\":10000,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
                    "\"loss\":\"mse\"},\"targets\":[[1]],\"inputs\":[[");
    for (int i = 0; i < 10000; i++)
        p += sprintf(p, "%s{\"ref\":\"%s\",\"shape\":[1],\"dtype\":\"float32\"}", i ? "," : "", ref);
    p += sprintf(p, "]]}");
    json_t *prob = api_call(NULL, "POST", "/gradients", NULL, body, (size_t)(p - body), 400, NULL);
    api_check_problem(prob, 400, "/inputs/0/0", "10,000 refs in inputs");
    json_decref(prob);
    /* 10,000 missing refs where tensors do go (params of 10,000 layers): the
     * layer limit answers first */
    p = body;
    p += sprintf(p, "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
                    "\"loss\":\"mse\"},\"inputs\":[[1,2]],\"targets\":[[1]],\"params\":[");
    for (int i = 0; i < 10000; i++)
        p += sprintf(p, "%s{\"weight\":{\"ref\":\"sha256:%064x\",\"shape\":[1,2],\"dtype\":\"float32\"}}",
                     i ? "," : "", i);
    p += sprintf(p, "]}");
    prob = api_call(NULL, "POST", "/gradients", NULL, body, (size_t)(p - body), 400, NULL);
    api_check_problem(prob, 400, "/params", "10,000 refs in params");
    json_decref(prob);
    free(body);

    /* the 16 bytes under ref as inputs, read with other shapes, dtypes and keys */
    static const struct {
        const char *targets, *shape, *dtype, *extra;
        long status;
        const char *pointer, *what; /* pointer NULL: 200 */
    } as_inputs[] = {
        {"[[1],[2]]", "[2,3]", "float32", "", 400, "/inputs/ref", "shape not matching the bytes"},
        {"[[1]]", "[1,2]", "float64", "", 200, NULL, "one float64 row of 2"},
        {"[[1],[2]]", "[2,2]", "float32", ",\"b64\":\"AAAA\"", 400, "/inputs/b64",
         "a ref with an extra key"},
    };
    for (size_t i = 0; i < sizeof as_inputs / sizeof *as_inputs; i++) {
        char req[700];
        snprintf(req, sizeof req,
                 "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
                 "\"loss\":\"mse\"},\"targets\":%s,\"inputs\":{\"ref\":\"%s\",\"shape\":%s,"
                 "\"dtype\":\"%s\"%s}}",
                 as_inputs[i].targets, ref, as_inputs[i].shape, as_inputs[i].dtype,
                 as_inputs[i].extra);
        prob = api_post_text("/gradients", req, as_inputs[i].status);
        if (as_inputs[i].pointer)
            api_check_problem(prob, as_inputs[i].status, as_inputs[i].pointer, as_inputs[i].what);
        json_decref(prob);
    }
    json_decref(api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, NULL));
    CHECK(metric("gradserve_tensor_store_entries") == entries, "the store changed");
}

/* ---- a small store: limits and eviction -------------------------------------------- */

static const char *const SMALL[] = {"--tensor-store-bytes", "65536", "--max-body-bytes", "131072",
                                    NULL};

/* 413 over the body limit (max_body_bytes) and over the whole store
 * (tensor_store_bytes), from Content-Length and for a chunked body. */
static void test_put_over_limits(void)
{
    char path[96] = "/tensors/sha256:0000000000000000000000000000000000000000000000000000000000000000";
    http_response r;
    const char *expect[] = {OCTETS[0], "Expect: 100-continue", NULL};
    int rc = http_request_upload(api_cli, "PUT", path, expect, 50LL * 1000 * 1000,
                                 50u * 1000 * 1000, &r);
    json_t *p = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
    CHECK(rc == 0 && r.status == 413 && !strcmp(json_string_value(json_object_get(p, "limit")) ?: "",
                                                "max_body_bytes"),
          "over the body limit: %ld %s", r.status, r.body ? r.body : "");
    CHECK(r.bytes_sent < 1000000, "%zu body bytes were uploaded before the 413", r.bytes_sent);
    CHECK(r.schema_error[0] == 0, "contract: %s", r.schema_error);
    json_decref(p);
    http_response_free(&r);
    http_client *c = http_client_new(api_srv.port, NULL);
    rc = http_request_upload(c, "PUT", path, OCTETS, 100000, 100000, &r);
    p = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
    CHECK(rc == 0 && r.status == 413 &&
              !strcmp(json_string_value(json_object_get(p, "limit")) ?: "", "tensor_store_bytes") &&
              json_number_value(json_object_get(p, "limit_value")) == 65536,
          "over the store budget: %ld %s", r.status, r.body ? r.body : "");
    CHECK(r.schema_error[0] == 0, "contract: %s", r.schema_error);
    json_decref(p);
    http_response_free(&r);
    http_client_free(c);
    c = http_client_new(api_srv.port, NULL);
    rc = http_request_upload(c, "PUT", path, OCTETS, -1, 100000, &r); /* chunked */
    CHECK(rc == 0 && r.status == 413, "chunked over the store budget: %ld", r.status);
    CHECK(r.schema_error[0] == 0, "contract: %s", r.schema_error);
    http_response_free(&r);
    http_client_free(c);
    CHECK(metric("gradserve_tensor_store_entries") == 0, "nothing stored");
    json_decref(api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, NULL));
}

/* Five tensors of 16 KiB in a store of 64 KiB: the least recently used goes
 * (the first, unless a GET made it recent); bytes never pass the budget. */
static void test_lru_eviction(void)
{
    char refs[6][72];
    float *v[6];
    for (int i = 0; i < 6; i++) v[i] = floats(4096, 100 + i);
    for (int i = 0; i < 4; i++) CHECK(put_bytes(NULL, v[i], 16384, refs[i]) == 201, "PUT %d", i);
    CHECK(metric("gradserve_tensor_store_bytes") == 65536, "4 x 16 KiB held");
    char path[96];
    tensor_path(path, refs[0]);
    json_decref(api_call(NULL, "GET", path, NULL, NULL, 0, 200, NULL)); /* 0 is now the most recent */
    CHECK(put_bytes(NULL, v[4], 16384, refs[4]) == 201, "PUT 4");
    CHECK(head_status(refs[1]) == 404, "the least recently used (1) was evicted");
    /* HEAD is a use too: afterwards 0 is the least recently used */
    CHECK(head_status(refs[0]) == 200 && head_status(refs[2]) == 200 &&
              head_status(refs[3]) == 200 && head_status(refs[4]) == 200,
          "the others are held");
    CHECK(put_bytes(NULL, v[5], 16384, refs[5]) == 201, "PUT 5");
    CHECK(head_status(refs[0]) == 404 && head_status(refs[2]) == 200, "then 0");
    CHECK(metric("gradserve_tensor_store_evictions_total") == 2, "evictions counted: %g",
          metric("gradserve_tensor_store_evictions_total"));
    CHECK(metric("gradserve_tensor_store_entries") == 4 &&
              metric("gradserve_tensor_store_bytes") == 65536,
          "4 entries, 64 KiB after evictions");
    CHECK(metric("gradserve_tensor_store_budget_bytes") == 65536, "budget shown");
    for (int i = 0; i < 6; i++) free(v[i]);
}

/* "encoding": "ref" when an answer's tensor cannot fit in the store: 422
 * naming tensor_store_bytes. */
static void test_ref_answer_over_budget(void)
{
    const char *body = "{\"network\":{\"inputs\":200,\"layers\":[{\"units\":100,\"activation\":\"linear\"}],"
                       "\"loss\":\"mse\"},\"init\":{\"seed\":1},\"encoding\":\"ref\",\"dtype\":\"float64\","
                       "\"inputs\":{\"shape\":[1,200],\"data\":[%s]},\"targets\":{\"shape\":[1,100],\"data\":[%s]}}";
    char zeros200[200 * 2], zeros100[100 * 2];
    for (int i = 0; i < 200; i++) memcpy(zeros200 + 2 * i, "0,", 2);
    zeros200[399] = 0; /* the last comma */
    for (int i = 0; i < 100; i++) memcpy(zeros100 + 2 * i, "0,", 2);
    zeros100[199] = 0;
    char *req = malloc(strlen(body) + sizeof zeros200 + sizeof zeros100);
    sprintf(req, body, zeros200, zeros100);
    json_t *p = api_post_text("/gradients", req, 422); /* a 100 x 200 float64 weight: 160 kB */
    CHECK(p && !strcmp(json_string_value(json_object_get(p, "limit")) ?: "", "tensor_store_bytes"),
          "422 names tensor_store_bytes");
    json_decref(p);
    free(req);
}

/* ---- auth ---------------------------------------------------------------------- */

static void test_auth_on_store_routes(void)
{
    const char *env[] = {"GRADSERVE_AUTH_TOKEN=s3cret", NULL};
    if (api_start(NULL, env)) return;
    check_begin("test_auth_on_store_routes");
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    char ref[72], path[96];
    ref_of(v, sizeof v, ref);
    tensor_path(path, ref);
    json_decref(api_call(NULL, "PUT", path, OCTETS, (char *)v, sizeof v, 401, NULL));
    http_client *c = http_client_new(api_srv.port, "s3cret");
    json_decref(api_call(c, "PUT", path, OCTETS, (char *)v, sizeof v, 201, NULL));
    json_decref(api_call(NULL, "GET", path, NULL, NULL, 0, 401, NULL));
    json_decref(api_call(NULL, "HEAD", path, NULL, NULL, 0, 401, NULL));
    json_decref(api_call(NULL, "DELETE", path, NULL, NULL, 0, 401, NULL));
    json_decref(api_call(c, "GET", path, NULL, NULL, 0, 200, NULL));
    json_decref(api_call(c, "HEAD", path, NULL, NULL, 0, 200, NULL));
    json_decref(api_call(c, "DELETE", path, NULL, NULL, 0, 204, NULL));
    json_decref(api_call(NULL, "OPTIONS", path, NULL, NULL, 0, 204, NULL)); /* preflight: no token */
    http_client_free(c);
    check_end();
    api_stop();
}

/* ---- concurrency ---------------------------------------------------------------- */

typedef struct {
    const char *route;
    const char *body;
    const void *data;
    size_t len;
    long status;
    char *answer;
    size_t answer_len;
} job;

static void *run_put(void *arg)
{
    job *j = arg;
    http_client *c = http_client_new(api_srv.port, NULL);
    char ref[72];
    j->status = put_bytes(c, j->data, j->len, ref);
    http_client_free(c);
    return NULL;
}

/* Eight PUTs of the same 1 MiB at once: one stores it (201), the others
 * find it held (200); one entry. */
static void test_concurrent_puts_same_digest(void)
{
    size_t n = 1 << 18;
    float *v = floats(n, 77);
    double entries = metric("gradserve_tensor_store_entries");
    job jobs[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (job){.data = v, .len = 4 * n};
        pthread_create(&th[i], NULL, run_put, &jobs[i]);
    }
    int created = 0, held = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        created += jobs[i].status == 201;
        held += jobs[i].status == 200;
    }
    CHECK(created == 1 && held == 7, "%d created, %d held", created, held);
    CHECK(metric("gradserve_tensor_store_entries") == entries + 1, "one entry");
    free(v);
}

static void *run_post(void *arg)
{
    job *j = arg;
    http_client *c = http_client_new(api_srv.port, NULL);
    http_client_set_timeout(c, 120);
    http_response r;
    json_decref(api_call(c, "POST", j->route, NULL, j->body, strlen(j->body), 200, &r));
    j->status = r.status;
    j->answer = r.body;
    j->answer_len = r.body_len;
    r.body = NULL;
    http_response_free(&r);
    http_client_free(c);
    return NULL;
}

/* A DELETE while a /train reads the entry: 204 at once, the entry gone for
 * new requests, the running one finishes with the bytes it pinned (the same
 * answer as with them inline), and the bytes are freed after it. */
static void test_delete_while_in_use(void)
{
    size_t rows = 256;
    float *x = floats(rows * 16, 90);
    char ref[72], path[96];
    double bytes0 = metric("gradserve_tensor_store_bytes");
    CHECK(put_bytes(NULL, x, rows * 16 * 4, ref) == 201, "PUT inputs");
    tensor_path(path, ref);
    const char *fmt = "{\"network\":{\"inputs\":16,\"layers\":[{\"units\":64,\"activation\":\"tanh\"},"
                      "{\"units\":64,\"activation\":\"tanh\"},{\"units\":1,\"activation\":\"linear\"}],"
                      "\"loss\":\"mse\"},\"init\":{\"seed\":5},\"optimizer\":{\"name\":\"sgd\",\"lr\":0.001},"
                      "\"epochs\":400,\"batch_size\":4,\"encoding\":\"b64\",\"inputs\":%s,"
                      "\"targets\":{\"shape\":[%zu,1],\"data\":[%s]}}";
    char *targets = malloc(rows * 2 + 1);
    for (size_t i = 0; i < rows; i++) memcpy(targets + 2 * i, "1,", 2);
    targets[2 * rows - 1] = 0; /* the last comma */
    char inputs_ref[200];
    snprintf(inputs_ref, sizeof inputs_ref, "{\"ref\":\"%s\",\"shape\":[%zu,16],\"dtype\":\"float32\"}",
             ref, rows);
    char *b64 = malloc(base64_encoded_len(rows * 64) + 1);
    base64_encode(b64, (const unsigned char *)x, rows * 64);
    b64[base64_encoded_len(rows * 64)] = 0;
    char *inputs_b64 = malloc(strlen(b64) + 100);
    sprintf(inputs_b64, "{\"shape\":[%zu,16],\"dtype\":\"float32\",\"b64\":\"%s\"}", rows, b64);
    char *by_ref = malloc(strlen(fmt) + strlen(inputs_ref) + strlen(targets) + 64);
    char *inline_ = malloc(strlen(fmt) + strlen(inputs_b64) + strlen(targets) + 64);
    sprintf(by_ref, fmt, inputs_ref, rows, targets);
    sprintf(inline_, fmt, inputs_b64, rows, targets);

    job j = {.route = "/train", .body = by_ref};
    pthread_t th;
    pthread_create(&th, NULL, run_post, &j);
    /* wait until it runs (its working set is counted), then delete */
    int running = 0;
    for (int k = 0; k < 2000 && !running; k++) {
        running = metric("gradserve_memory_in_use_bytes") > 0;
        if (!running) api_sleep(0.002);
    }
    CHECK(running, "the /train did not start");
    json_decref(api_call(NULL, "DELETE", path, NULL, NULL, 0, 204, NULL));
    int still = metric("gradserve_memory_in_use_bytes") > 0;
    CHECK(head_status(ref) == 404, "deleted for new requests");
    pthread_join(th, NULL);
    if (!still) printf("  (the /train ended before the DELETE: the pin was not exercised)\n");
    CHECK(j.status == 200, "the running /train: %ld", j.status);
    http_response r;
    json_decref(api_call(NULL, "POST", "/train", NULL, inline_, strlen(inline_), 200, &r));
    CHECK(j.answer && r.body_len == j.answer_len && !memcmp(r.body, j.answer, r.body_len),
          "the /train whose ref was deleted meanwhile answers as with its bytes inline");
    http_response_free(&r);
    CHECK(metric("gradserve_tensor_store_bytes") == bytes0, "the bytes were freed: %g, was %g",
          metric("gradserve_tensor_store_bytes"), bytes0);
    json_t *p = api_post_text("/train", by_ref, 409); /* and a new request misses it */
    json_decref(p);
    free(j.answer);
    free(x), free(targets), free(b64), free(inputs_b64), free(by_ref), free(inline_);
}

/* ---- the admission estimate and the wire ------------------------------------------ */

/* http/estimate.c reads a ref's shape as it reads any tensor's: the working
 * set of a 1000-row ref is that of the same 1000 rows inline, less the text. */
static void test_estimate_reads_ref_shape(void)
{
    const char *fmt = "{\"network\":{\"inputs\":784,\"layers\":[{\"units\":256,\"activation\":\"relu\"},"
                      "{\"units\":10,\"activation\":\"linear\"}],\"loss\":\"cross_entropy\"},"
                      "\"inputs\":{\"ref\":\"sha256:%064d\",\"shape\":[%d,784],\"dtype\":\"float32\"},"
                      "\"targets\":{\"ref\":\"sha256:%064d\",\"shape\":[%d],\"dtype\":\"int64\"}}";
    char a[600], b[600];
    snprintf(a, sizeof a, fmt, 1, 10, 2, 10);
    snprintf(b, sizeof b, fmt, 1, 10000, 2, 10000);
    size_t small = estimate_request(route_find("/train", NULL), a, strlen(a), strlen(a), NULL, 0).memory;
    size_t big = estimate_request(route_find("/train", NULL), b, strlen(b), strlen(b), NULL, 0).memory;
    /* 9,990 more rows of 784 inputs are at least 9,990 x 784 x 4 bytes more */
    CHECK(big - small >= (size_t)9990 * 784 * 4, "estimates %zu and %zu", small, big);
}

/* The estimate of a /train, 784-256-10 on 100 rows, with the optimizer given
 * (JSON; NULL: none) and, when resume, "optimizer_state" (its text left out:
 * its buffers are not read, only their presence). */
static size_t train_estimate(const char *optimizer, int resume)
{
    char body[512];
    snprintf(body, sizeof body,
             "{%s%s%s\"network\":{\"inputs\":784,\"layers\":[{\"units\":256,\"activation\":"
             "\"relu\"},{\"units\":10,\"activation\":\"linear\"}],\"loss\":\"mse\"},"
             "\"inputs\":{\"shape\":[100,784],\"data\":[]},\"targets\":{\"shape\":[100,10],"
             "\"data\":[]}%s}",
             optimizer ? "\"optimizer\":" : "", optimizer ? optimizer : "", optimizer ? "," : "",
             resume ? ",\"optimizer_state\":{}" : "");
    return estimate_request(route_find("/train", NULL), body, strlen(body), strlen(body), NULL, 0)
        .memory;
}

/* /train holds and answers the state buffers its optimizer keeps (the core's
 * count): none for SGD without momentum, one for SGD with momentum or
 * RMSprop, two for Adam, three for Adam with amsgrad or a centered RMSprop
 * with momentum; the most (three) when the optimizer cannot be read (the
 * decode refuses it); and reads them when it resumes. Optimizers with as
 * many buffers get the same estimate (the bodies' lengths differ by their
 * optimizer's text alone: tens of bytes against a buffer's megabytes), and
 * each buffer more adds at least what it holds and answers (the answer's
 * room past its text is capped, so not always the same bytes). */
static void test_estimate_counts_optimizer_state(void)
{
    static const struct {
        const char *optimizer;
        size_t buffers;
    } CASES[] = {
        {"{\"name\":\"sgd\",\"lr\":0.1}", 0},
        {"{\"name\":\"sgd\",\"lr\":0.1,\"momentum\":0}", 0},
        {"{\"momentum\":0.9,\"name\":\"sgd\"}", 1},
        {"{\"name\":\"rmsprop\"}", 1},
        {"{\"name\":\"rmsprop\",\"centered\":true}", 2},
        {"{\"name\":\"adam\",\"amsgrad\":false}", 2},
        {"{\"name\":\"adamw\",\"lr\":0.01}", 2},
        {"{\"name\":\"adam\",\"amsgrad\":true}", 3},
        {"{\"name\":\"rmsprop\",\"momentum\":0.5,\"centered\":true}", 3},
        {"{\"name\":\"lbfgs\"}", 3}, /* refused by the decode */
        {"\"sgd\"", 3},
        {NULL, 3},
    };
    /* the first case of each count: SGD, SGD with momentum, RMSprop centered, Adam amsgrad */
    size_t by_count[4] = {train_estimate(CASES[0].optimizer, 0), train_estimate(CASES[2].optimizer, 0),
                          train_estimate(CASES[4].optimizer, 0), train_estimate(CASES[7].optimizer, 0)};
    for (int k = 1; k < 4; k++) /* a buffer of 203,530 float32s, held and answered */
        CHECK(by_count[k] >= by_count[k - 1] + (size_t)203530 * 4 * 2,
              "%d state buffers: %zu bytes, %d: %zu", k, by_count[k], k - 1, by_count[k - 1]);
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        size_t est = train_estimate(CASES[i].optimizer, 0), want = by_count[CASES[i].buffers];
        size_t slack = 128; /* the bodies' lengths differ by the optimizer's text */
        CHECK(est + slack >= want && est <= want + slack, "%s: estimated %zu, as %zu buffers: %zu",
              CASES[i].optimizer, est, CASES[i].buffers, want);
    }
    size_t none = by_count[0];
    /* resuming reads each buffer's numbers as doubles first */
    size_t adam = train_estimate(CASES[5].optimizer, 0), resumed = train_estimate(CASES[5].optimizer, 1);
    size_t sgd_resumed = train_estimate(CASES[0].optimizer, 1);
    CHECK(resumed >= adam + (size_t)2 * 8 * 203530, "Adam resumed: %zu, else %zu", resumed, adam);
    CHECK(sgd_resumed <= none + 64, "SGD has nothing to resume: %zu, else %zu", sgd_resumed, none);
}

/* Starts the server's peak RSS (VmHWM) again from its RSS now ("5" to
 * clear_refs); that RSS in kB. */
static long reset_peak_rss(void)
{
    char clear[64];
    snprintf(clear, sizeof clear, "/proc/%d/clear_refs", (int)api_srv.pid);
    FILE *f = fopen(clear, "w");
    CHECK(f && fputs("5", f) >= 0 && fclose(f) == 0, "reset the peak RSS (%s)", clear);
    return server_proc_status(api_srv.pid, "VmRSS");
}

/* A /train whose inputs are a ref to 20,000 stored rows is admitted by
 * estimate: its rows are borrowed from the store (which has its own budget),
 * not read as text, and one minibatch of 100 is in flight at a time. With
 * 200 MB for computations it runs (the estimate before counted every row as
 * text, every row's activations and an answer per row: about 680 MB, a 422),
 * and the server's peak RSS while it runs (VmHWM, reset before) grows by less
 * than the estimate, which must stay an over-estimate. */
static const char *const REF_BUDGET[] = {"--max-memory", "400000000", "--tensor-store-bytes",
                                         "200000000", NULL};
static void test_ref_train_within_budget(void)
{
    enum { ROWS = 20000, IN = 784 };
    float *x = floats((size_t)ROWS * IN, 7);
    int64_t *labels = malloc(ROWS * sizeof *labels);
    for (int i = 0; i < ROWS; i++) labels[i] = i % 10;
    char xref[72], yref[72];
    CHECK(put_bytes(NULL, x, (size_t)ROWS * IN * sizeof *x, xref) == 201, "PUT inputs");
    CHECK(put_bytes(NULL, labels, ROWS * sizeof *labels, yref) == 201, "PUT labels");
    const char *fmt =
        "{\"network\":{\"inputs\":784,\"layers\":[{\"units\":128,\"activation\":\"relu\"},"
        "{\"units\":10,\"activation\":\"linear\"}],\"loss\":\"cross_entropy\"},"
        "\"optimizer\":{\"name\":\"sgd\",\"lr\":0.01},\"epochs\":1,\"batch_size\":100,"
        "\"inputs\":%s,\"targets\":{\"ref\":\"%s\",\"shape\":[%d],\"dtype\":\"int64\"}}";
    char in_ref[160], in_text[64], body[1024], text_body[1024];
    snprintf(in_ref, sizeof in_ref, "{\"ref\":\"%s\",\"shape\":[%d,%d],\"dtype\":\"float32\"}",
             xref, ROWS, IN);
    snprintf(body, sizeof body, fmt, in_ref, yref, ROWS);
    snprintf(in_text, sizeof in_text, "{\"shape\":[%d,%d],\"data\":[]}", ROWS, IN);
    snprintf(text_body, sizeof text_body, fmt, in_text, yref, ROWS);
    const route_def *train = route_find("/train", NULL);
    size_t est = estimate_request(train, body, strlen(body), strlen(body), NULL, 0).memory;
    size_t est_text = estimate_request(train, text_body, strlen(text_body), strlen(text_body),
                                       NULL, 0).memory;

    long before = reset_peak_rss();
    json_t *a = api_post_text("/train", body, 200);
    long peak = server_proc_status(api_srv.pid, "VmHWM");
    printf("  /train, %d rows by ref, batch 100: estimated %.1f MB (the same shapes as "
           "text: %.1f MB); the peak RSS grew %.1f MB\n",
           ROWS, est / 1e6, est_text / 1e6, (peak - before) / 1e3);
    CHECK(a != NULL, "a 20,000-row /train by ref answered 200 within 200 MB");
    /* as text, each input is read into a double (8 bytes) and copied (4); by
     * ref it is borrowed where the store holds it (the bodies themselves count too) */
    CHECK(est < 200000000 &&
              est_text - strlen(text_body) >= est - strlen(body) + (size_t)12 * ROWS * IN,
          "estimates %zu and %zu (as text)", est, est_text);
#ifdef __SANITIZE_ADDRESS__
    printf("  peak RSS not checked under AddressSanitizer (it pads and quarantines blocks)\n");
#else
    CHECK(before > 0 && peak >= before && (size_t)(peak - before) * 1024 <= est,
          "peak RSS grew %ld kB; estimated %zu bytes", peak - before, est);
#endif
    json_decref(a);
    free(x), free(labels);
}

/* The estimate is an over-estimate for every form and route it follows: a
 * 784-256-10 network on 1,000 rows, inputs nested, base64, binary or by ref,
 * /gradients (with and without "return"), /forward and /train (in batches of
 * 100 and whole), answers as text, base64 and binary (http/estimate.c counts
 * each encoding's bytes); before each, the keeper's second of idleness hands the
 * cached mappings back and the peak RSS is reset, and the peak RSS grows by
 * no more than the request's estimate (not under AddressSanitizer, whose
 * allocator pads and quarantines every block; make test checks it). */
typedef struct {
    const char *route, *enc;
    int returns, batch_size;
    const char *optimizer; /* /train: JSON; NULL: SGD without momentum */
    int resume;            /* /train: every state buffer sent, nested */
    const char *answer;    /* "encoding" of the answer; NULL: not given (nested) */
} estimate_case;

/* An optimizer_state of every buffer named (NULL-terminated), 784-256-10:
 * small values, squared for the second moments (never negative). */
static json_t *state_json(const char *const *names)
{
    static const size_t dims[4][2] = {{256, 784}, {256, 0}, {10, 256}, {10, 0}};
    json_t *bufs = json_object();
    for (unsigned b = 0; names[b]; b++) {
        json_t *layers = json_array();
        for (unsigned l = 0; l < 2; l++) {
            json_t *layer = json_object();
            for (unsigned k = 0; k < 2; k++) {
                const size_t *d = dims[2 * l + k];
                tens t = {floats(d[1] ? d[0] * d[1] : d[0], 60 + 4 * b + 2 * l + k), d[1] ? 2 : 1,
                          {d[0], d[1]}};
                float *v = (float *)t.v;
                for (size_t i = 0; i < tens_count(&t); i++) v[i] = b ? v[i] * v[i] * 0.01f : v[i] * 0.1f;
                json_object_set_new(layer, k ? "bias" : "weight", enc_tensor(&t, "nested", NULL));
                free(v);
            }
            json_array_append_new(layers, layer);
        }
        json_object_set_new(bufs, names[b], layers);
    }
    return json_pack("{s:i,s:o}", "step", 10, "buffers", bufs);
}

static void post_estimate_case(const estimate_case *k, const tens *x, const tens *t)
{
    bytes bin = {0};
    json_t *q = json_object();
    json_object_set_new(q, "network",
                        json_pack("{s:i,s:[{s:i,s:s},{s:i,s:s}],s:s}", "inputs", 784, "layers",
                                  "units", 256, "activation", "relu", "units", 10, "activation",
                                  "linear", "loss", "mse"));
    json_object_set_new(q, "inputs", enc_tensor(x, k->enc, &bin));
    if (strcmp(k->route, "/forward")) json_object_set_new(q, "targets", enc_tensor(t, k->enc, &bin));
    if (k->returns)
        json_object_set_new(q, "return", json_pack("{s:b,s:b,s:b,s:b}", "outputs", 1, "input_grad", 1,
                                                   "deltas", 1, "activations", 1));
    if (k->answer) json_object_set_new(q, "encoding", json_string(k->answer));
    if (!strcmp(k->route, "/train")) {
        json_t *optimizer = k->optimizer ? json_loads(k->optimizer, 0, NULL)
                                         : json_pack("{s:s,s:f}", "name", "sgd", "lr", 0.01);
        json_object_set_new(q, "optimizer", optimizer);
        if (k->batch_size) json_object_set_new(q, "batch_size", json_integer(k->batch_size));
        if (k->resume) {
            static const char *const ADAM_AMSGRAD[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", NULL};
            json_object_set_new(q, "optimizer_state", state_json(ADAM_AMSGRAD));
        }
    }
    char *text = json_dumps(q, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(q);
    bytes body = {0};
    bytes_add(&body, text, strlen(text));
    if (bin.len) bytes_add(&body, bin.buf, bin.len);
    char ihcl[64];
    snprintf(ihcl, sizeof ihcl, "Inference-Header-Content-Length: %zu", strlen(text));
    const char *binary_headers[] = {OCTETS[0], ihcl, NULL};
    size_t est = estimate_request(route_find(k->route, NULL), text, strlen(text), body.len, NULL, 0)
                     .memory;

    /* the queue's keeper releases the cached mappings after 1 s idle */
    api_sleep(1.3);
    long before = reset_peak_rss();
    json_decref(api_call(NULL, "POST", k->route, bin.len ? binary_headers : NULL, body.buf,
                         body.len, 200, NULL));
    long grew = server_proc_status(api_srv.pid, "VmHWM") - before;
    printf("  %-10s %-6s%s batch %4d, answer %-6s: body %5.1f MB, estimate %6.1f MB, peak RSS "
           "grew %5.1f MB (%.2f)%s%s%s\n",
           k->route, k->enc, k->returns ? " return" : "       ", k->batch_size,
           k->answer ? k->answer : "nested", body.len / 1e6, est / 1e6, grew * 1024 / 1e6,
           grew * 1024.0 / (double)est, k->optimizer ? " (" : "", k->optimizer ? k->optimizer : "",
           k->optimizer ? (k->resume ? ", resumed)" : ")") : "");
#ifdef __SANITIZE_ADDRESS__
    (void)before; /* its allocator pads and quarantines: the bound is the production build's */
#else
    CHECK(before > 0 && (size_t)grew * 1024 <= est, "%s %s: peak RSS grew %ld kB; estimated %zu B",
          k->route, k->enc, grew, est);
#endif
    free(text), free(body.buf), free(bin.buf);
}

static void test_estimate_over_peak_rss(void)
{
    enum { ROWS = 1000 };
    tens x = {floats((size_t)ROWS * 784, 41), 2, {ROWS, 784}};
    tens t = {floats((size_t)ROWS * 10, 42), 2, {ROWS, 10}};
    static const estimate_case CASES[] = {
        {"/gradients", "nested", 0, 0, NULL, 0, NULL}, {"/gradients", "nested", 1, 0, NULL, 0, NULL},
        {"/gradients", "b64", 0, 0, NULL, 0, NULL},    {"/gradients", "binary", 0, 0, NULL, 0, NULL},
        {"/gradients", "ref", 1, 0, NULL, 0, NULL},    {"/forward", "nested", 0, 0, NULL, 0, NULL},
        {"/train", "nested", 0, 100, NULL, 0, NULL},   {"/train", "ref", 0, 100, NULL, 0, NULL},
        {"/train", "b64", 0, 0, NULL, 0, NULL},
        /* optimizers keeping one and three state buffers, one resumed */
        {"/train", "nested", 0, 100, "{\"name\":\"sgd\",\"lr\":0.01,\"momentum\":0.9}", 0, NULL},
        {"/train", "b64", 0, 0, "{\"name\":\"rmsprop\",\"lr\":0.001,\"momentum\":0.5,\"centered\":true}", 0,
         NULL},
        {"/train", "nested", 0, 100, "{\"name\":\"adam\",\"lr\":0.001,\"amsgrad\":true}", 1, NULL},
        /* answers in base64 and binary: their bytes, not text, counted */
        {"/gradients", "b64", 1, 0, NULL, 0, "b64"},
        {"/gradients", "binary", 1, 0, NULL, 0, "binary"},
        {"/forward", "b64", 0, 0, NULL, 0, "b64"},
        {"/train", "b64", 0, 0, "{\"name\":\"adam\",\"lr\":0.001}", 0, "b64"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) post_estimate_case(&CASES[i], &x, &t);
    free((void *)x.v), free((void *)t.v);
}

/* A /train of many steps on few parameters (1-1 on one row, 100,000
 * epochs, the default --max-steps): its loss history is most of its memory,
 * a double a step held and then answered as text (about 20 characters a
 * step, 2 MB), and its estimate stays above the peak RSS (the estimate
 * before counted no history: about 130 kB). */
static void test_estimate_counts_loss_history(void)
{
    enum { STEPS = 100000 };
    char body[512];
    snprintf(body, sizeof body,
             "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
             "\"loss\":\"mse\"},\"params\":[{\"weight\":[[0.5]],\"bias\":[0]}],\"inputs\":[[1]],"
             "\"targets\":[[2]],\"optimizer\":{\"name\":\"sgd\",\"lr\":0.001},\"epochs\":%d}",
             STEPS);
    size_t est = estimate_request(route_find("/train", NULL), body, strlen(body), strlen(body), NULL, 0)
                     .memory;
    api_sleep(1.3); /* the keeper empties the cache of mappings */
    long before = reset_peak_rss();
    http_response r;
    json_decref(api_call(NULL, "POST", "/train", NULL, body, strlen(body), 200, &r));
    long grew = server_proc_status(api_srv.pid, "VmHWM") - before;
    printf("  /train 1-1, %d steps: answer %.1f MB, estimate %.1f MB, peak RSS grew %.1f MB\n",
           STEPS, r.body_len / 1e6, est / 1e6, grew * 1024 / 1e6);
    CHECK(r.body_len > (size_t)10 * STEPS, "an answer of %zu bytes", r.body_len);
    /* a double held and at least 10 characters answered per step */
    CHECK(est >= (size_t)18 * STEPS, "estimated %zu bytes", est);
#ifndef __SANITIZE_ADDRESS__
    CHECK(before > 0 && (size_t)grew * 1024 <= est, "peak RSS grew %ld kB; estimated %zu B", grew,
          est);
#endif
    http_response_free(&r);
}

/* A /gradcheck of many rows on few parameters (20-20-1 on 10,000 rows,
 * under --max-gradcheck-cost): besides the pass of a /gradients it checks a
 * float64 copy of the network and of the batch with a pass of its own, and
 * its estimate stays above the peak RSS. */
static void test_estimate_gradcheck_over_peak(void)
{
    enum { ROWS = 10000, IN = 20 };
    tens x = {floats((size_t)ROWS * IN, 43), 2, {ROWS, IN}};
    tens t = {floats(ROWS, 44), 2, {ROWS, 1}};
    json_t *q = json_object();
    json_object_set_new(q, "network",
                        json_pack("{s:i,s:[{s:i,s:s},{s:i,s:s}],s:s}", "inputs", IN, "layers",
                                  "units", 20, "activation", "tanh", "units", 1, "activation",
                                  "linear", "loss", "mse"));
    json_object_set_new(q, "inputs", enc_tensor(&x, "nested", NULL));
    json_object_set_new(q, "targets", enc_tensor(&t, "nested", NULL));
    char *body = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    size_t est = estimate_request(route_find("/gradcheck", NULL), body, strlen(body), strlen(body),
                                  NULL, 0).memory;
    api_sleep(1.3); /* the keeper empties the cache of mappings */
    long before = reset_peak_rss();
    json_decref(api_call(NULL, "POST", "/gradcheck", NULL, body, strlen(body), 200, NULL));
    long grew = server_proc_status(api_srv.pid, "VmHWM") - before;
    printf("  /gradcheck 20-20-1, %d rows: body %.1f MB, estimate %.1f MB, peak RSS grew %.1f MB\n",
           ROWS, strlen(body) / 1e6, est / 1e6, grew * 1024 / 1e6);
#ifndef __SANITIZE_ADDRESS__
    CHECK(before > 0 && (size_t)grew * 1024 <= est, "peak RSS grew %ld kB; estimated %zu B", grew,
          est);
#endif
    free(body), free((void *)x.v), free((void *)t.v);
}

/* Tensors fastjson leaves to jansson cost a node a value (wire/fastjson.h):
 * the estimate counts them when the text shows them (http/estimate.c,
 * read_text_tensor), and stays above the peak RSS. A 784-256-10 /gradients on
 * 1,000 nested rows, its first input row changed: one number short (ragged),
 * a null or a string in it (each 400, naming the element), an x after the
 * body (400: jansson parses the text twice, the second time as sent, every
 * number a node, for the error's line and column), a member nested 70
 * levels deep (400 for the unknown member: past fastjson's 64 levels no
 * tensor is packed, and jansson parses every number), or a 19-digit
 * integer that jansson takes (200: fastjson reads it too now, so the tensor
 * stays packed), or one with an exponent. The well-formed body's estimate
 * is not raised by any of this: the 19-digit one and the exponent, of the
 * same shapes, are estimated the same (but for their length). Main's
 * build peaked at 1.46 to 1.85 times these estimates (its estimate counted
 * every tensor as packed). */
/* A fresh server in place of the shared one, with its flags: a peak measured
 * in it is not lowered by memory an earlier request left in its arenas. */
static int restart_api_server(const char *const *args)
{
    http_client_free(api_cli);
    api_cli = NULL;
    int code = server_stop(&api_srv);
    CHECK(code == 0, "exit code %d", code);
    int rc = server_start(&api_srv, args, NULL);
    CHECK(rc == 0, "server did not start");
    api_server_up = rc == 0;
    if (api_server_up) api_cli = http_client_new(api_srv.port, NULL);
    return rc;
}

static void test_estimate_holds_unpacked(void)
{
    enum { ROWS = 1000 };
    tens x = {floats((size_t)ROWS * 784, 45), 2, {ROWS, 784}};
    tens t = {floats((size_t)ROWS * 10, 46), 2, {ROWS, 10}};
    json_t *q = json_object();
    json_object_set_new(q, "network",
                        json_pack("{s:i,s:[{s:i,s:s},{s:i,s:s}],s:s}", "inputs", 784, "layers",
                                  "units", 256, "activation", "relu", "units", 10, "activation",
                                  "linear", "loss", "mse"));
    json_object_set_new(q, "targets", enc_tensor(&t, "nested", NULL));
    json_object_set_new(q, "inputs", enc_tensor(&x, "nested", NULL));
    char *text = json_dumps(q, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(q);
    const char *at = strstr(text, "\"inputs\":[[");
    CHECK(at != NULL, "the inputs in the text");
    if (!at) return;
    size_t first = (size_t)(at - text) + strlen("\"inputs\":[["), comma = first;
    while (text[comma] != ',') comma++;
    /* the last input: the text ends with it, then "]]}" (inputs written last) */
    size_t last = (size_t)(strrchr(text, ',') - text) + 1;
    static const struct {
        const char *name, *put; /* replaces the first input; NULL: removes it; "": the
                                   body as it is, followed by an x; "deep": with a
                                   member nested 70 levels deep; "beside": with a
                                   member holding an integer that fastjson could
                                   take for its marker, so it packs nothing;
                                   ",...": that member added at the end; "last ...":
                                   replaces the last input */
        long status;
        int counted; /* the estimate counts jansson's tree of the tensors: more than the
                        well-formed body's; else the same but for the body's length */
    } CASES[] = {{"one number short", NULL, 400, 1},
                 {"a null", "null", 400, 1},
                 {"a string", "\"0.5\"", 400, 1},
                 {"a member 70 deep", "deep", 400, 1},
                 {"a 14-digit member", "beside", 400, 1},
                 {"a 14-digit row end", "1,10000000000000", 400, 1},
                 /* malformed where jansson reads it, which the estimate does not
                    see: no tree is built, but that of the skeleton (wire/codec.c,
                    error_in_body; main's build parsed the body again) */
                 {"text after it", "", 400, 0},
                 {"1e999 at its end", ",\"x\":1e999", 400, 0},
                 {"1e999 as last input", "last 1e999", 400, 0},
                 {"2^63 as last input", "last 9223372036854775808", 400, 0},
                 {"a duplicate key", ",\"note\":0,\"note\":1", 400, 0},
                 {"a 19-digit integer", "1000000000000000000", 200, 0},
                 {"an exponent", "-2.5E-05", 200, 0}};
    size_t well = estimate_request(route_find("/gradients", NULL), text, strlen(text),
                                   strlen(text), NULL, 0).memory;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        size_t len = strlen(text);
        char *body = malloc(len + 256);
        memcpy(body, text, first);
        size_t n = first;
        if (CASES[i].put && !strcmp(CASES[i].put, "deep")) { /* past fastjson's 64 levels */
            memcpy(body, text, len - 1);
            n = len - 1 + (size_t)sprintf(body + len - 1, ",\"x\":%.70s%.70s}",
                                          "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                                          "[[[[[[[[[[[[[[[[[[[[[[",
                                          "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                                          "]]]]]]]]]]]]]]]]]]]]]]");
        } else if (CASES[i].put && !strcmp(CASES[i].put, "beside")) {
            memcpy(body, text, len - 1);
            n = len - 1 + (size_t)sprintf(body + len - 1, ",\"x\":{\"y\":[-1000000000000]}}");
        } else if (CASES[i].put && CASES[i].put[0] == ',') {
            memcpy(body, text, len - 1);
            n = len - 1 + (size_t)sprintf(body + len - 1, "%s}", CASES[i].put);
        } else if (CASES[i].put && !strncmp(CASES[i].put, "last ", 5)) {
            memcpy(body, text, last);
            n = last + (size_t)sprintf(body + last, "%s]]}", CASES[i].put + 5);
        } else if (CASES[i].put && !CASES[i].put[0]) {
            memcpy(body, text, len);
            memcpy(body + len, "x", 2);
            n = len + 1;
        } else if (CASES[i].put) {
            n += (size_t)sprintf(body + n, "%s", CASES[i].put);
            memcpy(body + n, text + comma, len - comma + 1);
            n += len - comma;
        } else {
            memcpy(body + n, text + comma + 1, len - comma);
            n += len - comma - 1;
        }
        size_t est = estimate_request(route_find("/gradients", NULL), body, n, n, NULL, 0).memory;
        if (restart_api_server(REF_BUDGET)) {
            free(body);
            break;
        }
        long before = reset_peak_rss();
        json_decref(api_call(NULL, "POST", "/gradients", NULL, body, n, CASES[i].status, NULL));
        long grew = server_proc_status(api_srv.pid, "VmHWM") - before;
        printf("  /gradients 784-256-10, %d rows, %-18s: body %.1f MB, estimate %.1f MB (well-formed "
               "%.1f MB), peak RSS grew %.1f MB (%.2f)\n",
               ROWS, CASES[i].name, n / 1e6, est / 1e6, well / 1e6, grew * 1024 / 1e6,
               grew * 1024.0 / (double)est);
        if (!CASES[i].counted) /* the same but for the body's own length */
            CHECK(est - n == well - strlen(text), "%s: estimated %zu, well-formed %zu",
                  CASES[i].name, est, well);
        else
            CHECK(est > well, "%s: estimated %zu, well-formed %zu", CASES[i].name, est, well);
#ifndef __SANITIZE_ADDRESS__
        CHECK(before > 0 && (size_t)grew * 1024 <= est, "%s: peak RSS grew %ld kB; estimated %zu B",
              CASES[i].name, grew, est);
#endif
        free(body);
    }
    free(text), free((void *)x.v), free((void *)t.v);
}

/* The scan's pool of doubles is sized from the count of numbers the estimate
 * found, not from the ',' left in the text: a /gradients of 100-1 on 2,000
 * rows (200,000 numbers, past the 1 MiB at which the pool is sized) followed
 * by 16 MB of strings of commas (16,384 of 1,022 commas: jansson copies
 * each into a block of malloc's, so the only big blocks are the body, its
 * skeleton and the pool) reserves room for its numbers (1.6 MB), where
 * main's build, counting the string's commas, reserved 4 bytes per byte of
 * text left (64 MB of address space: never written, but counted among the
 * mapped bytes, which evicts the cached ones sooner). The request is then
 * refused for its unknown key. */
static void test_text_pool_sized_from_estimate(void)
{
    enum { ROWS = 2000, IN = 100, STRING = 16 << 20 };
    size_t cap = (size_t)ROWS * (IN * 5 + 8) + STRING + 512;
    char *body = malloc(cap), *o = body;
    o += sprintf(o, "{\"network\":{\"inputs\":%d,\"layers\":[{\"units\":1,\"activation\":"
                    "\"linear\"}],\"loss\":\"mse\"},\"inputs\":[", IN);
    for (int r = 0; r < ROWS; r++) {
        *o++ = r ? ',' : '[';
        if (r) *o++ = '[';
        for (int k = 0; k < IN; k++) o += sprintf(o, k ? ",0.5" : "0.5");
        *o++ = ']';
    }
    o += sprintf(o, "],\"targets\":[");
    for (int r = 0; r < ROWS; r++) o += sprintf(o, r ? ",[1]" : "[1]");
    o += sprintf(o, "],\"note\":[");
    for (int s = 0; s < STRING / 1024; s++) { /* ,"(1022 commas)" */
        if (s) *o++ = ',';
        *o++ = '"';
        memset(o, ',', 1022);
        o += 1022;
        *o++ = '"';
    }
    o += sprintf(o, "]}");
    size_t len = (size_t)(o - body);
    request_estimate est =
        estimate_request(route_find("/gradients", NULL), body, len, len, NULL, 0);
    CHECK(est.text_numbers == (size_t)ROWS * (IN + 1), "the estimate counted %zu numbers",
          est.text_numbers);
    api_sleep(1.3); /* the keeper empties the cache of mappings */
    double before = metric("gradserve_memory_mapped_bytes{state=\"live\"}") +
                    metric("gradserve_memory_mapped_bytes{state=\"cached\"}");
    json_decref(api_call(NULL, "POST", "/gradients", NULL, body, len, 400, NULL));
    double live = metric("gradserve_memory_mapped_bytes{state=\"live\"}"),
           cached = metric("gradserve_memory_mapped_bytes{state=\"cached\"}");
    /* the body's own buffer and the skeleton (the text less the numbers) are
     * mapped too: each under the body's length */
    double pool = live + cached - before - 2.0 * (double)len;
    printf("  body %.1f MB: mapped %.1f MB after the request (%.1f MB before), beyond two "
           "bodies' length %.1f MB; the numbers' doubles %.1f MB\n",
           len / 1e6, (live + cached) / 1e6, before / 1e6, pool / 1e6,
           8.0 * ROWS * (IN + 1) / 1e6);
#ifndef __SANITIZE_ADDRESS__
    /* under a checker every block is malloc's: nothing is mapped */
    CHECK(live >= 0 && cached >= 0 && pool <= 8.0 * ROWS * (IN + 1) + (4 << 20),
          "mapped %.0f bytes beyond two bodies", pool);
#endif
    free(body);
}

/* Bodies whose shapes and text disagree, so that the count of numbers the
 * scan is given is wrong (capped at what the shapes make the estimate charge,
 * or at what the text holds): "inputs": 8 with rows of 300 numbers (the
 * count far too small: the scan reads on past it), "inputs": 3000 with rows
 * of 3 (far too big), 400 rows where the targets say 4: each answered 400
 * naming the field, the server still up and answering (under
 * AddressSanitizer, make test SANITIZE=1, a write past the pool would abort
 * it). */
static void test_counts_that_disagree(void)
{
    static const struct {
        int inputs, cols, rows, target_rows;
    } CASES[] = {{8, 300, 400, 400}, {3000, 3, 400, 400}, {4, 4, 400, 4}};
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        size_t cols = (size_t)CASES[i].cols, rows = (size_t)CASES[i].rows;
        char *body = malloc(rows * cols * 8 + (size_t)CASES[i].target_rows * 8 + 512), *o = body;
        o += sprintf(o, "{\"network\":{\"inputs\":%d,\"layers\":[{\"units\":1,"
                        "\"activation\":\"linear\"}],\"loss\":\"mse\"},\"inputs\":[",
                     CASES[i].inputs);
        for (size_t r = 0; r < rows; r++) {
            o += sprintf(o, r ? ",[" : "[");
            for (size_t k = 0; k < cols; k++) o += sprintf(o, k ? ",0.25" : "0.25");
            *o++ = ']';
        }
        o += sprintf(o, "],\"targets\":[");
        for (int r = 0; r < CASES[i].target_rows; r++) o += sprintf(o, r ? ",[1]" : "[1]");
        o += sprintf(o, "]}");
        size_t len = (size_t)(o - body);
        request_estimate est =
            estimate_request(route_find("/gradients", NULL), body, len, len, NULL, 0);
        CHECK(est.text_numbers <= rows * cols + (size_t)CASES[i].target_rows,
              "case %zu: a count of %zu, more than the text holds", i, est.text_numbers);
        json_t *a = api_call(NULL, "POST", "/gradients", NULL, body, len, 400, NULL);
        const char *ptr = a ? json_string_value(json_object_get(
                                  json_array_get(json_object_get(a, "errors"), 0), "pointer"))
                            : NULL;
        printf("  inputs %d, rows of %zu, %zu rows, %d targets: count %zu, 400 at %s\n",
               CASES[i].inputs, cols, rows, CASES[i].target_rows, est.text_numbers,
               ptr ? ptr : "?");
        CHECK(ptr && (!strncmp(ptr, "/inputs", 7) || !strncmp(ptr, "/targets", 8)),
              "case %zu: the 400 names %s", i, ptr ? ptr : "nothing");
        json_decref(a);
        free(body);
    }
    json_decref(api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, NULL));
}

/* What the estimate counts follows what each route answers, in its encoding
 * (a 784-256-10 network on 1,000 rows, inputs by ref, params given):
 * base64 answers count 4 characters per 3 bytes, binary ones their bytes,
 * text 16 bytes a float32, so asking for every per-row tensor costs less in
 * base64 and less again in binary; refs put the answer in the store (its own
 * budget); /forward counts no input gradients and answers no gradients,
 * and a /gradients that does not ask for input gradients counts none; a
 * /train's loss history counts a double and a float64's text a step. */
static size_t estimate_of(const char *route, const char *extra)
{
    static const char *fmt =
        "{\"network\":{\"inputs\":784,\"layers\":[{\"units\":256,\"activation\":\"relu\"},"
        "{\"units\":10,\"activation\":\"linear\"}],\"loss\":\"mse\"},\"params\":[],"
        "\"inputs\":{\"ref\":\"sha256:%064d\",\"shape\":[1000,784],\"dtype\":\"float32\"},"
        "\"targets\":{\"ref\":\"sha256:%064d\",\"shape\":[1000,10],\"dtype\":\"float32\"}%s}";
    char body[1024];
    snprintf(body, sizeof body, fmt, 1, 2, extra);
    return estimate_request(route_find(route, NULL), body, strlen(body), strlen(body), NULL, 0).memory;
}

static void test_estimate_follows_answer(void)
{
    const double rows = 1000, inputs = 784, per_row = 266, params = 203530;
    const char *all = ",\"return\":{\"outputs\":true,\"input_grad\":true,\"deltas\":true,"
                      "\"activations\":true}";
    char b64[256], binary[256], ref[256];
    snprintf(b64, sizeof b64, "%s,\"encoding\":\"b64\"", all);
    snprintf(binary, sizeof binary, "%s,\"encoding\":\"binary\"", all);
    snprintf(ref, sizeof ref, "%s,\"encoding\":\"ref\"", all);
    size_t text = estimate_of("/gradients", all), in_b64 = estimate_of("/gradients", b64),
           in_binary = estimate_of("/gradients", binary), in_ref = estimate_of("/gradients", ref);
    /* the per-row tensors asked for: outputs, input gradients, deltas, activations */
    double answered = params + rows * (10 + inputs + 2 * per_row);
    printf("  /gradients, every per-row tensor: estimated %.1f MB as text, %.1f MB base64, "
           "%.1f MB binary, %.1f MB refs\n",
           text / 1e6, in_b64 / 1e6, in_binary / 1e6, in_ref / 1e6);
    CHECK(text >= in_b64 + (size_t)(answered * (16 - 5.34)) - 5 * 1024 * 1024 &&
              in_b64 >= in_binary + (size_t)(answered * (5.33 - 4)) - 64 &&
              in_binary >= in_ref + (size_t)(answered * 4) - 5 * 1024 * 1024 && in_ref > 0,
          "estimates: text %zu, b64 %zu, binary %zu, ref %zu", text, in_b64, in_binary, in_ref);

    /* /forward: no input gradients, and it answers no gradients; /gradients
     * without "return" answers no per-row tensor and computes no input
     * gradients */
    size_t forward = estimate_of("/forward", ""), gradients = estimate_of("/gradients", "");
    CHECK(gradients >= forward + (size_t)(16 * params) - 64 &&
              gradients + (size_t)(4 * rows * inputs) <= text,
          "/forward %zu, /gradients %zu, asking for everything %zu", forward, gradients, text);

    /* /train: each step more holds a double and answers its text */
    size_t one = estimate_of("/train", ",\"epochs\":1"),
           many = estimate_of("/train", ",\"epochs\":10001");
    CHECK(many >= one + (size_t)10000 * (8 + 25), "/train 1 step %zu, 10,001 steps %zu", one, many);
}

/* A /train of the 784-256-128-10 network with Adam whose tensors
 * are all refs, answering refs: the bytes each way. */
static void test_wire_bytes_all_refs(void)
{
    size_t sizes[] = {256 * 784, 256, 128 * 256, 128, 10 * 128, 10};
    size_t shapes[][2] = {{256, 784}, {256, 0}, {128, 256}, {128, 0}, {10, 128}, {10, 0}};
    size_t rows = 512;
    char body[8192], *p = body;
    char ref[72];
    p += sprintf(p, "{\"network\":{\"inputs\":784,\"layers\":[{\"units\":256,\"activation\":\"relu\"},"
                    "{\"units\":128,\"activation\":\"relu\"},{\"units\":10,\"activation\":\"linear\"}],"
                    "\"loss\":\"cross_entropy\"},\"optimizer\":{\"name\":\"adam\",\"lr\":0.001},"
                    "\"batch_size\":128,\"epochs\":1,\"encoding\":\"ref\",");
    float *x = floats(rows * 784, 7);
    put_bytes(NULL, x, rows * 784 * 4, ref);
    free(x);
    p += sprintf(p, "\"inputs\":{\"ref\":\"%s\",\"shape\":[%zu,784],\"dtype\":\"float32\"},", ref, rows);
    int64_t *labels = malloc(rows * sizeof *labels);
    for (size_t i = 0; i < rows; i++) labels[i] = (int64_t)(i % 10);
    put_bytes(NULL, labels, rows * 8, ref);
    free(labels);
    p += sprintf(p, "\"targets\":{\"ref\":\"%s\",\"shape\":[%zu],\"dtype\":\"int64\"},", ref, rows);
    const char *slabs[] = {"params", "exp_avg", "exp_avg_sq"};
    for (int s = 0; s < 3; s++) {
        if (s == 1) p += sprintf(p, "\"optimizer_state\":{\"step\":1,\"buffers\":{");
        p += sprintf(p, "%s\"%s\":[", s == 2 ? "," : "", slabs[s]);
        for (int t = 0; t < 6; t++) {
            float *v = floats(sizes[t], 40 + 6 * s + t);
            if (s == 2)
                for (size_t k = 0; k < sizes[t]; k++) v[k] *= v[k];
            else
                for (size_t k = 0; k < sizes[t]; k++) v[k] *= 0.1f;
            put_bytes(NULL, v, sizes[t] * 4, ref);
            free(v);
            char shape[32];
            if (shapes[t][1]) snprintf(shape, sizeof shape, "[%zu,%zu]", shapes[t][0], shapes[t][1]);
            else snprintf(shape, sizeof shape, "[%zu]", shapes[t][0]);
            p += sprintf(p, "%s\"%s\":{\"ref\":\"%s\",\"shape\":%s,\"dtype\":\"float32\"}%s",
                         t % 2 ? "" : "{", t % 2 ? "bias" : "weight", ref, shape,
                         t % 2 ? (t == 5 ? "}" : "},") : ",");
        }
        p += sprintf(p, "]%s", s == 0 ? "," : "");
    }
    p += sprintf(p, "}}}");
    http_response r;
    json_t *a = api_call(NULL, "POST", "/train", NULL, body, (size_t)(p - body), 200, &r);
    printf("  /train 784-256-128-10 Adam, %zu rows, all refs, \"encoding\": \"ref\": "
           "request %zu bytes, answer %zu bytes\n",
           rows, (size_t)(p - body), r.body_len);
    CHECK((size_t)(p - body) <= 4096, "request of %zu bytes", (size_t)(p - body));
    CHECK(r.body_len <= 4096, "answer of %zu bytes", r.body_len);
    json_decref(a);
    http_response_free(&r);
}

int main(void)
{
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    if (api_start(NULL, NULL) == 0) {
        RUN(test_put_head_get_delete);
        RUN(test_put_refusals);
        RUN(test_refs_bit_identical);
        RUN(test_int64_labels);
        RUN(test_409_lists_every_missing_ref);
        RUN(test_hostile_refs);
        RUN(test_concurrent_puts_same_digest);
        RUN(test_delete_while_in_use);
        RUN(test_estimate_reads_ref_shape);
        RUN(test_estimate_counts_optimizer_state);
        RUN(test_estimate_follows_answer);
        RUN(test_wire_bytes_all_refs);
        api_stop();
    }
    if (api_start(SMALL, NULL) == 0) {
        RUN(test_put_over_limits);
        RUN(test_lru_eviction);
        RUN(test_ref_answer_over_budget);
        api_stop();
    }
    if (api_start(REF_BUDGET, NULL) == 0) {
        RUN(test_ref_train_within_budget);
        RUN(test_estimate_over_peak_rss);
        RUN(test_estimate_counts_loss_history);
        RUN(test_estimate_gradcheck_over_peak);
        RUN(test_estimate_holds_unpacked);
        RUN(test_text_pool_sized_from_estimate);
        RUN(test_counts_that_disagree);
        api_stop();
    }
    test_auth_on_store_routes();
    api_check_all_responses_valid();
    schema_free(api_schema);
    return CHECK_DONE();
}
