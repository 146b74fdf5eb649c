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

#define REAL float
#define SFX(name) name##_f32
#define GEMM gs_gemm_f32
#include "layers_impl.h"
#undef REAL
#undef SFX
#undef GEMM

#define REAL double
#define SFX(name) name##_f64
#define GEMM gs_gemm_f64
#include "layers_impl.h"
#undef REAL
#undef SFX
#undef GEMM

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

/* ---- the table ---------------------------------------------------------------------------- */

const gs_layer_kind gs_layer_kinds[GS_LAYER_COUNT] = {
    [GS_LAYER_DENSE] = {"dense", 1, {"weight", "bias"}, dense_check, dense_forward_f32,
                        dense_backward_f32, dense_forward_f64, dense_backward_f64},
    [GS_LAYER_FLATTEN] = {"flatten", 0, {NULL}, flatten_check, flatten_forward_f32,
                          flatten_backward_f32, flatten_forward_f64, flatten_backward_f64},
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
    if ((st = gs_check_width(g->out_n, lim, l, k->has_activation ? "units" : "type", err)))
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
