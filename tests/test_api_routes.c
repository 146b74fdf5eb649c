/* API tests: every route and option against the real server, with answers
 * compared bit for bit to the same computation run in-process through the
 * core library, and every response checked against openapi.yaml. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wire/codec.h"
#include "lib/apitest.h"

static int enc_of(const api_case *c)
{
    if (!c->out_enc || !strcmp(c->out_enc, "nested")) return API_NESTED;
    return !strcmp(c->out_enc, "flat") ? API_FLAT : API_B64;
}

static int loss_equal(const json_t *j, double want, const char *what)
{
    int ok = json_is_number(j) && json_number_value(j) == want;
    CHECK(ok, "%s: loss %.17g, want %.17g", what, json_number_value(j), want);
    return ok;
}

/* POST /forward for a case; outputs, loss and initialised params must be the core's. */
static void forward_case(api_case *c, const char *what)
{
    json_t *req = api_case_json(c);
    json_t *resp = api_post("/forward", req, 200);
    json_decref(req);
    api_ref ref;
    int rc = api_ref_forward(c, &ref);
    CHECK(rc == 0, "%s: core: %s", what, ref.err.message);
    if (resp && rc == 0) {
        size_t os[2] = {c->rows, api_case_outputs(c)};
        API_CHECK_TENSOR(json_object_get(resp, "outputs"), gs_pass_outputs(ref.pass),
                         c->def.dtype, os, 2, enc_of(c), what);
        if (c->t || c->labels)
            loss_equal(json_object_get(resp, "loss"), ref.loss, what);
        else
            CHECK(!json_object_get(resp, "loss"), "%s: loss without targets", what);
        if (!c->params)
            API_CHECK_PARAMS(json_object_get(resp, "params"), ref.net, gs_net_params(ref.net),
                             enc_of(c), what);
        else
            CHECK(!json_object_get(resp, "params"), "%s: params echoed", what);
    }
    api_ref_free(&ref);
    json_decref(resp);
}

/* POST /gradients; keep: GS_KEEP_* asked for with "return". */
static void gradients_case(api_case *c, unsigned keep, const char *what)
{
    json_t *req = api_case_json(c);
    if (keep) {
        json_t *ret = json_object();
        if (keep & GS_KEEP_OUTPUTS) json_object_set_new(ret, "outputs", json_true());
        if (keep & GS_KEEP_INPUT_GRAD) json_object_set_new(ret, "input_grad", json_true());
        if (keep & GS_KEEP_DELTAS) json_object_set_new(ret, "deltas", json_true());
        json_object_set_new(req, "return", ret);
    }
    json_t *resp = api_post("/gradients", req, 200);
    json_decref(req);
    api_ref ref;
    int rc = api_ref_backward(c, keep, &ref);
    CHECK(rc == 0, "%s: core: %s", what, ref.err.message);
    if (resp && rc == 0) {
        loss_equal(json_object_get(resp, "loss"), ref.loss, what);
        API_CHECK_PARAMS(json_object_get(resp, "gradients"), ref.net, gs_net_grads(ref.net),
                         enc_of(c), what);
        if (!c->params)
            API_CHECK_PARAMS(json_object_get(resp, "params"), ref.net, gs_net_params(ref.net),
                             enc_of(c), what);
        else
            CHECK(!json_object_get(resp, "params"), "%s: params echoed", what);
        size_t os[2] = {c->rows, api_case_outputs(c)}, is[2] = {c->rows, c->def.inputs};
        if (keep & GS_KEEP_OUTPUTS)
            API_CHECK_TENSOR(json_object_get(resp, "outputs"), gs_pass_outputs(ref.pass),
                             c->def.dtype, os, 2, enc_of(c), what);
        else
            CHECK(!json_object_get(resp, "outputs"), "%s: outputs not asked for", what);
        if (keep & GS_KEEP_INPUT_GRAD)
            API_CHECK_TENSOR(json_object_get(resp, "input_grad"), gs_pass_input_grad(ref.pass),
                             c->def.dtype, is, 2, enc_of(c), what);
        else
            CHECK(!json_object_get(resp, "input_grad"), "%s: input_grad not asked for", what);
        json_t *deltas = json_object_get(resp, "deltas");
        if (keep & GS_KEEP_DELTAS) {
            CHECK(json_array_size(deltas) == c->def.n_layers, "%s: %zu deltas", what,
                  json_array_size(deltas));
            for (size_t l = 0; l < c->def.n_layers && l < json_array_size(deltas); l++) {
                size_t ds[2] = {c->rows, c->layers[l].units};
                API_CHECK_TENSOR(json_array_get(deltas, l), gs_pass_delta(ref.pass, l),
                                 c->def.dtype, ds, 2, enc_of(c), what);
            }
        } else {
            CHECK(!deltas, "%s: deltas not asked for", what);
        }
    }
    api_ref_free(&ref);
    json_decref(resp);
}

/* A /train body: c's request with the optimizer (JSON text) and the training
 * options; 0 (or NULL) leaves an option out, to its default. */
static json_t *train_request(const api_case *c, const char *optim, size_t epochs,
                             size_t batch_size, int shuffle, uint64_t seed, const json_t *state)
{
    json_t *req = api_case_json(c);
    json_object_set_new(req, "optimizer", json_loads(optim, 0, NULL));
    if (epochs) json_object_set_new(req, "epochs", json_integer((json_int_t)epochs));
    if (batch_size) json_object_set_new(req, "batch_size", json_integer((json_int_t)batch_size));
    if (shuffle) json_object_set_new(req, "shuffle", json_true());
    if (seed) json_object_set_new(req, "seed", json_integer((json_int_t)seed));
    if (state) json_object_set(req, "optimizer_state", (json_t *)state);
    return req;
}

/* POST /train with an optimizer (JSON text) and training options; compared
 * with gs_train. Returns the response (caller frees) or NULL. */
static json_t *train_case(api_case *c, const char *optim, size_t epochs, size_t batch_size,
                          int shuffle, uint64_t seed, const json_t *state, const char *what)
{
    json_t *req = train_request(c, optim, epochs, batch_size, shuffle, seed, state);
    json_t *oj = json_object_get(req, "optimizer");
    CHECK(oj != NULL, "%s: bad optimizer JSON in the test", what);
    json_incref(oj);
    json_t *resp = api_post("/train", req, 200);
    json_decref(req);

    api_ref ref;
    gs_optim_def od;
    gs_error err = {0};
    int rc = api_ref_net(c, &ref);
    CHECK(rc == 0, "%s: core net: %s", what, ref.err.message);
    CHECK(api_optim_from_json(oj, &od) == 0, "%s: optimizer name", what);
    gs_optim *opt = rc == 0 ? gs_optim_create(ref.net, &od, &err) : NULL;
    CHECK(opt != NULL, "%s: core optimizer: %s", what, err.message);
    if (opt && state) {
        /* resume as the server must: steps and buffers from the state */
        gs_optim_set_steps(opt, (size_t)json_integer_value(json_object_get(state, "step")));
        json_t *bufs = json_object_get(state, "buffers");
        for (size_t i = 0; i < gs_optim_state_count(opt); i++) {
            json_t *b = json_object_get(bufs, gs_optim_state_name(opt, i));
            if (!b) continue;
            double *slab = malloc(api_case_param_count(c) * sizeof(double) + 1);
            size_t off = 0;
            for (size_t l = 0; l < c->def.n_layers; l++) {
                api_tensor_t tw, tb;
                char why[200];
                if (api_tensor_decode(json_object_get(json_array_get(b, l), "weight"), &tw, why,
                                      sizeof why) == 0) {
                    memcpy(slab + off, tw.v, tw.n * sizeof(double));
                    off += tw.n;
                    api_tensor_free(&tw);
                }
                if (api_tensor_decode(json_object_get(json_array_get(b, l), "bias"), &tb, why,
                                      sizeof why) == 0) {
                    memcpy(slab + off, tb.v, tb.n * sizeof(double));
                    off += tb.n;
                    api_tensor_free(&tb);
                }
            }
            void *dst = gs_optim_state(opt, i);
            for (size_t k = 0; k < off; k++) {
                if (c->def.dtype == GS_FLOAT32)
                    ((float *)dst)[k] = (float)slab[k];
                else
                    ((double *)dst)[k] = slab[k];
            }
            free(slab);
        }
    }
    gs_train_def td = {0};
    td.epochs = epochs ? epochs : 1;
    td.batch_size = batch_size;
    td.shuffle = shuffle;
    td.seed = seed;
    size_t steps = gs_train_steps(&td, c->rows), done = 0;
    double *hist = calloc(steps + 1, sizeof(double));
    gs_limits lim = {0};
    gs_status st = opt ? gs_train(ref.net, opt, &td, &ref.batch, &lim, hist, &done, &err)
                       : GS_EINVAL;
    CHECK(st == GS_OK, "%s: core train: %s", what, err.message);
    if (resp && st == GS_OK) {
        CHECK(json_integer_value(json_object_get(resp, "steps")) == (json_int_t)steps,
              "%s: steps %lld, want %zu", what,
              (long long)json_integer_value(json_object_get(resp, "steps")), steps);
        json_t *lh = json_object_get(resp, "loss_history");
        CHECK(json_array_size(lh) == steps, "%s: %zu losses for %zu steps", what,
              json_array_size(lh), steps);
        for (size_t k = 0; k < steps && k < json_array_size(lh); k++) {
            double got = json_number_value(json_array_get(lh, k));
            CHECK(got == hist[k], "%s: loss_history[%zu] %.17g, want %.17g", what, k, got,
                  hist[k]);
        }
        API_CHECK_PARAMS(json_object_get(resp, "params"), ref.net, gs_net_params(ref.net),
                         enc_of(c), what);
        json_t *os = json_object_get(resp, "optimizer_state");
        CHECK(json_integer_value(json_object_get(os, "step")) == (json_int_t)gs_optim_steps(opt),
              "%s: state step %lld, want %zu", what,
              (long long)json_integer_value(json_object_get(os, "step")), gs_optim_steps(opt));
        json_t *bufs = json_object_get(os, "buffers");
        size_t present = 0;
        for (size_t i = 0; i < gs_optim_state_count(opt); i++) {
            const char *name = gs_optim_state_name(opt, i);
            json_t *b = json_object_get(bufs, name);
            CHECK(b != NULL, "%s: buffer %s missing", what, name);
            if (!b) continue;
            present++;
            char w[160];
            snprintf(w, sizeof w, "%s: buffer %s", what, name);
            API_CHECK_PARAMS(b, ref.net, gs_optim_state(opt, i), enc_of(c), w);
        }
        CHECK(json_object_size(bufs) == present, "%s: %zu buffers, the core has %zu", what,
              json_object_size(bufs), present);
    }
    free(hist);
    gs_optim_free(opt);
    api_ref_free(&ref);
    json_decref(oj);
    return resp;
}

