/* Layer kernels, written once and instantiated per dtype by core/layers.c
 * through core/per_dtype.h with REAL (float or double), SFX(name) (name_f32
 * / name_f64) and GEMM (gs_gemm_f32 / gs_gemm_f64). Each type has a paired
 * forward and backward with its shapes in the comment; the table in layers.c
 * adapts them to the uniform gs_layer_kind signature. Backward kernels write
 * their gradients (every element), they do not accumulate: the net's grads
 * slab need not be zeroed before a pass. */

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
                               const REAL *in, const REAL *param, const gs_layer_run *run)
{
    size_t C = g->in_n, OC = L->units;
    SFX(linear_forward)(z, in, param, param + OC * C, run->rows, C, OC, run->path);
}

static void SFX(dense_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                REAL *dparam, const REAL *dz, const REAL *in, const REAL *param,
                                const gs_layer_run *run)
{
    size_t C = g->in_n, OC = L->units;
    SFX(linear_backward)(din, dparam, dparam + OC * C, dz, in, param, run->rows, C, OC,
                         run->path);
}

/* ---- flatten ----------------------------------------------------------------------------- */

/* in [B, C, H, W] -> z [B, C*H*W]: the same bytes (row-major NCHW is
 * torch.flatten(x, 1)'s order); a copy keeps every layer's buffers its own. */
static void SFX(flatten_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *z,
                                 const REAL *in, const REAL *param, const gs_layer_run *run)
{
    (void)L, (void)param;
    memcpy(z, in, run->rows * g->in_n * sizeof *z);
}

/* dz [B, C*H*W] -> din [B, C, H, W], the same bytes. */
static void SFX(flatten_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                  REAL *dparam, const REAL *dz, const REAL *in,
                                  const REAL *param, const gs_layer_run *run)
{
    (void)L, (void)dparam, (void)in, (void)param;
    if (din) memcpy(din, dz, run->rows * g->in_n * sizeof *din);
}

/* ---- conv2d ------------------------------------------------------------------------------ */

/* Columns of one image for a k[0] x k[1] kernel, stride s, padding p:
 * in [C, H, W] -> col [C*kh*kw, OH*OW], row (c*kh + i)*kw + j holding, at
 * column oh*OW + ow, in[c, oh*sh - ph + i, ow*sw - pw + j] (0 outside): the
 * rows line up with weight [OC, C, kh, kw] read as [OC, C*kh*kw]. */
static void SFX(im2col)(REAL *col, const REAL *in, size_t C, size_t H, size_t W,
                        const size_t k[2], const size_t s[2], const size_t p[2], size_t OH,
                        size_t OW)
{
    for (size_t c = 0; c < C; c++)
        for (size_t i = 0; i < k[0]; i++)
            for (size_t j = 0; j < k[1]; j++) {
                REAL *row = col + ((c * k[0] + i) * k[1] + j) * OH * OW;
                /* ow whose iw = ow*sw + j - pw falls in [0, W): [lo, hi) */
                size_t lo = j >= p[1] ? 0 : (p[1] - j + s[1] - 1) / s[1];
                size_t hi = W + p[1] > j ? (W + p[1] - j - 1) / s[1] + 1 : 0;
                if (hi > OW) hi = OW;
                if (lo > hi) lo = hi;
                for (size_t oh = 0; oh < OH; oh++) {
                    REAL *r = row + oh * OW;
                    size_t ih = oh * s[0] + i; /* + the padding: ih - p[0] is the row */
                    if (ih < p[0] || ih - p[0] >= H) {
                        memset(r, 0, OW * sizeof *r);
                        continue;
                    }
                    const REAL *src = in + (c * H + ih - p[0]) * W;
                    for (size_t ow = 0; ow < lo; ow++) r[ow] = 0;
                    if (s[1] == 1) /* rows are short (28 at LeNet's): a loop, not memcpy */
                        for (size_t ow = lo; ow < hi; ow++) r[ow] = src[ow + j - p[1]];
                    else
                        for (size_t ow = lo; ow < hi; ow++) r[ow] = src[ow * s[1] + j - p[1]];
                    for (size_t ow = hi; ow < OW; ow++) r[ow] = 0;
                }
            }
}

/* The adjoint of im2col: col [C*kh*kw, OH*OW] -> din [C, H, W], each column
 * entry added where im2col read it (din is zeroed first). */
