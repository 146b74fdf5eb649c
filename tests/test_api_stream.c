/* POST /train with Accept: application/x-ndjson, over real HTTP: one line
 * per epoch as it ends, then the usual answer (byte for byte the one
 * without streaming) or the problem that stopped it; lines arrive while the
 * training still runs; a client that leaves stops the training; what cannot
 * be streamed is refused as usual. */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/apitest.h"

/* ---- a streaming client ------------------------------------------------------------ */

/* The response's lines as they come; on_line runs for each complete one and
 * may stop the transfer (return nonzero: the client hangs up). */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t lines;
    int (*on_line)(void *ctx, const char *line, size_t len, size_t index);
    void *ctx;
    int hung_up;
} line_reader;

static size_t reader_write(char *data, size_t size, size_t n, void *ud)
{
    line_reader *lr = ud;
    size_t bytes = size * n;
    if (lr->len + bytes + 1 > lr->cap) {
        lr->cap = 2 * (lr->len + bytes + 1);
        lr->buf = realloc(lr->buf, lr->cap);
        if (!lr->buf) return 0;
    }
    size_t from = lr->len;
    memcpy(lr->buf + lr->len, data, bytes);
    lr->len += bytes;
    lr->buf[lr->len] = 0;
    /* each newline in the new bytes ends a line */
    for (size_t i = from; i < lr->len; i++) {
        if (lr->buf[i] != '\n') continue;
        size_t start = i;
        while (start > 0 && lr->buf[start - 1] != '\n') start--;
        if (lr->on_line && lr->on_line(lr->ctx, lr->buf + start, i - start, lr->lines)) {
            lr->hung_up = 1;
            return 0; /* curl aborts the transfer and closes the connection */
        }
        lr->lines++;
    }
    return bytes;
}

typedef struct {
    long status;
    char content_type[64];
} stream_result;

static size_t header_cb(char *data, size_t size, size_t n, void *ud)
{
    stream_result *sr = ud;
    size_t len = size * n;
    if (len > 13 && !strncasecmp(data, "Content-Type:", 13)) {
        const char *v = data + 13;
        while (*v == ' ') v++;
        size_t m = strcspn(v, "\r\n");
        snprintf(sr->content_type, sizeof sr->content_type, "%.*s", (int)m, v);
    }
    return len;
}

/* POST body to /train with Accept: application/x-ndjson on a new connection. */
static int post_stream(int port, const char *body, line_reader *lr, stream_result *sr)
{
    memset(sr, 0, sizeof *sr);
    CURL *h = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/train", port);
    struct curl_slist *hs = curl_slist_append(NULL, "Accept: application/x-ndjson");
    hs = curl_slist_append(hs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, reader_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, lr);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, sr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &sr->status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    return rc == CURLE_OK || (lr->hung_up && rc == CURLE_WRITE_ERROR) ? 0 : -1;
}

/* The i-th line of a finished reader (NUL-terminated copy, free()). */
static char *line_at(const line_reader *lr, size_t i)
{
    const char *p = lr->buf;
    for (size_t k = 0; p && k < i; k++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p || !*p) return NULL;
    return strndup(p, strcspn(p, "\n"));
}


static int valid_as(const char *ref, const json_t *j, char *err, size_t errlen)
{
    return schema_validate_ref(api_schema, ref, j, err, errlen) == 0;
}

/* ---- the tests ------------------------------------------------------------------------ */

/* 8 rows, batch 3: 3 steps an epoch (the last one partial). */
static const char *XOR_TRAIN =
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":4,\"activation\":\"tanh\"},"
    "{\"units\":1,\"activation\":\"sigmoid\"}],\"loss\":\"binary_cross_entropy\"},"
    "\"init\":{\"seed\":3},\"inputs\":[[0,0],[0,1],[1,0],[1,1],[0.1,0.9],[0.9,0.1],[0.9,0.9],[0.1,0.1]],"
    "\"targets\":[[0],[1],[1],[0],[1],[1],[0],[0]],\"optimizer\":{\"name\":\"adam\",\"lr\":0.05},"
    "\"epochs\":6,\"batch_size\":3,\"shuffle\":true,\"seed\":5}";

