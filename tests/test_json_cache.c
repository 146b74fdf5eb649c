/* The skeleton cache (server/wire/json_cache.h), in-process through
 * compute_run, the request's own stages: every answer made with a cache is
 * the answer made without one, byte for byte, whether the tree came from the
 * cache or not; requests that share a skeleton but not their tensors
 * (numbers, a misplaced literal 0 where a tensor goes, an empty "b64") get
 * their own answers; malformed and oversized skeletons are not kept; slots
 * replaced while other threads read their trees (ASan under SANITIZE=1).
 * And the network cache beside it (server/api/net_cache.h): every answer as
 * without caches, for other networks, other dtypes, requests wrong in their
 * network (never kept) or elsewhere, other limits (each member of gs_limits
 * in turn), evicted entries and a skeleton kept again after it was replaced,
 * threads replacing entries. Both caches' cases share their helpers: a set
 * of requests sent in rounds (check_rounds) or from threads (run_threads). */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define SRV_ALLOC_LIBC_NAMES /* the test calls malloc and free itself */
#include "alloc.h"
#include "api/pipeline.h"
#include "api/routes.h"
#include "check.h"
#include "options.h"
#include "api/net_cache.h"
#include "wire/json_cache.h"
#include "wire/problem.h"

static server_options opts;
static atomic_int no_abort;

#define NET "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":4,\"activation\":\"tanh\"}," \
            "{\"units\":1,\"activation\":\"sigmoid\"}],\"loss\":\"binary_cross_entropy\"},"
/* The 2-4-1 XOR request of bench/http_bodies.py, and requests with its
 * skeleton but other numbers, or other things where its tensors go. */
#define BODY_XOR                                                                              \
    NET "\"params\":[{\"weight\":[[0.1,-0.2],[0.3,0.4],[-0.5,0.6],[0.7,-0.8]],\"bias\":[0,0,0,0]}," \
        "{\"weight\":[[0.5,-0.5,0.25,-0.25]],\"bias\":[0]}],"                                    \
        "\"inputs\":[[0,0],[0,1],[1,0],[1,1]],\"targets\":[[0],[1],[1],[0]]}"
static const char *const BODIES[] = {
    BODY_XOR,
    NET "\"params\":[{\"weight\":[[1.5,-2],[3,4],[-5,6],[7,-8]],\"bias\":[1,2,3,4]},"
        "{\"weight\":[[5,-5,2.5,-2.5]],\"bias\":[9]}],"
        "\"inputs\":[[1,2],[3,4]],\"targets\":[[1],[0]]}",
    /* a literal 0 where the inputs go is an error, and its own skeleton (the
     * others hold a marker there, which no client's number can be) */
    NET "\"params\":[{\"weight\":[[0.1,-0.2],[0.3,0.4],[-0.5,0.6],[0.7,-0.8]],\"bias\":[0,0,0,0]},"
        "{\"weight\":[[0.5,-0.5,0.25,-0.25]],\"bias\":[0]}],"
        "\"inputs\":0,\"targets\":[[0],[1],[1],[0]]}",
    /* another skeleton: flat and b64 tensors, one of them an empty "b64" */
    NET "\"params\":[{\"weight\":{\"shape\":[4,2],\"data\":[1,2,3,4,5,6,7,8]},\"bias\":[0,0,0,0]},"
        "{\"weight\":[[0.5,-0.5,0.25,-0.25]],\"bias\":{\"shape\":[1],\"dtype\":\"float32\","
        "\"b64\":\"AACAPw==\"}}],\"inputs\":[[0,0]],\"targets\":[[1]]}",
    NET "\"params\":[{\"weight\":{\"shape\":[4,2],\"data\":[1,2,3,4,5,6,7,8]},\"bias\":[0,0,0,0]},"
        "{\"weight\":[[0.5,-0.5,0.25,-0.25]],\"bias\":{\"shape\":[1],\"dtype\":\"float32\","
        "\"b64\":\"\"}}],\"inputs\":[[0,0]],\"targets\":[[1]]}",
    /* malformed after the tensors: never kept */
    NET "\"inputs\":[[0,0]],\"targets\":[[1]],}",
};
#define N_BODIES (sizeof BODIES / sizeof BODIES[0])

