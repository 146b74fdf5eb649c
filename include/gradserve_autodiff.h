/* gradserve autodiff: scalar expressions, their tape, and reverse-mode
 * differentiation with every step of the chain rule shown.
 *
 *   gs_ad_tape *t = gs_ad_parse("exp(sin(x^2))", 13, &lim, NULL, &err);
 *   const char *names[] = {"x"};
 *   double at[] = {1.5};
 *   gs_ad_eval(t, 1, names, at, &err);
 *   gs_ad_value(t), gs_ad_gradient(t)[0]  -- 2x cos(x^2) exp(sin(x^2)) at 1.5
 *   gs_ad_free(t);
 *
 * The tape is the expression's nodes in forward (topological) order: node i's
 * inputs all have smaller indices and the last node is the output. Each
 * variable is one node however often it occurs, so its adjoint sums the
 * contributions of every use; other subexpressions are not merged (sin(x) *
 * sin(x) has two sin nodes), so the tape reads like the expression.
 *
 * Grammar (whitespace anywhere between tokens):
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/') unary)*
 *   unary   := ('-' | '+') unary | power
 *   power   := primary ('^' unary)?          right-associative: x^y^z = x^(y^z)
 *   primary := number | name | function '(' expr ')' | '(' expr ')'
 * so '^' binds tighter than unary minus: -x^2 = -(x^2), 2^-x = 2^(-x).
 * Numbers: digits with an optional '.' and exponent (1, 1.5, .5, 2e-3).
 * Names: [A-Za-z_][A-Za-z0-9_]*; "pi" and "e" are constants, the functions
 * below need their parentheses, and any other name is a variable.
 *
 * Same conventions as gradserve.h: no globals, no printing, nothing a caller
 * passes makes the library exit or abort; a tape is used by one thread at a
 * time. Parsing is the only step that allocates; evaluation does not.
 */
#ifndef GRADSERVE_AUTODIFF_H
#define GRADSERVE_AUTODIFF_H

#include "gradserve.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "No node / no position / no parent". */
#define GS_AD_NONE ((size_t)-1)

/* Recursion bound of the parser, whatever the caller's limit: a limit of 0 or
 * above this is taken as this. Each level is a few small stack frames. */
#define GS_AD_DEPTH_CAP 256

typedef enum {
    GS_AD_CONST = 0, /* a number, pi or e; no inputs */
    GS_AD_VAR,       /* a variable; no inputs */
    GS_AD_ADD,       /* in0 + in1 */
    GS_AD_SUB,       /* in0 - in1 */
    GS_AD_MUL,       /* in0 * in1 */
    GS_AD_DIV,       /* in0 / in1 */
    GS_AD_POW,       /* in0 ^ in1 */
    GS_AD_NEG,       /* -in0 */
    GS_AD_EXP,
    GS_AD_LOG,       /* natural logarithm */
    GS_AD_SQRT,
    GS_AD_SIN,
    GS_AD_COS,
    GS_AD_TAN,
    GS_AD_TANH,
    GS_AD_SIGMOID,   /* 1 / (1 + exp(-in0)), computed without overflow */
    GS_AD_RELU,      /* max(in0, 0); derivative at 0 is 0, as torch */
    GS_AD_ABS,       /* |in0|; derivative at 0 is 0, as torch's sign */
    GS_AD_OP_COUNT
} gs_ad_op;

/* Name of an op as a response shows it: "const", "var", "add", "sub", "mul",
 * "div", "pow", "neg", then the function names ("exp", ..., "abs"). */
const char *gs_ad_op_name(gs_ad_op op);
/* The operator's symbol for binary ops and neg ("+", "-", "*", "/", "^",
 * "-"), else NULL. */
const char *gs_ad_op_symbol(gs_ad_op op);

/* 0 means "no limit" (the depth is still capped at GS_AD_DEPTH_CAP). */
typedef struct {
    size_t max_length; /* bytes of the expression */
    size_t max_depth;  /* nesting: each '(', function call, unary sign and '^' is a level */
    size_t max_nodes;  /* nodes of the tape (variables count once) */
    size_t max_vars;   /* distinct variables */
} gs_ad_limits;

/* What went wrong, and so which HTTP answer fits:
 *   SYNTAX   GS_EINVAL, field "expression", position        -> 400
 *   LIMIT    GS_ELIMIT, field "expression", position        -> 422 limit-exceeded
 *   VALUE    GS_EINVAL, field "at" or "at/<name>" (the name
 *            escaped as a JSON Pointer token: ~0 ~1)        -> 400
 *   DOMAIN   GS_EINVAL, field "expression", node, position
 *            of the node's operator or function name        -> 422 (the request is
 *            well formed; the expression is undefined or not differentiable there)
 *   NOMEM    GS_ENOMEM                                      -> 503
 * base.status alone reads as for the rest of the core (EINVAL is the caller's
 * fault); kind tells SYNTAX/VALUE from DOMAIN. */
typedef enum {
    GS_AD_ERR_NONE = 0,
    GS_AD_ERR_SYNTAX,
    GS_AD_ERR_LIMIT,
    GS_AD_ERR_VALUE,
    GS_AD_ERR_DOMAIN,
    GS_AD_ERR_NOMEM,
} gs_ad_error_kind;

typedef struct {
    gs_error base;         /* status, field, message (base.step unused) */
    gs_ad_error_kind kind;
    size_t position;       /* 0-based byte offset into the expression, or GS_AD_NONE.
                            * Every byte before it is ASCII (any other byte is a
                            * syntax error), so it is also the character offset,
                            * except for the length limit (position = max_length). */
    size_t node;           /* DOMAIN: index of the node; else GS_AD_NONE */
    const char *limit;     /* LIMIT: the gs_ad_limits member exceeded ("max_length",
                            * "max_depth", "max_nodes", "max_vars"); else NULL */
    size_t limit_value;    /* LIMIT: its value (GS_AD_DEPTH_CAP for an uncapped depth) */
} gs_ad_error;

