#include "api/routes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "api/autodiff_route.h"
#include "wire/codec.h"
#include "wire/json_writer.h"
#include "api/request.h"
#include "api/service.h"
#include "api/tensors_route.h"

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- responses -------------------------------------------------------------- */

typedef route_out out;

/* JSON numbers cannot carry NaN or infinity: a non-finite value is refused
 * (422, naming where in the response) unless tensors travel as bytes (base64,
 * binary, ref). The first of the n values at data that cannot be answered;
 * n when all can. */
static size_t unanswerable_at(const out *o, const void *data, size_t n)
{
    if (o->enc == ENC_B64 || o->enc == ENC_BINARY || o->enc == ENC_REF) return n;
    return first_nonfinite(data, o->dtype, n);
}

/* 0, with the problem in o->d naming ptr and element i of data. */
static int refuse_nonfinite(out *o, const char *ptr, const void *data, size_t i)
{
    double v = o->dtype == GS_FLOAT64 ? ((const double *)data)[i] : ((const float *)data)[i];
    diag_nonfinite(o->d, ptr, "element %zu (row-major) is %g", i, v);
    return 0;
}

/* 1 when the n values at data can be answered, else 0 with the problem. */
static int finite_ok(out *o, const char *ptr, const void *data, size_t n)
{
    size_t i = unanswerable_at(o, data, n);
    return i == n || refuse_nonfinite(o, ptr, data, i);
}

static int loss_ok(out *o, const char *ptr, double loss)
{
    if (isfinite(loss)) return 1;
    diag_nonfinite(o->d, ptr, "the loss is %g", loss);
    return 0;
}

int route_refs_missing(route_out *o)
{
    return codec_refs_missing(o->refs, o->d, &o->res->body, &o->res->len);
}

/* One tensor of the answer in the request's encoding ("ref": into the store,
 * its failure in o->d). */
static void write_tensor(out *o, const void *data, size_t rank, const size_t *dims)
{
    if (o->enc == ENC_REF) tensor_write_ref(&o->w, o->store, o->dtype, data, rank, dims, o->d);
    else tensor_write(&o->w, o->enc, o->dtype, data, rank, dims);
}

/* finite_ok for one tensor of a slab, named /key/layer/name: the pointer
 * is made only for a tensor that holds a non-finite value (two string
 * copies per tensor of every answer otherwise). */
static int slab_tensor_finite(out *o, const char *key, size_t layer, const char *name,
                              const void *data, size_t n)
{
    size_t i = unanswerable_at(o, data, n);
    if (i == n) return 1;
    char p[PTR_MAX], q[PTR_MAX];
    ptr_index(p, key, layer);
    ptr_key(q, p, name);
    return refuse_nonfinite(o, q, data, i);
}

/* A slab in the parameter layout: every layer's tensors (dense: weight, bias),
 * and with buffers (the params slab only) batch_norm's running statistics. */
static int slab_finite(out *o, const char *key, const request *r, const void *slab, int buffers)
{
    size_t es = gs_dtype_size(r->def.dtype);
    for (size_t t = 0; t < gs_net_tensor_count(r->net); t++)
        if (!slab_tensor_finite(o, key, gs_net_tensor_layer(r->net, t),
                                gs_net_tensor_name(r->net, t),
                                (const char *)slab + gs_net_tensor_offset(r->net, t) * es,
                                gs_net_tensor_size(r->net, t)))
            return 0;
    for (size_t b = 0; buffers && b < gs_net_buffer_count(r->net); b++)
        if (!slab_tensor_finite(o, key, gs_net_buffer_layer(r->net, b),
                                gs_net_buffer_name(r->net, b),
                                (const char *)slab + gs_net_buffer_offset(r->net, b) * es,
                                gs_net_buffer_size(r->net, b)))
            return 0;
    return 1;
}

/* [{"weight": T[out,in], "bias": T[out]}, ...]: one object per layer, {} for
 * a layer without parameters; with buffers, batch_norm's running_mean and
 * running_var in its object. */
