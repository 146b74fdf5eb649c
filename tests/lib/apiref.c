/* Test cases as requests and as core computations; tensor decoding (apiref.h). */
#include "lib/apiref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *api_enc_name(api_enc e)
{
    return e == API_FLAT ? "flat" : e == API_B64 ? "b64" : "nested";
}

double api_round(double v, gs_dtype dt) { return dt == GS_FLOAT32 ? (double)(float)v : v; }

/* ---- cases ---------------------------------------------------------------------- */

void api_case_init(api_case *c, size_t inputs, gs_loss loss, gs_dtype dt)
{
    memset(c, 0, sizeof *c);
    gs_net_def_init(&c->def);
    c->def.inputs = inputs;
    c->def.loss = loss;
    c->def.dtype = dt;
    c->def.layers = c->layers;
    c->send_loss = 1;
    c->init = GS_INIT_TORCH_DEFAULT;
}

void api_case_layer(api_case *c, size_t units, gs_activation act)
{
    if (c->def.n_layers >= API_MAX_LAYERS) return;
    c->layers[c->def.n_layers++] = gs_layer(units, act);
    c->def.layers = c->layers;
}

size_t api_case_outputs(const api_case *c)
{
    return c->def.n_layers ? c->layers[c->def.n_layers - 1].units : 0;
}

size_t api_case_param_count(const api_case *c)
{
    size_t n = 0, in = c->def.inputs;
    for (size_t l = 0; l < c->def.n_layers; l++) {
        n += c->layers[l].units * in + c->layers[l].units;
        in = c->layers[l].units;
    }
    return n;
}

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s) { return (double)(mix(s) >> 11) / 9007199254740992.0; }

void api_case_random(api_case *c, size_t rows, uint64_t seed, int with_params, int labels)
{
    uint64_t s = seed * 7919 + 17;
    gs_dtype dt = c->def.dtype;
    size_t in = c->def.inputs, out = api_case_outputs(c);
    free(c->x);
    free(c->t);
    free(c->labels);
    free(c->params);
    c->t = NULL;
    c->labels = NULL;
    c->params = NULL;
    c->rows = rows;
    c->x = malloc(rows * in * sizeof(double) + 1);
    for (size_t i = 0; i < rows * in; i++) c->x[i] = api_round(unif(&s) * 3 - 1.5, dt);
    if (labels) {
        c->labels = malloc(rows * sizeof(int64_t) + 1);
        for (size_t r = 0; r < rows; r++) c->labels[r] = (int64_t)(mix(&s) % out);
    } else {
        c->t = malloc(rows * out * sizeof(double) + 1);
        for (size_t r = 0; r < rows; r++) {
            double sum = 0;
            for (size_t j = 0; j < out; j++) {
                double v;
                if (c->def.loss == GS_LOSS_BCE) v = unif(&s);
                else if (c->def.loss == GS_LOSS_CE) v = unif(&s) + 0.05;
                else v = unif(&s) * 2 - 1;
                c->t[r * out + j] = v;
                sum += v;
            }
            for (size_t j = 0; j < out; j++) {
                if (c->def.loss == GS_LOSS_CE) c->t[r * out + j] /= sum;
                c->t[r * out + j] = api_round(c->t[r * out + j], dt);
            }
        }
    }
    if (with_params) {
        size_t n = api_case_param_count(c), idx = 0, fan_in = in;
        c->params = malloc(n * sizeof(double) + 1);
        for (size_t l = 0; l < c->def.n_layers; l++) {
            double a = 1.0 / sqrt((double)fan_in);
            size_t m = c->layers[l].units * fan_in + c->layers[l].units;
            for (size_t i = 0; i < m; i++) c->params[idx++] = api_round((unif(&s) * 2 - 1) * a, dt);
            fan_in = c->layers[l].units;
        }
    }
}

void api_case_free(api_case *c)
{
    free(c->x);
    free(c->t);
    free(c->labels);
    free(c->params);
    c->x = c->t = c->params = NULL;
    c->labels = NULL;
}

