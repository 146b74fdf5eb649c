#include "api/request.h"

#include "alloc.h"

#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const COMMON_KEYS[] = {"network", "dtype",   "params", "init",
                                          "inputs",  "targets", NULL};
static const char *const NETWORK_KEYS[] = {"inputs", "layers", "loss", "reduction",
                                           "huber_delta", "penalty", NULL};
static const char *const PENALTY_KEYS[] = {"l1", "l2", NULL};
/* The keys of a layer object, per type (the core's layer table has the rest). */
static const char *const DENSE_KEYS[] = {"type", "units", "activation", "slope", "alpha", NULL};
static const char *const FLATTEN_KEYS[] = {"type", NULL};
static const char *const CONV2D_KEYS[] = {"type",   "out_channels", "kernel_size", "stride",
                                          "padding", "activation",  "slope",       "alpha",
                                          NULL};
static const char *const POOL2D_KEYS[] = {"type", "kernel_size", "stride", "padding", NULL};
static const char *const DROPOUT_KEYS[] = {"type", "p", NULL};
static const char *const LAYER_NORM_KEYS[] = {"type", "eps", "activation", "slope", "alpha", NULL};
static const char *const BATCH_NORM_KEYS[] = {"type",  "eps",   "momentum", "activation",
                                              "slope", "alpha", NULL};
static const char *const *const LAYER_KEYS[GS_LAYER_COUNT] = {
    [GS_LAYER_DENSE] = DENSE_KEYS,
    [GS_LAYER_FLATTEN] = FLATTEN_KEYS,
    [GS_LAYER_CONV2D] = CONV2D_KEYS,
    [GS_LAYER_MAX_POOL2D] = POOL2D_KEYS,
    [GS_LAYER_AVG_POOL2D] = POOL2D_KEYS,
    [GS_LAYER_DROPOUT] = DROPOUT_KEYS,
    [GS_LAYER_LAYER_NORM] = LAYER_NORM_KEYS,
    [GS_LAYER_BATCH_NORM] = BATCH_NORM_KEYS,
};
static const char *const INIT_KEYS[] = {"scheme", "seed", NULL};

/* ---- members ------------------------------------------------------------ */

int need_object(const json_t *v, const char *ptr, diag *d)
{
    if (json_is_object(v)) return 1;
    diag_invalid(d, ptr, "must be an object");
    return 0;
}

static int in_list(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(*list, key) == 0) return 1;
    return 0;
}

int check_keys(const json_t *obj, const char *base, diag *d, ...)
{
    const char *key;
    const json_t *value;
    int ok = 1;
    json_object_foreach((json_t *)obj, key, value) {
        int known = 0;
        va_list ap;
        va_start(ap, d);
        for (const char *const *list; !known && (list = va_arg(ap, const char *const *));)
            known = in_list(key, list);
        va_end(ap);
        if (!known) {
            char p[PTR_MAX];
            ptr_key(p, base, key);
            diag_invalid(d, p, "unknown key");
            ok = 0;
        }
    }
    return ok;
}

int get_bool(const json_t *obj, const char *key, const char *base, int *out, diag *d)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    char p[PTR_MAX];
    ptr_key(p, base, key);
    if (!json_is_boolean(v)) {
        diag_invalid(d, p, "must be true or false");
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int get_number(const json_t *obj, const char *key, const char *base, double *out, diag *d)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_number(v)) {
        char p[PTR_MAX];
        ptr_key(p, base, key);
        diag_invalid(d, p, "must be a number");
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

int get_count(const json_t *obj, const char *key, const char *base, size_t min, size_t *out,
              diag *d)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    json_int_t i = json_is_integer(v) ? json_integer_value(v) : -1;
    if (i < 0 || (size_t)i < min) {
        char p[PTR_MAX];
        ptr_key(p, base, key);
        diag_invalid(d, p, min ? "must be a positive integer" : "must be a non-negative integer");
        return -1;
    }
    *out = (size_t)i;
    return 1;
}

int get_seed(const json_t *obj, const char *key, const char *base, uint64_t *out, diag *d)
{
    size_t v;
    int got = get_count(obj, key, base, 0, &v, d);
    if (got == 1) *out = v;
    return got;
}