static void write_slab(out *o, const request *r, const void *slab, int buffers)
{
    size_t es = gs_dtype_size(r->def.dtype);
    jw_array(&o->w);
    for (size_t l = 0; l < r->def.n_layers; l++) {
        size_t first, n = gs_net_layer_tensors(r->net, l, &first);
        jw_object(&o->w);
        for (size_t t = first; t < first + n; t++) {
            size_t dims[4], rank = gs_net_tensor_dims(r->net, t, dims);
            jw_key(&o->w, gs_net_tensor_name(r->net, t));
            write_tensor(o, (const char *)slab + gs_net_tensor_offset(r->net, t) * es, rank, dims);
        }
        n = buffers ? gs_net_layer_buffers(r->net, l, &first) : 0;
        for (size_t b = first; b < first + n; b++) {
            size_t dims[1] = {gs_net_buffer_size(r->net, b)};
            jw_key(&o->w, gs_net_buffer_name(r->net, b));
            write_tensor(o, (const char *)slab + gs_net_buffer_offset(r->net, b) * es, 1, dims);
        }
        jw_end(&o->w);
    }
    jw_end(&o->w);
}

static void write_tensor_member(out *o, const char *key, const void *data, size_t rows,
                                size_t cols)
{
    size_t dims[2] = {rows, cols};
    jw_key(&o->w, key);
    write_tensor(o, data, 2, dims);
}

/* Elements of one row of shape s (the core checked the product). */
static size_t row_size(gs_shape s)
{
    size_t n = 1;
    for (size_t i = 0; i < s.rank; i++) n *= s.dim[i];
    return n;
}

/* A batch tensor [rows, row shape] (rows of features, or of images). */
static void write_rows(out *o, const void *data, size_t rows, gs_shape s)
{
    size_t dims[4] = {rows, s.dim[0], s.dim[1], s.dim[2]};
    write_tensor(o, data, s.rank + 1, dims);
}

/* A core error during a pass: batch fields point into the request's root. */
static void diag_pass(diag *d, const gs_error *e)
{
    if (strcmp(e->field, "rows") == 0) {
        gs_error copy = *e;
        strcpy(copy.field, "inputs");
        diag_core(d, &copy, "/", "max_batch_elems");
        return;
    }
    diag_core(d, e, "/", NULL);
}

static int has_targets(const request *r)
{
    return r->batch.targets.values || r->batch.targets.labels;
}

/* "seed": the dropout masks' (0 when absent); 0, or -1 with d filled. */
static int decode_seed(const request *r, uint64_t *seed, diag *d)
{
    *seed = 0;
    return get_seed(r->root, "seed", "", seed, d) < 0 ? -1 : 0;
}

/* ---- "return": what an answer carries beyond the default -------------------------- */

/* Besides the core's GS_KEEP_* bits, the server's own: each layer's
 * activations and the dropout masks (the pass always holds them), the params
 * after the pass (batch_norm's running statistics). */
enum { KEEP_ACTIVATIONS = 1u << 16, KEEP_MASKS = 1u << 17, KEEP_PARAMS = 1u << 18 };
#define CORE_KEEP (GS_KEEP_OUTPUTS | GS_KEEP_INPUT_GRAD | GS_KEEP_DELTAS)

/* "return": {name: bool} for the names in keys (a /forward takes only
 * "activations", a /gradients all of them); the GS_KEEP_* and KEEP_* bits. */
static unsigned decode_return(const json_t *root, const char *const *keys, diag *d)
{
    static const struct { const char *name; unsigned bit; } BITS[] = {
        {"outputs", GS_KEEP_OUTPUTS}, {"input_grad", GS_KEEP_INPUT_GRAD},
        {"deltas", GS_KEEP_DELTAS},   {"activations", KEEP_ACTIVATIONS},
        {"masks", KEEP_MASKS},        {"params", KEEP_PARAMS}};
    const json_t *ret = json_object_get(root, "return");
    unsigned keep = 0;
    if (!ret || !need_object(ret, "/return", d) || !check_keys(ret, "/return", d, keys, NULL))
        return 0;
    for (size_t i = 0; i < sizeof BITS / sizeof *BITS; i++) {
        int on = 0;
        get_bool(ret, BITS[i].name, "/return", &on, d);
        if (on) keep |= BITS[i].bit;
    }
    return keep;
}

/* Every layer's activations [rows, layer shape] finite (text encodings cannot
 * carry NaN or Inf: 422 naming the layer). */
