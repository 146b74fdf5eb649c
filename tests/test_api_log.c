/* The access log: one line per request, gathered by each event loop and
 * written in one write(2) per turn of the loop (server/log.c, log_batch_*).
 *
 * In-process: a batching thread writes nothing until its buffer would
 * overflow or it flushes, and then only whole lines, in order; a thread that
 * does not batch writes each line at once; no write is longer than
 * PIPE_BUF, the most a pipe writes atomically.
 * Against the real binary: 16 keep-alive connections x 150 requests (three
 * routes, long request ids): every request's line present once, whole,
 * with the status the client got, in order per connection, written within a
 * second of the last answer without any shutdown; the same as JSON lines;
 * and under load at SIGTERM every answered request's line is in the log
 * when the process has exited. */
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lib/apitest.h"
#include "log.h"

static const char XOR[] =
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":4,\"activation\":\"tanh\"},"
    "{\"units\":1,\"activation\":\"sigmoid\"}],\"loss\":\"binary_cross_entropy\"},"
    "\"params\":[{\"weight\":[[0.1,-0.2],[0.3,0.4],[-0.5,0.6],[0.7,-0.8]],\"bias\":[0,0,0,0]},"
    "{\"weight\":[[0.5,-0.5,0.25,-0.25]],\"bias\":[0]}],"
    "\"inputs\":[[0,0],[0,1],[1,0],[1,1]],\"targets\":[[0],[1],[1],[0]]}";

/* A whole file, NUL-terminated (NULL when it cannot be read). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    if (b) b[n] = 0;
    if (len) *len = n;
    return b;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; (p = strchr(p, '\n')); p++) n++;
    return n;
}

/* ---- in-process: the batch ------------------------------------------------------- */

/* A request id of 120 characters ending in the line's number. */
static void long_id(char out[130], const char *prefix, int i)
{
    int n = snprintf(out, 130, "%s-%05d-", prefix, i);
    memset(out + n, 'x', 120 - (size_t)n);
    out[120] = 0;
}

static void *log_unbatched(void *arg)
{
    (void)arg;
    log_request("other-thread", "GET", "/health/live", 200, 2, 0.001);
    return NULL;
}