static void SFX(col2im)(REAL *din, const REAL *col, size_t C, size_t H, size_t W,
                        const size_t k[2], const size_t s[2], const size_t p[2], size_t OH,
                        size_t OW)
{
    memset(din, 0, C * H * W * sizeof *din);
    for (size_t c = 0; c < C; c++)
        for (size_t i = 0; i < k[0]; i++)
            for (size_t j = 0; j < k[1]; j++) {
                const REAL *row = col + ((c * k[0] + i) * k[1] + j) * OH * OW;
                size_t lo = j >= p[1] ? 0 : (p[1] - j + s[1] - 1) / s[1];
                size_t hi = W + p[1] > j ? (W + p[1] - j - 1) / s[1] + 1 : 0;
                if (hi > OW) hi = OW;
                if (lo > hi) lo = hi;
                for (size_t oh = 0; oh < OH; oh++) {
                    size_t ih = oh * s[0] + i;
                    if (ih < p[0] || ih - p[0] >= H) continue;
                    REAL *dst = din + (c * H + ih - p[0]) * W;
                    const REAL *r = row + oh * OW;
                    if (s[1] == 1) /* contiguous: vectorized; ow + j >= p[1] from lo */
                        for (size_t ow = lo; ow < hi; ow++) dst[ow + j - p[1]] += r[ow];
                    else
                        for (size_t ow = lo; ow < hi; ow++) dst[ow * s[1] + j - p[1]] += r[ow];
                }
            }
}

/* in [B, C, H, W], weight [OC, C, kh, kw], bias [OC] -> out [B, OC, OH, OW];
 * per image: col [K, P] = im2col(in_b), out_b [OC, P] = weight [OC, K] col + bias,
 * K = C*kh*kw, P = OH*OW. col is work [K*P]. */
static void SFX(conv2d_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *out,
                                const REAL *in, const REAL *param, const gs_layer_run *run)
{
    size_t C = g->in.dim[0], H = g->in.dim[1], W = g->in.dim[2];
    size_t OC = g->out.dim[0], OH = g->out.dim[1], OW = g->out.dim[2];
    size_t K = C * L->kernel[0] * L->kernel[1], P = OH * OW;
    const REAL *weight = param, *bias = param + OC * K;
    REAL *col = run->work;
    gs_gemm_path path = run->path;
    for (size_t b = 0; b < run->rows; b++) {
        REAL *ob = out + b * OC * P;
        SFX(im2col)(col, in + b * C * H * W, C, H, W, L->kernel, L->stride, L->padding, OH, OW);
        for (size_t o = 0; o < OC; o++)
            for (size_t q = 0; q < P; q++) ob[o * P + q] = bias[o];
        /* out_b [OC, P] += weight [OC, K] x col [K, P] */
        GEMM(0, 0, OC, P, K, 1, weight, K, col, P, 1, ob, P, path);
    }
}

/* dout [B, OC, OH, OW] -> dweight [OC, C, kh, kw] = sum_b dout_b [OC, P] col_b^T,
 * dbias [OC] = sums of dout over b and P, and (din not NULL)
 * din_b = col2im(weight^T [K, OC] dout_b); all written. work holds col and
 * dcol, [K*P] each. */
static void SFX(conv2d_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                 REAL *dparam, const REAL *dout, const REAL *in,
                                 const REAL *param, const gs_layer_run *run)
{
    size_t C = g->in.dim[0], H = g->in.dim[1], W = g->in.dim[2];
    size_t OC = g->out.dim[0], OH = g->out.dim[1], OW = g->out.dim[2];
    size_t K = C * L->kernel[0] * L->kernel[1], P = OH * OW;
    const REAL *weight = param;
    REAL *dweight = dparam, *dbias = dparam + OC * K, *col = run->work, *dcol = col + K * P;
    gs_gemm_path path = run->path;
    memset(dbias, 0, OC * sizeof *dbias);
    for (size_t b = 0; b < run->rows; b++) {
        const REAL *db = dout + b * OC * P;
        SFX(im2col)(col, in + b * C * H * W, C, H, W, L->kernel, L->stride, L->padding, OH, OW);
        /* dweight [OC, K] (+)= dout_b [OC, P] x col^T [P, K]; the first image writes */
        GEMM(0, 1, OC, K, P, 1, db, P, col, P, b ? 1 : 0, dweight, K, path);
        for (size_t o = 0; o < OC; o++)
            for (size_t q = 0; q < P; q++) dbias[o] += db[o * P + q];
        if (!din) continue;
        /* dcol [K, P] = weight^T [K, OC] x dout_b [OC, P] */
        GEMM(1, 0, K, P, OC, 1, weight, K, db, P, 0, dcol, P, path);
        SFX(col2im)(din + b * C * H * W, dcol, C, H, W, L->kernel, L->stride, L->padding, OH,
                    OW);
    }
}

