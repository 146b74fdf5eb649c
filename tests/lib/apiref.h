/* What the API tests compare answers with: a test case (network, batch,
 * params) that can be written as a request in any tensor encoding and run
 * in-process through the core library, plus decoding and exact comparison
 * of the tensors a response carries.
 *
 * Values are generated already rounded to the case's dtype and written with
 * 17 significant digits, so the server reads exactly the numbers the core is
 * given here; answers must then agree bit for bit (float32 read back through
 * double and rounded, which is exact for round-trip output). */
#ifndef GS_TEST_APIREF_H
#define GS_TEST_APIREF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gradserve.h"

typedef enum { API_NESTED = 0, API_FLAT, API_B64 } api_enc;
const char *api_enc_name(api_enc e);

#define API_MAX_LAYERS 8

typedef struct {
    gs_net_def def; /* def.layers points at layers */
    gs_layer_def layers[API_MAX_LAYERS];
    int send_slope[API_MAX_LAYERS]; /* write slope / alpha into the request */
    int send_alpha[API_MAX_LAYERS];
    int send_reduction, send_huber_delta, send_loss, send_dtype;
    size_t rows;
    double *x;         /* rows x inputs */
    double *t;         /* rows x outputs, or NULL */
    int64_t *labels;   /* rows, or NULL */
    double *params;    /* param_count (slab order), or NULL: initialised */
    gs_init_scheme init;
    uint64_t seed;
    int send_init;     /* write "init" (else the defaults apply) */
    api_enc in_enc;    /* encoding of the request's tensors */
    api_enc targets_enc;
    const char *out_enc; /* "encoding" to ask for, or NULL */
} api_case;

/* A case with no layers yet; loss, dtype as given. */
void api_case_init(api_case *c, size_t inputs, gs_loss loss, gs_dtype dt);
void api_case_layer(api_case *c, size_t units, gs_activation act);
/* rows of random inputs and targets fitting the loss (probabilities for the
 * cross-entropies, labels when labels != 0), and random params unless
 * with_params is 0. Deterministic in seed. */
void api_case_random(api_case *c, size_t rows, uint64_t seed, int with_params, int labels);
void api_case_free(api_case *c);
size_t api_case_param_count(const api_case *c);
size_t api_case_outputs(const api_case *c);

/* Rounds to the dtype (float32 values are exact floats). */
double api_round(double v, gs_dtype dt);

/* A tensor of n = prod(shape) values in any encoding (b64 in dtype dt). */
json_t *api_tensor(const double *v, const size_t *shape, size_t ndim, gs_dtype dt, api_enc enc);
/* The request body: network, dtype, params or init, inputs, targets, encoding. */
json_t *api_case_json(const api_case *c);
/* params as a request array (of the case's dtype) from a slab of doubles. */
json_t *api_params_json(const api_case *c, const double *slab, api_enc enc);

/* The core side. */
typedef struct {
    gs_net *net;
    gs_pass *pass;
    void *x, *t; /* the batch in the net's dtype */
    gs_batch batch;
    double loss;
    gs_status status;
    gs_error err;
} api_ref;

/* Creates the net (params set or initialised). 0 or -1 (message in r->err). */
int api_ref_net(const api_case *c, api_ref *r);
int api_ref_forward(const api_case *c, api_ref *r);
int api_ref_backward(const api_case *c, unsigned keep, api_ref *r);
void api_ref_free(api_ref *r);

/* Optimizer definition from a request's "optimizer" object (torch defaults
 * from gs_optim_defaults, then the given fields). -1 on an unknown name. */
int api_optim_from_json(const json_t *o, gs_optim_def *od);

/* Decoded tensor. */
typedef struct {
    size_t ndim;
    size_t shape[8];
    size_t n;
    double *v;
    int b64;            /* 1 when it was base64 */
    gs_dtype b64_dtype; /* its dtype then */
    api_enc enc;
} api_tensor_t;

int api_tensor_decode(const json_t *j, api_tensor_t *t, char *err, size_t errlen);
void api_tensor_free(api_tensor_t *t);

/* 0 when j is a tensor of exactly this shape whose values equal ref (n
 * values of dtype dt) after rounding to dt; want_enc >= 0 also requires that
 * encoding (and for b64 the dtype dt). -1 with the first difference in err. */
int api_tensor_equal(const json_t *j, const void *ref, gs_dtype dt, const size_t *shape,
                     size_t ndim, int want_enc, char *err, size_t errlen);

/* 0 when arr is a params array ([{weight, bias}] per layer) equal to the slab
 * (param_count values of the net's dtype, in the net's layout). */
int api_params_equal(const json_t *arr, const gs_net *net, const void *slab, int want_enc,
                     char *err, size_t errlen);

/* Base64 (standard, padded). Encode returns a malloc'd string; decode returns
 * malloc'd bytes and their count, or NULL on bad input. */
char *api_b64_encode(const void *data, size_t len);
unsigned char *api_b64_decode(const char *s, size_t *len);

#endif
