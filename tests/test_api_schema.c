/* Tests of the contract checker itself (tests/lib/schema.c): the YAML
 * reader, and bodies, content types and headers that must pass or fail
 * against openapi.yaml. No server is needed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "lib/schema.h"

static schema *S;

static int valid(const char *ref, const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &je);
    if (!j) {
        printf("  bad JSON in test: %s: %s\n", json, je.text);
        return -1;
    }
    char err[600];
    int rc = schema_validate_ref(S, ref, j, err, sizeof err);
    json_decref(j);
    return rc == 0;
}

#define PASSES(ref, json) CHECK(valid(ref, json) == 1, "%s should accept %s", ref, json)
#define FAILS(ref, json) CHECK(valid(ref, json) == 0, "%s should reject %s", ref, json)

static void test_yaml_scalars(void)
{
    const char *y = "a: 1\nb: 1.5\nc: 1.0e-6\nd: true\ne: null\nf: '200'\ng: 0.1.0\nh: \"x: y\"\n"
                    "i: [1, two, 3.0]\nj: {k: v}\nk: |\n  line\nl: -7\nm: ~\nn: False\n";
    char err[200];
    json_t *j = schema_yaml_to_json(y, strlen(y), err, sizeof err);
    CHECK(j != NULL, "yaml: %s", err);
    if (!j) return;
    CHECK(json_is_integer(json_object_get(j, "a")) && json_integer_value(json_object_get(j, "a")) == 1, "a");
    CHECK(json_is_real(json_object_get(j, "b")) && json_real_value(json_object_get(j, "b")) == 1.5, "b");
    CHECK(json_real_value(json_object_get(j, "c")) == 1e-6, "c");
    CHECK(json_is_true(json_object_get(j, "d")), "d");
    CHECK(json_is_null(json_object_get(j, "e")), "e");
    CHECK(json_is_string(json_object_get(j, "f")) && !strcmp(json_string_value(json_object_get(j, "f")), "200"), "f");
    CHECK(json_is_string(json_object_get(j, "g")), "g");
    CHECK(!strcmp(json_string_value(json_object_get(j, "h")), "x: y"), "h");
    json_t *i = json_object_get(j, "i");
    CHECK(json_array_size(i) == 3 && json_is_string(json_array_get(i, 1)) &&
              json_is_real(json_array_get(i, 2)), "i");
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "j"), "k")), "v"), "j");
    CHECK(!strcmp(json_string_value(json_object_get(j, "k")), "line\n"), "k");
    CHECK(json_integer_value(json_object_get(j, "l")) == -7, "l");
    CHECK(json_is_null(json_object_get(j, "m")), "m");
    CHECK(json_is_false(json_object_get(j, "n")), "n");
    json_decref(j);
    const char *bad = "a: [1, 2\nb: 3\n";
    j = schema_yaml_to_json(bad, strlen(bad), err, sizeof err);
    CHECK(j == NULL && strstr(err, "line"), "bad YAML accepted (%s)", err);
    json_decref(j);
    const char *dup = "a: 1\na: 2\n";
    j = schema_yaml_to_json(dup, strlen(dup), err, sizeof err);
    CHECK(j == NULL, "duplicate key accepted");
    json_decref(j);
}

static void test_document(void)
{
    json_t *doc = schema_doc(S);
    CHECK(!strcmp(json_string_value(json_object_get(doc, "openapi")), "3.1.0"), "openapi version");
    const char *routes[] = {"/forward", "/gradients", "/train", "/gradcheck", "/health/live",
                            "/health/ready", "/metrics", "/openapi.yaml"};
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < 8; i++) {
        json_t *item = json_object_get(paths, routes[i]);
        CHECK(item != NULL, "%s missing", routes[i]);
        CHECK(json_object_get(item, "options") != NULL, "%s: no OPTIONS", routes[i]);
        CHECK(json_object_get(item, i < 4 ? "post" : "get") != NULL, "%s: no operation", routes[i]);
    }
    CHECK(schema_resolve(S, "#/components/schemas/Problem") != NULL, "Problem");
    CHECK(schema_resolve(S, "#/components/schemas/Nope") == NULL, "Nope resolved");
    CHECK(schema_resolve(S, "#/paths/~1forward/post") != NULL, "~1 escapes");
}

#define R(x) "#/components/schemas/" x

static void test_tensors(void)
{
    PASSES(R("Tensor"), "[[0.1, 2], [3, 4]]");
    PASSES(R("Tensor"), "[1, 2, 3]");
    PASSES(R("Tensor"), "{\"shape\": [2, 2], \"data\": [0.1, 2, 3, 4]}");
    PASSES(R("Tensor"), "{\"shape\": [2], \"dtype\": \"float32\", \"b64\": \"AACAPwAAAEA=\"}");
    FAILS(R("Tensor"), "\"1,2\"");
    FAILS(R("Tensor"), "[[1, \"a\"]]");
    FAILS(R("Tensor"), "[[1, null]]");
    FAILS(R("Tensor"), "{\"shape\": [2, 2]}");
    FAILS(R("Tensor"), "{\"shape\": [-2], \"data\": [1]}");
    FAILS(R("Tensor"), "{\"shape\": [1.5], \"data\": [1]}");
    FAILS(R("Tensor"), "{\"shape\": [2], \"data\": [1, \"x\"]}");
    FAILS(R("Tensor"), "{\"shape\": [2], \"data\": [1, 2], \"extra\": 1}");
    FAILS(R("Tensor"), "{\"shape\": [2], \"dtype\": \"float16\", \"b64\": \"AACAPwAAAEA=\"}");
    FAILS(R("Tensor"), "{\"shape\": [2], \"dtype\": \"float32\", \"b64\": \"AA*APwAAAEA=\"}");
    FAILS(R("Tensor"), "{\"shape\": [2], \"dtype\": \"float32\"}");
    FAILS(R("Tensor"), "{\"shape\": [2], \"dtype\": \"float32\", \"b64\": \"AACAPwAAAEA=\", \"data\": [1, 2]}");
    FAILS(R("Tensor"), "{\"shape\": [], \"data\": []}");
    PASSES(R("Targets"), "[0, 2, 1]");
    PASSES(R("Targets"), "[[0.5], [1]]");
    FAILS(R("Targets"), "\"x\"");
}

static void test_responses(void)
{
    PASSES(R("ForwardResponse"), "{\"outputs\": [[0.5]], \"loss\": 0.7}");
    FAILS(R("ForwardResponse"), "{\"loss\": 0.7}");
    FAILS(R("ForwardResponse"), "{\"outputs\": [[0.5]], \"losses\": 0.7}");
    FAILS(R("ForwardResponse"), "{\"outputs\": \"[[0.5]]\"}");
    FAILS(R("ForwardResponse"), "{\"outputs\": [[0.5]], \"loss\": \"0.7\"}");
    FAILS(R("ForwardResponse"), "{\"outputs\": [[0.5]], \"params\": [{\"weight\": [[1]]}]}");
    PASSES(R("GradientsResponse"), "{\"loss\": 1, \"gradients\": [{\"weight\": [[1]], \"bias\": [0]}]}");
    FAILS(R("GradientsResponse"), "{\"loss\": 1}");
    FAILS(R("GradientsResponse"), "{\"loss\": null, \"gradients\": []}");
    FAILS(R("GradientsResponse"), "{\"loss\": 1, \"gradients\": [], \"deltas\": [[[1]], 5]}");
    PASSES(R("TrainResponse"), "{\"params\": [], \"optimizer_state\": {\"step\": 2, \"buffers\": {}},"
                               " \"loss_history\": [1, 0.5], \"steps\": 2.0}");
    FAILS(R("TrainResponse"), "{\"params\": [], \"optimizer_state\": {\"step\": 2, \"buffers\": {}},"
                              " \"loss_history\": [1, 0.5], \"steps\": 1.5}");
    FAILS(R("TrainResponse"), "{\"params\": [], \"optimizer_state\": {\"step\": 2, \"buffers\": "
                              "{\"velocity\": []}}, \"loss_history\": [], \"steps\": 0}");
    FAILS(R("TrainResponse"), "{\"params\": [], \"optimizer_state\": {\"step\": -1, \"buffers\": {}},"
                              " \"loss_history\": [], \"steps\": 0}");
    FAILS(R("TrainResponse"), "{\"params\": [], \"loss_history\": [], \"steps\": 0}");
    PASSES(R("GradcheckResponse"), "{\"loss\": 1, \"passed\": true, \"tolerance\": {\"atol\": 1e-6, \"rtol\": 1e-5}, \"tensors\": "
                                   "[{\"layer\": 0, \"name\": \"bias\", \"max_abs_error\": 0, "
                                   "\"max_rel_error\": 0, \"worst_index\": 0, \"checked\": 3, \"passed\": true}]}");
    FAILS(R("GradcheckResponse"), "{\"loss\": 1, \"passed\": \"yes\", \"tolerance\": {\"atol\": 1e-6, \"rtol\": 1e-5}, \"tensors\": []}");
    FAILS(R("GradcheckResponse"), "{\"loss\": 1, \"passed\": true, \"tolerance\": {\"atol\": 1e-6, \"rtol\": 1e-5}, \"tensors\": "
                                  "[{\"layer\": 0, \"name\": \"gamma\", \"max_abs_error\": 0, "
                                  "\"max_rel_error\": 0, \"worst_index\": 0, \"checked\": 3, \"passed\": true}]}");
    FAILS(R("GradcheckResponse"), "{\"loss\": 1, \"passed\": true, \"tolerance\": {\"atol\": 1e-6, \"rtol\": 1e-5}, \"tensors\": "
                                  "[{\"layer\": 0, \"name\": \"bias\", \"max_abs_error\": -1, "
                                  "\"max_rel_error\": 0, \"worst_index\": 0, \"checked\": 3, \"passed\": true}]}");
    PASSES(R("HealthLive"), "{\"status\": \"live\"}");
    FAILS(R("HealthLive"), "{\"status\": \"ready\"}");
    FAILS(R("HealthReady"), "{}");
    PASSES(R("Problem"), "{\"type\": \"https://gradserve.dev/problems/invalid-request\", \"title\": \"t\","
                         " \"status\": 400, \"detail\": \"d\", \"errors\": [{\"pointer\": \"/a\", \"detail\": \"x\"}]}");
    FAILS(R("Problem"), "{\"type\": \"about:blank\", \"title\": \"t\", \"status\": 400, \"detail\": \"d\"}");
    FAILS(R("Problem"), "{\"type\": \"https://gradserve.dev/problems/x\", \"title\": \"t\", \"status\": 200, \"detail\": \"d\"}");
    FAILS(R("Problem"), "{\"type\": \"https://gradserve.dev/problems/x\", \"title\": \"t\", \"status\": 400}");
    FAILS(R("Problem"), "{\"type\": \"https://gradserve.dev/problems/x\", \"title\": \"t\", \"status\": 400,"
                        " \"detail\": \"d\", \"errors\": [{\"detail\": \"x\"}]}");
    FAILS(R("Problem"), "{\"type\": \"https://gradserve.dev/problems/x\", \"title\": \"t\", \"status\": 400,"
                        " \"detail\": \"d\", \"step\": -2}");
}

static void test_requests(void)
{
    PASSES(R("Optimizer"), "{\"name\": \"sgd\", \"momentum\": 0.9, \"nesterov\": true}");
    PASSES(R("Optimizer"), "{\"name\": \"adamw\", \"betas\": [0.9, 0.99]}");
    FAILS(R("Optimizer"), "{\"name\": \"sgd\", \"betas\": [0.9, 0.99]}");
    FAILS(R("Optimizer"), "{\"name\": \"adam\", \"betas\": [0.9, 0.99, 0.5]}");
    FAILS(R("Optimizer"), "{\"name\": \"adam\", \"betas\": [0.9, 1.0]}");
    FAILS(R("Optimizer"), "{\"name\": \"rmsprop\", \"amsgrad\": true}");
    FAILS(R("Optimizer"), "{\"name\": \"lbfgs\"}");
    FAILS(R("Optimizer"), "{\"lr\": 0.1}");
    PASSES(R("Network"), "{\"inputs\": 2, \"layers\": [{\"units\": 1, \"activation\": \"relu\"}]}");
    FAILS(R("Network"), "{\"inputs\": 0, \"layers\": [{\"units\": 1, \"activation\": \"relu\"}]}");
    FAILS(R("Network"), "{\"inputs\": 2, \"layers\": []}");
    FAILS(R("Network"), "{\"inputs\": 2, \"layers\": [{\"units\": 1, \"activation\": \"swish\"}]}");
    FAILS(R("Network"), "{\"inputs\": 2, \"layers\": [{\"units\": 1, \"activation\": \"relu\"}], \"huber_delta\": 0}");
}

static const char *hdr_none(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return NULL;
}

/* ctx: "Name: value\n..." */
static const char *hdr_list(void *ctx, const char *name)
{
    static char buf[256];
    const char *p = ctx;
    size_t n = strlen(name);
    while (p && *p) {
        if (!strncasecmp(p, name, n) && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ') v++;
            size_t l = strcspn(v, "\n");
            snprintf(buf, sizeof buf, "%.*s", (int)l, v);
            return buf;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return NULL;
}

static int resp_ok(const char *method, const char *path, long status, const char *ct,
                   const char *body, const char *headers)
{
    char err[600];
    return schema_check_response(S, method, path, status, ct, body, body ? strlen(body) : 0,
                                 headers ? hdr_list : hdr_none, (void *)headers, err,
                                 sizeof err) == 0;
}

static void test_check_response(void)
{
    const char *problem400 = "{\"type\":\"https://gradserve.dev/problems/invalid-request\","
                             "\"title\":\"t\",\"status\":400,\"detail\":\"d\"}";
    const char *ok = "{\"outputs\":[[1]]}";
    CHECK(resp_ok("POST", "/forward", 200, "application/json", ok, ""), "valid forward");
    CHECK(resp_ok("POST", "/forward?x=1", 200, "application/json; charset=utf-8", ok, ""),
          "query string and charset");
    CHECK(!resp_ok("POST", "/forward", 200, "text/html", ok, ""), "wrong content type");
    CHECK(!resp_ok("POST", "/forward", 200, NULL, ok, ""), "no content type");
    CHECK(!resp_ok("POST", "/forward", 200, "application/json", "{\"outputs\":", ""), "not JSON");
    CHECK(!resp_ok("POST", "/forward", 200, "application/json", "{}", ""), "schema violation");
    CHECK(!resp_ok("POST", "/forward", 418, "application/problem+json", problem400, ""),
          "undocumented status");
    CHECK(resp_ok("POST", "/forward", 400, "application/problem+json", problem400, ""), "400");
    CHECK(!resp_ok("POST", "/forward", 400, "application/json", problem400, ""),
          "400 as application/json");
    CHECK(!resp_ok("POST", "/forward", 422, "application/problem+json", problem400, ""),
          "status member differs from HTTP status");
    const char *p401 = "{\"type\":\"https://gradserve.dev/problems/unauthorized\",\"title\":\"t\","
                       "\"status\":401,\"detail\":\"d\"}";
    CHECK(resp_ok("POST", "/train", 401, "application/problem+json", p401,
                  "WWW-Authenticate: Bearer\n"), "401 with challenge");
    CHECK(!resp_ok("POST", "/train", 401, "application/problem+json", p401, ""),
          "401 without WWW-Authenticate");
    const char *p503 = "{\"type\":\"https://gradserve.dev/problems/saturated\",\"title\":\"t\","
                       "\"status\":503,\"detail\":\"d\"}";
    CHECK(resp_ok("POST", "/gradients", 503, "application/problem+json", p503, "Retry-After: 1\n"),
          "503 with Retry-After");
    CHECK(!resp_ok("POST", "/gradients", 503, "application/problem+json", p503,
                   "Retry-After: soon\n"), "Retry-After not an integer");
    CHECK(!resp_ok("POST", "/gradients", 503, "application/problem+json", p503, ""),
          "503 without Retry-After");
    CHECK(!resp_ok("GET", "/health/live", 200, "application/json", "{\"status\":\"live\"}",
                   "X-Request-Id: <bad id>\n"), "X-Request-Id pattern");
    CHECK(resp_ok("OPTIONS", "/forward", 204, NULL, NULL, "Allow: POST, OPTIONS\n"), "preflight");
    CHECK(!resp_ok("OPTIONS", "/forward", 204, NULL, "x", "Allow: POST, OPTIONS\n"),
          "204 with a body");
    const char *p404 = "{\"type\":\"https://gradserve.dev/problems/not-found\",\"title\":\"t\","
                       "\"status\":404,\"detail\":\"d\"}";
    CHECK(resp_ok("GET", "/nope", 404, "application/problem+json", p404, ""), "404");
    CHECK(!resp_ok("GET", "/nope", 200, "application/json", "{}", ""), "200 on an unknown path");
    const char *p405 = "{\"type\":\"https://gradserve.dev/problems/method-not-allowed\",\"title\":"
                       "\"t\",\"status\":405,\"detail\":\"d\"}";
    CHECK(resp_ok("GET", "/forward", 405, "application/problem+json", p405, "Allow: POST\n"), "405");
    CHECK(!resp_ok("GET", "/forward", 405, "application/problem+json", p405, ""), "405 without Allow");
    CHECK(resp_ok("GET", "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8", "x 1\n", ""),
          "metrics");
    CHECK(!resp_ok("GET", "/metrics", 200, "text/plain", "x 1\n", ""), "metrics without version");
    CHECK(resp_ok("GET", "/openapi.yaml", 200, "application/yaml", "openapi: 3.1.0\n", ""), "yaml");
}

/* ECMA-262 meaning of "pattern" through the ERE translation: each row is what
 * JavaScript's new RegExp(pattern, "u").test(text) answers (node 20). */
static void test_patterns(void)
{
    static const struct {
        const char *pattern, *text;
        bool match;
    } rows[] = {
        {"^a.c$", "a\nc", false},         /* "." is no line terminator */
        {"^a.c$", "a\xCF\x80" "c", true},  /* a code point, not a byte: "aπc" */
        {"^a.c$", "a\xE2\x80\xA8" "c", false}, /* U+2028 is a line terminator */
        {"^.{2}$", "\xF0\x9F\x98\x80x", true}, /* "😀x": two characters */
        {"^[^a]$", "\xF0\x9F\x98\x80", true},
        {"^(?:ab)+$", "abab", true},
        {"^(?:ab)+$", "aba", false},
        {"^a+?$", "aaa", true},           /* lazy matches what greedy does */
        {"^[\\d.]+$", "1.5", true},
        {"^[\\d.]+$", "1,5", false},
        {"^\\w{2}$", "\xC3\xA9" "1", false}, /* \w is ASCII: "é1" */
        {"^\\w{2}$", "_1", true},
        {"a\\/b", "a/b", true},
        {"^\\$\\d$", "$5", true},
        {"b", "abc", true},               /* not anchored */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *root = json_pack("{ss}", "pattern", rows[i].pattern);
        char err[400] = "";
        schema *s = schema_from_json(root, err, sizeof err);
        CHECK(s != NULL, "%s refused: %s", rows[i].pattern, err);
        if (s) {
            json_t *text = json_string(rows[i].text);
            int rc = schema_validate_ref(s, "#", text, err, sizeof err);
            CHECK((rc == 0) == rows[i].match, "/%s/u.test(%s) should be %d", rows[i].pattern,
                  rows[i].text, rows[i].match);
            json_decref(text);
        }
        schema_free(s);
        json_decref(root);
    }
}

/* A schema (as JSON text) the load-time checks must refuse, the reason naming `want`. */
static void refused(const char *schema_json, const char *want)
{
    json_error_t je;
    json_t *j = json_loads(schema_json, 0, &je);
    CHECK(j != NULL, "bad JSON in test: %s", je.text);
    if (!j) return;
    char err[400] = "";
    schema *s = schema_from_json(j, err, sizeof err);
    CHECK(s == NULL, "%s accepted", schema_json);
    CHECK(strstr(err, want) != NULL, "%s: reason '%s' does not name %s", schema_json, err, want);
    schema_free(s);
    json_decref(j);
}

static void test_unsupported_keyword(void)
{
    refused("{\"type\": \"string\", \"fooBar\": 1}", "'fooBar'");
    /* in a branch no instance reaches, and behind a $ref */
    refused("{\"anyOf\": [true, {\"not\": {}}]}", "'not'");
    refused("{\"$ref\": \"#/$defs/a\", \"$defs\": {\"a\": {\"multipleOf\": 2}}}", "'multipleOf'");
    refused("{\"properties\": {\"a/b\": {\"if\": true}}}", "/properties/a~1b");
    /* keyword values of the wrong kind */
    refused("{\"minLength\": -1}", "minLength");
    refused("{\"type\": \"float\"}", "type");
    refused("{\"anyOf\": []}", "anyOf");
    /* what draft 2020-12 allows but this validator does not implement */
    refused("{\"$ref\": \"http://example.com/s.json\"}", "$ref");
    refused("{\"$ref\": \"#/$defs/missing\"}", "does not resolve");
    refused("{\"$schema\": \"http://json-schema.org/draft-07/schema#\"}", "$schema");
    refused("{\"pattern\": \"^\\\\p{L}+$\"}", "\\p");
    refused("{\"pattern\": \"(?=a)\"}", "(?=");
    refused("{\"pattern\": \"[[:alpha:]]\"}", "[:");

    /* a whole OpenAPI document: a component no path uses is still checked */
    json_t *doc = json_pack("{ss s{s{s{ss si}}}}", "openapi", "3.1.0", "components", "schemas",
                            "Unused", "type", "string", "minContains", 1);
    char err[400] = "";
    schema *s = schema_from_openapi(doc, err, sizeof err);
    CHECK(s == NULL && strstr(err, "'minContains'") && strstr(err, "/components/schemas/Unused"),
          "unused component not refused: %s", err);
    schema_free(s);
    json_object_set_new(doc, "openapi", json_string("3.0.3"));
    json_object_del(json_object_get(json_object_get(doc, "components"), "schemas"), "Unused");
    s = schema_from_openapi(doc, err, sizeof err);
    CHECK(s == NULL && strstr(err, "3.0.3"), "OpenAPI 3.0 (another schema dialect) accepted: %s", err);
    schema_free(s);
    json_decref(doc);

    /* validation starts only at a schema loading checked */
    json_t *inst = json_string("x");
    CHECK(schema_validate_ref(S, "#/paths/~1forward/post", inst, err, sizeof err) != 0,
          "an operation object validated as a schema");
    json_t *adhoc = json_pack("{sssi}", "type", "string", "fooBar", 1);
    CHECK(schema_validate(S, adhoc, inst, err, sizeof err) != 0 && strstr(err, "not a schema"),
          "a schema from outside the document validated: %s", err);
    json_decref(adhoc);
    json_decref(inst);
}

int main(void)
{
    char err[300];
    S = schema_load("openapi.yaml", err, sizeof err);
    check_begin("load_openapi");
    CHECK(S != NULL, "%s", err);
    check_end();
    if (!S) return CHECK_DONE();
    RUN(test_yaml_scalars);
    RUN(test_document);
    RUN(test_tensors);
    RUN(test_responses);
    RUN(test_requests);
    RUN(test_check_response);
    RUN(test_patterns);
    RUN(test_unsupported_keyword);
    schema_free(S);
    return CHECK_DONE();
}
