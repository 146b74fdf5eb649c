/* Core library tests that need no fixtures: BLAS path against the reference
 * loops, back-propagation against finite differences, stable numerics at
 * extremes, determinism, reductions, limits, allocation failures, training. */
#include "check.h"
#include "gradserve.h"
#include "lib/counting_alloc.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------------ */

typedef struct {
    gs_net_def def;
    gs_layer_def layers[4];
} netspec;

/* The definition, its layers pointer fixed to where the spec now lives. */
#define DEF(s) ((s).def.layers = (s).layers, &(s).def)

static netspec spec(size_t inputs, gs_loss loss, gs_dtype dtype, size_t n,
                    const gs_layer_def *layers)
{
    netspec s;
    gs_net_def_init(&s.def);
    s.def.inputs = inputs;
    s.def.loss = loss;
    s.def.dtype = dtype;
    s.def.n_layers = n;
    for (size_t i = 0; i < n; i++) s.layers[i] = layers[i];
    return s;
}

/* n random values of the dtype in [-scale, scale], from seed. */
static void *random_buf(gs_dtype t, size_t n, double scale, uint64_t seed)
{
    gs_rng r;
    gs_rng_seed(&r, seed);
    void *p = malloc(n * gs_dtype_size(t) + 1);
    for (size_t i = 0; i < n; i++) {
        double v = scale * (2 * gs_rng_uniform(&r) - 1);
        if (t == GS_FLOAT64) ((double *)p)[i] = v;
        else ((float *)p)[i] = (float)v;
    }
    return p;
}

static double at(const void *p, gs_dtype t, size_t i)
{
    return t == GS_FLOAT64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

/* max |a - b| / max(max |b|, 1e-30) over n elements. */
static double rel_diff(const void *a, const void *b, gs_dtype t, size_t n)
{
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(at(a, t, i) - at(b, t, i)));
        den = fmax(den, fabs(at(b, t, i)));
    }
    return num / den;
}

static int all_finite(const void *p, gs_dtype t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(at(p, t, i))) return 0;
    return 1;
}

/* One backward pass on a fresh net: params and batch from seeds. */
typedef struct {
    gs_net *net;
    gs_pass *pass;
    void *x, *t;
    int64_t *labels;
    gs_batch batch;
    double loss;
    gs_status status;
} run;

static run run_backward(const gs_net_def *def, size_t rows, uint64_t seed, double xscale)
{
    run r = {0};
    gs_error err;
    r.net = gs_net_create(def, NULL, NULL, &err);
    if (!r.net) {
        r.status = err.status;
        return r;
    }
    gs_net_init_params(r.net, GS_INIT_TORCH_DEFAULT, seed);
    size_t out = gs_net_outputs(r.net);
    r.x = random_buf(def->dtype, rows * def->inputs, xscale, seed + 1);
    r.batch = (gs_batch){.inputs = r.x, .rows = rows};
    if (def->loss == GS_LOSS_CE) {
        r.labels = malloc(rows * sizeof *r.labels);
        for (size_t i = 0; i < rows; i++) r.labels[i] = (int64_t)((i * 7 + seed) % out);
        r.batch.targets.labels = r.labels;
    } else {
        r.t = random_buf(def->dtype, rows * out, 1.0, seed + 2);
        if (def->loss == GS_LOSS_BCE) /* probabilities in [0, 1] */
            for (size_t i = 0; i < rows * out; i++) {
                double v = 0.5 + 0.5 * at(r.t, def->dtype, i);
                if (def->dtype == GS_FLOAT64) ((double *)r.t)[i] = v;
                else ((float *)r.t)[i] = (float)v;
            }
        r.batch.targets.values = r.t;
    }
    r.pass = gs_pass_create(r.net, rows, NULL, &err);
    r.status = gs_backward(r.net, r.pass, &r.batch, GS_KEEP_INPUT_GRAD, &r.loss, &err);
    return r;
}

static void run_free(run *r)
{
    gs_pass_free(r->pass);
    gs_net_free(r->net);
    free(r->x);
    free(r->t);
    free(r->labels);
}

/* A spread of networks: every activation, every loss, non-square, deep. */
static netspec zoo(int k, gs_dtype t)
{
    static const gs_activation hidden[] = {GS_ACT_RELU, GS_ACT_LEAKY_RELU, GS_ACT_ELU,
                                           GS_ACT_GELU, GS_ACT_SIGMOID, GS_ACT_TANH,
                                           GS_ACT_SOFTPLUS, GS_ACT_LINEAR};
    gs_activation h = hidden[k % 8];
    switch (k % 5) {
    case 0: return spec(7, GS_LOSS_MSE, t, 3, (gs_layer_def[]){gs_layer(5, h), gs_layer(9, GS_ACT_TANH), gs_layer(3, GS_ACT_LINEAR)});
    case 1: return spec(3, GS_LOSS_CE, t, 2, (gs_layer_def[]){gs_layer(6, h), gs_layer(4, GS_ACT_SOFTMAX)});
    case 2: return spec(5, GS_LOSS_BCE, t, 2, (gs_layer_def[]){gs_layer(8, h), gs_layer(2, GS_ACT_SIGMOID)});
    case 3: return spec(4, GS_LOSS_HUBER, t, 2, (gs_layer_def[]){gs_layer(3, h), gs_layer(6, GS_ACT_SOFTMAX)});
    default: return spec(6, GS_LOSS_L1, t, 2, (gs_layer_def[]){gs_layer(10, h), gs_layer(2, GS_ACT_LINEAR)});
    }
}

/* ---- tests -------------------------------------------------------------------- */

