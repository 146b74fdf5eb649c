/* Activations, losses and the passes through the layer table, written once
 * and instantiated per dtype by core/pass.c through core/per_dtype.h with
 * REAL (float or double) and SFX(name) (name_f32 / name_f64). <tgmath.h>
 * makes exp, log1p, erf, ... resolve to the float or double function from
 * REAL's type.
 *
 * Shapes: rows = batch rows; a layer's z, a and delta are [rows, width],
 * width its out_n (features per row, whatever the row's shape); every buffer
 * is row-major. Derivatives are taken from the pre-activation z except where
 * the output a gives them exactly (sigmoid, tanh, softmax). */

/* ---- activations ---------------------------------------------------------- */

static inline REAL SFX(sigmoid)(REAL x)
{
    /* exp of a non-positive number only: no overflow at +-1e3 */
    if (x >= 0) return 1 / (1 + exp(-x));
    REAL e = exp(x);
    return e / (1 + e);
}

/* Row-wise softmax of z [rows, n] into p, from the row max (starting at
 * -INFINITY, so any finite row works). */
static void SFX(softmax_rows)(REAL *p, const REAL *z, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++) {
        const REAL *zr = z + r * n;
        REAL *pr = p + r * n, max = -INFINITY, sum = 0;
        for (size_t j = 0; j < n; j++) max = zr[j] > max ? zr[j] : max;
        for (size_t j = 0; j < n; j++) sum += pr[j] = exp(zr[j] - max);
        for (size_t j = 0; j < n; j++) pr[j] /= sum;
    }
}

/* a = f(z), both [rows, width]; a == z (in place) for linear and relu. */
static void SFX(activate)(const gs_layer_def *L, REAL *a, const REAL *z, size_t rows,
                          size_t width)
{
    size_t n = rows * width;
    REAL slope = (REAL)L->slope, alpha = (REAL)L->alpha;
    switch (L->activation) {
    case GS_ACT_LINEAR:
        if (a != z) memcpy(a, z, n * sizeof *a);
        break;
    case GS_ACT_RELU:
        for (size_t i = 0; i < n; i++) a[i] = z[i] > 0 ? z[i] : 0;
        break;
    case GS_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) a[i] = z[i] > 0 ? z[i] : slope * z[i];
        break;
    case GS_ACT_ELU:
        for (size_t i = 0; i < n; i++) a[i] = z[i] > 0 ? z[i] : alpha * expm1(z[i]);
        break;
    case GS_ACT_GELU: /* x Phi(x), Phi the normal CDF: erf form */
        for (size_t i = 0; i < n; i++)
            a[i] = z[i] * (REAL)0.5 * (1 + erf(z[i] * (REAL)0.70710678118654752440));
        break;
    case GS_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) a[i] = SFX(sigmoid)(z[i]);
        break;
    case GS_ACT_TANH:
        for (size_t i = 0; i < n; i++) a[i] = tanh(z[i]);
        break;
    case GS_ACT_SOFTPLUS: /* torch: linear above the threshold 20 */
        for (size_t i = 0; i < n; i++) a[i] = z[i] > 20 ? z[i] : log1p(exp(z[i]));
        break;
    case GS_ACT_SOFTMAX:
        SFX(softmax_rows)(a, z, rows, width);
        break;
    default:
        break;
    }
}

