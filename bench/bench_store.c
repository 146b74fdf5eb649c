/* bench_store: the tensor store's costs (docs/tensor-store.md), for
 * bench/store.sh against a running server.
 *
 *   hash   sha256 (OpenSSL EVP, as the server hashes) and memcpy of one
 *          31.4 MB tensor (10,000 Fashion-MNIST images as float32), in this
 *          process: MB/s each and their ratio
 *   put    PUT of that tensor over loopback, each time new bytes (201): MB/s
 *          end to end, and the share of it that hashing alone would take
 *   loop   GET /health/live latency on its own connection, idle and while
 *          31.4 MB PUTs arrive back to back on another: p50 and max, so that
 *          a hash made in one go on the event loop would show as a stall
 *   wire   a /train of the 784-256-128-10 network with Adam whose
 *          tensors (10,000 rows, params, optimizer state) are all refs, with
 *          "encoding": "ref": bytes of the request and of the answer
 *
 * usage: bench_store --port P [--rounds N]
 * Prints tab-separated lines: "<what> <name> <value>" on stdout. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

#define IMAGES_BYTES ((size_t)10000 * 784 * 4)

static int port;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float f[2] = {(float)(x & 0xffff) / 65536.0f, (float)(x >> 48) / 65536.0f};
        memcpy(p + i, f, 8);
    }
}

/* "sha256:<hex>" of n bytes, as the server computes a ref (store.h). */
static void ref_of(const void *data, size_t n, char out[REF_TEXT_LEN + 1])
{
    unsigned char d[DIGEST_BYTES];
    sha256_of(data, n, d);
    ref_text(out, d);
}
typedef struct {
    char *buf;
    size_t len;
} sink;

static size_t on_write(char *p, size_t s, size_t n, void *ud)
{
    sink *k = ud;
    if (!k) return s * n;
    k->buf = realloc(k->buf, k->len + s * n + 1);
    memcpy(k->buf + k->len, p, s * n);
    k->len += s * n;
    k->buf[k->len] = 0;
    return s * n;
}