static void test_lines_then_the_usual_answer(void)
{
    line_reader lr = {0};
    stream_result sr;
    CHECK(post_stream(api_srv.port, XOR_TRAIN, &lr, &sr) == 0, "transfer failed");
    CHECK(sr.status == 200, "status %ld", sr.status);
    CHECK(!strcmp(sr.content_type, "application/x-ndjson"), "content type %s", sr.content_type);
    CHECK(lr.lines == 7 && lr.len && lr.buf[lr.len - 1] == '\n', "%zu lines", lr.lines);

    /* the last line is the answer the same request gets without streaming */
    http_response plain;
    CHECK(http_post_json(api_srv.port, "/train", XOR_TRAIN, &plain) == 0 && plain.status == 200,
          "plain /train");
    char *last = line_at(&lr, 6);
    CHECK(last && plain.body && !strcmp(last, plain.body), "the last line differs from the answer");
    json_t *answer = last ? json_loads(last, 0, NULL) : NULL;
    const json_t *history = json_object_get(answer, "loss_history");
    CHECK(json_array_size(history) == 18, "%zu losses", json_array_size(history));

    /* each epoch line: valid, in order, its mean over that epoch's 3 steps */
    char err[300] = "";
    for (size_t e = 0; e < 6 && answer; e++) {
        char *text = line_at(&lr, e);
        json_t *line = text ? json_loads(text, 0, NULL) : NULL;
        CHECK(line && valid_as("#/components/schemas/TrainProgress", line, err, sizeof err),
              "line %zu: %s (%s)", e, text ? text : "missing", err);
        double sum = 0;
        for (size_t k = 3 * e; k < 3 * e + 3; k++)
            sum += json_number_value(json_array_get(history, k));
        CHECK(json_integer_value(json_object_get(line, "epoch")) == (json_int_t)e + 1 &&
                  json_integer_value(json_object_get(line, "steps")) == (json_int_t)(3 * e + 3),
              "line %zu: %s", e, text);
        CHECK(json_number_value(json_object_get(line, "loss")) == sum / 3,
              "line %zu: loss %.17g, want the epoch's mean %.17g", e,
              json_number_value(json_object_get(line, "loss")), sum / 3);
        json_decref(line);
        free(text);
    }
    CHECK(answer && valid_as("#/components/schemas/TrainResponse", answer, err, sizeof err),
          "last line: %s", err);
    json_decref(answer);
    free(last);
    http_response_free(&plain);
    free(lr.buf);
}

/* A training long enough that it is still running when its first epoch's
 * line arrives (400 epochs of 250 steps on a 20-64-1 net). */
static char *long_train(size_t epochs)
{
    json_t *x = json_array(), *t = json_array();
    unsigned seed = 7;
    for (int r = 0; r < 2000; r++) {
        json_t *row = json_array();
        for (int c = 0; c < 20; c++) {
            seed = seed * 1103515245u + 12345u;
            json_array_append_new(row, json_real((double)(seed >> 16 & 0x7fff) / 32768.0));
        }
        json_array_append_new(x, row);
        json_array_append_new(t, json_pack("[f]", (double)(r % 7) / 7.0));
    }
    json_t *req = json_pack(
        "{s{sis[{siss}{siss}]}s{si}soso s{sssf} sisi}", "network", "inputs", 20, "layers",
        "units", 64, "activation", "tanh", "units", 1, "activation", "linear", "init", "seed", 1,
        "inputs", x, "targets", t, "optimizer", "name", "sgd", "lr", 0.01, "epochs", (int)epochs,
        "batch_size", 8);
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return s;
}

typedef struct {
    int port;
    double inflight_at_first_line; /* requests in flight seen then (with the scrape) */
    int hang_up_after;             /* lines to read before leaving; 0: read them all */
} watch_ctx;