/* The BLAS path and the reference loops agree on every output of a pass. */
static void test_blas_matches_reference(void)
{
    for (int dt = 0; dt < 2; dt++)
        for (int k = 0; k < 16; k++) {
            netspec s = zoo(k, (gs_dtype)dt);
            size_t rows = 1 + (size_t)k * 3;
            s.def.gemm = GS_GEMM_BLAS;
            run b = run_backward(DEF(s), rows, 100 + k, 2.0);
            s.def.gemm = GS_GEMM_REFERENCE;
            run r = run_backward(DEF(s), rows, 100 + k, 2.0);
            double tol = dt ? 1e-12 : 1e-5;
            CHECK(b.status == GS_OK && r.status == GS_OK, "status %d %d", b.status, r.status);
            CHECK_CLOSE(b.loss, r.loss, tol, "loss");
            size_t np = gs_net_param_count(b.net);
            CHECK(rel_diff(gs_net_grads(b.net), gs_net_grads(r.net), s.def.dtype, np) < tol,
                  "grads zoo %d dtype %d", k, dt);
            CHECK(rel_diff(gs_pass_input_grad(b.pass), gs_pass_input_grad(r.pass), s.def.dtype,
                           rows * s.def.inputs) < tol, "input grad zoo %d", k);
            for (size_t l = 0; l < s.def.n_layers; l++)
                CHECK(rel_diff(gs_pass_delta(b.pass, l), gs_pass_delta(r.pass, l), s.def.dtype,
                               rows * s.layers[l].units) < tol, "delta %zu zoo %d", l, k);
            run_free(&b);
            run_free(&r);
        }
}

/* Back-propagation agrees with central differences on random networks. */
static void test_gradcheck_random_networks(void)
{
    for (int k = 0; k < 20; k++) {
        netspec s = zoo(k, k % 2 ? GS_FLOAT64 : GS_FLOAT32);
        run r = run_backward(DEF(s), 5, 7 + k, 1.5);
        gs_check_report rep[8];
        gs_error err;
        CHECK(gs_gradcheck(r.net, &r.batch, 0, 0, rep, &err) == GS_OK, "%s", err.message);
        for (size_t t = 0; t < 2 * s.def.n_layers; t++) {
            CHECK(rep[t].checked > 0, "tensor %zu checked nothing", t);
            CHECK(rep[t].max_abs_error < 1e-7, "zoo %d tensor %zu abs err %g", k, t,
                  rep[t].max_abs_error);
            CHECK(rep[t].passed, "zoo %d tensor %zu did not pass", k, t);
        }
        run_free(&r);
    }
}

/* The check finds a wrong gradient: the reported loss's own derivative. A
 * loss of sum-reduction equals rows x the mean one, and so do its gradients. */
static void test_mean_and_sum_reductions(void)
{
    netspec s = zoo(0, GS_FLOAT64);
    run mean = run_backward(DEF(s), 6, 3, 1.0);
    s.def.reduction = GS_REDUCE_SUM;
    run sum = run_backward(DEF(s), 6, 3, 1.0);
    size_t count = 6 * 3; /* rows x outputs for mse */
    CHECK_CLOSE(sum.loss, mean.loss * count, 1e-12, "sum = count x mean");
    size_t np = gs_net_param_count(sum.net);
    const double *gs = gs_net_grads(sum.net), *gm = gs_net_grads(mean.net);
    for (size_t i = 0; i < np; i++) CHECK_CLOSE(gs[i], gm[i] * count, 1e-10, "grad");
    run_free(&mean);
    run_free(&sum);
}

/* With sum reduction, the gradients of two shards add up to the whole batch's. */
static void test_sum_shards_add_up(void)
{
    netspec s = zoo(1, GS_FLOAT64);
    s.def.reduction = GS_REDUCE_SUM;
    run whole = run_backward(DEF(s), 8, 11, 1.0);
    gs_error err;
    gs_net *net = gs_net_create(DEF(s), NULL, NULL, &err);
    gs_net_set_params(net, gs_net_params(whole.net), GS_FLOAT64);
    gs_pass *pass = gs_pass_create(net, 8, NULL, &err);
    size_t np = gs_net_param_count(net);
    double *acc = calloc(np, sizeof *acc), loss = 0, l;
    for (size_t start = 0; start < 8; start += 5) { /* shards of 5 and 3 rows */
        size_t n = start ? 3 : 5;
        gs_batch b = {.inputs = (double *)whole.x + start * s.def.inputs, .rows = n,
                      .targets.labels = whole.labels + start};
        CHECK(gs_backward(net, pass, &b, 0, &l, &err) == GS_OK, "%s", err.message);
        loss += l;
        for (size_t i = 0; i < np; i++) acc[i] += ((double *)gs_net_grads(net))[i];
    }
    CHECK_CLOSE(loss, whole.loss, 1e-12, "loss");
    CHECK(rel_diff(acc, gs_net_grads(whole.net), GS_FLOAT64, np) < 1e-12, "sharded grads");
    free(acc);
    gs_pass_free(pass);
    gs_net_free(net);
    run_free(&whole);
}

/* Mean reduction: a batch [x, x] gives the gradients of [x]. */
static void test_duplicated_batch_same_mean_gradients(void)
{
    netspec s = zoo(2, GS_FLOAT64);
    run one = run_backward(DEF(s), 1, 5, 1.0);
    gs_error err;
    gs_net *net = gs_net_create(DEF(s), NULL, NULL, &err);
    gs_net_set_params(net, gs_net_params(one.net), GS_FLOAT64);
    gs_pass *pass = gs_pass_create(net, 2, NULL, &err);
    double x[10], t[4], loss;
    for (int i = 0; i < 10; i++) x[i] = ((double *)one.x)[i % 5];
    for (int i = 0; i < 4; i++) t[i] = ((double *)one.t)[i % 2];
    gs_batch b = {.inputs = x, .rows = 2, .targets.values = t};
    CHECK(gs_backward(net, pass, &b, 0, &loss, &err) == GS_OK, "%s", err.message);
    CHECK_CLOSE(loss, one.loss, 1e-14, "loss");
    CHECK(rel_diff(gs_net_grads(net), gs_net_grads(one.net), GS_FLOAT64,
                   gs_net_param_count(net)) < 1e-14, "grads");
    gs_pass_free(pass);
    gs_net_free(net);
    run_free(&one);
}

/* Logits of +-1000: cross-entropies stay finite and equal the stable forms. */
/* gs_net_create_ex with both UNINIT flags: slabs of garbage (NaN bytes
 * here) give the same grads as zeroed ones once the params are set, since
 * gs_backward writes every gradient; flags 0 zero both slabs. */