/* A string member naming one of a set: 1, 0 when absent, -1 when unknown. */
static int get_name(const json_t *obj, const char *key, const char *base, int (*from)(const char *),
                    const char *choices, int *out, diag *d)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    int k = json_is_string(v) ? from(json_string_value(v)) : -1;
    if (k < 0) {
        char p[PTR_MAX];
        ptr_key(p, base, key);
        diag_invalid(d, p, "must be one of %s", choices);
        return -1;
    }
    *out = k;
    return 1;
}

static int reduction_from_name(const char *s)
{
    return strcmp(s, "mean") == 0 ? GS_REDUCE_MEAN : strcmp(s, "sum") == 0 ? GS_REDUCE_SUM : -1;
}

/* ---- core errors ---------------------------------------------------------- */

void core_field_ptr(char out[PTR_MAX], const char *prefix, const char *field)
{
    snprintf(out, PTR_MAX, "%s%s", prefix, field);
    size_t n = strlen(out);
    if (n > 1 && out[n - 1] == '/') out[n - 1] = 0; /* empty field: the prefix itself */
}

void diag_core(diag *d, const gs_error *e, const char *prefix, const char *limit)
{
    char p[PTR_MAX];
    core_field_ptr(p, prefix, e->field);
    switch (e->status) {
    case GS_ELIMIT:
        diag_limit(d, limit ? limit : "limit", 0, p, "%s", e->message);
        break;
    case GS_ENOMEM:
        diag_set(d, 500, "internal", "%s", e->message);
        break;
    default:
        diag_invalid(d, p, "%s", e->message);
        break;
    }
}

/* A network definition's ELIMIT as a 422 naming the limit the core reports. */
static void diag_net_limit(diag *d, const gs_error *e, const server_options *o)
{
    const gs_limits *L = &o->limits;
    const char *name = e->limit ? e->limit : "max_params";
    double value = (double)L->max_params;
    if (strcmp(name, "max_layers") == 0) {
        value = (double)L->max_layers;
    } else if (strcmp(name, "max_units") == 0) {
        value = L->max_units && L->max_units < (size_t)INT_MAX ? (double)L->max_units : INT_MAX;
    } else if (strcmp(name, "max_batch_elems") == 0) {
        value = (double)L->max_batch_elems;
    }
    diag_core(d, e, "/network/", name);
    d->limit_value = value;
}

/* ---- network ---------------------------------------------------------------- */

static void require(const json_t *v, const char *ptr, const char *key, diag *d)
{
    if (json_object_get(v, key)) return;
    char p[PTR_MAX];
    ptr_key(p, ptr, key);
    diag_invalid(d, p, "is required");
}

static int layer_type_from_name(const char *name) { return gs_layer_type_from_name(name); }

/* A size pair as torch takes it: n (both sides) or [h, w], each an integer
 * >= min. 1 when present and valid, 0 when absent, -1 when invalid. */
static int get_pair(const json_t *obj, const char *key, const char *base, size_t min,
                    size_t out[2], diag *d)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    const json_t *e[2] = {v, v};
    if (json_is_array(v)) {
        e[0] = json_array_size(v) == 2 ? json_array_get(v, 0) : NULL;
        e[1] = json_array_size(v) == 2 ? json_array_get(v, 1) : NULL;
    }
    for (int i = 0; i < 2; i++) {
        json_int_t n = json_is_integer(e[i]) ? json_integer_value(e[i]) : -1;
        if (n < 0 || (size_t)n < min || n > INT_MAX) {
            char p[PTR_MAX];
            ptr_key(p, base, key);
            diag_invalid(d, p, "must be %s integer or [h, w] of them (at most %d)",
                         min ? "a positive" : "a non-negative", INT_MAX);
            return -1;
        }
        out[i] = (size_t)n;
    }
    return 1;
}

/* activation (with slope, alpha), as dense and conv2d take it. */
static void decode_activation(const json_t *v, const char *ptr, gs_layer_def *L, int required,
                              diag *d)
{
    int act = GS_ACT_LINEAR;
    if (get_name(v, "activation", ptr, gs_activation_from_name,
                 "linear, relu, leaky_relu, elu, gelu, sigmoid, tanh, softplus, softmax", &act,
                 d) == 0 &&
        required)
        require(v, ptr, "activation", d);
    L->activation = (gs_activation)act;
    get_number(v, "slope", ptr, &L->slope, d);
    get_number(v, "alpha", ptr, &L->alpha, d);
}

/* A layer object: "type" (default dense) picks the keys it may hold; the
 * core checks the values against the shapes. */