/* ---- operations routes --------------------------------------------------------- */

static void test_health(void)
{
    json_t *j = api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, NULL);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "status")), "live"), "live body");
    json_decref(j);
    j = api_call(NULL, "GET", "/health/ready", NULL, NULL, 0, 200, NULL);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "status")), "ready"), "ready body");
    json_decref(j);
}

static void test_openapi_served_equals_file(void)
{
    http_response r;
    api_call(NULL, "GET", "/openapi.yaml", NULL, NULL, 0, 200, &r);
    FILE *f = fopen("openapi.yaml", "rb");
    CHECK(f != NULL, "openapi.yaml missing");
    if (f && r.body) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc((size_t)n + 1);
        size_t got = fread(buf, 1, (size_t)n, f);
        CHECK(got == (size_t)n && r.body_len == got && !memcmp(buf, r.body, got),
              "served %zu bytes differ from the file's %ld (rebuild the server?)", r.body_len, n);
        free(buf);
    }
    if (f) fclose(f);
    const char *ct = http_header_get(&r, "Content-Type");
    CHECK(ct && !strncmp(ct, "application/yaml", 16), "content type %s", ct ? ct : "(none)");
    http_response_free(&r);
}

/* ---- forward ---------------------------------------------------------------------- */

static void test_forward_matches_core(void)
{
    for (int dt = 0; dt < 2; dt++) {
        api_case c;
        api_case_init(&c, 3, GS_LOSS_MSE, (gs_dtype)dt);
        api_case_layer(&c, 6, GS_ACT_TANH);
        api_case_layer(&c, 2, GS_ACT_LINEAR);
        api_case_random(&c, 5, 1 + (uint64_t)dt, 1, 0);
        forward_case(&c, dt ? "float64 with targets" : "float32 with targets");
        free(c.t);
        c.t = NULL;
        forward_case(&c, dt ? "float64 no targets" : "float32 no targets");
        api_case_free(&c);
    }
}

static void test_init_schemes(void)
{
    for (int dt = 0; dt < 2; dt++) {
        for (int s = 0; s < GS_INIT_COUNT; s++) {
            api_case c;
            char what[80];
            api_case_init(&c, 4, GS_LOSS_MSE, (gs_dtype)dt);
            api_case_layer(&c, 7, GS_ACT_RELU);
            api_case_layer(&c, 3, GS_ACT_LINEAR);
            api_case_random(&c, 2, 3, 0, 0);
            c.init = (gs_init_scheme)s;
            c.seed = 1234567 + (uint64_t)s;
            c.send_init = 1;
            snprintf(what, sizeof what, "init %s %s", gs_init_name(c.init),
                     dt ? "float64" : "float32");
            forward_case(&c, what);
            api_case_free(&c);
        }
    }
    /* no init object: torch_default with seed 0 */
    api_case c;
    api_case_init(&c, 4, GS_LOSS_MSE, GS_FLOAT32);
    api_case_layer(&c, 3, GS_ACT_SIGMOID);
    api_case_random(&c, 2, 4, 0, 0);
    forward_case(&c, "default init");
    api_case_free(&c);
}

/* ---- gradients: every activation, loss, reduction, dtype ---------------------------- */

static void test_activations(void)
{
    for (int dt = 0; dt < 2; dt++) {
        for (int a = 0; a < GS_ACT_COUNT; a++) {
            api_case c;
            char what[80];
            gs_activation act = (gs_activation)a;
            if (act == GS_ACT_SOFTMAX) {
                api_case_init(&c, 3, GS_LOSS_CE, (gs_dtype)dt);
                api_case_layer(&c, 5, GS_ACT_TANH);
                api_case_layer(&c, 4, GS_ACT_SOFTMAX);
            } else {
                api_case_init(&c, 3, GS_LOSS_MSE, (gs_dtype)dt);
                api_case_layer(&c, 5, act);
                api_case_layer(&c, 2, GS_ACT_LINEAR);
            }
            api_case_random(&c, 6, 10 + (uint64_t)a, 1, 0);
            snprintf(what, sizeof what, "%s %s", gs_activation_name(act),
                     dt ? "float64" : "float32");
            gradients_case(&c, 0, what);
            if (act == GS_ACT_LEAKY_RELU || act == GS_ACT_ELU) {
                c.layers[0].slope = 0.2;
                c.layers[0].alpha = 0.7;
                c.send_slope[0] = act == GS_ACT_LEAKY_RELU;
                c.send_alpha[0] = act == GS_ACT_ELU;
                snprintf(what, sizeof what, "%s custom %s %s", gs_activation_name(act),
                         act == GS_ACT_ELU ? "alpha" : "slope", dt ? "float64" : "float32");
                gradients_case(&c, 0, what);
            }
            api_case_free(&c);
        }
    }
}

static void test_losses_and_reductions(void)
{
    struct {
        gs_loss loss;
        gs_activation last;
        int labels;
        double huber;
    } cases[] = {
        {GS_LOSS_MSE, GS_ACT_LINEAR, 0, 0},          {GS_LOSS_L1, GS_ACT_LINEAR, 0, 0},
        {GS_LOSS_HUBER, GS_ACT_LINEAR, 0, 0},        {GS_LOSS_HUBER, GS_ACT_LINEAR, 0, 0.3},
        {GS_LOSS_BCE, GS_ACT_SIGMOID, 0, 0},         {GS_LOSS_BCE, GS_ACT_LINEAR, 0, 0},
        {GS_LOSS_CE, GS_ACT_SOFTMAX, 0, 0},          {GS_LOSS_CE, GS_ACT_LINEAR, 0, 0},
        {GS_LOSS_CE, GS_ACT_SOFTMAX, 1, 0},          {GS_LOSS_CE, GS_ACT_LINEAR, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int red = 0; red < 2; red++) {
            for (int dt = 0; dt < 2; dt++) {
                api_case c;
                char what[120];
                api_case_init(&c, 4, cases[i].loss, (gs_dtype)dt);
                api_case_layer(&c, 6, GS_ACT_RELU);
                api_case_layer(&c, 3, cases[i].last);
                c.def.reduction = red ? GS_REDUCE_SUM : GS_REDUCE_MEAN;
                c.send_reduction = red || i % 2; /* mean sent explicitly or by default */
                if (cases[i].huber > 0) {
                    c.def.huber_delta = cases[i].huber;
                    c.send_huber_delta = 1;
                }
                api_case_random(&c, 7, 100 + i, 1, cases[i].labels);
                snprintf(what, sizeof what, "%s last %s%s%s %s %s", gs_loss_name(cases[i].loss),
                         gs_activation_name(cases[i].last), cases[i].labels ? " labels" : "",
                         cases[i].huber > 0 ? " delta 0.3" : "", red ? "sum" : "mean",
                         dt ? "float64" : "float32");
                gradients_case(&c, GS_KEEP_OUTPUTS, what);
                api_case_free(&c);
            }
        }
    }
}

/* Class labels and the equivalent one-hot rows give the same gradients. */
static void test_labels_equal_one_hot(void)
{
    api_case c;
    api_case_init(&c, 3, GS_LOSS_CE, GS_FLOAT64);
    api_case_layer(&c, 4, GS_ACT_SOFTMAX);
    api_case_random(&c, 5, 77, 1, 1);
    json_t *a = api_post_new("/gradients", api_case_json(&c), 200);
    double *onehot = calloc(5 * 4, sizeof(double));
    for (size_t r = 0; r < 5; r++) onehot[r * 4 + (size_t)c.labels[r]] = 1;
    free(c.labels);
    c.labels = NULL;
    c.t = onehot;
    json_t *b = api_post_new("/gradients", api_case_json(&c), 200);
    CHECK(a && b && json_equal(json_object_get(a, "gradients"), json_object_get(b, "gradients")),
          "label and one-hot gradients differ");
    CHECK(a && b && json_number_value(json_object_get(a, "loss")) ==
                        json_number_value(json_object_get(b, "loss")),
          "label and one-hot losses differ");
    json_decref(a);
    json_decref(b);
    api_case_free(&c);
}

