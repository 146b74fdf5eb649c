/* The core against PyTorch: tests/fixtures/{nets,optim,layers}.json hold losses,
 * outputs, gradients, dL/dx, dL/dz, optimizer trajectories and mini-batch
 * training runs computed by torch (tests/fixtures/make_fixtures.py).
 *
 * Every tensor is compared on its own: max|got - want| / max(max|want|, tiny)
 * must stay under 1e-10 (float64) or 1e-4 (float32) for one pass, and 1e-9 /
 * 1e-4 after 20 optimizer steps. Each network runs through both GEMM paths. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradserve.h"
#include "lib/fixture.h"

#define TOL_PASS_F64 1e-10
#define TOL_PASS_F32 1e-4
#define TOL_OPTIM_F64 1e-9
#define TOL_OPTIM_F32 1e-4
#define RESUME_AT 10

static const char *fixture_dir = "tests/fixtures";

/* Worst relative error seen, [dtype][kind], printed at the end as '#' lines. */
enum { K_PASS, K_OPTIM, K_TRAIN, K_COUNT };
static double worst_seen[2][K_COUNT];
static const char *const kind_names[K_COUNT] = {"passes", "optimizer trajectories",
                                                "training runs"};
static int cur_kind;

static double tol_for(gs_dtype t, int kind)
{
    if (kind == K_PASS) return t == GS_FLOAT64 ? TOL_PASS_F64 : TOL_PASS_F32;
    return t == GS_FLOAT64 ? TOL_OPTIM_F64 : TOL_OPTIM_F32;
}

static void note_err(gs_dtype t, double e)
{
    if (e > worst_seen[t][cur_kind]) worst_seen[t][cur_kind] = e;
}

/* ---- comparisons ------------------------------------------------------------ */

/* got (n elements of dtype t) against want; names the tensor on failure. */
static void cmp_values(const char *what, const void *got, gs_dtype t, const double *want,
                       size_t n, gs_dtype net_dtype)
{
    size_t w;
    double tol = tol_for(net_dtype, cur_kind);
    double e = fx_rel_err(got, t, want, n, &w);
    note_err(net_dtype, e);
    CHECK(e <= tol, "%s: rel err %.3g > %.0e (element %zu of %zu: got %.17g, want %.17g)", what,
          e, tol, w, n, got ? fx_get(got, t, w) : NAN, n ? want[w] : NAN);
}

static void cmp_tensor(const char *what, const void *got, gs_dtype t, const json_t *want_json,
                       size_t n, gs_dtype net_dtype)
{
    double *want = malloc((n ? n : 1) * sizeof *want);
    if (!want || fx_doubles(want_json, want, n)) {
        CHECK(0, "%s: the fixture does not hold %zu numbers", what, n);
    } else {
        CHECK(got != NULL, "%s: the core returned NULL", what);
        if (got) cmp_values(what, got, t, want, n, net_dtype);
    }
    free(want);
}

static void cmp_scalar(const char *what, double got, const json_t *want_json, gs_dtype net_dtype)
{
    double want = json_number_value(want_json);
    CHECK(json_is_number(want_json), "%s: missing in the fixture", what);
    cmp_values(what, &got, GS_FLOAT64, &want, 1, net_dtype);
}

/* A slab in the parameter layout (dtype t) against [{weight, bias}, {}, ...],
 * tensor by tensor. */
static void cmp_slab(const char *what, const void *slab, gs_dtype t, const gs_net *net,
                     const json_t *list, gs_dtype net_dtype)
{
    const gs_net_def *def = gs_net_def_of(net);
    if (!slab) {
        CHECK(0, "%s: the core returned NULL", what);
        return;
    }
    if (json_array_size(list) != def->n_layers) {
        CHECK(0, "%s: the fixture has %zu layers, the net %zu", what, json_array_size(list),
              def->n_layers);
        return;
    }
    size_t bytes = fx_dtype_bytes(t);
    char name[160];
    for (size_t k = 0; k < gs_net_tensor_count(net); k++) {
        size_t l = gs_net_tensor_layer(net, k);
        const char *tn = gs_net_tensor_name(net, k);
        snprintf(name, sizeof name, "%s/%zu/%s", what, l, tn);
        cmp_tensor(name, (const char *)slab + gs_net_tensor_offset(net, k) * bytes, t,
                   json_object_get(json_array_get(list, l), tn), gs_net_tensor_size(net, k),
                   net_dtype);
    }
}

