/* Layer kernels, written once and instantiated per dtype by core/layers.c
 * with REAL (float or double), SFX(name) (name_f32 / name_f64) and GEMM
 * (gs_gemm_f32 / gs_gemm_f64). Each type has a paired forward and backward
 * with its shapes in the comment; the table in layers.c adapts them to the
 * uniform gs_layer_kind signature. Backward kernels write their gradients
 * (every element), they do not accumulate: the net's grads slab need not be
 * zeroed before a pass. */

/* ---- dense ----------------------------------------------------------------------------- */

/* inp [B, C], weight [OC, C], bias [OC] -> out [B, OC] = inp weight^T + bias */
static void SFX(linear_forward)(REAL *out, const REAL *inp, const REAL *weight,
                                const REAL *bias, size_t B, size_t C, size_t OC,
                                gs_gemm_path path)
{
    for (size_t b = 0; b < B; b++) memcpy(out + b * OC, bias, OC * sizeof *out);
    /* out [B, OC] += inp [B, C] x weight^T [C, OC] */
    GEMM(0, 1, B, OC, C, 1, inp, C, weight, C, 1, out, OC, path);
}

/* dout [B, OC] -> dweight [OC, C] = dout^T inp, dbias [OC] = column sums of
 * dout, and (dinp not NULL) dinp [B, C] = dout weight; all written. */
static void SFX(linear_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,
                                 const REAL *inp, const REAL *weight, size_t B, size_t C,
                                 size_t OC, gs_gemm_path path)
{
    /* dweight [OC, C] = dout^T [OC, B] x inp [B, C] */
    GEMM(1, 0, OC, C, B, 1, dout, OC, inp, C, 0, dweight, C, path);
    memset(dbias, 0, OC * sizeof *dbias);
    for (size_t b = 0; b < B; b++)
        for (size_t o = 0; o < OC; o++) dbias[o] += dout[b * OC + o];
    /* dinp [B, C] = dout [B, OC] x weight [OC, C] */
    if (dinp) GEMM(0, 0, B, C, OC, 1, dout, OC, weight, C, 0, dinp, C, path);
}

/* The table's signatures: weight [units, in_n] then bias [units] in param. */
static void SFX(dense_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *z,
                               const REAL *in, const REAL *param, REAL *work, size_t rows,
                               gs_gemm_path path)
{
    (void)work;
    size_t C = g->in_n, OC = L->units;
    SFX(linear_forward)(z, in, param, param + OC * C, rows, C, OC, path);
}

static void SFX(dense_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                REAL *dparam, const REAL *dz, const REAL *in, const REAL *param,
                                REAL *work, size_t rows, gs_gemm_path path)
{
    (void)work;
    size_t C = g->in_n, OC = L->units;
    SFX(linear_backward)(din, dparam, dparam + OC * C, dz, in, param, rows, C, OC, path);
}

/* ---- flatten ----------------------------------------------------------------------------- */

/* in [B, C, H, W] -> z [B, C*H*W]: the same bytes (row-major NCHW is
 * torch.flatten(x, 1)'s order); a copy keeps every layer's buffers its own. */
static void SFX(flatten_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *z,
                                 const REAL *in, const REAL *param, REAL *work, size_t rows,
                                 gs_gemm_path path)
{
    (void)L, (void)param, (void)work, (void)path;
    memcpy(z, in, rows * g->in_n * sizeof *z);
}

/* dz [B, C*H*W] -> din [B, C, H, W], the same bytes. */
static void SFX(flatten_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                  REAL *dparam, const REAL *dz, const REAL *in,
                                  const REAL *param, REAL *work, size_t rows, gs_gemm_path path)
{
    (void)L, (void)dparam, (void)in, (void)param, (void)work, (void)path;
    if (din) memcpy(din, dz, rows * g->in_n * sizeof *din);
}