/* Request tensors in each encoding x response in each encoding, both dtypes. */
static void test_encodings(void)
{
    for (int dt = 0; dt < 2; dt++) {
        for (int in = 0; in < 3; in++) {
            for (int out = 0; out < 3; out++) {
                api_case c;
                char what[120];
                api_case_init(&c, 3, GS_LOSS_MSE, (gs_dtype)dt);
                api_case_layer(&c, 4, GS_ACT_GELU);
                api_case_layer(&c, 2, GS_ACT_LINEAR);
                api_case_random(&c, 3, 200 + (uint64_t)(in * 3 + out), 1, 0);
                c.in_enc = (api_enc)in;
                c.targets_enc = (api_enc)((in + 1) % 3); /* mixed within one request */
                c.out_enc = api_enc_name((api_enc)out);
                snprintf(what, sizeof what, "request %s response %s %s", api_enc_name(in),
                         c.out_enc, dt ? "float64" : "float32");
                gradients_case(&c, GS_KEEP_OUTPUTS | GS_KEEP_INPUT_GRAD | GS_KEEP_DELTAS, what);
                snprintf(what, sizeof what, "forward request %s response %s %s",
                         api_enc_name(in), c.out_enc, dt ? "float64" : "float32");
                forward_case(&c, what);
                api_case_free(&c);
            }
        }
    }
    /* "encoding": "nested" given explicitly; and initialised params in b64 */
    api_case c;
    api_case_init(&c, 2, GS_LOSS_MSE, GS_FLOAT32);
    api_case_layer(&c, 3, GS_ACT_LINEAR);
    api_case_random(&c, 2, 9, 1, 0);
    c.out_enc = "nested";
    gradients_case(&c, 0, "explicit nested");
    free(c.params);
    c.params = NULL;
    c.out_enc = "b64";
    gradients_case(&c, 0, "initialised params in b64");
    api_case_free(&c);
    /* integer literals are numbers: the same as the reals */
    const char *ints = "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
                       "\"loss\":\"mse\"},\"params\":[{\"weight\":[[1,2]],\"bias\":[3]}],"
                       "\"inputs\":[[1,1]],\"targets\":[[1]]}";
    const char *reals = "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
                        "\"loss\":\"mse\"},\"params\":[{\"weight\":[[1.0,2.0]],\"bias\":[3.0]}],"
                        "\"inputs\":[[1.0,1.0]],\"targets\":[[1.0]]}";
    json_t *a = api_post_text("/gradients", ints, 200);
    json_t *b = api_post_text("/gradients", reals, 200);
    CHECK(a && b && json_number_value(json_object_get(a, "loss")) == 25.0 &&
              json_number_value(json_object_get(b, "loss")) == 25.0,
          "integer literal request: loss %g / %g, want 25", json_number_value(json_object_get(a, "loss")),
          json_number_value(json_object_get(b, "loss")));
    json_decref(a);
    json_decref(b);
}

static void test_gradients_extras(void)
{
    unsigned keeps[] = {0, GS_KEEP_OUTPUTS, GS_KEEP_INPUT_GRAD, GS_KEEP_DELTAS,
                        GS_KEEP_OUTPUTS | GS_KEEP_INPUT_GRAD | GS_KEEP_DELTAS};
    for (size_t i = 0; i < sizeof keeps / sizeof *keeps; i++) {
        for (int dt = 0; dt < 2; dt++) {
            api_case c;
            char what[80];
            api_case_init(&c, 5, GS_LOSS_BCE, (gs_dtype)dt);
            api_case_layer(&c, 8, GS_ACT_ELU);
            api_case_layer(&c, 6, GS_ACT_SOFTPLUS);
            api_case_layer(&c, 2, GS_ACT_SIGMOID);
            api_case_random(&c, 9, 300 + i, 1, 0);
            snprintf(what, sizeof what, "return mask %u %s", keeps[i], dt ? "float64" : "float32");
            gradients_case(&c, keeps[i], what);
            api_case_free(&c);
        }
    }
    /* "return" with every flag false is the same as none */
    api_case c;
    api_case_init(&c, 2, GS_LOSS_MSE, GS_FLOAT32);
    api_case_layer(&c, 2, GS_ACT_LINEAR);
    api_case_random(&c, 2, 5, 1, 0);
    json_t *req = api_case_json(&c);
    json_object_set_new(req, "return", json_pack("{sbsbsb}", "outputs", 0, "input_grad", 0,
                                                 "deltas", 0));
    json_t *resp = api_post("/gradients", req, 200);
    CHECK(resp && !json_object_get(resp, "outputs") && !json_object_get(resp, "input_grad") &&
              !json_object_get(resp, "deltas"),
          "false flags returned extras");
    json_decref(req);
    json_decref(resp);
    api_case_free(&c);
}

/* "return": {"activations": true} on /forward and /gradients: every layer's
 * output after its activation, equal bit for bit to the core's pass, in every
 * encoding; with network.penalty, the loss and gradients equal the core's. */
static void test_activations_and_penalty(void)
{
    for (int enc = 0; enc < 2; enc++) {
        for (int dt = 0; dt < 2; dt++) {
            api_case c;
            char what[80];
            snprintf(what, sizeof what, "activations %s %s", enc ? "b64" : "nested",
                     dt ? "float64" : "float32");
            api_case_init(&c, 3, GS_LOSS_CE, (gs_dtype)dt);
            api_case_layer(&c, 7, GS_ACT_RELU);
            api_case_layer(&c, 5, GS_ACT_TANH);
            api_case_layer(&c, 4, GS_ACT_LINEAR);
            api_case_random(&c, 6, 700 + enc * 2 + dt, 1, 1);
            c.out_enc = enc ? "b64" : NULL;
            c.in_enc = enc ? API_B64 : API_NESTED;
            c.def.l1 = 0.01;
            c.def.l2 = 0.02;
            api_ref ref;
            int rc = api_ref_backward(&c, GS_KEEP_DELTAS, &ref);
            CHECK(rc == 0, "%s: core: %s", what, ref.err.message);
            const char *routes[] = {"/forward", "/gradients"};
            for (int r = 0; r < 2 && rc == 0; r++) {
                json_t *req = api_case_json(&c);
                json_object_set_new(req, "return", json_pack("{sb}", "activations", 1));
                json_t *resp = api_post(routes[r], req, 200);
                json_decref(req);
                json_t *acts = json_object_get(resp, "activations");
                CHECK(json_array_size(acts) == c.def.n_layers, "%s %s: %zu activations", what,
                      routes[r], json_array_size(acts));
                for (size_t l = 0; l < c.def.n_layers && l < json_array_size(acts); l++) {
                    size_t s[2] = {c.rows, c.layers[l].units};
                    API_CHECK_TENSOR(json_array_get(acts, l), gs_pass_activation(ref.pass, l),
                                     c.def.dtype, s, 2, enc_of(&c), what);
                }
                loss_equal(json_object_get(resp, "loss"), ref.loss, what);
                if (r == 1)
                    API_CHECK_PARAMS(json_object_get(resp, "gradients"), ref.net,
                                     gs_net_grads(ref.net), enc_of(&c), what);
                json_decref(resp);
            }
            api_ref_free(&ref);
            api_case_free(&c);
        }
    }
    /* the penalty is in the loss: the same request without it answers less */
    api_case c;
    api_case_init(&c, 2, GS_LOSS_MSE, GS_FLOAT64);
    api_case_layer(&c, 1, GS_ACT_LINEAR);
    api_case_random(&c, 3, 9, 1, 0);
    json_t *plain = api_post_new("/forward", api_case_json(&c), 200);
    c.def.l1 = 0.5;
    json_t *pen = api_post_new("/forward", api_case_json(&c), 200);
    double w[2], l1 = 0;
    memcpy(w, c.params, sizeof w);
    for (int i = 0; i < 2; i++) l1 += 0.5 * fabs(w[i]);
    double got = json_number_value(json_object_get(pen, "loss")),
           want = json_number_value(json_object_get(plain, "loss")) + l1;
    CHECK(fabs(got - want) <= 1e-12 * fabs(want), "penalised loss %.17g, want %.17g", got, want);
    json_decref(plain);
    json_decref(pen);
    api_case_free(&c);
}

/* ---- train ---------------------------------------------------------------------------- */

static void test_train_optimizers(void)
{
    const char *opts[] = {
        "{\"name\":\"sgd\"}",
        "{\"name\":\"sgd\",\"lr\":0.05}",
        "{\"name\":\"sgd\",\"lr\":0.05,\"momentum\":0.9}",
        "{\"name\":\"sgd\",\"lr\":0.05,\"momentum\":0.9,\"dampening\":0.3}",
        "{\"name\":\"sgd\",\"lr\":0.05,\"momentum\":0.8,\"nesterov\":true}",
        "{\"name\":\"sgd\",\"lr\":0.05,\"weight_decay\":0.01,\"max_grad_norm\":0.5}",
        "{\"name\":\"adam\"}",
        "{\"name\":\"adam\",\"lr\":0.01,\"betas\":[0.8,0.99],\"eps\":1e-6}",
        "{\"name\":\"adam\",\"lr\":0.01,\"amsgrad\":true,\"weight_decay\":0.05}",
        "{\"name\":\"adamw\"}",
        "{\"name\":\"adamw\",\"lr\":0.02,\"weight_decay\":0.1,\"amsgrad\":true,\"max_grad_norm\":1}",
        "{\"name\":\"rmsprop\"}",
        "{\"name\":\"rmsprop\",\"lr\":0.005,\"alpha\":0.9,\"eps\":1e-7,\"momentum\":0.5,"
        "\"centered\":true,\"weight_decay\":0.01}",
    };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
        for (int dt = 0; dt < 2; dt++) {
            api_case c;
            char what[200];
            api_case_init(&c, 3, GS_LOSS_MSE, (gs_dtype)dt);
            api_case_layer(&c, 5, GS_ACT_TANH);
            api_case_layer(&c, 2, GS_ACT_LINEAR);
            api_case_random(&c, 8, 400 + i, 1, 0);
            snprintf(what, sizeof what, "%s %s", opts[i], dt ? "float64" : "float32");
            /* 8 rows in batches of 3: 3 steps per epoch, the last of 2 rows */
            json_decref(train_case(&c, opts[i], 2, 3, 0, 0, NULL, what));
            api_case_free(&c);
        }
    }
}

