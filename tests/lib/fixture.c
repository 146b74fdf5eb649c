#include "fixture.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(char *why, size_t why_size, const char *fmt, ...)
{
    if (!why || !why_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

json_t *fx_load(const char *path, char *why, size_t why_size)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        say(why, why_size, "cannot load %s: %s (line %d); regenerate with `make fixtures`",
            path, jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        say(why, why_size, "%s: top level is not an object", path);
        json_decref(root);
        return NULL;
    }
    return root;
}

static const char *const ACT_NAMES[] = {
    [GS_ACT_LINEAR] = "linear",   [GS_ACT_RELU] = "relu",       [GS_ACT_LEAKY_RELU] = "leaky_relu",
    [GS_ACT_ELU] = "elu",         [GS_ACT_GELU] = "gelu",       [GS_ACT_SIGMOID] = "sigmoid",
    [GS_ACT_TANH] = "tanh",       [GS_ACT_SOFTPLUS] = "softplus", [GS_ACT_SOFTMAX] = "softmax",
};
static const char *const LOSS_NAMES[] = {
    [GS_LOSS_MSE] = "mse",
    [GS_LOSS_L1] = "l1",
    [GS_LOSS_HUBER] = "huber",
    [GS_LOSS_BCE] = "binary_cross_entropy",
    [GS_LOSS_CE] = "cross_entropy",
};
static const char *const OPT_NAMES[] = {
    [GS_OPT_SGD] = "sgd",
    [GS_OPT_ADAM] = "adam",
    [GS_OPT_ADAMW] = "adamw",
    [GS_OPT_RMSPROP] = "rmsprop",
};

static int lookup(const char *name, const char *const *names, int n)
{
    if (!name) return -1;
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(name, names[i]) == 0) return i;
    return -1;
}

int fx_activation(const char *name) { return lookup(name, ACT_NAMES, GS_ACT_COUNT); }
int fx_loss(const char *name) { return lookup(name, LOSS_NAMES, GS_LOSS_COUNT); }
int fx_optim_kind(const char *name) { return lookup(name, OPT_NAMES, GS_OPT_COUNT); }

int fx_reduction(const char *name)
{
    static const char *const names[] = {[GS_REDUCE_MEAN] = "mean", [GS_REDUCE_SUM] = "sum"};
    return lookup(name, names, 2);
}

int fx_dtype(const char *name)
{
    static const char *const names[] = {[GS_FLOAT32] = "float32", [GS_FLOAT64] = "float64"};
    return lookup(name, names, 2);
}

static int get_size(const json_t *obj, const char *key, size_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) return -1;
    double d = json_number_value(v);
    if (!(d >= 1 && d <= 1e9) || d != floor(d)) return -1;
    *out = (size_t)d;
    return 0;
}

static const char *const TYPE_NAMES[] = {
    [GS_LAYER_DENSE] = "dense",
    [GS_LAYER_FLATTEN] = "flatten",
    [GS_LAYER_CONV2D] = "conv2d",
    [GS_LAYER_MAX_POOL2D] = "max_pool2d",
    [GS_LAYER_AVG_POOL2D] = "avg_pool2d",
    [GS_LAYER_DROPOUT] = "dropout",
    [GS_LAYER_LAYER_NORM] = "layer_norm",
    [GS_LAYER_BATCH_NORM] = "batch_norm",
};

/* n or [h, w] into out; absent: def. 0, or -1 when malformed. */
static int get_pair(const json_t *obj, const char *key, size_t def, size_t out[2])
{
    const json_t *v = json_object_get(obj, key);
    out[0] = out[1] = def;
    if (!v) return 0;
    for (size_t i = 0; i < 2; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e) || json_integer_value(e) < 0) return -1;
        out[i] = (size_t)json_integer_value(e);
    }
    return 0;
}

