/* Expression autodiff: the tape of exp(sin(x^2)) against the hand-derived
 * chain rule; several variables and a node used twice; closed forms for every
 * operation; a few hundred generated expressions, reverse mode against
 * forward mode against central differences; positioned syntax errors, domain
 * errors naming the node, limits, bad values, allocation failures. */
#include "check.h"
#include "gradserve_autodiff.h"
#include "lib/counting_alloc.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------------ */

static const gs_ad_limits LIMITS = {.max_length = 4096, .max_depth = 64, .max_nodes = 2000,
                                    .max_vars = 32};

static gs_ad_tape *parse(const char *s, gs_ad_error *err)
{
    return gs_ad_parse(s, strlen(s), &LIMITS, NULL, err);
}

/* Evaluates at x, y, z (the first n of them); the tape's variables must be
 * among them. */
static gs_status eval_xyz(gs_ad_tape *t, const double *xyz, gs_ad_error *err)
{
    static const char *const all[3] = {"x", "y", "z"};
    const char *names[3];
    double v[3];
    size_t n = 0;
    for (size_t k = 0; k < 3; k++) {
        if (gs_ad_var_find(t, all[k], 1) == GS_AD_NONE) continue;
        names[n] = all[k];
        v[n++] = xyz[k];
    }
    return gs_ad_eval(t, n, names, v, err);
}

/* d f / d name after an evaluation; NaN if name is not a variable. */
static double grad_of(const gs_ad_tape *t, const char *name)
{
    size_t v = gs_ad_var_find(t, name, strlen(name));
    return v == GS_AD_NONE ? NAN : gs_ad_gradient(t)[v];
}

static double fgrad_of(const gs_ad_tape *t, const char *name)
{
    size_t v = gs_ad_var_find(t, name, strlen(name));
    return v == GS_AD_NONE ? NAN : gs_ad_forward_gradient(t)[v];
}

static int event_is(const gs_ad_event *e, size_t node, size_t from, size_t slot)
{
    return e->node == node && e->from == from && e->slot == slot;
}

/* ---- the classic chain ---------------------------------------------------------- */

/* y = exp(sin(x^2)) at x = 1.5: u = x^2, v = sin u, y = exp v;
 * dy/dx = dy/dv * dv/du * du/dx = exp(v) cos(u) 2x. */
static void test_exp_sin_x2_tape(void)
{
    gs_ad_error err;
    gs_ad_tape *t = parse("exp(sin(x^2))", &err);
    CHECK(t != NULL, "parse: %s", err.base.message);
    if (!t) return;
    double x = 1.5;
    const char *names[] = {"x"};
    CHECK(gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "eval: %s", err.base.message);

    double u = x * x, v = sin(u), y = exp(v);
    CHECK(gs_ad_node_count(t) == 5, "%zu nodes", gs_ad_node_count(t));
    CHECK(gs_ad_output(t) == 4, "output %zu", gs_ad_output(t));
    const gs_ad_node *n = gs_ad_nodes(t);

    CHECK(n[0].op == GS_AD_VAR && n[0].n_in == 0 && n[0].var == 0, "node 0 is x");
    CHECK(n[0].pos == 8 && n[0].begin == 8 && n[0].end == 9, "x at 8");
    CHECK_CLOSE(n[0].value, x, 0, "x");
    CHECK(n[1].op == GS_AD_CONST && n[1].constant == 2 && !n[1].depends, "node 1 is 2");
    CHECK(n[2].op == GS_AD_POW && n[2].in[0] == 0 && n[2].in[1] == 1 && n[2].pos == 9,
          "node 2 is x^2");
    CHECK(n[2].begin == 8 && n[2].end == 11, "x^2 spans [8, 11)");
    CHECK_CLOSE(n[2].value, u, 0, "u = x^2");
    CHECK_CLOSE(n[2].partial[0], 2 * x, 1e-15, "du/dx = 2x");
    CHECK(n[2].has_partial[0] && n[2].has_partial[1], "both partials of x^2 at x > 0");
    CHECK_CLOSE(n[2].partial[1], u * log(x), 1e-15, "du/d2 = x^2 log x");
    CHECK(n[3].op == GS_AD_SIN && n[3].n_in == 1 && n[3].in[0] == 2 && n[3].pos == 4,
          "node 3 is sin(u)");
    CHECK_CLOSE(n[3].value, v, 0, "v = sin u");
    CHECK_CLOSE(n[3].partial[0], cos(u), 1e-15, "dv/du = cos u");
    CHECK(!n[3].has_partial[1] && n[3].in[1] == GS_AD_NONE, "sin has one input");
    CHECK(n[4].op == GS_AD_EXP && n[4].in[0] == 3 && n[4].pos == 0 && n[4].begin == 0 &&
              n[4].end == 13,
          "node 4 is exp(v)");
    CHECK_CLOSE(n[4].value, y, 0, "y = exp v");
    CHECK_CLOSE(n[4].partial[0], y, 1e-15, "dy/dv = exp v");

    /* The reverse sweep: seed, then one event per edge into a node that
     * depends on x; the constant 2 gets none. */
    const gs_ad_event *e = gs_ad_events(t);
    CHECK(gs_ad_event_count(t) == 4, "%zu events", gs_ad_event_count(t));
    CHECK(event_is(&e[0], 4, GS_AD_NONE, 0) && e[0].adjoint == 1 && e[0].contribution == 1,
          "seed dy/dy = 1");
    CHECK(event_is(&e[1], 3, 4, 0), "dy/dv from exp");
    CHECK_CLOSE(e[1].partial, y, 1e-15, "partial exp");
    CHECK_CLOSE(e[1].adjoint, y, 1e-15, "dy/dv");
    CHECK(event_is(&e[2], 2, 3, 0), "dy/du from sin");
    CHECK_CLOSE(e[2].adjoint, y * cos(u), 1e-15, "dy/du = exp(v) cos(u)");
    CHECK(event_is(&e[3], 0, 2, 0), "dy/dx from x^2");
    CHECK_CLOSE(e[3].contribution, y * cos(u) * 2 * x, 1e-15, "contribution");
    CHECK_CLOSE(e[3].adjoint, 2 * x * cos(x * x) * exp(sin(x * x)), 1e-15, "dy/dx");

    CHECK_CLOSE(gs_ad_value(t), y, 0, "value");
    CHECK_CLOSE(gs_ad_gradient(t)[0], 2 * x * cos(u) * y, 1e-15, "gradient");
    CHECK_CLOSE(gs_ad_forward_gradient(t)[0], 2 * x * cos(u) * y, 1e-15, "forward mode");
    CHECK_CLOSE(n[0].adjoint, gs_ad_gradient(t)[0], 0, "x's adjoint is the gradient");
    CHECK(n[1].adjoint == 0, "the constant has no adjoint");
    gs_ad_free(t);
}