static void test_train_minibatch_shuffle(void)
{
    api_case c;
    api_case_init(&c, 4, GS_LOSS_CE, GS_FLOAT32);
    api_case_layer(&c, 6, GS_ACT_RELU);
    api_case_layer(&c, 3, GS_ACT_LINEAR);
    api_case_random(&c, 10, 500, 1, 1);
    c.out_enc = "b64";
    json_t *a = train_case(&c, "{\"name\":\"sgd\",\"lr\":0.1}", 3, 4, 1, 7, NULL, "shuffle seed 7");
    json_t *b = train_case(&c, "{\"name\":\"sgd\",\"lr\":0.1}", 3, 4, 1, 8, NULL, "shuffle seed 8");
    json_t *d = train_case(&c, "{\"name\":\"sgd\",\"lr\":0.1}", 3, 4, 0, 0, NULL, "in order");
    json_t *e = train_case(&c, "{\"name\":\"sgd\",\"lr\":0.1}", 1, 0, 0, 0, NULL, "whole batch");
    CHECK(a && b && !json_equal(json_object_get(a, "loss_history"),
                                json_object_get(b, "loss_history")),
          "seeds 7 and 8 shuffle alike");
    CHECK(a && d && !json_equal(json_object_get(a, "loss_history"),
                                json_object_get(d, "loss_history")),
          "shuffled equals in-order");
    CHECK(e && json_integer_value(json_object_get(e, "steps")) == 1, "whole batch: one step");
    json_decref(a);
    json_decref(b);
    json_decref(d);
    json_decref(e);
    /* training from no params: initialised from the seed, then trained */
    free(c.params);
    c.params = NULL;
    c.send_init = 1;
    c.init = GS_INIT_KAIMING_NORMAL;
    c.seed = 99;
    json_decref(train_case(&c, "{\"name\":\"adam\",\"lr\":0.01}", 2, 5, 0, 0, NULL, "from init"));
    api_case_free(&c);
}

/* One epoch, then one more resumed from params + optimizer_state, equals two
 * epochs in one request (and the core's). */
static void test_train_resume(void)
{
    const char *opts[] = {"{\"name\":\"sgd\",\"lr\":0.05,\"momentum\":0.9}",
                          "{\"name\":\"adam\",\"lr\":0.01,\"amsgrad\":true}",
                          "{\"name\":\"rmsprop\",\"lr\":0.01,\"centered\":true,\"momentum\":0.3}"};
    for (size_t i = 0; i < 3; i++) {
        for (int enc = 0; enc < 3; enc++) {
            api_case c;
            char what[200];
            api_case_init(&c, 3, GS_LOSS_MSE, enc == 1 ? GS_FLOAT64 : GS_FLOAT32);
            api_case_layer(&c, 4, GS_ACT_SIGMOID);
            api_case_layer(&c, 1, GS_ACT_LINEAR);
            api_case_random(&c, 6, 600 + i, 1, 0);
            c.out_enc = api_enc_name((api_enc)enc);
            snprintf(what, sizeof what, "%s two epochs (%s)", opts[i], c.out_enc);
            json_t *two = train_case(&c, opts[i], 2, 4, 0, 0, NULL, what);
            snprintf(what, sizeof what, "%s first epoch (%s)", opts[i], c.out_enc);
            json_t *one = train_case(&c, opts[i], 1, 4, 0, 0, NULL, what);
            if (!one || !two) {
                json_decref(one);
                json_decref(two);
                api_case_free(&c);
                continue;
            }
            /* resume: the params and state the server returned, sent back as is */
            json_t *req =
                train_request(&c, opts[i], 0, 4, 0, 0, json_object_get(one, "optimizer_state"));
            json_object_set(req, "params", json_object_get(one, "params"));
            json_t *resumed = api_post("/train", req, 200);
            json_decref(req);
            snprintf(what, sizeof what, "%s resumed (%s)", opts[i], c.out_enc);
            CHECK(resumed && json_equal(json_object_get(resumed, "params"),
                                        json_object_get(two, "params")),
                  "%s: params differ from two epochs in one request", what);
            CHECK(resumed && json_equal(json_object_get(resumed, "optimizer_state"),
                                        json_object_get(two, "optimizer_state")),
                  "%s: optimizer_state differs", what);
            json_t *lh2 = json_object_get(two, "loss_history");
            json_t *lhr = json_object_get(resumed, "loss_history");
            CHECK(json_array_size(lhr) == 2 && json_array_size(lh2) == 4 &&
                      json_equal(json_array_get(lhr, 0), json_array_get(lh2, 2)) &&
                      json_equal(json_array_get(lhr, 1), json_array_get(lh2, 3)),
                  "%s: loss history is not the second epoch's", what);
            json_decref(resumed);
            json_decref(one);
            json_decref(two);
            api_case_free(&c);
        }
    }
}

static void test_train_diverged(void)
{
    api_case c;
    api_case_init(&c, 2, GS_LOSS_MSE, GS_FLOAT32);
    api_case_layer(&c, 3, GS_ACT_LINEAR);
    api_case_layer(&c, 1, GS_ACT_LINEAR);
    api_case_random(&c, 4, 700, 1, 0);
    json_t *req = train_request(&c, "{\"name\":\"sgd\",\"lr\":1e12}", 50, 0, 0, 0, NULL);
    json_t *p = api_post("/train", req, 422);
    json_decref(req);
    /* the core says at which step */
    api_ref ref;
    gs_optim_def od;
    gs_error err = {0};
    api_ref_net(&c, &ref);
    gs_optim_defaults(&od, GS_OPT_SGD);
    od.lr = 1e12;
    gs_optim *opt = gs_optim_create(ref.net, &od, &err);
    gs_train_def td = {0};
    td.epochs = 50;
    size_t done = 0;
    gs_limits lim = {0};
    gs_status st = gs_train(ref.net, opt, &td, &ref.batch, &lim, NULL, &done, &err);
    CHECK(st == GS_EDIVERGED, "core did not diverge (%s)", gs_status_name(st));
    api_check_problem(p, 422, NULL, "diverged");
    CHECK(p && !strcmp(api_problem_slug(p), "diverged"), "type %s", p ? api_problem_slug(p) : "");
    CHECK(p && json_integer_value(json_object_get(p, "step")) == (json_int_t)err.step,
          "step %lld, core says %zu", (long long)json_integer_value(json_object_get(p, "step")),
          err.step);
    gs_optim_free(opt);
    api_ref_free(&ref);
    json_decref(p);
    api_case_free(&c);
}

/* ---- gradcheck -------------------------------------------------------------------------- */