/* One layer of a fixture definition; "type" absent means dense. */
static int layer_def(const json_t *l, size_t i, gs_layer_def *L, char *why, size_t why_size)
{
    const json_t *tn = json_object_get(l, "type");
    int type = tn ? lookup(json_string_value(tn), TYPE_NAMES, GS_LAYER_COUNT) : GS_LAYER_DENSE;
    if (type < 0) return say(why, why_size, "bad def/layers/%zu/type", i), -1;
    *L = gs_layer(0, GS_ACT_LINEAR);
    L->type = (gs_layer_type)type;
    if (type == GS_LAYER_FLATTEN) return 0;
    if (type == GS_LAYER_DROPOUT) {
        const json_t *p = json_object_get(l, "p");
        if (!json_is_number(p)) return say(why, why_size, "bad def/layers/%zu/p", i), -1;
        L->p = json_number_value(p);
        return 0;
    }
    if (type == GS_LAYER_CONV2D) {
        if (get_size(l, "out_channels", &L->out_channels) || !json_object_get(l, "kernel_size") ||
            get_pair(l, "kernel_size", 0, L->kernel) || get_pair(l, "stride", 1, L->stride) ||
            get_pair(l, "padding", 0, L->padding))
            return say(why, why_size, "bad def/layers/%zu (conv2d)", i), -1;
    } else if (type == GS_LAYER_MAX_POOL2D || type == GS_LAYER_AVG_POOL2D) {
        if (!json_object_get(l, "kernel_size") || get_pair(l, "kernel_size", 0, L->kernel) ||
            get_pair(l, "stride", 0, L->stride) || get_pair(l, "padding", 0, L->padding))
            return say(why, why_size, "bad def/layers/%zu (pool)", i), -1;
        if (!json_object_get(l, "stride")) memcpy(L->stride, L->kernel, sizeof L->stride);
        return 0;
    } else if (type == GS_LAYER_LAYER_NORM || type == GS_LAYER_BATCH_NORM) {
        const json_t *e = json_object_get(l, "eps"), *m = json_object_get(l, "momentum");
        L->eps = e ? json_number_value(e) : 1e-5;
        L->momentum = m ? json_number_value(m) : 0.1;
    } else if (get_size(l, "units", &L->units)) {
        return say(why, why_size, "bad def/layers/%zu/units", i), -1;
    }
    const json_t *an = json_object_get(l, "activation");
    int act = an ? fx_activation(json_string_value(an)) : GS_ACT_LINEAR;
    if (act < 0) return say(why, why_size, "bad def/layers/%zu/activation", i), -1;
    L->activation = (gs_activation)act;
    const json_t *v;
    if ((v = json_object_get(l, "slope"))) L->slope = json_number_value(v);
    if ((v = json_object_get(l, "alpha"))) L->alpha = json_number_value(v);
    return 0;
}

int fx_net_def(const json_t *fx, gs_net_def *def, gs_layer_def *layers, char *why,
               size_t why_size)
{
    const json_t *d = json_object_get(fx, "def");
    if (!json_is_object(d)) return say(why, why_size, "no \"def\" object"), -1;
    gs_net_def_init(def);

    int dt = fx_dtype(json_string_value(json_object_get(fx, "dtype")));
    if (dt < 0) return say(why, why_size, "bad \"dtype\""), -1;
    def->dtype = (gs_dtype)dt;
    const json_t *in = json_object_get(d, "inputs");
    if (json_is_array(in) && json_array_size(in) == 3) { /* [C, H, W] */
        def->inputs = 1;
        for (size_t i = 0; i < 3; i++) {
            double v = json_number_value(json_array_get(in, i));
            if (!(v >= 1 && v <= 1e6)) return say(why, why_size, "bad def/inputs/%zu", i), -1;
            def->input_shape[i] = (size_t)v;
            def->inputs *= def->input_shape[i];
        }
    } else if (get_size(d, "inputs", &def->inputs)) {
        return say(why, why_size, "bad def/inputs"), -1;
    }

    const json_t *ls = json_object_get(d, "layers");
    size_t n = json_array_size(ls);
    if (!json_is_array(ls) || n == 0 || n > FX_MAX_LAYERS)
        return say(why, why_size, "bad def/layers"), -1;
    for (size_t i = 0; i < n; i++)
        if (layer_def(json_array_get(ls, i), i, &layers[i], why, why_size)) return -1;
    def->n_layers = n;
    def->layers = layers;

    int loss = fx_loss(json_string_value(json_object_get(d, "loss")));
    int red = fx_reduction(json_string_value(json_object_get(d, "reduction")));
    if (loss < 0 || red < 0) return say(why, why_size, "bad def/loss or def/reduction"), -1;
    def->loss = (gs_loss)loss;
    def->reduction = (gs_reduction)red;
    const json_t *hd = json_object_get(d, "huber_delta");
    if (hd) def->huber_delta = json_number_value(hd);
    const json_t *pen = json_object_get(d, "penalty");
    def->l1 = json_number_value(json_object_get(pen, "l1")); /* 0 when absent */
    def->l2 = json_number_value(json_object_get(pen, "l2"));
    return 0;
}

size_t fx_params_len(const json_t *list)
{
    size_t n = 0;
    for (size_t l = 0; l < json_array_size(list); l++) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)json_array_get(list, l), key, v) n += json_array_size(v);
    }
    return n;
}

size_t fx_len(const json_t *arr)
{
    return json_is_array(arr) ? json_array_size(arr) : (size_t)-1;
}

int fx_doubles(const json_t *arr, double *out, size_t n)
{
    if (!json_is_array(arr) || json_array_size(arr) != n) return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_number(v)) return -1;
        out[i] = json_number_value(v);
    }
    return 0;
}

