/* `make soak`: a bounded load and soak test on loopback. Starts the server
 * (the build's, as the API tests do), then 64 connections (SOAK_CONNECTIONS)
 * each send requests back to back for SOAK_SECONDS (default 60): a mix of
 * valid /forward, /gradients, /train, health and metrics requests and invalid
 * ones (malformed JSON, unknown keys, a limit crossed, an unknown path, a
 * wrong method, a wrong content type). Reports requests/s, latency
 * percentiles, the count of each status, and the server's VmRSS after the
 * warm-up (the first tenth) and at the end. Fails on any 5xx, any request
 * without an answer or with an unexpected status, the server dying or not
 * exiting 0, or RSS growth over SOAK_RSS_GROWTH_KB (default 32768). */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lib/clock.h"
#include "lib/http.h"
#include "lib/server.h"

typedef struct {
    const char *method, *path, *ctype, *body;
    long want;
} soak_req;

#define NET2 "{\"inputs\":2,\"layers\":[{\"units\":8,\"activation\":\"tanh\"},{\"units\":1,\"activation\":\"sigmoid\"}],\"loss\":\"binary_cross_entropy\"}"
#define XOR "\"inputs\":[[0,0],[0,1],[1,0],[1,1]],\"targets\":[[0],[1],[1],[0]]"

static const soak_req MIX[] = {
    {"POST", "/forward", NULL, "{\"network\":" NET2 ",\"init\":{\"seed\":1}," XOR "}", 200},
    {"POST", "/gradients", NULL, "{\"network\":" NET2 ",\"init\":{\"seed\":2}," XOR ",\"return\":{\"outputs\":true}}", 200},
    {"POST", "/train", NULL, "{\"network\":" NET2 "," XOR ",\"optimizer\":{\"name\":\"adam\",\"lr\":0.1},\"epochs\":20}", 200},
    {"POST", "/gradients", NULL, "{\"network\":" NET2 ",\"dtype\":\"float64\"," XOR ",\"encoding\":\"b64\"}", 200},
    {"GET", "/health/ready", NULL, NULL, 200},
    {"POST", "/forward", NULL, "{\"network\":" NET2 "," XOR "}", 200},
    {"POST", "/gradients", NULL, "{\"network\": [1, 2", 400},
    {"POST", "/gradients", NULL, "{\"network\":" NET2 "," XOR ",\"bogus\":1}", 400},
    {"POST", "/forward", NULL, "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":100000,\"activation\":\"relu\"}]},\"inputs\":[[1,2]]}", 422},
    {"GET", "/no/such/route", NULL, NULL, 404},
    {"PUT", "/train", NULL, "{}", 405},
    {"POST", "/forward", "Content-Type: application/xml", "<a/>", 415},
    {"GET", "/metrics", NULL, NULL, 200},
    {"POST", "/train", NULL, "{\"network\":" NET2 "," XOR ",\"optimizer\":{\"name\":\"sgd\"},\"epochs\":1000000}", 422},
};
#define N_MIX (sizeof MIX / sizeof MIX[0])

static int port;
static double deadline;
static atomic_long status_count[600], transport_errors, unexpected;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char first_unexpected[512];