static int watch_first_line(void *ctx, const char *line, size_t len, size_t index)
{
    watch_ctx *w = ctx;
    (void)line;
    (void)len;
    if (index == 0) {
        char *m = api_metrics_text(w->port);
        w->inflight_at_first_line = m ? api_metric_value(m, "gradserve_inflight_requests") : -1;
        free(m);
    }
    return w->hang_up_after && index + 1 >= (size_t)w->hang_up_after;
}

/* The first line comes while the training is still in flight: the scrape
 * made on receiving it sees two requests, the training and itself. Then the
 * client leaves: the training stops (counted as client_gone), and the one
 * worker is free for the next request. */
static void test_lines_come_while_it_runs_and_leaving_stops_it(void)
{
    const char *args[] = {"--max-concurrent", "1", NULL};
    test_server s;
    if (server_start(&s, args, NULL)) {
        CHECK(0, "server did not start");
        return;
    }
    char *body = long_train(400);
    watch_ctx w = {s.port, -1, 1};
    line_reader lr = {.on_line = watch_first_line, .ctx = &w};
    stream_result sr;
    CHECK(post_stream(s.port, body, &lr, &sr) == 0 && lr.hung_up, "transfer");
    CHECK(sr.status == 200, "status %ld", sr.status);
    CHECK(w.inflight_at_first_line == 2, "in flight at the first line: %g (want the training "
          "and the scrape)", w.inflight_at_first_line);
    /* the worker notices within its 50 ms look at the socket */
    double gone = 0;
    for (int i = 0; i < 200 && gone < 1; i++) {
        api_sleep(0.05);
        char *m = api_metrics_text(s.port);
        gone = m ? api_metric_value(m, "gradserve_rejected_total{reason=\"client_gone\"}") : -1;
        free(m);
    }
    CHECK(gone == 1, "client_gone %g: the training did not stop", gone);
    http_response r;
    CHECK(http_post_json(s.port, "/forward",
                         "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":"
                         "\"linear\"}]},\"params\":[{\"weight\":[[2]],\"bias\":[0]}],"
                         "\"inputs\":[[1]]}",
                         &r) == 0 && r.status == 200,
          "the worker is not free: %ld", r.status);
    http_response_free(&r);
    CHECK(server_stop(&s) == 0, "exit");
    free(body);
    free(lr.buf);
}

/* A /train whose answer (784-512-10's parameters, about 6 MB of text) the
 * writer holds in several chunks: the stream's last line joins them into the
 * same bytes as the plain answer, which is sent as its chunks lie. */
static void test_long_answer_as_the_last_line(void)
{
    enum { ROWS = 4, IN = 784 };
    size_t cap = (size_t)ROWS * IN * 2 + 1024;
    char *body = malloc(cap), *p = body;
    p += sprintf(p, "{\"network\":{\"inputs\":%d,\"layers\":[{\"units\":512,\"activation\":"
                    "\"relu\"},{\"units\":10,\"activation\":\"linear\"}],\"loss\":\"mse\"},"
                    "\"init\":{\"seed\":7},\"optimizer\":{\"name\":\"sgd\",\"lr\":0.01},"
                    "\"epochs\":2,\"inputs\":[",
                 IN);
    for (int r = 0; r < ROWS; r++) {
        *p++ = r ? ',' : '[';
        if (r) *p++ = '[';
        for (int k = 0; k < IN; k++) p += sprintf(p, "%s%d", k ? "," : "", (r + k) % 3);
        *p++ = ']';
    }
    p += sprintf(p, "],\"targets\":[[1,0,0,0,0,0,0,0,0,0],[0,1,0,0,0,0,0,0,0,0],"
                    "[0,0,1,0,0,0,0,0,0,0],[0,0,0,1,0,0,0,0,0,0]]}");
    line_reader lr = {0};
    stream_result sr;
    CHECK(post_stream(api_srv.port, body, &lr, &sr) == 0 && sr.status == 200, "status %ld",
          sr.status);
    http_response plain;
    CHECK(http_post_json(api_srv.port, "/train", body, &plain) == 0 && plain.status == 200,
          "plain /train");
    char *last = line_at(&lr, 2);
    CHECK(lr.lines == 3, "%zu lines", lr.lines);
    CHECK(plain.body && strlen(plain.body) > ((size_t)4 << 20), "a plain answer of %zu bytes",
          plain.body ? strlen(plain.body) : 0);
    CHECK(last && plain.body && !strcmp(last, plain.body), "the last line (%zu bytes) differs "
          "from the answer (%zu bytes)", last ? strlen(last) : 0,
          plain.body ? strlen(plain.body) : 0);
    free(last);
    http_response_free(&plain);
    free(lr.buf);
    free(body);
}