/* The answer's status and text ("<status> <body or problem>"), malloc'd,
 * made with the caches given (NULL: none) and the server options o. */
static char *answer_with(const char *body, json_cache *c, net_cache *nets,
                         const server_options *o)
{
    compute_env env = {.opts = o, .abort = &no_abort, .skeletons = c, .nets = nets};
    compute_result res;
    compute_run(route_find("/gradients", NULL), body, strlen(body), &env, &res);
    size_t len = 0;
    char *text = res.body ? res.body : problem_render(&res.d, NULL, &len);
    if (res.body) len = res.len;
    char *out = malloc(len + 16);
    snprintf(out, len + 16, "%d %.*s", res.status, (int)len, text ? text : "");
    srv_free(text);
    return out;
}

static char *answer(const char *body, json_cache *c) { return answer_with(body, c, NULL, &opts); }

static char *expected[N_BODIES];

/* The skeleton-cache and network-cache cases share their shape: requests
 * (bodies[n]) sent through caches, each answer compared with the one made
 * without any (expected[n]), then the caches' counts checked. */
typedef struct {
    const char *const *bodies;
    char *const *expected;
    size_t n; /* at most MAX_SET */
} request_set;
#define MAX_SET 16

static const request_set SKELETONS = {BODIES, expected, N_BODIES};
_Static_assert(N_BODIES <= MAX_SET, "MAX_SET");

/* Every request of set, `rounds` times in order, through c and nets. */
static void check_rounds(const request_set *set, int rounds, json_cache *c, net_cache *nets)
{
    for (int round = 0; round < rounds; round++)
        for (size_t i = 0; i < set->n; i++) {
            char *a = answer_with(set->bodies[i], c, nets, &opts);
            CHECK(!strcmp(a, set->expected[i]), "round %d request %zu:\n  %s\nwithout caches:\n  %s",
                  round, i, a, set->expected[i]);
            free(a);
        }
}

static void test_same_answers(void)
{
    json_cache *c = json_cache_create(64, 4096);
    CHECK(c != NULL, "cache");
    check_rounds(&SKELETONS, 3, c, NULL);
    unsigned long hits, misses;
    json_cache_counts(c, &hits, &misses);
    /* three skeletons, each parsed once: bodies 0-1 share one, 2 has its
     * own, 3-4 share another (both "b64" strings are packed, the empty one
     * too: the same text); the malformed one leaves no skeleton (fastjson
     * stops at the stray comma) and is parsed as sent, every time */
    CHECK(misses == 3, "misses %lu (hits %lu)", misses, hits);
    CHECK(hits == 3 * (N_BODIES - 1) - 3, "hits %lu", hits);
    CHECK(!strncmp(expected[2], "400 ", 4) && strstr(expected[2], "\"/inputs\""),
          "a 0 where the inputs go: %s", expected[2]);
    CHECK(!strncmp(expected[N_BODIES - 1], "400 ", 4) && strstr(expected[N_BODIES - 1], "malformed"),
          "malformed: %s", expected[N_BODIES - 1]);
    json_cache_free(c);
}

static void test_limits(void)
{
    /* texts over max_text are parsed every time; one slot holds one text */
    json_cache *small = json_cache_create(4, 16), *one = json_cache_create(1, 4096);
    const request_set first4 = {BODIES, expected, 4};
    check_rounds(&first4, 2, small, NULL);
    check_rounds(&first4, 2, one, NULL);
    unsigned long hits, misses;
    json_cache_counts(small, &hits, &misses);
    CHECK(hits == 0 && misses == 8, "over max_text: hits %lu misses %lu", hits, misses);
    json_cache_counts(one, &hits, &misses);
    /* bodies 0 and 1 share a text, 2 and 3 replace it in turn: the second
     * round starts over */
    CHECK(hits == 2 && misses == 6, "one slot: hits %lu misses %lu", hits, misses);
    json_cache_free(small);
    json_cache_free(one);
    json_cache_free(NULL);
}