static int activations_finite(out *o, const request *r, const gs_pass *pass)
{
    for (size_t l = 0; l < r->def.n_layers; l++) {
        char p[PTR_MAX];
        ptr_index(p, "/activations", l);
        gs_shape s = gs_net_layer_shape(r->net, l);
        if (!finite_ok(o, p, gs_pass_activation(pass, l), r->batch.rows * row_size(s)))
            return 0;
    }
    return 1;
}

static void write_activations(out *o, const request *r, const gs_pass *pass)
{
    jw_key(&o->w, "activations");
    jw_array(&o->w);
    for (size_t l = 0; l < r->def.n_layers; l++)
        write_rows(o, gs_pass_activation(pass, l), r->batch.rows, gs_net_layer_shape(r->net, l));
    jw_end(&o->w);
}

/* ---- POST /forward ------------------------------------------------------------ */

/* Evaluation mode (dropout off) unless "train": true, with masks from "seed". */
static void run_forward(request *r, const compute_env *env, out *o)
{
    static const char *const RETURN_KEYS[] = {"activations", NULL};
    unsigned keep = decode_return(r->root, RETURN_KEYS, o->d);
    if (o->d->status) return;
    gs_error e;
    double loss = 0;
    int train = 0;
    uint64_t seed;
    if (get_bool(r->root, "train", "", &train, o->d) < 0 || decode_seed(r, &seed, o->d)) return;
    size_t rows = r->batch.rows, outputs = gs_net_outputs(r->net);
    gs_pass *pass = gs_pass_create(r->net, rows, &env->opts->limits, &e);
    if (pass) gs_pass_set_training(pass, train, seed);
    if (!pass || gs_forward(r->net, pass, &r->batch, has_targets(r) ? &loss : NULL, &e)) {
        diag_pass(o->d, &e);
        gs_pass_free(pass);
        return;
    }
    o->t_computed = now_seconds();
    const void *y = gs_pass_outputs(pass);
    if (finite_ok(o, "/outputs", y, rows * outputs) && loss_ok(o, "/loss", loss) &&
        (!r->initialised || slab_finite(o, "/params", r, gs_net_params(r->net), 1)) &&
        (!(keep & KEEP_ACTIVATIONS) || activations_finite(o, r, pass))) {
        jw_object(&o->w);
        write_tensor_member(o, "outputs", y, rows, outputs);
        if (has_targets(r)) {
            jw_key(&o->w, "loss");
            jw_double(&o->w, loss);
        }
        if (r->initialised) {
            jw_key(&o->w, "params");
            write_slab(o, r, gs_net_params(r->net), 1);
        }
        if (keep & KEEP_ACTIVATIONS) write_activations(o, r, pass);
        jw_end(&o->w);
    }
    gs_pass_free(pass);
}

/* ---- POST /gradients ------------------------------------------------------------ */

static int gradients_finite(out *o, const request *r, const gs_pass *pass, unsigned keep,
                            double loss)
{
    size_t rows = r->batch.rows;
    if (!loss_ok(o, "/loss", loss) || !slab_finite(o, "/gradients", r, gs_net_grads(r->net), 0) ||
        ((r->initialised || (keep & KEEP_PARAMS)) &&
         !slab_finite(o, "/params", r, gs_net_params(r->net), 1)))
        return 0;
    if ((keep & GS_KEEP_OUTPUTS) &&
        !finite_ok(o, "/outputs", gs_pass_outputs(pass), rows * gs_net_outputs(r->net)))
        return 0;
    if ((keep & GS_KEEP_INPUT_GRAD) &&
        !finite_ok(o, "/input_grad", gs_pass_input_grad(pass), rows * r->def.inputs))
        return 0;
    for (size_t l = 0; (keep & GS_KEEP_DELTAS) && l < r->def.n_layers; l++) {
        char p[PTR_MAX];
        ptr_index(p, "/deltas", l);
        gs_shape s = gs_net_layer_shape(r->net, l);
        if (!finite_ok(o, p, gs_pass_delta(pass, l), rows * row_size(s))) return 0;
    }
    return !(keep & KEEP_ACTIVATIONS) || activations_finite(o, r, pass);
}