/* ---- base64 --------------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *api_b64_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = B64[(v >> 6) & 63];
        *o++ = B64[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}

static int b64_val(char ch)
{
    const char *p = ch ? strchr(B64, ch) : NULL;
    return p ? (int)(p - B64) : -1;
}

unsigned char *api_b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4) return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) v[k] = -2;
            else v[k] = b64_val(s[i + k]);
            if (v[k] == -1) {
                free(out);
                return NULL;
            }
        }
        if (v[2] == -2 && v[3] != -2) {
            free(out);
            return NULL;
        }
        unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
                     (unsigned)(v[2] < 0 ? 0 : v[2]) << 6 | (unsigned)(v[3] < 0 ? 0 : v[3]);
        out[o++] = (unsigned char)(w >> 16);
        if (v[2] >= 0) out[o++] = (unsigned char)(w >> 8);
        if (v[3] >= 0) out[o++] = (unsigned char)w;
    }
    *len = o;
    return out;
}

/* ---- writing tensors -------------------------------------------------------------- */

static json_t *num(double v)
{
    json_t *j = json_real(v);
    return j ? j : json_null(); /* non-finite: the tests that send them build JSON by hand */
}

static json_t *nested(const double *v, const size_t *shape, size_t ndim)
{
    json_t *a = json_array();
    if (ndim == 1) {
        for (size_t i = 0; i < shape[0]; i++) json_array_append_new(a, num(v[i]));
        return a;
    }
    size_t stride = 1;
    for (size_t d = 1; d < ndim; d++) stride *= shape[d];
    for (size_t i = 0; i < shape[0]; i++)
        json_array_append_new(a, nested(v + i * stride, shape + 1, ndim - 1));
    return a;
}

json_t *api_tensor(const double *v, const size_t *shape, size_t ndim, gs_dtype dt, api_enc enc)
{
    size_t n = 1;
    for (size_t d = 0; d < ndim; d++) n *= shape[d];
    if (enc == API_NESTED) return nested(v, shape, ndim);
    json_t *o = json_object(), *sh = json_array();
    for (size_t d = 0; d < ndim; d++) json_array_append_new(sh, json_integer((json_int_t)shape[d]));
    json_object_set_new(o, "shape", sh);
    if (enc == API_FLAT) {
        json_t *data = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(data, num(v[i]));
        json_object_set_new(o, "data", data);
        return o;
    }
    size_t es = dt == GS_FLOAT32 ? 4 : 8;
    unsigned char *bytes = calloc(n * es + 1, 1);
    for (size_t i = 0; i < n; i++) {
        if (dt == GS_FLOAT32) {
            float f = (float)v[i];
            memcpy(bytes + i * 4, &f, 4); /* x86-64 and aarch64 are little-endian */
        } else {
            memcpy(bytes + i * 8, &v[i], 8);
        }
    }
    char *b = api_b64_encode(bytes, n * es);
    json_object_set_new(o, "dtype", json_string(dt == GS_FLOAT32 ? "float32" : "float64"));
    json_object_set_new(o, "b64", json_string(b));
    free(b);
    free(bytes);
    return o;
}

json_t *api_params_json(const api_case *c, const double *slab, api_enc enc)
{
    json_t *arr = json_array();
    size_t in = c->def.inputs, off = 0;
    for (size_t l = 0; l < c->def.n_layers; l++) {
        size_t out = c->layers[l].units;
        size_t ws[2] = {out, in}, bs[1] = {out};
        json_t *lp = json_object();
        json_object_set_new(lp, "weight", api_tensor(slab + off, ws, 2, c->def.dtype, enc));
        off += out * in;
        json_object_set_new(lp, "bias", api_tensor(slab + off, bs, 1, c->def.dtype, enc));
        off += out;
        json_array_append_new(arr, lp);
        in = out;
    }
    return arr;
}

static const char *reduction_name(gs_reduction r) { return r == GS_REDUCE_SUM ? "sum" : "mean"; }