/* A cache that cannot copy a text keeps nothing and answers as ever. */
static void test_put_out_of_memory(void)
{
    json_cache *c = json_cache_create(8, 4096);
    /* the copy is the last allocation of the scan stage: fail each in turn
     * until a request answers 200 without having kept its skeleton */
    int seen = 0;
    for (long n = 1; n < 200 && !seen; n++) {
        srv_alloc_fail_at(n, 0);
        char *a = answer(BODIES[0], c);
        srv_alloc_fail_at(0, 0);
        unsigned long hits, misses;
        json_cache_counts(c, &hits, &misses);
        if (!strncmp(a, "200 ", 4)) {
            CHECK(!strcmp(a, expected[0]), "after failing allocation %ld: %s", n, a);
            char *b = answer(BODIES[0], c);
            unsigned long h2, m2;
            json_cache_counts(c, &h2, &m2);
            seen = h2 == hits; /* the skeleton was not kept: parsed again */
            CHECK(!strcmp(b, expected[0]), "next: %s", b);
            free(b);
        } else {
            CHECK(!strncmp(a, "500 ", 4), "allocation %ld failing: %s", n, a);
        }
        free(a);
    }
    CHECK(seen, "no failing allocation left the skeleton out of the cache");
    json_cache_free(c);
}

#define THREADS 4
#define PER_THREAD 5000

typedef struct {
    const request_set *set;
    json_cache *c;
    net_cache *nets;
    unsigned seed;
    int bad;
    unsigned long sent[MAX_SET]; /* requests sent, per index of set */
} worker;

static void *work(void *p)
{
    worker *w = p;
    for (int i = 0; i < PER_THREAD; i++) {
        w->seed = w->seed * 1103515245u + 12345u;
        size_t k = (w->seed >> 16) % w->set->n;
        char *a = answer_with(w->set->bodies[k], w->c, w->nets, &opts);
        if (strcmp(a, w->set->expected[k])) w->bad++;
        w->sent[k]++;
        free(a);
    }
    return NULL;
}

/* THREADS threads sending requests of set drawn from seed through c and
 * nets; the answers that differ from those made without caches, and
 * sent[k] (k < set->n) the times request k was sent. */
static int run_threads(const request_set *set, unsigned seed, json_cache *c, net_cache *nets,
                       unsigned long *sent)
{
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.set = set, .c = c, .nets = nets, .seed = seed + (unsigned)i};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    int bad = 0;
    for (size_t k = 0; k < set->n; k++) sent[k] = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].bad;
        for (size_t k = 0; k < set->n; k++) sent[k] += w[i].sent[k];
    }
    return bad;
}

/* Two slots for three skeletons: trees are replaced while others read them. */
static void test_threads(void)
{
    json_cache *c = json_cache_create(2, 4096);
    unsigned long sent[N_BODIES];
    int bad = run_threads(&SKELETONS, 7u, c, NULL, sent);
    /* every request but the malformed one leaves a skeleton */
    unsigned long scanned = THREADS * PER_THREAD - sent[N_BODIES - 1];
    unsigned long hits, misses;
    json_cache_counts(c, &hits, &misses);
    CHECK(bad == 0, "%d of %d answers differ from those made without a cache", bad,
          THREADS * PER_THREAD);
    CHECK(hits > 0 && misses > 2 && hits + misses == scanned, "hits %lu misses %lu of %lu", hits,
          misses, scanned);
    json_cache_free(c);
}

/* ---- the network cache (api/net_cache.h) beside it ------------------------ */

#define XOR_PARAMS                                                                       \
    "\"params\":[{\"weight\":[[0.1,-0.2],[0.3,0.4],[-0.5,0.6],[0.7,-0.8]],\"bias\":[0,0,0,0]}," \
    "{\"weight\":[[0.5,-0.5,0.25,-0.25]],\"bias\":[0]}],"
#define XOR_BATCH "\"inputs\":[[0,0],[0,1],[1,0],[1,1]],\"targets\":[[0],[1],[1],[0]]}"
/* Requests whose networks are kept, and those whose networks must not be:
 * each answer must be the one made without any cache. */
