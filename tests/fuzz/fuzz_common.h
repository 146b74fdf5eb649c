/* What the request harnesses (fuzz_request.c, fuzz_compute.c) and their
 * regression test (tests/test_fuzz_regressions.c) share: the meaning of an
 * input, the server options they run under, and the invariants checked on
 * every answer. FUZZ_REQUIRE(cond) aborts (a harness) unless the includer
 * defines it first (the test: a failed CHECK).
 *
 * An input is one byte and a request body. The byte's low three bits pick the
 * compute route (modulo their number: 0 /forward, 1 /gradients, 2 /train,
 * 3 /gradcheck, 4 /autodiff) and, for fuzz_compute, when its high bit is
 * set, bits 3..6 pick an allocation to fail (1..16, through server/alloc.h's
 * hook; jansson's own are exempt, see alloc.h). The seed corpus (tests/fuzz/corpus/request/) starts with the ASCII
 * digits '0'..'4', whose high bit is clear. fuzz_compute runs each input
 * with a skeleton cache shared across inputs and, when no allocation was made
 * to fail, again without one: the two answers must be the same bytes. */
#ifndef GS_FUZZ_COMMON_H
#define GS_FUZZ_COMMON_H

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SRV_ALLOC_LIBC_NAMES /* the test calls malloc and free itself */
#include "alloc.h"
#include "wire/codec.h"
#include "options.h"
#include "wire/problem.h"
#include "api/request.h"
#include "api/pipeline.h"
#include "http/estimate.h"

#ifndef FUZZ_REQUIRE
#define FUZZ_REQUIRE(c)                                                                 \
    do {                                                                                \
        if (!(c)) {                                                                     \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);  \
            abort();                                                                    \
        }                                                                               \
    } while (0)
#endif

static server_options fuzz_opts;
static atomic_int fuzz_no_abort;

/* Defaults with small limits, so that every input runs in milliseconds. */
/* The store refs are read from and "encoding": "ref" answers go to: small,
 * so that eviction runs too. It holds one tensor of 4 float32s from the
 * start (request.dict's ref), so that fuzzed refs can hit as well as miss. */
static tensor_store *fuzz_store;
/* Skeletons kept between inputs (wire/json_cache.h), few slots so that they
 * are replaced often; fuzz_compute_one compares its answers with uncached ones. */
static json_cache *fuzz_skeletons;
/* and their networks' definitions (api/net_cache.h), as few */
static net_cache *fuzz_nets;

static void fuzz_setup(void)
{
    static int done;
    if (done) return;
    done = 1;
    srv_alloc_install();
    srv_alloc_exempt_jansson(1); /* see alloc.h: jansson 2.14 is not safe out of memory */
    json_object_seed(1);
    if (options_parse(&fuzz_opts, 0, NULL, stdout, stderr) != 0) abort();
    fuzz_opts.limits.max_layers = 8;
    fuzz_opts.limits.max_units = 256;
    fuzz_opts.limits.max_params = 5000;
    fuzz_opts.limits.max_batch_elems = 20000;
    fuzz_opts.max_steps = 64;
    fuzz_opts.max_gradcheck_cost = 1e6;
    fuzz_opts.max_request_seconds = 0;
    fuzz_store = store_new(1 << 16);
    float four[4] = {1, 2, 3, 4};
    unsigned char digest[DIGEST_BYTES];
    void *copy = malloc(sizeof four);
    if (!fuzz_store || !copy || !sha256_of(four, sizeof four, digest)) abort();
    memcpy(copy, four, sizeof four);
    store_put(fuzz_store, digest, copy, sizeof four);
    if (!(fuzz_skeletons = json_cache_create(4, 4096)) || !(fuzz_nets = net_cache_create(3)))
        abort();
    fuzz_opts.ad_limits.max_length = 1024;
    fuzz_opts.ad_limits.max_nodes = 512;
}

/* The compute rows, which come first in the table (api/routes.c). */
static const route_def *fuzz_route(uint8_t b)
{
    size_t n = 0;
    while (ROUTE_TABLE[n].queued) n++;
    return &ROUTE_TABLE[(b & 7) % n];
}

