/* Allocation-failure injection over whole requests, in-process (no sockets):
 * every allocation that compute_run makes (the server's own, jansson's, and
 * the core's, all through server/alloc.h's hook) is made to fail in turn,
 * N = 1, 2, 3, ..., for a few real requests of every compute route. Each
 * failure must give a clean problem (500 internal, with a slug and a detail)
 * and no leak; a run in which no allocation failed must answer exactly as
 * without injection. The same walk is made with every allocation from the
 * N-th on failing (error paths that allocate while handling a failure).
 *
 * Leaks: the heap's bytes in use (mallinfo2) must be back where they were
 * after every run; under SANITIZE=1 LeakSanitizer checks at exit instead. */
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#define SRV_ALLOC_LIBC_NAMES /* the test calls malloc and free itself */
#include "alloc.h"
#include "check.h"
#include "options.h"
#include "wire/problem.h"
#include "api/pipeline.h"

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_COUNTED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_COUNTED 0
#endif
#endif
#ifndef HEAP_COUNTED
#define HEAP_COUNTED 1
#endif

static server_options opts;

typedef struct {
    const char *name, *path, *body;
} request_case;

static const request_case CASES[] = {
    {"forward_init_flat", "/forward",
     "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":4,\"activation\":\"tanh\"},"
     "{\"units\":1,\"activation\":\"sigmoid\"}],\"loss\":\"binary_cross_entropy\"},"
     "\"init\":{\"scheme\":\"xavier_uniform\",\"seed\":7},\"encoding\":\"flat\","
     "\"inputs\":[[0,0],[0,1],[1,0],[1,1]],\"targets\":[[0],[1],[1],[0]]}"},
    {"gradients_params_extras_b64", "/gradients",
     "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"relu\"},"
     "{\"units\":2,\"activation\":\"linear\"}],\"loss\":\"mse\"},\"dtype\":\"float64\","
     "\"params\":[{\"weight\":[[0.1,0.2],[0.3,-0.4],[0.5,0.6]],\"bias\":[0,0.1,0]},"
     "{\"weight\":{\"shape\":[2,3],\"data\":[1,-1,1,0.5,0.5,0.5]},\"bias\":[0,0]}],"
     "\"inputs\":{\"shape\":[2,2],\"dtype\":\"float32\",\"b64\":\"AACAPwAAAEAAAEBAAACAQA==\"},"
     "\"targets\":[[1,0],[2,1]],\"encoding\":\"b64\","
     "\"return\":{\"outputs\":true,\"input_grad\":true,\"deltas\":true}}"},
    {"gradients_labels", "/gradients",
     "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"softmax\"}],"
     "\"loss\":\"cross_entropy\"},\"inputs\":[[1,2],[3,4],[5,6]],\"targets\":[0,2,1]}"},
    {"train_adam_resume", "/train",
     "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"relu\"},"
     "{\"units\":1}],\"loss\":\"huber\"},\"init\":{\"seed\":3},"
     "\"inputs\":[[1,2],[3,4],[5,6]],\"targets\":[[1],[2],[3]],"
     "\"optimizer\":{\"name\":\"adam\",\"lr\":0.01,\"amsgrad\":true},\"epochs\":2,"
     "\"batch_size\":2,\"shuffle\":true,\"seed\":5}"},
    {"train_sgd_state", "/train",
     "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1}]},"
     "\"params\":[{\"weight\":[[0.5]],\"bias\":[0]}],\"inputs\":[[1],[2]],\"targets\":[[2],[4]],"
     "\"optimizer\":{\"name\":\"sgd\",\"lr\":0.1,\"momentum\":0.9},"
     "\"optimizer_state\":{\"step\":1,\"buffers\":{\"momentum_buffer\":"
     "[{\"weight\":[[0.1]],\"bias\":[0.2]}]}}}"},
    {"gradcheck", "/gradcheck",
     "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":2,\"activation\":\"tanh\"},"
     "{\"units\":1}]},\"dtype\":\"float64\",\"init\":{\"seed\":1},"
     "\"inputs\":[[0.5,-1],[1,2]],\"targets\":[[1],[0]]}"},
    {"invalid_many_errors", "/gradients",
     "{\"network\":{\"inputs\":0,\"layers\":[{\"units\":0,\"activation\":\"swish\"}],"
     "\"loss\":\"hinge\"},\"bogus\":1,\"inputs\":\"x\",\"targets\":[[1]]}"},
    {"malformed_json", "/forward", "{\"network\": [1, 2, "},
    /* refs: the inputs from the store (env_of puts them there), the answer into it;
     * and refs the store lacks (409, its errors array in the body) */
    {"gradients_refs_encoding_ref", "/gradients",
     "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"tanh\"},"
     "{\"units\":1}]},\"init\":{\"seed\":2},\"encoding\":\"ref\","
     "\"inputs\":{\"ref\":\"sha256:ad73b9acd6e4a74b2f5bb5386658ce3bb146cd040a1867646ab3b973fb6632b1\",\"shape\":[2,2],\"dtype\":\"float32\"},"
     "\"targets\":[[1],[0]]}"},
    {"train_missing_refs", "/train",
     "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1}]},\"optimizer\":{\"name\":\"sgd\"},"
     "\"params\":[{\"weight\":{\"ref\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\",\"shape\":[1,2],"
     "\"dtype\":\"float64\"},\"bias\":{\"ref\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\",\"shape\":[1],"
     "\"dtype\":\"float32\"}}],\"inputs\":[[1,2]],\"targets\":[[1]]}"},
    {"autodiff", "/autodiff", "{\"expression\":\"x*y + sin(x)/exp(y)\",\"at\":{\"x\":1,\"y\":2}}"},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static size_t heap_in_use(void) { return HEAP_COUNTED ? mallinfo2().uordblks : 0; }

/* The store of the ref cases, holding the float32s 1, 2, 3, 4; made before
 * any allocation is armed to fail. */
static tensor_store *refs_store;

static void refs_store_init(void)
{
    float four[4] = {1, 2, 3, 4};
    unsigned char digest[DIGEST_BYTES];
    void *copy = malloc(sizeof four);
    refs_store = store_new(1 << 20);
    memcpy(copy, four, sizeof four);
    sha256_of(four, sizeof four, digest);
    store_put(refs_store, digest, copy, sizeof four);
}

static const compute_env *env_of(void)
{
    static compute_env env;
    static atomic_int no_abort;
    env.store = refs_store;
    env.opts = &opts;
    env.deadline = 0;
    env.abort = &no_abort;
    return &env;
}

/* One request; the problem is rendered as the server would (unarmed). */
static void run(const route_def *r, const char *body, compute_result *res)
{
    compute_run(r, body, strlen(body), env_of(), res);
}

static void walk(const request_case *c, int sticky, long *failures)
{
    const route_def *r = route_find(c->path, NULL);
    compute_result base, res;
    srv_alloc_fail_at(0, 0);
    run(r, c->body, &base);
    srv_free(base.body);
    run(r, c->body, &base); /* the first run warms lazily allocated library state */
    srv_alloc_fail_at(LONG_MAX, 0);
    run(r, c->body, &res);
    long total = srv_alloc_count();
    srv_alloc_fail_at(0, 0);
    srv_free(res.body);
    CHECK(total > 0, "%s: no allocation went through the hook", c->name);
    size_t heap0 = heap_in_use();
    for (long n = 1; n <= total + 1; n++) {
        srv_alloc_fail_at(n, sticky);
        run(r, c->body, &res);
        int failed = srv_alloc_failed();
        srv_alloc_fail_at(0, 0);
        if (failed) {
            (*failures)++;
            /* A request already found invalid may keep its 4xx: the failure
             * came while the rest of it was being checked. */
            int still_invalid = base.status >= 400 && base.status < 500 &&
                                res.status == base.status && res.d.slug == base.d.slug;
            CHECK(res.status == 500 || still_invalid,
                  "%s: allocation %ld failing%s gave status %d (%s: %s)", c->name, n,
                  sticky ? " (and every later one)" : "", res.status,
                  res.d.slug ? res.d.slug : "-",
                  res.d.n ? res.d.errors[0].pointer : res.d.detail);
            CHECK(res.status == res.d.status && res.d.slug && (res.d.detail[0] || res.d.n) &&
                      (!res.body || res.d.errors_json == res.body), /* 409: its errors */
                  "%s: allocation %ld: not a clean problem", c->name, n);
            size_t len = 0;
            char *p = problem_render(&res.d, "test", &len);
            CHECK(p && len > 0, "%s: allocation %ld: problem not rendered", c->name, n);
            srv_free(p);
        } else {
            CHECK(n > total, "%s: allocation %ld of %ld did not fail", c->name, n, total);
            CHECK(res.status == base.status && res.len == base.len &&
                      (!base.body || (res.body && !memcmp(res.body, base.body, base.len))),
                  "%s: with no failure the answer differs (status %d vs %d)", c->name,
                  res.status, base.status);
        }
        srv_free(res.body);
        size_t heap = heap_in_use();
        CHECK(heap == heap0, "%s: allocation %ld failing leaked %zd bytes", c->name, n,
              (ssize_t)(heap - heap0));
        heap0 = heap;
    }
    srv_free(base.body);
}

static void test_each_allocation_fails_in_turn(void)
{
    long failures = 0;
    for (size_t i = 0; i < N_CASES; i++)
        if (route_find(CASES[i].path, NULL)->queued) walk(&CASES[i], 0, &failures);
    printf("  %ld single allocation failures injected over %zu requests\n", failures, N_CASES);
}

static void test_every_allocation_fails_from_n_on(void)
{
    long failures = 0;
    for (size_t i = 0; i < N_CASES; i++)
        if (route_find(CASES[i].path, NULL)->queued) walk(&CASES[i], 1, &failures);
    printf("  %ld sticky allocation failures injected over %zu requests\n", failures, N_CASES);
}

/* The hook really is on the whole path: jansson's parser, the server's
 * buffers and the core's slabs each fail when their turn comes. */
static void test_hook_covers_jansson_server_and_core(void)
{
    compute_result res;
    /* jansson: its parser allocates through the hook, and fails with it. */
    srv_alloc_fail_at(LONG_MAX, 0);
    json_t *j = json_loads(CASES[0].body, 0, NULL);
    CHECK(j && srv_alloc_count() > 0, "jansson's allocations do not go through the hook");
    json_decref(j);
    srv_alloc_fail_at(1, 1);
    j = json_loads(CASES[0].body, 0, NULL);
    srv_alloc_fail_at(0, 0);
    CHECK(!j, "jansson parsed with every allocation failing");
    json_decref(j);
    /* every allocation failing: still a clean problem */
    srv_alloc_fail_at(1, 1);
    run(route_find("/train", NULL), CASES[3].body, &res);
    srv_alloc_fail_at(0, 0);
    CHECK(res.status == 500 && !res.body, "all failing: %d", res.status);
    srv_free(res.body);
    /* the core: a network too big for the heap (but under no limit) is a 500 */
    static const char big[] =
        "{\"network\":{\"inputs\":65536,\"layers\":[{\"units\":65536},{\"units\":65536},"
        "{\"units\":65536}]},\"inputs\":{\"shape\":[0,65536],\"data\":[]}}";
    server_options unlimited = opts;
    memset(&unlimited.limits, 0, sizeof unlimited.limits);
    compute_env env = *env_of();
    env.opts = &unlimited;
    compute_run(route_find("/forward", NULL), big, sizeof big - 1, &env, &res);
    CHECK(res.status == 400 || res.status == 500, "unlimited huge network: %d %s", res.status,
          res.d.detail);
    srv_free(res.body);
}

int main(int argc, char **argv)
{
    /* glibc's tcache keeps freed chunks counted as in use: without it the
     * heap's byte count is exact. The tunable is read at start-up only. */
    const char *tunables = getenv("GLIBC_TUNABLES");
    if (HEAP_COUNTED && argc > 0 && (!tunables || !strstr(tunables, "tcache_count=0"))) {
        setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
        execv("/proc/self/exe", argv);
        perror("re-exec without tcache");
        return 1;
    }
    static char outbuf[1 << 14]; /* stdio's buffer must not count as a leak */
    setvbuf(stdout, outbuf, _IOLBF, sizeof outbuf);
    srv_alloc_install();
    json_object_seed(1);
    if (options_parse(&opts, 0, NULL, stdout, stderr) != 0) return 1;
    opts.max_concurrent = 1;
    refs_store_init();
    RUN(test_hook_covers_jansson_server_and_core);
    RUN(test_each_allocation_fails_in_turn);
    RUN(test_every_allocation_fails_from_n_on);
    options_free(&opts);
    store_free(refs_store);
    return CHECK_DONE();
}
