/* Passes: the activation buffers of a batch, and the public forward and
 * backward calls, dispatching to the float and double kernels. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

#define PER_DTYPE_IMPL "pass_impl.h"
#include "per_dtype.h"

/* Activations computed in place (a aliases z): linear, and relu, whose
 * derivative z > 0 reads the same from a > 0. */
static int in_place(gs_activation act)
{
    return act == GS_ACT_LINEAR || act == GS_ACT_RELU;
}

gs_pass *gs_pass_create(const gs_net *net, size_t max_rows, const gs_limits *lim,
                        gs_error *err)
{
    gs_error_clear(err);
    if (gs_pass_check_rows(net, max_rows, lim, err)) return NULL;
    const gs_net_def *def = &net->def;
    size_t L = def->n_layers, es = gs_dtype_size(def->dtype);
    gs_allocator A = net->alloc;

    /* Element count: per layer z, delta and (unless in place) a; then dL/dx;
     * then the work buffer. Each term is at most rows x max_width, checked
     * above; so is the sum of at most 3L + 1 of them, checked here. */
    size_t total = 0, bytes, n;
    for (size_t l = 0; l < L; l++) {
        size_t k = in_place(def->layers[l].activation) ? 2 : 3;
        if (!gs_mul_ok(max_rows * net->geom[l].out_n, k, &n) || !gs_add_ok(total, n, &total) ||
            !gs_add_ok(total, max_rows * net->geom[l].saved, &total) || /* saved <= out_n */
            !gs_add_ok(total, net->geom[l].saved_fixed, &total))
            goto too_big;
    }
    if (!gs_add_ok(total, max_rows * def->inputs, &total) ||
        !gs_add_ok(total, net->max_work, &total) || !gs_mul_ok(total, es, &bytes))
        goto too_big;

    gs_pass *p = gs_alloc_zero(&A, sizeof *p);
    if (!p) goto oom;
    p->alloc = A;
    p->net = net;
    p->max_rows = max_rows;
    p->z = gs_alloc(&A, 4 * L * sizeof(void *));
    p->slab = gs_alloc(&A, bytes);
    if (!p->z || !p->slab) {
        gs_pass_free(p);
        goto oom;
    }
    p->a = p->z + L;
    p->delta = p->z + 2 * L;
    p->saved = p->z + 3 * L;
    char *at = p->slab;
    for (size_t l = 0; l < L; l++) {
        size_t sz = max_rows * net->geom[l].out_n * es;
        p->z[l] = at, at += sz;
        p->delta[l] = at, at += sz;
        if (in_place(def->layers[l].activation))
            p->a[l] = p->z[l];
        else
            p->a[l] = at, at += sz;
        size_t saved = max_rows * net->geom[l].saved + net->geom[l].saved_fixed;
        p->saved[l] = saved ? at : NULL;
        at += saved * es;
    }
    p->input_grad = at;
    at += max_rows * def->inputs * es;
    p->work = at;
    return p;

too_big:
    gs_fail(err, GS_ELIMIT, "rows", "the activations of %zu rows do not fit in memory", max_rows);
    return NULL;
oom:
    gs_fail(err, GS_ENOMEM, "", "out of memory allocating activations for %zu rows", max_rows);
    return NULL;
}

void gs_pass_free(gs_pass *pass)
{
    if (!pass) return;
    gs_allocator A = pass->alloc;
    gs_free(&A, pass->slab);
    gs_free(&A, pass->z);
    gs_free(&A, pass);
}

const void *gs_pass_outputs(const gs_pass *pass)
{
    return pass->a[pass->net->def.n_layers - 1];
}

const void *gs_pass_input_grad(const gs_pass *pass) { return pass->input_grad; }

/* Masks: for each dropout layer in turn, [max_rows, out_n] draws in
 * row-major order, kept (1) when the uniform draw is >= p: each element kept
 * with probability 1 - p. Drawn in double and stored in the dtype, so a seed
 * gives the same bits in float32 and float64 (the gradient check's float64
 * copy sees the masks of the float32 request). */
void gs_pass_set_training(gs_pass *pass, int training, uint64_t seed)
{
    const gs_net *net = pass->net;
    pass->training = training;
    if (!training) return;
    gs_rng rng;
    gs_rng_seed(&rng, seed);
    for (size_t l = 0; l < net->def.n_layers; l++) {
        if (net->def.layers[l].type != GS_LAYER_DROPOUT) continue;
        double p = net->def.layers[l].p;
        size_t n = pass->max_rows * net->geom[l].saved;
        if (net->def.dtype == GS_FLOAT64)
            for (size_t i = 0; i < n; i++)
                ((double *)pass->saved[l])[i] = gs_rng_uniform(&rng) >= p;
        else
            for (size_t i = 0; i < n; i++)
                ((float *)pass->saved[l])[i] = gs_rng_uniform(&rng) >= p;
    }
}

const void *gs_pass_mask(const gs_pass *pass, size_t layer)
{
    const gs_net *net = pass->net;
    if (layer >= net->def.n_layers || net->def.layers[layer].type != GS_LAYER_DROPOUT ||
        !pass->training)
        return NULL;
    return pass->saved[layer];
}

const void *gs_pass_delta(const gs_pass *pass, size_t layer)
{
    return layer < pass->net->def.n_layers ? pass->delta[layer] : NULL;
}