static void test_gradcheck(void)
{
    api_case c;
    api_case_init(&c, 3, GS_LOSS_HUBER, GS_FLOAT64);
    api_case_layer(&c, 5, GS_ACT_TANH);
    api_case_layer(&c, 2, GS_ACT_LINEAR);
    c.def.huber_delta = 0.5;
    c.send_huber_delta = 1;
    api_case_random(&c, 4, 800, 1, 0);
    json_t *resp = api_post_new("/gradcheck", api_case_json(&c), 200);
    api_ref ref;
    api_ref_net(&c, &ref);
    gs_check_report rep[4];
    gs_error err = {0};
    gs_status st = gs_gradcheck(ref.net, &ref.batch, 0, 0, rep, &err);
    CHECK(st == GS_OK, "core gradcheck: %s", err.message);
    if (resp && st == GS_OK) {
        json_t *ts = json_object_get(resp, "tensors");
        CHECK(json_array_size(ts) == 4, "%zu tensors", json_array_size(ts));
        int all_ok = 1;
        for (size_t i = 0; i < 4 && i < json_array_size(ts); i++) {
            json_t *t = json_array_get(ts, i);
            CHECK(json_integer_value(json_object_get(t, "layer")) == (json_int_t)(i / 2),
                  "tensor %zu layer", i);
            CHECK(!strcmp(json_string_value(json_object_get(t, "name")), i % 2 ? "bias" : "weight"),
                  "tensor %zu name", i);
            CHECK(json_integer_value(json_object_get(t, "checked")) == (json_int_t)rep[i].checked,
                  "tensor %zu checked", i);
            CHECK(json_number_value(json_object_get(t, "max_abs_error")) == rep[i].max_abs_error,
                  "tensor %zu max_abs_error %.17g vs %.17g", i,
                  json_number_value(json_object_get(t, "max_abs_error")), rep[i].max_abs_error);
            CHECK(json_number_value(json_object_get(t, "max_rel_error")) == rep[i].max_rel_error,
                  "tensor %zu max_rel_error", i);
            CHECK(json_integer_value(json_object_get(t, "worst_index")) ==
                      (json_int_t)rep[i].worst_index, "tensor %zu worst_index", i);
            CHECK(json_is_true(json_object_get(t, "passed")) == rep[i].passed, "tensor %zu passed", i);
            if (!rep[i].passed) all_ok = 0;
        }
        CHECK(json_is_true(json_object_get(resp, "passed")) == all_ok, "passed is not %d", all_ok);
        CHECK(all_ok, "back-propagation disagrees with finite differences");
        json_t *tol = json_object_get(resp, "tolerance");
        CHECK(json_number_value(json_object_get(tol, "atol")) == GS_GRADCHECK_ATOL &&
              json_number_value(json_object_get(tol, "rtol")) == GS_GRADCHECK_RTOL, "tolerance");
        api_ref fr;
        api_ref_forward(&c, &fr);
        CHECK_CLOSE(json_number_value(json_object_get(resp, "loss")), fr.loss, 1e-12, "loss");
        api_ref_free(&fr);
    }
    json_decref(resp);
    /* eps given; float32 request computed in float64; initialised params */
    json_t *req = api_case_json(&c);
    json_object_set_new(req, "eps", json_real(1e-5));
    resp = api_post("/gradcheck", req, 200);
    CHECK(resp && json_is_true(json_object_get(resp, "passed")), "eps 1e-5 did not pass");
    json_decref(resp);
    json_decref(req);
    c.def.dtype = GS_FLOAT32;
    free(c.params);
    c.params = NULL;
    for (size_t i = 0; i < c.rows * 3; i++) c.x[i] = (float)c.x[i];
    for (size_t i = 0; i < c.rows * 2; i++) c.t[i] = (float)c.t[i];
    resp = api_post_new("/gradcheck", api_case_json(&c), 200);
    CHECK(resp && json_is_true(json_object_get(resp, "passed")), "float32 request did not pass");
    CHECK(resp && !json_object_get(resp, "params"), "gradcheck returned params");
    json_decref(resp);
    api_ref_free(&ref);
    api_case_free(&c);
}

/* ---- non-finite outputs --------------------------------------------------------------------- */

static void test_non_finite_outputs(void)
{
    /* 3e38 * 10 overflows float32: the output is +inf */
    const char *base = "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":"
                       "\"linear\"}],\"loss\":\"mse\"},\"params\":[{\"weight\":[[10]],"
                       "\"bias\":[0]}],\"inputs\":[[3e38]]%s}";
    char body[512];
    snprintf(body, sizeof body, base, "");
    json_t *p = api_post_text("/forward", body, 422);
    api_check_problem(p, 422, NULL, "nested non-finite");
    CHECK(p && !strcmp(api_problem_slug(p), "non-finite"), "type %s", p ? api_problem_slug(p) : "");
    json_decref(p);
    snprintf(body, sizeof body, base, ",\"encoding\":\"flat\"");
    p = api_post_text("/forward", body, 422);
    CHECK(p && !strcmp(api_problem_slug(p), "non-finite"), "flat: type %s",
          p ? api_problem_slug(p) : "");
    json_decref(p);
    snprintf(body, sizeof body, base, ",\"encoding\":\"b64\"");
    json_t *r = api_post_text("/forward", body, 200);
    api_tensor_t t;
    char why[200];
    int ok = r && api_tensor_decode(json_object_get(r, "outputs"), &t, why, sizeof why) == 0;
    CHECK(ok, "b64 outputs: %s", r ? why : "no body");
    if (ok) {
        CHECK(t.n == 1 && isinf(t.v[0]) && t.v[0] > 0, "b64 output %g, want +inf", t.v[0]);
        api_tensor_free(&t);
    }
    json_decref(r);

    /* a finite loss whose gradient overflows: the second layer's weight
     * gradient is 2 (y - t) * 3e38 = +inf, and the problem names that tensor
     * and element, layer index and name */
    const char *grads = "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":"
                        "\"linear\"},{\"units\":1,\"activation\":\"linear\"}],\"loss\":\"mse\"},"
                        "\"params\":[{\"weight\":[[1]],\"bias\":[0]},{\"weight\":[[0]],"
                        "\"bias\":[1]}],\"inputs\":[[3e38]],\"targets\":[[0]]%s}";
    snprintf(body, sizeof body, grads, "");
    p = api_post_text("/gradients", body, 422);
    api_check_problem(p, 422, "/gradients/1/weight", "non-finite gradient");
    CHECK(p && !strcmp(api_problem_slug(p), "non-finite"), "gradient: type %s",
          p ? api_problem_slug(p) : "");
    json_decref(p);
    snprintf(body, sizeof body, grads, ",\"encoding\":\"b64\"");
    json_decref(api_post_text("/gradients", body, 200));
}

/* ---- HTTP-level behaviour ------------------------------------------------------------------ */

static const char *small_request =
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
    "\"loss\":\"mse\"},\"params\":[{\"weight\":[[1,2]],\"bias\":[3]}],\"inputs\":[[1,1]],"
    "\"targets\":[[1]]}";

/* ---- tensors in every encoding, binary bodies ----------------------------------------- */

/* A 5-7-3 net (tanh, mse, float32) with random exact float values: the
 * tensors of a request, in the order a binary body carries them. */
#define ENC_TENSORS 6
static const size_t ENC_SHAPE[ENC_TENSORS][2] = {{7, 5}, {7, 0}, {3, 7}, {3, 0}, {6, 5}, {6, 3}};
static float enc_vals[ENC_TENSORS][64];

static size_t enc_count(int i) { return ENC_SHAPE[i][0] * (ENC_SHAPE[i][1] ? ENC_SHAPE[i][1] : 1); }

/* Appends tensor i to buf in the encoding ("nested", "flat", "b64", "binary"). */
static void enc_tensor(char *buf, size_t cap, int i, const char *enc)
{
    size_t n = enc_count(i), len = strlen(buf), rank = ENC_SHAPE[i][1] ? 2 : 1;
    char shape[32];
    if (rank == 2) snprintf(shape, sizeof shape, "[%zu,%zu]", ENC_SHAPE[i][0], ENC_SHAPE[i][1]);
    else snprintf(shape, sizeof shape, "[%zu]", ENC_SHAPE[i][0]);
    if (!strcmp(enc, "b64")) {
        char text[400];
        base64_encode(text, (const unsigned char *)enc_vals[i], n * 4);
        text[base64_encoded_len(n * 4)] = 0;
        snprintf(buf + len, cap - len, "{\"shape\":%s,\"dtype\":\"float32\",\"b64\":\"%s\"}", shape,
                 text);
        return;
    }
    if (!strcmp(enc, "binary")) {
        snprintf(buf + len, cap - len,
                 "{\"shape\":%s,\"dtype\":\"float32\",\"binary_data_size\":%zu}", shape, n * 4);
        return;
    }
    int flat = !strcmp(enc, "flat");
    if (flat) len += (size_t)snprintf(buf + len, cap - len, "{\"shape\":%s,\"data\":[", shape);
    else len += (size_t)snprintf(buf + len, cap - len, "[");
    for (size_t k = 0; k < n; k++) {
        int row_start = !flat && rank == 2 && k % ENC_SHAPE[i][1] == 0;
        int row_end = !flat && rank == 2 && (k + 1) % ENC_SHAPE[i][1] == 0;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s%.9g%s", k ? "," : "",
                                row_start ? "[" : "", (double)enc_vals[i][k], row_end ? "]" : "");
    }
    snprintf(buf + len, cap - len, flat ? "]}" : "]");
}

/* The request in one encoding, answered in another; *json_len > 0 for a
 * binary body (its header's length). Returns the body length. */
static size_t enc_request(char *buf, size_t cap, const char *in, const char *out, size_t *json_len)
{
    snprintf(buf, cap,
             "{\"network\":{\"inputs\":5,\"layers\":[{\"units\":7,\"activation\":\"tanh\"},"
             "{\"units\":3,\"activation\":\"linear\"}],\"loss\":\"mse\"},\"encoding\":\"%s\","
             "\"params\":[{\"weight\":",
             out);
    const char *between[ENC_TENSORS] = {",\"bias\":", "},{\"weight\":", ",\"bias\":",
                                        "}],\"inputs\":", ",\"targets\":", "}"};
    for (int i = 0; i < ENC_TENSORS; i++) {
        enc_tensor(buf, cap, i, in);
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s", between[i]);
    }
    size_t len = strlen(buf);
    *json_len = 0;
    if (strcmp(in, "binary")) return len;
    *json_len = len;
    for (int i = 0; i < ENC_TENSORS; i++) {
        memcpy(buf + len, enc_vals[i], enc_count(i) * 4);
        len += enc_count(i) * 4;
    }
    return len;
}

