/* Scalar expressions: a recursive-descent parser with a depth bound, the tape
 * it builds, and the sweeps over it: forward values and local partials,
 * reverse adjoints (recorded event by event), forward-mode tangents. */
#include "gradserve_autodiff.h"
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AD_PI 3.14159265358979323846
#define AD_E 2.71828182845904523536
#define NUMBER_MAX 256 /* characters of one number literal */

/* Everything but the header lives in one slab, laid out by tape_build:
 *   nodes [n_nodes], events [2 n_nodes + 1], tangent [n_nodes],
 *   grad [n_vars], fgrad [n_vars], values [n_vars], var_node [n_vars],
 *   var_name [n_vars], hash [hcap], given [n_vars], names (chars). */
struct gs_ad_tape {
    gs_allocator alloc;
    size_t n_nodes, n_vars, n_events, hcap;
    gs_ad_node *nodes;
    gs_ad_event *events;
    double *tangent, *grad, *fgrad, *values;
    size_t *var_node;
    const char **var_name;
    size_t *hash; /* open addressing: var index + 1, 0 empty */
    unsigned char *given;
    int evaluated;
    void *slab;
};

/* ---- names ------------------------------------------------------------------ */

static const char *const op_names[GS_AD_OP_COUNT] = {
    "const", "var", "add", "sub",  "mul", "div", "pow",  "neg",     "exp",
    "log",   "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "abs",
};

const char *gs_ad_op_name(gs_ad_op op)
{
    return (unsigned)op < GS_AD_OP_COUNT ? op_names[op] : NULL;
}

const char *gs_ad_op_symbol(gs_ad_op op)
{
    switch (op) {
    case GS_AD_ADD: return "+";
    case GS_AD_SUB: return "-";
    case GS_AD_MUL: return "*";
    case GS_AD_DIV: return "/";
    case GS_AD_POW: return "^";
    case GS_AD_NEG: return "-";
    default: return NULL;
    }
}

static size_t op_arity(gs_ad_op op)
{
    return op <= GS_AD_VAR ? 0 : op <= GS_AD_POW ? 2 : 1;
}

/* The functions of the grammar: op_names from GS_AD_EXP on. */
static int function_of(const char *s, size_t n)
{
    for (int op = GS_AD_EXP; op < GS_AD_OP_COUNT; op++)
        if (strlen(op_names[op]) == n && memcmp(op_names[op], s, n) == 0) return op;
    return -1;
}

/* ---- errors ----------------------------------------------------------------- */

static void ad_clear(gs_ad_error *err)
{
    if (!err) return;
    gs_error_clear(&err->base);
    err->kind = GS_AD_ERR_NONE;
    err->position = GS_AD_NONE;
    err->node = GS_AD_NONE;
    err->limit = NULL;
    err->limit_value = 0;
}

static gs_status ad_vfail(gs_ad_error *err, gs_ad_error_kind kind, gs_status status,
                          const char *field, size_t position, size_t node, const char *fmt,
                          va_list ap)
{
    if (!err) return status;
    char msg[sizeof err->base.message];
    vsnprintf(msg, sizeof msg, fmt, ap);
    gs_fail(&err->base, status, field, "%s", msg);
    err->kind = kind;
    err->position = position;
    err->node = node;
    return status;
}