static void test_net_create_uninit(void)
{
    for (int dt = 0; dt < 2; dt++) {
        gs_dtype t = (gs_dtype)dt;
        netspec s = spec(3, GS_LOSS_MSE, t, 2,
                         (gs_layer_def[]){gs_layer(4, GS_ACT_TANH), gs_layer(2, GS_ACT_RELU)});
        gs_error err;
        gs_net *z = gs_net_create_ex(DEF(s), NULL, NULL, 0, &err);
        gs_net *u = gs_net_create_ex(DEF(s), NULL, NULL, GS_NET_UNINIT_PARAMS | GS_NET_UNINIT_GRADS,
                                     &err);
        CHECK(z && u, "created: %s", err.message);
        if (!z || !u) return;
        size_t np = gs_net_param_count(z), es = gs_dtype_size(t);
        int zeroed = 1;
        for (size_t i = 0; i < np; i++)
            zeroed &= at(gs_net_params(z), t, i) == 0 && at(gs_net_grads(z), t, i) == 0;
        CHECK(zeroed, "flags 0: both slabs zeroed");
        memset(gs_net_params(u), 0xff, np * es);
        memset(gs_net_grads(u), 0xff, np * es);
        gs_net_init_params(z, GS_INIT_XAVIER_UNIFORM, 3);
        gs_net_init_params(u, GS_INIT_XAVIER_UNIFORM, 3);
        gs_pass *pz = gs_pass_create(z, 2, NULL, &err), *pu = gs_pass_create(u, 2, NULL, &err);
        double x64[6] = {0.5, -1, 2, 0.25, 0, -0.75}, y64[4] = {1, 0, 0, 1};
        float x32[6], y32[4];
        for (int i = 0; i < 6; i++) x32[i] = (float)x64[i];
        for (int i = 0; i < 4; i++) y32[i] = (float)y64[i];
        gs_batch b = {.inputs = dt ? (void *)x64 : (void *)x32, .rows = 2,
                      .targets.values = dt ? (void *)y64 : (void *)y32};
        double lz, lu;
        CHECK(gs_backward(z, pz, &b, 0, &lz, &err) == GS_OK, "%s", err.message);
        CHECK(gs_backward(u, pu, &b, 0, &lu, &err) == GS_OK, "%s", err.message);
        CHECK(lz == lu, "same loss: %g vs %g", lz, lu);
        CHECK(memcmp(gs_net_grads(z), gs_net_grads(u), np * es) == 0,
              "every gradient written by gs_backward");
        gs_pass_free(pz);
        gs_pass_free(pu);
        gs_net_free(z);
        gs_net_free(u);
    }
}

/* GS_NET_DEF_CHECKED builds the same net from a definition that passed the
 * check (the server's network cache hands such ones over): same layout and
 * parameter count, and the same pass results; without the flag a bad
 * definition is still refused. */
static void test_net_create_checked(void)
{
    netspec s = spec(3, GS_LOSS_MSE, GS_FLOAT32, 3,
                     (gs_layer_def[]){gs_layer(5, GS_ACT_TANH), gs_layer(4, GS_ACT_RELU),
                                      gs_layer(2, GS_ACT_LINEAR)});
    gs_error err;
    CHECK(gs_net_def_check(DEF(s), NULL, &err) == GS_OK, "%s", err.message);
    gs_net *a = gs_net_create_ex(DEF(s), NULL, NULL, 0, &err);
    gs_net *b = gs_net_create_ex(DEF(s), NULL, NULL, GS_NET_DEF_CHECKED, &err);
    CHECK(a && b, "created: %s", err.message);
    if (!a || !b) return;
    CHECK(gs_net_param_count(a) == gs_net_param_count(b) && gs_net_max_width(a) == gs_net_max_width(b) &&
              gs_net_outputs(a) == gs_net_outputs(b),
          "same sizes: %zu vs %zu params", gs_net_param_count(a), gs_net_param_count(b));
    for (size_t l = 0; l < 3; l++)
        CHECK(gs_net_weight_offset(a, l) == gs_net_weight_offset(b, l) &&
                  gs_net_bias_offset(a, l) == gs_net_bias_offset(b, l),
              "layer %zu at the same offsets", l);
    gs_net_free(a);
    gs_net_free(b);
    netspec bad = spec(3, GS_LOSS_MSE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(0, GS_ACT_TANH)});
    CHECK(!gs_net_create_ex(DEF(bad), NULL, NULL, 0, &err), "0 units refused without the flag");
}

