/* API tests of typed layers (flatten, ...) against PyTorch, through the real
 * server: every network of tests/fixtures/layers.json is sent to /gradients
 * (params and inputs as {"shape", "data"} or as nested arrays of rank 4),
 * and the loss, outputs, gradients, dL/dx and dL/dz that come back are
 * compared with torch's at the fixture tolerances (relative to the tensor's
 * largest value: 1e-10 float64, 1e-4 float32). /gradcheck must pass on each,
 * and each training run goes through /train. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/apitest.h"
#include "lib/fixture.h"

#define TOL_F64 1e-10
#define TOL_F32 1e-4

static json_t *flat_tensor(const json_t *data, size_t rank, const size_t *dims)
{
    json_t *shape = json_array();
    for (size_t i = 0; i < rank; i++) json_array_append_new(shape, json_integer((json_int_t)dims[i]));
    return json_pack("{s:o,s:O}", "shape", shape, "data", data);
}

/* data (a flat array) as nested arrays of dims[0..rank-1], from element *at. */
static json_t *nested(const json_t *data, size_t rank, const size_t *dims, size_t *at)
{
    json_t *a = json_array();
    for (size_t i = 0; i < dims[0]; i++)
        json_array_append_new(a, rank == 1 ? json_copy(json_array_get(data, (*at)++))
                                           : nested(data, rank - 1, dims + 1, at));
    return a;
}

/* The fixture's net, built by the core: the request's tensor shapes. */
typedef struct {
    gs_net_def def;
    gs_layer_def layers[FX_MAX_LAYERS];
    gs_net *net;
    size_t rows;
} fx_net;

static int fx_net_build(fx_net *n, const json_t *fx)
{
    char why[200];
    gs_error err = {0};
    memset(n, 0, sizeof *n);
    if (fx_net_def(fx, &n->def, n->layers, why, sizeof why)) {
        CHECK(0, "fixture: %s", why);
        return -1;
    }
    n->net = gs_net_create(&n->def, NULL, NULL, &err);
    CHECK(n->net != NULL, "gs_net_create: %s", err.message);
    n->rows = (size_t)json_integer_value(json_object_get(fx, "rows"));
    return n->net ? 0 : -1;
}

/* The rows dimension then a row shape. */
static size_t batch_dims(size_t rows, gs_shape s, size_t dims[4])
{
    dims[0] = rows;
    for (size_t i = 0; i < s.rank; i++) dims[i + 1] = s.dim[i];
    return s.rank + 1;
}

/* A request from a fixture: its network, params, inputs and targets. */
static json_t *request_of(const json_t *fx, const fx_net *n, int nested_inputs)
{
    json_t *req = json_object();
    json_object_set(req, "network", json_object_get(fx, "def"));
    json_object_set(req, "dtype", json_object_get(fx, "dtype"));
    json_t *params = json_array();
    const json_t *fp = json_object_get(fx, "params");
    for (size_t l = 0; l < n->def.n_layers; l++) {
        json_t *obj = json_object();
        size_t first, count = gs_net_layer_tensors(n->net, l, &first);
        for (size_t t = first; t < first + count; t++) {
            size_t dims[4], rank = gs_net_tensor_dims(n->net, t, dims);
            const char *name = gs_net_tensor_name(n->net, t);
            json_object_set_new(obj, name,
                                flat_tensor(json_object_get(json_array_get(fp, l), name), rank,
                                            dims));
        }
        /* batch_norm's running statistics ride in its params object */
        const json_t *fb = json_array_get(json_object_get(fx, "buffers"), l);
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)fb, key, val) json_object_set(obj, key, val);
        json_array_append_new(params, obj);
    }
    json_object_set_new(req, "params", params);
    size_t dims[4], rank = batch_dims(n->rows, gs_net_input_shape(n->net), dims), at = 0;
    const json_t *x = json_object_get(fx, "inputs");
    json_object_set_new(req, "inputs", nested_inputs ? nested(x, rank, dims, &at)
                                                      : flat_tensor(x, rank, dims));
    if (json_object_get(fx, "seed")) json_object_set(req, "seed", json_object_get(fx, "seed"));
    const json_t *labels = json_object_get(fx, "labels");
    if (labels) {
        json_object_set(req, "targets", (json_t *)labels);
    } else {
        size_t tdims[2] = {n->rows, gs_net_outputs(n->net)};
        json_object_set_new(req, "targets", flat_tensor(json_object_get(fx, "targets"), 2, tdims));
    }
    return req;
}

