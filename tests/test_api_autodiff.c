/* API tests of POST /autodiff: the tape and the reverse sweep over HTTP
 * against the chain rule derived by hand, errors with positions and nodes,
 * the expression limits, and every response checked against openapi.yaml. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/apitest.h"

static json_t *autodiff(const char *expr, const char *at_json, long want)
{
    json_t *req = json_object();
    json_object_set_new(req, "expression", json_string(expr));
    if (at_json) json_object_set_new(req, "at", json_loads(at_json, 0, NULL));
    return api_post_new("/autodiff", req, want);
}

static double num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static json_t *node(const json_t *resp, size_t i)
{
    return json_array_get(json_object_get(resp, "tape"), i);
}

/* What every answer must satisfy whatever the expression: the tape is in
 * topological order with its text at its span; every event is
 * adjoint(from) x partial added to the node's running adjoint; the final
 * adjoints are the nodes' and the variables' adjoints are the gradient. */
static void check_invariants(const json_t *resp, const char *expr, const char *what)
{
    json_t *tape = json_object_get(resp, "tape"), *rev = json_object_get(resp, "reverse");
    size_t n = json_array_size(tape);
    CHECK(n > 0, "%s: empty tape", what);
    CHECK(json_integer_value(json_object_get(resp, "output")) == (json_int_t)n - 1,
          "%s: output is not the last node", what);
    double *running = calloc(n + 1, sizeof *running);
    for (size_t i = 0; i < n; i++) {
        json_t *nd = json_array_get(tape, i), *in = json_object_get(nd, "inputs");
        CHECK(json_integer_value(json_object_get(nd, "id")) == (json_int_t)i, "%s: id %zu", what,
              i);
        for (size_t k = 0; k < json_array_size(in); k++)
            CHECK(json_integer_value(json_array_get(in, k)) < (json_int_t)i,
                  "%s: node %zu uses a later node", what, i);
        CHECK(json_array_size(json_object_get(nd, "partials")) == json_array_size(in),
              "%s: node %zu: one partial per input", what, i);
        json_t *span = json_object_get(nd, "span");
        size_t b = (size_t)json_integer_value(json_array_get(span, 0));
        size_t e = (size_t)json_integer_value(json_array_get(span, 1));
        const char *text = json_string_value(json_object_get(nd, "text"));
        CHECK(b <= e && e <= strlen(expr) && text && strlen(text) == e - b &&
                  !strncmp(expr + b, text, e - b),
              "%s: node %zu: text '%s' is not expression[%zu, %zu)", what, i, text ? text : "",
              b, e);
    }
    size_t ne = json_array_size(rev);
    for (size_t k = 0; k < ne; k++) {
        json_t *ev = json_array_get(rev, k);
        size_t to = (size_t)json_integer_value(json_object_get(ev, "node"));
        json_t *from = json_object_get(ev, "from");
        if (to >= n) {
            CHECK(0, "%s: event %zu names node %zu", what, k, to);
            continue;
        }
        double contrib = num(ev, "contribution");
        if (k == 0) {
            CHECK(json_is_null(from) && to == n - 1 && contrib == 1,
                  "%s: the first event is not the seed of the output", what);
        } else {
            size_t f = (size_t)json_integer_value(from);
            size_t slot = (size_t)json_integer_value(json_object_get(ev, "slot"));
            json_t *fn = json_array_get(tape, f);
            CHECK(json_is_integer(from) && f < n && f > to, "%s: event %zu from %zu", what, k, f);
            CHECK(json_integer_value(json_array_get(json_object_get(fn, "inputs"), slot)) ==
                      (json_int_t)to,
                  "%s: event %zu: node %zu is not input %zu of %zu", what, k, to, slot, f);
            CHECK(num(ev, "partial") ==
                      json_number_value(json_array_get(json_object_get(fn, "partials"), slot)),
                  "%s: event %zu: partial is not the tape's", what, k);
            /* the parent's adjoint is final before its first event */
            CHECK_CLOSE(contrib, running[f] * num(ev, "partial"), 1e-15, what);
        }
        running[to] += contrib;
        CHECK_CLOSE(num(ev, "adjoint"), running[to], 1e-15, what);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *nd = json_array_get(tape, i);
        CHECK_CLOSE(num(nd, "adjoint"), running[i], 1e-15, what);
        if (!strcmp(json_string_value(json_object_get(nd, "op")), "var")) {
            const char *name = json_string_value(json_object_get(nd, "name"));
            CHECK_CLOSE(num(json_object_get(resp, "gradient"), name), running[i], 1e-15, what);
            CHECK_CLOSE(num(json_object_get(resp, "forward_gradient"), name), running[i], 1e-12,
                        what);
        }
    }
    free(running);
}

