#include "api/service.h"

#include <stdio.h>
#include <string.h>

#include "api/assets.h"

static const route_header RETRY_AFTER[] = {{"Retry-After", "1"}, {NULL, NULL}};

static void fixed(compute_result *res, int status, const char *type, const char *body,
                  size_t len, const route_header *headers)
{
    res->status = status;
    res->content_type = type;
    res->fixed = body;
    res->len = len;
    res->headers = headers;
}

void serve_live(const char *body, size_t len, const compute_env *env, compute_result *res)
{
    static const char LIVE[] = "{\"status\":\"live\"}";
    (void)body, (void)len, (void)env;
    fixed(res, 200, "application/json", LIVE, sizeof LIVE - 1, NULL);
}

void serve_ready(const char *body, size_t len, const compute_env *env, compute_result *res)
{
    static const char READY[] = "{\"status\":\"ready\"}";
    static const char DRAINING[] = "{\"status\":\"draining\"}";
    (void)body, (void)len;
    if (env->draining)
        fixed(res, 503, "application/json", DRAINING, sizeof DRAINING - 1, RETRY_AFTER);
    else
        fixed(res, 200, "application/json", READY, sizeof READY - 1, NULL);
}

void serve_metrics(const char *body, size_t len, const compute_env *env, compute_result *res)
{
    (void)body, (void)len;
    res->body = env->metrics ? metrics_render(env->metrics, &res->len) : NULL;
    if (!res->body) {
        diag_set(&res->d, 500, "internal", "out of memory rendering the metrics");
        return;
    }
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void serve_openapi(const char *body, size_t len, const compute_env *env, compute_result *res)
{
    (void)body, (void)len, (void)env;
    size_t n = 0;
    const char *yaml = asset_openapi_yaml(&n);
    if (!yaml) {
        diag_set(&res->d, 404, "not-found", "This build of gradserve has no openapi.yaml.");
        return;
    }
    fixed(res, 200, "application/yaml", yaml, n, NULL);
}

/* The playground's policy allows this origin's files and requests only (no
 * inline script); X-Content-Type-Options: nosniff comes with every response. */
#define PLAYGROUND_CSP                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "     \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "        \
    "frame-ancestors 'none'"

static void serve_asset(const char *name, const char *path, compute_result *res)
{
    static const route_header PAGE_HEADERS[] = {{"Content-Security-Policy", PLAYGROUND_CSP},
                                                {"Cache-Control", "no-cache"},
                                                {NULL, NULL}};
    const char *type = NULL;
    size_t n = 0;
    const char *data = asset_static(name, &type, &n);
    if (!data) {
        diag_set(&res->d, 404, "not-found", "No file %s; see /openapi.yaml.", path);
        return;
    }
    fixed(res, 200, type, data, n, PAGE_HEADERS);
}

void serve_page(const char *body, size_t len, const compute_env *env, compute_result *res)
{
    (void)body, (void)len, (void)env;
    serve_asset("index.html", "/", res);
}

void serve_static(const char *body, size_t len, const compute_env *env, compute_result *res)
{
    (void)body, (void)len;
    char path[256];
    snprintf(path, sizeof path, "/static/%s", env->param);
    if (!strcmp(env->param, "index.html")) { /* the page is served at / only */
        diag_set(&res->d, 404, "not-found", "No file %s; see /openapi.yaml.", path);
        return;
    }
    serve_asset(env->param, path, res);
}