static void test_batch_writes_whole_lines(void)
{
    char path[] = "/tmp/gradserve-logtest-XXXXXX";
    int fd = mkstemp(path);
    fflush(stderr);
    int saved = dup(2);
    if (fd < 0 || saved < 0 || dup2(fd, 2) < 0) {
        CHECK(0, "cannot redirect stderr");
        return;
    }
    struct stat st;
    log_batch_begin();
    log_request("first", "POST", "/gradients", 200, 10, 0.002);
    fstat(fd, &st);
    off_t after_one = st.st_size;
    /* 200 lines of about 200 bytes: 40 KB, past the 4 KiB buffer many times */
    char id[130];
    off_t size = 0, longest = 0; /* the longest write: a call writes once at most */
    for (int i = 0; i < 200; i++) {
        long_id(id, "batch", i);
        log_request(id, "POST", "/gradients", 200, 123, 0.0015);
        fstat(fd, &st);
        if (st.st_size - size > longest) longest = st.st_size - size;
        size = st.st_size;
    }
    off_t before_flush = size;
    size_t len;
    char *mid = slurp(path, &len);
    /* another thread, not batching, writes its line at once */
    pthread_t t;
    pthread_create(&t, NULL, log_unbatched, NULL);
    pthread_join(t, NULL);
    fstat(fd, &st);
    off_t after_other = st.st_size;
    log_batch_flush();
    log_request("last", "GET", "/metrics", 200, 5, 0.0001);
    log_batch_end(); /* writes "last" */
    log_request("unbatched", "GET", "/", 200, 5, 0.0001);
    fstat(fd, &st);
    dup2(saved, 2);
    close(saved);

    CHECK(after_one == 0, "a batching thread wrote a line at once (%lld bytes)",
          (long long)after_one);
    CHECK(before_flush > 0, "an overflowing buffer was not written");
    CHECK(longest <= PIPE_BUF, "a write of %lld bytes, more than PIPE_BUF (%d): not atomic on a pipe",
          (long long)longest, PIPE_BUF);
    CHECK(mid && len == (size_t)before_flush && len && mid[len - 1] == '\n',
          "the overflow wrote a part of a line (%zu bytes)", len);
    CHECK(mid && count_lines(mid) < 201, "the overflow wrote every line (%zu)",
          mid ? count_lines(mid) : 0);
    CHECK(after_other > before_flush, "a thread that does not batch did not write at once");
    free(mid);
    char *all = slurp(path, &len);
    CHECK(all && count_lines(all) == 204, "%zu lines, want 204", all ? count_lines(all) : 0);
    CHECK(all && strstr(all, "request_id=last") && strstr(all, "request_id=unbatched") &&
              strstr(all, "request_id=last") < strstr(all, "request_id=unbatched"),
          "log_batch_end did not write the rest, or an unbatched line came first");
    /* the batch's lines in order, each whole, "other-thread" between two of them */
    int next = -1, other = 0, bad = 0;
    for (char *line = all; all && *line;) {
        char *end = strchr(line, '\n');
        if (!end) {
            bad++;
            break;
        }
        *end = 0;
        const char *b = strstr(line, "request_id=batch-");
        if (strstr(line, "request_id=other-thread")) other++;
        else if (strstr(line, "request_id=first")) bad += next != -1;
        else if (b) {
            int k = atoi(b + strlen("request_id=batch-"));
            bad += k != next + 1 || !strstr(line, " duration_ms=1.500") ||
                   strstr(b + 1, " request_id=") || strstr(b, "\n");
            next = k;
        }
        line = end + 1;
    }
    CHECK(!bad && next == 199 && other == 1, "lines out of order or broken (%d bad, last %d)",
          bad, next);
    free(all);
    unlink(path);
}

/* ---- against the server ------------------------------------------------------------ */

#define N_CONN 16
#define N_EACH 150

typedef struct {
    int port;
    int k;           /* the connection's number, in its request ids */
    int until_error; /* send until a request is not answered 200 (shutdown) */
    int sent;
    int status[N_EACH]; /* per request; 0: no answer */
} conn_job;

static const char *path_of(int i) { return i % 3 == 0 ? "/gradients" : i % 3 == 1 ? "/health/live" : "/no/such/route"; }
static int status_of(int i) { return i % 3 == 0 ? 200 : i % 3 == 1 ? 200 : 404; }

static void *run_conn(void *arg)
{
    conn_job *j = arg;
    http_client *c = http_client_new(j->port, NULL);
    for (int i = 0; i < N_EACH; i++) {
        char prefix[8], id[130], hdr[160];
        snprintf(prefix, sizeof prefix, "c%02d", j->k);
        long_id(id, prefix, i);
        snprintf(hdr, sizeof hdr, "X-Request-Id: %s", id);
        const char *h[] = {hdr, NULL};
        http_response r;
        const char *path = j->until_error ? "/gradients" : path_of(i);
        int post = !strcmp(path, "/gradients");
        int rc = http_request(c, post ? "POST" : "GET", path, h, post ? XOR : NULL,
                              post ? strlen(XOR) : 0, &r);
        j->status[i] = rc == 0 ? (int)r.status : 0;
        j->sent = i + 1;
        http_response_free(&r);
        if (j->until_error && j->status[i] != 200) break;
    }
    http_client_free(c);
    return NULL;
}

/* One parsed line: its connection and request number (-1 when the line is
 * not one of ours) and status; 0 when the line is not whole. */
typedef struct {
    int k, i, status;
} seen;