/* One request; the status, the answer in *out when given. */
static long request(CURL *h, const char *method, const char *path, const char *type,
                    const void *body, size_t len, sink *out)
{
    char url[200], ct[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    snprintf(ct, sizeof ct, "Content-Type: %s", type ? type : "application/json");
    struct curl_slist *sl = curl_slist_append(NULL, ct);
    sl = curl_slist_append(sl, "Expect:");
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(sl);
    return status;
}

static long put(CURL *h, const void *data, size_t n, char ref[72])
{
    char path[100];
    ref_of(data, n, ref);
    snprintf(path, sizeof path, "/tensors/%s", ref);
    return request(h, "PUT", path, "application/octet-stream", data, n, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- hash and put --------------------------------------------------------------- */

static void bench_hash_and_put(int rounds)
{
    unsigned char *a = malloc(IMAGES_BYTES), *b = malloc(IMAGES_BYTES);
    fill(a, IMAGES_BYTES, 1);
    double best_hash = 1e9, best_copy = 1e9;
    for (int r = 0; r < 3 * rounds; r++) {
        char ref[72];
        double t0 = now();
        ref_of(a, IMAGES_BYTES, ref);
        double t1 = now();
        memcpy(b, a, IMAGES_BYTES);
        double t2 = now();
        if (t1 - t0 < best_hash) best_hash = t1 - t0;
        if (t2 - t1 < best_copy) best_copy = t2 - t1;
    }
    double mb = IMAGES_BYTES / 1e6;
    printf("hash\tsha256_MBps\t%.0f\n", mb / best_hash);
    printf("hash\tmemcpy_MBps\t%.0f\n", mb / best_copy);
    printf("hash\tsha256_over_memcpy\t%.1f\n", best_hash / best_copy);

    CURL *h = curl_easy_init();
    double best_put = 1e9;
    for (int r = 0; r < 2 * rounds; r++) {
        fill(a, IMAGES_BYTES, 100 + r + (uint64_t)time(NULL)); /* new bytes: 201 */
        char ref[72];
        double t0 = now();
        long st = put(h, a, IMAGES_BYTES, ref);
        double t = now() - t0;
        if (st != 201) fprintf(stderr, "bench_store: PUT answered %ld\n", st);
        if (t < best_put) best_put = t;
        char path[100];
        snprintf(path, sizeof path, "/tensors/%s", ref);
        request(h, "DELETE", path, NULL, NULL, 0, NULL);
    }
    printf("put\tput_31MB_MBps\t%.0f\n", mb / best_put);
    printf("put\thash_share_of_put\t%.2f\n", best_hash / best_put);
    curl_easy_cleanup(h);
    free(a);
    free(b);
}

/* ---- the event loop during PUTs ------------------------------------------------------- */

static atomic_int putting;

static void *put_loop(void *arg)
{
    (void)arg;
    unsigned char *a = malloc(IMAGES_BYTES);
    CURL *h = curl_easy_init();
    for (int r = 0; atomic_load(&putting); r++) {
        fill(a, IMAGES_BYTES, 1000 + r);
        char ref[72], path[100];
        put(h, a, IMAGES_BYTES, ref);
        snprintf(path, sizeof path, "/tensors/%s", ref);
        request(h, "DELETE", path, NULL, NULL, 0, NULL);
    }
    curl_easy_cleanup(h);
    free(a);
    return NULL;
}

/* GET /health/live n times on one keep-alive connection: latencies sorted. */
static void live_latencies(CURL *h, double *lat, int n)
{
    for (int i = 0; i < n; i++) {
        double t0 = now();
        request(h, "GET", "/health/live", NULL, NULL, 0, NULL);
        lat[i] = now() - t0;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
}

static void bench_loop(void)
{
    enum { N = 300 };
    double idle[N], busy[N];
    CURL *h = curl_easy_init();
    live_latencies(h, idle, N);
    atomic_store(&putting, 1);
    pthread_t th;
    pthread_create(&th, NULL, put_loop, NULL);
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    live_latencies(h, busy, N);
    atomic_store(&putting, 0);
    pthread_join(th, NULL);
    curl_easy_cleanup(h);
    printf("loop\tidle_p50_us\t%.0f\n", idle[N / 2] * 1e6);
    printf("loop\tidle_max_us\t%.0f\n", idle[N - 1] * 1e6);
    printf("loop\tputs_p50_us\t%.0f\n", busy[N / 2] * 1e6);
    printf("loop\tputs_max_us\t%.0f\n", busy[N - 1] * 1e6);
}

/* ---- the wire of an all-refs /train ----------------------------------------------------- */

static void bench_wire(void)
{
    static const size_t SIZES[6] = {256 * 784, 256, 128 * 256, 128, 10 * 128, 10};
    static const char *const SHAPES[6] = {"[256,784]", "[256]", "[128,256]", "[128]", "[10,128]", "[10]"};
    size_t rows = 10000;
    CURL *h = curl_easy_init();
    char *body = malloc(16384), *p = body, ref[72];
    unsigned char *x = malloc(rows * 784 * 4);
    fill(x, rows * 784 * 4, 7);
    put(h, x, rows * 784 * 4, ref);
    free(x);
    p += sprintf(p, "{\"network\":{\"inputs\":784,\"layers\":[{\"units\":256,\"activation\":\"relu\"},"
                    "{\"units\":128,\"activation\":\"relu\"},{\"units\":10,\"activation\":\"linear\"}],"
                    "\"loss\":\"cross_entropy\"},\"optimizer\":{\"name\":\"adam\",\"lr\":0.001},"
                    "\"batch_size\":128,\"epochs\":1,\"encoding\":\"ref\","
                    "\"inputs\":{\"ref\":\"%s\",\"shape\":[%zu,784],\"dtype\":\"float32\"},",
                 ref, rows);
    int64_t *labels = malloc(rows * 8);
    for (size_t i = 0; i < rows; i++) labels[i] = (int64_t)(i % 10);
    put(h, labels, rows * 8, ref);
    free(labels);
    p += sprintf(p, "\"targets\":{\"ref\":\"%s\",\"shape\":[%zu],\"dtype\":\"int64\"},", ref, rows);
    static const char *const SLABS[3] = {"params", "exp_avg", "exp_avg_sq"};
    for (int s = 0; s < 3; s++) {
        if (s == 1) p += sprintf(p, "\"optimizer_state\":{\"step\":1,\"buffers\":{");
        p += sprintf(p, "%s\"%s\":[", s == 2 ? "," : "", SLABS[s]);
        for (int t = 0; t < 6; t++) {
            float *v = malloc(SIZES[t] * 4);
            fill((unsigned char *)v, SIZES[t] * 4 - SIZES[t] * 4 % 8, 40 + 6 * s + t);
            for (size_t k = 0; k < SIZES[t]; k++) v[k] = s == 2 ? v[k] * v[k] * 1e-4f : (v[k] - 0.5f) * 0.1f;
            put(h, v, SIZES[t] * 4, ref);
            free(v);
            p += sprintf(p, "%s\"%s\":{\"ref\":\"%s\",\"shape\":%s,\"dtype\":\"float32\"}%s",
                         t % 2 ? "" : "{", t % 2 ? "bias" : "weight", ref, SHAPES[t],
                         t % 2 ? (t == 5 ? "}" : "},") : ",");
        }
        p += sprintf(p, "]%s", s == 0 ? "," : "");
    }
    p += sprintf(p, "}}}");
    sink answer = {0};
    double t0 = now();
    long st = request(h, "POST", "/train", NULL, body, (size_t)(p - body), &answer);
    double t = now() - t0;
    printf("wire\ttrain_status\t%ld\n", st);
    printf("wire\trequest_bytes\t%zu\n", (size_t)(p - body));
    printf("wire\tanswer_bytes\t%zu\n", answer.len);
    printf("wire\ttrain_seconds\t%.3f\n", t);
    free(answer.buf);
    free(body);
    curl_easy_cleanup(h);
}

int main(int argc, char **argv)
{
    int rounds = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
    }
    if (!port) {
        fprintf(stderr, "usage: bench_store --port P [--rounds N]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bench_hash_and_put(rounds);
    bench_loop();
    bench_wire();
    curl_global_cleanup();
    return 0;
}
