#include "api/autodiff_route.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "gradserve_autodiff.h"
#include "api/request.h"

static const char *const AUTODIFF_KEYS[] = {"expression", "at", NULL};

/* The writer and the first non-finite number met: JSON cannot carry one, and
 * dropping it (jw writes null) would hide a bug, so the answer becomes a 422
 * naming where in the response it was. */
typedef struct {
    jw *w;
    char bad[PTR_MAX];
    double bad_value;
} ad_out;

static void num(ad_out *o, double v, const char *base, const char *key, size_t index)
{
    if (!isfinite(v) && !o->bad[0]) {
        char p[PTR_MAX];
        if (key) ptr_key(p, base, key);
        else ptr_index(p, base, index);
        memcpy(o->bad, p, sizeof p);
        o->bad_value = v;
    }
    jw_double(o->w, v);
}

/* The server's name of a core limit: its flag with underscores. */
static const char *limit_name(const char *core)
{
    static const struct {
        const char *core, *server;
    } NAMES[] = {{"max_length", "max_expression_length"},
                 {"max_depth", "max_expression_depth"},
                 {"max_nodes", "max_expression_nodes"},
                 {"max_vars", "max_expression_vars"}};
    for (size_t i = 0; core && i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (!strcmp(NAMES[i].core, core)) return NAMES[i].server;
    return "max_expression_length";
}

static void diag_ad(diag *d, const gs_ad_error *e, const gs_ad_tape *t)
{
    char p[PTR_MAX];
    switch (e->kind) {
    case GS_AD_ERR_SYNTAX:
        diag_invalid(d, "/expression", "%s", e->base.message);
        break;
    case GS_AD_ERR_VALUE:
        core_field_ptr(p, "/", e->base.field);
        diag_invalid(d, p, "%s", e->base.message);
        break;
    case GS_AD_ERR_LIMIT:
        diag_limit(d, limit_name(e->limit), (double)e->limit_value, "/expression", "%s",
                   e->base.message);
        break;
    case GS_AD_ERR_DOMAIN:
        diag_set(d, 422, "domain-error", "%s", e->base.message);
        diag_invalid(d, "/expression", "%s", e->base.message); /* adds the pointer only */
        if (t && e->node < gs_ad_node_count(t)) {
            d->has_node = 1;
            d->node = e->node;
            d->op = gs_ad_op_name(gs_ad_nodes(t)[e->node].op);
        }
        break;
    default:
        diag_set(d, 500, "internal", "%s", e->base.message);
        break;
    }
    if (e->position != GS_AD_NONE && e->kind != GS_AD_ERR_VALUE) {
        d->has_position = 1;
        d->position = e->position;
    }
}

/* "at": {name: number, ...}; names and values borrowed from / stored into
 * arrays of n entries. Returns 0 with d filled on a wrong type. */
static int decode_at(const json_t *root, const char ***names, double **values, size_t *n,
                     diag *d)
{
    const json_t *at = json_object_get(root, "at");
    *n = 0;
    *names = NULL;
    *values = NULL;
    if (!at) return 1;
    if (!need_object(at, "/at", d)) return 0;
    size_t cap = json_object_size(at);
    *names = srv_malloc((cap ? cap : 1) * sizeof **names);
    *values = srv_malloc((cap ? cap : 1) * sizeof **values);
    if (!*names || !*values) {
        diag_set(d, 500, "internal", "out of memory reading \"at\"");
        return 0;
    }
    const char *key;
    size_t key_len;
    const json_t *v;
    json_object_keylen_foreach((json_t *)at, key, key_len, v) {
        char p[PTR_MAX];
        ptr_key(p, "/at", key);
        if (strlen(key) != key_len) diag_invalid(d, p, "a variable name cannot hold a NUL");
        else if (!json_is_number(v)) diag_invalid(d, p, "must be a number");
        (*names)[*n] = key;
        (*values)[(*n)++] = json_number_value(v);
    }
    return !d->status;
}

/* The source text of [b, e) as a JSON string. */
static void write_text(jw *w, const char *expr, size_t b, size_t e)
{
    char small[128], *s = e - b < sizeof small ? small : srv_malloc(e - b + 1);
    if (!s) {
        w->failed = 1;
        return;
    }
    memcpy(s, expr + b, e - b);
    s[e - b] = 0;
    jw_string(w, s);
    if (s != small) srv_free(s);
}

static void write_node(ad_out *o, const gs_ad_tape *t, const char *expr, size_t i)
{
    const gs_ad_node *nd = &gs_ad_nodes(t)[i];
    jw *w = o->w;
    char base[PTR_MAX];
    ptr_index(base, "/tape", i);
    jw_object(w);
    jw_key(w, "id");
    jw_uint(w, i);
    jw_key(w, "op");
    jw_string(w, gs_ad_op_name(nd->op));
    jw_key(w, "symbol");
    if (gs_ad_op_symbol(nd->op)) jw_string(w, gs_ad_op_symbol(nd->op));
    else jw_null(w);
    jw_key(w, "text");
    write_text(w, expr, nd->begin, nd->end);
    jw_key(w, "span");
    jw_array(w);
    jw_uint(w, nd->begin);
    jw_uint(w, nd->end);
    jw_end(w);
    jw_key(w, "position");
    jw_uint(w, nd->pos);
    if (nd->op == GS_AD_CONST) {
        jw_key(w, "constant");
        num(o, nd->constant, base, "constant", 0);
    } else if (nd->op == GS_AD_VAR) {
        jw_key(w, "name");
        jw_string(w, gs_ad_var_name(t, nd->var));
    }
    jw_key(w, "inputs");
    jw_array(w);
    for (size_t k = 0; k < nd->n_in; k++) jw_uint(w, nd->in[k]);
    jw_end(w);
    jw_key(w, "value");
    num(o, nd->value, base, "value", 0);
    jw_key(w, "partials");
    jw_array(w);
    char pp[PTR_MAX];
    ptr_key(pp, base, "partials");
    for (size_t k = 0; k < nd->n_in; k++) {
        if (nd->has_partial[k]) num(o, nd->partial[k], pp, NULL, k);
        else jw_null(w); /* undefined, and not needed: in[k] depends on no variable */
    }
    jw_end(w);
    jw_key(w, "depends");
    jw_bool(w, nd->depends);
    jw_key(w, "adjoint");
    num(o, nd->adjoint, base, "adjoint", 0);
    jw_end(w);
}

static void write_event(ad_out *o, const gs_ad_event *ev, size_t k)
{
    jw *w = o->w;
    char base[PTR_MAX];
    ptr_index(base, "/reverse", k);
    jw_object(w);
    jw_key(w, "node");
    jw_uint(w, ev->node);
    jw_key(w, "from");
    if (ev->from == GS_AD_NONE) jw_null(w);
    else jw_uint(w, ev->from);
    jw_key(w, "slot");
    jw_uint(w, ev->slot);
    jw_key(w, "partial");
    num(o, ev->partial, base, "partial", 0);
    jw_key(w, "contribution");
    num(o, ev->contribution, base, "contribution", 0);
    jw_key(w, "adjoint");
    num(o, ev->adjoint, base, "adjoint", 0);
    jw_end(w);
}

static void write_gradient(ad_out *o, const gs_ad_tape *t, const char *key, const double *g)
{
    char base[PTR_MAX];
    ptr_key(base, "", key);
    jw_key(o->w, key);
    jw_object(o->w);
    for (size_t v = 0; v < gs_ad_var_count(t); v++) {
        jw_key(o->w, gs_ad_var_name(t, v));
        num(o, g[v], base, gs_ad_var_name(t, v), 0);
    }
    jw_end(o->w);
}

static void write_answer(ad_out *o, const gs_ad_tape *t, const char *expr)
{
    jw *w = o->w;
    size_t n_vars = gs_ad_var_count(t);
    jw_object(w);
    jw_key(w, "value");
    num(o, gs_ad_value(t), "", "value", 0);
    write_gradient(o, t, "gradient", gs_ad_gradient(t));
    write_gradient(o, t, "forward_gradient", gs_ad_forward_gradient(t));
    jw_key(w, "sweeps");
    jw_object(w);
    jw_key(w, "inputs");
    jw_uint(w, n_vars);
    jw_key(w, "outputs");
    jw_uint(w, 1);
    jw_key(w, "forward");
    jw_uint(w, gs_ad_forward_sweeps(n_vars, 1));
    jw_key(w, "reverse");
    jw_uint(w, gs_ad_reverse_sweeps(n_vars, 1));
    jw_end(w);
    jw_key(w, "output");
    jw_uint(w, gs_ad_output(t));
    jw_key(w, "tape");
    jw_array(w);
    for (size_t i = 0; i < gs_ad_node_count(t); i++) write_node(o, t, expr, i);
    jw_end(w);
    jw_key(w, "reverse");
    jw_array(w);
    const gs_ad_event *ev = gs_ad_events(t);
    for (size_t k = 0; k < gs_ad_event_count(t); k++) write_event(o, &ev[k], k);
    jw_end(w);
    jw_end(w);
}

void autodiff_compute(const json_t *root, const server_options *opts, jw *w, diag *d)
{
    if (!need_object(root, "", d) || !check_keys(root, "", d, AUTODIFF_KEYS, NULL)) return;
    const json_t *ej = json_object_get(root, "expression");
    if (!ej) diag_invalid(d, "/expression", "is required");
    else if (!json_is_string(ej)) diag_invalid(d, "/expression", "must be a string");
    const char **names;
    double *values;
    size_t n;
    int at_ok = decode_at(root, &names, &values, &n, d);
    if (!d->status && at_ok) {
        const char *expr = json_string_value(ej);
        size_t len = json_string_length(ej);
        gs_ad_error e;
        gs_ad_tape *t = gs_ad_parse(expr, len, &opts->ad_limits, &SRV_GS_ALLOC, &e);
        if (!t) {
            diag_ad(d, &e, NULL);
        } else if (gs_ad_eval(t, n, names, values, &e) != GS_OK) {
            diag_ad(d, &e, t);
        } else {
            ad_out o = {.w = w};
            write_answer(&o, t, expr);
            if (o.bad[0])
                diag_nonfinite(d, o.bad, "%g is not finite (an overflow the core let through)",
                               o.bad_value);
        }
        gs_ad_free(t);
    }
    srv_free(names);
    srv_free(values);
}