static int parse_line(const char *line, int json, seen *out)
{
    out->k = out->i = -1;
    out->status = -1;
    if (json) {
        json_t *o = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "request_id"));
        int ok = o && id && json_string_value(json_object_get(o, "time")) &&
                 json_is_integer(json_object_get(o, "status")) &&
                 json_is_integer(json_object_get(o, "bytes")) &&
                 json_is_number(json_object_get(o, "duration_ms")) &&
                 json_string_value(json_object_get(o, "path"));
        if (ok) {
            out->status = (int)json_integer_value(json_object_get(o, "status"));
            if (sscanf(id, "c%2d-%5d-", &out->k, &out->i) != 2) out->k = out->i = -1;
        }
        if (!ok && o && json_object_get(o, "level")) ok = 1; /* an event's line */
        json_decref(o);
        return ok;
    }
    /* 2026-01-01T00:00:00.000Z request_id=... method=... path=... status=N bytes=N duration_ms=N */
    if (strlen(line) < 25 || line[10] != 'T' || line[23] != 'Z') return 0;
    if (strstr(line, " level=")) return 1; /* an event's line */
    const char *id = strstr(line, " request_id="), *st = strstr(line, " status="),
               *by = strstr(line, " bytes="), *du = strstr(line, " duration_ms=");
    if (!id || !strstr(line, " method=") || !strstr(line, " path=") || !st || !by || !du ||
        !(id < st && st < by && by < du) || strstr(du + 1, " duration_ms="))
        return 0;
    out->status = atoi(st + 8);
    if (sscanf(id + 12, "c%2d-%5d-", &out->k, &out->i) != 2) out->k = out->i = -1;
    return 1;
}

/* Checks the log against what the connections were answered: each answered
 * request's line once, whole, with its status, in order per connection.
 * Returns the number of our lines found. */
static int check_log(const char *text, int json, conn_job *jobs, int n_jobs)
{
    int next[N_CONN], broken = 0, dup_or_order = 0, wrong_status = 0, ours = 0;
    for (int k = 0; k < N_CONN; k++) next[k] = 0;
    const char *line = text;
    char buf[4096];
    while (line && *line) {
        const char *end = strchr(line, '\n');
        if (!end) {
            broken++; /* the file ends inside a line */
            break;
        }
        size_t n = (size_t)(end - line);
        if (n >= sizeof buf) n = sizeof buf - 1;
        memcpy(buf, line, n);
        buf[n] = 0;
        seen s;
        if (!parse_line(buf, json, &s)) {
            if (broken++ < 3) printf("  broken line: %.200s\n", buf);
        } else if (s.k >= 0 && s.k < n_jobs) {
            ours++;
            /* requests that got no answer (shutdown) may be logged with status 0 */
            while (next[s.k] < s.i && !jobs[s.k].status[next[s.k]]) next[s.k]++;
            if (s.i != next[s.k]) dup_or_order++;
            else if (jobs[s.k].status[s.i] && s.status != jobs[s.k].status[s.i]) wrong_status++;
            next[s.k] = s.i + 1;
        }
        line = end + 1;
    }
    int missing = 0;
    for (int k = 0; k < n_jobs; k++)
        for (int i = next[k]; i < jobs[k].sent; i++) missing += jobs[k].status[i] != 0;
    CHECK(!broken, "%d broken lines", broken);
    CHECK(!dup_or_order, "%d lines repeated or out of order", dup_or_order);
    CHECK(!wrong_status, "%d lines with another status than the client got", wrong_status);
    CHECK(!missing, "%d answered requests without a line", missing);
    return missing ? -missing : ours;
}