/* Divergence after some epochs: the lines so far, then the 422 problem as
 * the last line, naming the step. */
static void test_divergence_ends_the_stream_with_the_problem(void)
{
    /* w <- w - lr * 2 (w - 1): with lr 10 the error is multiplied by -19
     * each step and overflows float32 after about 30 */
    const char *body =
        "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":\"linear\"}]},"
        "\"params\":[{\"weight\":[[0.5]],\"bias\":[0]}],\"inputs\":[[1]],\"targets\":[[1]],"
        "\"optimizer\":{\"name\":\"sgd\",\"lr\":10},\"epochs\":100}";
    line_reader lr = {0};
    stream_result sr;
    CHECK(post_stream(api_srv.port, body, &lr, &sr) == 0 && sr.status == 200, "status %ld",
          sr.status);
    CHECK(lr.lines > 5 && lr.lines < 100, "%zu lines", lr.lines);
    char *last = lr.lines ? line_at(&lr, lr.lines - 1) : NULL;
    json_t *p = last ? json_loads(last, 0, NULL) : NULL;
    char err[300] = "";
    CHECK(p && json_integer_value(json_object_get(p, "status")) == 422 &&
              !strcmp(api_problem_slug(p) ? api_problem_slug(p) : "", "diverged") &&
              json_integer_value(json_object_get(p, "step")) == (json_int_t)lr.lines - 1,
          "last line: %s", last ? last : "none");
    CHECK(p && valid_as("#/components/schemas/Problem", p, err, sizeof err), "%s", err);
    json_decref(p);
    free(last);
    free(lr.buf);
}

/* Refused before training: answered as usual, with its status. */
static void test_refusals_are_plain_problems(void)
{
    line_reader lr = {0};
    stream_result sr;
    CHECK(post_stream(api_srv.port, "{\"network\":{\"inputs\":0}}", &lr, &sr) == 0 &&
              sr.status == 400 && !strcmp(sr.content_type, "application/problem+json"),
          "malformed: %ld %s", sr.status, sr.content_type);
    free(lr.buf);

    char *binary = strdup(XOR_TRAIN);
    binary[strlen(binary) - 1] = 0;
    char body[2048];
    snprintf(body, sizeof body, "%s,\"encoding\":\"binary\"}", binary);
    free(binary);
    memset(&lr, 0, sizeof lr);
    CHECK(post_stream(api_srv.port, body, &lr, &sr) == 0 && sr.status == 400, "binary: %ld",
          sr.status);
    json_t *p = json_loads(lr.buf ? lr.buf : "", 0, NULL);
    CHECK(api_problem_has_pointer(p, "/encoding"), "binary: %s", lr.buf ? lr.buf : "");
    json_decref(p);
    free(lr.buf);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    if (api_start(NULL, NULL) == 0) {
        RUN(test_lines_then_the_usual_answer);
        RUN(test_long_answer_as_the_last_line);
        RUN(test_divergence_ends_the_stream_with_the_problem);
        RUN(test_refusals_are_plain_problems);
        api_stop();
    }
    RUN(test_lines_come_while_it_runs_and_leaving_stops_it);
    api_check_all_responses_valid();
    schema_free(api_schema);
    return CHECK_DONE();
}
