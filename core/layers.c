/* The layer table: for each layer type its name, its shape check (row shape
 * in -> row shape out, parameter tensors, work buffer) and its paired
 * forward and backward kernels in float and double (core/layers_impl.h).
 * A new type is one row here and its functions; the passes, the parameter
 * layout, initialisation and the gradient check read everything else from
 * the row and from the geometry its check fills. */
#include "internal.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define PER_DTYPE_IMPL "layers_impl.h"
#include "per_dtype.h"

size_t gs_shape_size(const gs_shape *s)
{
    size_t n = 1;
    for (size_t i = 0; i < s->rank; i++)
        if (!gs_mul_ok(n, s->dim[i], &n)) return 0;
    return n;
}

/* ---- shape checks ------------------------------------------------------------------------ */

/* dense: [in_n] (any row shape, read as its features) -> [units];
 * weight [units, in_n], bias [units]. */
static gs_status dense_check(const gs_layer_def *L, size_t l, const gs_limits *lim,
                             gs_layer_geom *g, gs_error *err)
{
    /* torch.nn.Linear on [rows, C, H, W] would act on W alone: refused, not guessed */
    if (g->in.rank != 1)
        return gs_fail_at(err, GS_EINVAL, l, "type",
                          "a dense layer takes [features] rows, not [%zu, %zu, %zu]: put a "
                          "flatten layer before it",
                          g->in.dim[0], g->in.dim[1], g->in.dim[2]);
    gs_status st = gs_check_width(L->units, lim, l, "units", err);
    if (st) return st;
    g->out = (gs_shape){1, {L->units, 0, 0}};
    g->fan_in = g->in_n;
    g->fan_out = L->units;
    g->n_tensors = 2;
    g->rank[0] = 2;
    g->dims[0][0] = L->units;
    g->dims[0][1] = g->in_n;
    g->rank[1] = 1;
    g->dims[1][0] = L->units;
    return GS_OK;
}

/* flatten: [C, H, W] (or [features]) -> [C*H*W]; no parameters. */
static gs_status flatten_check(const gs_layer_def *L, size_t l, const gs_limits *lim,
                               gs_layer_geom *g, gs_error *err)
{
    (void)L, (void)l, (void)lim, (void)err;
    g->out = (gs_shape){1, {g->in_n, 0, 0}};
    return GS_OK;
}

/* The output size of a window (conv2d's kernel, a pool's) sliding over the
 * input's H and W: out[i] = (in + 2 p - k) / s + 1, the kernel fitting the
 * padded input; a pool's padding is at most half its kernel (as torch
 * requires: no window is all padding). */
static gs_status window_out(const gs_layer_def *L, size_t l, const gs_layer_geom *g, int pool,
                            size_t out[2], gs_error *err)
{
    for (int i = 0; i < 2; i++) {
        size_t in = g->in.dim[1 + i], k = L->kernel[i], s = L->stride[i], p = L->padding[i];
        if (k == 0 || k > INT_MAX)
            return gs_fail_at(err, GS_EINVAL, l, "kernel_size", "must be a positive integer");
        if (s == 0 || s > INT_MAX)
            return gs_fail_at(err, GS_EINVAL, l, "stride", "must be a positive integer");
        if (p > INT_MAX) return gs_fail_at(err, GS_EINVAL, l, "padding", "must be at most %d", INT_MAX);
        if (pool && 2 * p > k)
            return gs_fail_at(err, GS_EINVAL, l, "padding",
                              "%zu is more than half the kernel size %zu", p, k);
        if (in + 2 * p < k) { /* in <= INT_MAX, p <= INT_MAX: no overflow */
            if (L->kernel[0] == L->kernel[1] && L->padding[0] == L->padding[1])
                return gs_fail_at(err, GS_EINVAL, l, "kernel_size",
                                  "%zu does not fit the %zux%zu input with padding %zu", k,
                                  g->in.dim[1], g->in.dim[2], p);
            return gs_fail_at(err, GS_EINVAL, l, "kernel_size",
                              "%zux%zu does not fit the %zux%zu input with padding %zux%zu",
                              L->kernel[0], L->kernel[1], g->in.dim[1], g->in.dim[2],
                              L->padding[0], L->padding[1]);
        }
        out[i] = (in + 2 * p - k) / s + 1;
    }
    return GS_OK;
}

/* conv2d: [C, H, W] -> [OC, OH, OW], OH = (H + 2 ph - kh) / sh + 1 (and so
 * for W); weight [OC, C, kh, kw], bias [OC]; work: the columns of one image
 * and their gradient, 2 x [C*kh*kw, OH*OW]. */