/* ---- max_pool2d, avg_pool2d ---------------------------------------------------------------- */

/* The window of output (oh, ow) clipped to the image: rows [*h0, *h1), columns
 * [*w0, *w1) of in [H, W]; never empty (padding <= kernel / 2). */
static inline void SFX(pool_window)(const gs_layer_def *L, size_t H, size_t W, size_t oh,
                                    size_t ow, size_t *h0, size_t *h1, size_t *w0, size_t *w1)
{
    size_t hs = oh * L->stride[0], ws = ow * L->stride[1]; /* + the padding */
    *h0 = hs > L->padding[0] ? hs - L->padding[0] : 0;
    *w0 = ws > L->padding[1] ? ws - L->padding[1] : 0;
    *h1 = hs + L->kernel[0] - L->padding[0];
    *w1 = ws + L->kernel[1] - L->padding[1];
    if (*h1 > H) *h1 = H;
    if (*w1 > W) *w1 = W;
}

/* The first maximum of x's window [h0, h1) x [w0, w1) (row stride W): its
 * index, without branches (they are unpredictable after a relu). A NaN wins,
 * the last one when there are several: torch's `v > max || isnan(v)`. */
static inline size_t SFX(window_argmax)(const REAL *x, size_t W, size_t h0, size_t h1, size_t w0,
                                        size_t w1)
{
    size_t best = h0 * W + w0;
    REAL m = x[best];
    for (size_t h = h0; h < h1; h++)
        for (size_t w = w0; w < w1; w++) {
            REAL v = x[h * W + w];
            int take = (v > m) | (v != v);
            m = take ? v : m;
            best = take ? h * W + w : best;
        }
    return best;
}

/* The index (0..3, row-major) of the first maximum of a b / c d, as
 * window_argmax finds it, without branches. */
static inline int SFX(argmax4)(REAL a, REAL b, REAL c, REAL d)
{
    int i = 0;
    REAL m = a;
    int t = (b > m) | (b != b);
    m = t ? b : m, i = t ? 1 : i;
    t = (c > m) | (c != c);
    m = t ? c : m, i = t ? 2 : i;
    t = (d > m) | (d != d);
    return t ? 3 : i;
}

/* argmax4 for the backward pass, where a NaN needs no care (the loss it
 * reaches is NaN, and the request is refused): one comparison per element,
 * which GCC keeps free of branches (argmax4's NaN test costs a branch on the
 * parity flag, mispredicted on the ties a relu leaves). Without NaNs the two
 * agree. */
static inline int SFX(argmax4_finite)(REAL a, REAL b, REAL c, REAL d)
{
    int i = 0;
    REAL m = a;
    int t = b > m;
    m = t ? b : m, i = t ? 1 : i;
    t = c > m;
    m = t ? c : m, i = t ? 2 : i;
    return d > m ? 3 : i;
}

/* A 2x2 window, stride 2, no padding (LeNet's, and most networks'): the
 * windows tile the image, so each output reads its own four inputs. */
static int SFX(pool_is_2x2)(const gs_layer_def *L)
{
    return L->kernel[0] == 2 && L->kernel[1] == 2 && L->stride[0] == 2 && L->stride[1] == 2 &&
           L->padding[0] == 0 && L->padding[1] == 0;
}

/* in [B, C, H, W] -> out [B, C, OH, OW], the max of each window (padding
 * never wins). */