/* The gradients of a response as 4 float arrays (w0, b0, w1, b1) in grads. */
static int enc_response_grads(const http_response *r, float grads[4][64], double *loss,
                              char *why, size_t cap)
{
    const char *ihcl = http_header_get(r, "Inference-Header-Content-Length");
    size_t jl = ihcl ? strtoull(ihcl, NULL, 10) : r->body_len;
    const char *ct = http_header_get(r, "Content-Type");
    if (ihcl && (!ct || strcmp(ct, "application/octet-stream"))) {
        snprintf(why, cap, "binary response typed %s", ct ? ct : "(none)");
        return -1;
    }
    json_t *j = json_loadb(r->body, jl, 0, NULL);
    if (!j) {
        snprintf(why, cap, "response header is not JSON");
        return -1;
    }
    *loss = json_number_value(json_object_get(j, "loss"));
    size_t off = jl;
    int rc = 0;
    for (int t = 0; t < 4 && !rc; t++) {
        json_t *g = json_object_get(json_array_get(json_object_get(j, "gradients"), (size_t)t / 2),
                                    t % 2 ? "bias" : "weight");
        size_t n = enc_count(t);
        json_t *size = json_object_get(g, "binary_data_size");
        if (size) {
            if ((size_t)json_integer_value(size) != n * 4 || off + n * 4 > r->body_len) {
                snprintf(why, cap, "gradient %d: binary_data_size %lld", t,
                         (long long)json_integer_value(size));
                rc = -1;
            } else {
                memcpy(grads[t], r->body + off, n * 4);
                off += n * 4;
            }
            continue;
        }
        api_tensor_t d;
        if (api_tensor_decode(g, &d, why, cap) != 0 || d.n != n) {
            rc = -1;
            continue;
        }
        for (size_t k = 0; k < n; k++) grads[t][k] = (float)d.v[k];
        api_tensor_free(&d);
    }
    if (!rc && off != r->body_len) {
        snprintf(why, cap, "%zu bytes after the binary tensors", r->body_len - off);
        rc = -1;
    }
    json_decref(j);
    return rc;
}

/* Every request encoding with every response encoding gives the same loss and
 * the same gradients, bit for bit; binary bodies both ways. */
static void test_encodings_agree(void)
{
    uint64_t x = 12345;
    for (int i = 0; i < ENC_TENSORS; i++)
        for (size_t k = 0; k < enc_count(i); k++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            enc_vals[i][k] = (float)((double)(x >> 11) / 9007199254740992.0 * 2 - 1) / 3;
        }
    const char *encs[] = {"nested", "flat", "b64", "binary"};
    float ref[4][64], got[4][64];
    double ref_loss = 0, loss = 0;
    int have_ref = 0;
    static char body[20000];
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            size_t jl, len = enc_request(body, sizeof body, encs[a], encs[b], &jl);
            char ihcl[64];
            snprintf(ihcl, sizeof ihcl, "Inference-Header-Content-Length: %zu", jl);
            const char *bin_h[] = {"Content-Type: application/octet-stream", ihcl, NULL};
            http_response r;
            json_decref(api_call(NULL, "POST", "/gradients", jl ? bin_h : NULL, body, len, 200, &r));
            char why[300] = "";
            int ok = r.status == 200 && enc_response_grads(&r, got, &loss, why, sizeof why) == 0;
            CHECK(ok, "request %s, response %s: %s", encs[a], encs[b], why);
            if (ok && !have_ref) {
                memcpy(ref, got, sizeof ref);
                ref_loss = loss;
                have_ref = 1;
            } else if (ok) {
                int same = loss == ref_loss;
                for (int t = 0; t < 4; t++) same &= !memcmp(got[t], ref[t], enc_count(t) * 4);
                CHECK(same, "request %s, response %s: gradients differ from nested/nested",
                      encs[a], encs[b]);
            }
            http_response_free(&r);
        }
    /* the numbers are the core's */
    CHECK(have_ref && isfinite(ref_loss) && ref_loss > 0, "loss %g", ref_loss);
}

/* Binary bodies that do not add up, and binary tensors without one. */
static void test_binary_errors(void)
{
    static char body[20000];
    size_t jl, len = enc_request(body, sizeof body, "binary", "nested", &jl);
    char h1[64], h2[64];
    snprintf(h1, sizeof h1, "Inference-Header-Content-Length: %zu", jl);
    const char *ok_h[] = {"Content-Type: application/octet-stream", h1, NULL};
    /* a byte missing: the sizes do not add up */
    json_t *p = api_call(NULL, "POST", "/gradients", ok_h, body, len - 1, 400, NULL);
    api_check_problem(p, 400, "", "binary body one byte short");
    json_decref(p);
    /* the header length beyond the body */
    snprintf(h2, sizeof h2, "Inference-Header-Content-Length: %zu", len + 5);
    const char *long_h[] = {"Content-Type: application/octet-stream", h2, NULL};
    p = api_call(NULL, "POST", "/gradients", long_h, body, len, 400, NULL);
    api_check_problem(p, 400, NULL, "header length past the body");
    json_decref(p);
    /* binary tensors in a plain JSON body */
    p = api_call(NULL, "POST", "/gradients", NULL, body, jl, 400, NULL);
    api_check_problem(p, 400, "/inputs/binary_data_size", "binary tensor in JSON");
    json_decref(p);
    /* a wrong binary_data_size names the tensor's field */
    char *at = strstr(body, "\"binary_data_size\":140");
    CHECK(at != NULL, "test request layout");
    if (at) {
        memcpy(at, "\"binary_data_size\":139", 22);
        p = api_call(NULL, "POST", "/gradients", ok_h, body, len - 1, 400, NULL);
        api_check_problem(p, 400, "/params/0/weight/binary_data_size", "wrong binary_data_size");
        json_decref(p);
    }
    /* a browser may send the header: the preflight allows it, responses expose it */
    const char *pre[] = {"Origin: https://page.example", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: content-type, inference-header-content-length",
                         NULL};
    http_response r;
    json_decref(api_call(NULL, "OPTIONS", "/gradients", pre, NULL, 0, 204, &r));
    const char *allow = http_header_get(&r, "Access-Control-Allow-Headers");
    CHECK(allow && strstr(allow, "Inference-Header-Content-Length"), "preflight allows: %s",
          allow ? allow : "(none)");
    http_response_free(&r);
    json_decref(api_call(NULL, "POST", "/gradients", NULL, small_request, strlen(small_request), 200, &r));
    const char *expose = http_header_get(&r, "Access-Control-Expose-Headers");
    CHECK(expose && strstr(expose, "Inference-Header-Content-Length"), "exposed: %s",
          expose ? expose : "(none)");
    http_response_free(&r);
}

/* Tensors fastjson reads and the ones it leaves to jansson give the same
 * errors as before: pointers into the request, line and column. */
static void test_json_tensor_errors(void)
{
    const char *net = "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1,\"activation\":\"linear\"}]},"
                      "\"params\":[{\"weight\":[[1,2]],\"bias\":[3]}],";
    struct {
        const char *tail, *pointer;
        long status;
    } cases[] = {
        {"\"inputs\":[[1,2],[3,\"x\"]],\"targets\":[[1],[2]]}", "/inputs/1/1", 400},
        {"\"inputs\":[[1,2],[3]],\"targets\":[[1],[2]]}", "/inputs/1", 400},
        {"\"inputs\":[[1,2],[3,1e39]],\"targets\":[[1],[2]]}", "/inputs/1/1", 400},
        {"\"inputs\":[[1,2],[3,4]],\"targets\":[[1],[[2]]]}", "/targets/1/0", 400},
        {"\"inputs\":{\"shape\":[2,2],\"data\":[1,2,3]},\"targets\":[[1],[2]]}", "/inputs/data", 400},
        {"\"inputs\":{\"shape\":[1,2],\"dtype\":\"float32\",\"b64\":\"AACAPwAAAE\"},\"targets\":[[1]]}",
         "/inputs/b64", 400},
        {"\"inputs\":[[1,2],[3,4]],\"targets\":[[1],[2]],\"inputs\":[[1,2]]}", NULL, 400},
        {"\"inputs\":[[1,2],[3,4]],\"targets\":[[1],[2]]", NULL, 400},
        {"\"inputs\":[[1,2],[3,4e999]],\"targets\":[[1],[2]]}", NULL, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[600];
        snprintf(body, sizeof body, "%s%s", net, cases[i].tail);
        json_t *p = api_post_text("/gradients", body, cases[i].status);
        api_check_problem(p, cases[i].status, cases[i].pointer, cases[i].tail);
        if (!cases[i].pointer)
            CHECK(p && !strcmp(api_problem_slug(p), "malformed-json"), "%s: %s", cases[i].tail,
                  p ? api_problem_slug(p) : "");
        json_decref(p);
    }
    /* the line and column of a syntax error after a tensor fastjson read */
    const char *multi = "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1}]},\n"
                        "\"inputs\":[[1,2],\n[3,4]],\n\"targets\":[[1],[2]] x}";
    json_t *p = api_post_text("/gradients", multi, 400);
    const char *detail = json_string_value(json_object_get(p, "detail"));
    json_error_t err;
    json_t *none = json_loads(multi, 0, &err);
    char want[64];
    snprintf(want, sizeof want, "line %d, column %d", err.line, err.column);
    CHECK(detail && strstr(detail, want), "detail %s, want %s", detail ? detail : "(none)", want);
    json_decref(none);
    json_decref(p);
}

static void test_content_types(void)
{
    const char *ok_types[] = {"Content-Type: application/json",
                              "Content-Type: application/json; charset=utf-8",
                              "Content-Type: text/plain;charset=UTF-8",
                              "Content-Type: application/x-www-form-urlencoded",
                              "Content-Type: APPLICATION/JSON",
                              /* binary tensors' type: without Inference-Header-Content-Length
                               * the whole body is the JSON */
                              "Content-Type: application/octet-stream"};
    for (size_t i = 0; i < sizeof ok_types / sizeof *ok_types; i++) {
        const char *h[] = {ok_types[i], NULL};
        json_t *j = api_call(NULL, "POST", "/gradients", h, small_request, strlen(small_request),
                             200, NULL);
        CHECK(j && json_number_value(json_object_get(j, "loss")) == 25.0, "%s: loss", ok_types[i]);
        json_decref(j);
    }
    const char *bad_types[] = {"Content-Type: application/xml", "Content-Type: multipart/form-data; boundary=x",
                               "Content-Type: image/png"};
    for (size_t i = 0; i < sizeof bad_types / sizeof *bad_types; i++) {
        const char *h[] = {bad_types[i], NULL};
        json_t *j = api_call(NULL, "POST", "/gradients", h, small_request, strlen(small_request),
                             415, NULL);
        api_check_problem(j, 415, NULL, bad_types[i]);
        json_decref(j);
    }
}

/* The examples in openapi.yaml: every request example answers 200, and the
 * response example of the same name holds the answer's values (6 digits). */
static int close_tree(const json_t *got, const json_t *want, double tol)
{
    if (json_is_number(want))
        return json_is_number(got) && fabs(json_number_value(got) - json_number_value(want)) <=
                                          tol * fmax(1, fabs(json_number_value(want)));
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) return 0;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!close_tree(json_array_get(got, i), json_array_get(want, i), tol)) return 0;
        return 1;
    }
    if (json_is_object(want)) {
        const char *k;
        json_t *v;
        if (!json_is_object(got) || json_object_size(got) != json_object_size(want)) return 0;
        json_object_foreach((json_t *)want, k, v) if (!close_tree(json_object_get(got, k), v, tol)) return 0;
        return 1;
    }
    return json_equal((json_t *)got, (json_t *)want);
}