static gs_status ad_fail(gs_ad_error *err, gs_ad_error_kind kind, gs_status status,
                         const char *field, size_t position, size_t node, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static gs_status ad_fail(gs_ad_error *err, gs_ad_error_kind kind, gs_status status,
                         const char *field, size_t position, size_t node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ad_vfail(err, kind, status, field, position, node, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- variable lookup ---------------------------------------------------------- */

static size_t hash_name(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return (size_t)h;
}

/* Slot of name in table[cap] (cap a power of two): the slot holding it, or
 * the empty slot where it would go. name_of(k) gives variable k's name. */
typedef struct {
    const char *s;
    size_t n;
} span;

static size_t hash_slot(const size_t *table, size_t cap, const char *s, size_t n,
                        span (*name_of)(const void *ctx, size_t k), const void *ctx)
{
    size_t i = hash_name(s, n) & (cap - 1);
    for (;;) {
        if (!table[i]) return i;
        span v = name_of(ctx, table[i] - 1);
        if (v.n == n && memcmp(v.s, s, n) == 0) return i;
        i = (i + 1) & (cap - 1);
    }
}

/* ---- parser ------------------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t len, i, depth, max_depth, max_nodes, max_vars;
    gs_allocator A;
    gs_ad_node *nodes;
    size_t n, cap;
    struct pvar {
        size_t pos, len, node; /* name at s[pos, pos + len) */
    } *vars;
    size_t nv, vcap;
    size_t *hash, hcap;
    gs_ad_error *err;
} parser;

/* A parsed piece: its node and its source text [begin, end), which includes
 * any parentheses around it. node is GS_AD_NONE after an error. */
typedef struct {
    size_t node, begin, end;
} ref;

static const ref FAILED = {GS_AD_NONE, 0, 0};

static span parser_var_name(const void *ctx, size_t k)
{
    const parser *p = ctx;
    return (span){p->s + p->vars[k].pos, p->vars[k].len};
}

static ref syntax_error(parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ref syntax_error(parser *p, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ad_vfail(p->err, GS_AD_ERR_SYNTAX, GS_EINVAL, "expression", pos, GS_AD_NONE, fmt, ap);
    va_end(ap);
    return FAILED;
}

/* The limit called name (a gs_ad_limits member) of value is exceeded. */
static ref limit_error(parser *p, size_t pos, const char *name, size_t value)
{
    gs_ad_error *e = p->err;
    if (strcmp(name, "max_depth") == 0)
        ad_fail(e, GS_AD_ERR_LIMIT, GS_ELIMIT, "expression", pos, GS_AD_NONE,
                "the expression nests deeper than %zu levels", value);
    else if (strcmp(name, "max_nodes") == 0)
        ad_fail(e, GS_AD_ERR_LIMIT, GS_ELIMIT, "expression", pos, GS_AD_NONE,
                "the expression has more than %zu nodes", value);
    else
        ad_fail(e, GS_AD_ERR_LIMIT, GS_ELIMIT, "expression", pos, GS_AD_NONE,
                "the expression has more than %zu variables", value);
    if (e) {
        e->limit = name;
        e->limit_value = value;
    }
    return FAILED;
}

static ref nomem_error(parser *p)
{
    ad_fail(p->err, GS_AD_ERR_NOMEM, GS_ENOMEM, "", GS_AD_NONE, GS_AD_NONE,
            "out of memory parsing the expression");
    return FAILED;
}

/* What is at position i, for messages: 'c', "the end" or a byte in hex. */
typedef struct {
    char text[16];
} what;

static what describe(const parser *p, size_t i)
{
    what w;
    if (i >= p->len) snprintf(w.text, sizeof w.text, "the end");
    else if (p->s[i] > ' ' && p->s[i] < 0x7f) snprintf(w.text, sizeof w.text, "'%c'", p->s[i]);
    else snprintf(w.text, sizeof w.text, "byte 0x%02x", (unsigned char)p->s[i]);
    return w;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static int is_name_char(char c) { return is_name_start(c) || is_digit(c); }
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
/* Characters some token may start with. */
static int is_token_char(char c)
{
    return is_name_char(c) || (c && strchr(".+-*/^()", c) != NULL);
}

static void skip_space(parser *p)
{
    while (p->i < p->len && is_space(p->s[p->i])) p->i++;
}

/* Doubles *cap (from 16) until it holds need elements; 0 on failure. */
static int grow(parser *p, void **arr, size_t *cap, size_t elem, size_t need)
{
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16, bytes;
    while (c < need) c *= 2;
    if (!gs_mul_ok(c, elem, &bytes)) return 0;
    void *a = gs_alloc(&p->A, bytes);
    if (!a) return 0;
    if (*arr) memcpy(a, *arr, *cap * elem);
    gs_free(&p->A, *arr);
    *arr = a;
    *cap = c;
    return 1;
}

static ref add_node(parser *p, gs_ad_op op, size_t in0, size_t in1, size_t pos, size_t begin,
                    size_t end)
{
    if (p->max_nodes && p->n >= p->max_nodes)
        return limit_error(p, pos, "max_nodes", p->max_nodes);
    if (!grow(p, (void **)&p->nodes, &p->cap, sizeof *p->nodes, p->n + 1)) return nomem_error(p);
    gs_ad_node *d = &p->nodes[p->n];
    memset(d, 0, sizeof *d);
    d->op = op;
    d->n_in = op_arity(op);
    d->in[0] = d->n_in > 0 ? in0 : GS_AD_NONE;
    d->in[1] = d->n_in > 1 ? in1 : GS_AD_NONE;
    d->pos = pos;
    d->begin = begin;
    d->end = end;
    d->var = GS_AD_NONE;
    d->depends = op == GS_AD_VAR;
    for (size_t k = 0; k < d->n_in; k++) d->depends |= p->nodes[d->in[k]].depends;
    d->value = d->partial[0] = d->partial[1] = NAN;
    return (ref){p->n++, begin, end};
}

static ref variable(parser *p, size_t pos, size_t n)
{
    if (p->nv + 1 > p->hcap / 2) { /* keep the table at most half full */
        size_t cap = p->hcap ? 2 * p->hcap : 32, bytes;
        if (!gs_mul_ok(cap, sizeof *p->hash, &bytes)) return nomem_error(p);
        size_t *h = gs_alloc_zero(&p->A, bytes);
        if (!h) return nomem_error(p);
        for (size_t k = 0; k < p->nv; k++)
            h[hash_slot(h, cap, p->s + p->vars[k].pos, p->vars[k].len, parser_var_name, p)] = k + 1;
        gs_free(&p->A, p->hash);
        p->hash = h;
        p->hcap = cap;
    }
    size_t slot = hash_slot(p->hash, p->hcap, p->s + pos, n, parser_var_name, p);
    if (p->hash[slot]) {
        size_t node = p->vars[p->hash[slot] - 1].node;
        return (ref){node, pos, pos + n};
    }
    if (p->max_vars && p->nv >= p->max_vars)
        return limit_error(p, pos, "max_vars", p->max_vars);
    if (!grow(p, (void **)&p->vars, &p->vcap, sizeof *p->vars, p->nv + 1)) return nomem_error(p);
    ref r = add_node(p, GS_AD_VAR, 0, 0, pos, pos, pos + n);
    if (r.node == GS_AD_NONE) return r;
    p->nodes[r.node].var = p->nv;
    p->vars[p->nv] = (struct pvar){pos, n, r.node};
    p->hash[slot] = ++p->nv;
    return r;
}

static int enter(parser *p, size_t pos)
{
    if (p->depth >= p->max_depth) {
        limit_error(p, pos, "max_depth", p->max_depth);
        return 0;
    }
    p->depth++;
    return 1;
}

static ref parse_expr(parser *p);
static ref parse_unary(parser *p);

static ref parse_number(parser *p)
{
    const char *s = p->s;
    size_t start = p->i, i = p->i, digits = 0;
    while (i < p->len && is_digit(s[i])) i++, digits++;
    if (i < p->len && s[i] == '.') {
        i++;
        while (i < p->len && is_digit(s[i])) i++, digits++;
    }
    if (!digits) return syntax_error(p, start, "malformed number: no digits");
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (!(i < p->len && is_digit(s[i])))
            return syntax_error(p, start, "malformed number: the exponent has no digits");
        while (i < p->len && is_digit(s[i])) i++;
    }
    if (i - start >= NUMBER_MAX)
        return syntax_error(p, start, "number longer than %d characters", NUMBER_MAX - 1);
    char buf[NUMBER_MAX];
    memcpy(buf, s + start, i - start);
    buf[i - start] = 0;
    double v = strtod(buf, NULL); /* only digits, '.', 'e' and a sign: no locale or hex forms */
    if (!isfinite(v)) return syntax_error(p, start, "number out of range");
    p->i = i;
    ref r = add_node(p, GS_AD_CONST, 0, 0, start, start, i);
    if (r.node != GS_AD_NONE) p->nodes[r.node].constant = v;
    return r;
}

/* ')' closing the '(' at open, after the inner expression. */
static int expect_close(parser *p, size_t open)
{
    skip_space(p);
    if (p->i < p->len && p->s[p->i] == ')') {
        p->i++;
        return 1;
    }
    if (p->i >= p->len)
        syntax_error(p, p->i, "missing ')' to close the '(' at position %zu", open);
    else
        syntax_error(p, p->i, "expected ')' to close the '(' at position %zu, found %s", open,
                     describe(p, p->i).text);
    return 0;
}

static ref parse_primary(parser *p)
{
    skip_space(p);
    size_t start = p->i;
    if (start >= p->len) return syntax_error(p, start, "expected an expression, found the end");
    char c = p->s[start];
    if (is_digit(c) || c == '.') return parse_number(p);
    if (c == '(') {
        if (!enter(p, start)) return FAILED;
        p->i++;
        ref r = parse_expr(p);
        if (r.node == GS_AD_NONE || !expect_close(p, start)) return FAILED;
        p->depth--;
        return (ref){r.node, start, p->i};
    }
    if (is_name_start(c)) {
        size_t i = start;
        while (i < p->len && is_name_char(p->s[i])) i++;
        size_t n = i - start;
        p->i = i;
        skip_space(p);
        int call = p->i < p->len && p->s[p->i] == '(';
        int fn = function_of(p->s + start, n);
        if (fn >= 0) {
            if (!call)
                return syntax_error(p, p->i, "expected '(' after the function %s, found %s",
                                    op_names[fn], describe(p, p->i).text);
            size_t open = p->i;
            if (!enter(p, start)) return FAILED;
            p->i++;
            ref a = parse_expr(p);
            if (a.node == GS_AD_NONE || !expect_close(p, open)) return FAILED;
            p->depth--;
            return add_node(p, (gs_ad_op)fn, a.node, 0, start, start, p->i);
        }
        int is_pi = n == 2 && memcmp(p->s + start, "pi", 2) == 0;
        int is_e = n == 1 && p->s[start] == 'e';
        if (call && !is_pi && !is_e)
            return syntax_error(p, start, "unknown function '%.*s'", n > 32 ? 32 : (int)n,
                                p->s + start);
        p->i = i; /* the '(' after a constant is the caller's to refuse */
        if (is_pi || is_e) {
            ref r = add_node(p, GS_AD_CONST, 0, 0, start, start, i);
            if (r.node != GS_AD_NONE) p->nodes[r.node].constant = is_pi ? AD_PI : AD_E;
            return r;
        }
        return variable(p, start, n);
    }
    if (!is_token_char(c))
        return syntax_error(p, start, "unexpected character %s", describe(p, start).text);
    return syntax_error(p, start, "expected an expression, found %s", describe(p, start).text);
}

static ref parse_power(parser *p)
{
    ref a = parse_primary(p);
    if (a.node == GS_AD_NONE) return a;
    skip_space(p);
    if (!(p->i < p->len && p->s[p->i] == '^')) return a;
    size_t pos = p->i++;
    if (!enter(p, pos)) return FAILED;
    ref b = parse_unary(p); /* right-associative, and 2^-x is 2^(-x) */
    if (b.node == GS_AD_NONE) return b;
    p->depth--;
    return add_node(p, GS_AD_POW, a.node, b.node, pos, a.begin, b.end);
}

static ref parse_unary(parser *p)
{
    skip_space(p);
    if (!(p->i < p->len && (p->s[p->i] == '-' || p->s[p->i] == '+'))) return parse_power(p);
    size_t pos = p->i++;
    if (!enter(p, pos)) return FAILED;
    ref a = parse_unary(p);
    if (a.node == GS_AD_NONE) return a;
    p->depth--;
    if (p->s[pos] == '+') return (ref){a.node, pos, a.end};
    return add_node(p, GS_AD_NEG, a.node, 0, pos, pos, a.end);
}

/* One level of left-associative binary operators: operands from next,
 * joined by op[0] (node kind kind[0]) or op[1] (kind[1]). */
static ref parse_left_assoc(parser *p, ref (*next)(parser *), const char op[2],
                            const gs_ad_op kind[2])
{
    ref a = next(p);
    for (;;) {
        if (a.node == GS_AD_NONE) return a;
        skip_space(p);
        if (!(p->i < p->len && (p->s[p->i] == op[0] || p->s[p->i] == op[1]))) return a;
        size_t pos = p->i++;
        ref b = next(p);
        if (b.node == GS_AD_NONE) return b;
        a = add_node(p, p->s[pos] == op[0] ? kind[0] : kind[1], a.node, b.node, pos, a.begin,
                     b.end);
    }
}

static ref parse_term(parser *p)
{
    return parse_left_assoc(p, parse_unary, "*/", (const gs_ad_op[2]){GS_AD_MUL, GS_AD_DIV});
}

static ref parse_expr(parser *p)
{
    return parse_left_assoc(p, parse_term, "+-", (const gs_ad_op[2]){GS_AD_ADD, GS_AD_SUB});
}

/* ---- the tape ------------------------------------------------------------------ */

static span tape_var_name(const void *ctx, size_t k)
{
    const gs_ad_tape *t = ctx;
    return (span){t->var_name[k], strlen(t->var_name[k])};
}

/* Sizes of the slab's parts, overflow-checked; 0 if it would not fit. */
static int slab_layout(size_t nn, size_t nv, size_t names_len, size_t *hcap, size_t *off,
                       size_t *total)
{
    size_t h = 2;
    while (h < 2 * nv) {
        if (h > SIZE_MAX / 4) return 0;
        h *= 2;
    }
    *hcap = h;
    size_t ev;
    if (!gs_mul_ok(nn, 2, &ev) || !gs_add_ok(ev, 1, &ev)) return 0;
    const size_t count[10] = {nn, ev, nn, nv, nv, nv, nv, nv, h, nv};
    const size_t size[10] = {sizeof(gs_ad_node), sizeof(gs_ad_event), sizeof(double),
                             sizeof(double),     sizeof(double),      sizeof(double),
                             sizeof(size_t),     sizeof(char *),      sizeof(size_t),
                             1};
    size_t at = 0, bytes;
    for (int k = 0; k < 10; k++) {
        off[k] = at;
        if (!gs_mul_ok(count[k], size[k], &bytes) || !gs_add_ok(at, bytes, &at) ||
            at > SIZE_MAX - 8)
            return 0;
        at = (at + 7) & ~(size_t)7;
    }
    off[10] = at;
    return gs_add_ok(at, names_len, total);
}

static gs_ad_tape *tape_build(parser *p)
{
    size_t names_len = 0, hcap, off[11], total;
    for (size_t k = 0; k < p->nv; k++) names_len += p->vars[k].len + 1; /* <= 2 len */
    if (!slab_layout(p->n, p->nv, names_len, &hcap, off, &total)) return NULL;
    gs_ad_tape *t = gs_alloc_zero(&p->A, sizeof *t);
    if (!t) return NULL;
    char *slab = gs_alloc_zero(&p->A, total);
    if (!slab) {
        gs_free(&p->A, t);
        return NULL;
    }
    t->alloc = p->A;
    t->slab = slab;
    t->n_nodes = p->n;
    t->n_vars = p->nv;
    t->hcap = hcap;
    t->nodes = (gs_ad_node *)(slab + off[0]);
    t->events = (gs_ad_event *)(slab + off[1]);
    t->tangent = (double *)(slab + off[2]);
    t->grad = (double *)(slab + off[3]);
    t->fgrad = (double *)(slab + off[4]);
    t->values = (double *)(slab + off[5]);
    t->var_node = (size_t *)(slab + off[6]);
    t->var_name = (const char **)(slab + off[7]);
    t->hash = (size_t *)(slab + off[8]);
    t->given = (unsigned char *)(slab + off[9]);
    char *names = slab + off[10];
    memcpy(t->nodes, p->nodes, p->n * sizeof *p->nodes);
    for (size_t k = 0; k < p->nv; k++) {
        size_t n = p->vars[k].len;
        memcpy(names, p->s + p->vars[k].pos, n);
        names[n] = 0;
        t->var_name[k] = names;
        t->var_node[k] = p->vars[k].node;
        names += n + 1;
        t->hash[hash_slot(t->hash, hcap, t->var_name[k], n, tape_var_name, t)] = k + 1;
    }
    return t;
}

gs_ad_tape *gs_ad_parse(const char *expr, size_t len, const gs_ad_limits *lim,
                        const gs_allocator *alloc, gs_ad_error *err)
{
    ad_clear(err);
    gs_ad_limits L = lim ? *lim : (gs_ad_limits){0};
    if (L.max_length && len > L.max_length) {
        ad_fail(err, GS_AD_ERR_LIMIT, GS_ELIMIT, "expression", L.max_length, GS_AD_NONE,
                "the expression is %zu bytes long, over the limit of %zu", len, L.max_length);
        if (err) {
            err->limit = "max_length";
            err->limit_value = L.max_length;
        }
        return NULL;
    }
    if (!expr && len) {
        ad_fail(err, GS_AD_ERR_SYNTAX, GS_EINVAL, "expression", 0, GS_AD_NONE, "no expression");
        return NULL;
    }
    parser p = {
        .s = expr ? expr : "",
        .len = len,
        .max_depth = L.max_depth && L.max_depth < GS_AD_DEPTH_CAP ? L.max_depth : GS_AD_DEPTH_CAP,
        .max_nodes = L.max_nodes,
        .max_vars = L.max_vars,
        .A = gs_allocator_or_default(alloc),
        .err = err,
    };
    gs_ad_tape *t = NULL;
    skip_space(&p);
    if (p.i >= p.len) {
        syntax_error(&p, p.i, "the expression is empty");
    } else {
        ref r = parse_expr(&p);
        if (r.node != GS_AD_NONE) {
            skip_space(&p);
            if (p.i < p.len) {
                char c = p.s[p.i];
                if (c == ')') syntax_error(&p, p.i, "unmatched ')'");
                else if (!is_token_char(c))
                    syntax_error(&p, p.i, "unexpected character %s", describe(&p, p.i).text);
                else
                    syntax_error(&p, p.i, "expected an operator or the end, found %s",
                                 describe(&p, p.i).text);
            } else if (!(t = tape_build(&p))) {
                nomem_error(&p);
            }
        }
    }
    gs_free(&p.A, p.nodes);
    gs_free(&p.A, p.vars);
    gs_free(&p.A, p.hash);
    return t;
}

void gs_ad_free(gs_ad_tape *t)
{
    if (!t) return;
    gs_allocator A = t->alloc;
    gs_free(&A, t->slab);
    gs_free(&A, t);
}

size_t gs_ad_node_count(const gs_ad_tape *t) { return t->n_nodes; }
const gs_ad_node *gs_ad_nodes(const gs_ad_tape *t) { return t->nodes; }
size_t gs_ad_output(const gs_ad_tape *t) { return t->n_nodes - 1; }
size_t gs_ad_var_count(const gs_ad_tape *t) { return t->n_vars; }

const char *gs_ad_var_name(const gs_ad_tape *t, size_t var)
{
    return var < t->n_vars ? t->var_name[var] : NULL;
}

size_t gs_ad_var_node(const gs_ad_tape *t, size_t var)
{
    return var < t->n_vars ? t->var_node[var] : GS_AD_NONE;
}

size_t gs_ad_var_find(const gs_ad_tape *t, const char *name, size_t len)
{
    if (!name) return GS_AD_NONE;
    size_t slot = hash_slot(t->hash, t->hcap, name, len, tape_var_name, t);
    return t->hash[slot] ? t->hash[slot] - 1 : GS_AD_NONE;
}

double gs_ad_value(const gs_ad_tape *t)
{
    return t->evaluated ? t->nodes[t->n_nodes - 1].value : NAN;
}
const double *gs_ad_gradient(const gs_ad_tape *t) { return t->grad; }
const double *gs_ad_forward_gradient(const gs_ad_tape *t) { return t->fgrad; }
size_t gs_ad_event_count(const gs_ad_tape *t) { return t->evaluated ? t->n_events : 0; }
const gs_ad_event *gs_ad_events(const gs_ad_tape *t) { return t->events; }

/* ---- evaluation ----------------------------------------------------------------- */

static gs_status domain_error(const gs_ad_tape *t, gs_ad_error *err, size_t i, const char *fmt,
                              ...) __attribute__((format(printf, 4, 5)));
static gs_status domain_error(const gs_ad_tape *t, gs_ad_error *err, size_t i, const char *fmt,
                              ...)
{
    char msg[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ad_fail(err, GS_AD_ERR_DOMAIN, GS_EINVAL, "expression", t->nodes[i].pos, i,
                   "node %zu (%s): %s", i, op_names[t->nodes[i].op], msg);
}

/* "at/<name>", the name escaped as a JSON Pointer token (~ -> ~0, / -> ~1). */
static void at_field(char *out, size_t size, const char *name)
{
    size_t o = snprintf(out, size, "at/");
    for (const char *c = name; *c && o + 3 < size; c++) {
        if (*c == '~' || *c == '/') {
            out[o++] = '~';
            out[o++] = *c == '~' ? '0' : '1';
        } else {
            out[o++] = *c;
        }
    }
    out[o] = 0;
}

static gs_status value_error(gs_ad_error *err, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gs_status value_error(gs_ad_error *err, const char *name, const char *fmt, ...)
{
    char field[sizeof err->base.field];
    if (name) at_field(field, sizeof field, name);
    else snprintf(field, sizeof field, "at");
    va_list ap;
    va_start(ap, fmt);
    ad_vfail(err, GS_AD_ERR_VALUE, GS_EINVAL, field, GS_AD_NONE, GS_AD_NONE, fmt, ap);
    va_end(ap);
    return GS_EINVAL;
}

static double sigmoid(double a)
{
    if (a >= 0) return 1.0 / (1.0 + exp(-a));
    double e = exp(a);
    return e / (1.0 + e);
}

/* Node i's value and local partials from its inputs' values; a value that is
 * undefined or not finite is a domain error. */
static gs_status forward_node(gs_ad_tape *t, size_t i, gs_ad_error *err)
{
    gs_ad_node *d = &t->nodes[i];
    double a = d->n_in > 0 ? t->nodes[d->in[0]].value : 0;
    double b = d->n_in > 1 ? t->nodes[d->in[1]].value : 0;
    double v, p0 = NAN, p1 = NAN;
    switch (d->op) {
    case GS_AD_CONST: v = d->constant; break;
    case GS_AD_VAR: v = t->values[d->var]; break;
    case GS_AD_ADD: v = a + b; p0 = 1; p1 = 1; break;
    case GS_AD_SUB: v = a - b; p0 = 1; p1 = -1; break;
    case GS_AD_MUL: v = a * b; p0 = b; p1 = a; break;
    case GS_AD_DIV:
        if (b == 0) return domain_error(t, err, i, "division by zero");
        v = a / b; p0 = 1 / b; p1 = -v / b; /* -a / b^2 without overflowing b^2 */
        break;
    case GS_AD_POW:
        if (a == 0 && b < 0) return domain_error(t, err, i, "zero to a negative power (%g)", b);
        if (a < 0 && b != floor(b))
            return domain_error(t, err, i, "a negative base (%g) to a non-integer power (%g)", a,
                                b);
        v = pow(a, b);
        p0 = b == 0 ? 0 : b * pow(a, b - 1); /* d/da a^0 = 0, even at a = 0 */
        p1 = a > 0 ? v * log(a) : NAN;       /* d/db a^b needs a > 0 around a */
        if (a <= 0 && t->nodes[d->in[1]].depends)
            return domain_error(t, err, i,
                                "a variable exponent needs a positive base, the base is %g", a);
        break;
    case GS_AD_NEG: v = -a; p0 = -1; break;
    case GS_AD_EXP: v = exp(a); p0 = v; break;
    case GS_AD_LOG:
        if (a < 0) return domain_error(t, err, i, "log of a negative number (%g)", a);
        if (a == 0) return domain_error(t, err, i, "log of zero");
        v = log(a); p0 = 1 / a;
        break;
    case GS_AD_SQRT:
        if (a < 0) return domain_error(t, err, i, "sqrt of a negative number (%g)", a);
        v = sqrt(a);
        p0 = v > 0 ? 0.5 / v : INFINITY; /* refused below if needed */
        break;
    case GS_AD_SIN: v = sin(a); p0 = cos(a); break;
    case GS_AD_COS: v = cos(a); p0 = -sin(a); break;
    case GS_AD_TAN: v = tan(a); p0 = 1 + v * v; break;
    /* Not 1 - v^2 and v (1 - v): they cancel to 0 where the curve saturates,
     * while these keep full relative precision (sech^2 and sigma(a) sigma(-a)). */
    case GS_AD_TANH: {
        double s = 1 / cosh(a); /* 0 once cosh overflows */
        v = tanh(a);
        p0 = s * s;
        break;
    }
    case GS_AD_SIGMOID: v = sigmoid(a); p0 = v * sigmoid(-a); break;
    case GS_AD_RELU: v = a > 0 ? a : 0; p0 = a > 0 ? 1 : 0; break;
    case GS_AD_ABS: v = fabs(a); p0 = a > 0 ? 1 : a < 0 ? -1 : 0; break;
    default: return domain_error(t, err, i, "unknown operation");
    }
    if (!isfinite(v)) return domain_error(t, err, i, "the result overflows");
    d->value = v;
    double p[2] = {p0, p1};
    for (size_t k = 0; k < 2; k++) {
        d->has_partial[k] = k < d->n_in && isfinite(p[k]);
        d->partial[k] = d->has_partial[k] ? p[k] : NAN; /* not +-inf: one "undefined" */
        if (k < d->n_in && !isfinite(p[k]) && t->nodes[d->in[k]].depends)
            return domain_error(t, err, i, "not differentiable at %g: the slope is not finite", a);
    }
    return GS_OK;
}

/* Forward mode: the tangent of node i from its inputs' tangents, by the rule
 * of each op written for dual numbers, (a, a') op (b, b'), independently of
 * the partials of the reverse sweep. Inputs that depend on no variable have
 * tangent 0 and are skipped (their partial may be undefined). */
static double tangent_of(const gs_ad_tape *t, const gs_ad_node *d)
{
    const double *T = t->tangent;
    double a = d->n_in > 0 ? t->nodes[d->in[0]].value : 0;
    double b = d->n_in > 1 ? t->nodes[d->in[1]].value : 0;
    double v = d->value;
    int da = d->n_in > 0 && t->nodes[d->in[0]].depends;
    int db = d->n_in > 1 && t->nodes[d->in[1]].depends;
    double ta = da ? T[d->in[0]] : 0, tb = db ? T[d->in[1]] : 0;
    switch (d->op) {
    case GS_AD_ADD: return ta + tb;
    case GS_AD_SUB: return ta - tb;
    case GS_AD_MUL: return ta * b + a * tb;
    case GS_AD_DIV: return (ta - v * tb) / b;
    case GS_AD_POW: {
        double r = 0;
        if (da && b != 0) r += b * pow(a, b - 1) * ta;
        if (db) r += v * log(a) * tb; /* a > 0 was checked by the forward sweep */
        return r;
    }
    case GS_AD_NEG: return -ta;
    case GS_AD_EXP: return v * ta;
    case GS_AD_LOG: return ta / a;
    case GS_AD_SQRT: return ta / (2 * v);
    case GS_AD_SIN: return cos(a) * ta;
    case GS_AD_COS: return -sin(a) * ta;
    case GS_AD_TAN: return ta / (cos(a) * cos(a));
    case GS_AD_TANH: {
        double e = exp(-2 * fabs(a)); /* sech^2 a = 4 e^-2|a| / (1 + e^-2|a|)^2 */
        return 4 * e / ((1 + e) * (1 + e)) * ta;
    }
    case GS_AD_SIGMOID: {
        double e = exp(-fabs(a)); /* sigma' = e^-|a| / (1 + e^-|a|)^2 */
        return e / ((1 + e) * (1 + e)) * ta;
    }
    case GS_AD_RELU: return a > 0 ? ta : 0;
    case GS_AD_ABS: return a > 0 ? ta : a < 0 ? -ta : 0;
    default: return 0; /* CONST; VAR is seeded by the caller */
    }
}

gs_status gs_ad_eval(gs_ad_tape *t, size_t n, const char *const *names, const double *values,
                     gs_ad_error *err)
{
    ad_clear(err);
    t->evaluated = 0;
    t->n_events = 0;
    memset(t->given, 0, t->n_vars);
    if (n && (!names || !values)) return value_error(err, NULL, "no variable values given");
    for (size_t k = 0; k < n; k++) {
        if (!names[k]) return value_error(err, NULL, "variable %zu has no name", k);
        size_t v = gs_ad_var_find(t, names[k], strlen(names[k]));
        if (v == GS_AD_NONE)
            return value_error(err, names[k], "'%.40s' is not a variable of the expression",
                               names[k]);
        if (t->given[v]) return value_error(err, names[k], "'%.40s' is given twice", names[k]);
        if (!isfinite(values[k])) return value_error(err, names[k], "must be a finite number");
        t->given[v] = 1;
        t->values[v] = values[k];
    }
    for (size_t v = 0; v < t->n_vars; v++)
        if (!t->given[v])
            return value_error(err, t->var_name[v], "missing: the expression uses '%.40s'",
                               t->var_name[v]);

    size_t N = t->n_nodes, out = N - 1;
    gs_ad_node *nodes = t->nodes;
    for (size_t i = 0; i < N; i++) {
        nodes[i].value = NAN;
        nodes[i].adjoint = 0;
    }
    for (size_t i = 0; i < N; i++) {
        gs_status st = forward_node(t, i, err);
        if (st) return st;
    }

    /* Reverse sweep: seeded with d out / d out = 1; node i's adjoint is final
     * when the sweep reaches it, as every user of i comes after it. */
    gs_ad_event *ev = t->events;
    size_t ne = 0;
    if (nodes[out].depends) {
        nodes[out].adjoint = 1;
        ev[ne++] = (gs_ad_event){out, GS_AD_NONE, 0, 1, 1, 1};
    }
    for (size_t i = N; i-- > 0;) {
        const gs_ad_node *d = &nodes[i];
        if (!d->depends) continue;
        for (size_t k = 0; k < d->n_in; k++) {
            size_t c = d->in[k];
            if (!nodes[c].depends) continue;
            double contrib = d->adjoint * d->partial[k];
            nodes[c].adjoint += contrib;
            if (!isfinite(nodes[c].adjoint))
                return domain_error(t, err, c, "its adjoint (d output / d node) overflows");
            ev[ne++] = (gs_ad_event){c, i, k, d->partial[k], contrib, nodes[c].adjoint};
        }
    }
    t->n_events = ne;
    for (size_t v = 0; v < t->n_vars; v++) t->grad[v] = nodes[t->var_node[v]].adjoint;

    /* Forward mode: one sweep per variable, seeded with d x_v / d x_v = 1. */
    for (size_t v = 0; v < t->n_vars; v++) {
        for (size_t i = 0; i < N; i++) {
            const gs_ad_node *d = &nodes[i];
            double dt = d->op == GS_AD_VAR ? (d->var == v) : d->depends ? tangent_of(t, d) : 0;
            if (!isfinite(dt))
                return domain_error(t, err, i, "its forward-mode tangent overflows");
            t->tangent[i] = dt;
        }
        t->fgrad[v] = t->tangent[out];
    }
    t->evaluated = 1;
    return GS_OK;
}