static void test_extreme_logits(void)
{
    for (int dt = 0; dt < 2; dt++) {
        gs_dtype t = (gs_dtype)dt;
        /* identity-like layer: z = x, 3 classes, the wrong class far ahead */
        netspec s = spec(3, GS_LOSS_CE, t, 1, (gs_layer_def[]){gs_layer(3, GS_ACT_LINEAR)});
        gs_error err;
        gs_net *net = gs_net_create(DEF(s), NULL, NULL, &err);
        double p64[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
        gs_net_set_params(net, p64, GS_FLOAT64);
        gs_pass *pass = gs_pass_create(net, 2, NULL, &err);
        double x64[6] = {1000, 0, -1000, -1e5, -1e5, -1e5};
        float x32[6];
        for (int i = 0; i < 6; i++) x32[i] = (float)x64[i];
        int64_t labels[2] = {2, 1};
        gs_batch b = {.inputs = dt ? (void *)x64 : (void *)x32, .rows = 2, .targets.labels = labels};
        double loss;
        CHECK(gs_backward(net, pass, &b, 0, &loss, &err) == GS_OK, "%s", err.message);
        /* row 0: lse(1000, 0, -1000) - (-1000) = 2000; row 1: log 3; mean of rows */
        CHECK_CLOSE(loss, (2000 + log(3.0)) / 2, 1e-6, "ce loss");
        const void *d = gs_pass_delta(pass, 0);
        CHECK_CLOSE(at(d, t, 2), -0.5, 1e-6, "dL/dz at the target = (p - 1)/B");
        CHECK_CLOSE(at(d, t, 0), 0.5, 1e-6, "dL/dz at the winner = (1 - 0)/B");
        CHECK(all_finite(gs_net_grads(net), t, 12), "grads finite");
        gs_pass_free(pass);
        gs_net_free(net);

        /* BCE from logits +-1000 with a sigmoid last layer */
        s = spec(1, GS_LOSS_BCE, t, 1, (gs_layer_def[]){gs_layer(1, GS_ACT_SIGMOID)});
        net = gs_net_create(DEF(s), NULL, NULL, &err);
        double w[2] = {1, 0};
        gs_net_set_params(net, w, GS_FLOAT64);
        pass = gs_pass_create(net, 2, NULL, &err);
        double bx64[2] = {1000, -1000}, bt64[2] = {0, 0};
        float bx32[2] = {1000, -1000}, bt32[2] = {0, 0};
        b = (gs_batch){.inputs = dt ? (void *)bx64 : (void *)bx32, .rows = 2,
                       .targets.values = dt ? (void *)bt64 : (void *)bt32};
        CHECK(gs_backward(net, pass, &b, 0, &loss, &err) == GS_OK, "%s", err.message);
        CHECK_CLOSE(loss, 500.0, 1e-6, "bce loss: (1000 + 0) / 2");
        CHECK(all_finite(gs_net_grads(net), t, 2), "bce grads finite");
        CHECK_CLOSE(at(gs_net_grads(net), t, 0), 500.0, 1e-6, "dL/dw = mean(sigmoid(z) x)");
        gs_pass_free(pass);
        gs_net_free(net);
    }
}

/* Every activation at pre-activations of +-1e3 gives finite values and
 * gradients (zero where the function saturates). */
static void test_activations_at_extremes(void)
{
    for (int dt = 0; dt < 2; dt++)
        for (int a = 0; a < GS_ACT_COUNT; a++) {
            gs_dtype t = (gs_dtype)dt;
            netspec s = spec(1, GS_LOSS_MSE, t, 1, (gs_layer_def[]){gs_layer(2, (gs_activation)a)});
            gs_error err;
            gs_net *net = gs_net_create(DEF(s), NULL, NULL, &err);
            double w[4] = {1, -1, 0, 0};
            gs_net_set_params(net, w, GS_FLOAT64);
            gs_pass *pass = gs_pass_create(net, 3, NULL, &err);
            double x64[3] = {1e3, -1e3, 0}, t64[6] = {0};
            float x32[3] = {1e3f, -1e3f, 0}, t32[6] = {0};
            gs_batch b = {.inputs = dt ? (void *)x64 : (void *)x32, .rows = 3,
                          .targets.values = dt ? (void *)t64 : (void *)t32};
            double loss;
            CHECK(gs_backward(net, pass, &b, GS_KEEP_INPUT_GRAD, &loss, &err) == GS_OK, "%s",
                  err.message);
            CHECK(isfinite(loss), "%s loss %g", gs_activation_name((gs_activation)a), loss);
            CHECK(all_finite(gs_pass_outputs(pass), t, 6), "%s outputs",
                  gs_activation_name((gs_activation)a));
            CHECK(all_finite(gs_net_grads(net), t, 4), "%s grads",
                  gs_activation_name((gs_activation)a));
            CHECK(all_finite(gs_pass_input_grad(pass), t, 3), "%s input grad",
                  gs_activation_name((gs_activation)a));
            gs_pass_free(pass);
            gs_net_free(net);
        }
}

/* Two identical calls give identical bits; reused passes give fresh results. */
static void test_identical_calls_identical_bits(void)
{
    for (int k = 0; k < 10; k++) {
        netspec s = zoo(k, k % 2 ? GS_FLOAT64 : GS_FLOAT32);
        s.def.gemm = GS_GEMM_BLAS;
        run a = run_backward(DEF(s), 33, 9, 1.0);
        run b = run_backward(DEF(s), 33, 9, 1.0);
        size_t bytes = gs_net_param_count(a.net) * gs_dtype_size(s.def.dtype);
        CHECK(memcmp(gs_net_grads(a.net), gs_net_grads(b.net), bytes) == 0, "grads bits");
        CHECK(memcmp(&a.loss, &b.loss, sizeof a.loss) == 0, "loss bits");
        /* again on the same net and pass: gradients are written, not accumulated */
        double loss;
        gs_error err;
        gs_backward(a.net, a.pass, &a.batch, 0, &loss, &err);
        CHECK(memcmp(gs_net_grads(a.net), gs_net_grads(b.net), bytes) == 0, "second pass");
        run_free(&a);
        run_free(&b);
    }
}

/* Definitions are rejected with the field to blame, before allocation. */
static void test_definition_errors_name_the_field(void)
{
    gs_limits lim = {.max_layers = 4, .max_units = 1000, .max_params = 10000,
                     .max_batch_elems = 100000};
    struct {
        netspec s;
        gs_status status;
        const char *field;
    } cases[] = {
        {spec(0, GS_LOSS_MSE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(1, GS_ACT_LINEAR)}), GS_EINVAL, "inputs"},
        {spec(2, GS_LOSS_MSE, GS_FLOAT32, 2, (gs_layer_def[]){gs_layer(3, GS_ACT_RELU), gs_layer(0, GS_ACT_LINEAR)}), GS_EINVAL, "layers/1/units"},
        {spec(2, GS_LOSS_MSE, GS_FLOAT32, 2, (gs_layer_def[]){gs_layer(3, GS_ACT_SOFTMAX), gs_layer(1, GS_ACT_LINEAR)}), GS_EINVAL, "layers/0/activation"},
        {spec(2, GS_LOSS_BCE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(1, GS_ACT_RELU)}), GS_EINVAL, "layers/0/activation"},
        {spec(2, GS_LOSS_CE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(3, GS_ACT_TANH)}), GS_EINVAL, "layers/0/activation"},
        {spec(2, GS_LOSS_CE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(1, GS_ACT_SOFTMAX)}), GS_EINVAL, "layers/0/units"},
        {spec(2, GS_LOSS_MSE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(1001, GS_ACT_LINEAR)}), GS_ELIMIT, "layers/0/units"},
        {spec(2000, GS_LOSS_MSE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(1, GS_ACT_LINEAR)}), GS_ELIMIT, "inputs"},
        {spec(900, GS_LOSS_MSE, GS_FLOAT32, 2, (gs_layer_def[]){gs_layer(900, GS_ACT_RELU), gs_layer(1, GS_ACT_LINEAR)}), GS_ELIMIT, "layers/0/units"},
        {spec(2, (gs_loss)99, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(1, GS_ACT_LINEAR)}), GS_EINVAL, "loss"},
        {spec(2, GS_LOSS_MSE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(1, (gs_activation)42)}), GS_EINVAL, "layers/0/activation"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gs_error err;
        cases[i].s.def.layers = cases[i].s.layers;
        CHECK(gs_net_create(&cases[i].s.def, &lim, NULL, &err) == NULL, "case %zu accepted", i);
        CHECK(err.status == cases[i].status, "case %zu status %d", i, err.status);
        CHECK(strcmp(err.field, cases[i].field) == 0, "case %zu field '%s' want '%s'", i,
              err.field, cases[i].field);
        CHECK(err.message[0] != 0, "case %zu has no message", i);
    }
    /* sizes whose product overflows size_t are caught without a limit */
    netspec big = spec(SIZE_MAX / 4, GS_LOSS_MSE, GS_FLOAT32, 1,
                       (gs_layer_def[]){gs_layer(SIZE_MAX / 4, GS_ACT_LINEAR)});
    gs_error err;
    CHECK(gs_net_def_check(DEF(big), NULL, &err) == GS_ELIMIT, "status %d", err.status);
    /* a batch over the limit is refused before its activations are allocated */
    netspec s = spec(10, GS_LOSS_MSE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(100, GS_ACT_RELU)});
    gs_net *net = gs_net_create(DEF(s), &lim, NULL, &err);
    CHECK(gs_pass_create(net, 1001, &lim, &err) == NULL && err.status == GS_ELIMIT, "rows");
    CHECK(strcmp(err.field, "rows") == 0, "field %s", err.field);
    gs_net_free(net);
}