json_t *api_case_json(const api_case *c)
{
    json_t *req = json_object(), *net = json_object(), *layers = json_array();
    json_object_set_new(net, "inputs", json_integer((json_int_t)c->def.inputs));
    for (size_t l = 0; l < c->def.n_layers; l++) {
        json_t *lj = json_object();
        json_object_set_new(lj, "units", json_integer((json_int_t)c->layers[l].units));
        json_object_set_new(lj, "activation",
                            json_string(gs_activation_name(c->layers[l].activation)));
        if (c->send_slope[l]) json_object_set_new(lj, "slope", json_real(c->layers[l].slope));
        if (c->send_alpha[l]) json_object_set_new(lj, "alpha", json_real(c->layers[l].alpha));
        json_array_append_new(layers, lj);
    }
    json_object_set_new(net, "layers", layers);
    if (c->send_loss) json_object_set_new(net, "loss", json_string(gs_loss_name(c->def.loss)));
    if (c->send_reduction)
        json_object_set_new(net, "reduction", json_string(reduction_name(c->def.reduction)));
    if (c->send_huber_delta) json_object_set_new(net, "huber_delta", json_real(c->def.huber_delta));
    if (c->def.l1 || c->def.l2)
        json_object_set_new(net, "penalty",
                            json_pack("{sfsf}", "l1", c->def.l1, "l2", c->def.l2));
    json_object_set_new(req, "network", net);
    if (c->send_dtype || c->def.dtype != GS_FLOAT32)
        json_object_set_new(req, "dtype",
                            json_string(c->def.dtype == GS_FLOAT32 ? "float32" : "float64"));
    if (c->params) {
        json_object_set_new(req, "params", api_params_json(c, c->params, c->in_enc));
    } else if (c->send_init) {
        json_t *init = json_object();
        json_object_set_new(init, "scheme", json_string(gs_init_name(c->init)));
        json_object_set_new(init, "seed", json_integer((json_int_t)c->seed));
        json_object_set_new(req, "init", init);
    }
    size_t xs[2] = {c->rows, c->def.inputs};
    json_object_set_new(req, "inputs", api_tensor(c->x, xs, 2, c->def.dtype, c->in_enc));
    if (c->labels) {
        json_t *lab = json_array();
        for (size_t r = 0; r < c->rows; r++)
            json_array_append_new(lab, json_integer((json_int_t)c->labels[r]));
        json_object_set_new(req, "targets", lab);
    } else if (c->t) {
        size_t ts[2] = {c->rows, api_case_outputs(c)};
        json_object_set_new(req, "targets", api_tensor(c->t, ts, 2, c->def.dtype, c->targets_enc));
    }
    if (c->out_enc) json_object_set_new(req, "encoding", json_string(c->out_enc));
    return req;
}

/* ---- the core side ------------------------------------------------------------------ */

static void *to_dtype(const double *v, size_t n, gs_dtype dt)
{
    if (!v) return NULL;
    if (dt == GS_FLOAT64) {
        double *d = malloc(n * 8 + 1);
        memcpy(d, v, n * 8);
        return d;
    }
    float *f = malloc(n * 4 + 1);
    for (size_t i = 0; i < n; i++) f[i] = (float)v[i];
    return f;
}

int api_ref_net(const api_case *c, api_ref *r)
{
    memset(r, 0, sizeof *r);
    gs_limits lim = {0};
    gs_net_def def = c->def;
    def.layers = c->layers;
    r->net = gs_net_create(&def, &lim, NULL, &r->err);
    if (!r->net) {
        r->status = r->err.status;
        return -1;
    }
    if (c->params)
        gs_net_set_params(r->net, c->params, GS_FLOAT64);
    else
        gs_net_init_params(r->net, c->init, c->seed);
    r->x = to_dtype(c->x, c->rows * c->def.inputs, c->def.dtype);
    r->t = to_dtype(c->t, c->rows * api_case_outputs(c), c->def.dtype);
    r->batch.inputs = r->x;
    r->batch.targets.values = r->t;
    r->batch.targets.labels = c->labels;
    r->batch.rows = c->rows;
    return 0;
}

static int make_pass(const api_case *c, api_ref *r)
{
    gs_limits lim = {0};
    if (api_ref_net(c, r)) return -1;
    r->pass = gs_pass_create(r->net, c->rows, &lim, &r->err);
    if (!r->pass) {
        r->status = r->err.status;
        return -1;
    }
    return 0;
}

int api_ref_forward(const api_case *c, api_ref *r)
{
    if (make_pass(c, r)) return -1;
    int has_t = c->t || c->labels;
    r->status = gs_forward(r->net, r->pass, &r->batch, has_t ? &r->loss : NULL, &r->err);
    return r->status == GS_OK ? 0 : -1;
}

int api_ref_backward(const api_case *c, unsigned keep, api_ref *r)
{
    if (make_pass(c, r)) return -1;
    r->status = gs_backward(r->net, r->pass, &r->batch, keep, &r->loss, &r->err);
    return r->status == GS_OK ? 0 : -1;
}

void api_ref_free(api_ref *r)
{
    gs_pass_free(r->pass);
    gs_net_free(r->net);
    free(r->x);
    free(r->t);
    memset(r, 0, sizeof *r);
}

