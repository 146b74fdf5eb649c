/* API tests: bearer-token authentication, with the token from the
 * environment and from a file, and with authentication off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "lib/apitest.h"

static const char *req_body =
    "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
    "\"loss\":\"mse\"},\"params\":[{\"weight\":[[2]],\"bias\":[1]}],\"inputs\":[[3]],"
    "\"targets\":[[5]]}";

static long call(const char *method, const char *path, const char *auth, const char *body,
                 http_response *keep)
{
    const char *h[] = {auth, "Origin: https://page.example", NULL};
    http_response r;
    json_t *j = api_call(NULL, method, path, auth ? h : h + 1, body, body ? strlen(body) : 0, -1,
                         &r);
    long st = r.status;
    if (st == 401) {
        const char *www = http_header_get(&r, "WWW-Authenticate");
        CHECK(www && !strncasecmp(www, "Bearer", 6), "%s %s: 401 with WWW-Authenticate %s",
              method, path, www ? www : "(none)");
        CHECK(http_header_get(&r, "Access-Control-Allow-Origin") != NULL,
              "%s %s: 401 without CORS", method, path);
        api_check_problem(j, 401, NULL, path);
        CHECK(!strcmp(api_problem_slug(j), "unauthorized"), "401 type %s", api_problem_slug(j));
    }
    json_decref(j);
    if (keep)
        *keep = r;
    else
        http_response_free(&r);
    return st;
}

/* The checks shared by both ways of giving the token. */
static void check_protected(const char *token)
{
    char good[200], wrong[200], prefix[200], longer[200], lower[200];
    snprintf(good, sizeof good, "Authorization: Bearer %s", token);
    snprintf(wrong, sizeof wrong, "Authorization: Bearer x%s", token);
    snprintf(prefix, sizeof prefix, "Authorization: Bearer %.*s", (int)strlen(token) - 1, token);
    snprintf(longer, sizeof longer, "Authorization: Bearer %sx", token);
    snprintf(lower, sizeof lower, "Authorization: bearer %s", token);
    const char *routes[] = {"/forward", "/gradients", "/gradcheck"};
    for (size_t i = 0; i < 3; i++) {
        CHECK(call("POST", routes[i], NULL, req_body, NULL) == 401, "%s without a token", routes[i]);
        CHECK(call("POST", routes[i], wrong, req_body, NULL) == 401, "%s wrong token", routes[i]);
        CHECK(call("POST", routes[i], prefix, req_body, NULL) == 401, "%s token prefix", routes[i]);
        CHECK(call("POST", routes[i], longer, req_body, NULL) == 401, "%s longer token", routes[i]);
        CHECK(call("POST", routes[i], "Authorization: Basic dXNlcjpwYXNz", req_body, NULL) == 401,
              "%s basic auth", routes[i]);
        CHECK(call("POST", routes[i], "Authorization: Bearer", req_body, NULL) == 401,
              "%s empty bearer", routes[i]);
        CHECK(call("POST", routes[i], good, req_body, NULL) == 200, "%s good token", routes[i]);
    }
    /* the scheme name is case-insensitive (RFC 9110 11.1) */
    CHECK(call("POST", "/forward", lower, req_body, NULL) == 200, "lower-case scheme");
    /* train too */
    const char *train = "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":"
                        "\"linear\"}],\"loss\":\"mse\"},\"inputs\":[[3]],\"targets\":[[5]],"
                        "\"optimizer\":{\"name\":\"sgd\"}}";
    CHECK(call("POST", "/train", NULL, train, NULL) == 401, "/train without a token");
    CHECK(call("POST", "/train", good, train, NULL) == 200, "/train with the token");
    /* 401 comes before reading or judging the body */
    CHECK(call("POST", "/gradients", NULL, "{not json", NULL) == 401, "bad body, no token");
    /* open: health, the contract, preflights */
    CHECK(call("GET", "/health/live", NULL, NULL, NULL) == 200, "live needs no token");
    CHECK(call("GET", "/health/ready", NULL, NULL, NULL) == 200, "ready needs no token");
    CHECK(call("GET", "/openapi.yaml", NULL, NULL, NULL) == 200, "openapi.yaml needs no token");
    const char *pre[] = {"Origin: https://page.example", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: authorization, content-type", NULL};
    json_decref(api_call(NULL, "OPTIONS", "/train", pre, NULL, 0, 204, NULL));
    /* metrics: protected */
    CHECK(call("GET", "/metrics", NULL, NULL, NULL) == 401, "metrics without a token");
    CHECK(call("GET", "/metrics", good, NULL, NULL) == 200, "metrics with the token");
}

static void test_token_from_env(void)
{
    const char *env[] = {"GRADSERVE_AUTH_TOKEN=s3cret-Token_123", NULL};
    if (api_start(NULL, env)) return;
    check_begin("token_from_env");
    check_protected("s3cret-Token_123");
    /* the token never appears in a response */
    http_response r;
    call("POST", "/forward", "Authorization: Bearer wrong", req_body, &r);
    CHECK(!strstr(r.body, "s3cret"), "a 401 reveals the token");
    http_response_free(&r);
    check_end();
    api_stop();
}

static void test_token_from_file(void)
{
    char path[] = "/tmp/gradserve-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    const char *tok = "file-token-42\n"; /* the trailing newline is not part of it */
    CHECK(write(fd, tok, strlen(tok)) == (ssize_t)strlen(tok), "write");
    close(fd);
    const char *args[] = {"--auth-token-file", path, NULL};
    if (api_start(args, NULL) == 0) {
        check_begin("token_from_file");
        check_protected("file-token-42");
        check_end();
        api_stop();
    }
    unlink(path);
}

static void test_auth_off(void)
{
    if (api_start(NULL, NULL)) return;
    check_begin("auth_off");
    CHECK(call("POST", "/forward", NULL, req_body, NULL) == 200, "no token needed");
    CHECK(call("POST", "/forward", "Authorization: Bearer anything", req_body, NULL) == 200,
          "a token is ignored");
    CHECK(call("GET", "/metrics", NULL, NULL, NULL) == 200, "metrics open");
    check_end();
    api_stop();
}

/* --cors-origins: an allowed origin is echoed with Vary: Origin; another
 * gets no Allow-Origin (the browser then hides the answer). */
static void test_cors_allow_list(void)
{
    const char *args[] = {"--cors-origins", "https://a.example,https://b.example", NULL};
    if (api_start(args, NULL)) return;
    check_begin("cors_allow_list");
    const char *origins[] = {"https://a.example", "https://b.example", "https://evil.example"};
    for (int i = 0; i < 3; i++) {
        char o[100];
        snprintf(o, sizeof o, "Origin: %s", origins[i]);
        const char *pre[] = {o, "Access-Control-Request-Method: POST", NULL};
        const char *post[] = {o, NULL};
        http_response r;
        json_decref(api_call(NULL, "OPTIONS", "/gradients", pre, NULL, 0, 204, &r));
        const char *acao = http_header_get(&r, "Access-Control-Allow-Origin");
        const char *vary = http_header_get(&r, "Vary");
        if (i < 2) {
            CHECK(acao && !strcmp(acao, origins[i]), "preflight %s: Allow-Origin %s", origins[i],
                  acao ? acao : "(none)");
            CHECK(vary && strcasestr(vary, "origin"), "preflight %s: Vary %s", origins[i],
                  vary ? vary : "(none)");
        } else {
            CHECK(!acao, "preflight %s allowed: %s", origins[i], acao);
        }
        http_response_free(&r);
        json_decref(api_call(NULL, "POST", "/gradients", post, "{", 1, 400, &r));
        acao = http_header_get(&r, "Access-Control-Allow-Origin");
        if (i < 2)
            CHECK(acao && !strcmp(acao, origins[i]), "400 for %s: Allow-Origin %s", origins[i],
                  acao ? acao : "(none)");
        else
            CHECK(!acao, "400 for %s: allowed", origins[i]);
        http_response_free(&r);
    }
    check_end();
    api_stop();
}

int main(void)
{
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    test_token_from_env();
    test_token_from_file();
    test_auth_off();
    test_cors_allow_list();
    api_check_all_responses_valid();
    schema_free(api_schema);
    return CHECK_DONE();
}