static void test_labels_out_of_range(void)
{
    netspec s = spec(2, GS_LOSS_CE, GS_FLOAT32, 1, (gs_layer_def[]){gs_layer(3, GS_ACT_SOFTMAX)});
    gs_error err;
    gs_net *net = gs_net_create(DEF(s), NULL, NULL, &err);
    gs_pass *pass = gs_pass_create(net, 4, NULL, &err);
    float x[8] = {0};
    int64_t labels[4] = {0, 2, 1, 3};
    gs_batch b = {.inputs = x, .rows = 4, .targets.labels = labels};
    double loss;
    CHECK(gs_backward(net, pass, &b, 0, &loss, &err) == GS_EINVAL, "accepted label 3");
    CHECK(strcmp(err.field, "targets/3") == 0, "field %s", err.field);
    labels[3] = -1;
    CHECK(gs_forward(net, pass, &b, &loss, &err) == GS_EINVAL, "accepted label -1");
    gs_pass_free(pass);
    gs_net_free(net);
}

/* The same seed gives the same weights in both dtypes; schemes have their
 * documented spread. */
static void test_init_schemes(void)
{
    netspec s = spec(400, GS_LOSS_MSE, GS_FLOAT64, 2,
                     (gs_layer_def[]){gs_layer(300, GS_ACT_RELU), gs_layer(2, GS_ACT_LINEAR)});
    gs_error err;
    gs_net *n64 = gs_net_create(DEF(s), NULL, NULL, &err);
    s.def.dtype = GS_FLOAT32;
    gs_net *n32 = gs_net_create(DEF(s), NULL, NULL, &err);
    for (int sc = 0; sc < GS_INIT_COUNT; sc++) {
        gs_net_init_params(n64, (gs_init_scheme)sc, 42);
        gs_net_init_params(n32, (gs_init_scheme)sc, 42);
        const double *p = gs_net_params(n64);
        const float *q = gs_net_params(n32);
        size_t nw = 300 * 400;
        int same = 1;
        double sum = 0, sq = 0, maxabs = 0;
        for (size_t i = 0; i < nw; i++) {
            same &= q[i] == (float)p[i];
            sum += p[i];
            sq += p[i] * p[i];
            maxabs = fmax(maxabs, fabs(p[i]));
        }
        CHECK(same, "%s: float32 weights are not the float64 ones rounded", gs_init_name(sc));
        double var = sq / nw - (sum / nw) * (sum / nw);
        double want_var[] = {1.0 / 3 / 400, 2.0 / 700, 2.0 / 700, 2.0 / 400, 2.0 / 400, 0};
        CHECK(fabs(var - want_var[sc]) <= 0.03 * want_var[sc] + 1e-300, "%s variance %g want %g",
              gs_init_name(sc), var, want_var[sc]);
        if (sc == GS_INIT_TORCH_DEFAULT) CHECK(maxabs <= 0.05, "bound 1/sqrt(400)");
        if (sc == GS_INIT_XAVIER_UNIFORM) CHECK(maxabs <= sqrt(6.0 / 700), "bound");
        double bias = p[gs_net_bias_offset(n64, 0)];
        CHECK(sc == GS_INIT_TORCH_DEFAULT ? bias != 0 : bias == 0, "%s bias %g",
              gs_init_name(sc), bias);
    }
    /* a documented generator: the first outputs for seed 0 are fixed forever */
    gs_rng r;
    gs_rng_seed(&r, 0);
    uint64_t first = gs_rng_next(&r);
    CHECK(first == 0x99ec5f36cb75f2b4ull, "xoshiro256** from splitmix64(0): %llx",
          (unsigned long long)first);
    gs_net_free(n64);
    gs_net_free(n32);
}

/* XOR: 2-4-1, tanh then sigmoid, BCE, trains from a fixed seed. */
static void test_xor_trains(void)
{
    netspec s = spec(2, GS_LOSS_BCE, GS_FLOAT32, 2,
                     (gs_layer_def[]){gs_layer(4, GS_ACT_TANH), gs_layer(1, GS_ACT_SIGMOID)});
    gs_error err;
    gs_net *net = gs_net_create(DEF(s), NULL, NULL, &err);
    gs_net_init_params(net, GS_INIT_XAVIER_UNIFORM, 1);
    gs_optim_def od;
    gs_optim_defaults(&od, GS_OPT_ADAM);
    od.lr = 0.05;
    gs_optim *opt = gs_optim_create(net, &od, &err);
    float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, t[4] = {0, 1, 1, 0};
    gs_batch data = {.inputs = x, .rows = 4, .targets.values = t};
    gs_train_def td = {.epochs = 500};
    double history[500];
    size_t done;
    CHECK(gs_train(net, opt, &td, &data, NULL, history, &done, &err) == GS_OK, "%s", err.message);
    CHECK(done == 500, "steps %zu", done);
    CHECK(history[499] < 0.05 && history[0] > 0.5, "loss %g -> %g", history[0], history[499]);
    gs_pass *pass = gs_pass_create(net, 4, NULL, &err);
    gs_forward(net, pass, &data, NULL, &err);
    const float *y = gs_pass_outputs(pass);
    for (int i = 0; i < 4; i++) CHECK((y[i] > 0.5f) == (t[i] > 0.5f), "row %d: %g", i, y[i]);
    gs_pass_free(pass);
    gs_optim_free(opt);
    gs_net_free(net);
}