static void write_gradients(out *o, const request *r, const gs_pass *pass, unsigned keep,
                            double loss)
{
    size_t rows = r->batch.rows;
    jw_object(&o->w);
    jw_key(&o->w, "loss");
    jw_double(&o->w, loss);
    jw_key(&o->w, "gradients");
    write_slab(o, r, gs_net_grads(r->net), 0);
    if (r->initialised || (keep & KEEP_PARAMS)) { /* after the pass: running statistics updated */
        jw_key(&o->w, "params");
        write_slab(o, r, gs_net_params(r->net), 1);
    }
    if (keep & GS_KEEP_OUTPUTS)
        write_tensor_member(o, "outputs", gs_pass_outputs(pass), rows, gs_net_outputs(r->net));
    if (keep & GS_KEEP_INPUT_GRAD) {
        jw_key(&o->w, "input_grad");
        write_rows(o, gs_pass_input_grad(pass), rows, gs_net_input_shape(r->net));
    }
    if (keep & GS_KEEP_DELTAS) {
        jw_key(&o->w, "deltas");
        jw_array(&o->w);
        for (size_t l = 0; l < r->def.n_layers; l++)
            write_rows(o, gs_pass_delta(pass, l), rows, gs_net_layer_shape(r->net, l));
        jw_end(&o->w);
    }
    if (keep & KEEP_MASKS) { /* one per layer: a dropout's 0/1 mask, null for the others */
        jw_key(&o->w, "masks");
        jw_array(&o->w);
        for (size_t l = 0; l < r->def.n_layers; l++) {
            const void *m = gs_pass_mask(pass, l);
            if (m) write_rows(o, m, rows, gs_net_layer_shape(r->net, l));
            else jw_null(&o->w);
        }
        jw_end(&o->w);
    }
    if (keep & KEEP_ACTIVATIONS) write_activations(o, r, pass);
    jw_end(&o->w);
}

/* Training mode: dropout masks drawn from "seed". */
static void run_gradients(request *r, const compute_env *env, out *o)
{
    static const char *const RETURN_KEYS[] = {"outputs", "input_grad", "deltas", "activations",
                                              "masks", "params", NULL};
    unsigned keep = decode_return(r->root, RETURN_KEYS, o->d);
    uint64_t seed;
    if (decode_seed(r, &seed, o->d) || o->d->status) return;
    gs_error e;
    double loss = 0;
    gs_pass *pass = gs_pass_create(r->net, r->batch.rows, &env->opts->limits, &e);
    if (pass) gs_pass_set_training(pass, 1, seed);
    if (!pass || gs_backward(r->net, pass, &r->batch, keep & CORE_KEEP, &loss, &e)) {
        diag_pass(o->d, &e);
        gs_pass_free(pass);
        return;
    }
    o->t_computed = now_seconds();
    if (gradients_finite(o, r, pass, keep, loss)) write_gradients(o, r, pass, keep, loss);
    gs_pass_free(pass);
}

/* ---- POST /train ------------------------------------------------------------------ */

/* What gs_train asks before every step: the deadline and the shutdown, and
 * when the answer streams, the epoch that has just ended goes out first. */
typedef struct {
    double deadline;
    const atomic_int *abort;
    const train_stream *stream; /* NULL: no epoch lines */
    const double *history;      /* the losses of the steps done so far */
    size_t step, per_epoch;     /* the step about to run; steps in an epoch */
    int gone;                   /* the stream's reader left */
} train_clock;

/* {"epoch": e, "loss": the mean of its steps' losses, "steps": steps done}:
 * one NDJSON line for the epoch that ends with step done - 1. */
static void report_epoch(train_clock *c, size_t done)
{
    double sum = 0;
    for (size_t k = done - c->per_epoch; k < done; k++) sum += c->history[k];
    jw w;
    jw_init(&w);
    jw_object(&w);
    jw_key(&w, "epoch");
    jw_uint(&w, done / c->per_epoch);
    jw_key(&w, "loss");
    jw_double(&w, sum / (double)c->per_epoch); /* null only if the sum overflowed */
    jw_key(&w, "steps");
    jw_uint(&w, done);
    jw_end(&w);
    size_t len = 0;
    char *line = jw_take(&w, &len);
    /* out of memory: this line is skipped, the final answer still comes */
    if (line && c->stream->line(c->stream->ctx, line, len)) c->gone = 1;
    srv_free(line);
}