typedef struct {
    int id;
    double *lat;
    size_t n, cap;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    http_client *c = http_client_new(port, NULL);
    http_client_set_timeout(c, 30);
    for (size_t k = (size_t)w->id; api_now() < deadline; k++) {
        const soak_req *q = &MIX[k % N_MIX];
        const char *headers[2] = {q->ctype, NULL};
        http_response r;
        double t0 = api_now();
        int rc = http_request(c, q->method, q->path, headers, q->body, q->body ? strlen(q->body) : 0,
                              &r);
        double dt = api_now() - t0;
        if (rc != 0) {
            atomic_fetch_add(&transport_errors, 1);
        } else {
            atomic_fetch_add(&status_count[r.status >= 0 && r.status < 600 ? r.status : 0], 1);
            if (r.status != q->want) {
                atomic_fetch_add(&unexpected, 1);
                pthread_mutex_lock(&lock);
                if (!first_unexpected[0])
                    snprintf(first_unexpected, sizeof first_unexpected, "%s %s: %ld, want %ld: %.300s",
                             q->method, q->path, r.status, q->want, r.body ? r.body : "");
                pthread_mutex_unlock(&lock);
            }
        }
        http_response_free(&r);
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 4096;
            w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
        }
        w->lat[w->n++] = dt;
    }
    http_client_free(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double env_num(const char *name, double def)
{
    const char *v = getenv(name);
    return v && *v ? atof(v) : def;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    double seconds = env_num("SOAK_SECONDS", 60);
    int conns = (int)env_num("SOAK_CONNECTIONS", 64);
    long rss_bound = (long)env_num("SOAK_RSS_GROWTH_KB", 32768);
    if (seconds <= 0 || seconds > 3600 || conns < 1 || conns > 256) {
        printf("SOAK_SECONDS must be in (0, 3600], SOAK_CONNECTIONS in [1, 256]\n");
        return 2;
    }
    static const char *const args[] = {"--max-concurrent", "64", "--max-connections", "256",
                                       "--idle-timeout", "30", "--max-body-bytes", "1m",
                                       "--max-units", "65536", NULL};
    test_server s;
    check_begin("soak_server_starts");
    int up = server_start(&s, args, NULL) == 0;
    CHECK(up, "server did not start");
    check_end();
    if (!up) return CHECK_DONE();
    port = s.port;

    long rss_start = server_proc_status(s.pid, "VmRSS");
    double t0 = api_now();
    deadline = t0 + seconds;
    worker *w = calloc((size_t)conns, sizeof *w);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    for (int i = 0; i < conns; i++) {
        w[i].id = i;
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    /* RSS after the warm-up (every thread's arenas and connections exist),
     * its peak, and at the end */
    double warm = t0 + seconds / 10;
    while (api_now() < warm) {
        api_sleep(0.05);
    }
    long rss_warm = server_proc_status(s.pid, "VmRSS"), rss_peak = rss_warm;
    while (api_now() < deadline) {
        api_sleep(0.2);
        long v = server_proc_status(s.pid, "VmRSS");
        if (v > rss_peak) rss_peak = v;
    }
    for (int i = 0; i < conns; i++) pthread_join(th[i], NULL);
    double elapsed = api_now() - t0;
    long rss_end = server_proc_status(s.pid, "VmRSS");

    size_t total = 0;
    for (int i = 0; i < conns; i++) total += w[i].n;
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, w[i].lat, w[i].n * sizeof *all);
        k += w[i].n;
        free(w[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_double);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] * 1e3 : 0)
    long n5xx = 0, n2xx = 0;
    printf("soak: %d connections, %.1f s, %zu requests, %.0f requests/s\n", conns, elapsed, total,
           (double)total / elapsed);
    printf("soak: latency ms p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", PCT(0.5), PCT(0.9),
           PCT(0.99), total ? all[total - 1] * 1e3 : 0);
    printf("soak: status counts:");
    for (int st = 0; st < 600; st++) {
        long n = atomic_load(&status_count[st]);
        if (!n) continue;
        printf(" %d=%ld", st, n);
        if (st >= 500) n5xx += n;
        if (st >= 200 && st < 300) n2xx += n;
    }
    printf("  (2xx %ld, non-2xx %ld, 5xx %ld, no answer %ld)\n", n2xx, (long)total - n2xx, n5xx,
           atomic_load(&transport_errors));
    printf("soak: server VmRSS kB: start %ld, after warm-up %ld, peak %ld, end %ld "
           "(growth after warm-up %+ld, bound %ld)\n",
           rss_start, rss_warm, rss_peak, rss_end, rss_end - rss_warm, rss_bound);
    free(all);
    free(w);
    free(th);

    check_begin("soak_no_5xx");
    CHECK(n5xx == 0, "%ld responses were 5xx", n5xx);
    check_end();
    check_begin("soak_every_request_answered_as_expected");
    CHECK(atomic_load(&transport_errors) == 0, "%ld requests got no answer",
          atomic_load(&transport_errors));
    CHECK(atomic_load(&unexpected) == 0, "%ld unexpected statuses; first: %s",
          atomic_load(&unexpected), first_unexpected);
    CHECK(total > 0, "no request completed");
    check_end();
    check_begin("soak_rss_bounded");
    CHECK(rss_end > 0 && rss_end - rss_warm <= rss_bound, "RSS grew by %ld kB (bound %ld)",
          rss_end - rss_warm, rss_bound);
    check_end();
    check_begin("soak_server_exits_0");
    CHECK(server_alive(&s), "the server died during the soak");
    int code = server_stop(&s);
    CHECK(code == 0, "exit code %d", code);
    check_end();
    return CHECK_DONE();
}