/* Shuffled mini-batches: the step count includes the last partial batch, the
 * same seed repeats the run bit for bit, another seed differs. */
static void test_minibatches_and_shuffle(void)
{
    netspec s = zoo(0, GS_FLOAT64);
    gs_train_def td = {.epochs = 3, .batch_size = 4, .shuffle = 1, .seed = 5};
    CHECK(gs_train_steps(&td, 10) == 9, "3 epochs x ceil(10/4)");
    double result[3][400];
    double hist[3][9];
    for (int k = 0; k < 3; k++) {
        run r = run_backward(DEF(s), 10, 2, 1.0);
        gs_error err;
        gs_optim_def od;
        gs_optim_defaults(&od, GS_OPT_SGD);
        od.lr = 0.1;
        gs_optim *opt = gs_optim_create(r.net, &od, &err);
        td.seed = k == 2 ? 6 : 5;
        size_t done;
        CHECK(gs_train(r.net, opt, &td, &r.batch, NULL, hist[k], &done, &err) == GS_OK, "%s",
              err.message);
        CHECK(done == 9, "done %zu", done);
        memcpy(result[k], gs_net_params(r.net), gs_net_param_count(r.net) * sizeof(double));
        gs_optim_free(opt);
        run_free(&r);
    }
    size_t np = 7 * 5 + 5 + 5 * 9 + 9 + 9 * 3 + 3;
    CHECK(memcmp(result[0], result[1], np * sizeof(double)) == 0, "same seed, same params");
    CHECK(memcmp(result[0], result[2], np * sizeof(double)) != 0, "another seed differs");
    CHECK(memcmp(hist[0], hist[1], sizeof hist[0]) == 0, "same history");
}

/* A huge learning rate diverges: training stops at the step whose loss is
 * non-finite, the parameters stay those of the step before. */
static void test_divergence_stops_cleanly(void)
{
    netspec s = spec(2, GS_LOSS_MSE, GS_FLOAT32, 2,
                     (gs_layer_def[]){gs_layer(8, GS_ACT_RELU), gs_layer(1, GS_ACT_LINEAR)});
    run r = run_backward(DEF(s), 4, 1, 1.0);
    gs_error err;
    gs_optim_def od;
    gs_optim_defaults(&od, GS_OPT_SGD);
    od.lr = 1e12;
    gs_optim *opt = gs_optim_create(r.net, &od, &err);
    gs_train_def td = {.epochs = 100};
    double hist[100];
    size_t done = 99;
    gs_status st = gs_train(r.net, opt, &td, &r.batch, NULL, hist, &done, &err);
    CHECK(st == GS_EDIVERGED, "status %d", st);
    CHECK(err.step == done && done > 0 && done < 100, "step %zu done %zu", err.step, done);
    CHECK(!isfinite(hist[err.step]) || err.step == done, "the failing step's loss is kept");
    CHECK(strstr(err.message, "step") != NULL, "message '%s'", err.message);
    /* the params are those after `done` steps: a run of exactly that many agrees */
    run again = run_backward(DEF(s), 4, 1, 1.0);
    gs_optim *opt2 = gs_optim_create(again.net, &od, &err);
    td.epochs = done;
    CHECK(gs_train(again.net, opt2, &td, &again.batch, NULL, NULL, NULL, &err) == GS_OK, "rerun");
    CHECK(memcmp(gs_net_params(r.net), gs_net_params(again.net),
                 gs_net_param_count(r.net) * sizeof(float)) == 0, "params after step k-1");
    gs_optim_free(opt2);
    run_free(&again);
    gs_optim_free(opt);
    run_free(&r);
}

static int cancel_after_three(void *ctx)
{
    int *calls = ctx;
    return ++*calls > 3;
}

static void test_cancel_stops_with_step(void)
{
    netspec s = zoo(0, GS_FLOAT32);
    run r = run_backward(DEF(s), 4, 1, 1.0);
    gs_error err;
    gs_optim_def od;
    gs_optim_defaults(&od, GS_OPT_ADAM);
    gs_optim *opt = gs_optim_create(r.net, &od, &err);
    int calls = 0;
    gs_train_def td = {.epochs = 10, .cancel = cancel_after_three, .cancel_ctx = &calls};
    size_t done;
    CHECK(gs_train(r.net, opt, &td, &r.batch, NULL, NULL, &done, &err) == GS_ECANCELED, "st");
    CHECK(done == 3 && err.step == 3, "done %zu step %zu", done, err.step);
    CHECK(gs_optim_steps(opt) == 3, "optimizer steps %zu", gs_optim_steps(opt));
    gs_optim_free(opt);
    run_free(&r);
}