/* d/dx exp(sin(x^2)) = exp(sin(x^2)) * cos(x^2) * 2x, read off the tape. */
static void test_chain_rule_exp_sin_x2(void)
{
    const char *expr = "exp(sin(x^2))";
    double x = 1.5, u = x * x, want = exp(sin(u)) * cos(u) * 2 * x;
    json_t *r = autodiff(expr, "{\"x\": 1.5}", 200);
    if (!r) return;
    check_invariants(r, expr, "exp(sin(x^2))");
    CHECK_CLOSE(num(r, "value"), exp(sin(u)), 1e-15, "value");
    CHECK_CLOSE(num(json_object_get(r, "gradient"), "x"), want, 1e-14, "gradient");
    CHECK_CLOSE(num(json_object_get(r, "forward_gradient"), "x"), want, 1e-14,
                "forward gradient");
    json_t *sw = json_object_get(r, "sweeps");
    CHECK(num(sw, "inputs") == 1 && num(sw, "outputs") == 1 && num(sw, "forward") == 1 &&
              num(sw, "reverse") == 1,
          "sweeps");
    /* the tape: x, 2, x^2, sin, exp */
    const char *ops[] = {"var", "const", "pow", "sin", "exp"};
    CHECK(json_array_size(json_object_get(r, "tape")) == 5, "%zu nodes",
          json_array_size(json_object_get(r, "tape")));
    for (size_t i = 0; i < 5; i++) {
        const char *op = json_string_value(json_object_get(node(r, i), "op"));
        CHECK(op && !strcmp(op, ops[i]), "node %zu is %s, want %s", i, op ? op : "?", ops[i]);
    }
    CHECK(!strcmp(json_string_value(json_object_get(node(r, 2), "symbol")), "^"), "symbol ^");
    CHECK(!strcmp(json_string_value(json_object_get(node(r, 3), "text")), "sin(x^2)"), "text");
    /* local partials: d(x^2)/dx = 2x, d sin(u)/du = cos u, d exp(v)/dv = exp v */
    double p_pow = json_number_value(json_array_get(json_object_get(node(r, 2), "partials"), 0));
    double p_sin = json_number_value(json_array_get(json_object_get(node(r, 3), "partials"), 0));
    double p_exp = json_number_value(json_array_get(json_object_get(node(r, 4), "partials"), 0));
    CHECK_CLOSE(p_pow, 2 * x, 1e-15, "d x^2 / dx");
    CHECK_CLOSE(p_sin, cos(u), 1e-15, "d sin u / du");
    CHECK_CLOSE(p_exp, exp(sin(u)), 1e-15, "d exp v / dv");
    CHECK(json_is_false(json_object_get(node(r, 1), "depends")) &&
              num(node(r, 1), "constant") == 2,
          "the constant 2");
    /* the reverse sweep: seed, then down the chain, one event per link */
    json_t *rev = json_object_get(r, "reverse");
    size_t want_nodes[] = {4, 3, 2, 0};
    CHECK(json_array_size(rev) == 4, "%zu events", json_array_size(rev));
    double product = 1;
    for (size_t k = 0; k < 4 && k < json_array_size(rev); k++) {
        json_t *ev = json_array_get(rev, k);
        CHECK(json_integer_value(json_object_get(ev, "node")) == (json_int_t)want_nodes[k],
              "event %zu on node %lld", k, (long long)json_integer_value(json_object_get(ev, "node")));
        product *= num(ev, "partial");
    }
    CHECK_CLOSE(product, p_exp * p_sin * p_pow, 1e-15, "chain product");
    CHECK_CLOSE(product, want, 1e-14, "chain product = 2x cos(x^2) exp(sin(x^2))");
    json_decref(r);
}