static void decode_layer(const json_t *v, const char *ptr, gs_layer_def *L, diag *d)
{
    if (!need_object(v, ptr, d)) return;
    int type = GS_LAYER_DENSE;
    if (get_name(v, "type", ptr, layer_type_from_name,
                 "dense, flatten, conv2d, max_pool2d, avg_pool2d, dropout, layer_norm, batch_norm",
                 &type, d) < 0)
        return;
    L->type = (gs_layer_type)type;
    check_keys(v, ptr, d, LAYER_KEYS[type], NULL);
    switch (L->type) {
    case GS_LAYER_DENSE:
        if (get_count(v, "units", ptr, 1, &L->units, d) == 0) require(v, ptr, "units", d);
        decode_activation(v, ptr, L, 1, d);
        break;
    case GS_LAYER_CONV2D:
        /* out_channels 0 is the core's to refuse, naming the field as it does */
        if (get_count(v, "out_channels", ptr, 0, &L->out_channels, d) == 0)
            require(v, ptr, "out_channels", d);
        if (get_pair(v, "kernel_size", ptr, 1, L->kernel, d) == 0) require(v, ptr, "kernel_size", d);
        L->stride[0] = L->stride[1] = 1;
        get_pair(v, "stride", ptr, 1, L->stride, d);
        get_pair(v, "padding", ptr, 0, L->padding, d);
        decode_activation(v, ptr, L, 0, d);
        break;
    case GS_LAYER_MAX_POOL2D:
    case GS_LAYER_AVG_POOL2D:
        if (get_pair(v, "kernel_size", ptr, 1, L->kernel, d) == 0) require(v, ptr, "kernel_size", d);
        memcpy(L->stride, L->kernel, sizeof L->stride); /* torch: stride = kernel_size */
        get_pair(v, "stride", ptr, 1, L->stride, d);
        get_pair(v, "padding", ptr, 0, L->padding, d);
        break;
    case GS_LAYER_DROPOUT: /* the core checks 0 <= p < 1 */
        if (get_number(v, "p", ptr, &L->p, d) == 0) require(v, ptr, "p", d);
        break;
    case GS_LAYER_LAYER_NORM: /* the core checks eps > 0 */
        L->eps = 1e-5;
        get_number(v, "eps", ptr, &L->eps, d);
        decode_activation(v, ptr, L, 0, d);
        break;
    case GS_LAYER_BATCH_NORM: /* the core checks eps > 0, momentum in [0, 1] */
        L->eps = 1e-5;
        L->momentum = 0.1;
        get_number(v, "eps", ptr, &L->eps, d);
        get_number(v, "momentum", ptr, &L->momentum, d);
        decode_activation(v, ptr, L, 0, d);
        break;
    default:
        break;
    }
}

/* "inputs": a count of features, or [C, H, W] for images (NCHW rows). */
static void decode_inputs(const json_t *net, gs_net_def *def, diag *d)
{
    const json_t *v = json_object_get(net, "inputs");
    if (!v) {
        diag_invalid(d, "/network/inputs", "is required");
    } else if (json_is_array(v)) {
        if (json_array_size(v) != 3) {
            diag_invalid(d, "/network/inputs", "must be a positive integer or [C, H, W]");
            return;
        }
        for (size_t i = 0; i < 3; i++) {
            const json_t *e = json_array_get(v, i);
            json_int_t n = json_is_integer(e) ? json_integer_value(e) : 0;
            if (n < 1) {
                char p[PTR_MAX];
                ptr_index(p, "/network/inputs", i);
                diag_invalid(d, p, "must be a positive integer");
                return;
            }
            def->input_shape[i] = (size_t)n;
        }
        /* C*H*W, saturating: the core refuses it against the limits */
        size_t n = def->input_shape[0];
        for (size_t i = 1; i < 3; i++)
            n = n > SIZE_MAX / def->input_shape[i] ? SIZE_MAX : n * def->input_shape[i];
        def->inputs = n;
    } else {
        get_count(net, "inputs", "/network", 1, &def->inputs, d);
    }
}

/* Fills r->def and r->layers from "network"; the layer count is checked
 * against the limit before the layers are allocated. */