int api_optim_from_json(const json_t *o, gs_optim_def *od)
{
    int kind = gs_optim_from_name(json_string_value(json_object_get(o, "name")));
    if (kind < 0) return -1;
    gs_optim_defaults(od, (gs_optim_kind)kind);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        double d = json_number_value(v);
        if (!strcmp(k, "lr")) od->lr = d;
        else if (!strcmp(k, "momentum")) od->momentum = d;
        else if (!strcmp(k, "dampening")) od->dampening = d;
        else if (!strcmp(k, "nesterov")) od->nesterov = json_is_true(v);
        else if (!strcmp(k, "weight_decay")) od->weight_decay = d;
        else if (!strcmp(k, "eps")) od->eps = d;
        else if (!strcmp(k, "amsgrad")) od->amsgrad = json_is_true(v);
        else if (!strcmp(k, "alpha")) od->alpha = d;
        else if (!strcmp(k, "centered")) od->centered = json_is_true(v);
        else if (!strcmp(k, "max_grad_norm")) od->max_grad_norm = d;
        else if (!strcmp(k, "betas")) {
            od->beta1 = json_number_value(json_array_get(v, 0));
            od->beta2 = json_number_value(json_array_get(v, 1));
        }
    }
    return 0;
}

/* ---- reading tensors ------------------------------------------------------------------ */

static int flatten(const json_t *j, const size_t *shape, size_t ndim, size_t depth, double *out,
                   size_t *k, char *err, size_t errlen)
{
    if (depth == ndim) {
        if (!json_is_number(j)) {
            snprintf(err, errlen, "element %zu is not a number", *k);
            return -1;
        }
        out[(*k)++] = json_number_value(j);
        return 0;
    }
    if (!json_is_array(j) || json_array_size(j) != shape[depth]) {
        snprintf(err, errlen, "ragged nested tensor at depth %zu", depth);
        return -1;
    }
    for (size_t i = 0; i < shape[depth]; i++)
        if (flatten(json_array_get(j, i), shape, ndim, depth + 1, out, k, err, errlen)) return -1;
    return 0;
}

int api_tensor_decode(const json_t *j, api_tensor_t *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (json_is_array(j)) {
        t->enc = API_NESTED;
        const json_t *cur = j;
        while (json_is_array(cur) && t->ndim < 8) {
            t->shape[t->ndim++] = json_array_size(cur);
            if (!json_array_size(cur)) break;
            cur = json_array_get(cur, 0);
        }
        t->n = 1;
        for (size_t d = 0; d < t->ndim; d++) t->n *= t->shape[d];
        t->v = malloc(t->n * sizeof(double) + 1);
        size_t k = 0;
        if (flatten(j, t->shape, t->ndim, 0, t->v, &k, err, errlen)) {
            api_tensor_free(t);
            return -1;
        }
        return 0;
    }
    if (!json_is_object(j)) {
        snprintf(err, errlen, "tensor is neither an array nor an object");
        return -1;
    }
    json_t *shape = json_object_get(j, "shape");
    if (!json_is_array(shape) || json_array_size(shape) > 8) {
        snprintf(err, errlen, "tensor without a shape");
        return -1;
    }
    t->ndim = json_array_size(shape);
    t->n = 1;
    for (size_t d = 0; d < t->ndim; d++) {
        t->shape[d] = (size_t)json_integer_value(json_array_get(shape, d));
        t->n *= t->shape[d];
    }
    t->v = malloc(t->n * sizeof(double) + 1);
    json_t *data = json_object_get(j, "data"), *b64 = json_object_get(j, "b64");
    if (data) {
        t->enc = API_FLAT;
        if (!json_is_array(data) || json_array_size(data) != t->n) {
            snprintf(err, errlen, "flat data has %zu values for %zu", json_array_size(data), t->n);
            api_tensor_free(t);
            return -1;
        }
        for (size_t i = 0; i < t->n; i++) {
            json_t *e = json_array_get(data, i);
            if (!json_is_number(e)) {
                snprintf(err, errlen, "flat data[%zu] is not a number", i);
                api_tensor_free(t);
                return -1;
            }
            t->v[i] = json_number_value(e);
        }
        return 0;
    }
    if (json_is_string(b64)) {
        t->enc = API_B64;
        t->b64 = 1;
        const char *dts = json_string_value(json_object_get(j, "dtype"));
        if (!dts || (strcmp(dts, "float32") && strcmp(dts, "float64"))) {
            snprintf(err, errlen, "b64 tensor with dtype %s", dts ? dts : "(none)");
            api_tensor_free(t);
            return -1;
        }
        t->b64_dtype = strcmp(dts, "float32") ? GS_FLOAT64 : GS_FLOAT32;
        size_t es = t->b64_dtype == GS_FLOAT32 ? 4 : 8, len = 0;
        unsigned char *bytes = api_b64_decode(json_string_value(b64), &len);
        if (!bytes || len != t->n * es) {
            snprintf(err, errlen, "b64 holds %zu bytes for %zu values of %zu", bytes ? len : 0,
                     t->n, es);
            free(bytes);
            api_tensor_free(t);
            return -1;
        }
        for (size_t i = 0; i < t->n; i++) {
            if (es == 4) {
                float f;
                memcpy(&f, bytes + i * 4, 4);
                t->v[i] = f;
            } else {
                memcpy(&t->v[i], bytes + i * 8, 8);
            }
        }
        free(bytes);
        return 0;
    }
    snprintf(err, errlen, "tensor object has neither data nor b64");
    api_tensor_free(t);
    return -1;
}