/* The net's buffers (batch_norm's running statistics) against a fixture's
 * [{running_mean, running_var}, {}, ...]; nothing to compare without buffers. */
static void cmp_buffers(const char *what, gs_net *net, const json_t *list)
{
    gs_dtype t = gs_net_def_of(net)->dtype;
    size_t es = fx_dtype_bytes(t);
    CHECK(!gs_net_buffer_count(net) || list, "%s: missing in the fixture", what);
    for (size_t b = 0; list && b < gs_net_buffer_count(net); b++) {
        size_t l = gs_net_buffer_layer(net, b);
        char name[160];
        snprintf(name, sizeof name, "%s/%zu/%s", what, l, gs_net_buffer_name(net, b));
        cmp_tensor(name, (const char *)gs_net_params(net) + gs_net_buffer_offset(net, b) * es, t,
                   json_object_get(json_array_get(list, l), gs_net_buffer_name(net, b)),
                   gs_net_buffer_size(net, b), t);
    }
}

/* The net's parameters against a fixture list, read out as doubles. */
static void cmp_params(const char *what, gs_net *net, const json_t *list)
{
    size_t n = gs_net_param_count(net);
    double *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        CHECK(0, "out of memory");
        return;
    }
    gs_net_get_params(net, p, GS_FLOAT64);
    cmp_slab(what, p, GS_FLOAT64, net, list, gs_net_def_of(net)->dtype);
    free(p);
}

/* ---- one fixture network, built ---------------------------------------------- */

typedef struct {
    gs_net_def def;
    gs_layer_def layers[FX_MAX_LAYERS];
    gs_net *net;
    gs_pass *pass;
    size_t rows, n_in, n_out;
    void *inputs, *targets;
    int64_t *labels;
} setup;

static const gs_limits no_limits = {0, 0, 0, 0};

