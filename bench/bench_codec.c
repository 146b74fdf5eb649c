/* bench_codec: the server's tensor text paths, in-process, against jansson's.
 *
 *   decode  a /gradients body of nested arrays (bench/http_bodies.py's
 *           big-nested.json): jansson's json_loadb then request_decode, as the
 *           server decoded before fastjson (jansson's default allocator), against
 *           the server's path (codec_open at the /gradients row's tensor
 *           positions: fastjson_scan, json_loadb of the skeleton; then
 *           request_decode reading the packed numbers, as compute_run does).
 *           Both must give the same
 *           tensors bit for bit (checked).
 *   write   N random float32 as a JSON array: the server's writer (jw_float,
 *           shortest round-trip text) against json_dumps of a jansson array of
 *           json_real (JSON_COMPACT, default precision 17; and precision 9, the
 *           least that round-trips float32). Every float the writer printed is
 *           read back with strtof and compared bit for bit (mismatches counted).
 *   small   a tiny request (--small FILE, bench/http_bodies.py's small.json:
 *           the 2-4-1 XOR /gradients) through compute_run, stages 4 to 7 as a
 *           worker runs them (scan, decode, compute, encode), in batches of
 *           1,000: this thread's CPU time per request without the transport
 *           (the least batch of those run in the budget); then the same with
 *           the server's skeleton cache (compute_run_cached), and the
 *           allocations one request makes without it.
 *
 * usage: bench_codec --body FILE [--small FILE] [--floats N] [--budget SECONDS]
 * Output, tab-separated: codec <what> <variant> <median_s> <items> <items_per_s>,
 * then "codec check <name> <value>" lines. */
#include <float.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the benchmark's own buffers are libc's; what the server's functions and
 * jansson hand back is freed with srv_free */
#define SRV_ALLOC_LIBC_NAMES
#include "alloc.h"
#include "wire/codec.h"
#include "wire/json_writer.h"
#include "options.h"
#include "api/pipeline.h"
#include "api/request.h"
#include "api/routes.h"
#include "http/estimate.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_codec: %s\n", what);
    exit(1);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) die("read");
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of repeated calls lasting about budget seconds (3 to 15 calls). */
typedef void (*fn)(void *);
static double timeit(fn f, void *ctx, double budget)
{
    double t[15];
    int n = 0;
    double start = now_s();
    f(ctx); /* warm-up */
    do {
        double t0 = now_s();
        f(ctx);
        t[n++] = now_s() - t0;
    } while (n < 15 && (n < 3 || now_s() - start < budget));
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return t[n / 2];
}

/* ---- decode -------------------------------------------------------------- */

typedef struct {
    const char *body;
    size_t len;
    server_options opts;
    int fast;
    size_t text_numbers; /* fast: the count of numbers a request's scan is given (its
                            estimate's, made on the event loop, not timed here) */
    /* the last decode's tensors, to compare the two paths */
    void *params, *inputs;
    size_t n_params, n_inputs;
} decode_ctx;

static void decode_once(void *p)
{
    decode_ctx *c = p;
    /* a request's own stages: the scan (fastjson at the row's tensor
     * positions, or none for jansson alone), then its decode */
    const route_def *row = route_find("/gradients", NULL);
    codec_ctx cc;
    diag d = {0};
    json_t *root = codec_open(&cc, c->body, c->len, 0, c->fast ? row->tensors : NULL,
                              c->text_numbers, NULL, &d);
    if (!root) die(d.detail);
    request r;
    if (!request_decode(&r, root, &cc, &row->kind, &c->opts, NULL, &d)) {
        fprintf(stderr, "bench_codec: %s %s\n", d.detail, d.n ? d.errors[0].pointer : "");
        exit(1);
    }
    size_t es = gs_dtype_size(r.def.dtype);
    c->n_params = gs_net_param_count(r.net) * es;
    c->n_inputs = r.batch.rows * r.def.inputs * es;
    free(c->params);
    free(c->inputs);
    c->params = malloc(c->n_params);
    c->inputs = malloc(c->n_inputs);
    if (!c->params || !c->inputs) die("out of memory");
    memcpy(c->params, gs_net_params(r.net), c->n_params);
    memcpy(c->inputs, r.inputs, c->n_inputs);
    request_free(&r);
    json_decref(root);
    codec_close(&cc);
}