/* x*y + sin(x): x is one node used twice, so its adjoint adds y + cos(x). */
static void test_multi_variable_adjoints_add(void)
{
    const char *expr = "x*y + sin(x)";
    double x = 2, y = 3;
    json_t *r = autodiff(expr, "{\"x\": 2, \"y\": 3}", 200);
    if (!r) return;
    check_invariants(r, expr, expr);
    CHECK_CLOSE(num(r, "value"), x * y + sin(x), 1e-15, "value");
    json_t *g = json_object_get(r, "gradient");
    CHECK_CLOSE(num(g, "x"), y + cos(x), 1e-15, "df/dx");
    CHECK_CLOSE(num(g, "y"), x, 1e-15, "df/dy");
    CHECK(json_object_size(g) == 2, "gradient has %zu entries", json_object_size(g));
    json_t *sw = json_object_get(r, "sweeps");
    CHECK(num(sw, "inputs") == 2 && num(sw, "forward") == 2 && num(sw, "reverse") == 1,
          "two inputs: forward mode needs 2 sweeps, reverse 1");
    /* x's node gets two events whose contributions are y and cos(x) */
    size_t xnode = 99;
    json_t *tape = json_object_get(r, "tape");
    for (size_t i = 0; i < json_array_size(tape); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(tape, i), "name"));
        if (name && !strcmp(name, "x")) {
            CHECK(xnode == 99, "x appears as two nodes");
            xnode = i;
        }
    }
    json_t *rev = json_object_get(r, "reverse");
    int events = 0;
    double sum = 0, c[2] = {0, 0};
    for (size_t k = 0; k < json_array_size(rev); k++) {
        json_t *ev = json_array_get(rev, k);
        if ((size_t)json_integer_value(json_object_get(ev, "node")) != xnode) continue;
        if (events < 2) c[events] = num(ev, "contribution");
        events++;
        sum += num(ev, "contribution");
        if (events == 1) CHECK(num(ev, "adjoint") == num(ev, "contribution"), "first event");
        if (events == 2) CHECK_CLOSE(num(ev, "adjoint"), y + cos(x), 1e-15, "accumulated");
    }
    CHECK(events == 2, "%d events on x, want 2", events);
    CHECK((check_close(c[0], y, 1e-15) && check_close(c[1], cos(x), 1e-15)) ||
              (check_close(c[1], y, 1e-15) && check_close(c[0], cos(x), 1e-15)),
          "contributions %g, %g are not y and cos(x)", c[0], c[1]);
    CHECK_CLOSE(sum, y + cos(x), 1e-15, "sum of contributions");
    json_decref(r);
}

/* More shapes: constants only, unary minus, pi, a shared variable deep down. */
static void test_more_expressions(void)
{
    static const struct {
        const char *expr, *at;
        double value, dx;
    } C[] = {
        {"3", NULL, 3, NAN},
        {"-x^2", "{\"x\": 3}", -9, -6},
        {"sin(pi*x)", "{\"x\": 0.25}", 0.70710678118654757, 2.2214414690791831},
        {"x/(1+x)", "{\"x\": 1}", 0.5, 0.25},
        {"sigmoid(x) + tanh(x) + relu(x) + abs(x)", "{\"x\": -0.5}", 0, 0},
        {"sqrt(x) * log(x) + e^x", "{\"x\": 4}", 0, 0},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        json_t *r = autodiff(C[i].expr, C[i].at, 200);
        if (!r) continue;
        check_invariants(r, C[i].expr, C[i].expr);
        if (C[i].value != 0) CHECK_CLOSE(num(r, "value"), C[i].value, 1e-14, C[i].expr);
        if (!isnan(C[i].dx) && C[i].dx != 0)
            CHECK_CLOSE(num(json_object_get(r, "gradient"), "x"), C[i].dx, 1e-14, C[i].expr);
        if (!C[i].at)
            CHECK(json_array_size(json_object_get(r, "reverse")) == 0 &&
                      json_object_size(json_object_get(r, "gradient")) == 0,
                  "a constant has no sweep");
        json_decref(r);
    }
    /* sigmoid'(x) + tanh'(x) + relu'(x) + abs'(x) at -0.5 */
    json_t *r = autodiff("sigmoid(x) + tanh(x) + relu(x) + abs(x)", "{\"x\": -0.5}", 200);
    double s = 1 / (1 + exp(0.5)), t = tanh(-0.5);
    CHECK_CLOSE(num(json_object_get(r, "gradient"), "x"), s * (1 - s) + (1 - t * t) + 0 - 1,
                1e-14, "activations' derivatives");
    json_decref(r);
}

static void test_syntax_errors_with_positions(void)
{
    static const struct {
        const char *expr;
        size_t position;
    } C[] = {
        {"exp(sin(x^2)", 12}, {"x + * y", 4}, {"sin x", 4}, {"x $ y", 2},
        {"", 0},              {"x)", 1},      {"foo(x)", 0}, {"x y", 2},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        json_t *p = autodiff(C[i].expr, "{\"x\": 1, \"y\": 2}", 400);
        api_check_problem(p, 400, "/expression", C[i].expr);
        json_t *pos = json_object_get(p, "position");
        CHECK(json_is_integer(pos) && json_integer_value(pos) == (json_int_t)C[i].position,
              "'%s': position %lld, want %zu", C[i].expr, (long long)json_integer_value(pos),
              C[i].position);
        json_t *e0 = json_array_get(json_object_get(p, "errors"), 0);
        const char *detail = json_string_value(json_object_get(e0, "detail"));
        CHECK(detail && *detail, "'%s': no detail", C[i].expr);
        json_decref(p);
    }
    /* malformed JSON is the usual 400 */
    json_t *p = api_post_text("/autodiff", "{\"expression\": ", 400);
    CHECK(!strcmp(api_problem_slug(p), "malformed-json"), "malformed: %s", api_problem_slug(p));
    json_decref(p);
}