static void setup_free(setup *s)
{
    gs_pass_free(s->pass);
    gs_net_free(s->net);
    free(s->inputs);
    free(s->targets);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

/* Loads params (a [{weight, bias}] list) into the net, as doubles. */
static int load_params(gs_net *net, const json_t *list)
{
    char why[200];
    size_t n = gs_net_param_count(net);
    double *slab = calloc(n ? n : 1, sizeof *slab);
    double *back = calloc(n ? n : 1, sizeof *back);
    int rc = -1;
    if (!slab || !back) {
        CHECK(0, "out of memory");
    } else if (fx_param_slab(list, net, slab, why, sizeof why)) {
        CHECK(0, "fixture params: %s", why);
    } else {
        gs_net_set_params(net, slab, GS_FLOAT64);
        /* fixture values are exact in the net's dtype: the round trip is exact */
        gs_net_get_params(net, back, GS_FLOAT64);
        CHECK(memcmp(slab, back, n * sizeof *slab) == 0,
              "gs_net_get_params does not return what gs_net_set_params stored");
        rc = 0;
    }
    free(slab);
    free(back);
    return rc;
}

/* Builds the net, its pass and its batch from a fixture; 0 or -1 (reported). */
static int setup_net(setup *s, const json_t *fx, gs_gemm_path path, const json_t *params)
{
    char why[200];
    gs_error err;
    memset(s, 0, sizeof *s);
    memset(&err, 0, sizeof err);
    if (fx_net_def(fx, &s->def, s->layers, why, sizeof why)) {
        CHECK(0, "fixture: %s", why);
        return -1;
    }
    s->def.gemm = path;
    s->net = gs_net_create(&s->def, &no_limits, NULL, &err);
    CHECK(s->net != NULL, "gs_net_create: %s: %s (field \"%s\")", gs_status_name(err.status),
          err.message, err.field);
    if (!s->net) return -1;

    s->n_in = s->def.inputs;
    s->n_out = gs_net_outputs(s->net);
    const json_t *plist = params ? params : json_object_get(fx, "params");
    size_t want_params = fx_params_len(plist);
    CHECK(gs_net_param_count(s->net) == want_params, "param count %zu, the fixture's %zu",
          gs_net_param_count(s->net), want_params);
    if (gs_net_param_count(s->net) != want_params) return -1;
    if (load_params(s->net, plist)) return -1;

    double r = json_number_value(json_object_get(fx, "rows"));
    s->rows = r >= 1 ? (size_t)r : 0;
    size_t nx = s->rows * s->n_in, ny = s->rows * s->n_out;
    double *buf = malloc((nx > ny ? nx : ny) * sizeof *buf + sizeof *buf);
    if (!buf || !s->rows || fx_doubles(json_object_get(fx, "inputs"), buf, nx)) {
        CHECK(0, "fixture: bad rows or inputs");
        free(buf);
        return -1;
    }
    s->inputs = fx_convert(buf, nx, s->def.dtype);
    const json_t *labels = json_object_get(fx, "labels");
    if (labels) {
        s->labels = malloc(s->rows * sizeof *s->labels);
        if (s->labels && fx_doubles(labels, buf, s->rows) == 0)
            for (size_t i = 0; i < s->rows; i++) s->labels[i] = (int64_t)buf[i];
        else {
            CHECK(0, "fixture: bad labels");
            free(buf);
            return -1;
        }
    } else if (fx_doubles(json_object_get(fx, "targets"), buf, ny) == 0) {
        s->targets = fx_convert(buf, ny, s->def.dtype);
    } else {
        CHECK(0, "fixture: bad targets");
        free(buf);
        return -1;
    }
    free(buf);

    s->pass = gs_pass_create(s->net, s->rows, &no_limits, &err);
    CHECK(s->pass != NULL, "gs_pass_create: %s: %s (field \"%s\")", gs_status_name(err.status),
          err.message, err.field);
    /* training mode (dropout masks drawn from the seed, batch_norm on the
     * batch's statistics) when the fixture says so */
    const json_t *seed = json_object_get(fx, "seed"), *training = json_object_get(fx, "training");
    if (s->pass && json_is_true(training))
        gs_pass_set_training(s->pass, 1, (uint64_t)json_integer_value(seed));
    const json_t *buffers = json_object_get(fx, "buffers");
    if (buffers && fx_set_buffers(buffers, s->net, why, sizeof why)) {
        CHECK(0, "fixture: %s", why);
        return -1;
    }
    return s->pass && s->inputs ? 0 : -1;
}

static gs_batch batch_of(const setup *s)
{
    gs_batch b;
    b.inputs = s->inputs;
    b.targets.values = s->targets;
    b.targets.labels = s->labels;
    b.rows = s->rows;
    return b;
}

static const char *fx_name(const json_t *fx)
{
    const char *n = json_string_value(json_object_get(fx, "name"));
    return n ? n : "(unnamed)";
}

/* ---- nets.json: one case per network and GEMM path ------------------------------ */

static void net_case(const json_t *fx, gs_gemm_path path)
{
    static char case_name[200];
    snprintf(case_name, sizeof case_name, "nets/%s/%s", fx_name(fx),
             path == GS_GEMM_BLAS ? "blas" : "reference");
    check_begin(case_name);
    cur_kind = K_PASS;

    setup s;
    gs_error err;
    memset(&err, 0, sizeof err);
    const json_t *exp = json_object_get(fx, "expected");
    void *grads1 = NULL;
    if (setup_net(&s, fx, path, NULL)) goto done;
    gs_dtype t = s.def.dtype;
    size_t pc = gs_net_param_count(s.net), gbytes = pc * fx_dtype_bytes(t);
    gs_batch b = batch_of(&s);

    double loss = NAN;
    unsigned keep = GS_KEEP_OUTPUTS | GS_KEEP_INPUT_GRAD | GS_KEEP_DELTAS;
    gs_status st = gs_backward(s.net, s.pass, &b, keep, &loss, &err);
    CHECK(st == GS_OK, "gs_backward: %s: %s (field \"%s\")", gs_status_name(st), err.message,
          err.field);
    if (st != GS_OK) goto done;

    /* the masks the core drew are those the fixture's replica of its generator drew */
    const json_t *masks = json_object_get(fx, "masks");
    for (size_t l = 0; masks && l < s.def.n_layers; l++) {
        const json_t *m = json_array_get(masks, l);
        char what[64];
        snprintf(what, sizeof what, "masks/%zu", l);
        CHECK(json_is_null(m) == (gs_pass_mask(s.pass, l) == NULL), "%s: present in one only",
              what);
        if (!json_is_null(m) && gs_pass_mask(s.pass, l))
            cmp_tensor(what, gs_pass_mask(s.pass, l), t, m, json_array_size(m), t);
    }
    cmp_buffers("buffers after the pass", s.net, json_object_get(exp, "buffers"));
    cmp_scalar("loss", loss, json_object_get(exp, "loss"), t);
    cmp_tensor("outputs", gs_pass_outputs(s.pass), t, json_object_get(exp, "outputs"),
               s.rows * s.n_out, t);
    cmp_slab("grads", gs_net_grads(s.net), t, s.net, json_object_get(exp, "grads"), t);
    cmp_tensor("input_grad", gs_pass_input_grad(s.pass), t, json_object_get(exp, "input_grad"),
               s.rows * s.n_in, t);
    const json_t *deltas = json_object_get(exp, "deltas");
    CHECK(json_array_size(deltas) == s.def.n_layers, "fixture: %zu deltas",
          json_array_size(deltas));
    for (size_t l = 0; l < s.def.n_layers && l < json_array_size(deltas); l++) {
        char what[64];
        snprintf(what, sizeof what, "deltas/%zu", l);
        gs_shape sh = gs_net_layer_shape(s.net, l);
        size_t n = sh.dim[0] * (sh.rank == 3 ? sh.dim[1] * sh.dim[2] : 1);
        cmp_tensor(what, gs_pass_delta(s.pass, l), t, json_array_get(deltas, l), s.rows * n, t);
    }

    /* Gradients are written, not accumulated: a second pass gives the same bytes. */
    grads1 = malloc(gbytes ? gbytes : 1);
    if (grads1) {
        memcpy(grads1, gs_net_grads(s.net), gbytes);
        double loss2 = NAN;
        st = gs_backward(s.net, s.pass, &b, 0, &loss2, &err);
        CHECK(st == GS_OK, "second gs_backward: %s", gs_status_name(st));
        CHECK(memcmp(grads1, gs_net_grads(s.net), gbytes) == 0,
              "a second identical gs_backward changed the gradients (accumulated?)");
        CHECK(loss2 == loss, "second gs_backward loss %.17g vs %.17g", loss2, loss);
    }

    /* Forward only: the same loss and outputs, with targets and without. */
    double floss = NAN;
    st = gs_forward(s.net, s.pass, &b, &floss, &err);
    CHECK(st == GS_OK, "gs_forward: %s: %s", gs_status_name(st), err.message);
    if (st == GS_OK) {
        cmp_scalar("forward loss", floss, json_object_get(exp, "loss"), t);
        cmp_tensor("forward outputs", gs_pass_outputs(s.pass), t,
                   json_object_get(exp, "outputs"), s.rows * s.n_out, t);
    }
    gs_batch nb = b;
    nb.targets.values = NULL;
    nb.targets.labels = NULL;
    st = gs_forward(s.net, s.pass, &nb, NULL, &err);
    CHECK(st == GS_OK, "gs_forward without targets: %s: %s", gs_status_name(st), err.message);
    if (st == GS_OK)
        cmp_tensor("forward outputs (no targets)", gs_pass_outputs(s.pass), t,
                   json_object_get(exp, "outputs"), s.rows * s.n_out, t);
done:
    free(grads1);
    setup_free(&s);
    check_end();
}

/* ---- optim.json: trajectories ----------------------------------------------------- */

static int find_state(gs_optim *opt, const char *name)
{
    for (size_t i = 0; i < gs_optim_state_count(opt); i++) {
        const char *n = gs_optim_state_name(opt, i);
        if (n && strcmp(n, name) == 0) return (int)i;
    }
    return -1;
}

static gs_optim *make_optim(const json_t *fx, gs_net *net)
{
    char why[200];
    gs_optim_def od;
    gs_error err;
    memset(&err, 0, sizeof err);
    if (fx_optim_def(json_object_get(fx, "optim"), &od, why, sizeof why)) {
        CHECK(0, "fixture: %s", why);
        return NULL;
    }
    gs_status st = gs_optim_def_check(&od, &err);
    CHECK(st == GS_OK, "gs_optim_def_check: %s: %s (field \"%s\")", gs_status_name(st),
          err.message, err.field);
    gs_optim *opt = gs_optim_create(net, &od, &err);
    CHECK(opt != NULL, "gs_optim_create: %s: %s (field \"%s\")", gs_status_name(err.status),
          err.message, err.field);
    return opt;
}

/* Full-batch steps [from, to): losses[k] before update k, norms[k] from the step. */
static int run_steps(setup *s, gs_optim *opt, size_t from, size_t to, double *losses,
                     double *norms)
{
    gs_batch b = batch_of(s);
    gs_error err;
    memset(&err, 0, sizeof err);
    for (size_t k = from; k < to; k++) {
        gs_status st = gs_backward(s->net, s->pass, &b, 0, &losses[k], &err);
        CHECK(st == GS_OK, "step %zu: gs_backward: %s: %s", k, gs_status_name(st), err.message);
        if (st != GS_OK) return -1;
        st = gs_optim_step(opt, s->net, &norms[k], &err);
        CHECK(st == GS_OK, "step %zu: gs_optim_step: %s: %s", k, gs_status_name(st),
              err.message);
        if (st != GS_OK) return -1;
    }
    return 0;
}

/* With "uses_defaults", gs_optim_defaults must give torch's defaults. */
static void check_defaults(const json_t *o)
{
    int kind = fx_optim_kind(json_string_value(json_object_get(o, "kind")));
    if (kind < 0 || !json_is_true(json_object_get(o, "uses_defaults"))) return;
    gs_optim_def d;
    gs_optim_defaults(&d, (gs_optim_kind)kind);
    const struct { const char *key; double v; } f[] = {
        {"lr", d.lr},       {"weight_decay", d.weight_decay}, {"momentum", d.momentum},
        {"dampening", d.dampening}, {"nesterov", d.nesterov}, {"beta1", d.beta1},
        {"beta2", d.beta2}, {"eps", d.eps},                   {"amsgrad", d.amsgrad},
        {"alpha", d.alpha}, {"centered", d.centered},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        const json_t *v = json_object_get(o, f[i].key);
        if (!v) continue;
        double want = json_is_boolean(v) ? (double)json_is_true(v) : json_number_value(v);
        CHECK(f[i].v == want, "gs_optim_defaults(%s).%s = %.17g, torch's default %.17g",
              json_string_value(json_object_get(o, "kind")), f[i].key, f[i].v, want);
    }
}

typedef struct {
    size_t n;           /* states */
    char **names;
    void **bufs;        /* param_count elements each, net dtype */
    void *params;       /* net dtype */
} snapshot;

static void snapshot_free(snapshot *sn)
{
    for (size_t i = 0; i < sn->n; i++) {
        if (sn->names) free(sn->names[i]);
        if (sn->bufs) free(sn->bufs[i]);
    }
    free(sn->names);
    free(sn->bufs);
    free(sn->params);
    memset(sn, 0, sizeof *sn);
}

static int snapshot_take(snapshot *sn, gs_net *net, gs_optim *opt)
{
    const gs_net_def *def = gs_net_def_of(net);
    size_t bytes = gs_net_param_count(net) * fx_dtype_bytes(def->dtype);
    memset(sn, 0, sizeof *sn);
    sn->n = gs_optim_state_count(opt);
    sn->names = calloc(sn->n + 1, sizeof *sn->names);
    sn->bufs = calloc(sn->n + 1, sizeof *sn->bufs);
    sn->params = malloc(bytes + 1);
    if (!sn->names || !sn->bufs || !sn->params) return -1;
    gs_net_get_params(net, sn->params, def->dtype);
    for (size_t i = 0; i < sn->n; i++) {
        const char *name = gs_optim_state_name(opt, i);
        const void *buf = gs_optim_state(opt, i);
        CHECK(name && buf, "state %zu: NULL name or buffer", i);
        if (!name || !buf) return -1;
        sn->names[i] = strdup(name);
        sn->bufs[i] = malloc(bytes + 1);
        if (!sn->names[i] || !sn->bufs[i]) return -1;
        memcpy(sn->bufs[i], buf, bytes);
    }
    return 0;
}

/* The optimizer state at RESUME_AT against torch's, buffer by buffer. */
static void cmp_state(const json_t *exp, gs_optim *opt, gs_net *net)
{
    gs_dtype t = gs_net_def_of(net)->dtype;
    size_t want_steps = (size_t)json_number_value(json_object_get(exp, "step_10"));
    CHECK(gs_optim_steps(opt) == want_steps, "gs_optim_steps %zu, want %zu", gs_optim_steps(opt),
          want_steps);
    const json_t *state = json_object_get(exp, "state_10");
    CHECK(gs_optim_state_count(opt) == json_object_size(state),
          "the core has %zu state buffers, torch %zu", gs_optim_state_count(opt),
          json_object_size(state));
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)state, key, val) {
        int i = find_state(opt, key);
        CHECK(i >= 0, "the core has no state buffer \"%s\" (torch has)", key);
        if (i < 0) continue;
        char what[96];
        snprintf(what, sizeof what, "state_10/%s", key);
        cmp_slab(what, gs_optim_state(opt, (size_t)i), t, net, val, t);
    }
}