static void test_openapi_examples(void)
{
    const char *routes[] = {"/forward", "/gradients", "/train", "/gradcheck"};
    json_t *paths = json_object_get(schema_doc(api_schema), "paths");
    int n = 0;
    for (size_t i = 0; i < 4; i++) {
        json_t *post = json_object_get(json_object_get(paths, routes[i]), "post");
        json_t *reqex = json_object_get(json_object_get(json_object_get(json_object_get(
                                            post, "requestBody"), "content"), "application/json"),
                                        "examples");
        json_t *respex = json_object_get(json_object_get(json_object_get(json_object_get(
                                             json_object_get(post, "responses"), "200"), "content"),
                                             "application/json"), "examples");
        const char *name;
        json_t *ex;
        json_object_foreach(reqex, name, ex) {
            json_t *resp = api_post(routes[i], json_object_get(ex, "value"), 200);
            n++;
            json_t *want = json_object_get(json_object_get(respex, name), "value");
            if (want && resp && strcmp(routes[i], "/gradcheck"))
                CHECK(close_tree(resp, want, 2e-6), "%s example %s: the answer differs from the "
                      "documented response", routes[i], name);
            json_decref(resp);
        }
    }
    CHECK(n >= 7, "only %d request examples", n);
}

static void test_request_id(void)
{
    http_response r;
    const char *h[] = {"X-Request-Id: test-id.42:abc", NULL};
    json_decref(api_call(NULL, "GET", "/health/live", h, NULL, 0, 200, &r));
    const char *id = http_header_get(&r, "X-Request-Id");
    CHECK(id && !strcmp(id, "test-id.42:abc"), "echoed id %s", id ? id : "(none)");
    http_response_free(&r);
    /* generated: present and different each time */
    char first[200] = "";
    for (int i = 0; i < 2; i++) {
        json_decref(api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, &r));
        id = http_header_get(&r, "X-Request-Id");
        CHECK(id && *id, "no generated id");
        if (i == 0 && id) snprintf(first, sizeof first, "%s", id);
        if (i == 1 && id) CHECK(strcmp(first, id), "the same id %s twice", id);
        http_response_free(&r);
    }
    /* on a problem: header and request_id agree, and a given id is used */
    const char *h2[] = {"X-Request-Id: bad-req-7", NULL};
    json_t *p = api_call(NULL, "POST", "/forward", h2, "{", 1, 400, &r);
    id = http_header_get(&r, "X-Request-Id");
    CHECK(id && !strcmp(id, "bad-req-7"), "problem id header %s", id ? id : "(none)");
    CHECK(p && json_string_value(json_object_get(p, "request_id")) &&
              !strcmp(json_string_value(json_object_get(p, "request_id")), "bad-req-7"),
          "problem request_id");
    json_decref(p);
    http_response_free(&r);
    /* an invalid id (too long / bad characters) is replaced, not echoed */
    char longid[300] = "X-Request-Id: ";
    memset(longid + 14, 'a', 200);
    longid[214] = 0;
    const char *h3[] = {longid, NULL};
    json_decref(api_call(NULL, "GET", "/health/live", h3, NULL, 0, 200, &r));
    id = http_header_get(&r, "X-Request-Id");
    CHECK(id && strlen(id) <= 128, "a 200-character id was echoed");
    http_response_free(&r);
    const char *h4[] = {"X-Request-Id: <script>", NULL};
    json_decref(api_call(NULL, "GET", "/health/live", h4, NULL, 0, 200, &r));
    id = http_header_get(&r, "X-Request-Id");
    CHECK(id && strcmp(id, "<script>"), "an id with markup was echoed");
    http_response_free(&r);
}

static void test_keepalive_reuse(void)
{
    http_client *c = http_client_new(api_srv.port, NULL);
    http_response r;
    json_decref(api_call(c, "GET", "/health/live", NULL, NULL, 0, 200, &r));
    CHECK(r.num_connects == 1, "first request opened %ld connections", r.num_connects);
    http_response_free(&r);
    for (int i = 0; i < 5; i++) {
        json_decref(api_call(c, "POST", "/gradients", NULL, small_request, strlen(small_request),
                             200, &r));
        CHECK(r.num_connects == 0, "request %d opened a new connection", i);
        http_response_free(&r);
    }
    /* an error answer does not close the connection either */
    json_decref(api_call(c, "POST", "/gradients", NULL, "{\"x\":1}", 7, 400, &r));
    http_response_free(&r);
    json_decref(api_call(c, "GET", "/health/live", NULL, NULL, 0, 200, &r));
    CHECK(r.num_connects == 0, "a 400 closed the connection");
    http_response_free(&r);
    http_client_free(c);
}

static int allow_has(const char *allow, const char *m)
{
    if (!allow) return 0;
    size_t n = strlen(m);
    for (const char *p = allow; (p = strstr(p, m)); p += n)
        if ((p == allow || p[-1] == ' ' || p[-1] == ',') && (!p[n] || p[n] == ',' || p[n] == ' '))
            return 1;
    return 0;
}

static void test_not_found_and_method_not_allowed(void)
{
    const char *missing[] = {"/", "/nope", "/forward/", "/FORWARD", "/forward/extra", "/health",
                             "/metrics/x", "/openapi.json", "/%2e%2e/etc/passwd"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        if (!strcmp(missing[i], "/")) continue; /* the playground page may live here */
        json_t *p = api_call(NULL, "GET", missing[i], NULL, NULL, 0, 404, NULL);
        api_check_problem(p, 404, NULL, missing[i]);
        json_decref(p);
    }
    json_t *p = api_call(NULL, "POST", "/nope", NULL, small_request, strlen(small_request), 404,
                         NULL);
    api_check_problem(p, 404, NULL, "POST /nope");
    json_decref(p);

    struct {
        const char *method, *path, *allow;
    } wrong[] = {{"GET", "/forward", "POST"},     {"PUT", "/gradients", "POST"},
                 {"DELETE", "/train", "POST"},    {"GET", "/gradcheck", "POST"},
                 {"POST", "/health/live", "GET"}, {"POST", "/health/ready", "GET"},
                 {"DELETE", "/metrics", "GET"},   {"PATCH", "/openapi.yaml", "GET"}};
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        http_response r;
        int body = strcmp(wrong[i].method, "GET") && strcmp(wrong[i].method, "DELETE");
        p = api_call(NULL, wrong[i].method, wrong[i].path, NULL, body ? "{}" : NULL, body ? 2 : 0,
                     405, &r);
        const char *allow = http_header_get(&r, "Allow");
        CHECK(allow_has(allow, wrong[i].allow) && allow_has(allow, "OPTIONS") &&
                  !allow_has(allow, wrong[i].method),
              "%s %s: Allow '%s'", wrong[i].method, wrong[i].path, allow ? allow : "(none)");
        CHECK(http_header_get(&r, "Access-Control-Allow-Origin") != NULL,
              "%s %s: 405 without CORS", wrong[i].method, wrong[i].path);
        api_check_problem(p, 405, NULL, wrong[i].path);
        json_decref(p);
        http_response_free(&r);
    }
}

/* A templated path (/static/{file}): its parameter is one non-empty segment,
 * matched after the literal part; anything else is another path. */
static void test_path_parameter(void)
{
    http_response r;
    json_decref(api_call(NULL, "GET", "/static/app.js", NULL, NULL, 0, 200, &r));
    const char *type = http_header_get(&r, "Content-Type");
    CHECK(type && strstr(type, "javascript") && r.body_len > 0, "/static/app.js: %s, %zu bytes",
          type ? type : "(no type)", r.body_len);
    http_response_free(&r);
    const char *missing[] = {"/static/", "/static", "/static/app.js/x", "/static/nope.js",
                             "/static/index.html"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        json_t *p = api_call(NULL, "GET", missing[i], NULL, NULL, 0, 404, NULL);
        api_check_problem(p, 404, NULL, missing[i]);
        json_decref(p);
    }
    json_t *p = api_call(NULL, "PUT", "/static/app.js", NULL, "x", 1, 405, &r);
    const char *allow = http_header_get(&r, "Allow");
    CHECK(allow_has(allow, "GET") && allow_has(allow, "HEAD") && !allow_has(allow, "PUT"),
          "PUT /static/app.js: Allow '%s'", allow ? allow : "(none)");
    api_check_problem(p, 405, NULL, "PUT /static/app.js");
    json_decref(p);
    http_response_free(&r);
}