/* ---- several variables, a node used twice -------------------------------------- */

static void test_several_variables(void)
{
    gs_ad_error err;
    gs_ad_tape *t = parse("x*y + sin(x)", &err);
    CHECK(t != NULL, "parse: %s", err.base.message);
    if (!t) return;
    CHECK(gs_ad_var_count(t) == 2, "%zu vars", gs_ad_var_count(t));
    CHECK(strcmp(gs_ad_var_name(t, 0), "x") == 0 && strcmp(gs_ad_var_name(t, 1), "y") == 0,
          "variables in order of occurrence");
    CHECK(gs_ad_node_count(t) == 5, "x is one node: %zu nodes", gs_ad_node_count(t));
    CHECK(gs_ad_var_node(t, 0) == 0 && gs_ad_var_node(t, 1) == 1 &&
              gs_ad_var_node(t, 2) == GS_AD_NONE,
          "variable nodes");
    const char *names[] = {"y", "x"}; /* any order */
    double at[] = {-0.7, 1.2};
    CHECK(gs_ad_eval(t, 2, names, at, &err) == GS_OK, "eval: %s", err.base.message);
    double x = 1.2, y = -0.7;
    CHECK_CLOSE(gs_ad_value(t), x * y + sin(x), 1e-15, "value");
    CHECK_CLOSE(grad_of(t, "x"), y + cos(x), 1e-15, "df/dx = y + cos x");
    CHECK_CLOSE(grad_of(t, "y"), x, 1e-15, "df/dy = x");
    CHECK_CLOSE(fgrad_of(t, "x"), y + cos(x), 1e-15, "forward df/dx");
    CHECK_CLOSE(fgrad_of(t, "y"), x, 1e-15, "forward df/dy");

    /* nodes: x0 y1 mul2 sin3 add4; x receives from sin first (the sweep
     * visits parents from the output down), then from mul. */
    const gs_ad_event *e = gs_ad_events(t);
    CHECK(gs_ad_event_count(t) == 6, "%zu events", gs_ad_event_count(t));
    if (gs_ad_event_count(t) == 6) {
        CHECK(event_is(&e[1], 2, 4, 0) && event_is(&e[2], 3, 4, 1), "add's inputs");
        CHECK(event_is(&e[3], 0, 3, 0), "x from sin");
        CHECK_CLOSE(e[3].adjoint, cos(x), 1e-15, "x after sin");
        CHECK(event_is(&e[4], 0, 2, 0), "x from mul");
        CHECK_CLOSE(e[4].contribution, y, 1e-15, "mul's contribution to x");
        CHECK_CLOSE(e[4].adjoint, cos(x) + y, 1e-15, "adjoints add");
        CHECK(event_is(&e[5], 1, 2, 1), "y from mul");
    }
    gs_ad_free(t);

    t = parse("(x + y) / (x - y) * z", &err);
    CHECK(t && gs_ad_var_count(t) == 3, "three variables");
    if (!t) return;
    double xyz[3] = {2, 0.5, -3};
    CHECK(eval_xyz(t, xyz, &err) == GS_OK, "eval: %s", err.base.message);
    double a = 2.5, b = 1.5;
    CHECK_CLOSE(gs_ad_value(t), a / b * -3, 1e-15, "value");
    CHECK_CLOSE(grad_of(t, "x"), -3 * (b - a) / (b * b), 1e-14, "d/dx");
    CHECK_CLOSE(grad_of(t, "y"), -3 * (b + a) / (b * b), 1e-14, "d/dy");
    CHECK_CLOSE(grad_of(t, "z"), a / b, 1e-15, "d/dz");
    gs_ad_free(t);
}

static void test_node_used_twice(void)
{
    gs_ad_error err;
    gs_ad_tape *t = parse("x*x", &err);
    CHECK(t && gs_ad_node_count(t) == 2, "x*x is two nodes");
    if (!t) return;
    double x = -1.25;
    const char *names[] = {"x"};
    CHECK(gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "eval");
    const gs_ad_node *n = gs_ad_nodes(t);
    CHECK(n[1].in[0] == 0 && n[1].in[1] == 0, "both inputs are x");
    const gs_ad_event *e = gs_ad_events(t);
    CHECK(gs_ad_event_count(t) == 3, "%zu events", gs_ad_event_count(t));
    CHECK(event_is(&e[1], 0, 1, 0) && event_is(&e[2], 0, 1, 1), "one event per use");
    CHECK_CLOSE(e[1].adjoint, x, 0, "first use");
    CHECK_CLOSE(e[2].adjoint, 2 * x, 0, "adjoints add");
    CHECK_CLOSE(gs_ad_gradient(t)[0], 2 * x, 0, "d x^2 / dx");
    gs_ad_free(t);

    /* sin(x) twice is two sin nodes, x one node with two paths into it */
    t = parse("sin(x) * sin(x) + x", &err);
    CHECK(t && gs_ad_node_count(t) == 5, "x0 sin1 sin2 mul3 add4");
    if (!t) return;
    x = 0.3;
    CHECK(gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "eval");
    CHECK_CLOSE(gs_ad_gradient(t)[0], 2 * sin(x) * cos(x) + 1, 1e-15, "three paths add");
    size_t into_x = 0;
    for (size_t k = 0; k < gs_ad_event_count(t); k++) into_x += gs_ad_events(t)[k].node == 0;
    CHECK(into_x == 3, "x receives %zu contributions", into_x);
    gs_ad_free(t);
}