static void trajectory_case(const json_t *fx)
{
    static char case_name[200];
    const json_t *exp = json_object_get(fx, "expected");
    size_t steps = (size_t)json_number_value(json_object_get(fx, "steps"));
    double *losses = calloc(2 * steps + 2, sizeof *losses), *norms = losses + steps + 1;
    setup s, r;
    gs_optim *opt = NULL, *opt2 = NULL;
    snapshot sn;
    memset(&s, 0, sizeof s);
    memset(&r, 0, sizeof r);
    memset(&sn, 0, sizeof sn);
    int have_snapshot = 0, straight_ok = 0;
    void *final = NULL;
    int dt = fx_dtype(json_string_value(json_object_get(fx, "dtype")));
    gs_dtype t = dt == GS_FLOAT32 ? GS_FLOAT32 : GS_FLOAT64;

    /* 1. Twenty straight steps against torch. */
    snprintf(case_name, sizeof case_name, "optim/%s", fx_name(fx));
    check_begin(case_name);
    cur_kind = K_OPTIM;
    CHECK(steps == 2 * RESUME_AT && losses, "fixture: steps %zu", steps);
    check_defaults(json_object_get(fx, "optim"));
    if (steps != 2 * RESUME_AT || !losses || setup_net(&s, fx, GS_GEMM_AUTO, NULL)) goto end1;
    if (!(opt = make_optim(fx, s.net))) goto end1;
    if (run_steps(&s, opt, 0, RESUME_AT, losses, norms)) goto end1;
    cmp_params("params_10", s.net, json_object_get(exp, "params_10"));
    cmp_state(exp, opt, s.net);
    have_snapshot = snapshot_take(&sn, s.net, opt) == 0;
    CHECK(have_snapshot, "could not copy the optimizer state");
    if (run_steps(&s, opt, RESUME_AT, steps, losses, norms)) goto end1;
    CHECK(gs_optim_steps(opt) == steps, "gs_optim_steps %zu after %zu steps", gs_optim_steps(opt),
          steps);
    cmp_tensor("losses", losses, GS_FLOAT64, json_object_get(exp, "losses"), steps, t);
    cmp_tensor("grad_norms", norms, GS_FLOAT64, json_object_get(exp, "grad_norms"), steps, t);
    cmp_params("params_20", s.net, json_object_get(exp, "params_20"));
    final = malloc(gs_net_param_count(s.net) * fx_dtype_bytes(t) + 1);
    if (final) gs_net_get_params(s.net, final, t);
    straight_ok = final != NULL;
end1:
    check_end();

    /* 2. Resume from our own exported state: the same bytes as the straight run. */
    snprintf(case_name, sizeof case_name, "optim/%s/resume", fx_name(fx));
    check_begin(case_name);
    CHECK(have_snapshot && straight_ok, "the straight run did not complete");
    if (!have_snapshot || !straight_ok || setup_net(&r, fx, GS_GEMM_AUTO, NULL)) goto end2;
    gs_net_set_params(r.net, sn.params, t);
    if (!(opt2 = make_optim(fx, r.net))) goto end2;
    CHECK(gs_optim_state_count(opt2) == sn.n, "a fresh optimizer has %zu state buffers, not %zu",
          gs_optim_state_count(opt2), sn.n);
    size_t bytes = gs_net_param_count(r.net) * fx_dtype_bytes(t);
    for (size_t i = 0; i < sn.n; i++) {
        int j = find_state(opt2, sn.names[i]);
        CHECK(j >= 0, "a fresh optimizer has no state \"%s\"", sn.names[i]);
        if (j >= 0) memcpy(gs_optim_state(opt2, (size_t)j), sn.bufs[i], bytes);
    }
    gs_optim_set_steps(opt2, RESUME_AT);
    CHECK(gs_optim_steps(opt2) == RESUME_AT, "gs_optim_set_steps did not take");
    {
        double *l2 = calloc(2 * steps + 2, sizeof *l2), *n2 = l2 ? l2 + steps + 1 : NULL;
        void *p2 = malloc(bytes + 1);
        if (l2 && p2 && run_steps(&r, opt2, RESUME_AT, steps, l2, n2) == 0) {
            gs_net_get_params(r.net, p2, t);
            CHECK(memcmp(p2, final, bytes) == 0,
                  "resumed params differ from 20 straight steps (rel err %.3g)",
                  t == GS_FLOAT64 ? fx_rel_err(p2, t, final, bytes / sizeof(double), NULL)
                                  : NAN);
            for (size_t k = RESUME_AT; k < steps; k++)
                CHECK(l2[k] == losses[k], "step %zu: resumed loss %.17g vs %.17g", k, l2[k],
                      losses[k]);
        }
        free(l2);
        free(p2);
    }
end2:
    check_end();
    gs_optim_free(opt2);
    opt2 = NULL;
    setup_free(&r);

    /* 3. Resume from torch's state and params after step 10. */
    snprintf(case_name, sizeof case_name, "optim/%s/resume_from_torch", fx_name(fx));
    check_begin(case_name);
    if (!losses || steps != 2 * RESUME_AT ||
        setup_net(&r, fx, GS_GEMM_AUTO, json_object_get(exp, "params_10")))
        goto end3;
    if (!(opt2 = make_optim(fx, r.net))) goto end3;
    {
        gs_dtype rt = r.def.dtype;
        size_t pc = gs_net_param_count(r.net);
        double *slab = calloc(pc + 1, sizeof *slab);
        char why[200];
        const char *key;
        const json_t *val;
        json_object_foreach(json_object_get(exp, "state_10"), key, val) {
            int j = find_state(opt2, key);
            CHECK(j >= 0, "the core has no state buffer \"%s\" (torch has)", key);
            if (j < 0 || !slab) continue;
            if (fx_param_slab(val, r.net, slab, why, sizeof why)) {
                CHECK(0, "fixture state %s: %s", key, why);
                continue;
            }
            void *conv = fx_convert(slab, pc, rt);
            if (conv) memcpy(gs_optim_state(opt2, (size_t)j), conv, pc * fx_dtype_bytes(rt));
            free(conv);
        }
        free(slab);
        gs_optim_set_steps(opt2, (size_t)json_number_value(json_object_get(exp, "step_10")));
        double *l2 = calloc(2 * steps + 2, sizeof *l2), *n2 = l2 ? l2 + steps + 1 : NULL;
        if (l2 && run_steps(&r, opt2, RESUME_AT, steps, l2, n2) == 0) {
            double want[2 * RESUME_AT];
            int ok = fx_doubles(json_object_get(exp, "losses"), want, steps) == 0;
            CHECK(ok, "fixture: losses");
            if (ok)
                cmp_values("losses 10..19", l2 + RESUME_AT, GS_FLOAT64, want + RESUME_AT,
                           steps - RESUME_AT, rt);
            cmp_params("params_20", r.net, json_object_get(exp, "params_20"));
        }
        free(l2);
    }
end3:
    check_end();
    gs_optim_free(opt2);
    setup_free(&r);
    gs_optim_free(opt);
    setup_free(&s);
    snapshot_free(&sn);
    free(final);
    free(losses);
}