static void decode_network(request *r, const json_t *net, const server_options *o, diag *d)
{
    gs_net_def_init(&r->def);
    if (!net) {
        diag_invalid(d, "/network", "is required");
        return;
    }
    if (!need_object(net, "/network", d)) return;
    check_keys(net, "/network", d, NETWORK_KEYS, NULL);
    decode_inputs(net, &r->def, d);
    int loss = GS_LOSS_MSE, reduction = GS_REDUCE_MEAN;
    get_name(net, "loss", "/network", gs_loss_from_name,
             "mse, l1, huber, binary_cross_entropy, cross_entropy", &loss, d);
    get_name(net, "reduction", "/network", reduction_from_name, "mean, sum", &reduction, d);
    if (get_number(net, "huber_delta", "/network", &r->def.huber_delta, d) == 1 &&
        !(r->def.huber_delta > 0))
        diag_invalid(d, "/network/huber_delta", "must be a number > 0");
    r->def.loss = (gs_loss)loss;
    r->def.reduction = (gs_reduction)reduction;
    const json_t *pen = json_object_get(net, "penalty");
    if (pen && need_object(pen, "/network/penalty", d)) {
        check_keys(pen, "/network/penalty", d, PENALTY_KEYS, NULL);
        if (get_number(pen, "l1", "/network/penalty", &r->def.l1, d) == 1 && !(r->def.l1 >= 0))
            diag_invalid(d, "/network/penalty/l1", "must be a number >= 0");
        if (get_number(pen, "l2", "/network/penalty", &r->def.l2, d) == 1 && !(r->def.l2 >= 0))
            diag_invalid(d, "/network/penalty/l2", "must be a number >= 0");
    }

    const json_t *layers = json_object_get(net, "layers");
    size_t n = json_array_size(layers);
    if (!json_is_array(layers) || n == 0) {
        diag_invalid(d, "/network/layers", "must be an array of at least one layer");
        return;
    }
    size_t max = o->limits.max_layers;
    if (max && n > max) {
        diag_limit(d, "max_layers", (double)max, "/network/layers",
                   "%zu layers exceed the limit of %zu", n, max);
        return;
    }
    r->layers = n <= NET_CACHE_MAX_LAYERS ? r->few_layers : srv_calloc(n, sizeof *r->layers);
    if (!r->layers) {
        diag_set(d, 500, "internal", "out of memory reading the network");
        return;
    }
    r->def.layers = r->layers;
    r->def.n_layers = n;
    for (size_t l = 0; l < n; l++) {
        char p[PTR_MAX];
        ptr_index(p, "/network/layers", l);
        r->layers[l] = gs_layer(0, GS_ACT_LINEAR);
        decode_layer(json_array_get(layers, l), p, &r->layers[l], d);
    }
}

/* ---- params ------------------------------------------------------------------ */

/* Tensor t of r->net from the member of that name of layer (at layer_at),
 * shape checked. */
static int read_param_tensor(const json_t *layer, const json_ptr *layer_at, size_t t,
                             const request *r, void *slab, diag *d)
{
    char what[96];
    const char *key = gs_net_tensor_name(r->net, t);
    const json_ptr at = {.up = layer_at, .key = key};
    const json_t *v = json_object_get(layer, key);
    if (!v) {
        diag_invalid_at(d, &at, "is required");
        return 0;
    }
    tensor_view tv;
    size_t dims[4], rank = gs_net_tensor_dims(r->net, t, dims);
    if (!tensor_view_of(r->codec, v, &at, &tv, d)) return 0;
    if (!tensor_shape_is(&tv, rank, dims)) { /* the message is made only when needed */
        tensor_shape_text(what, sizeof what, rank, dims);
        return tensor_expect(&tv, &at, rank, dims, what, d);
    }
    char *dst = (char *)slab + gs_net_tensor_offset(r->net, t) * gs_dtype_size(r->def.dtype);
    return tensor_read(&tv, &at, r->def.dtype, dst, d);
}

/* 1 when key names one of layer l's tensors (or, with buffers, its buffers). */
static int is_param_key(const request *r, size_t l, const char *key, int buffers)
{
    size_t first, n = gs_net_layer_tensors(r->net, l, &first);
    for (size_t t = first; t < first + n; t++)
        if (strcmp(gs_net_tensor_name(r->net, t), key) == 0) return 1;
    n = buffers ? gs_net_layer_buffers(r->net, l, &first) : 0;
    for (size_t b = first; b < first + n; b++)
        if (strcmp(gs_net_buffer_name(r->net, b), key) == 0) return 1;
    return 0;
}

/* Refuses a layer's params (at at) that are not an object, or hold keys
 * that are not its tensors' names. */