/* A {"shape", "data"} response tensor against a fixture's flat array. */
static void cmp(const char *what, const json_t *got, const json_t *want, size_t rank,
                const size_t *dims, double tol)
{
    const json_t *shape = json_object_get(got, "shape"), *data = json_object_get(got, "data");
    int shape_ok = json_array_size(shape) == rank;
    for (size_t i = 0; shape_ok && i < rank; i++)
        shape_ok = (size_t)json_integer_value(json_array_get(shape, i)) == dims[i];
    char *s = shape_ok ? NULL : json_dumps(shape, JSON_COMPACT);
    CHECK(shape_ok, "%s: shape %s", what, s ? s : "?");
    free(s);
    size_t n = json_array_size(want);
    if (!shape_ok || json_array_size(data) != n) {
        CHECK(0, "%s: %zu numbers, want %zu", what, json_array_size(data), n);
        return;
    }
    double max_diff = 0, max_want = 0;
    for (size_t i = 0; i < n; i++) {
        double a = json_number_value(json_array_get(data, i)), b =
                                                                    json_number_value(json_array_get(want, i));
        max_diff = fmax(max_diff, fabs(a - b));
        max_want = fmax(max_want, fabs(b));
    }
    double e = max_diff / fmax(max_want, FX_TINY);
    CHECK(e <= tol, "%s: relative error %.3g > %.0e", what, e, tol);
}

/* batch_norm's running statistics in a response's params against a
 * fixture's expected [{running_mean, running_var}, {}, ...]. */
static void cmp_buffers(const gs_net *net, const json_t *params, const json_t *want, double tol)
{
    for (size_t b = 0; b < gs_net_buffer_count(net); b++) {
        size_t l = gs_net_buffer_layer(net, b), dims[1] = {gs_net_buffer_size(net, b)};
        const char *name = gs_net_buffer_name(net, b);
        char what[64];
        snprintf(what, sizeof what, "params/%zu/%s", l, name);
        cmp(what, json_object_get(json_array_get(params, l), name),
            json_object_get(json_array_get(want, l), name), 1, dims, tol);
    }
}

/* A fixture in evaluation mode (batch_norm on its running statistics):
 * /forward, outputs and loss. */
static void forward_case(const json_t *fx, const fx_net *n, const char *variant)
{
    (void)variant;
    double tol = n->def.dtype == GS_FLOAT64 ? TOL_F64 : TOL_F32;
    json_t *req = request_of(fx, n, 1);
    json_object_set_new(req, "encoding", json_string("flat"));
    json_t *resp = api_post_new("/forward", req, 200);
    const json_t *exp = json_object_get(fx, "expected");
    double loss = json_number_value(json_object_get(resp, "loss"));
    double want = json_number_value(json_object_get(exp, "loss"));
    CHECK(fabs(loss - want) <= tol * fmax(fabs(want), 1e-30), "loss %.17g, torch %.17g",
          loss, want);
    size_t odims[2] = {n->rows, gs_net_outputs(n->net)};
    cmp("outputs", json_object_get(resp, "outputs"), json_object_get(exp, "outputs"), 2,
        odims, tol);
    json_decref(resp);
}