static const char *const NETS[] = {
    BODY_XOR,
    /* another network: 2-3-1, relu */
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"relu\"},"
    "{\"units\":1,\"activation\":\"sigmoid\"}],\"loss\":\"binary_cross_entropy\"},"
    "\"params\":[{\"weight\":[[1,2],[3,4],[5,6]],\"bias\":[0,1,0]},"
    "{\"weight\":[[0.5,-0.5,0.25]],\"bias\":[0]}]," XOR_BATCH,
    /* the first network in float64: the definition's dtype differs */
    NET "\"dtype\":\"float64\"," XOR_PARAMS XOR_BATCH,
    /* read, but refused by the check: over max_units (422) */
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":100000,\"activation\":\"tanh\"},"
    "{\"units\":1,\"activation\":\"sigmoid\"}],\"loss\":\"binary_cross_entropy\"},"
    XOR_BATCH,
    /* not read: units 0 and an unknown key in the network (400) */
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":0,\"activation\":\"tanh\"},"
    "{\"units\":1,\"activation\":\"sigmoid\"}],\"loss\":\"binary_cross_entropy\",\"x\":1},"
    XOR_BATCH,
    /* a good network in a request wrong elsewhere: an unknown key, a bad dtype */
    NET "\"foo\":1," XOR_PARAMS XOR_BATCH,
    NET "\"dtype\":\"float16\"," XOR_PARAMS XOR_BATCH,
    /* the first skeleton (its network kept) with inputs of the wrong shape */
    NET XOR_PARAMS "\"inputs\":[[0,0,0]],\"targets\":[[0]]}",
};
#define N_NETS (sizeof NETS / sizeof NETS[0])
static char *net_expected[N_NETS];
static const request_set NETWORKS = {NETS, net_expected, N_NETS};
_Static_assert(N_NETS <= MAX_SET, "MAX_SET");

/* Every answer as without caches; the three good networks kept, the others
 * read every time (a refused network is never kept). */
static void test_nets_same_answers(void)
{
    json_cache *c = json_cache_create(64, 4096);
    net_cache *nets = net_cache_create(64);
    CHECK(c && nets, "caches");
    check_rounds(&NETWORKS, 3, c, nets);
    unsigned long hits, misses;
    net_cache_counts(nets, &hits, &misses);
    /* round 1: the last request hits the first's network; rounds 2 and 3:
     * requests 0, 1, 2 and 7 hit, 3 to 6 miss as in round 1 */
    CHECK(hits == 1 + 2 * 4 && misses == 7 + 2 * 4, "hits %lu misses %lu", hits, misses);
    CHECK(!strncmp(net_expected[1], "200 ", 4) && !strncmp(net_expected[2], "200 ", 4) &&
              strcmp(net_expected[0], net_expected[1]) && strcmp(net_expected[0], net_expected[2]),
          "the three networks answer, each its own way");
    CHECK(!strncmp(net_expected[3], "422 ", 4), "over max_units: %s", net_expected[3]);
    CHECK(!strncmp(net_expected[4], "400 ", 4) && strstr(net_expected[4], "/network/x") &&
              strstr(net_expected[4], "/network/layers/0/units"),
          "units 0: %s", net_expected[4]);
    CHECK(!strncmp(net_expected[7], "400 ", 4) && strstr(net_expected[7], "\"/inputs\""),
          "inputs: %s", net_expected[7]);
    net_cache_free(nets);
    json_cache_free(c);
}

/* Every member of gs_limits, each changed in turn below: a member added to
 * the struct stops the build here until it is listed. */
static const struct {
    const char *name;
    size_t offset;
} LIMIT_MEMBERS[] = {
    {"max_layers", offsetof(gs_limits, max_layers)},
    {"max_units", offsetof(gs_limits, max_units)},
    {"max_params", offsetof(gs_limits, max_params)},
    {"max_batch_elems", offsetof(gs_limits, max_batch_elems)},
};
#define N_LIMIT_MEMBERS (sizeof LIMIT_MEMBERS / sizeof LIMIT_MEMBERS[0])
_Static_assert(N_LIMIT_MEMBERS * sizeof(size_t) == sizeof(gs_limits),
               "gs_limits has a member LIMIT_MEMBERS does not list");

/* A definition checked against other limits is not taken: the same request
 * to a server with max_units 3 is refused, then answered again; and under
 * limits that differ from the kept entry's in one member (each in turn,
 * looser by one, so the answer is the same), the network is read again. */