/* ---- optim.json: mini-batch training with gs_train -------------------------------- */

static void training_case(const json_t *fx)
{
    static char case_name[200];
    snprintf(case_name, sizeof case_name, "train/%s", fx_name(fx));
    check_begin(case_name);
    cur_kind = K_TRAIN;

    const json_t *exp = json_object_get(fx, "expected");
    const json_t *tr = json_object_get(fx, "train");
    setup s;
    gs_optim *opt = NULL;
    double *history = NULL;
    gs_error err;
    memset(&err, 0, sizeof err);
    if (setup_net(&s, fx, GS_GEMM_AUTO, NULL)) goto done;
    if (!(opt = make_optim(fx, s.net))) goto done;

    gs_train_def td;
    memset(&td, 0, sizeof td);
    td.epochs = (size_t)json_number_value(json_object_get(tr, "epochs"));
    td.batch_size = (size_t)json_number_value(json_object_get(tr, "batch_size"));
    td.shuffle = json_is_true(json_object_get(tr, "shuffle"));
    td.seed = (uint64_t)json_integer_value(json_object_get(tr, "seed")); /* masks' */
    size_t want_steps = (size_t)json_number_value(json_object_get(exp, "steps"));
    size_t steps = gs_train_steps(&td, s.rows);
    CHECK(steps == want_steps, "gs_train_steps %zu, want %zu", steps, want_steps);
    if (steps != want_steps) goto done;
    history = malloc((steps + 1) * sizeof *history);
    if (!history) goto done;
    for (size_t k = 0; k < steps; k++) history[k] = NAN;

    gs_batch data = batch_of(&s);
    size_t done_steps = 0;
    gs_status st = gs_train(s.net, opt, &td, &data, &no_limits, history, &done_steps, &err);
    CHECK(st == GS_OK, "gs_train: %s: %s (field \"%s\", step %zu)", gs_status_name(st),
          err.message, err.field, err.step);
    CHECK(done_steps == steps, "steps_done %zu, want %zu", done_steps, steps);
    CHECK(gs_optim_steps(opt) == steps, "gs_optim_steps %zu, want %zu", gs_optim_steps(opt),
          steps);
    cmp_tensor("loss_history", history, GS_FLOAT64, json_object_get(exp, "loss_history"), steps,
               s.def.dtype);
    cmp_params("params", s.net, json_object_get(exp, "params"));
    cmp_buffers("buffers", s.net, json_object_get(exp, "buffers"));
done:
    free(history);
    gs_optim_free(opt);
    setup_free(&s);
    check_end();
}