int fx_param_slab(const json_t *list, const gs_net *net, double *slab, char *why,
                  size_t why_size)
{
    const gs_net_def *def = gs_net_def_of(net);
    if (!json_is_array(list) || json_array_size(list) != def->n_layers)
        return say(why, why_size, "params: expected %zu layers", def->n_layers), -1;
    size_t total = gs_net_param_count(net);
    for (size_t l = 0; l < def->n_layers; l++) {
        size_t first, n = gs_net_layer_tensors(net, l, &first);
        const json_t *p = json_array_get(list, l);
        if (json_object_size(p) != n)
            return say(why, why_size, "params/%zu: %zu tensors, the layer has %zu", l,
                       json_object_size(p), n), -1;
        for (size_t t = first; t < first + n; t++) {
            const char *name = gs_net_tensor_name(net, t);
            size_t off = gs_net_tensor_offset(net, t), size = gs_net_tensor_size(net, t);
            if (off + size > total)
                return say(why, why_size, "tensor %zu out of the slab (%zu)", t, total), -1;
            if (fx_doubles(json_object_get(p, name), slab + off, size))
                return say(why, why_size, "params/%zu/%s: expected %zu numbers", l, name, size),
                       -1;
        }
    }
    return 0;
}

int fx_set_buffers(const json_t *list, gs_net *net, char *why, size_t why_size)
{
    size_t es = fx_dtype_bytes(gs_net_def_of(net)->dtype);
    for (size_t b = 0; b < gs_net_buffer_count(net); b++) {
        size_t l = gs_net_buffer_layer(net, b), n = gs_net_buffer_size(net, b);
        const char *name = gs_net_buffer_name(net, b);
        double *v = malloc(n * sizeof *v);
        if (!v || fx_doubles(json_object_get(json_array_get(list, l), name), v, n)) {
            free(v);
            return say(why, why_size, "buffers/%zu/%s: expected %zu numbers", l, name, n), -1;
        }
        void *c = fx_convert(v, n, gs_net_def_of(net)->dtype);
        if (c) memcpy((char *)gs_net_params(net) + gs_net_buffer_offset(net, b) * es, c, n * es);
        free(v);
        free(c);
        if (!c) return say(why, why_size, "out of memory"), -1;
    }
    return 0;
}

size_t fx_dtype_bytes(gs_dtype t) { return t == GS_FLOAT64 ? sizeof(double) : sizeof(float); }

void *fx_convert(const double *src, size_t n, gs_dtype t)
{
    void *dst = malloc(n ? n * fx_dtype_bytes(t) : 1);
    if (!dst) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (t == GS_FLOAT64)
            ((double *)dst)[i] = src[i];
        else
            ((float *)dst)[i] = (float)src[i];
    }
    return dst;
}

double fx_get(const void *buf, gs_dtype t, size_t i)
{
    return t == GS_FLOAT64 ? ((const double *)buf)[i] : (double)((const float *)buf)[i];
}

double fx_rel_err(const void *got, gs_dtype t, const double *want, size_t n, size_t *worst)
{
    double max_diff = 0, max_want = 0;
    size_t w = 0;
    if (worst) *worst = 0;
    if (!got) return INFINITY;
    for (size_t i = 0; i < n; i++) {
        double a = fx_get(got, t, i), b = want[i];
        if (!isfinite(a) || !isfinite(b)) {
            if (worst) *worst = i;
            return INFINITY;
        }
        double d = fabs(a - b);
        if (d > max_diff) max_diff = d, w = i;
        if (fabs(b) > max_want) max_want = fabs(b);
    }
    if (worst) *worst = w;
    return max_diff / fmax(max_want, FX_TINY);
}

static int opt_num(const json_t *obj, const char *key, double *dst)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return -1;
    *dst = json_number_value(v);
    return 0;
}

static int opt_bool(const json_t *obj, const char *key, int *dst)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return -1;
    *dst = json_is_true(v);
    return 0;
}

int fx_optim_def(const json_t *obj, gs_optim_def *def, char *why, size_t why_size)
{
    int kind = fx_optim_kind(json_string_value(json_object_get(obj, "kind")));
    if (kind < 0) return say(why, why_size, "optim/kind unknown"), -1;
    gs_optim_defaults(def, (gs_optim_kind)kind);
    def->kind = (gs_optim_kind)kind;
    if (opt_num(obj, "lr", &def->lr) || opt_num(obj, "weight_decay", &def->weight_decay) ||
        opt_num(obj, "momentum", &def->momentum) || opt_num(obj, "dampening", &def->dampening) ||
        opt_bool(obj, "nesterov", &def->nesterov) || opt_num(obj, "beta1", &def->beta1) ||
        opt_num(obj, "beta2", &def->beta2) || opt_num(obj, "eps", &def->eps) ||
        opt_bool(obj, "amsgrad", &def->amsgrad) || opt_num(obj, "alpha", &def->alpha) ||
        opt_bool(obj, "centered", &def->centered) ||
        opt_num(obj, "max_grad_norm", &def->max_grad_norm))
        return say(why, why_size, "optim: a field has the wrong type"), -1;
    return 0;
}