static void test_domain_error_names_node(void)
{
    static const struct {
        const char *expr, *at, *op;
        size_t node, position;
    } C[] = {
        {"log(x-3)", "{\"x\": 1}", "log", 3, 0},
        {"1/(x-1)", "{\"x\": 1}", "div", 4, 1},
        {"sqrt(x)", "{\"x\": -1}", "sqrt", 1, 0},
        {"exp(exp(exp(x)))", "{\"x\": 10}", "exp", 2, 4}, /* overflow */
        {"x*1e308*10", "{\"x\": 1}", "mul", 4, 7},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        json_t *p = autodiff(C[i].expr, C[i].at, 422);
        api_check_problem(p, 422, "/expression", C[i].expr);
        CHECK(!strcmp(api_problem_slug(p), "domain-error"), "'%s': type %s", C[i].expr,
              api_problem_slug(p));
        CHECK(json_integer_value(json_object_get(p, "node")) == (json_int_t)C[i].node,
              "'%s': node %lld, want %zu", C[i].expr,
              (long long)json_integer_value(json_object_get(p, "node")), C[i].node);
        const char *op = json_string_value(json_object_get(p, "op"));
        CHECK(op && !strcmp(op, C[i].op), "'%s': op %s", C[i].expr, op ? op : "(none)");
        CHECK(json_integer_value(json_object_get(p, "position")) == (json_int_t)C[i].position,
              "'%s': position %lld", C[i].expr,
              (long long)json_integer_value(json_object_get(p, "position")));
        const char *detail = json_string_value(json_object_get(p, "detail"));
        char want[32];
        snprintf(want, sizeof want, "node %zu", C[i].node);
        CHECK(detail && strstr(detail, want), "'%s': detail '%s' does not name %s", C[i].expr,
              detail ? detail : "", want);
        json_decref(p);
    }
}

static void test_values_and_request_errors(void)
{
    static const struct {
        const char *body, *pointer;
    } C[] = {
        {"{\"expression\": \"x+y\", \"at\": {\"x\": 1}}", "/at/y"},           /* missing */
        {"{\"expression\": \"x\", \"at\": {\"x\": 1, \"z\": 2}}", "/at/z"},   /* not a variable */
        {"{\"expression\": \"x\", \"at\": {\"x\": \"1\"}}", "/at/x"},        /* not a number */
        {"{\"expression\": \"x\", \"at\": [1]}", "/at"},
        {"{\"expression\": 5}", "/expression"},
        {"{\"at\": {}}", "/expression"},
        {"{\"expression\": \"x\", \"at\": {\"x\": 1}, \"dx\": 1}", "/dx"},
        {"[1]", ""},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        json_t *p = api_post_text("/autodiff", C[i].body, 400);
        api_check_problem(p, 400, C[i].pointer, C[i].body);
        json_decref(p);
    }
    /* a byte outside ASCII is a syntax error at its offset */
    json_t *p = api_post_text("/autodiff", "{\"expression\": \"x + \\u00e9\", \"at\": {\"x\": 1}}",
                              400);
    CHECK(json_integer_value(json_object_get(p, "position")) == 4, "non-ASCII at 4");
    json_decref(p);
}

/* A tolerant tree comparison: numbers agree to 1e-15 relative. */
static int same_tree(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return check_close(json_number_value(a), json_number_value(b), 1e-15);
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_tree(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b)) return 0;
        json_object_foreach((json_t *)a, k, v) {
            if (!same_tree(v, json_object_get(b, k))) return 0;
        }
        return 1;
    }
    return json_equal(a, b);
}

/* The contract's examples are real: each request example is answered with
 * its documented response. */