/* d: in dL/da, out dL/dz = dL/da * f'(z), both [rows, units]. */
static void SFX(activate_backward)(const gs_layer_def *L, REAL *d, const REAL *z,
                                   const REAL *a, size_t rows, size_t units)
{
    size_t n = rows * units;
    REAL slope = (REAL)L->slope, alpha = (REAL)L->alpha;
    switch (L->activation) {
    case GS_ACT_LINEAR:
        break;
    case GS_ACT_RELU: /* relu'(0) = 0, as torch; z may hold a (in place): same sign */
        for (size_t i = 0; i < n; i++) d[i] = z[i] > 0 ? d[i] : 0;
        break;
    case GS_ACT_LEAKY_RELU: /* leaky'(0) = slope, as torch */
        for (size_t i = 0; i < n; i++) d[i] *= z[i] > 0 ? 1 : slope;
        break;
    case GS_ACT_ELU:
        for (size_t i = 0; i < n; i++) d[i] *= z[i] > 0 ? 1 : alpha * exp(z[i]);
        break;
    case GS_ACT_GELU: /* Phi(x) + x phi(x) */
        for (size_t i = 0; i < n; i++) {
            REAL x = z[i];
            REAL cdf = (REAL)0.5 * (1 + erf(x * (REAL)0.70710678118654752440));
            REAL pdf = exp((REAL)-0.5 * x * x) * (REAL)0.39894228040143267794;
            d[i] *= cdf + x * pdf;
        }
        break;
    case GS_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) d[i] *= a[i] * (1 - a[i]);
        break;
    case GS_ACT_TANH:
        for (size_t i = 0; i < n; i++) d[i] *= 1 - a[i] * a[i];
        break;
    case GS_ACT_SOFTPLUS:
        for (size_t i = 0; i < n; i++) d[i] *= z[i] > 20 ? 1 : SFX(sigmoid)(z[i]);
        break;
    case GS_ACT_SOFTMAX: /* Jacobian-vector product: p * (g - <g, p>) per row */
        for (size_t r = 0; r < rows; r++) {
            REAL *dr = d + r * units, dot = 0;
            const REAL *pr = a + r * units;
            for (size_t j = 0; j < units; j++) dot += dr[j] * pr[j];
            for (size_t j = 0; j < units; j++) dr[j] = pr[j] * (dr[j] - dot);
        }
        break;
    default:
        break;
    }
}

/* ---- losses --------------------------------------------------------------------- */

/* The loss of the last layer against the targets, accumulated in double.
 * When d is not NULL it receives dL/dz of the last layer [rows, out]: the
 * cross-entropies give it directly from the logits z (fused: p - t); the
 * regression losses give dL/da, which goes back through the activation. */
static double SFX(loss)(const gs_net *net, const gs_pass *pass, const gs_targets *t,
                        size_t rows, REAL *d)
{
    const gs_net_def *def = &net->def;
    size_t last = def->n_layers - 1, out = net->geom[last].out_n, n = rows * out;
    const REAL *a = pass->a[last], *z = pass->z[last], *tv = t->values;
    int mean = def->reduction == GS_REDUCE_MEAN;
    /* mean: over every element, except cross_entropy: over rows (torch) */
    double count = def->loss == GS_LOSS_CE ? (double)rows : (double)n;
    REAL scale = (REAL)(mean ? 1.0 / count : 1.0), delta = (REAL)def->huber_delta;
    double total = 0;

    switch (def->loss) {
    case GS_LOSS_MSE:
        for (size_t i = 0; i < n; i++) {
            REAL e = a[i] - tv[i];
            total += (double)e * e;
            if (d) d[i] = 2 * e * scale;
        }
        break;
    case GS_LOSS_L1: /* sign(0) = 0 */
        for (size_t i = 0; i < n; i++) {
            REAL e = a[i] - tv[i];
            total += fabs((double)e);
            if (d) d[i] = (REAL)((e > 0) - (e < 0)) * scale;
        }
        break;
    case GS_LOSS_HUBER:
        for (size_t i = 0; i < n; i++) {
            REAL e = a[i] - tv[i], ae = fabs(e);
            total += ae < delta ? 0.5 * (double)e * e : (double)delta * (ae - 0.5 * delta);
            if (d) d[i] = (e < -delta ? -delta : e > delta ? delta : e) * scale;
        }
        break;
    case GS_LOSS_BCE: /* from logits x: max(x,0) - x t + log1p(exp(-|x|)) */
        for (size_t i = 0; i < n; i++) {
            REAL x = z[i];
            total += (double)(x > 0 ? x : 0) - (double)x * tv[i] + (double)log1p(exp(-fabs(x)));
            if (d) d[i] = (SFX(sigmoid)(x) - tv[i]) * scale;
        }
        break;
    case GS_LOSS_CE: /* sum_j t_j (logsumexp(x) - x_j) from the logits x = z; dL/dx = p sum(t) - t */
        for (size_t r = 0; r < rows; r++) {
            const REAL *x = z + r * out;
            REAL max = -INFINITY, sum = 0;
            for (size_t j = 0; j < out; j++) max = x[j] > max ? x[j] : max;
            for (size_t j = 0; j < out; j++) sum += exp(x[j] - max);
            double lse = (double)max + log((double)sum);
            if (t->labels) {
                int64_t y = t->labels[r];
                total += lse - (double)x[y];
                if (d) {
                    REAL *dr = d + r * out;
                    for (size_t j = 0; j < out; j++)
                        dr[j] = (exp(x[j] - max) / sum - ((int64_t)j == y)) * scale;
                }
            } else {
                const REAL *tr = tv + r * out;
                REAL tsum = 0;
                for (size_t j = 0; j < out; j++) {
                    total += (double)tr[j] * (lse - (double)x[j]);
                    tsum += tr[j];
                }
                if (d) {
                    REAL *dr = d + r * out;
                    for (size_t j = 0; j < out; j++)
                        dr[j] = (exp(x[j] - max) / sum * tsum - tr[j]) * scale;
                }
            }
        }
        break;
    default:
        break;
    }

    int fused = def->loss == GS_LOSS_BCE || def->loss == GS_LOSS_CE;
    if (d && !fused) SFX(activate_backward)(&def->layers[last], d, z, a, rows, out);
    return mean ? total / count : total;
}