static int check_param_keys(const json_t *layer, const json_ptr *at, const request *r, size_t l,
                            int buffers, diag *d)
{
    if (!json_is_object(layer)) {
        diag_invalid_at(d, at, "must be an object");
        return 0;
    }
    const char *key;
    const json_t *value;
    int ok = 1;
    json_object_foreach((json_t *)layer, key, value) {
        if (is_param_key(r, l, key, buffers)) continue;
        diag_invalid_at(d, PTR_KEY(at, key), gs_net_layer_tensors(r->net, l, NULL)
                                                 ? "unknown key"
                                                 : "unknown key (this layer has no parameters)");
        ok = 0;
    }
    return ok;
}

/* Buffer b of r->net from the member of that name of layer (at layer_at),
 * when present: [size]. */
static int read_buffer(const json_t *layer, const json_ptr *layer_at, size_t b, const request *r,
                       void *slab, diag *d)
{
    const char *key = gs_net_buffer_name(r->net, b);
    const json_t *v = json_object_get(layer, key);
    if (!v) return 1; /* keeps its initial value */
    char what[32];
    const json_ptr at = {.up = layer_at, .key = key};
    tensor_view tv;
    size_t dims[1] = {gs_net_buffer_size(r->net, b)};
    if (!tensor_view_of(r->codec, v, &at, &tv, d)) return 0;
    if (!tensor_shape_is(&tv, 1, dims)) {
        tensor_shape_text(what, sizeof what, 1, dims);
        return tensor_expect(&tv, &at, 1, dims, what, d);
    }
    char *dst = (char *)slab + gs_net_buffer_offset(r->net, b) * gs_dtype_size(r->def.dtype);
    if (!tensor_read(&tv, &at, r->def.dtype, dst, d)) return 0;
    /* a variance: the square root of a negative one is NaN */
    if (strcmp(key, "running_var") == 0)
        for (size_t i = 0; i < dims[0]; i++) {
            double x = r->def.dtype == GS_FLOAT64 ? ((double *)dst)[i] : ((float *)dst)[i];
            if (x < 0) {
                diag_invalid_at(d, &at, "element %zu is %g: a variance is >= 0", i, x);
                return 0;
            }
        }
    return 1;
}

int params_decode(const json_t *v, const json_ptr *at, const request *r, void *slab,
                  int buffers, diag *d)
{
    size_t n = r->def.n_layers;
    if (!json_is_array(v) || json_array_size(v) != n) {
        diag_invalid_at(d, at,
                        "must be an array of %zu objects, one per layer ({\"weight\", "
                        "\"bias\"}, or {} for a layer without parameters)",
                        n);
        return 0;
    }
    if (buffers) gs_net_reset_buffers(r->net); /* those a request leaves out */
    int ok = 1;
    for (size_t l = 0; l < n && ok; l++) {
        const json_ptr layer_at = {.up = at, .index = l};
        const json_t *layer = json_array_get(v, l);
        size_t first, count = gs_net_layer_tensors(r->net, l, &first);
        ok = check_param_keys(layer, &layer_at, r, l, buffers, d);
        for (size_t t = first; ok && t < first + count; t++)
            ok = read_param_tensor(layer, &layer_at, t, r, slab, d);
        count = buffers ? gs_net_layer_buffers(r->net, l, &first) : 0;
        for (size_t b = first; ok && b < first + count; b++)
            ok = read_buffer(layer, &layer_at, b, r, slab, d);
    }
    return ok;
}

/* ---- the batch ------------------------------------------------------------------ */

static const json_ptr INPUTS = {.key = "inputs"}, TARGETS = {.key = "targets"};

/* Shapes of inputs and targets, checked against the network and the batch
 * limit; nothing of their size is allocated yet. */
