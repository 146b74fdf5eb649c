/* The training loop: epochs of mini-batches, optionally shuffled, each a
 * forward, a backward and an optimizer step. */
#include "internal.h"

#include <math.h>
#include <string.h>

static size_t batch_rows(const gs_train_def *def, size_t rows)
{
    return def->batch_size && def->batch_size < rows ? def->batch_size : rows;
}

uint64_t gs_train_mask_seed(uint64_t seed, size_t step)
{
    return seed ^ (0x9e3779b97f4a7c15ull * ((uint64_t)step + 1));
}

size_t gs_train_steps(const gs_train_def *def, size_t rows)
{
    if (rows == 0) return 0;
    size_t bs = batch_rows(def, rows), per_epoch = rows / bs + (rows % bs != 0), steps;
    return gs_mul_ok(def->epochs, per_epoch, &steps) ? steps : SIZE_MAX;
}

/* Buffers for gathering shuffled rows: [bs, inputs] and [bs, outputs] or [bs]. */
typedef struct {
    size_t *perm;
    char *x, *t;
    int64_t *labels;
} shuffle_bufs;

static void shuffle_free(const gs_allocator *A, shuffle_bufs *s)
{
    gs_free(A, s->perm);
    gs_free(A, s->x);
    gs_free(A, s->t);
    gs_free(A, s->labels);
}

/* Fisher-Yates from the run's generator: (next mod i+1) has a bias below
 * 2^-40 for any batch the limits allow. */
static void permute(size_t *perm, size_t n, gs_rng *rng)
{
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)(gs_rng_next(rng) % (i + 1)), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

gs_status gs_train(gs_net *net, gs_optim *opt, const gs_train_def *def,
                   const gs_batch *data, const gs_limits *lim, double *loss_history,
                   size_t *steps_done, gs_error *err)
{
    gs_error_clear(err);
    if (steps_done) *steps_done = 0;
    if (!data->targets.values && !data->targets.labels)
        return gs_fail(err, GS_EINVAL, "targets", "targets are required");
    size_t rows = data->rows, bs = batch_rows(def, rows);
    size_t es = gs_dtype_size(net->def.dtype), in = net->def.inputs, out = gs_net_outputs(net);
    gs_allocator A = net->alloc;
    gs_pass *pass = gs_pass_create(net, bs, lim, err);
    if (!pass) return err ? err->status : GS_ENOMEM;

    shuffle_bufs sh = {0};
    if (def->shuffle) {
        sh.perm = gs_alloc(&A, rows * sizeof *sh.perm); /* rows <= limits, checked by pass */
        sh.x = gs_alloc(&A, bs * in * es);
        if (data->targets.labels)
            sh.labels = gs_alloc(&A, bs * sizeof *sh.labels);
        else
            sh.t = gs_alloc(&A, bs * out * es);
        if (!sh.perm || !sh.x || !(sh.labels || sh.t)) {
            shuffle_free(&A, &sh);
            gs_pass_free(pass);
            return gs_fail(err, GS_ENOMEM, "", "out of memory allocating the shuffle buffers");
        }
        for (size_t i = 0; i < rows; i++) sh.perm[i] = i;
    }

    gs_rng rng;
    gs_rng_seed(&rng, def->seed);
    gs_status st = GS_OK;
    size_t step = 0;
    const char *x = data->inputs, *tv = data->targets.values;
    for (size_t e = 0; e < def->epochs && !st; e++) {
        if (def->shuffle) permute(sh.perm, rows, &rng);
        for (size_t start = 0; start < rows && !st; start += bs, step++) {
            size_t n = rows - start < bs ? rows - start : bs;
            if (def->cancel && def->cancel(def->cancel_ctx)) {
                st = gs_fail(err, GS_ECANCELED, "", "stopped before step %zu", step);
                break;
            }
            gs_batch b = {.rows = n};
            if (!def->shuffle) {
                b.inputs = x + start * in * es;
                if (tv) b.targets.values = tv + start * out * es;
                if (data->targets.labels) b.targets.labels = data->targets.labels + start;
            } else {
                for (size_t r = 0; r < n; r++) {
                    size_t src = sh.perm[start + r];
                    memcpy(sh.x + r * in * es, x + src * in * es, in * es);
                    if (sh.t) memcpy(sh.t + r * out * es, tv + src * out * es, out * es);
                    if (sh.labels) sh.labels[r] = data->targets.labels[src];
                }
                b.inputs = sh.x;
                b.targets.values = sh.t;
                b.targets.labels = sh.labels;
            }
            /* step k's dropout masks: their own stream, apart from the shuffle's */
            gs_pass_set_training(pass, 1, gs_train_mask_seed(def->seed, step));
            double loss = 0;
            if ((st = gs_backward(net, pass, &b, 0, &loss, err))) break;
            if (loss_history) loss_history[step] = loss;
            if (!isfinite(loss))
                st = gs_fail(err, GS_EDIVERGED, "", "the loss became %g at step %zu", loss, step);
            else if ((st = gs_optim_step(opt, net, NULL, err)) == GS_EDIVERGED)
                gs_fail(err, GS_EDIVERGED, "", "the gradient became non-finite at step %zu", step);
            if (st) break;
            if (steps_done) *steps_done = step + 1;
        }
    }
    if (st && err) err->step = step;
    shuffle_free(&A, &sh);
    gs_pass_free(pass);
    return st;
}