static int train_should_stop(void *ctx)
{
    train_clock *c = ctx;
    if (c->stream && !c->gone) c->gone = c->stream->closed(c->stream->ctx);
    if (c->stream && !c->gone && c->step && c->step % c->per_epoch == 0)
        report_epoch(c, c->step);
    c->step++;
    return c->gone || (c->abort && atomic_load(c->abort)) ||
           (c->deadline && now_seconds() > c->deadline);
}

/* epochs, batch_size, shuffle, seed; steps counted and checked against the
 * limit before anything per step is allocated. */
static int decode_train(const request *r, const server_options *opts, gs_train_def *t,
                        size_t *steps, diag *d)
{
    memset(t, 0, sizeof *t);
    t->epochs = 1;
    get_count(r->root, "epochs", "", 1, &t->epochs, d);
    get_count(r->root, "batch_size", "", 1, &t->batch_size, d);
    get_bool(r->root, "shuffle", "", &t->shuffle, d);
    get_seed(r->root, "seed", "", &t->seed, d);
    if (d->status) return 0;
    *steps = gs_train_steps(t, r->batch.rows);
    if (opts->max_steps && *steps > opts->max_steps) {
        diag_limit(d, "max_steps", (double)opts->max_steps, "/epochs",
                   "epochs x ceil(rows / batch_size) = %s%zu steps exceed the limit of %zu",
                   *steps == SIZE_MAX ? "over " : "", *steps, opts->max_steps);
        return 0;
    }
    return 1;
}

static void diag_train(diag *d, const gs_error *e, const compute_env *env, int gone)
{
    if (gone) { /* never sent: the connection is closed */
        diag_set(d, 503, "client-gone", "the client left; training stopped before step %zu",
                 e->step);
    } else if (e->status == GS_EDIVERGED) {
        diag_set(d, 422, "diverged", "%s", e->message);
    } else if (e->status == GS_ECANCELED && atomic_load(env->abort)) {
        diag_set(d, 503, "draining",
                 "the server is shutting down; training stopped before step %zu", e->step);
    } else if (e->status == GS_ECANCELED) {
        diag_limit(d, "max_request_seconds", env->opts->max_request_seconds, "",
                   "training ran out of its %g seconds before step %zu",
                   env->opts->max_request_seconds, e->step);
    } else {
        diag_pass(d, e);
        return;
    }
    d->has_step = 1;
    d->step = e->step;
}

static void write_train(out *o, const request *r, gs_optim *opt, const double *history,
                        size_t steps)
{
    jw_object(&o->w);
    jw_key(&o->w, "params");
    write_slab(o, r, gs_net_params(r->net), 1);
    jw_key(&o->w, "optimizer_state");
    jw_object(&o->w);
    jw_key(&o->w, "step");
    jw_uint(&o->w, gs_optim_steps(opt));
    jw_key(&o->w, "buffers");
    jw_object(&o->w);
    for (size_t i = 0; i < gs_optim_state_count(opt); i++) {
        jw_key(&o->w, gs_optim_state_name(opt, i));
        write_slab(o, r, gs_optim_state(opt, i), 0);
    }
    jw_end(&o->w);
    jw_end(&o->w);
    jw_key(&o->w, "loss_history");
    jw_array(&o->w);
    for (size_t k = 0; k < steps; k++) jw_double(&o->w, history[k]);
    jw_end(&o->w);
    jw_key(&o->w, "steps");
    jw_uint(&o->w, steps);
    jw_end(&o->w);
}

static int train_finite(out *o, const request *r, gs_optim *opt, const double *history,
                        size_t steps)
{
    if (!slab_finite(o, "/params", r, gs_net_params(r->net), 1)) return 0;
    for (size_t i = 0; i < gs_optim_state_count(opt); i++) {
        char p[PTR_MAX];
        ptr_key(p, "/optimizer_state/buffers", gs_optim_state_name(opt, i));
        if (!slab_finite(o, p, r, gs_optim_state(opt, i), 0)) return 0;
    }
    for (size_t k = 0; k < steps; k++) {
        char p[PTR_MAX];
        ptr_index(p, "/loss_history", k);
        if (!loss_ok(o, p, history[k])) return 0;
    }
    return 1;
}