static void view_batch(request *r, const request_kind *kind, const server_options *o,
                       tensor_view *in, tensor_view *tg, int *has_targets, diag *d)
{
    const json_t *inputs = json_object_get(r->root, "inputs");
    const json_t *targets = json_object_get(r->root, "targets");
    char what[64];
    size_t outputs, width = gs_net_def_max_width(&r->def, &outputs); /* one walk */
    *has_targets = targets != NULL;
    if (!inputs) {
        diag_invalid(d, "/inputs", "is required");
    } else if (tensor_view_of(r->codec, inputs, &INPUTS, in, d)) {
        /* [rows, inputs] or [rows, C, H, W] */
        const size_t *is = r->def.input_shape;
        size_t rank = is[0] ? 3 : 1;
        size_t dims[4] = {0, is[0] ? is[0] : r->def.inputs, is[1], is[2]};
        if (!tensor_shape_is(in, rank + 1, dims)) {
            if (rank == 3)
                snprintf(what, sizeof what, "[rows, %zu, %zu, %zu]", dims[1], dims[2], dims[3]);
            else
                snprintf(what, sizeof what, "[rows, %zu]", dims[1]);
            tensor_expect(in, &INPUTS, rank + 1, dims, what, d);
        } else if (in->dim[0] == 0)
            diag_invalid(d, "/inputs", "must hold at least one row");
    }
    if (!targets) {
        if (kind->needs_targets) diag_invalid(d, "/targets", "is required");
    } else if (tensor_view_of(r->codec, targets, &TARGETS, tg, d) && !d->status) {
        size_t dims[2] = {in->dim[0], outputs};
        int labels = r->def.loss == GS_LOSS_CE && tg->rank == 1;
        if (!tensor_shape_is(tg, labels ? 1 : 2, dims)) {
            if (labels)
                snprintf(what, sizeof what, "[%zu] (class indices) or [%zu, %zu]", dims[0],
                         dims[0], outputs);
            else
                snprintf(what, sizeof what, "[%zu, %zu]", dims[0], outputs);
            tensor_expect(tg, &TARGETS, labels ? 1 : 2, dims, what, d);
        }
    }
    if (d->status) return;

    size_t rows = in->dim[0], max = o->limits.max_batch_elems;
    if (max && (rows > max / width))
        diag_limit(d, "max_batch_elems", (double)max, "/inputs",
                   "%zu rows x %zu units (the widest layer) exceed the limit of %zu batch "
                   "elements",
                   rows, width, max);
}

static void *alloc_elems(size_t n, size_t size, diag *d)
{
    size_t bytes = n * size; /* within the batch limit, checked before */
    void *p = srv_malloc(bytes ? bytes : 1);
    if (!p) diag_set(d, 500, "internal", "out of memory reading the batch");
    return p;
}

static int read_batch(request *r, const tensor_view *in, const tensor_view *tg, int has_targets,
                      diag *d)
{
    size_t rows = in->dim[0], esize = gs_dtype_size(r->def.dtype);
    /* the bytes of binary and base64 inputs are used where they are */
    if (!(r->batch.inputs = tensor_borrow(in, r->def.dtype))) {
        if (!(r->inputs = alloc_elems(in->count, esize, d)) ||
            !tensor_read(in, &INPUTS, r->def.dtype, r->inputs, d))
            return 0;
        r->batch.inputs = r->inputs;
    }
    r->batch.rows = rows;
    if (!has_targets) return 1;
    if (tg->rank == 1) {
        size_t classes = gs_net_outputs(r->net);
        if (!(r->labels = alloc_elems(rows, sizeof *r->labels, d)) ||
            !tensor_read_labels(tg, &TARGETS, classes, r->labels, d))
            return 0;
        r->batch.targets.labels = r->labels;
        return 1;
    }
    if (!(r->targets = alloc_elems(tg->count, esize, d)) ||
        !tensor_read(tg, &TARGETS, r->def.dtype, r->targets, d))
        return 0;
    r->batch.targets.values = r->targets;
    return 1;
}

/* ---- the whole request ------------------------------------------------------------ */

static void decode_options(request *r, gs_init_scheme *scheme, uint64_t *seed, diag *d)
{
    int dtype = GS_FLOAT32, enc = ENC_NESTED, sch = GS_INIT_TORCH_DEFAULT;
    get_name(r->root, "dtype", "", dtype_from_name, "float32, float64", &dtype, d);
    get_name(r->root, "encoding", "", encoding_from_name, "nested, flat, b64, binary, ref", &enc,
             d);
    r->def.dtype = (gs_dtype)dtype;
    r->encoding = (tensor_encoding)enc;
    const json_t *init = json_object_get(r->root, "init");
    if (init && json_object_get(r->root, "params"))
        diag_invalid(d, "/init",
                     "must not be given with params (init is used when params are absent)");
    else if (init && need_object(init, "/init", d)) {
        check_keys(init, "/init", d, INIT_KEYS, NULL);
        get_name(init, "scheme", "/init", gs_init_from_name,
                 "torch_default, xavier_uniform, xavier_normal, kaiming_uniform, "
                 "kaiming_normal, zeros",
                 &sch, d);
        get_seed(init, "seed", "/init", seed, d);
    }
    *scheme = (gs_init_scheme)sch;
}