static void test_nets_limits(void)
{
    server_options narrow = opts;
    narrow.limits.max_units = 3;
    char *refused = answer_with(NETS[0], NULL, NULL, &narrow);
    CHECK(!strncmp(refused, "422 ", 4), "max_units 3: %s", refused);
    json_cache *c = json_cache_create(64, 4096);
    net_cache *nets = net_cache_create(64);
    for (int round = 0; round < 2; round++) {
        char *a = answer_with(NETS[0], c, nets, &opts), *b = answer_with(NETS[0], c, nets, &narrow);
        CHECK(!strcmp(a, net_expected[0]) && !strcmp(b, refused), "round %d:\n  %s\n  %s", round,
              a, b);
        free(a);
        free(b);
    }
    for (size_t m = 0; m < N_LIMIT_MEMBERS; m++) {
        server_options other = opts;
        size_t *member = (size_t *)((char *)&other.limits + LIMIT_MEMBERS[m].offset);
        CHECK(*member != 0, "%s: 0 (no limit) cannot be loosened", LIMIT_MEMBERS[m].name);
        (*member)++;
        unsigned long hits0, misses0, hits, misses;
        char *kept = answer_with(NETS[0], c, nets, &opts); /* the default limits' entry back */
        net_cache_counts(nets, &hits0, &misses0);
        char *a = answer_with(NETS[0], c, nets, &other), *again = answer_with(NETS[0], c, nets, &other);
        net_cache_counts(nets, &hits, &misses);
        CHECK(misses == misses0 + 1 && hits == hits0 + 1,
              "%s one more: %lu misses then %lu hits (want 1, 1)", LIMIT_MEMBERS[m].name,
              misses - misses0, hits - hits0);
        CHECK(!strcmp(kept, net_expected[0]) && !strcmp(a, net_expected[0]) &&
                  !strcmp(again, net_expected[0]),
              "%s one more:\n  %s\n  %s", LIMIT_MEMBERS[m].name, a, again);
        free(kept);
        free(a);
        free(again);
    }
    net_cache_free(nets);
    json_cache_free(c);
    free(refused);
}

/* Evicted entries: one network slot for three networks, and one skeleton
 * slot, whose text kept again gets a new id (no stale definition found). */
static void test_nets_evicted(void)
{
    json_cache *many = json_cache_create(64, 4096), *one = json_cache_create(1, 4096);
    net_cache *single = net_cache_create(1), *wide = net_cache_create(64);
    const request_set first3 = {NETS, net_expected, 3};
    check_rounds(&first3, 3, many, single);
    check_rounds(&first3, 3, one, wide);
    unsigned long hits, misses;
    net_cache_counts(single, &hits, &misses);
    CHECK(hits == 0 && misses == 9, "one network slot: hits %lu misses %lu", hits, misses);
    net_cache_counts(wide, &hits, &misses);
    CHECK(hits == 0 && misses == 9, "one skeleton slot: hits %lu misses %lu", hits, misses);
    net_cache_free(single);
    net_cache_free(wide);
    json_cache_free(many);
    json_cache_free(one);
    net_cache_free(NULL);
}

/* Threads replacing networks (two slots for three) while others read them. */
static void test_nets_threads(void)
{
    json_cache *c = json_cache_create(4, 4096);
    net_cache *nets = net_cache_create(2);
    unsigned long sent[N_NETS];
    int bad = run_threads(&NETWORKS, 11u, c, nets, sent);
    unsigned long hits, misses;
    net_cache_counts(nets, &hits, &misses);
    CHECK(bad == 0, "%d of %d answers differ from those made without caches", bad,
          THREADS * PER_THREAD);
    CHECK(hits > 0 && misses > 3, "hits %lu misses %lu", hits, misses);
    net_cache_free(nets);
    json_cache_free(c);
}

int main(void)
{
    srv_alloc_install();
    json_object_seed(1);
    if (options_parse(&opts, 0, NULL, stdout, stderr) != 0) return 1;
    for (size_t i = 0; i < N_BODIES; i++) expected[i] = answer(BODIES[i], NULL);
    for (size_t i = 0; i < N_NETS; i++) net_expected[i] = answer(NETS[i], NULL);
    RUN(test_same_answers);
    RUN(test_limits);
    RUN(test_put_out_of_memory);
    RUN(test_threads);
    RUN(test_nets_same_answers);
    RUN(test_nets_limits);
    RUN(test_nets_evicted);
    RUN(test_nets_threads);
    for (size_t i = 0; i < N_BODIES; i++) free(expected[i]);
    for (size_t i = 0; i < N_NETS; i++) free(net_expected[i]);
    options_free(&opts);
    return CHECK_DONE();
}