static void gradients_case(const json_t *fx, const fx_net *n, const char *variant)
{
    int nested_inputs = !strcmp(variant, "nested");
    double tol = n->def.dtype == GS_FLOAT64 ? TOL_F64 : TOL_F32;
    json_t *req = request_of(fx, n, nested_inputs);
    json_object_set_new(req, "encoding", json_string("flat"));
    json_object_set_new(req, "return",
                        json_pack("{s:b,s:b,s:b,s:b,s:b}", "outputs", 1, "input_grad", 1,
                                  "deltas", 1, "masks", 1, "params", 1));
    json_t *resp = api_post_new("/gradients", req, 200);
    const json_t *exp = json_object_get(fx, "expected");
    if (resp) {
        double loss = json_number_value(json_object_get(resp, "loss"));
        double want = json_number_value(json_object_get(exp, "loss"));
        CHECK(fabs(loss - want) <= tol * fmax(fabs(want), 1e-30), "loss %.17g, torch %.17g",
              loss, want);
        size_t dims[4], rank;
        size_t odims[2] = {n->rows, gs_net_outputs(n->net)};
        cmp("outputs", json_object_get(resp, "outputs"), json_object_get(exp, "outputs"), 2,
            odims, tol);
        for (size_t t = 0; t < gs_net_tensor_count(n->net); t++) {
            size_t l = gs_net_tensor_layer(n->net, t);
            const char *tn = gs_net_tensor_name(n->net, t);
            char what[64];
            snprintf(what, sizeof what, "gradients/%zu/%s", l, tn);
            rank = gs_net_tensor_dims(n->net, t, dims);
            cmp(what, json_object_get(json_array_get(json_object_get(resp, "gradients"), l), tn),
                json_object_get(json_array_get(json_object_get(exp, "grads"), l), tn), rank,
                dims, tol);
        }
        for (size_t l = 0; l < n->def.n_layers; l++) {
            const json_t *g = json_array_get(json_object_get(resp, "gradients"), l);
            CHECK(json_object_size(g) == gs_net_layer_tensors(n->net, l, NULL),
                  "gradients/%zu has %zu tensors", l, json_object_size(g));
        }
        rank = batch_dims(n->rows, gs_net_input_shape(n->net), dims);
        cmp("input_grad", json_object_get(resp, "input_grad"),
            json_object_get(exp, "input_grad"), rank, dims, tol);
        cmp_buffers(n->net, json_object_get(resp, "params"),
                    json_object_get(exp, "buffers"), tol);
        const json_t *masks = json_object_get(resp, "masks"), *fm = json_object_get(fx, "masks");
        CHECK(json_array_size(masks) == n->def.n_layers, "%zu masks", json_array_size(masks));
        for (size_t l = 0; l < n->def.n_layers; l++) {
            const json_t *m = json_array_get(masks, l), *mw = json_array_get(fm, l);
            char what[32];
            snprintf(what, sizeof what, "masks/%zu", l);
            if (n->def.layers[l].type != GS_LAYER_DROPOUT) {
                CHECK(json_is_null(m), "%s: not null", what);
                continue;
            }
            rank = batch_dims(n->rows, gs_net_layer_shape(n->net, l), dims);
            cmp(what, m, mw, rank, dims, 0);
        }
        for (size_t l = 0; l < n->def.n_layers; l++) {
            char what[32];
            snprintf(what, sizeof what, "deltas/%zu", l);
            rank = batch_dims(n->rows, gs_net_layer_shape(n->net, l), dims);
            cmp(what, json_array_get(json_object_get(resp, "deltas"), l),
                json_array_get(json_object_get(exp, "deltas"), l), rank, dims, tol);
        }
    }
    json_decref(resp);
}

