/* Header-only glue for the API test programs (tests/test_api_*.c): it uses
 * check.h's CHECK, whose counters are per program, so it is included by the
 * test program itself rather than compiled into tests/lib.
 *
 * Every request goes through api_call, which checks the status the test
 * expects and that the response matches openapi.yaml (route, status,
 * content type, required headers, body schema). */
#ifndef GS_TEST_APITEST_H
#define GS_TEST_APITEST_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lib/apiref.h"
#include "lib/clock.h"
#include "lib/http.h"
#include "lib/schema.h"
#include "lib/server.h"

static schema *api_schema;
static test_server api_srv;
static http_client *api_cli;
static int api_server_up;

/* Loads openapi.yaml (tests run from the repo root) and turns on the
 * response checks. Returns 0, or -1 after printing why. */
static inline int api_load_schema(void)
{
    char err[300];
    api_schema = schema_load("openapi.yaml", err, sizeof err);
    if (!api_schema) {
        printf("  cannot load openapi.yaml: %s\n", err);
        return -1;
    }
    http_set_schema(api_schema);
    return 0;
}

/* Starts the shared server with extra flags and environment, as a test case
 * ("server_starts") so that a server that will not start is one FAIL. */
static inline int api_start(const char *const *args, const char *const *env)
{
    check_begin("server_starts");
    int rc = server_start(&api_srv, args, env);
    CHECK(rc == 0, "server %s did not start", server_binary());
    check_end();
    api_server_up = rc == 0;
    if (api_server_up) api_cli = http_client_new(api_srv.port, NULL);
    return rc;
}

/* Stops the shared server: it must exit 0 on SIGTERM. */
static inline void api_stop(void)
{
    if (!api_server_up) return;
    http_client_free(api_cli);
    api_cli = NULL;
    check_begin("server_exits_0_on_sigterm");
    int code = server_stop(&api_srv);
    CHECK(code == 0, "exit code %d", code);
    check_end();
    api_server_up = 0;
}

/* The last test of every program: no response seen broke the contract. */
static inline void api_check_all_responses_valid(void)
{
    check_begin("every_response_matches_openapi");
    CHECK(http_schema_violations() == 0, "%ld responses broke the contract:\n%s",
          http_schema_violations(), http_schema_violation_log());
    check_end();
}

/* GET /metrics on port, a new connection: the text (free()), or NULL. */
static inline char *api_metrics_text(int port)
{
    http_response r;
    char *text = NULL;
    if (http_get(port, "/metrics", &r) == 0 && r.status == 200 && r.body) text = strdup(r.body);
    http_response_free(&r);
    return text;
}

/* The value of one metric line "name value" (name with its labels), or -1. */
static inline double api_metric_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

static inline void api_print_body(const http_response *r)
{
    printf("    body: %.400s%s\n", r->body ? r->body : "",
           r->body && r->body_len > 400 ? "..." : "");
}

/* One request on client c (api_cli when NULL). Checks the status (want >= 0)
 * and the contract; returns the parsed JSON body or NULL. When out is not
 * NULL the response is handed to the caller (free it), else freed. */
static inline json_t *api_call(http_client *c, const char *method, const char *path,
                               const char *const *headers, const char *body, size_t len,
                               long want, http_response *out)
{
    http_response r;
    if (!c) c = api_cli;
    int rc = c ? http_request(c, method, path, headers, body, len, &r) : -1;
    CHECK(rc == 0, "%s %s: no response (%s)", method, path, c ? r.curl_error : "no server");
    if (rc != 0) {
        if (out) memset(out, 0, sizeof *out);
        if (c) http_response_free(&r);
        return NULL;
    }
    if (want >= 0) {
        CHECK(r.status == want, "%s %s: status %ld, want %ld", method, path, r.status, want);
        if (r.status != want) api_print_body(&r);
    }
    CHECK(r.schema_error[0] == 0, "contract: %s", r.schema_error);
    json_t *j = NULL;
    if (r.body_len) j = json_loadb(r.body, r.body_len, 0, NULL);
    if (out)
        *out = r;
    else
        http_response_free(&r);
    return j;
}

/* POST a JSON document (application/json) and expect a status. */
static inline json_t *api_post(const char *path, const json_t *req, long want)
{
    char *s = json_dumps(req, JSON_COMPACT);
    json_t *j = api_call(NULL, "POST", path, NULL, s, strlen(s), want, NULL);
    free(s);
    return j;
}

/* The same, taking ownership of req. */
static inline json_t *api_post_new(const char *path, json_t *req, long want)
{
    json_t *j = api_post(path, req, want);
    json_decref(req);
    return j;
}

static inline json_t *api_post_text(const char *path, const char *body, long want)
{
    return api_call(NULL, "POST", path, NULL, body, strlen(body), want, NULL);
}

/* 1 when a problem body names pointer in errors[]. */
static inline int api_problem_has_pointer(const json_t *p, const char *pointer)
{
    json_t *errs = json_object_get(p, "errors");
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e) {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        if (ptr && !strcmp(ptr, pointer)) return 1;
    }
    return 0;
}

static inline void api_check_problem(const json_t *p, long status, const char *pointer,
                                     const char *what)
{
    CHECK(p != NULL, "%s: no JSON problem body", what);
    if (!p) return;
    CHECK(json_integer_value(json_object_get(p, "status")) == status, "%s: status member %lld",
          what, (long long)json_integer_value(json_object_get(p, "status")));
    if (pointer) {
        int has = api_problem_has_pointer(p, pointer);
        char *s = has ? NULL : json_dumps(json_object_get(p, "errors"), JSON_COMPACT);
        CHECK(has, "%s: errors[] does not name %s: %s", what, pointer, s ? s : "(none)");
        free(s);
    }
}

/* The suffix of a problem's type URI (".../problems/<slug>"). */
static inline const char *api_problem_slug(const json_t *p)
{
    const char *t = json_string_value(json_object_get(p, "type"));
    const char *slash = t ? strrchr(t, '/') : NULL;
    return slash ? slash + 1 : "";
}

/* Compare a response's params-shaped array with a core slab. */
#define API_CHECK_PARAMS(arr, net, slab, enc, what)                                   \
    do {                                                                              \
        char why_[400];                                                               \
        int ok_ = api_params_equal((arr), (net), (slab), (enc), why_, sizeof why_) == 0; \
        CHECK(ok_, "%s: %s", (what), why_);                                           \
    } while (0)

#define API_CHECK_TENSOR(j, ref, dt, shape, ndim, enc, what)                                   \
    do {                                                                                       \
        char why_[400];                                                                        \
        int ok_ = api_tensor_equal((j), (ref), (dt), (shape), (ndim), (enc), why_, sizeof why_) \
                  == 0;                                                                        \
        CHECK(ok_, "%s: %s", (what), why_);                                                    \
    } while (0)

#endif