static void test_cors(void)
{
    const char *routes[] = {"/forward", "/gradients", "/train", "/gradcheck", "/health/live",
                            "/health/ready", "/metrics", "/openapi.yaml"};
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        int post = i < 4;
        char acrm[64];
        snprintf(acrm, sizeof acrm, "Access-Control-Request-Method: %s", post ? "POST" : "GET");
        const char *h[] = {"Origin: https://playground.example", acrm,
                           "Access-Control-Request-Headers: content-type, authorization, x-request-id",
                           NULL};
        http_response r;
        json_decref(api_call(NULL, "OPTIONS", routes[i], h, NULL, 0, 204, &r));
        const char *acao = http_header_get(&r, "Access-Control-Allow-Origin");
        const char *acam = http_header_get(&r, "Access-Control-Allow-Methods");
        const char *acah = http_header_get(&r, "Access-Control-Allow-Headers");
        const char *maxage = http_header_get(&r, "Access-Control-Max-Age");
        CHECK(acao && (!strcmp(acao, "*") || !strcmp(acao, "https://playground.example")),
              "%s: Allow-Origin %s", routes[i], acao ? acao : "(none)");
        CHECK(allow_has(acam, post ? "POST" : "GET"), "%s: Allow-Methods %s", routes[i],
              acam ? acam : "(none)");
        CHECK(acah && strcasestr(acah, "content-type") && strcasestr(acah, "authorization"),
              "%s: Allow-Headers %s", routes[i], acah ? acah : "(none)");
        CHECK(maxage && atoi(maxage) > 0, "%s: Max-Age %s", routes[i], maxage ? maxage : "(none)");
        CHECK(r.body_len == 0, "%s: preflight with a body", routes[i]);
        http_response_free(&r);
    }
    /* CORS headers on answers, errors included */
    const char *h[] = {"Origin: https://playground.example", NULL};
    struct {
        const char *method, *path, *body;
        long status;
    } calls[] = {{"POST", "/gradients", small_request, 200},
                 {"POST", "/gradients", "{", 400},
                 {"POST", "/gradients", "{\"network\":1}", 400},
                 {"GET", "/nope", NULL, 404},
                 {"GET", "/forward", NULL, 405},
                 {"GET", "/health/live", NULL, 200}};
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        http_response r;
        json_decref(api_call(NULL, calls[i].method, calls[i].path, h, calls[i].body,
                             calls[i].body ? strlen(calls[i].body) : 0, calls[i].status, &r));
        const char *acao = http_header_get(&r, "Access-Control-Allow-Origin");
        CHECK(acao && !strcmp(acao, "*"), "%s %s (%ld): Allow-Origin %s", calls[i].method,
              calls[i].path, calls[i].status, acao ? acao : "(none)");
        const char *aceh = http_header_get(&r, "Access-Control-Expose-Headers");
        CHECK(aceh && strcasestr(aceh, "x-request-id"), "%s %s: Expose-Headers %s",
              calls[i].method, calls[i].path, aceh ? aceh : "(none)");
        http_response_free(&r);
    }
    /* a 415 too */
    const char *h415[] = {"Origin: https://x.example", "Content-Type: application/xml", NULL};
    http_response r;
    json_decref(api_call(NULL, "POST", "/forward", h415, "<a/>", 4, 415, &r));
    CHECK(http_header_get(&r, "Access-Control-Allow-Origin") != NULL, "415 without CORS");
    http_response_free(&r);
}

/* gradserve_requests_total{route="/gradients",code="200"} and friends. */
static double metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, series, n) && p[n] == ' ') return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p) p++;
    }
    return -1;
}

static char *get_metrics(void)
{
    http_response r;
    json_decref(api_call(NULL, "GET", "/metrics", NULL, NULL, 0, 200, &r));
    char *s = strdup(r.body ? r.body : "");
    const char *ct = http_header_get(&r, "Content-Type");
    CHECK(ct && strstr(ct, "text/plain") && strstr(ct, "version=0.0.4"), "metrics type %s",
          ct ? ct : "(none)");
    http_response_free(&r);
    return s;
}

/* Over three identical requests between two /metrics texts, cache NAME
 * (NAME_hits_total, NAME_misses_total) counted each once, and hit at least twice. */
static void check_cache_counts(const char *before, const char *after, const char *name)
{
    char hits[96], misses[96];
    snprintf(hits, sizeof hits, "%s_hits_total", name);
    snprintf(misses, sizeof misses, "%s_misses_total", name);
    double h0 = metric(before, hits), m0 = metric(before, misses);
    double h1 = metric(after, hits), m1 = metric(after, misses);
    CHECK(h1 + m1 == h0 + m0 + 3 && h1 >= h0 + 2, "%s: hits %g -> %g, misses %g -> %g over 3 "
          "identical requests", name, h0, h1, m0, m1);
}

static void test_metrics(void)
{
    char *before = get_metrics();
    const char *ok = "gradserve_requests_total{route=\"/gradients\",code=\"200\"}";
    const char *bad = "gradserve_requests_total{route=\"/gradients\",code=\"400\"}";
    const char *hcount = "gradserve_request_duration_seconds_count{route=\"/gradients\"}";
    const char *ccount = "gradserve_compute_duration_seconds_count{route=\"/gradients\"}";
    double ok0 = fmax(0, metric(before, ok)), bad0 = fmax(0, metric(before, bad));
    double h0 = fmax(0, metric(before, hcount)), c0 = fmax(0, metric(before, ccount));
    for (int i = 0; i < 3; i++) json_decref(api_post_text("/gradients", small_request, 200));
    /* the same request three times: its skeleton parsed, and its network read, at most once */
    char *middle = get_metrics();
    check_cache_counts(before, middle, "gradserve_skeleton_cache");
    check_cache_counts(before, middle, "gradserve_network_cache");
    free(middle);
    for (int i = 0; i < 2; i++) json_decref(api_post_text("/gradients", "{\"bad\":1}", 400));
    char *after = get_metrics();
    CHECK(metric(after, ok) == ok0 + 3, "%s: %g -> %g, want +3", ok, ok0, metric(after, ok));
    CHECK(metric(after, bad) == bad0 + 2, "%s: %g -> %g, want +2", bad, bad0, metric(after, bad));
    CHECK(metric(after, hcount) == h0 + 5, "%s: %g -> %g, want +5", hcount, h0,
          metric(after, hcount));
    CHECK(metric(after, ccount) >= c0 + 3, "%s: %g -> %g, want +3", ccount, c0,
          metric(after, ccount));
    const char *names[] = {"# TYPE gradserve_requests_total counter",
                           "# TYPE gradserve_request_duration_seconds histogram",
                           "# TYPE gradserve_compute_duration_seconds histogram",
                           "# TYPE gradserve_inflight_requests gauge",
                           "# TYPE gradserve_rejected_total counter",
                           "gradserve_build_info{version=\"" GS_VERSION "\"} 1",
                           "gradserve_request_duration_seconds_bucket{route=\"/gradients\",le=\"+Inf\"}",
                           "# HELP gradserve_requests_total "};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        CHECK(strstr(after, names[i]) != NULL, "metrics lack '%s'", names[i]);
    /* +Inf bucket equals the count; the scrape itself is in flight */
    CHECK(metric(after, "gradserve_request_duration_seconds_bucket{route=\"/gradients\",le=\"+Inf\"}") ==
              metric(after, hcount),
          "+Inf bucket != count");
    CHECK(metric(after, "gradserve_inflight_requests") >= 1, "inflight %g during a scrape",
          metric(after, "gradserve_inflight_requests"));
    size_t n = strlen(after);
    CHECK(n && after[n - 1] == '\n', "no final newline");
    free(before);
    free(after);
}

int main(void)
{
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    if (api_start(NULL, NULL) == 0) {
        RUN(test_health);
        RUN(test_openapi_served_equals_file);
        RUN(test_forward_matches_core);
        RUN(test_init_schemes);
        RUN(test_activations);
        RUN(test_losses_and_reductions);
        RUN(test_labels_equal_one_hot);
        RUN(test_encodings);
        RUN(test_gradients_extras);
        RUN(test_activations_and_penalty);
        RUN(test_train_optimizers);
        RUN(test_train_minibatch_shuffle);
        RUN(test_train_resume);
        RUN(test_train_diverged);
        RUN(test_gradcheck);
        RUN(test_non_finite_outputs);
        RUN(test_content_types);
        RUN(test_encodings_agree);
        RUN(test_binary_errors);
        RUN(test_json_tensor_errors);
        RUN(test_openapi_examples);
        RUN(test_request_id);
        RUN(test_keepalive_reuse);
        RUN(test_not_found_and_method_not_allowed);
        RUN(test_path_parameter);
        RUN(test_cors);
        RUN(test_metrics);
        api_stop();
    }
    api_check_all_responses_valid();
    schema_free(api_schema);
    return CHECK_DONE();
}