/* r->def and r->layers from "network" (decode_network, then, once the
 * options have set the dtype, gs_net_def_check), or from nets when the same
 * skeleton was read before. Kept only when nothing in the request so far was
 * wrong and the check passed: taken from the cache, the network adds no
 * error and passes the check, as it would, so every answer is the one made
 * without the cache. Returns 1, or 0 with d filled (by any part of the
 * request so far). */
static int decode_definition(request *r, const json_t *root, gs_init_scheme *scheme,
                             uint64_t *seed, const server_options *o, net_cache *nets, diag *d)
{
    uint64_t skeleton = r->codec ? r->codec->skeleton_id : 0;
    if (net_cache_get(nets, skeleton, &o->limits, &r->def, r->few_layers,
                      NET_CACHE_MAX_LAYERS)) {
        r->layers = r->few_layers;
        decode_options(r, scheme, seed, d); /* the same dtype: the same skeleton */
        return !d->status;
    }
    decode_network(r, json_object_get(root, "network"), o, d);
    decode_options(r, scheme, seed, d);
    if (d->status) return 0;

    gs_error e;
    if (gs_net_def_check(&r->def, &o->limits, &e) != GS_OK) {
        if (e.status == GS_ELIMIT) diag_net_limit(d, &e, o);
        else diag_core(d, &e, "/network/", NULL);
        return 0;
    }
    net_cache_put(nets, skeleton, &o->limits, &r->def); /* nothing was wrong, so far */
    return 1;
}

int request_decode(request *r, const json_t *root, const codec_ctx *codec,
                   const request_kind *kind, const server_options *o, net_cache *nets,
                   diag *d)
{
    memset(r, 0, offsetof(request, few_layers));
    r->root = root;
    r->codec = codec;
    if (!json_is_object(root)) {
        diag_invalid(d, "", "the request must be a JSON object");
        return 0;
    }
    check_keys(root, "", d, COMMON_KEYS, kind->extra_keys, NULL);
    gs_init_scheme scheme;
    uint64_t seed = 0;
    if (!decode_definition(r, root, &scheme, &seed, o, nets, d)) return 0;

    gs_error e;
    tensor_view in = {0}, tg = {0};
    int has_targets;
    view_batch(r, kind, o, &in, &tg, &has_targets, d);
    if (d->status) return 0;

    /* params_decode or gs_net_init_params sets every parameter below (the
     * request fails otherwise), and the routes read the grads only after
     * gs_backward: neither slab needs zeroing. decode_definition checked the
     * definition, or took it from the cache of checked ones: the net is
     * built without checking it again. */
    if (!(r->net = gs_net_create_ex(&r->def, &o->limits, &SRV_GS_ALLOC,
                                    GS_NET_UNINIT_PARAMS | GS_NET_UNINIT_GRADS |
                                        GS_NET_DEF_CHECKED,
                                    &e))) {
        diag_core(d, &e, "/network/", "max_params");
        return 0;
    }
    const json_t *params = json_object_get(root, "params");
    if (params) {
        static const json_ptr PARAMS = {.key = "params"};
        if (!params_decode(params, &PARAMS, r, gs_net_params(r->net), 1, d)) return 0;
    } else {
        gs_net_init_params(r->net, scheme, seed);
        r->initialised = 1;
    }
    return read_batch(r, &in, &tg, has_targets, d);
}

void request_free(request *r)
{
    gs_net_free(r->net);
    if (r->layers != r->few_layers) srv_free(r->layers);
    srv_free(r->inputs);
    srv_free(r->targets);
    srv_free(r->labels);
    memset(r, 0, offsetof(request, few_layers));
}

/* ---- /train: optimizer ------------------------------------------------------------- */

static const char *const OPT_COMMON[] = {"name", "lr", "weight_decay", "max_grad_norm", NULL};
static const char *const OPT_KEYS[GS_OPT_COUNT][5] = {
    [GS_OPT_SGD] = {"momentum", "dampening", "nesterov", NULL},
    [GS_OPT_ADAM] = {"betas", "eps", "amsgrad", NULL},
    [GS_OPT_ADAMW] = {"betas", "eps", "amsgrad", NULL},
    [GS_OPT_RMSPROP] = {"alpha", "eps", "momentum", "centered", NULL},
};

