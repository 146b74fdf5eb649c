/* Network definitions: names, defaults and validation; errors and allocation
 * helpers shared by the core. */
#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- errors --------------------------------------------------------------- */

static const char *const status_names[] = {
    [GS_OK] = "ok",           [GS_EINVAL] = "invalid",     [GS_ELIMIT] = "limit",
    [GS_ENOMEM] = "no_memory", [GS_EDIVERGED] = "diverged", [GS_ECANCELED] = "canceled",
    [GS_EMISMATCH] = "mismatch",
};

const char *gs_status_name(gs_status s)
{
    return (unsigned)s < sizeof status_names / sizeof *status_names ? status_names[s] : "unknown";
}

void gs_error_clear(gs_error *err)
{
    if (err) memset(err, 0, sizeof *err);
}

gs_status gs_fail(gs_error *err, gs_status status, const char *field, const char *fmt, ...)
{
    if (!err) return status;
    err->status = status;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- allocation ------------------------------------------------------------ */

/* Big blocks start on a 2 MiB boundary and ask for transparent huge pages
 * (Debian's default THP mode is "madvise"): fewer TLB misses when GEMM packs
 * and streams activations, as numpy does for its large arrays. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *default_malloc(size_t size, void *ctx)
{
    (void)ctx;
    if (size < HUGE_PAGE) return malloc(size);
    void *p;
    if (posix_memalign(&p, HUGE_PAGE, size) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, size & ~(HUGE_PAGE - 1), MADV_HUGEPAGE); /* advice: failure is harmless */
#endif
    return p;
}