/* ---- the passes ---------------------------------------------------------------- */

/* z_l = layer_l(a_{l-1}), a_l = f(z_l) through the layer table; then the
 * loss when there are targets, with dL/dz of the last layer when want_delta. */
gs_status SFX(gs_pass_forward)(gs_net *net, gs_pass *pass, const gs_batch *b, double *loss,
                               int want_delta, gs_error *err)
{
    (void)err;
    const gs_net_def *def = &net->def;
    const REAL *params = net->params, *x = b->inputs;
    size_t rows = b->rows;
    pass->rows = rows;

    for (size_t l = 0; l < def->n_layers; l++) {
        const gs_layer_def *L = &def->layers[l];
        const gs_layer_geom *g = &net->geom[l];
        const REAL *p = g->n_tensors ? params + net->offsets[g->first_tensor] : NULL;
        REAL *buf = g->n_buffers ? (REAL *)net->params + net->buffer_offsets[g->first_buffer] : NULL;
        gs_layer_run run = {rows, def->gemm, pass->work, pass->saved[l], buf, pass->training};
        gs_layer_kinds[L->type].SFX(forward)(L, g, pass->z[l], x, p, &run);
        SFX(activate)(L, pass->a[l], pass->z[l], rows, g->out_n);
        x = pass->a[l];
    }
    if (loss && (b->targets.values || b->targets.labels)) {
        size_t last = def->n_layers - 1;
        *loss = SFX(loss)(net, pass, &b->targets, rows, want_delta ? pass->delta[last] : NULL);
    }
    return GS_OK;
}

/* From dL/dz of the last layer (left by the forward pass) back to every
 * parameter: each layer's backward takes its delta to its gradients and to
 * dL/da of the layer below, which becomes that layer's delta through its
 * activation. Gradients are written, not accumulated. */
void SFX(gs_pass_backward)(gs_net *net, gs_pass *pass, const gs_batch *b, int want_input_grad)
{
    const gs_net_def *def = &net->def;
    const REAL *params = net->params;
    REAL *grads = net->grads;
    size_t rows = pass->rows;

    for (size_t l = def->n_layers; l-- > 0;) {
        const gs_layer_def *L = &def->layers[l];
        const gs_layer_geom *g = &net->geom[l];
        const REAL *prev = l ? pass->a[l - 1] : b->inputs;
        size_t off = g->n_tensors ? net->offsets[g->first_tensor] : 0;
        REAL *din = l ? pass->delta[l - 1] : want_input_grad ? pass->input_grad : NULL;
        REAL *buf = g->n_buffers ? (REAL *)net->params + net->buffer_offsets[g->first_buffer] : NULL;
        gs_layer_run run = {rows, def->gemm, pass->work, pass->saved[l], buf, pass->training};
        gs_layer_kinds[L->type].SFX(backward)(L, g, din, grads + off, pass->delta[l], prev,
                                              params + off, &run);
        if (l > 0) /* delta_{l-1} = dL/da_{l-1} * f'(z_{l-1}) */
            SFX(activate_backward)(&def->layers[l - 1], din, pass->z[l - 1], pass->a[l - 1],
                                   rows, g->in_n);
    }
}