static void gradcheck_case(const json_t *fx, const fx_net *n, const char *variant)
{
    (void)variant;
    json_t *resp = api_post_new("/gradcheck", request_of(fx, n, 0), 200);
    const json_t *ts = json_object_get(resp, "tensors");
    CHECK(json_array_size(ts) == gs_net_tensor_count(n->net), "%zu tensors, the net has %zu",
          json_array_size(ts), gs_net_tensor_count(n->net));
    for (size_t t = 0; t < json_array_size(ts); t++) {
        const json_t *e = json_array_get(ts, t);
        CHECK((size_t)json_integer_value(json_object_get(e, "layer")) ==
                      gs_net_tensor_layer(n->net, t) &&
                  !strcmp(json_string_value(json_object_get(e, "name")),
                          gs_net_tensor_name(n->net, t)),
              "tensor %zu is not layer %zu's %s", t, gs_net_tensor_layer(n->net, t),
              gs_net_tensor_name(n->net, t));
    }
    CHECK(json_is_true(json_object_get(resp, "passed")),
          "back-propagation disagrees with central differences");
    json_decref(resp);
}

static void train_case(const json_t *fx, const fx_net *n, const char *variant)
{
    (void)variant;
    double tol = n->def.dtype == GS_FLOAT64 ? 1e-9 : TOL_F32;
    json_t *req = request_of(fx, n, 1);
    const json_t *o = json_object_get(fx, "optim"), *tr = json_object_get(fx, "train");
    json_t *opt = json_pack("{s:O,s:O}", "name", json_object_get(o, "kind"), "lr",
                            json_object_get(o, "lr"));
    const char *kind = json_string_value(json_object_get(o, "kind"));
    json_object_set(opt, "weight_decay", json_object_get(o, "weight_decay"));
    if (!strcmp(kind, "adam") || !strcmp(kind, "adamw"))
        json_object_set_new(opt, "betas", json_pack("[O,O]", json_object_get(o, "beta1"),
                                                    json_object_get(o, "beta2")));
    if (!strcmp(kind, "sgd"))
        json_object_set(opt, "momentum", json_object_get(o, "momentum"));
    json_object_set_new(req, "optimizer", opt);
    json_object_set(req, "epochs", json_object_get(tr, "epochs"));
    json_object_set(req, "seed", json_object_get(tr, "seed"));
    json_object_set(req, "batch_size", json_object_get(tr, "batch_size"));
    json_object_set_new(req, "encoding", json_string("flat"));
    json_t *resp = api_post_new("/train", req, 200);
    const json_t *exp = json_object_get(fx, "expected");
    const json_t *hist = json_object_get(resp, "loss_history"),
                 *want = json_object_get(exp, "loss_history");
    CHECK(json_array_size(hist) == json_array_size(want), "%zu steps, torch %zu",
          json_array_size(hist), json_array_size(want));
    for (size_t k = 0; k < json_array_size(hist) && k < json_array_size(want); k++) {
        double a = json_number_value(json_array_get(hist, k)),
               b = json_number_value(json_array_get(want, k));
        CHECK(fabs(a - b) <= tol * fmax(fabs(b), 1e-30), "step %zu loss %.17g, torch %.17g",
              k, a, b);
    }
    for (size_t t = 0; resp && t < gs_net_tensor_count(n->net); t++) {
        size_t l = gs_net_tensor_layer(n->net, t), dims[4];
        size_t rank = gs_net_tensor_dims(n->net, t, dims);
        const char *tn = gs_net_tensor_name(n->net, t);
        char what[64];
        snprintf(what, sizeof what, "params/%zu/%s", l, tn);
        cmp(what, json_object_get(json_array_get(json_object_get(resp, "params"), l), tn),
            json_object_get(json_array_get(json_object_get(exp, "params"), l), tn), rank,
            dims, tol);
    }
    if (resp)
        cmp_buffers(n->net, json_object_get(resp, "params"), json_object_get(exp, "buffers"),
                    tol);
    json_decref(resp);
}

/* One case of a fixture: named "kind/<the fixture's name>[/variant]", the
 * fixture's net built, then check on it (not when the build failed: that is
 * the case's failure). */