static void test_openapi_examples(void)
{
    json_t *post = json_object_get(
        json_object_get(json_object_get(schema_doc(api_schema), "paths"), "/autodiff"), "post");
    json_t *reqex = json_object_get(
        json_object_get(json_object_get(json_object_get(post, "requestBody"), "content"),
                        "application/json"),
        "examples");
    json_t *respex = json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(post, "responses"), "200"), "content"),
            "application/json"),
        "examples");
    const char *name;
    json_t *ex;
    int n = 0, compared = 0;
    json_object_foreach(reqex, name, ex) {
        json_t *resp = api_post("/autodiff", json_object_get(ex, "value"), 200);
        json_t *want = json_object_get(json_object_get(respex, name), "value");
        n++;
        if (want && resp) {
            compared++;
            CHECK(same_tree(resp, want), "example %s: the answer differs from the documented one",
                  name);
        }
        json_decref(resp);
    }
    CHECK(n >= 2 && compared >= 1, "%d examples, %d compared", n, compared);
}

/* Limits from flags, each named in the 422; and the route behind the token. */
static void test_limits_and_auth(void)
{
    test_server s;
    const char *args[] = {"--max-expression-length", "24", "--max-expression-depth", "3",
                          "--max-expression-nodes",  "6",  "--max-expression-vars",  "2", NULL};
    const char *env[] = {"GRADSERVE_AUTH_TOKEN=sesame", NULL};
    if (server_start(&s, args, env) != 0) {
        CHECK(0, "the limited server did not start");
        return;
    }
    http_client *c = http_client_new(s.port, "sesame");
    static const struct {
        const char *expr, *limit;
        double value;
    } C[] = {
        {"x+x+x+x+x+x+x+x+x+x+x+x+x", "max_expression_length", 24},
        {"sin(sin(sin(sin(x))))", "max_expression_depth", 3},
        {"x+1+2+3+4", "max_expression_nodes", 6},
        {"a+b+c", "max_expression_vars", 2},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"expression\": \"%s\", \"at\": {\"x\": 1}}", C[i].expr);
        json_t *p = api_call(c, "POST", "/autodiff", NULL, body, strlen(body), 422, NULL);
        api_check_problem(p, 422, "/expression", C[i].expr);
        const char *limit = json_string_value(json_object_get(p, "limit"));
        CHECK(limit && !strcmp(limit, C[i].limit), "'%s': limit %s, want %s", C[i].expr,
              limit ? limit : "(none)", C[i].limit);
        CHECK(num(p, "limit_value") == C[i].value, "'%s': limit_value %g", C[i].expr,
              num(p, "limit_value"));
        CHECK(!strcmp(api_problem_slug(p), "limit-exceeded"), "type %s", api_problem_slug(p));
        json_decref(p);
    }
    /* within every limit it answers */
    const char *ok = "{\"expression\": \"sin(x)*y\", \"at\": {\"x\": 1, \"y\": 2}}";
    json_decref(api_call(c, "POST", "/autodiff", NULL, ok, strlen(ok), 200, NULL));
    /* without the token: 401 */
    http_client_set_token(c, NULL);
    json_decref(api_call(c, "POST", "/autodiff", NULL, ok, strlen(ok), 401, NULL));
    http_client_free(c);
    CHECK(server_stop(&s) == 0, "the limited server did not exit 0");
}

static void test_metrics_count_autodiff(void)
{
    http_response r;
    json_decref(api_call(NULL, "GET", "/metrics", NULL, NULL, 0, 200, &r));
    CHECK(r.body && strstr(r.body, "gradserve_requests_total{route=\"/autodiff\",code=\"200\"}"),
          "no /autodiff 200 series");
    CHECK(r.body && strstr(r.body, "gradserve_compute_duration_seconds_count{route=\"/autodiff\"}"),
          "no /autodiff compute histogram");
    http_response_free(&r);
    /* a compute route: CORS preflight and 405 for GET */
    const char *h[] = {"Origin: https://example.org", "Access-Control-Request-Method: POST", NULL};
    json_decref(api_call(NULL, "OPTIONS", "/autodiff", h, NULL, 0, 204, NULL));
    json_decref(api_call(NULL, "GET", "/autodiff", NULL, NULL, 0, 405, NULL));
}

int main(void)
{
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    if (api_start(NULL, NULL) == 0) {
        RUN(test_chain_rule_exp_sin_x2);
        RUN(test_multi_variable_adjoints_add);
        RUN(test_more_expressions);
        RUN(test_syntax_errors_with_positions);
        RUN(test_domain_error_names_node);
        RUN(test_values_and_request_errors);
        RUN(test_openapi_examples);
        RUN(test_limits_and_auth);
        RUN(test_metrics_count_autodiff);
        api_stop();
    }
    api_check_all_responses_valid();
    schema_free(api_schema);
    return CHECK_DONE();
}