static int get_betas(const json_t *opt, gs_optim_def *def, diag *d)
{
    const json_t *b = json_object_get(opt, "betas");
    if (!b) return 0;
    if (json_array_size(b) != 2 || !json_is_number(json_array_get(b, 0)) ||
        !json_is_number(json_array_get(b, 1))) {
        diag_invalid(d, "/optimizer/betas", "must be an array of two numbers");
        return -1;
    }
    def->beta1 = json_number_value(json_array_get(b, 0));
    def->beta2 = json_number_value(json_array_get(b, 1));
    return 1;
}

int optimizer_decode(const json_t *root, gs_optim_def *def, diag *d)
{
    const char *P = "/optimizer";
    const json_t *opt = json_object_get(root, "optimizer");
    gs_optim_defaults(def, GS_OPT_SGD);
    if (!opt) {
        diag_invalid(d, P, "is required");
        return 0;
    }
    if (!need_object(opt, P, d)) return 0;
    int kind;
    int got = get_name(opt, "name", P, gs_optim_from_name, "sgd, adam, adamw, rmsprop", &kind, d);
    if (got == 0) diag_invalid(d, "/optimizer/name", "is required");
    if (got != 1) return 0;
    gs_optim_defaults(def, (gs_optim_kind)kind);

    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)opt, key, value) {
        if (in_list(key, OPT_COMMON) || in_list(key, OPT_KEYS[kind])) continue;
        char p[PTR_MAX];
        ptr_key(p, P, key);
        diag_invalid(d, p, "is not an option of %s", gs_optim_name((gs_optim_kind)kind));
    }
    get_number(opt, "lr", P, &def->lr, d);
    get_number(opt, "weight_decay", P, &def->weight_decay, d);
    /* Absent means no clipping; 0 is refused rather than read as "off". */
    if (get_number(opt, "max_grad_norm", P, &def->max_grad_norm, d) == 1 &&
        !(def->max_grad_norm > 0))
        diag_invalid(d, "/optimizer/max_grad_norm", "must be a number > 0");
    get_number(opt, "momentum", P, &def->momentum, d);
    get_number(opt, "dampening", P, &def->dampening, d);
    get_bool(opt, "nesterov", P, &def->nesterov, d);
    get_betas(opt, def, d);
    get_number(opt, "eps", P, &def->eps, d);
    get_bool(opt, "amsgrad", P, &def->amsgrad, d);
    get_number(opt, "alpha", P, &def->alpha, d);
    get_bool(opt, "centered", P, &def->centered, d);
    if (d->status) return 0;
    gs_error e;
    if (gs_optim_def_check(def, &e) != GS_OK) {
        diag_core(d, &e, "/optimizer/", NULL);
        return 0;
    }
    return 1;
}

int optimizer_state_decode(const json_t *root, gs_optim *opt, const request *r, diag *d)
{
    const char *P = "/optimizer_state";
    const json_t *st = json_object_get(root, "optimizer_state");
    if (!st) return 1;
    static const char *const KEYS[] = {"step", "buffers", NULL};
    if (!need_object(st, P, d) || !check_keys(st, P, d, KEYS, NULL)) return 0;
    size_t step = 0;
    if (get_count(st, "step", P, 0, &step, d) == 0)
        diag_invalid(d, "/optimizer_state/step", "is required");
    const json_t *bufs = json_object_get(st, "buffers");
    if (!bufs) diag_invalid(d, "/optimizer_state/buffers", "is required");
    else if (need_object(bufs, "/optimizer_state/buffers", d)) {
        const char *key;
        const json_t *value;
        size_t n = gs_optim_state_count(opt);
        static const json_ptr STATE = {.key = "optimizer_state"},
                              BUFFERS = {.up = &STATE, .key = "buffers"};
        json_object_foreach((json_t *)bufs, key, value) {
            size_t i = 0;
            while (i < n && strcmp(gs_optim_state_name(opt, i), key) != 0) i++;
            const json_ptr at = {.up = &BUFFERS, .key = key};
            if (i == n) diag_invalid_at(d, &at, "is not a buffer of this optimizer");
            else params_decode(value, &at, r, gs_optim_state(opt, i), 0, d);
        }
        for (size_t i = 0; i < n; i++)
            if (!json_object_get(bufs, gs_optim_state_name(opt, i))) {
                char p[PTR_MAX];
                ptr_key(p, "/optimizer_state/buffers", gs_optim_state_name(opt, i));
                diag_invalid(d, p, "is required to resume this optimizer");
            }
    }
    if (d->status) return 0;
    gs_optim_set_steps(opt, step);
    return 1;
}