typedef void fx_check(const json_t *fx, const fx_net *n, const char *variant);
static void fixture_case(const char *kind, const json_t *fx, fx_check *check, const char *variant)
{
    static char name[200];
    snprintf(name, sizeof name, "%s/%s%s%s", kind, json_string_value(json_object_get(fx, "name")),
             variant ? "/" : "", variant ? variant : "");
    check_begin(name);
    fx_net n;
    if (fx_net_build(&n, fx) == 0) check(fx, &n, variant);
    gs_net_free(n.net);
    check_end();
}


/* Dropout's modes and masks: the same request gives the same bytes, another
 * seed other masks; /forward is in evaluation mode (the identity) unless
 * "train": true, which gives /gradients' loss for the same seed. */
static void test_dropout_modes(void)
{
    const char *net =
        "{\"network\":{\"inputs\":6,\"layers\":[{\"units\":16,\"activation\":\"tanh\"},"
        "{\"type\":\"dropout\",\"p\":0.5},{\"units\":2,\"activation\":\"linear\"}]},"
        "\"init\":{\"seed\":4},\"inputs\":[[1,2,3,4,5,6],[0,1,0,1,0,1],[2,0,2,0,2,0]],"
        "\"targets\":[[1,0],[0,1],[1,1]]";
    char body[1200];
    http_response r1, r2;
    snprintf(body, sizeof body, "%s,\"seed\":5,\"return\":{\"masks\":true}}", net);
    json_t *a = api_call(NULL, "POST", "/gradients", NULL, body, strlen(body), 200, &r1);
    json_t *b = api_call(NULL, "POST", "/gradients", NULL, body, strlen(body), 200, &r2);
    CHECK(r1.body_len == r2.body_len && !memcmp(r1.body, r2.body, r1.body_len),
          "the same request gave other bytes");
    snprintf(body, sizeof body, "%s,\"seed\":6,\"return\":{\"masks\":true}}", net);
    json_t *c = api_post_text("/gradients", body, 200);
    const json_t *ma = json_array_get(json_object_get(a, "masks"), 1);
    const json_t *mc = json_array_get(json_object_get(c, "masks"), 1);
    CHECK(json_array_size(ma) == 3 && json_array_size(json_array_get(ma, 0)) == 16,
          "mask of shape [3, 16]");
    CHECK(!json_equal((json_t *)ma, (json_t *)mc), "seeds 5 and 6 drew the same masks");
    size_t kept = 0;
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 16; j++) kept += json_number_value(json_array_get(json_array_get(ma, i), j)) == 1;
    CHECK(kept > 8 && kept < 40, "%zu of 48 kept at p 0.5", kept);
    snprintf(body, sizeof body, "%s,\"seed\":5,\"train\":true}", net);
    json_t *ft = api_post_text("/forward", body, 200);
    snprintf(body, sizeof body, "%s,\"seed\":5}", net);
    json_t *fe = api_post_text("/forward", body, 200);
    double lg = json_number_value(json_object_get(a, "loss"));
    CHECK(json_number_value(json_object_get(ft, "loss")) == lg,
          "forward in training mode: loss %.17g, /gradients' %.17g",
          json_number_value(json_object_get(ft, "loss")), lg);
    CHECK(json_number_value(json_object_get(fe, "loss")) != lg,
          "forward in evaluation mode gave the training loss");
    /* evaluation mode is the identity: the loss of p = 0 in training mode */
    char net0[800];
    snprintf(net0, sizeof net0, "%s", net);
    char *pp = strstr(net0, "\"p\":0.5");
    if (pp) memcpy(pp, "\"p\":0.0", 7);
    snprintf(body, sizeof body, "%s,\"seed\":5,\"train\":true}", net0);
    json_t *f0 = api_post_text("/forward", body, 200);
    CHECK(pp && json_number_value(json_object_get(fe, "loss")) ==
                    json_number_value(json_object_get(f0, "loss")),
          "evaluation mode is not the identity");
    json_decref(f0);
    http_response_free(&r1);
    http_response_free(&r2);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(ft);
    json_decref(fe);
}