static void run_train(request *r, const compute_env *env, out *o)
{
    gs_optim_def odef;
    gs_train_def tdef;
    size_t steps = 0, done = 0;
    int ok_opt = optimizer_decode(r->root, &odef, o->d);
    if (!decode_train(r, env->opts, &tdef, &steps, o->d) || !ok_opt) return;
    if (env->stream && o->enc == ENC_BINARY) {
        diag_invalid(o->d, "/encoding",
                     "binary answers cannot be streamed as NDJSON lines; ask for nested, flat "
                     "or b64, or for application/json");
        return;
    }

    gs_error e;
    gs_optim *opt = gs_optim_create(r->net, &odef, &e);
    double *history = srv_malloc((steps ? steps : 1) * sizeof *history); /* steps <= max-steps */
    if (!opt || !history) {
        if (!opt) diag_core(o->d, &e, "/optimizer/", NULL);
        else diag_set(o->d, 500, "internal", "out of memory for the loss history");
    } else if (optimizer_state_decode(r->root, opt, r, o->d) && !route_refs_missing(o)) {
        train_clock clock = {env->deadline, env->abort, env->stream, history, 0,
                             steps / tdef.epochs, 0};
        tdef.cancel = train_should_stop;
        tdef.cancel_ctx = &clock;
        int failed = gs_train(r->net, opt, &tdef, &r->batch, &env->opts->limits, history, &done, &e);
        if (!failed && clock.stream && done) report_epoch(&clock, done); /* the last epoch */
        o->t_computed = now_seconds();
        if (failed)
            diag_train(o->d, &e, env, clock.gone);
        else if (train_finite(o, r, opt, history, done))
            write_train(o, r, opt, history, done);
    }
    srv_free(history);
    gs_optim_free(opt);
}

/* ---- POST /gradcheck ----------------------------------------------------------------- */

/* The core judges each tensor (GS_GRADCHECK_ATOL + RTOL |numeric|, as
 * torch.autograd.gradcheck); the request passes when every tensor does. */
static void write_gradcheck(out *o, const request *r, const gs_check_report *rep, double loss)
{
    int passed = 1;
    size_t n = gs_net_tensor_count(r->net);
    for (size_t t = 0; t < n; t++) passed &= rep[t].passed;
    jw_object(&o->w);
    jw_key(&o->w, "loss");
    jw_double(&o->w, loss);
    jw_key(&o->w, "passed");
    jw_bool(&o->w, passed);
    jw_key(&o->w, "tolerance");
    jw_object(&o->w);
    jw_key(&o->w, "atol");
    jw_double(&o->w, GS_GRADCHECK_ATOL);
    jw_key(&o->w, "rtol");
    jw_double(&o->w, GS_GRADCHECK_RTOL);
    jw_end(&o->w);
    jw_key(&o->w, "tensors");
    jw_array(&o->w);
    for (size_t t = 0; t < n; t++) {
        jw_object(&o->w);
        jw_key(&o->w, "layer");
        jw_uint(&o->w, gs_net_tensor_layer(r->net, t));
        jw_key(&o->w, "name");
        jw_string(&o->w, gs_net_tensor_name(r->net, t));
        jw_key(&o->w, "max_abs_error");
        jw_double(&o->w, rep[t].max_abs_error);
        jw_key(&o->w, "max_rel_error");
        jw_double(&o->w, rep[t].max_rel_error);
        jw_key(&o->w, "worst_index");
        jw_uint(&o->w, rep[t].worst_index);
        jw_key(&o->w, "checked");
        jw_uint(&o->w, rep[t].checked);
        jw_key(&o->w, "passed");
        jw_bool(&o->w, rep[t].passed);
        jw_end(&o->w);
    }
    jw_end(&o->w);
    jw_end(&o->w);
}