static gs_status conv2d_check(const gs_layer_def *L, size_t l, const gs_limits *lim,
                              gs_layer_geom *g, gs_error *err)
{
    if (g->in.rank != 3)
        return gs_fail_at(err, GS_EINVAL, l, "type",
                          "a conv2d layer takes [C, H, W] rows, not [%zu]: give network.inputs "
                          "as [C, H, W]",
                          g->in_n);
    gs_status st = gs_check_width(L->out_channels, lim, l, "out_channels", err);
    if (st) return st;
    size_t C = g->in.dim[0], out[2];
    if ((st = window_out(L, l, g, 0, out, err))) return st;
    g->out = (gs_shape){3, {L->out_channels, out[0], out[1]}};
    size_t K, P, work;
    if (!gs_mul_ok(C, L->kernel[0], &K) || !gs_mul_ok(K, L->kernel[1], &K) || K > INT_MAX ||
        !gs_mul_ok(out[0], out[1], &P) || P > INT_MAX || !gs_mul_ok(K, P, &work) ||
        !gs_mul_ok(work, 2, &work))
        return gs_fail_at(err, GS_ELIMIT, l, "kernel_size",
                          "the layer's columns (C*kh*kw x OH*OW) do not fit in memory");
    if (lim && lim->max_batch_elems && work > lim->max_batch_elems)
        return gs_limit(err,
                        gs_fail_at(err, GS_ELIMIT, l, "kernel_size",
                                   "the layer's columns, 2 x %zu x %zu, exceed the limit of %zu "
                                   "batch elements",
                                   K, P, lim->max_batch_elems),
                        "max_batch_elems");
    g->work = work;
    g->fan_in = K;
    g->fan_out = L->out_channels * L->kernel[0] * L->kernel[1]; /* <= INT_MAX * K */
    g->n_tensors = 2;
    g->rank[0] = 4;
    g->dims[0][0] = L->out_channels;
    g->dims[0][1] = C;
    g->dims[0][2] = L->kernel[0];
    g->dims[0][3] = L->kernel[1];
    g->rank[1] = 1;
    g->dims[1][0] = L->out_channels;
    return GS_OK;
}

/* max_pool2d, avg_pool2d: [C, H, W] -> [C, OH, OW]; no parameters. */
static gs_status pool2d_check(const gs_layer_def *L, size_t l, const gs_limits *lim,
                              gs_layer_geom *g, gs_error *err)
{
    (void)lim;
    if (g->in.rank != 3)
        return gs_fail_at(err, GS_EINVAL, l, "type",
                          "a pooling layer takes [C, H, W] rows, not [%zu]", g->in_n);
    size_t out[2];
    gs_status st = window_out(L, l, g, 1, out, err);
    if (st) return st;
    g->out = (gs_shape){3, {g->in.dim[0], out[0], out[1]}};
    return GS_OK;
}

/* dropout: any row shape, unchanged; its mask is kept per row. */
static gs_status dropout_check(const gs_layer_def *L, size_t l, const gs_limits *lim,
                               gs_layer_geom *g, gs_error *err)
{
    (void)lim;
    if (!(L->p >= 0 && L->p < 1))
        return gs_fail_at(err, GS_EINVAL, l, "p", "must be a number in [0, 1)");
    g->out = g->in;
    g->saved = g->in_n;
    return GS_OK;
}

/* layer_norm: any row shape, unchanged; weight and bias of the row's shape;
 * each row's mean and 1/std kept for the backward pass. */
static gs_status layer_norm_check(const gs_layer_def *L, size_t l, const gs_limits *lim,
                                  gs_layer_geom *g, gs_error *err)
{
    (void)lim;
    if (!(isfinite(L->eps) && L->eps > 0))
        return gs_fail_at(err, GS_EINVAL, l, "eps", "must be a finite number > 0");
    if (g->in_n < 2) /* torch allows it; its output would be the bias, whatever the input */
        return gs_fail_at(err, GS_EINVAL, l, "type",
                          "a layer_norm over 1 element gives 0 for every input: it needs rows "
                          "of at least 2 elements");
    g->out = g->in;
    g->saved = 2;
    g->n_tensors = 2;
    for (size_t t = 0; t < 2; t++) {
        g->rank[t] = g->in.rank;
        for (size_t i = 0; i < g->in.rank; i++) g->dims[t][i] = g->in.dim[i];
    }
    return GS_OK;
}

/* batch_norm: [F] (BatchNorm1d) or [C, H, W] (BatchNorm2d), unchanged;
 * weight, bias and the buffers running_mean, running_var [F or C]; the
 * batch's mean and 1/std per channel kept for the backward pass. */
static gs_status batch_norm_check(const gs_layer_def *L, size_t l, const gs_limits *lim,
                                  gs_layer_geom *g, gs_error *err)
{
    (void)lim;
    if (!(isfinite(L->eps) && L->eps > 0))
        return gs_fail_at(err, GS_EINVAL, l, "eps", "must be a finite number > 0");
    if (!(L->momentum >= 0 && L->momentum <= 1))
        return gs_fail_at(err, GS_EINVAL, l, "momentum", "must be a number in [0, 1]");
    size_t C = g->in.dim[0];
    g->out = g->in;
    g->saved_fixed = 2 * C;
    g->n_tensors = 2;
    g->rank[0] = g->rank[1] = 1;
    g->dims[0][0] = g->dims[1][0] = C;
    g->n_buffers = 2;
    g->buffer_size = C;
    return GS_OK;
}