/* ---- main ------------------------------------------------------------------------ */

static json_t *load_or_fail(const char *file)
{
    char path[512], why[600];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, file);
    json_t *root = fx_load(path, why, sizeof why);
    if (!root) {
        static char case_name[600];
        snprintf(case_name, sizeof case_name, "load %s", path);
        check_begin(case_name);
        CHECK(0, "%s (tests run from the repository root)", why);
        check_end();
    }
    return root;
}

static void empty_fail(const char *what)
{
    check_begin(what);
    CHECK(0, "the fixture file holds no entries");
    check_end();
}

int main(int argc, char **argv)
{
    if (argc > 1) fixture_dir = argv[1];

    json_t *nets = load_or_fail("nets.json");
    if (nets) {
        const json_t *list = json_object_get(nets, "nets");
        if (json_array_size(list) == 0) empty_fail("nets.json: nets");
        for (size_t i = 0; i < json_array_size(list); i++) {
            net_case(json_array_get(list, i), GS_GEMM_BLAS);
            net_case(json_array_get(list, i), GS_GEMM_REFERENCE);
        }
        json_decref(nets);
    }

    json_t *optim = load_or_fail("optim.json");
    if (optim) {
        const json_t *traj = json_object_get(optim, "trajectories");
        const json_t *runs = json_object_get(optim, "training");
        if (json_array_size(traj) == 0) empty_fail("optim.json: trajectories");
        if (json_array_size(runs) == 0) empty_fail("optim.json: training");
        for (size_t i = 0; i < json_array_size(traj); i++)
            trajectory_case(json_array_get(traj, i));
        for (size_t i = 0; i < json_array_size(runs); i++) training_case(json_array_get(runs, i));
        json_decref(optim);
    }

    json_t *layers = load_or_fail("layers.json");
    if (layers) {
        const json_t *list = json_object_get(layers, "nets");
        const json_t *runs = json_object_get(layers, "training");
        if (json_array_size(list) == 0) empty_fail("layers.json: nets");
        if (json_array_size(runs) == 0) empty_fail("layers.json: training");
        for (size_t i = 0; i < json_array_size(list); i++) {
            net_case(json_array_get(list, i), GS_GEMM_BLAS);
            net_case(json_array_get(list, i), GS_GEMM_REFERENCE);
        }
        for (size_t i = 0; i < json_array_size(runs); i++) training_case(json_array_get(runs, i));
        json_decref(layers);
    }

    for (int k = 0; k < K_COUNT; k++)
        printf("# worst per-tensor relative error, %s: float64 %.3g, float32 %.3g\n",
               kind_names[k], worst_seen[GS_FLOAT64][k], worst_seen[GS_FLOAT32][k]);
    return CHECK_DONE();
}
