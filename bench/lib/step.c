/* The benchmarked step (bench/lib/step.h). */
#include "step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gradserve.h"

#define MAX_LAYERS 8

struct bench_step {
    gs_net *net;
    gs_pass *pass;
    gs_batch batch;
    float *inputs;    /* [B, inputs] */
    float *values;    /* MSE targets [B, outputs] */
    int64_t *labels;  /* CE labels [B] */
    double loss;
};

void *bench_alloc(size_t n)
{
    const size_t huge = (size_t)2 << 20;
    void *p = NULL;
    if (n < huge) return malloc(n ? n : 1);
    if (posix_memalign(&p, huge, n) != 0) return NULL;
    madvise(p, n & ~(huge - 1), MADV_HUGEPAGE);
    return p;
}

void bench_fill_uniform(float *x, size_t n, float lo, float hi, gs_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)gs_rng_uniform(rng);
}

bench_step *bench_step_new(const size_t *sizes, size_t n_sizes, size_t batch,
                           const char *loss, uint64_t seed, const char **why)
{
    const char *unused;
    if (!why) why = &unused;
    size_t n_layers = n_sizes - 1;
    if (n_sizes < 2 || n_layers > MAX_LAYERS || batch == 0 || !loss) {
        *why = "need 1 to 8 layers, a batch and a loss";
        return NULL;
    }
    gs_loss kind;
    if (!strcmp(loss, "mse")) kind = GS_LOSS_MSE;
    else if (!strcmp(loss, "ce")) kind = GS_LOSS_CE;
    else {
        *why = "loss must be mse or ce";
        return NULL;
    }
    bench_step *s = calloc(1, sizeof *s);
    if (!s) goto oom;

    gs_layer_def layers[MAX_LAYERS];
    for (size_t l = 0; l < n_layers; l++)
        layers[l] = gs_layer(sizes[l + 1], l + 1 < n_layers ? GS_ACT_RELU : GS_ACT_LINEAR);
    gs_net_def def;
    gs_net_def_init(&def);
    def.inputs = sizes[0];
    def.n_layers = n_layers;
    def.layers = layers;
    def.loss = kind;
    def.reduction = GS_REDUCE_MEAN;
    def.dtype = GS_FLOAT32;
    def.gemm = GS_GEMM_AUTO;

    gs_limits lim = {0};
    gs_error err;
    s->net = gs_net_create(&def, &lim, NULL, &err);
    if (!s->net) {
        *why = err.status == GS_ENOMEM ? "out of memory" : "bad net definition";
        goto fail;
    }
    gs_net_init_params(s->net, GS_INIT_TORCH_DEFAULT, seed);
    s->pass = gs_pass_create(s->net, batch, &lim, &err);
    if (!s->pass) {
        *why = err.status == GS_ENOMEM ? "out of memory" : "bad batch";
        goto fail;
    }

    gs_rng rng;
    gs_rng_seed(&rng, seed);
    size_t in = sizes[0], out = sizes[n_layers];
    s->inputs = bench_alloc(batch * in * sizeof(float));
    if (!s->inputs) goto oom;
    bench_fill_uniform(s->inputs, batch * in, -1.0f, 1.0f, &rng);
    s->batch.inputs = s->inputs;
    s->batch.rows = batch;
    if (kind == GS_LOSS_CE) {
        s->labels = bench_alloc(batch * sizeof(int64_t));
        if (!s->labels) goto oom;
        for (size_t i = 0; i < batch; i++)
            s->labels[i] = (int64_t)(gs_rng_next(&rng) % out);
        s->batch.targets.labels = s->labels;
    } else {
        s->values = bench_alloc(batch * out * sizeof(float));
        if (!s->values) goto oom;
        bench_fill_uniform(s->values, batch * out, -1.0f, 1.0f, &rng);
        s->batch.targets.values = s->values;
    }
    return s;
oom:
    *why = "out of memory";
fail:
    bench_step_free(s);
    return NULL;
}

bench_step *bench_lenet_new(size_t batch, uint64_t seed, const char **why)
{
    const char *unused;
    if (!why) why = &unused;
    gs_layer_def layers[8] = {
        gs_layer_conv2d(6, 5, 5, GS_ACT_RELU),  gs_layer_pool2d(GS_LAYER_MAX_POOL2D, 2),
        gs_layer_conv2d(16, 5, 5, GS_ACT_RELU), gs_layer_pool2d(GS_LAYER_MAX_POOL2D, 2),
        gs_layer_flatten(),                     gs_layer(120, GS_ACT_RELU),
        gs_layer(84, GS_ACT_RELU),              gs_layer(10, GS_ACT_LINEAR),
    };
    layers[0].padding[0] = layers[0].padding[1] = 2;
    gs_net_def def;
    gs_net_def_init(&def);
    def.inputs = 28 * 28;
    def.input_shape[0] = 1;
    def.input_shape[1] = def.input_shape[2] = 28;
    def.n_layers = 8;
    def.layers = layers;
    def.loss = GS_LOSS_CE;
    bench_step *s = calloc(1, sizeof *s);
    gs_error err;
    if (!s || !(s->net = gs_net_create(&def, NULL, NULL, &err)) ||
        !(s->pass = gs_pass_create(s->net, batch, NULL, &err)) ||
        !(s->inputs = bench_alloc(batch * def.inputs * sizeof(float))) ||
        !(s->labels = bench_alloc(batch * sizeof(int64_t)))) {
        *why = "out of memory or a bad batch";
        bench_step_free(s);
        return NULL;
    }
    gs_net_init_params(s->net, GS_INIT_TORCH_DEFAULT, seed);
    gs_rng rng;
    gs_rng_seed(&rng, seed);
    bench_fill_uniform(s->inputs, batch * def.inputs, 0.0f, 1.0f, &rng);
    for (size_t i = 0; i < batch; i++) s->labels[i] = (int64_t)(gs_rng_next(&rng) % 10);
    s->batch = (gs_batch){.inputs = s->inputs, .targets = {.labels = s->labels}, .rows = batch};
    return s;
}

int bench_step_run(bench_step *s, size_t calls)
{
    gs_error err;
    for (size_t c = 0; c < calls; c++)
        if (gs_backward(s->net, s->pass, &s->batch, 0, &s->loss, &err) != GS_OK) return -1;
    return isfinite(s->loss) ? 0 : -1;
}

double bench_step_loss(const bench_step *s)
{
    return s->loss;
}

void bench_step_free(bench_step *s)
{
    if (!s) return;
    gs_pass_free(s->pass);
    gs_net_free(s->net);
    free(s->inputs);
    free(s->values);
    free(s->labels);
    free(s);
}

void bench_step_set_threads(int n)
{
    gs_blas_set_threads(n);
}
