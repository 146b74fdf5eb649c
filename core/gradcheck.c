/* Gradient check: back-propagation against central finite differences, on a
 * float64 copy of the network whatever its dtype. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* A float64 copy of the batch: inputs [rows, inputs], values [rows, outputs]. */
static gs_status batch_f64(const gs_net *net, const gs_batch *b, gs_batch *out,
                           double **bufs, gs_error *err)
{
    const gs_allocator *A = &net->alloc;
    size_t in = net->def.inputs * b->rows, tn = gs_net_outputs(net) * b->rows;
    size_t sizes[2] = {in, b->targets.values ? tn : 0};
    const void *src[2] = {b->inputs, b->targets.values};
    for (int k = 0; k < 2; k++) {
        bufs[k] = NULL;
        if (!src[k]) continue;
        bufs[k] = gs_alloc(A, sizes[k] * sizeof(double));
        if (!bufs[k]) return gs_fail(err, GS_ENOMEM, "", "out of memory copying the batch");
        if (net->def.dtype == GS_FLOAT64)
            memcpy(bufs[k], src[k], sizes[k] * sizeof(double));
        else
            for (size_t i = 0; i < sizes[k]; i++) bufs[k][i] = ((const float *)src[k])[i];
    }
    *out = (gs_batch){.inputs = bufs[0], .rows = b->rows,
                      .targets = {.values = bufs[1], .labels = b->targets.labels}};
    return GS_OK;
}

gs_status gs_gradcheck(const gs_net *net, const gs_batch *batch, double eps, uint64_t seed,
                       gs_check_report *report, gs_error *err)
{
    gs_error_clear(err);
    if (!(eps >= 0 && isfinite(eps))) return gs_fail(err, GS_EINVAL, "eps", "must be >= 0");
    if (eps == 0) eps = 1e-6;
    gs_net_def def = net->def;
    def.dtype = GS_FLOAT64;
    const gs_allocator *A = &net->alloc;
    double *bufs[2] = {NULL, NULL};
    gs_pass *pass = NULL;
    gs_batch b;
    gs_status st;

    gs_net *n64 = gs_net_create(&def, NULL, A, err);
    if (!n64) return err ? err->status : GS_ENOMEM;
    gs_net_get_params(net, n64->params, GS_FLOAT64);
    for (size_t i = net->n_params; i < net->n_params + net->n_buffer_elems; i++) /* buffers */
        ((double *)n64->params)[i] = net->def.dtype == GS_FLOAT64 ? ((const double *)net->params)[i]
                                                                  : ((const float *)net->params)[i];
    if ((st = batch_f64(net, batch, &b, bufs, err))) goto done;
    if (!(pass = gs_pass_create(n64, b.rows, NULL, err))) {
        st = err ? err->status : GS_ENOMEM;
        goto done;
    }
    gs_pass_set_training(pass, 1, seed);
    double loss;
    if ((st = gs_backward(n64, pass, &b, 0, &loss, err))) goto done;

    /* Forward passes leave the grads slab alone: it keeps back-propagation's
     * answer while each parameter is nudged either way. */
    double *p = n64->params, *g = n64->grads;
    for (size_t t = 0; t < n64->n_tensors; t++) {
        size_t begin = n64->offsets[t], end = begin + gs_net_tensor_size(n64, t);
        gs_check_report r = {.passed = 1};
        for (size_t i = begin; i < end; i++) {
            double theta = p[i], h = eps * fmax(1.0, fabs(theta)), up, down;
            p[i] = theta + h;
            gs_forward(n64, pass, &b, &up, err);
            p[i] = theta - h;
            gs_forward(n64, pass, &b, &down, err);
            p[i] = theta;
            double numeric = (up - down) / ((theta + h) - (theta - h));
            double abs_err = fabs(g[i] - numeric);
            double rel_err = abs_err / fmax(fmax(fabs(g[i]), fabs(numeric)), 1e-8);
            if (!(abs_err <= r.max_abs_error)) r.max_abs_error = abs_err; /* NaN sticks */
            if (!(rel_err <= r.max_rel_error)) {
                r.max_rel_error = rel_err;
                r.worst_index = i - begin;
            }
            r.passed &= abs_err <= GS_GRADCHECK_ATOL + GS_GRADCHECK_RTOL * fabs(numeric);
            r.checked++;
        }
        report[t] = r;
    }
    st = GS_OK;
done:
    gs_pass_free(pass);
    gs_free(A, bufs[0]);
    gs_free(A, bufs[1]);
    gs_net_free(n64);
    return st;
}