/* ---- closed forms -------------------------------------------------------------------- */

typedef struct {
    const char *expr;
    double (*f)(double x, double y);
    double (*fx)(double x, double y);
    double (*fy)(double x, double y);
    double pts[3][2];
} closed_form;

static double sg(double z) { return 1 / (1 + exp(-z)); }
#define FN(name, body) static double name(double x, double y) { (void)x; (void)y; return body; }
FN(f0, exp(sin(x * x)))
FN(f0x, 2 * x * cos(x * x) * exp(sin(x * x)))
FN(f1, log(x) + sqrt(y))
FN(f1x, 1 / x)
FN(f1y, 0.5 / sqrt(y))
FN(f2, cos(x) / y)
FN(f2x, -sin(x) / y)
FN(f2y, -cos(x) / (y * y))
FN(f3, tan(x) - tanh(y))
FN(f3x, 1 / (cos(x) * cos(x)))
FN(f3y, -(1 - tanh(y) * tanh(y)))
FN(f4, sg(x * y))
FN(f4x, sg(x * y) * (1 - sg(x * y)) * y)
FN(f4y, sg(x * y) * (1 - sg(x * y)) * x)
FN(f5, (x > 0 ? x : 0) + fabs(y))
FN(f5x, x > 0 ? 1 : 0)
FN(f5y, y > 0 ? 1 : -1)
FN(f6, pow(x, y))
FN(f6x, y * pow(x, y - 1))
FN(f6y, pow(x, y) * log(x))
FN(f7, -x * x + exp(x))
FN(f7x, -2 * x + exp(x))
FN(f8, 3.14159265358979323846 * x - y / 2)
FN(f8x, 3.14159265358979323846)
FN(f8y, -0.5)
FN(f9, (x - y) * (x - y) * (x - y))
FN(f9x, 3 * (x - y) * (x - y))
FN(f9y, -3 * (x - y) * (x - y))
FN(f10, 1 / (1 + exp(-x)) - sg(x))
FN(zero, 0)
FN(f11, x / y / 2 - -x)
FN(f11x, 1 / y / 2 + 1)
FN(f11y, -x / (y * y) / 2)
FN(f12, pow(2, -x) * y + pow(x, -2)) /* 2^-x*y is (2^-x)*y, as in Python */
FN(f12x, -y * log(2) * pow(2, -x) - 2 * pow(x, -3))
FN(f12y, pow(2, -x))
#undef FN

static const closed_form closed_forms[] = {
    {"exp(sin(x^2))", f0, f0x, zero, {{1.5, 0}, {-0.4, 0}, {2.2, 0}}},
    {"log(x) + sqrt(y)", f1, f1x, f1y, {{0.5, 2}, {3, 0.1}, {1e-3, 9}}},
    {"cos(x)/y", f2, f2x, f2y, {{0.3, 2}, {-2, -0.5}, {7, 1e-2}}},
    {"tan(x) - tanh(y)", f3, f3x, f3y, {{0.3, 2}, {-1.2, -0.5}, {1.5, 30}}},
    {"sigmoid(x*y)", f4, f4x, f4y, {{0.3, 2}, {-1.2, -0.5}, {40, 30}}},
    {"relu(x) + abs(y)", f5, f5x, f5y, {{0.3, 2}, {-1.2, -0.5}, {4, -3}}},
    {"x^y", f6, f6x, f6y, {{0.3, 2}, {1.7, -0.5}, {4, 0.25}}},
    {"-x^2 + e^x", f7, f7x, zero, {{0.3, 0}, {-1.7, 0}, {4, 0}}},
    {"pi*x - y/2", f8, f8x, f8y, {{0.3, 2}, {-1.7, 0}, {4, -1}}},
    {"(x - y)^3", f9, f9x, f9y, {{0.3, 2}, {-1.7, 0}, {4, -1}}},
    {"1/(1 + exp(-x)) - sigmoid(x)", f10, zero, zero, {{0.3, 0}, {-7, 0}, {30, 0}}},
    {"x / y / 2 - -x", f11, f11x, f11y, {{0.3, 2}, {-1.7, 0.1}, {4, -1}}},
    {"2^-x*y + x^-2", f12, f12x, f12y, {{0.3, 2}, {-1.7, 0.1}, {4, -1}}},
};

static void test_closed_forms(void)
{
    char what[96];
    for (size_t c = 0; c < sizeof closed_forms / sizeof *closed_forms; c++) {
        const closed_form *cf = &closed_forms[c];
        gs_ad_error err;
        gs_ad_tape *t = parse(cf->expr, &err);
        CHECK(t != NULL, "%s: %s", cf->expr, err.base.message);
        if (!t) continue;
        for (int k = 0; k < 3; k++) {
            double x = cf->pts[k][0], y = cf->pts[k][1], xyz[3] = {x, y, 0};
            gs_status st = eval_xyz(t, xyz, &err);
            CHECK(st == GS_OK, "%s at (%g, %g): %s", cf->expr, x, y, err.base.message);
            if (st) continue;
            snprintf(what, sizeof what, "%s at (%g, %g)", cf->expr, x, y);
            CHECK_CLOSE(gs_ad_value(t), cf->f(x, y), 1e-14, what);
            const char *v[2] = {"x", "y"};
            double want[2] = {cf->fx(x, y), cf->fy(x, y)};
            for (int j = 0; j < 2; j++) {
                if (gs_ad_var_find(t, v[j], 1) == GS_AD_NONE) {
                    CHECK(want[j] == 0, "%s: no %s", cf->expr, v[j]);
                    continue;
                }
                snprintf(what, sizeof what, "d %s / d%s at (%g, %g)", cf->expr, v[j], x, y);
                CHECK_CLOSE(grad_of(t, v[j]), want[j], 1e-13, what);
                CHECK_CLOSE(fgrad_of(t, v[j]), want[j], 1e-13, what);
            }
        }
        gs_ad_free(t);
    }
}

/* ---- grammar ------------------------------------------------------------------------- */

