/* libcurl requests and raw sockets for the API tests (see http.h). */
#include "lib/http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"

struct http_client {
    CURL *curl;
    int port;
    char *token;
    long timeout;
};

static const schema *g_schema;
static atomic_long g_violations;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_log[4096];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void http_set_schema(const schema *s) { g_schema = s; }
long http_schema_violations(void) { return atomic_load(&g_violations); }
const char *http_schema_violation_log(void) { return g_log; }

http_client *http_client_new(int port, const char *token)
{
    pthread_once(&g_once, global_init);
    http_client *c = calloc(1, sizeof *c);
    c->curl = curl_easy_init();
    c->port = port;
    c->token = token ? strdup(token) : NULL;
    c->timeout = 120;
    return c;
}

void http_client_free(http_client *c)
{
    if (!c) return;
    curl_easy_cleanup(c->curl);
    free(c->token);
    free(c);
}

void http_client_set_token(http_client *c, const char *token)
{
    free(c->token);
    c->token = token ? strdup(token) : NULL;
}

void http_client_set_timeout(http_client *c, long seconds) { c->timeout = seconds; }

/* ---- response collection ------------------------------------------------------- */

typedef struct {
    http_response *r;
    size_t cap;
    /* upload state */
    size_t up_total, up_sent;
} xfer;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    http_response *r = x->r;
    size_t len = size * n;
    if (r->body_len + len + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < r->body_len + len + 1) cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb) return 0;
        r->body = nb;
        x->cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = 0;
    return len;
}

static void clear_headers(http_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    r->headers = NULL;
    r->n_headers = 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    http_response *r = x->r;
    size_t len = size * n;
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        clear_headers(r); /* a new response (after 100 Continue) */
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) return len;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    const char *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    http_header *nh = realloc(r->headers, (r->n_headers + 1) * sizeof *nh);
    if (!nh) return 0;
    r->headers = nh;
    nh[r->n_headers].name = strndup(data, nl);
    nh[r->n_headers].value = strndup(v, (size_t)(end - v));
    r->n_headers++;
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t want = size * n;
    size_t left = x->up_total - x->up_sent;
    if (want > left) want = left;
    memset(buf, 'x', want);
    x->up_sent += want;
    return want;
}

const char *http_header_get(const http_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

static const char *header_cb(void *ctx, const char *name)
{
    return http_header_get(ctx, name);
}

void http_response_free(http_response *r)
{
    free(r->body);
    clear_headers(r);
    memset(r, 0, sizeof *r);
}

static void record_violation(const char *msg)
{
    atomic_fetch_add(&g_violations, 1);
    pthread_mutex_lock(&g_log_lock);
    size_t l = strlen(g_log);
    if (l < sizeof g_log - 200) snprintf(g_log + l, sizeof g_log - l, "%s\n", msg);
    pthread_mutex_unlock(&g_log_lock);
}

static int has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (; headers && *headers; headers++)
        if (!strncasecmp(*headers, name, n) && (*headers)[n] == ':') return 1;
    return 0;
}

static int perform(http_client *c, const char *method, const char *path,
                   const char *const *headers, const char *body, size_t body_len,
                   long long declared, size_t upload_total, int upload, http_response *r)
{
    memset(r, 0, sizeof *r);
    xfer x = {r, 0, upload_total, 0};
    CURL *h = c->curl;
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", c->port, path);
    curl_easy_reset(h); /* keeps the connection cache */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_error);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);

    struct curl_slist *sl = NULL;
    char auth[600];
    if (c->token && !has_header(headers, "Authorization")) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        sl = curl_slist_append(sl, auth);
    }
    if ((body || upload) && !has_header(headers, "Content-Type"))
        sl = curl_slist_append(sl, "Content-Type: application/json");
    for (const char *const *hh = headers; hh && *hh; hh++) sl = curl_slist_append(sl, *hh);

    if (upload) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        if (declared >= 0)
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)declared);
        else
            sl = curl_slist_append(sl, "Transfer-Encoding: chunked");
        if (strcmp(method, "POST")) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (strcmp(method, "POST")) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "GET")) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, sl);

    CURLcode rc = curl_easy_perform(h);
    r->curl_code = (int)rc;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->num_connects);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &r->seconds);
    curl_off_t up = 0;
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
    r->bytes_sent = upload ? x.up_sent : (size_t)up;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(sl);
    if (!r->body) {
        r->body = calloc(1, 1);
        r->body_len = 0;
    }
    if (rc != CURLE_OK && r->status == 0) {
        if (!r->curl_error[0]) snprintf(r->curl_error, sizeof r->curl_error, "%s",
                                        curl_easy_strerror(rc));
        return -1;
    }
    if (g_schema && r->status) {
        const char *ct = http_header_get(r, "Content-Type");
        char err[600];
        if (schema_check_response(g_schema, method, path, r->status, ct, r->body, r->body_len,
                                  header_cb, r, err, sizeof err)) {
            snprintf(r->schema_error, sizeof r->schema_error, "%s", err);
            record_violation(err);
        }
    }
    return 0;
}

int http_request(http_client *c, const char *method, const char *path,
                 const char *const *headers, const char *body, size_t body_len,
                 http_response *r)
{
    return perform(c, method, path, headers, body, body_len, 0, 0, 0, r);
}

int http_request_upload(http_client *c, const char *method, const char *path,
                        const char *const *headers, long long declared, size_t total,
                        http_response *r)
{
    return perform(c, method, path, headers, NULL, 0, declared, total, 1, r);
}

int http_get(int port, const char *path, http_response *r)
{
    http_client *c = http_client_new(port, NULL);
    int rc = http_request(c, "GET", path, NULL, NULL, 0, r);
    http_client_free(c);
    return rc;
}

int http_post_json(int port, const char *path, const char *json, http_response *r)
{
    http_client *c = http_client_new(port, NULL);
    int rc = http_request(c, "POST", path, NULL, json, strlen(json), r);
    http_client_free(c);
    return rc;
}

/* ---- raw sockets ----------------------------------------------------------------- */

long http_raw(int port, const char *data, size_t len, char **out, int timeout_ms)
{
    *out = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) break; /* the server may close early (e.g. 413) */
        off += (size_t)n;
    }
    size_t cap = 8192, got = 0;
    char *buf = malloc(cap);
    double deadline = api_now() + timeout_ms / 1000.0;
    for (;;) {
        int left_ms = (int)((deadline - api_now()) * 1000);
        if (left_ms <= 0) break;
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, left_ms);
        if (pr <= 0) break;
        if (got + 4096 + 1 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + got, cap - got - 1, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    buf[got] = 0;
    close(fd);
    *out = buf;
    return (long)got;
}

int http_raw_status(const char *reply)
{
    int code = 0;
    if (reply && sscanf(reply, "HTTP/1.%*d %d", &code) == 1) return code;
    return 0;
}