/* ---- small: one tiny request's stages 4 to 7 ------------------------------ */

typedef struct {
    const char *body;
    size_t len;
    compute_env env;
    int status;
} small_ctx;

#define SMALL_BATCH 1000

static void small_batch(void *p)
{
    small_ctx *c = p;
    const route_def *row = route_find("/gradients", NULL);
    for (int i = 0; i < SMALL_BATCH; i++) {
        compute_result res;
        compute_run(row, c->body, c->len, &c->env, &res);
        c->status = res.status;
        srv_free(res.body);
    }
}

/* The allocations of one request: the server's, jansson's and the core's. */
static long count_allocations(small_ctx *c)
{
    srv_alloc_fail_at(LONG_MAX, 0);
    compute_result res;
    compute_run(route_find("/gradients", NULL), c->body, c->len, &c->env, &res);
    long n = srv_alloc_count();
    srv_alloc_fail_at(0, 0);
    srv_free(res.body);
    return n;
}

/* This thread's CPU time per request, the least of the batches run in
 * budget seconds: the figure that other work on a shared machine disturbs
 * least. */
static double small_cpu(small_ctx *c, double budget)
{
    double t = 1e9, start = now_s();
    small_batch(c); /* warm-up */
    do {
        double c0 = thread_cpu_s();
        small_batch(c);
        double s = thread_cpu_s() - c0;
        if (s < t) t = s;
    } while (now_s() - start < budget);
    return t / SMALL_BATCH;
}

/* ---- write ----------------------------------------------------------------- */

typedef struct {
    const float *v;
    size_t n;
    json_t *arr;
    size_t flags;
    size_t out_len;
    char *out; /* the writer's last output */
} write_ctx;

static void write_jw(void *p)
{
    write_ctx *c = p;
    jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < c->n; i++) jw_float(&w, c->v[i]);
    jw_end(&w);
    srv_free(c->out);
    c->out = jw_take(&w, &c->out_len);
    if (!c->out) die("out of memory");
}