static double value_of(const char *expr, double x)
{
    gs_ad_error err;
    gs_ad_tape *t = parse(expr, &err);
    if (!t) return NAN;
    double xyz[3] = {x, 0, 0};
    double v = eval_xyz(t, xyz, &err) == GS_OK ? gs_ad_value(t) : NAN;
    gs_ad_free(t);
    return v;
}

static void test_precedence_and_constants(void)
{
    static const struct {
        const char *expr;
        double x, want;
    } cases[] = {
        {"-x^2", 3, -9},        {"-2^2", 0, -4},           {"(-2)^2", 0, 4},
        {"2^3^2", 0, 512},      {"2^-1", 0, 0.5},          {"2^-x^2", 1, 0.5},
        {"x-1-1", 5, 3},        {"8/4/2", 0, 1},           {"1+2*3", 0, 7},
        {"(1+2)*3", 0, 9},      {"-x*2", 3, -6},           {"--x", 3, 3},
        {"+x", 3, 3},           {"x - -x", 3, 6},          {"2*-x", 3, -6},
        {"pi", 0, 3.14159265358979323846},                 {"e", 0, 2.71828182845904523536},
        {"e^1", 0, 2.71828182845904523536},                {"1.5e2 + .5 + 2.", 0, 152.5},
        {"2E-1", 0, 0.2},       {" \t\nsin ( x )\r\n", 0, 0},
        {"x^2", -3, 9},         {"x^3", -2, -8},           {"x^-1", -4, -0.25},
        {"x^0", 0, 1},          {"0^0", 0, 1},             {"sqrt(0)", 0, 0},
        {"abs(-x)", 2, 2},      {"relu(-x)", 2, 0},        {"sigmoid(0)", 0, 0.5},
        {"x_1 + 1", 0, NAN} /* x_1 is a variable of its own, missing a value */,
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double v = value_of(cases[c].expr, cases[c].x);
        CHECK(check_close(v, cases[c].want, 1e-15), "%s at %g: %.17g, want %.17g",
              cases[c].expr, cases[c].x, v, cases[c].want);
    }

    /* -x^2 is neg(pow(x, 2)) on the tape */
    gs_ad_error err;
    gs_ad_tape *t = parse("-x^2", &err);
    CHECK(t && gs_ad_node_count(t) == 4, "-x^2 has 4 nodes");
    if (t) {
        const gs_ad_node *n = gs_ad_nodes(t);
        CHECK(n[2].op == GS_AD_POW && n[3].op == GS_AD_NEG && n[3].in[0] == 2, "neg(pow)");
        CHECK(n[3].begin == 0 && n[3].end == 4 && n[2].begin == 1, "spans");
        gs_ad_free(t);
    }

    /* spans include the parentheses a subexpression was written with */
    t = parse("2 * (x + 1)", &err);
    if (t) {
        const gs_ad_node *n = gs_ad_nodes(t);
        CHECK(n[3].op == GS_AD_ADD && n[3].begin == 5 && n[3].end == 10, "x + 1 is [5, 10)");
        CHECK(n[4].op == GS_AD_MUL && n[4].begin == 0 && n[4].end == 11, "the product");
        gs_ad_free(t);
    }
    for (int op = 0; op < GS_AD_OP_COUNT; op++)
        CHECK(gs_ad_op_name((gs_ad_op)op) != NULL, "op %d has a name", op);
    CHECK(gs_ad_op_name(GS_AD_OP_COUNT) == NULL, "no name past the end");
    CHECK(strcmp(gs_ad_op_symbol(GS_AD_POW), "^") == 0 && !gs_ad_op_symbol(GS_AD_EXP), "symbols");
}

/* x^2 at x <= 0: no d/d2 (not needed), d/dx fine; a variable exponent needs
 * a positive base. */
static void test_pow_semantics(void)
{
    gs_ad_error err;
    gs_ad_tape *t = parse("x^2", &err);
    const char *names[] = {"x"};
    double x = -3;
    CHECK(t && gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "x^2 at -3");
    if (!t) return;
    const gs_ad_node *n = gs_ad_nodes(t);
    CHECK(n[2].has_partial[0] && n[2].partial[0] == -6, "d/dx = -6");
    CHECK(!n[2].has_partial[1] && isnan(n[2].partial[1]), "no d/d2 at a negative base");
    CHECK(gs_ad_gradient(t)[0] == -6 && gs_ad_forward_gradient(t)[0] == -6, "gradient -6");
    x = 0;
    CHECK(gs_ad_eval(t, 1, names, &x, &err) == GS_OK && gs_ad_gradient(t)[0] == 0, "at 0");
    gs_ad_free(t);

    t = parse("x^0 + x^1", &err);
    CHECK(t && gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "x^0 + x^1 at 0: %s",
          err.base.message);
    if (t) CHECK(gs_ad_value(t) == 1 && gs_ad_gradient(t)[0] == 1, "1, slope 1");
    gs_ad_free(t);

    /* sqrt(0) of a constant: no slope needed, none shown (NaN, not inf) */
    t = parse("sqrt(0) + x", &err);
    CHECK(t && gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "sqrt(0) + x: %s", err.base.message);
    if (t) {
        n = gs_ad_nodes(t);
        CHECK(n[1].op == GS_AD_SQRT && !n[1].has_partial[0] && isnan(n[1].partial[0]),
              "sqrt(0) has no partial");
    }
    gs_ad_free(t);

    t = parse("2^x", &err);
    x = -1;
    CHECK(t && gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "2^x");
    if (t) CHECK_CLOSE(gs_ad_gradient(t)[0], 0.5 * log(2), 1e-16, "d 2^x / dx");
    gs_ad_free(t);
}