/* ---- the table ---------------------------------------------------------------------------- */

/* The four kernels of a type, named <type>_{forward,backward}_{f32,f64}. */
#define KERNELS(type)                                                                      \
    .forward_f32 = type##_forward_f32, .backward_f32 = type##_backward_f32,                \
    .forward_f64 = type##_forward_f64, .backward_f64 = type##_backward_f64

const gs_layer_kind gs_layer_kinds[GS_LAYER_COUNT] = {
    [GS_LAYER_DENSE] = {.name = "dense", .has_activation = 1, .size_field = "units",
                        .tensor_names = {"weight", "bias"}, .check = dense_check,
                        KERNELS(dense)},
    [GS_LAYER_FLATTEN] = {.name = "flatten", .size_field = "type", .check = flatten_check,
                          KERNELS(flatten)},
    [GS_LAYER_CONV2D] = {.name = "conv2d", .has_activation = 1, .size_field = "out_channels",
                         .tensor_names = {"weight", "bias"}, .check = conv2d_check,
                         KERNELS(conv2d)},
    [GS_LAYER_MAX_POOL2D] = {.name = "max_pool2d", .size_field = "type", .check = pool2d_check,
                             KERNELS(max_pool2d)},
    [GS_LAYER_AVG_POOL2D] = {.name = "avg_pool2d", .size_field = "type", .check = pool2d_check,
                             KERNELS(avg_pool2d)},
    [GS_LAYER_DROPOUT] = {.name = "dropout", .size_field = "type", .check = dropout_check,
                          KERNELS(dropout)},
    [GS_LAYER_LAYER_NORM] = {.name = "layer_norm", .has_activation = 1, .size_field = "type",
                             .unit_init = 1, .tensor_names = {"weight", "bias"},
                             .check = layer_norm_check, KERNELS(layer_norm)},
    [GS_LAYER_BATCH_NORM] = {.name = "batch_norm", .has_activation = 1, .size_field = "type",
                             .unit_init = 1, .tensor_names = {"weight", "bias"},
                             .buffer_names = {"running_mean", "running_var"},
                             .check = batch_norm_check, KERNELS(batch_norm)},
};

const char *gs_layer_type_name(gs_layer_type t)
{
    return (unsigned)t < GS_LAYER_COUNT ? gs_layer_kinds[t].name : NULL;
}

int gs_layer_type_from_name(const char *name)
{
    for (int t = 0; name && t < GS_LAYER_COUNT; t++)
        if (strcmp(gs_layer_kinds[t].name, name) == 0) return t;
    return -1;
}

gs_status gs_layer_geom_of(const gs_layer_def *L, size_t l, const gs_shape *in,
                           const gs_limits *lim, gs_layer_geom *g, gs_error *err)
{
    memset(g, 0, sizeof *g);
    if ((unsigned)L->type >= GS_LAYER_COUNT)
        return gs_fail_at(err, GS_EINVAL, l, "type", "unknown layer type");
    const gs_layer_kind *k = &gs_layer_kinds[L->type];
    if ((unsigned)L->activation >= GS_ACT_COUNT)
        return gs_fail_at(err, GS_EINVAL, l, "activation", "unknown activation");
    if (!k->has_activation && L->activation != GS_ACT_LINEAR)
        return gs_fail_at(err, GS_EINVAL, l, "activation", "a %s layer has no activation",
                          k->name);
    if (L->activation == GS_ACT_LEAKY_RELU && !isfinite(L->slope))
        return gs_fail_at(err, GS_EINVAL, l, "slope", "must be a finite number");
    if (L->activation == GS_ACT_ELU && !(isfinite(L->alpha) && L->alpha >= 0))
        return gs_fail_at(err, GS_EINVAL, l, "alpha", "must be a finite number >= 0");

    g->in = *in;
    g->in_n = gs_shape_size(in);
    gs_status st = k->check(L, l, lim, g, err);
    if (st) return st;
    /* every output row must fit the limits */
    g->out_n = gs_shape_size(&g->out);
    if ((st = gs_check_width(g->out_n, lim, l, k->size_field, err)))
        return st;
    /* parameters, saturating at SIZE_MAX: the caller compares the sum with
     * its limit and names the field */
    for (size_t t = 0; t < g->n_tensors; t++) {
        size_t n = 1;
        for (size_t i = 0; i < g->rank[t] && n != SIZE_MAX; i++)
            if (!gs_mul_ok(n, g->dims[t][i], &n)) n = SIZE_MAX;
        if (!gs_add_ok(g->n_params, n, &g->n_params)) g->n_params = SIZE_MAX;
    }
    return GS_OK;
}