static void write_jansson(void *p)
{
    write_ctx *c = p;
    char *s = json_dumps(c->arr, c->flags);
    if (!s) die("json_dumps failed");
    c->out_len = strlen(s);
    srv_free(s); /* jansson allocates through the hook once it is installed */
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t next_u64(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

int main(int argc, char **argv)
{
    const char *body_path = NULL, *small_path = NULL;
    size_t n_floats = 1000000;
    double budget = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--body")) body_path = argv[i + 1];
        else if (!strcmp(argv[i], "--small")) small_path = argv[i + 1];
        else if (!strcmp(argv[i], "--floats")) n_floats = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--budget")) budget = atof(argv[i + 1]);
        else die("usage: bench_codec --body FILE [--small FILE] [--floats N] [--budget SECONDS]");
    }
    if (!body_path) die("usage: bench_codec --body FILE [--floats N] [--budget SECONDS]");
    json_object_seed(0);

    /* decode */
    decode_ctx slow = {0}, fast = {0};
    char *prog = "bench_codec";
    if (options_parse(&slow.opts, 1, &prog, stdout, stderr) != 0) die("options");
    slow.body = fast.body = read_file(body_path, &slow.len);
    fast.len = slow.len;
    fast.opts = slow.opts;
    fast.fast = 1;
    fast.text_numbers =
        estimate_request(route_find("/gradients", NULL), fast.body, fast.len, fast.len, NULL, 0)
            .text_numbers;
    double t_slow = timeit(decode_once, &slow, budget);
    double t_fast = timeit(decode_once, &fast, budget);
    size_t numbers = (slow.n_params + slow.n_inputs) / 4;
    printf("codec\tdecode\tjansson\t%.6f\t%zu\t%.0f\n", t_slow, numbers, (double)numbers / t_slow);
    printf("codec\tdecode\tgradserve\t%.6f\t%zu\t%.0f\n", t_fast, numbers, (double)numbers / t_fast);
    int same = slow.n_params == fast.n_params && slow.n_inputs == fast.n_inputs &&
               !memcmp(slow.params, fast.params, slow.n_params) &&
               !memcmp(slow.inputs, fast.inputs, slow.n_inputs);
    printf("codec\tcheck\tdecode_identical\t%d\n", same);
    printf("codec\tcheck\tbody_bytes\t%zu\n", slow.len);

    if (small_path) {
        atomic_int no_abort = 0;
        small_ctx sc = {.env = {.opts = &slow.opts, .abort = &no_abort}};
        srv_alloc_install(); /* jansson allocates through the hook, as in the server */
        sc.body = read_file(small_path, &sc.len);
        sc.env.text_numbers = estimate_request(route_find("/gradients", NULL), sc.body, sc.len,
                                               sc.len, NULL, 0)
                                  .text_numbers; /* as the queue hands it to the worker */
        double t = small_cpu(&sc, budget);
        sc.env.skeletons = json_cache_create(64, 4096); /* as the server runs it */
        sc.env.nets = net_cache_create(64);
        if (!sc.env.skeletons || !sc.env.nets) die("out of memory");
        double t_cached = small_cpu(&sc, budget);
        long allocations_cached = count_allocations(&sc);
        json_cache_free(sc.env.skeletons);
        net_cache_free(sc.env.nets);
        sc.env.skeletons = NULL;
        sc.env.nets = NULL;
        long allocations = count_allocations(&sc);
        if (sc.status != 200) die("the small request did not answer 200");
        printf("codec\tsmall\tcompute_run\t%.9f\t1\t%.0f\n", t, 1 / t);
        printf("codec\tsmall\tcompute_run_cached\t%.9f\t1\t%.0f\n", t_cached, 1 / t_cached);
        printf("codec\tcheck\tsmall_allocations\t%ld\n", allocations);
        printf("codec\tcheck\tsmall_allocations_cached\t%ld\n", allocations_cached);
        free((char *)sc.body);
    }

    /* write: float32 over many magnitudes, as gradients are, plus the edges */
    float *v = malloc(n_floats * sizeof *v);
    if (!v) die("out of memory");
    for (size_t i = 0; i < n_floats; i++) {
        uint64_t r = next_u64();
        float f;
        if (i % 64 == 0) { /* any bit pattern: subnormals, extremes */
            uint32_t u = (uint32_t)r;
            memcpy(&f, &u, 4);
            if (!isfinite(f)) f = FLT_MAX;
        } else {
            double m = (double)(r >> 11) / 9007199254740992.0 * 2 - 1;
            f = (float)(m * pow(10, (double)((int)(r % 9) - 6)));
        }
        v[i] = f;
    }
    write_ctx w = {.v = v, .n = n_floats};
    w.arr = json_array();
    for (size_t i = 0; i < n_floats; i++) json_array_append_new(w.arr, json_real(v[i]));
    double t_jw = timeit(write_jw, &w, budget);
    size_t written = w.out_len;
    w.flags = JSON_COMPACT;
    double t_j17 = timeit(write_jansson, &w, budget);
    w.flags = JSON_COMPACT | JSON_REAL_PRECISION(9);
    double t_j9 = timeit(write_jansson, &w, budget);
    printf("codec\twrite\tgradserve\t%.6f\t%zu\t%.0f\n", t_jw, n_floats, (double)n_floats / t_jw);
    printf("codec\twrite\tjson_dumps\t%.6f\t%zu\t%.0f\n", t_j17, n_floats, (double)n_floats / t_j17);
    printf("codec\twrite\tjson_dumps_p9\t%.6f\t%zu\t%.0f\n", t_j9, n_floats, (double)n_floats / t_j9);
    /* every float back, bit for bit */
    size_t bad = 0, i = 0;
    for (char *p = w.out + 1; i < n_floats && *p; i++) {
        char *end;
        float back = strtof(p, &end);
        if (memcmp(&back, &v[i], 4) != 0) bad++;
        p = end + 1;
    }
    printf("codec\tcheck\twrite_roundtrip_mismatches\t%zu\n", bad + (n_floats - i));
    printf("codec\tcheck\twrite_bytes_per_float\t%.2f\n", (double)written / (double)n_floats);
    json_decref(w.arr);
    srv_free(w.out);
    free(v);
    free(slow.params);
    free(slow.inputs);
    free(fast.params);
    free(fast.inputs);
    free((char *)slow.body);
    options_free(&slow.opts);
    return 0;
}