/* ---- generated expressions ----------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s)
{
    size_t k = strlen(s);
    if (b->n + k < b->cap) {
        memcpy(b->buf + b->n, s, k + 1);
        b->n += k;
    }
}

static void gen(gs_rng *r, sbuf *b, int depth)
{
    static const char *const fns[] = {"exp", "log",  "sqrt",    "sin",  "cos",
                                      "tan", "tanh", "sigmoid", "relu", "abs"};
    static const char *const vars[] = {"x", "y", "z"};
    static const char *const consts[] = {"2", "3", "0.5", "1.25", "pi", "e", "1e-1", "4"};
    double u = gs_rng_uniform(r);
    if (depth == 0 || u < 0.12) {
        if (gs_rng_uniform(r) < 0.7) put(b, vars[gs_rng_next(r) % 3]);
        else put(b, consts[gs_rng_next(r) % 8]);
        return;
    }
    u = gs_rng_uniform(r);
    if (u < 0.4) {
        static const char *const ops[] = {"+", "-", "*", "/"};
        put(b, "(");
        gen(r, b, depth - 1);
        put(b, ")");
        put(b, ops[gs_rng_next(r) % 4]);
        put(b, "(");
        gen(r, b, depth - 1);
        put(b, ")");
    } else if (u < 0.5) { /* integer powers of anything, any power of a positive base */
        static const char *const ex[] = {"2", "3", "-1", "-2", "0.5", "y", "x"};
        size_t k = gs_rng_next(r) % 7;
        put(b, "(");
        if (k < 4) gen(r, b, depth - 1);
        else {
            put(b, "1+abs(");
            gen(r, b, depth - 1);
            put(b, ")");
        }
        put(b, ")^");
        put(b, ex[k]);
    } else if (u < 0.6) {
        put(b, "-(");
        gen(r, b, depth - 1);
        put(b, ")");
    } else {
        put(b, fns[gs_rng_next(r) % 10]);
        put(b, "(");
        gen(r, b, depth - 1);
        put(b, ")");
    }
}

/* Central difference of f along variable v at xyz, step h; NaN if a point
 * is outside the domain. */
static double central(gs_ad_tape *t, const double *xyz, int v, double h)
{
    double p[3] = {xyz[0], xyz[1], xyz[2]};
    gs_ad_error err;
    p[v] = xyz[v] + h;
    if (eval_xyz(t, p, &err)) return NAN;
    double fp = gs_ad_value(t);
    p[v] = xyz[v] - h;
    if (eval_xyz(t, p, &err)) return NAN;
    return (fp - gs_ad_value(t)) / (2 * h);
}

/* Reverse mode against forward mode (to rounding) and central differences,
 * for generated expressions over x, y, z at random points. Points where a
 * relu or abs input is near its kink, where the expression leaves its
 * domain, or where two step sizes disagree (the differences are unreliable)
 * are skipped; at least 300 expressions must be compared in full. */
static void test_generated_expressions(void)
{
    gs_rng r;
    gs_rng_seed(&r, 20240601);
    char text[2048];
    int ops_seen[GS_AD_OP_COUNT] = {0};
    size_t compared = 0, nodes_compared = 0, multi = 0, attempts = 0, domain = 0;
    size_t unreliable = 0, fd_checks = 0;
    double worst_fd = 0, worst_fwd = 0;
    while (compared < 400 && attempts < 20000) {
        attempts++;
        sbuf b = {text, 0, sizeof text};
        text[0] = 0;
        gen(&r, &b, 2 + (int)(gs_rng_next(&r) % 6));
        gs_ad_error err;
        gs_ad_tape *t = parse(text, &err);
        CHECK(t != NULL, "%s: %s at %zu", text, err.base.message, err.position);
        if (!t) continue;
        double xyz[3];
        for (int k = 0; k < 3; k++) xyz[k] = 4 * gs_rng_uniform(&r) - 2;
        gs_status st = eval_xyz(t, xyz, &err);
        CHECK(st == GS_OK || err.kind == GS_AD_ERR_DOMAIN, "%s: %s", text, err.base.message);
        if (st) {
            domain++;
            gs_ad_free(t);
            continue;
        }
        /* copy the results: the differences below re-evaluate the tape */
        size_t nv = gs_ad_var_count(t);
        if (nv == 0) { /* nothing to differentiate */
            gs_ad_free(t);
            continue;
        }
        double value = gs_ad_value(t), g[3], fg[3];
        int skip = fabs(value) > 1e6;
        for (size_t v = 0; v < nv; v++) {
            g[v] = gs_ad_gradient(t)[v];
            fg[v] = gs_ad_forward_gradient(t)[v];
            double d = fabs(g[v] - fg[v]) / fmax(1, fmax(fabs(g[v]), fabs(fg[v])));
            worst_fwd = fmax(worst_fwd, d);
            CHECK(d <= 1e-10, "%s at (%g, %g, %g): d/d%s reverse %.17g forward %.17g", text,
                  xyz[0], xyz[1], xyz[2], gs_ad_var_name(t, v), g[v], fg[v]);
            skip |= fabs(g[v]) > 1e6;
        }
        const gs_ad_node *n = gs_ad_nodes(t);
        for (size_t i = 0; i < gs_ad_node_count(t); i++) {
            if ((n[i].op == GS_AD_RELU || n[i].op == GS_AD_ABS) &&
                fabs(n[n[i].in[0]].value) < 1e-3)
                skip = 1;
        }
        for (size_t v = 0; v < nv && !skip; v++) {
            int k = gs_ad_var_name(t, v)[0] - 'x';
            double h = 1e-5 * fmax(1, fabs(xyz[k]));
            double d1 = central(t, xyz, k, h), d2 = central(t, xyz, k, h / 2);
            if (!isfinite(d1) || !isfinite(d2) ||
                fabs(d1 - d2) > 1e-6 * fmax(1, fabs(d2))) {
                skip = 1;
                unreliable++;
                break;
            }
            double d = fabs(g[v] - d2) / fmax(1, fabs(d2));
            worst_fd = fmax(worst_fd, d);
            fd_checks++;
            CHECK(d <= 1e-5, "%s at (%g, %g, %g): d/d%s %.17g, differences %.17g", text,
                  xyz[0], xyz[1], xyz[2], gs_ad_var_name(t, v), g[v], d2);
        }
        if (!skip) {
            compared++;
            nodes_compared += gs_ad_node_count(t);
            multi += nv > 1;
            for (size_t i = 0; i < gs_ad_node_count(t); i++) ops_seen[n[i].op]++;
        }
        gs_ad_free(t);
    }
    printf("  generated: %zu compared in full (%zu with several variables, %.1f nodes on "
           "average), %zu derivatives against differences; skipped: %zu domain errors, %zu "
           "unreliable differences; %zu attempts; worst relative error: forward %.2g, "
           "differences %.2g\n",
           compared, multi, compared ? (double)nodes_compared / compared : 0.0, fd_checks,
           domain, unreliable, attempts, worst_fwd, worst_fd);
    CHECK(multi >= 150, "only %zu with several variables", multi);
    CHECK(compared >= 300, "only %zu expressions compared", compared);
    for (int op = 0; op < GS_AD_OP_COUNT; op++)
        CHECK(ops_seen[op] >= 10, "op %s in only %d compared expressions",
              gs_ad_op_name((gs_ad_op)op), ops_seen[op]);
}