static long fuzz_fail_at(uint8_t b) { return b & 0x80 ? ((b >> 3) & 15) + 1 : 0; }

/* A problem as the server renders it: JSON, the same status, pointers that
 * are JSON Pointers. */
static void fuzz_check_problem(const diag *d)
{
    size_t len = 0;
    char *text = problem_render(d, "fuzz", &len);
    FUZZ_REQUIRE(text && len == strlen(text));
    json_t *p = text ? json_loadb(text, len, 0, NULL) : NULL;
    FUZZ_REQUIRE(json_is_object(p));
    FUZZ_REQUIRE(json_integer_value(json_object_get(p, "status")) == d->status);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(p, "errors"), i, e) {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        FUZZ_REQUIRE(ptr && (!*ptr || *ptr == '/'));
    }
    json_decref(p);
    srv_free(text);
}

/* The whole request in-process, as http.c runs it. */
static void fuzz_compute_one(const uint8_t *data, size_t size)
{
    if (!size) return;
    fuzz_setup();
    const route_def *r = fuzz_route(data[0]);
    compute_env env = {.opts = &fuzz_opts, .abort = &fuzz_no_abort, .store = fuzz_store,
                       .skeletons = fuzz_skeletons, .nets = fuzz_nets};
    compute_result res;
    long fail_at = fuzz_fail_at(data[0]);
    srv_alloc_fail_at(fail_at, 0);
    compute_run(r, (const char *)data + 1, size - 1, &env, &res);
    int injected = srv_alloc_failed();
    srv_alloc_fail_at(0, 0);
    /* The skeleton and network caches change no answer: the same request
     * without them answers the same bytes. Not with refs: the first answer
     * may have evicted from the store a tensor that the request reads. */
    if (!injected && !memmem(data + 1, size - 1, "\"ref\"", 5)) {
        compute_env plain = env;
        plain.skeletons = NULL;
        plain.nets = NULL;
        compute_result again;
        compute_run(r, (const char *)data + 1, size - 1, &plain, &again);
        FUZZ_REQUIRE(again.status == res.status && again.len == res.len &&
                     (!res.len || !memcmp(again.body, res.body, res.len)));
        if (res.status >= 400 && res.status != 409) {
            size_t n1 = 0, n2 = 0;
            char *p1 = problem_render(&res.d, NULL, &n1), *p2 = problem_render(&again.d, NULL, &n2);
            FUZZ_REQUIRE(p1 && p2 && n1 == n2 && !memcmp(p1, p2, n1));
            free(p1);
            free(p2);
        }
        free(again.body);
    }
    if (res.status == 200) {
        FUZZ_REQUIRE(res.body && res.len == strlen(res.body) && !res.d.status);
        json_t *j = json_loadb(res.body, res.len, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_REQUIRE(json_is_object(j)); /* nothing non-finite slipped into the JSON */
        json_decref(j);
    } else if (res.status == 409) { /* missing refs: the errors array in the body */
        FUZZ_REQUIRE(res.body && res.d.errors_json == res.body && res.d.slug);
        fuzz_check_problem(&res.d);
    } else {
        /* 400 invalid, 422 over a limit / diverged / non-finite; 500 only
         * when an allocation was made to fail */
        FUZZ_REQUIRE(!res.body && res.status == res.d.status && res.d.slug);
        FUZZ_REQUIRE(res.status == 400 || res.status == 422 || (injected && res.status == 500));
        fuzz_check_problem(&res.d);
    }
    srv_free(res.body);
}

/* Every top-level key any route accepts. */
static const char *const FUZZ_EXTRA_KEYS[] = {"encoding",   "return",  "optimizer", "epochs",
                                              "batch_size", "shuffle", "seed",      "optimizer_state",
                                              "eps",        NULL};

/* Decoding and validation alone: the request, the optimizer and its state,
 * and every top-level value read as a tensor. */
static void fuzz_decode_one(const uint8_t *data, size_t size)
{
    if (!size) return;
    fuzz_setup();
    /* the scan a request gets, at every tensor position any route has, its
     * pool sized from the count its estimate found (whatever the text says) */
    const route_def *train = route_find("/train", NULL);
    const char *body = (const char *)data + 1;
    size_t numbers = estimate_request(train, body, size - 1, size - 1, NULL, 0).text_numbers;
    codec_ctx cc;
    diag d = {0};
    json_t *root = codec_open(&cc, body, size - 1, 0, train->tensors, numbers, NULL, &d);
    if (!root) {
        FUZZ_REQUIRE(d.status == 400);
        /* malformed: the error jansson gives for the text as sent, though
         * the codec parsed fastjson's skeleton only (wire/codec.c) */
        if (d.slug && !strcmp(d.slug, "malformed-json")) {
            json_error_t err;
            json_t *whole = json_loadb(body, size - 1, JSON_REJECT_DUPLICATES, &err);
            char want[sizeof d.detail];
            snprintf(want, sizeof want, "line %d, column %d: %s", err.line, err.column, err.text);
            FUZZ_REQUIRE(!whole && !strcmp(d.detail, want));
            json_decref(whole);
        }
        codec_close(&cc);
        return;
    }
    request_kind kind = {FUZZ_EXTRA_KEYS, data[0] & 1};
    request r;
    if (request_decode(&r, root, &cc, &kind, &fuzz_opts, NULL, &d)) {
        FUZZ_REQUIRE(!d.status && r.net && r.batch.rows >= 1 && r.batch.inputs);
        FUZZ_REQUIRE(gs_net_param_count(r.net) <= fuzz_opts.limits.max_params);
        FUZZ_REQUIRE(r.batch.rows * gs_net_max_width(r.net) <= fuzz_opts.limits.max_batch_elems);
        gs_optim_def od;
        diag d2 = {0};
        if (optimizer_decode(root, &od, &d2)) {
            gs_error e;
            gs_optim *opt = gs_optim_create(r.net, &od, &e);
            FUZZ_REQUIRE(opt != NULL);
            diag d3 = {0};
            if (!optimizer_state_decode(root, opt, &r, &d3)) fuzz_check_problem(&d3);
            gs_optim_free(opt);
        } else {
            FUZZ_REQUIRE(d2.status == 400);
            fuzz_check_problem(&d2);
        }
    } else {
        FUZZ_REQUIRE(d.status == 400 || d.status == 422);
        fuzz_check_problem(&d);
    }
    request_free(&r);

    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        tensor_view t;
        diag dt = {0};
        const json_ptr p = {.key = key}; /* where fastjson looked: /inputs is read packed */
        if (!tensor_view_of(&cc, v, &p, &t, &dt)) {
            FUZZ_REQUIRE(dt.status == 400);
            continue;
        }
        FUZZ_REQUIRE(t.rank >= 1 && t.rank <= TENSOR_MAX_RANK);
        if (t.count > 65536) continue;
        double *buf = malloc((t.count ? t.count : 1) * sizeof *buf);
        int64_t *labels = malloc((t.count ? t.count : 1) * sizeof *labels);
        if (buf && labels) {
            tensor_read(&t, &p, GS_FLOAT32, buf, &dt);
            tensor_read(&t, &p, GS_FLOAT64, buf, &dt);
            if (t.rank == 1) tensor_read_labels(&t, &p, 7, labels, &dt);
        }
        free(buf);
        free(labels);
    }
    json_decref(root);
    codec_close(&cc);

    /* base64 both ways on the raw bytes */
    size_t n = (size - 1) / 4 * 4;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (out) {
        long long got = base64_decode(out, (const char *)data + 1, n);
        FUZZ_REQUIRE(got >= -1 && got <= (long long)(n / 4 * 3));
        if (got >= 0) {
            char *again = malloc(base64_encoded_len((size_t)got) + 1);
            if (again) {
                base64_encode(again, out, (size_t)got);
                FUZZ_REQUIRE(base64_encoded_len((size_t)got) == n);
                unsigned char *back = malloc(n / 4 * 3 + 1);
                if (back) {
                    FUZZ_REQUIRE(base64_decode(back, again, n) == got &&
                                 !memcmp(back, out, (size_t)got));
                    free(back);
                }
                free(again);
            }
        }
        free(out);
    }
}

#endif