static void SFX(max_pool2d_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *out,
                                    const REAL *in, const REAL *param, const gs_layer_run *run)
{
    (void)param;
    size_t B = run->rows;
    size_t H = g->in.dim[1], W = g->in.dim[2], OH = g->out.dim[1], OW = g->out.dim[2];
    int fast = SFX(pool_is_2x2)(L);
    for (size_t bc = 0; bc < B * g->in.dim[0]; bc++) {
        const REAL *x = in + bc * H * W;
        REAL *o = out + bc * OH * OW;
        for (size_t oh = 0; oh < OH; oh++) {
            if (fast) {
                const REAL *r0 = x + 2 * oh * W, *r1 = r0 + W;
                for (size_t ow = 0; ow < OW; ow++) {
                    REAL q[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
                    o[oh * OW + ow] = q[SFX(argmax4)(q[0], q[1], q[2], q[3])];
                }
                continue;
            }
            for (size_t ow = 0; ow < OW; ow++) {
                size_t h0, h1, w0, w1;
                SFX(pool_window)(L, H, W, oh, ow, &h0, &h1, &w0, &w1);
                o[oh * OW + ow] = x[SFX(window_argmax)(x, W, h0, h1, w0, w1)];
            }
        }
    }
}

/* dout [B, C, OH, OW] -> din [B, C, H, W]: each output's gradient goes to
 * the first maximum of its window (found again from in, as the forward
 * pass found it: torch's choice among ties), summed where windows overlap. */
static void SFX(max_pool2d_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                     REAL *dparam, const REAL *dout, const REAL *in,
                                     const REAL *param, const gs_layer_run *run)
{
    (void)dparam, (void)param;
    size_t B = run->rows;
    if (!din) return;
    size_t H = g->in.dim[1], W = g->in.dim[2], OH = g->out.dim[1], OW = g->out.dim[2];
    int fast = SFX(pool_is_2x2)(L);
    memset(din, 0, B * g->in_n * sizeof *din);
    for (size_t bc = 0; bc < B * g->in.dim[0]; bc++) {
        const REAL *x = in + bc * H * W, *d = dout + bc * OH * OW;
        REAL *dx = din + bc * H * W;
        for (size_t oh = 0; oh < OH; oh++) {
            if (fast) {
                const REAL *r0 = x + 2 * oh * W, *r1 = r0 + W;
                for (size_t ow = 0; ow < OW; ow++) {
                    int i = SFX(argmax4_finite)(r0[2 * ow], r0[2 * ow + 1], r1[2 * ow],
                                                r1[2 * ow + 1]);
                    dx[(2 * oh + (size_t)(i >> 1)) * W + 2 * ow + (size_t)(i & 1)] = d[oh * OW + ow];
                }
                continue;
            }
            for (size_t ow = 0; ow < OW; ow++) {
                size_t h0, h1, w0, w1;
                SFX(pool_window)(L, H, W, oh, ow, &h0, &h1, &w0, &w1);
                dx[SFX(window_argmax)(x, W, h0, h1, w0, w1)] += d[oh * OW + ow];
            }
        }
    }
}

/* in [B, C, H, W] -> out [B, C, OH, OW], each window's sum over kh*kw (the
 * padding's zeros counted, as torch's count_include_pad). */
static void SFX(avg_pool2d_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *out,
                                    const REAL *in, const REAL *param, const gs_layer_run *run)
{
    (void)param;
    size_t B = run->rows;
    size_t H = g->in.dim[1], W = g->in.dim[2], OH = g->out.dim[1], OW = g->out.dim[2];
    REAL area = (REAL)(L->kernel[0] * L->kernel[1]);
    for (size_t bc = 0; bc < B * g->in.dim[0]; bc++) {
        const REAL *x = in + bc * H * W;
        REAL *o = out + bc * OH * OW;
        for (size_t oh = 0; oh < OH; oh++)
            for (size_t ow = 0; ow < OW; ow++) {
                size_t h0, h1, w0, w1;
                SFX(pool_window)(L, H, W, oh, ow, &h0, &h1, &w0, &w1);
                REAL sum = 0;
                for (size_t h = h0; h < h1; h++)
                    for (size_t w = w0; w < w1; w++) sum += x[h * W + w];
                o[oh * OW + ow] = sum / area;
            }
    }
}

/* dout [B, C, OH, OW] -> din [B, C, H, W]: dout / (kh*kw) to every element
 * of the window, summed where windows overlap. */
static void SFX(avg_pool2d_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                     REAL *dparam, const REAL *dout, const REAL *in,
                                     const REAL *param, const gs_layer_run *run)
{
    (void)dparam, (void)in, (void)param;
    size_t B = run->rows;
    if (!din) return;
    size_t H = g->in.dim[1], W = g->in.dim[2], OH = g->out.dim[1], OW = g->out.dim[2];
    REAL area = (REAL)(L->kernel[0] * L->kernel[1]);
    memset(din, 0, B * g->in_n * sizeof *din);
    for (size_t bc = 0; bc < B * g->in.dim[0]; bc++) {
        const REAL *d = dout + bc * OH * OW;
        REAL *dx = din + bc * H * W;
        for (size_t oh = 0; oh < OH; oh++)
            for (size_t ow = 0; ow < OW; ow++) {
                size_t h0, h1, w0, w1;
                SFX(pool_window)(L, H, W, oh, ow, &h0, &h1, &w0, &w1);
                REAL share = d[oh * OW + ow] / area;
                for (size_t h = h0; h < h1; h++)
                    for (size_t w = w0; w < w1; w++) dx[h * W + w] += share;
            }
    }
}

/* ---- dropout ---------------------------------------------------------------------------- */

/* x [n] -> out [n] = x * mask / (1 - p) in training mode (mask, 0/1, in
 * run->saved, drawn by gs_pass_set_training), x itself otherwise: dropout is
 * a diagonal map, so the forward and backward passes both apply it. */
static void SFX(dropout_apply)(const gs_layer_def *L, REAL *out, const REAL *x, size_t n,
                               const gs_layer_run *run)
{
    if (!run->training) {
        memcpy(out, x, n * sizeof *out);
        return;
    }
    const REAL *mask = run->saved, scale = (REAL)(1.0 / (1.0 - L->p));
    for (size_t i = 0; i < n; i++) out[i] = x[i] * mask[i] * scale;
}

/* in [B, n] -> z [B, n] = in * mask / (1 - p) (training), in otherwise. */
static void SFX(dropout_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *z,
                                 const REAL *in, const REAL *param, const gs_layer_run *run)
{
    (void)param;
    SFX(dropout_apply)(L, z, in, run->rows * g->in_n, run);
}

/* dz [B, n] -> din [B, n] = dz * mask / (1 - p) (training), dz otherwise. */
static void SFX(dropout_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                  REAL *dparam, const REAL *dz, const REAL *in, const REAL *param,
                                  const gs_layer_run *run)
{
    (void)dparam, (void)in, (void)param;
    if (din) SFX(dropout_apply)(L, din, dz, run->rows * g->in_n, run);
}

/* ---- layer_norm ----------------------------------------------------------------------------- */

/* in [B, n] (n = the row's every element), weight [n], bias [n] ->
 * z [B, n] = (in - mean) / sqrt(var + eps) * weight + bias, mean and the
 * biased variance over each row (accumulated in double); saved [B, 2] keeps
 * each row's mean and 1/sqrt(var + eps). */
static void SFX(layer_norm_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *z,
                                    const REAL *in, const REAL *param, const gs_layer_run *run)
{
    size_t n = g->in_n;
    const REAL *w = param, *b = param + n;
    REAL *saved = run->saved;
    for (size_t r = 0; r < run->rows; r++) {
        const REAL *x = in + r * n;
        REAL *zr = z + r * n;
        double sum = 0, sq = 0;
        for (size_t i = 0; i < n; i++) sum += x[i];
        double mean = sum / (double)n;
        for (size_t i = 0; i < n; i++) sq += ((double)x[i] - mean) * ((double)x[i] - mean);
        REAL m = (REAL)mean, rstd = (REAL)(1.0 / sqrt(sq / (double)n + L->eps));
        for (size_t i = 0; i < n; i++) zr[i] = (x[i] - m) * rstd * w[i] + b[i];
        saved[2 * r] = m;
        saved[2 * r + 1] = rstd;
    }
}

/* dz [B, n] -> dweight [n] = sum_r dz xhat, dbias [n] = sum_r dz (written),
 * and din [B, n] = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) with
 * dxhat = dz weight, xhat = (in - mean) rstd (llm.c's layernorm_backward). */
static void SFX(layer_norm_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                     REAL *dparam, const REAL *dz, const REAL *in,
                                     const REAL *param, const gs_layer_run *run)
{
    (void)L;
    size_t n = g->in_n;
    const REAL *w = param, *saved = run->saved;
    REAL *dw = dparam, *db = dparam + n;
    memset(dparam, 0, 2 * n * sizeof *dparam);
    for (size_t r = 0; r < run->rows; r++) {
        const REAL *x = in + r * n, *d = dz + r * n, m = saved[2 * r], rstd = saved[2 * r + 1];
        double mean_d = 0, mean_dx = 0;
        for (size_t i = 0; i < n; i++) {
            REAL xhat = (x[i] - m) * rstd, dxhat = d[i] * w[i];
            mean_d += dxhat;
            mean_dx += (double)dxhat * xhat;
            dw[i] += d[i] * xhat;
            db[i] += d[i];
        }
        if (!din) continue;
        REAL md = (REAL)(mean_d / (double)n), mdx = (REAL)(mean_dx / (double)n);
        REAL *dr = din + r * n;
        for (size_t i = 0; i < n; i++) {
            REAL xhat = (x[i] - m) * rstd;
            dr[i] = rstd * (d[i] * w[i] - md - xhat * mdx);
        }
    }
}

/* ---- batch_norm ----------------------------------------------------------------------------- */

/* in [B, C, S] (S = H*W, or 1 for [B, F] rows: C = F), weight, bias [C] ->
 * z = (in - mean_c) / sqrt(var_c + eps) * weight_c + bias_c. Training mode:
 * mean and biased variance over B*S values per channel (in double), kept in
 * saved [2, C] (mean, 1/std) for the backward pass, and the running
 * statistics updated as torch does: r = (1 - momentum) r + momentum s, with
 * the unbiased variance (B*S >= 2, checked before the pass). Evaluation
 * mode: the running statistics. */
static void SFX(batch_norm_forward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *z,
                                    const REAL *in, const REAL *param, const gs_layer_run *run)
{
    size_t C = g->in.dim[0], S = g->in_n / C, B = run->rows;
    const REAL *w = param, *b = param + C;
    REAL *mean = run->saved, *rstd = mean + C, *rmean = run->buffers, *rvar = rmean + C;
    for (size_t c = 0; c < C; c++) {
        if (run->training) {
            double sum = 0, sq = 0, n = (double)(B * S);
            for (size_t r = 0; r < B; r++)
                for (size_t i = 0; i < S; i++) sum += in[(r * C + c) * S + i];
            double m = sum / n;
            for (size_t r = 0; r < B; r++)
                for (size_t i = 0; i < S; i++) {
                    double e = in[(r * C + c) * S + i] - m;
                    sq += e * e;
                }
            mean[c] = (REAL)m;
            rstd[c] = (REAL)(1.0 / sqrt(sq / n + L->eps));
            double mo = L->momentum;
            rmean[c] = (REAL)((1 - mo) * rmean[c] + mo * m);
            rvar[c] = (REAL)((1 - mo) * rvar[c] + mo * sq / (n - 1));
        } else {
            mean[c] = rmean[c];
            rstd[c] = (REAL)(1.0 / sqrt((double)rvar[c] + L->eps));
        }
        REAL sc = rstd[c] * w[c], sh = b[c] - mean[c] * sc;
        for (size_t r = 0; r < B; r++) {
            const REAL *x = in + (r * C + c) * S;
            REAL *zr = z + (r * C + c) * S;
            for (size_t i = 0; i < S; i++) zr[i] = x[i] * sc + sh;
        }
    }
}

/* dz [B, C, S] -> dweight [C] = sum dz xhat, dbias [C] = sum dz (written), and
 * din = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), the means over
 * the channel's B*S values, dxhat = dz weight (training mode: the batch's
 * statistics depend on in); din = dz weight rstd in evaluation mode. */
static void SFX(batch_norm_backward)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,
                                     REAL *dparam, const REAL *dz, const REAL *in,
                                     const REAL *param, const gs_layer_run *run)
{
    (void)L;
    size_t C = g->in.dim[0], S = g->in_n / C, B = run->rows;
    const REAL *w = param, *mean = run->saved, *rstd = mean + C;
    REAL *dw = dparam, *db = dparam + C;
    double n = (double)(B * S);
    for (size_t c = 0; c < C; c++) {
        double sd = 0, sdx = 0;
        for (size_t r = 0; r < B; r++)
            for (size_t i = 0; i < S; i++) {
                size_t k = (r * C + c) * S + i;
                double xhat = ((double)in[k] - mean[c]) * rstd[c];
                sd += dz[k];
                sdx += dz[k] * xhat;
            }
        dw[c] = (REAL)sdx;
        db[c] = (REAL)sd;
        if (!din) continue;
        /* mean(dxhat) = w sd / n, mean(dxhat xhat) = w sdx / n */
        REAL k1 = (REAL)(run->training ? w[c] * sd / n : 0);
        REAL k2 = (REAL)(run->training ? w[c] * sdx / n : 0);
        for (size_t r = 0; r < B; r++)
            for (size_t i = 0; i < S; i++) {
                size_t k = (r * C + c) * S + i;
                REAL xhat = (in[k] - mean[c]) * rstd[c];
                din[k] = rstd[c] * (dz[k] * w[c] - k1 - xhat * k2);
            }
    }
}