/* ---- errors -------------------------------------------------------------------------- */

static void test_syntax_errors_have_positions(void)
{
    static const struct {
        const char *expr;
        size_t len; /* 0: strlen */
        size_t pos;
    } cases[] = {
        {"", 0, 0},          {"   ", 0, 3},         {"x+", 0, 2},        {"+", 0, 1},
        {"*x", 0, 0},        {"(x", 0, 2},          {"x)", 0, 1},        {"()", 0, 1},
        {"sin x", 0, 4},     {"sin(x", 0, 5},       {"foo(x)", 0, 0},    {"2x", 0, 1},
        {"x y", 0, 2},       {"1.2.3", 0, 3},       {"1e", 0, 0},        {"1e+", 0, 0},
        {"x # y", 0, 2},     {"x^", 0, 2},          {"x^^2", 0, 2},      {"exp()", 0, 4},
        {"sin(x,y)", 0, 5},  {"1e999", 0, 0},       {".", 0, 0},         {"x+*y", 0, 2},
        {"((x)", 0, 4},      {"x\0", 2, 1},         {"\xc3\xa9", 0, 0},  {"pi(2)", 0, 2},
        {"x**2", 0, 2},      {"3 4", 0, 2},         {"exp", 0, 3},       {"2*(3+)", 0, 5},
        {"log(x))", 0, 6},   {"x + 1 $", 0, 6},     {"Sin(x)", 0, 0},    {"x = 1", 0, 2},
        {"1..2", 0, 2},      {"tanh(x) sigmoid(x)", 0, 8},               {"x^(2", 0, 4},
        {"sqrt(-)", 0, 6},
    };
    size_t n = sizeof cases / sizeof *cases;
    CHECK(n >= 20, "%zu cases", n);
    for (size_t c = 0; c < n; c++) {
        gs_ad_error err;
        size_t len = cases[c].len ? cases[c].len : strlen(cases[c].expr);
        gs_ad_tape *t = gs_ad_parse(cases[c].expr, len, &LIMITS, NULL, &err);
        CHECK(t == NULL, "'%s' accepted", cases[c].expr);
        gs_ad_free(t);
        CHECK(err.base.status == GS_EINVAL && err.kind == GS_AD_ERR_SYNTAX,
              "'%s': status %d kind %d", cases[c].expr, err.base.status, err.kind);
        CHECK(err.position == cases[c].pos, "'%s': position %zu, want %zu (%s)", cases[c].expr,
              err.position, cases[c].pos, err.base.message);
        CHECK(strcmp(err.base.field, "expression") == 0 && err.base.message[0] &&
                  err.node == GS_AD_NONE,
              "'%s': field %s", cases[c].expr, err.base.field);
    }
    /* a number of 300 digits is refused where it starts */
    char digits[310] = "x + ";
    memset(digits + 4, '1', 300);
    gs_ad_error e2;
    CHECK(gs_ad_parse(digits, 304, &LIMITS, NULL, &e2) == NULL && e2.position == 4 &&
              e2.kind == GS_AD_ERR_SYNTAX,
          "long number: %s at %zu", e2.base.message, e2.position);

    /* some messages, as a user sees them */
    gs_ad_error err;
    parse("foo(x)", &err);
    CHECK(strstr(err.base.message, "unknown function 'foo'") != NULL, "%s", err.base.message);
    parse("(x", &err);
    CHECK(strstr(err.base.message, "missing ')'") != NULL, "%s", err.base.message);
    parse("x\x01", &err);
    CHECK(strstr(err.base.message, "0x01") != NULL, "%s", err.base.message);
    CHECK(gs_ad_parse(NULL, 3, NULL, NULL, &err) == NULL && err.kind == GS_AD_ERR_SYNTAX,
          "NULL expression");
    gs_ad_tape *t = gs_ad_parse("x", 1, NULL, NULL, NULL);
    CHECK(t != NULL, "err may be NULL");
    gs_ad_free(t);
    t = gs_ad_parse("x+", 2, NULL, NULL, NULL);
    CHECK(t == NULL, "an error without an error object");
}

typedef struct {
    const char *expr;
    double x, y;
    size_t node, pos;
    const char *says;
} domain_case;