/* One node of the tape. Structure is set by gs_ad_parse; value, partial and
 * adjoint by gs_ad_eval. */
typedef struct {
    gs_ad_op op;
    size_t n_in;         /* 0, 1 or 2 */
    size_t in[2];        /* input nodes, each < this node's index; GS_AD_NONE if unused */
    size_t pos;          /* byte offset of its token: operator, function or variable
                          * name, number */
    size_t begin, end;   /* the source text of its subexpression: [begin, end) */
    double constant;     /* CONST: its value */
    size_t var;          /* VAR: index of the variable (gs_ad_var_name) */
    int depends;         /* 1 if it depends on a variable (needs an adjoint) */

    double value;
    /* d value / d in[k], the local derivative the chain rule multiplies by.
     * has_partial[k] is 0 (and partial[k] NaN) where it is undefined but not
     * needed, because in[k] depends on no variable: the exponent of
     * (-2)^3 or x^2 at x <= 0 (d/dy y^x needs y > 0), sqrt(0). */
    double partial[2];
    int has_partial[2];
    /* d output / d node once the reverse sweep is done; 0 where !depends. */
    double adjoint;
} gs_ad_node;

/* One accumulation of the reverse sweep: adjoint(node) += contribution, where
 * contribution = adjoint(from) * from.partial[slot]. The first event is the
 * seed (node = output, from = GS_AD_NONE, contribution 1), unless the output
 * depends on no variable (then there are no events). Events come in the
 * order the sweep makes them: parents from the output down, each parent's
 * inputs in slot order; a parent's adjoint is final before its first event,
 * because every node that uses it comes later on the tape. Nodes that depend
 * on no variable get no events. */
typedef struct {
    size_t node;
    size_t from;
    size_t slot;         /* which input of from; 0 for the seed */
    double partial;      /* from.partial[slot]; 1 for the seed */
    double contribution;
    double adjoint;      /* adjoint(node) after this event */
} gs_ad_event;

typedef struct gs_ad_tape gs_ad_tape;

/* Parses expr (len bytes, need not be NUL-terminated; a NUL byte is a syntax
 * error) into a tape. lim and alloc may be NULL (no limits but the depth
 * cap; malloc/free). Length is checked before anything is read. On error
 * returns NULL with err filled (err may be NULL). */
gs_ad_tape *gs_ad_parse(const char *expr, size_t len, const gs_ad_limits *lim,
                        const gs_allocator *alloc, gs_ad_error *err);
/* Frees the tape and everything it holds; NULL is allowed. */
void gs_ad_free(gs_ad_tape *t);

size_t gs_ad_node_count(const gs_ad_tape *t);
const gs_ad_node *gs_ad_nodes(const gs_ad_tape *t); /* [node_count] */
size_t gs_ad_output(const gs_ad_tape *t);           /* node_count - 1 */

/* Variables in order of first occurrence. */
size_t gs_ad_var_count(const gs_ad_tape *t);
const char *gs_ad_var_name(const gs_ad_tape *t, size_t var); /* NUL-terminated */
size_t gs_ad_var_node(const gs_ad_tape *t, size_t var);
/* Index of the variable called name (len bytes), or GS_AD_NONE. */
size_t gs_ad_var_find(const gs_ad_tape *t, const char *name, size_t len);

/* Evaluates at a point: names[i] (NUL-terminated) takes values[i], for every
 * variable of the expression exactly once; a name that is not a variable, a
 * missing or repeated one or a non-finite value is a VALUE error. Then:
 *   forward sweep: every node's value and local partials;
 *   reverse sweep: the adjoints, one event per accumulation (gs_ad_events),
 *                  and the gradient (one sweep for the one output);
 *   forward mode:  the same gradient from dual numbers (value, tangent), one
 *                  sweep per variable, computed by separate derivative rules,
 *                  as a check on the reverse sweep.
 * A node whose value is undefined or not finite, or a needed partial that is
 * not, stops with a DOMAIN error naming the node: log or sqrt of a negative
 * number, log(0), division by zero, 0 to a negative power, a negative base to
 * a non-integer power, a variable exponent with a base <= 0, overflow, sqrt or
 * x^0.5 at 0 (infinite slope). On error the values of the nodes before the
 * failing one are kept; the gradients are not valid. May be called again at
 * other points. */
gs_status gs_ad_eval(gs_ad_tape *t, size_t n, const char *const *names, const double *values,
                     gs_ad_error *err);

/* Results of the last successful gs_ad_eval. */
double gs_ad_value(const gs_ad_tape *t);
const double *gs_ad_gradient(const gs_ad_tape *t);         /* [var_count], reverse mode */
const double *gs_ad_forward_gradient(const gs_ad_tape *t); /* [var_count], forward mode */
size_t gs_ad_event_count(const gs_ad_tape *t);
const gs_ad_event *gs_ad_events(const gs_ad_tape *t);

/* Sweeps each mode needs for the full Jacobian of f: R^n -> R^m: forward one
 * per input (n), reverse one per output (m). A network's loss has m = 1 and n
 * in the millions, hence back-propagation. */
static inline size_t gs_ad_forward_sweeps(size_t n_inputs, size_t n_outputs)
{
    (void)n_outputs;
    return n_inputs;
}
static inline size_t gs_ad_reverse_sweeps(size_t n_inputs, size_t n_outputs)
{
    (void)n_inputs;
    return n_outputs;
}

#ifdef __cplusplus
}
#endif
#endif