/* /gradcheck's cost counts a convolution's weights at every output position:
 * LeNet-5 on one image has 61,706 parameters (rows x params^2 = 3.8e9, under
 * the default 1e10) but a forward pass of about 3.6e5 multiply-adds a row, so
 * the check would cost 2.2e10: refused before any work, naming the limit. */
static void test_gradcheck_cost_counts_convolutions(void)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"network\":{\"inputs\":[1,28,28],\"layers\":["
             "{\"type\":\"conv2d\",\"out_channels\":6,\"kernel_size\":5,\"padding\":2,"
             "\"activation\":\"relu\"},{\"type\":\"max_pool2d\",\"kernel_size\":2},"
             "{\"type\":\"conv2d\",\"out_channels\":16,\"kernel_size\":5,\"activation\":\"relu\"},"
             "{\"type\":\"max_pool2d\",\"kernel_size\":2},{\"type\":\"flatten\"},"
             "{\"units\":120,\"activation\":\"relu\"},{\"units\":84,\"activation\":\"relu\"},"
             "{\"units\":10,\"activation\":\"linear\"}],\"loss\":\"cross_entropy\"},"
             "\"init\":{},\"inputs\":{\"shape\":[1,1,28,28],\"dtype\":\"float32\",\"b64\":\"%s\"},"
             "\"targets\":[3]}",
             "");
    /* 784 zeros as base64: 3136 bytes */
    char *zeros = calloc(784, 4), *b64 = api_b64_encode(zeros, 784 * 4);
    size_t n = strlen(body) + strlen(b64) + 1;
    char *full = malloc(n);
    char *at = strstr(body, "\"b64\":\"\"");
    if (full && at && b64) {
        size_t head = (size_t)(at - body) + 7;
        memcpy(full, body, head);
        strcpy(full + head, b64);
        strcat(full, body + head);
        json_t *p = api_post_text("/gradcheck", full, 422);
        const char *lim = json_string_value(json_object_get(p, "limit"));
        CHECK(lim && !strcmp(lim, "max_gradcheck_cost"), "limit %s", lim ? lim : "-");
        json_decref(p);
        /* the same network's gradients are fine */
        json_decref(api_post_text("/gradients", full, 200));
    } else {
        CHECK(0, "out of memory");
    }
    free(full);
    free(zeros);
    free(b64);
}

int main(void)
{
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    char why[300];
    json_t *root = fx_load("tests/fixtures/layers.json", why, sizeof why);
    if (!root) {
        printf("  %s\nFAIL load_fixtures\n0 passed, 1 failed\n", why);
        schema_free(api_schema);
        return 1;
    }
    if (api_start(NULL, NULL) == 0) {
        const json_t *nets = json_object_get(root, "nets");
        const json_t *runs = json_object_get(root, "training");
        check_begin("fixtures_present");
        CHECK(json_array_size(nets) > 0 && json_array_size(runs) > 0, "layers.json is empty");
        check_end();
        for (size_t i = 0; i < json_array_size(nets); i++) {
            const json_t *fx = json_array_get(nets, i), *tr = json_object_get(fx, "training");
            if (json_is_false(tr)) { /* the server's training mode is /gradients' */
                fixture_case("forward", fx, forward_case, NULL);
                continue;
            }
            fixture_case("gradients", fx, gradients_case, i % 2 ? "nested" : "flat");
            fixture_case("gradcheck", fx, gradcheck_case, NULL);
        }
        for (size_t i = 0; i < json_array_size(runs); i++)
            fixture_case("train", json_array_get(runs, i), train_case, NULL);
        RUN(test_dropout_modes);
        RUN(test_gradcheck_cost_counts_convolutions);
        api_stop();
    }
    api_check_all_responses_valid();
    json_decref(root);
    schema_free(api_schema);
    return CHECK_DONE();
}