static int gradcheck_options(const request *r, const server_options *opts, double *eps, diag *d)
{
    if (get_number(r->root, "eps", "", eps, d) == 1 && !(*eps > 0))
        diag_invalid(d, "/eps", "must be a number > 0");
    if (d->status) return 0;
    /* Central differences cost two forward passes per parameter, each about
     * rows x params multiply-adds for dense layers; a convolution's weights
     * serve every output position, so its pass costs weights x OH x OW a row. */
    double p = (double)gs_net_param_count(r->net), per_row = 0;
    for (size_t l = 0; l < r->def.n_layers; l++) {
        size_t first, dims[4];
        gs_shape s = gs_net_layer_shape(r->net, l);
        if (r->layers[l].type == GS_LAYER_CONV2D && gs_net_layer_tensors(r->net, l, &first)) {
            gs_net_tensor_dims(r->net, first, dims);
            per_row += (double)gs_net_tensor_size(r->net, first) * (double)(row_size(s) / dims[0]);
        } else {
            per_row += (double)row_size(s);
        }
    }
    double cost = (double)r->batch.rows * p * (per_row > p ? per_row : p);
    if (opts->max_gradcheck_cost && cost > opts->max_gradcheck_cost) {
        diag_limit(d, "max_gradcheck_cost", opts->max_gradcheck_cost, "/inputs",
                   "a gradient check of %zu rows x %.0f parameters costs %.3g (rows x params x "
                   "the larger of params and the forward pass's multiply-adds a row), over the "
                   "limit of %.3g",
                   r->batch.rows, p, cost, opts->max_gradcheck_cost);
        return 0;
    }
    return 1;
}

static void run_gradcheck(request *r, const compute_env *env, out *o)
{
    double eps = 1e-6, loss = 0;
    uint64_t seed;
    if (decode_seed(r, &seed, o->d) || !gradcheck_options(r, env->opts, &eps, o->d)) return;
    gs_error e;
    size_t n = gs_net_tensor_count(r->net);
    gs_check_report *rep = srv_calloc(n ? n : 1, sizeof *rep);
    gs_pass *pass = gs_pass_create(r->net, r->batch.rows, &env->opts->limits, &e);
    if (pass) gs_pass_set_training(pass, 1, seed); /* the loss with the check's masks */
    if (!rep) {
        diag_set(o->d, 500, "internal", "out of memory for the report");
    } else if (!pass || gs_forward(r->net, pass, &r->batch, &loss, &e) ||
               gs_gradcheck(r->net, &r->batch, eps, seed, rep, &e)) {
        diag_pass(o->d, &e);
    } else if ((o->t_computed = now_seconds()), loss_ok(o, "/loss", loss)) {
        int finite = 1;
        for (size_t t = 0; t < n && finite; t++)
            finite = isfinite(rep[t].max_abs_error) && isfinite(rep[t].max_rel_error);
        if (!finite)
            diag_nonfinite(o->d, "/tensors",
                           "the gradient check met non-finite values (the loss or a gradient "
                           "overflows near these parameters)");
        else
            write_gradcheck(o, r, rep, loss);
    }
    gs_pass_free(pass);
    srv_free(rep);
}

/* ---- POST /autodiff --------------------------------------------------------------------- */

/* No network: the expression and its point are a request of their own. */
static void run_autodiff(const json_t *root, const compute_env *env, out *o)
{
    autodiff_compute(root, env->opts, &o->w, o->d);
}

/* ---- the table -------------------------------------------------------------------------- */

/* Top-level keys each network route accepts beyond the common ones. */
static const char *const FORWARD_KEYS[] = {"encoding", "return", "train", "seed", NULL};
static const char *const GRADIENTS_KEYS[] = {"encoding", "return", "seed", NULL};
static const char *const TRAIN_KEYS[] = {"encoding", "optimizer", "epochs",          "batch_size",
                                         "shuffle",  "seed",      "optimizer_state", NULL};
static const char *const GRADCHECK_KEYS[] = {"eps", "seed", NULL}; /* no tensors in its answer */

/* Where a network request's tensors are; /train also resumes optimizer state. */
static const char *const BATCH_TENSORS[] = {"/inputs", "/targets", "/params/#/weight",
                                            "/params/#/bias", NULL};
static const char *const TRAIN_TENSORS[] = {"/inputs",
                                            "/targets",
                                            "/params/#/weight",
                                            "/params/#/bias",
                                            "/optimizer_state/buffers/*/#/weight",
                                            "/optimizer_state/buffers/*/#/bias",
                                            NULL};

/* The compute rows come first, in this order: the fuzzers' first byte picks
 * one by position (tests/fuzz/fuzz_common.h), and their regressions keep it. */