static void test_optimizer_rejects_bad_options(void)
{
    struct {
        gs_optim_kind kind;
        double lr, momentum, dampening, beta1;
        int nesterov;
        const char *field;
    } cases[] = {
        {GS_OPT_SGD, -1, 0, 0, 0.9, 0, "lr"},
        {GS_OPT_SGD, 0.1, -0.5, 0, 0.9, 0, "momentum"},
        {GS_OPT_SGD, 0.1, 0.9, 0.5, 0.9, 1, "nesterov"},
        {GS_OPT_SGD, 0.1, 0, 0, 0.9, 1, "nesterov"},
        {GS_OPT_ADAM, 0.1, 0, 0, 1.0, 0, "betas/0"},
        {GS_OPT_SGD, NAN, 0, 0, 0.9, 0, "lr"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gs_optim_def od;
        gs_optim_defaults(&od, cases[i].kind);
        od.lr = cases[i].lr;
        od.momentum = cases[i].momentum;
        od.dampening = cases[i].dampening;
        od.beta1 = cases[i].beta1;
        od.nesterov = cases[i].nesterov;
        gs_error err;
        CHECK(gs_optim_def_check(&od, &err) == GS_EINVAL, "case %zu accepted", i);
        CHECK(strcmp(err.field, cases[i].field) == 0, "case %zu field %s", i, err.field);
    }
}

/* ---- allocation ------------------------------------------------------------------ */

/* The default allocator puts blocks of 2 MiB and more on 2 MiB boundaries (for
 * huge pages) and smaller ones where malloc does; a network made through it
 * computes the same bits as one made through a plain malloc hook. */
static void *plain_malloc(size_t n, void *ctx)
{
    (void)ctx;
    return malloc(n);
}
static void plain_free(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

static void test_default_allocator(void)
{
    const gs_allocator *d = &gs_default_allocator;
    size_t sizes[] = {1, 4096, ((size_t)2 << 20) - 1, (size_t)2 << 20, ((size_t)5 << 20) + 3};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = d->malloc_fn(sizes[i], d->ctx);
        CHECK(p != NULL, "%zu bytes", sizes[i]);
        if (!p) continue;
        if (sizes[i] >= (size_t)2 << 20)
            CHECK((uintptr_t)p % ((size_t)2 << 20) == 0, "%zu bytes at %p", sizes[i], (void *)p);
        memset(p, 0xab, sizes[i]); /* all of it is ours (ASan would say otherwise) */
        d->free_fn(p, d->ctx);
    }

    /* a 784-512-10 net: its slabs pass 2 MiB */
    gs_layer_def layers[2] = {gs_layer(512, GS_ACT_RELU), gs_layer(10, GS_ACT_LINEAR)};
    gs_net_def def;
    gs_net_def_init(&def);
    def.inputs = 784;
    def.n_layers = 2;
    def.layers = layers;
    def.loss = GS_LOSS_CE;
    gs_allocator plain = {plain_malloc, plain_free, NULL};
    gs_error err;
    gs_net *a = gs_net_create(&def, NULL, NULL, &err), *b = gs_net_create(&def, NULL, &plain, &err);
    CHECK(a && b, "create: %s", err.message);
    if (!a || !b) goto done;
    gs_net_init_params(a, GS_INIT_TORCH_DEFAULT, 3);
    gs_net_init_params(b, GS_INIT_TORCH_DEFAULT, 3);
    enum { ROWS = 700 }; /* activations of 700 x 512 floats pass 1 MiB; inputs 2 MiB */
    float *x = malloc(ROWS * 784 * sizeof *x);
    int64_t labels[ROWS];
    gs_rng rng;
    gs_rng_seed(&rng, 9);
    for (size_t i = 0; x && i < ROWS * 784; i++) x[i] = (float)gs_rng_uniform(&rng) - 0.5f;
    for (size_t i = 0; i < ROWS; i++) labels[i] = (int64_t)(i % 10);
    gs_batch batch = {.inputs = x, .rows = ROWS, .targets.labels = labels};
    gs_pass *pa = gs_pass_create(a, ROWS, NULL, &err), *pb = gs_pass_create(b, ROWS, NULL, &err);
    double la = 0, lb = 1;
    CHECK(x && pa && pb && gs_backward(a, pa, &batch, 0, &la, &err) == GS_OK &&
              gs_backward(b, pb, &batch, 0, &lb, &err) == GS_OK,
          "backward: %s", err.message);
    CHECK(la == lb, "loss %.17g vs %.17g", la, lb);
    size_t n = gs_net_param_count(a);
    CHECK(memcmp(gs_net_grads(a), gs_net_grads(b), n * sizeof(float)) == 0, "gradients differ");
    gs_pass_free(pa);
    gs_pass_free(pb);
    free(x);
done:
    gs_net_free(a);
    gs_net_free(b);
}

/* ---- allocation failures -------------------------------------------------------- */


/* Every allocation of a whole training run and a gradient check can fail; each
 * failure gives GS_ENOMEM and leaves nothing allocated. */
static void test_every_allocation_can_fail(void)
{
    netspec s = zoo(1, GS_FLOAT32);
    float x[12] = {0};
    int64_t labels[4] = {0, 1, 2, 3};
    gs_batch data = {.inputs = x, .rows = 4, .targets.labels = labels};
    long total = -1;
    for (long k = 0; k < 200; k++) {
        counting c = {.fail_at = k};
        gs_allocator A = {counting_malloc, counting_free, &c};
        gs_error err = {0};
        gs_status st = GS_ENOMEM;
        gs_net *net = gs_net_create(DEF(s), NULL, &A, &err);
        if (net) {
            gs_optim_def od;
            gs_optim_defaults(&od, GS_OPT_ADAM);
            gs_optim *opt = gs_optim_create(net, &od, &err);
            if (opt) {
                gs_train_def td = {.epochs = 2, .batch_size = 3, .shuffle = 1};
                st = gs_train(net, opt, &td, &data, NULL, NULL, NULL, &err);
                gs_check_report rep[4];
                if (st == GS_OK) st = gs_gradcheck(net, &data, 0, 0, rep, &err);
                gs_optim_free(opt);
            }
            gs_net_free(net);
        }
        CHECK(c.live == 0, "failing allocation %ld leaks %ld blocks", k, c.live);
        if (c.count <= k) { /* nothing failed: the whole run needs k allocations */
            CHECK(st == GS_OK, "status %d", st);
            total = k;
            break;
        }
        CHECK(st == GS_ENOMEM && err.status == GS_ENOMEM, "allocation %ld: status %d", k, st);
    }
    CHECK(total > 5, "the run made %ld allocations", total);
}

/* The layer table's shapes on LeNet-5: every layer's rows, the parameter
 * tensors' dims and their count (torch's LeNet-5 of this form has 61,706),
 * and the shape errors of the wording, naming the layer and field. */
static void test_layer_shapes(void)
{
    gs_layer_def layers[8] = {
        gs_layer_conv2d(6, 5, 5, GS_ACT_RELU),  gs_layer_pool2d(GS_LAYER_MAX_POOL2D, 2),
        gs_layer_conv2d(16, 5, 5, GS_ACT_RELU), gs_layer_pool2d(GS_LAYER_MAX_POOL2D, 2),
        gs_layer_flatten(),                     gs_layer(120, GS_ACT_RELU),
        gs_layer(84, GS_ACT_RELU),              gs_layer(10, GS_ACT_LINEAR),
    };
    layers[0].padding[0] = layers[0].padding[1] = 2;
    gs_net_def def;
    gs_net_def_init(&def);
    def.inputs = 784;
    def.input_shape[0] = 1, def.input_shape[1] = def.input_shape[2] = 28;
    def.n_layers = 8;
    def.layers = layers;
    def.loss = GS_LOSS_CE;
    gs_error err = {0};
    gs_net *net = gs_net_create(&def, NULL, NULL, &err);
    CHECK(net != NULL, "LeNet-5: %s (%s)", err.message, err.field);
    if (!net) return;
    CHECK(gs_net_param_count(net) == 61706, "%zu parameters", gs_net_param_count(net));
    size_t outputs = 0;
    CHECK(gs_net_def_max_width(&def, &outputs) == 4704 && outputs == 10, "widest row, outputs");
    static const size_t want[8][3] = {{6, 28, 28}, {6, 14, 14}, {16, 10, 10}, {16, 5, 5},
                                      {400, 0, 0}, {120, 0, 0}, {84, 0, 0},  {10, 0, 0}};
    for (size_t l = 0; l < 8; l++) {
        gs_shape sh = gs_net_layer_shape(net, l);
        CHECK(sh.rank == (l < 4 ? 3u : 1u) && sh.dim[0] == want[l][0] &&
                  (sh.rank == 1 || (sh.dim[1] == want[l][1] && sh.dim[2] == want[l][2])),
              "layer %zu: rank %zu [%zu, %zu, %zu]", l, sh.rank, sh.dim[0], sh.dim[1], sh.dim[2]);
    }
    CHECK(gs_net_tensor_count(net) == 10, "%zu tensors", gs_net_tensor_count(net));
    size_t dims[4], first;
    CHECK(gs_net_tensor_dims(net, 2, dims) == 4 && dims[0] == 16 && dims[1] == 6 && dims[2] == 5 &&
              dims[3] == 5, "conv 2 weight dims");
    CHECK(gs_net_layer_tensors(net, 1, &first) == 0 && gs_net_layer_tensors(net, 5, &first) == 2 &&
              first == 4 && gs_net_tensor_layer(net, 4) == 5 &&
              !strcmp(gs_net_tensor_name(net, 5), "bias"),
          "tensors of the pool and of the first dense layer");
    /* torch's default: U(-b, b), b = 1/sqrt(fan_in), fan_in = C kh kw for a conv */
    gs_net_init_params(net, GS_INIT_TORCH_DEFAULT, 3);
    const float *p = gs_net_params(net);
    static const double fan_in[2] = {25, 150};
    for (size_t k = 0; k < 2; k++) {
        size_t t = 2 * k, off = gs_net_tensor_offset(net, t), n = gs_net_tensor_size(net, t);
        double bound = 1 / sqrt(fan_in[k]), max = 0;
        for (size_t i = 0; i < n; i++) max = fmax(max, fabs(p[off + i]));
        CHECK(max <= bound && max > 0.9 * bound, "conv %zu weights: max |w| %g, bound %g", k, max,
              bound);
    }
    gs_net_free(net);

    /* the errors: each names the layer and the field */
    const struct {
        size_t layer;
        gs_layer_def L;
        const char *field, *message;
    } bad[] = {
        {0, gs_layer_conv2d(4, 31, 31, GS_ACT_RELU), "layers/0/kernel_size",
         "31 does not fit the 28x28 input with padding 0"},
        {0, gs_layer_conv2d(0, 3, 3, GS_ACT_RELU), "layers/0/out_channels", NULL},
        {1, gs_layer_pool2d(GS_LAYER_MAX_POOL2D, 30), "layers/1/kernel_size", NULL},
        {5, gs_layer_dropout(1.0), "layers/5/p", NULL},
        {4, gs_layer(10, GS_ACT_RELU), "layers/4/type", NULL}, /* dense on [16, 5, 5] */
        {7, gs_layer_flatten(), NULL, NULL},                    /* fine: [10] stays [10] */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gs_layer_def copy[8];
        memcpy(copy, layers, sizeof copy);
        copy[bad[i].layer] = bad[i].L;
        if (bad[i].layer == 1) copy[1].padding[0] = copy[1].padding[1] = 0;
        def.layers = copy;
        gs_status st = gs_net_def_check(&def, NULL, &err);
        if (!bad[i].field) {
            CHECK(st == GS_OK, "case %zu: %s", i, err.message);
            continue;
        }
        CHECK(st == GS_EINVAL && !strcmp(err.field, bad[i].field), "case %zu: field '%s' (%s)", i,
              err.field, err.message);
        if (bad[i].message)
            CHECK(!strcmp(err.message, bad[i].message), "case %zu: message '%s'", i, err.message);
    }
}

int main(void)
{
    RUN(test_blas_matches_reference);
    RUN(test_gradcheck_random_networks);
    RUN(test_mean_and_sum_reductions);
    RUN(test_sum_shards_add_up);
    RUN(test_duplicated_batch_same_mean_gradients);
    RUN(test_net_create_uninit);
    RUN(test_net_create_checked);
    RUN(test_extreme_logits);
    RUN(test_activations_at_extremes);
    RUN(test_identical_calls_identical_bits);
    RUN(test_definition_errors_name_the_field);
    RUN(test_labels_out_of_range);
    RUN(test_init_schemes);
    RUN(test_xor_trains);
    RUN(test_minibatches_and_shuffle);
    RUN(test_divergence_stops_cleanly);
    RUN(test_cancel_stops_with_step);
    RUN(test_optimizer_rejects_bad_options);
    RUN(test_default_allocator);
    RUN(test_every_allocation_can_fail);
    RUN(test_layer_shapes);
    return CHECK_DONE();
}