void api_tensor_free(api_tensor_t *t)
{
    free(t->v);
    t->v = NULL;
}

int api_tensor_equal(const json_t *j, const void *ref, gs_dtype dt, const size_t *shape,
                     size_t ndim, int want_enc, char *err, size_t errlen)
{
    api_tensor_t t;
    if (api_tensor_decode(j, &t, err, errlen)) return -1;
    int rc = 0;
    if (want_enc >= 0 && (int)t.enc != want_enc) {
        snprintf(err, errlen, "encoding %s, want %s", api_enc_name(t.enc),
                 api_enc_name((api_enc)want_enc));
        rc = -1;
    } else if (t.b64 && t.b64_dtype != dt) {
        snprintf(err, errlen, "b64 dtype differs from the request's");
        rc = -1;
    } else if (t.ndim != ndim) {
        snprintf(err, errlen, "%zu dimensions, want %zu", t.ndim, ndim);
        rc = -1;
    }
    for (size_t d = 0; !rc && d < ndim; d++) {
        if (t.shape[d] != shape[d]) {
            snprintf(err, errlen, "shape[%zu] is %zu, want %zu", d, t.shape[d], shape[d]);
            rc = -1;
        }
    }
    for (size_t i = 0; !rc && i < t.n; i++) {
        double want = dt == GS_FLOAT32 ? ((const float *)ref)[i] : ((const double *)ref)[i];
        double got = api_round(t.v[i], dt);
        if (!(got == want) && !(isnan(got) && isnan(want))) {
            snprintf(err, errlen, "element %zu is %.17g, want %.17g (diff %.3g)", i, got, want,
                     got - want);
            rc = -1;
        }
    }
    api_tensor_free(&t);
    return rc;
}

int api_params_equal(const json_t *arr, const gs_net *net, const void *slab, int want_enc,
                     char *err, size_t errlen)
{
    const gs_net_def *def = gs_net_def_of(net);
    size_t es = gs_dtype_size(def->dtype), in = def->inputs;
    if (!json_is_array(arr) || json_array_size(arr) != def->n_layers) {
        snprintf(err, errlen, "params is not an array of %zu layers", def->n_layers);
        return -1;
    }
    for (size_t l = 0; l < def->n_layers; l++) {
        size_t out = def->layers[l].units;
        size_t ws[2] = {out, in}, bs[1] = {out};
        json_t *lp = json_array_get(arr, l);
        char sub[300];
        const char *base = slab;
        if (api_tensor_equal(json_object_get(lp, "weight"),
                             base + gs_net_weight_offset(net, l) * es, def->dtype, ws, 2,
                             want_enc, sub, sizeof sub)) {
            snprintf(err, errlen, "layer %zu weight: %s", l, sub);
            return -1;
        }
        if (api_tensor_equal(json_object_get(lp, "bias"), base + gs_net_bias_offset(net, l) * es,
                             def->dtype, bs, 1, want_enc, sub, sizeof sub)) {
            snprintf(err, errlen, "layer %zu bias: %s", l, sub);
            return -1;
        }
        in = out;
    }
    return 0;
}