/* Waits up to 1 s for every line, then checks them. */
static void check_lines_arrive(test_server *s, int json, conn_job *jobs)
{
    double t0 = api_now();
    char *text = NULL;
    int found = 0;
    do {
        free(text);
        text = slurp(s->log, NULL);
        found = 0;
        for (const char *p = text; p && (p = strstr(p, json ? "\"request_id\":\"c" : " request_id=c")); p++)
            found++;
        if (found >= N_CONN * N_EACH) break;
        usleep(10000);
    } while (api_now() - t0 < 1.0);
    printf("  %d of %d lines in the log %.0f ms after the last answer\n", found,
           N_CONN * N_EACH, (api_now() - t0) * 1e3);
    CHECK(check_log(text, json, jobs, N_CONN) == N_CONN * N_EACH, "lines missing or extra");
    free(text);
}

static void run_all(int port, conn_job *jobs, int until_error)
{
    pthread_t th[N_CONN];
    for (int k = 0; k < N_CONN; k++) {
        jobs[k] = (conn_job){.port = port, .k = k, .until_error = until_error};
        pthread_create(&th[k], NULL, run_conn, &jobs[k]);
    }
    if (until_error) return;
    for (int k = 0; k < N_CONN; k++) pthread_join(th[k], NULL);
    int wrong = 0;
    for (int k = 0; k < N_CONN; k++)
        for (int i = 0; i < N_EACH; i++) wrong += jobs[k].status[i] != status_of(i);
    CHECK(!wrong, "%d requests answered with an unexpected status", wrong);
}

static conn_job jobs[N_CONN];

/* The load of run_all against a server started with args, then its lines
 * checked (json: --log-format json) and its exit code. */
static void lines_of_a_run(const char **args, int json)
{
    test_server s;
    if (server_start(&s, args, NULL)) {
        CHECK(0, "server did not start");
        return;
    }
    run_all(s.port, jobs, 0);
    check_lines_arrive(&s, json, jobs);
    int code = server_stop(&s);
    CHECK(code == 0, "exit code %d", code);
}

static void test_every_line_whole_in_order(void) { lines_of_a_run(NULL, 0); }

static void test_json_lines(void)
{
    const char *args[] = {"--log-format", "json", NULL};
    lines_of_a_run(args, 1);
}

/* SIGTERM while 16 connections keep sending: once the process has exited,
 * every request that was answered (200, or 503 draining) has its line. */
static void test_lines_flushed_at_sigterm(void)
{
    test_server s;
    if (server_start(&s, NULL, NULL)) {
        CHECK(0, "server did not start");
        return;
    }
    pthread_t th[N_CONN];
    for (int k = 0; k < N_CONN; k++) {
        jobs[k] = (conn_job){.port = s.port, .k = k, .until_error = 1};
        pthread_create(&th[k], NULL, run_conn, &jobs[k]);
    }
    usleep(150000);
    server_signal(&s, SIGTERM);
    for (int k = 0; k < N_CONN; k++) pthread_join(th[k], NULL);
    int code = -1;
    int rc = server_wait(&s, 15000, &code);
    CHECK(rc == 0 && code == 0, "exit after SIGTERM: rc %d code %d", rc, code);
    if (rc != 0) server_stop(&s);
    int answered = 0, refused = 0;
    for (int k = 0; k < N_CONN; k++)
        for (int i = 0; i < jobs[k].sent; i++) {
            answered += jobs[k].status[i] != 0;
            refused += jobs[k].status[i] == 503;
        }
    char *text = slurp(s.log, NULL);
    int found = check_log(text, 0, jobs, N_CONN);
    printf("  %d requests answered (%d of them 503 draining), %d lines\n", answered, refused,
           found);
    CHECK(answered > N_CONN, "only %d requests answered before the signal", answered);
    free(text);
    if (!check_current_failed) unlink(s.log);
    else server_dump_log(&s, 5);
}

int main(void)
{
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_batch_writes_whole_lines);
    RUN(test_every_line_whole_in_order);
    RUN(test_json_lines);
    RUN(test_lines_flushed_at_sigterm);
    api_check_all_responses_valid();
    schema_free(api_schema);
    return CHECK_DONE();
}