static void test_domain_errors_name_the_node(void)
{
    static const domain_case cases[] = {
        {"log(x)", -1, 0, 1, 0, "log of a negative number"},
        {"log(x)", 0, 0, 1, 0, "log of zero"},
        {"sqrt(x - 4)", 1, 0, 3, 0, "sqrt of a negative number"},
        {"1/(x-1)", 1, 0, 4, 1, "division by zero"},
        {"x^0.5", -1, 0, 2, 1, "non-integer power"},
        {"x^y", -1, 2, 2, 1, "positive base"},
        {"x^y", 0, 2, 2, 1, "positive base"},
        {"(-8)^(1/3)", 0, 0, 5, 4, "non-integer power"},
        {"exp(x)", 1000, 0, 1, 0, "overflows"},
        {"0^-1", 0, 0, 3, 1, "zero to a negative power"},
        {"sqrt(x)", 0, 0, 1, 0, "not differentiable"},
        {"x^0.5", 0, 0, 2, 1, "not differentiable"},
        {"x + log(y - y)", 1, 2, 3, 4, "log of zero"},
        {"exp(exp(exp(x)))", 10, 0, 2, 4, "overflows"},
        {"x*1e300*1e300", 1, 0, 4, 7, "overflows"},
        {"sin(1e300*sin(1e300*x))", 1, 0, 2, 20, "adjoint"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const domain_case *d = &cases[c];
        gs_ad_error err;
        gs_ad_tape *t = parse(d->expr, &err);
        CHECK(t != NULL, "%s: %s", d->expr, err.base.message);
        if (!t) continue;
        double xyz[3] = {d->x, d->y, 0};
        gs_status st = eval_xyz(t, xyz, &err);
        CHECK(st == GS_EINVAL && err.kind == GS_AD_ERR_DOMAIN, "%s at %g: status %d kind %d",
              d->expr, d->x, st, err.kind);
        CHECK(err.node == d->node && err.position == d->pos,
              "%s: node %zu at %zu, want node %zu at %zu (%s)", d->expr, err.node, err.position,
              d->node, d->pos, err.base.message);
        CHECK(strstr(err.base.message, d->says) != NULL, "%s: '%s'", d->expr, err.base.message);
        char node_name[32];
        snprintf(node_name, sizeof node_name, "node %zu", d->node);
        CHECK(strstr(err.base.message, node_name) == err.base.message, "%s: '%s'", d->expr,
              err.base.message);
        CHECK(strcmp(err.base.field, "expression") == 0, "field %s", err.base.field);
        /* the nodes before the failing one keep their values */
        if (err.node != GS_AD_NONE && err.node > 0 && d->node != 2)
            CHECK(isfinite(gs_ad_nodes(t)[err.node - 1].value), "%s: earlier values", d->expr);
        CHECK(isnan(gs_ad_value(t)) && gs_ad_event_count(t) == 0, "%s: no result", d->expr);
        gs_ad_free(t);
    }
}

static void test_bad_values(void)
{
    gs_ad_error err;
    gs_ad_tape *t = parse("x*y", &err);
    if (!t) return;
    static const struct {
        size_t n;
        const char *names[3];
        double values[3];
        const char *field, *says;
    } cases[] = {
        {1, {"x"}, {1}, "at/y", "missing"},
        {0, {0}, {0}, "at/x", "missing"},
        {3, {"x", "y", "z"}, {1, 2, 3}, "at/z", "not a variable"},
        {3, {"x", "y", "x"}, {1, 2, 3}, "at/x", "twice"},
        {2, {"x", "y"}, {1, INFINITY}, "at/y", "finite"},
        {2, {"x", "y"}, {NAN, 1}, "at/x", "finite"},
        {2, {"x", "a/b~c"}, {1, 1}, "at/a~1b~0c", "not a variable"},
        {2, {"x", NULL}, {1, 1}, "at", "no name"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        gs_status st = gs_ad_eval(t, cases[c].n, cases[c].names, cases[c].values, &err);
        CHECK(st == GS_EINVAL && err.kind == GS_AD_ERR_VALUE, "case %zu: %d", c, st);
        CHECK(strcmp(err.base.field, cases[c].field) == 0, "case %zu: field %s", c,
              err.base.field);
        CHECK(strstr(err.base.message, cases[c].says) != NULL, "case %zu: %s", c,
              err.base.message);
    }
    CHECK(gs_ad_eval(t, 2, NULL, NULL, &err) == GS_EINVAL, "no arrays");
    gs_ad_free(t);

    /* a constant expression needs no values */
    t = parse("2*pi", &err);
    CHECK(t && gs_ad_var_count(t) == 0 && gs_ad_eval(t, 0, NULL, NULL, &err) == GS_OK,
          "constant");
    if (t) CHECK(gs_ad_event_count(t) == 0 && gs_ad_value(t) == 2 * 3.14159265358979323846,
                 "no sweep for a constant");
    gs_ad_free(t);
}

/* ---- limits -------------------------------------------------------------------------- */

static char *repeat(const char *open, const char *mid, const char *close, size_t n)
{
    size_t a = strlen(open), b = strlen(mid), c = strlen(close);
    char *s = malloc(n * (a + c) + b + 1), *o = s;
    for (size_t k = 0; k < n; k++, o += a) memcpy(o, open, a);
    memcpy(o, mid, b);
    o += b;
    for (size_t k = 0; k < n; k++, o += c) memcpy(o, close, c);
    *o = 0;
    return s;
}

static void expect_limit(const char *s, const gs_ad_limits *lim, size_t pos, const char *limit,
                         size_t value, const char *what)
{
    gs_ad_error err;
    gs_ad_tape *t = gs_ad_parse(s, strlen(s), lim, NULL, &err);
    CHECK(t == NULL && err.base.status == GS_ELIMIT && err.kind == GS_AD_ERR_LIMIT,
          "%s: status %d", what, err.base.status);
    CHECK(err.limit && strcmp(err.limit, limit) == 0 && err.limit_value == value,
          "%s: limit %s %zu", what, err.limit ? err.limit : "(none)", err.limit_value);
    CHECK(err.position == pos, "%s: position %zu, want %zu (%s)", what, err.position, pos,
          err.base.message);
    gs_ad_free(t);
}

static void test_limits(void)
{
    gs_ad_limits lim = {.max_length = 10, .max_depth = 64, .max_nodes = 3, .max_vars = 2};
    expect_limit("x + y + z + w", &lim, 10, "max_length", 10, "length");
    expect_limit("x+x+x+x", &lim, 5, "max_nodes", 3, "nodes");
    lim.max_nodes = 0;
    expect_limit("a+b+c", &lim, 4, "max_vars", 2, "variables");

    gs_ad_limits deep = {.max_depth = 64};
    char *s = repeat("(", "x", ")", 100000);
    expect_limit(s, &deep, 64, "max_depth", 64, "100000 parentheses");
    expect_limit(s, NULL, GS_AD_DEPTH_CAP, "max_depth", GS_AD_DEPTH_CAP,
                 "100000 parentheses, no limit given");
    free(s);
    s = repeat("sin(", "x", ")", 100000);
    expect_limit(s, &deep, 4 * 64, "max_depth", 64, "100000 calls");
    free(s);
    s = repeat("-", "x", "", 100000);
    expect_limit(s, NULL, GS_AD_DEPTH_CAP, "max_depth", GS_AD_DEPTH_CAP, "100000 minus signs");
    free(s);
    s = repeat("x^", "x", "", 100000);
    expect_limit(s, &deep, 2 * 64 + 1, "max_depth", 64, "100000 powers");
    free(s);

    /* within the limits: 64 levels parse, and a long flat sum needs no depth */
    s = repeat("(", "x", ")", 64);
    gs_ad_error err;
    gs_ad_tape *t = gs_ad_parse(s, strlen(s), &deep, NULL, &err);
    CHECK(t != NULL, "64 levels: %s", err.base.message);
    gs_ad_free(t);
    free(s);
    s = repeat("x+", "x", "", 50000);
    t = gs_ad_parse(s, strlen(s), NULL, NULL, &err);
    CHECK(t && gs_ad_node_count(t) == 50001, "flat sum");
    double x = 0.5;
    const char *names[] = {"x"};
    if (t) {
        CHECK(gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "eval");
        CHECK(gs_ad_gradient(t)[0] == 50001 && gs_ad_event_count(t) == 100001, "gradient");
    }
    gs_ad_free(t);
    free(s);

    /* many distinct variables: the lookup grows */
    char buf[8000];
    size_t o = 0;
    for (int k = 0; k < 500; k++) o += snprintf(buf + o, sizeof buf - o, "%sv%d", k ? "+" : "", k);
    t = gs_ad_parse(buf, o, NULL, NULL, &err);
    CHECK(t && gs_ad_var_count(t) == 500, "500 variables");
    if (t) {
        CHECK(gs_ad_var_find(t, "v499", 4) == 499 && gs_ad_var_find(t, "v500", 4) == GS_AD_NONE,
              "lookup");
        CHECK(strcmp(gs_ad_var_name(t, 123), "v123") == 0, "names");
    }
    gs_ad_free(t);
}

/* ---- allocation failures, re-evaluation ----------------------------------------------- */


static void test_every_allocation_can_fail(void)
{
    char expr[4000];
    size_t o = snprintf(expr, sizeof expr, "x*y + sin(x)");
    for (int k = 0; k < 100; k++) o += snprintf(expr + o, sizeof expr - o, " + a%d*x", k);
    long total = -1;
    for (long k = 0; k < 100; k++) {
        counting c = {.fail_at = k};
        gs_allocator A = {counting_malloc, counting_free, &c};
        gs_ad_error err;
        gs_ad_tape *t = gs_ad_parse(expr, o, NULL, &A, &err);
        gs_ad_free(t);
        CHECK(c.live == 0, "failing allocation %ld leaks %ld blocks", k, c.live);
        if (c.count <= k) {
            CHECK(t != NULL, "no failure, no tape");
            total = k;
            break;
        }
        CHECK(!t && err.base.status == GS_ENOMEM && err.kind == GS_AD_ERR_NOMEM,
              "allocation %ld: status %d", k, err.base.status);
    }
    CHECK(total > 5, "parsing made %ld allocations", total);
}

/* The same tape at several points, and twice at one point: same bits. */
static void test_reevaluation(void)
{
    gs_ad_error err;
    gs_ad_tape *t = parse("x^y + log(x)", &err);
    if (!t) return;
    const char *names[] = {"x", "y"};
    double a[] = {2, 3}, b[] = {0.5, -1};
    CHECK(gs_ad_eval(t, 2, names, a, &err) == GS_OK, "a");
    double g0 = gs_ad_gradient(t)[0], g1 = gs_ad_gradient(t)[1];
    CHECK(gs_ad_eval(t, 2, names, b, &err) == GS_OK, "b");
    CHECK_CLOSE(gs_ad_gradient(t)[0], -1 * pow(0.5, -2) + 2, 1e-15, "d/dx at b");
    double fail[] = {-1, 3};
    CHECK(gs_ad_eval(t, 2, names, fail, &err) == GS_EINVAL, "log(-1) in between");
    CHECK(gs_ad_eval(t, 2, names, a, &err) == GS_OK, "a again");
    CHECK(memcmp(&g0, &gs_ad_gradient(t)[0], sizeof g0) == 0 &&
              memcmp(&g1, &gs_ad_gradient(t)[1], sizeof g1) == 0,
          "identical bits");
    CHECK_CLOSE(g0, 3 * 4 + 0.5, 1e-15, "d/dx at a");
    CHECK_CLOSE(g1, 8 * log(2), 1e-15, "d/dy at a");
    gs_ad_free(t);
}

/* Activations stay finite, with finite slopes, at +-1e3. */
static void test_extremes(void)
{
    static const char *const exprs[] = {"sigmoid(x)", "tanh(x)", "relu(x)", "abs(x)"};
    const char *names[] = {"x"};
    for (size_t c = 0; c < 4; c++) {
        gs_ad_error err;
        gs_ad_tape *t = parse(exprs[c], &err);
        for (int s = -1; t && s <= 1; s += 2) {
            double x = 1e3 * s;
            CHECK(gs_ad_eval(t, 1, names, &x, &err) == GS_OK, "%s at %g: %s", exprs[c], x,
                  err.base.message);
            CHECK(isfinite(gs_ad_value(t)) && isfinite(gs_ad_gradient(t)[0]) &&
                      gs_ad_gradient(t)[0] == gs_ad_forward_gradient(t)[0],
                  "%s at %g", exprs[c], x);
        }
        gs_ad_free(t);
    }
}

int main(void)
{
    RUN(test_exp_sin_x2_tape);
    RUN(test_several_variables);
    RUN(test_node_used_twice);
    RUN(test_closed_forms);
    RUN(test_precedence_and_constants);
    RUN(test_pow_semantics);
    RUN(test_generated_expressions);
    RUN(test_syntax_errors_have_positions);
    RUN(test_domain_errors_name_the_node);
    RUN(test_bad_values);
    RUN(test_limits);
    RUN(test_every_allocation_can_fail);
    RUN(test_reevaluation);
    RUN(test_extremes);
    return CHECK_DONE();
}