const void *gs_pass_activation(const gs_pass *pass, size_t layer)
{
    return layer < pass->net->def.n_layers ? pass->a[layer] : NULL;
}

/* Checks shared by forward and backward, with the labels' range. */
static gs_status check_batch(const gs_net *net, const gs_pass *pass, const gs_batch *b,
                             int need_targets, gs_error *err)
{
    gs_error_clear(err);
    if (pass->net != net)
        return gs_fail(err, GS_EINVAL, "", "the pass was created for another network");
    if (!b->inputs) return gs_fail(err, GS_EINVAL, "inputs", "inputs are required");
    if (b->rows == 0) return gs_fail(err, GS_EINVAL, "inputs", "a batch needs at least one row");
    if (b->rows > pass->max_rows)
        return gs_fail(err, GS_EINVAL, "inputs", "%zu rows exceed the pass's %zu", b->rows,
                       pass->max_rows);
    /* torch's rule: a batch's variance needs two values per channel */
    for (size_t l = 0; pass->training && l < net->def.n_layers; l++) {
        const gs_layer_geom *g = &net->geom[l];
        if (net->def.layers[l].type == GS_LAYER_BATCH_NORM && b->rows * (g->in_n / g->in.dim[0]) < 2)
            return gs_fail(err, GS_EINVAL, "inputs",
                           "layer %zu (batch_norm) needs more than one value per channel in "
                           "training mode, and %zu row of [%zu] gives one",
                           l, b->rows, g->in_n);
    }
    const gs_targets *t = &b->targets;
    if (need_targets && !t->values && !t->labels)
        return gs_fail(err, GS_EINVAL, "targets", "targets are required");
    if (t->labels) {
        if (net->def.loss != GS_LOSS_CE)
            return gs_fail(err, GS_EINVAL, "targets",
                           "class labels need the cross_entropy loss; give values");
        size_t classes = gs_net_outputs(net);
        for (size_t r = 0; r < b->rows; r++)
            if (t->labels[r] < 0 || (uint64_t)t->labels[r] >= classes) {
                char field[32];
                snprintf(field, sizeof field, "targets/%zu", r);
                return gs_fail(err, GS_EINVAL, field, "class %lld is not in 0..%zu",
                               (long long)t->labels[r], classes - 1);
            }
    }
    return GS_OK;
}

/* The weight penalty (gs_net_def.l1, l2): returns l1 sum|W| + l2 sum W^2 over
 * the weights of the dense and conv2d layers (not biases, not the norms'
 * scales), summed in double; with grads, adds its gradient l1 sign(W) + 2 l2 W
 * to the grads slab (sign(0) = 0, as torch.sign). */
static double penalty(gs_net *net, int grads)
{
    const gs_net_def *def = &net->def;
    double l1 = def->l1, l2 = def->l2, total = 0;
    if (l1 == 0 && l2 == 0) return 0;
    int f64 = def->dtype == GS_FLOAT64;
    for (size_t t = 0; t < gs_net_tensor_count(net); t++) {
        gs_layer_type type = def->layers[gs_net_tensor_layer(net, t)].type;
        if ((type != GS_LAYER_DENSE && type != GS_LAYER_CONV2D) ||
            strcmp(gs_net_tensor_name(net, t), "weight") != 0)
            continue;
        size_t off = gs_net_tensor_offset(net, t), n = gs_net_tensor_size(net, t);
        for (size_t i = 0; i < n; i++) {
            double w = f64 ? ((const double *)net->params)[off + i]
                           : ((const float *)net->params)[off + i];
            double sign = (w > 0) - (w < 0);
            total += l1 * fabs(w) + l2 * w * w;
            if (!grads) continue;
            double g = l1 * sign + 2 * l2 * w;
            if (f64) ((double *)net->grads)[off + i] += g;
            else ((float *)net->grads)[off + i] += (float)g;
        }
    }
    return total;
}

gs_status gs_forward(gs_net *net, gs_pass *pass, const gs_batch *batch, double *loss,
                     gs_error *err)
{
    gs_status st = check_batch(net, pass, batch, 0, err);
    if (st) return st;
    if (net->def.dtype == GS_FLOAT64) st = gs_pass_forward_f64(net, pass, batch, loss, 0, err);
    else st = gs_pass_forward_f32(net, pass, batch, loss, 0, err);
    if (!st && loss && (batch->targets.values || batch->targets.labels)) *loss += penalty(net, 0);
    return st;
}

gs_status gs_backward(gs_net *net, gs_pass *pass, const gs_batch *batch, unsigned keep,
                      double *loss, gs_error *err)
{
    gs_status st = check_batch(net, pass, batch, 1, err);
    if (st) return st;
    double l = 0;
    int input_grad = (keep & GS_KEEP_INPUT_GRAD) != 0;
    if (net->def.dtype == GS_FLOAT64) {
        gs_pass_forward_f64(net, pass, batch, &l, 1, err);
        gs_pass_backward_f64(net, pass, batch, input_grad);
    } else {
        gs_pass_forward_f32(net, pass, batch, &l, 1, err);
        gs_pass_backward_f32(net, pass, batch, input_grad);
    }
    l += penalty(net, 1);
    if (loss) *loss = l;
    return GS_OK;
}