const route_def ROUTE_TABLE[] = {
    {.path = "/forward", .methods = "POST", .body = BODY_JSON, .auth = 1, .queued = 1,
     .on_net = run_forward, .kind = {FORWARD_KEYS, 0}, .tensors = BATCH_TENSORS,
     .param_copies = 2, .one_pass = 1},
    {.path = "/gradients", .methods = "POST", .body = BODY_JSON, .auth = 1, .queued = 1,
     .on_net = run_gradients, .kind = {GRADIENTS_KEYS, 1}, .tensors = BATCH_TENSORS,
     .param_copies = 2, .one_pass = 1, .backward = 1},
    {.path = "/train", .methods = "POST", .body = BODY_JSON, .auth = 1, .queued = 1,
     .ndjson = 1, .late_tensors = 1, .on_net = run_train, .kind = {TRAIN_KEYS, 1},
     .tensors = TRAIN_TENSORS,
     .param_copies = 2, .minibatches = 1, .backward = 1},
    {.path = "/gradcheck", .methods = "POST", .body = BODY_JSON, .auth = 1, .queued = 1,
     .on_net = run_gradcheck, .kind = {GRADCHECK_KEYS, 1}, .tensors = BATCH_TENSORS,
     .param_copies = 2, .float64 = 1, .backward = 1},
    {.path = "/autodiff", .methods = "POST", .body = BODY_JSON, .auth = 1, .queued = 1,
     .on_json = run_autodiff},
    {.path = "/health/live", .methods = "GET, HEAD", .on_plain = serve_live},
    {.path = "/health/ready", .methods = "GET, HEAD", .on_plain = serve_ready},
    {.path = "/metrics", .methods = "GET, HEAD", .auth = 1, .on_plain = serve_metrics},
    {.path = "/openapi.yaml", .methods = "GET, HEAD", .on_plain = serve_openapi},
    {.path = "/", .methods = "GET, HEAD", .on_plain = serve_page},
    {.path = "/static/{file}", .methods = "GET, HEAD", .on_plain = serve_static},
    {.path = "/tensors/{digest}", .methods = "GET, HEAD, PUT, DELETE", .body = BODY_BYTES,
     .auth = 1, .on_plain = serve_tensors, .admit = admit_tensor},
    {.path = NULL, .methods = ""}, /* every other path: 404 */
};
const size_t ROUTE_COUNT = sizeof ROUTE_TABLE / sizeof ROUTE_TABLE[0];
_Static_assert(sizeof ROUTE_TABLE / sizeof ROUTE_TABLE[0] <= METRIC_ROUTES,
               "every row has its metrics: raise METRIC_ROUTES");

/* path matches the template t: equal, or t's literal part then one non-empty
 * segment for its parameter (*param pointing at it). */
static int path_matches(const char *t, const char *path, const char **param)
{
    const char *brace = strchr(t, '{');
    if (!brace) {
        *param = "";
        return strcmp(t, path) == 0;
    }
    size_t n = (size_t)(brace - t);
    if (strncmp(t, path, n) != 0 || !path[n] || strchr(path + n, '/')) return 0;
    *param = path + n;
    return 1;
}

const route_def *route_find(const char *path, const char **param)
{
    const char *unused;
    if (!param) param = &unused;
    for (size_t i = 0; i + 1 < ROUTE_COUNT; i++)
        if (path_matches(ROUTE_TABLE[i].path, path, param)) return &ROUTE_TABLE[i];
    *param = "";
    return &ROUTE_TABLE[ROUTE_COUNT - 1];
}

size_t route_index(const route_def *r) { return (size_t)(r - ROUTE_TABLE); }

const char *route_label(const route_def *r) { return r->path ? r->path : "other"; }

int route_allows(const route_def *r, const char *method)
{
    size_t n = strlen(method);
    for (const char *m = r->methods; *m;) { /* "GET, HEAD" */
        size_t k = strcspn(m, ",");
        if (k == n && strncmp(m, method, n) == 0) return 1;
        m += k;
        while (*m == ',' || *m == ' ') m++;
    }
    return 0;
}

int route_reads_body(const route_def *r, const char *method)
{
    return r->body != BODY_NONE && route_allows(r, method) &&
           (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0);
}