static void default_free(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

const gs_allocator gs_default_allocator = {default_malloc, default_free, NULL};

gs_allocator gs_allocator_or_default(const gs_allocator *a)
{
    if (a && a->malloc_fn && a->free_fn) return *a;
    return gs_default_allocator;
}

void *gs_alloc(const gs_allocator *a, size_t size)
{
    return a->malloc_fn(size ? size : 1, a->ctx);
}

void *gs_alloc_zero(const gs_allocator *a, size_t size)
{
    void *p = gs_alloc(a, size);
    if (p) memset(p, 0, size ? size : 1);
    return p;
}

void gs_free(const gs_allocator *a, void *p)
{
    if (p) a->free_fn(p, a->ctx);
}

int gs_mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

int gs_add_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* ---- names ----------------------------------------------------------------- */

static const char *const activation_names[GS_ACT_COUNT] = {
    "linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "softmax",
};
static const char *const loss_names[GS_LOSS_COUNT] = {
    "mse", "l1", "huber", "binary_cross_entropy", "cross_entropy",
};

static int index_of(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

const char *gs_activation_name(gs_activation a)
{
    return (unsigned)a < GS_ACT_COUNT ? activation_names[a] : NULL;
}

int gs_activation_from_name(const char *name)
{
    return index_of(activation_names, GS_ACT_COUNT, name);
}

const char *gs_loss_name(gs_loss l)
{
    return (unsigned)l < GS_LOSS_COUNT ? loss_names[l] : NULL;
}

int gs_loss_from_name(const char *name)
{
    return index_of(loss_names, GS_LOSS_COUNT, name);
}

size_t gs_dtype_size(gs_dtype t)
{
    return t == GS_FLOAT64 ? sizeof(double) : sizeof(float);
}

/* ---- defaults and checks ------------------------------------------------------ */

gs_layer_def gs_layer(size_t units, gs_activation act)
{
    return (gs_layer_def){.units = units, .activation = act, .slope = 0.01, .alpha = 1.0};
}

void gs_net_def_init(gs_net_def *def)
{
    memset(def, 0, sizeof *def);
    def->loss = GS_LOSS_MSE;
    def->reduction = GS_REDUCE_MEAN;
    def->huber_delta = 1.0;
    def->dtype = GS_FLOAT32;
    def->gemm = GS_GEMM_AUTO;
}

/* Fail naming layers/<l>/<name>, or <name> for SIZE_MAX. The path is built
 * only on failure: validation runs on every request. */
gs_status gs_fail_at(gs_error *err, gs_status status, size_t l, const char *name,
                     const char *fmt, ...)
{
    char field[96], message[160];
    if (l == SIZE_MAX)
        snprintf(field, sizeof field, "%s", name);
    else
        snprintf(field, sizeof field, "layers/%zu/%s", l, name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return gs_fail(err, status, field, "%s", message);
}

int gs_limits_equal(const gs_limits *a, const gs_limits *b)
{
    /* Counts the members compared below: a new member changes the size and
     * stops the build until it is compared too (not memcmp: padding). */
    _Static_assert(sizeof(gs_limits) == 4 * sizeof(size_t),
                   "gs_limits has a member gs_limits_equal does not compare");
    return a->max_layers == b->max_layers && a->max_units == b->max_units &&
           a->max_params == b->max_params && a->max_batch_elems == b->max_batch_elems;
}

/* A width the BLAS interface (32-bit ints) can take, and the caller allows. */
gs_status gs_check_width(size_t n, const gs_limits *lim, size_t l, const char *name,
                         gs_error *err)
{
    if (n == 0) return gs_fail_at(err, GS_EINVAL, l, name, "must be a positive integer");
    if (n > INT_MAX)
        return gs_limit(err, gs_fail_at(err, GS_ELIMIT, l, name, "must be at most %d", INT_MAX),
                        "max_units");
    if (lim && lim->max_units && n > lim->max_units)
        return gs_limit(err,
                        gs_fail_at(err, GS_ELIMIT, l, name, "%zu exceeds the limit of %zu units",
                                   n, lim->max_units),
                        "max_units");
    return GS_OK;
}

gs_shape gs_def_input_shape(const gs_net_def *def)
{
    if (def->input_shape[0] || def->input_shape[1] || def->input_shape[2])
        return (gs_shape){3, {def->input_shape[0], def->input_shape[1], def->input_shape[2]}};
    return (gs_shape){1, {def->inputs, 0, 0}};
}

gs_layer_def gs_layer_flatten(void)
{
    gs_layer_def L = gs_layer(0, GS_ACT_LINEAR);
    L.type = GS_LAYER_FLATTEN;
    return L;
}

gs_layer_def gs_layer_conv2d(size_t out_channels, size_t kh, size_t kw, gs_activation act)
{
    gs_layer_def L = gs_layer(0, act);
    L.type = GS_LAYER_CONV2D;
    L.out_channels = out_channels;
    L.kernel[0] = kh;
    L.kernel[1] = kw;
    L.stride[0] = L.stride[1] = 1;
    return L;
}

gs_layer_def gs_layer_pool2d(gs_layer_type type, size_t k)
{
    gs_layer_def L = gs_layer(0, GS_ACT_LINEAR);
    L.type = type;
    L.kernel[0] = L.kernel[1] = L.stride[0] = L.stride[1] = k;
    return L;
}

gs_layer_def gs_layer_dropout(double p)
{
    gs_layer_def L = gs_layer(0, GS_ACT_LINEAR);
    L.type = GS_LAYER_DROPOUT;
    L.p = p;
    return L;
}

gs_layer_def gs_layer_norm(gs_activation act)
{
    gs_layer_def L = gs_layer(0, act);
    L.type = GS_LAYER_LAYER_NORM;
    L.eps = 1e-5;
    return L;
}

gs_layer_def gs_layer_batch_norm(gs_activation act)
{
    gs_layer_def L = gs_layer(0, act);
    L.type = GS_LAYER_BATCH_NORM;
    L.eps = 1e-5;
    L.momentum = 0.1;
    return L;
}

gs_status gs_net_def_check(const gs_net_def *def, const gs_limits *lim, gs_error *err)
{
    gs_error_clear(err);
    gs_shape shape = gs_def_input_shape(def);
    gs_status st;
    static const char *const dim_fields[3] = {"inputs/0", "inputs/1", "inputs/2"};
    for (size_t i = 0; shape.rank == 3 && i < 3; i++)
        if ((st = gs_check_width(shape.dim[i], lim, SIZE_MAX, dim_fields[i], err))) return st;
    if (shape.rank == 3 && def->inputs != gs_shape_size(&shape))
        return gs_fail(err, GS_EINVAL, "inputs", "%zu is not C*H*W = %zu x %zu x %zu",
                       def->inputs, shape.dim[0], shape.dim[1], shape.dim[2]);
    if ((st = gs_check_width(def->inputs, lim, SIZE_MAX, "inputs", err))) return st;
    if (def->n_layers == 0 || !def->layers)
        return gs_fail(err, GS_EINVAL, "layers", "must hold at least one layer");
    if (lim && lim->max_layers && def->n_layers > lim->max_layers)
        return gs_limit(err,
                        gs_fail(err, GS_ELIMIT, "layers", "%zu layers exceed the limit of %zu",
                                def->n_layers, lim->max_layers),
                        "max_layers");
    if ((unsigned)def->dtype > GS_FLOAT64)
        return gs_fail(err, GS_EINVAL, "dtype", "must be float32 or float64");
    if ((unsigned)def->gemm > GS_GEMM_REFERENCE)
        return gs_fail(err, GS_EINVAL, "gemm", "unknown GEMM path");

    /* The row shape flows through the layers; each layer's check sees its
     * input's shape and names its own fields. */
    gs_layer_geom g;
    size_t params = 0;
    for (size_t l = 0; l < def->n_layers; l++) {
        const gs_layer_def *L = &def->layers[l];
        if ((st = gs_layer_geom_of(L, l, &shape, lim, &g, err))) return st;
        if (L->activation == GS_ACT_SOFTMAX && l + 1 != def->n_layers)
            return gs_fail_at(err, GS_EINVAL, l, "activation",
                              "softmax is allowed on the last layer only");
        if (!gs_add_ok(params, g.n_params, &params) ||
            (lim && lim->max_params && params > lim->max_params))
            return gs_limit(err,
                            gs_fail_at(err, GS_ELIMIT, l, gs_layer_kinds[L->type].size_field,
                                       "the network would exceed the limit of %zu parameters",
                                       lim && lim->max_params ? lim->max_params
                                                              : (size_t)SIZE_MAX),
                            "max_params");
        shape = g.out;
    }

    if ((unsigned)def->loss >= GS_LOSS_COUNT)
        return gs_fail(err, GS_EINVAL, "loss", "unknown loss");
    if ((unsigned)def->reduction > GS_REDUCE_SUM)
        return gs_fail(err, GS_EINVAL, "reduction", "must be mean or sum");
    if (def->loss == GS_LOSS_HUBER && !(isfinite(def->huber_delta) && def->huber_delta > 0))
        return gs_fail(err, GS_EINVAL, "huber_delta", "must be a finite number > 0");
    if (!(isfinite(def->l1) && def->l1 >= 0))
        return gs_fail(err, GS_EINVAL, "penalty/l1", "must be a finite number >= 0");
    if (!(isfinite(def->l2) && def->l2 >= 0))
        return gs_fail(err, GS_EINVAL, "penalty/l2", "must be a finite number >= 0");

    /* The loss compares [rows, features] with the targets. */
    size_t last = def->n_layers - 1;
    if (shape.rank != 1)
        return gs_fail_at(err, GS_EINVAL, last, "type",
                          "the last layer's rows are [%zu, %zu, %zu]: end the network with a "
                          "flatten or dense layer, whose rows are [features]",
                          shape.dim[0], shape.dim[1], shape.dim[2]);

    /* The cross-entropies are computed from logits: the last layer must be the
     * matching squashing function (fused) or linear (its outputs are logits). */
    gs_activation act = def->layers[last].activation;
    if (def->loss == GS_LOSS_BCE && act != GS_ACT_SIGMOID && act != GS_ACT_LINEAR)
        return gs_fail_at(err, GS_EINVAL, last, "activation",
                          "binary_cross_entropy needs a sigmoid or linear (logits) last layer");
    if (def->loss == GS_LOSS_CE && act != GS_ACT_SOFTMAX && act != GS_ACT_LINEAR)
        return gs_fail_at(err, GS_EINVAL, last, "activation",
                          "cross_entropy needs a softmax or linear (logits) last layer");
    if (def->loss == GS_LOSS_CE && gs_shape_size(&shape) < 2)
        return gs_fail_at(err, GS_EINVAL, last, "units", "cross_entropy needs at least 2 classes");
    return GS_OK;
}

size_t gs_net_def_max_width(const gs_net_def *def, size_t *outputs)
{
    gs_shape shape = gs_def_input_shape(def);
    gs_layer_geom g = {0};
    size_t width = def->inputs;
    for (size_t l = 0; l < def->n_layers; l++) {
        if (gs_layer_geom_of(&def->layers[l], l, &shape, NULL, &g, NULL)) return 0;
        if (g.out_n > width) width = g.out_n;
        shape = g.out;
    }
    if (outputs) *outputs = g.out_n;
    return width;
}

gs_status gs_pass_check_rows(const gs_net *net, size_t rows, const gs_limits *lim,
                             gs_error *err)
{
    size_t elems;
    if (rows == 0) return gs_fail(err, GS_EINVAL, "rows", "a batch needs at least one row");
    if (rows > INT_MAX) return gs_fail(err, GS_ELIMIT, "rows", "must be at most %d", INT_MAX);
    if (!gs_mul_ok(rows, net->max_width, &elems) ||
        (lim && lim->max_batch_elems && elems > lim->max_batch_elems))
        return gs_fail(err, GS_ELIMIT, "rows",
                       "%zu rows x %zu units exceed the limit of %zu batch elements", rows,
                       net->max_width, lim && lim->max_batch_elems ? lim->max_batch_elems : 0);
    return GS_OK;
}
