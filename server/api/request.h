/* A compute request decoded from JSON into the core's structures: the common
 * part (network, params or init, batch, encoding) that every compute route
 * shares, and the optimizer part of /train. */
#ifndef GS_SERVER_REQUEST_H
#define GS_SERVER_REQUEST_H

#include <jansson.h>

#include "api/net_cache.h"
#include "wire/codec.h"
#include "gradserve.h"
#include "options.h"
#include "wire/problem.h"

/* Which top-level keys a route accepts beyond the common ones, and whether
 * it needs targets. */
typedef struct {
    const char *const *extra_keys; /* NULL-terminated */
    int needs_targets;
} request_kind;

typedef struct {
    const json_t *root;
    const codec_ctx *codec;    /* what the body holds beyond root (codec.h) */
    gs_net_def def;
    gs_layer_def *layers;      /* [def.n_layers]: few_layers, or srv_malloc'd when more */
    tensor_encoding encoding;  /* of the response's tensors */
    gs_net *net;
    int initialised;           /* params came from "init": the response returns them */
    gs_batch batch;            /* inputs [rows, inputs]; targets values or labels */
    void *inputs, *targets;    /* owned copies; inputs NULL when batch.inputs uses the
                                  request's binary or base64 bytes where they lie */
    int64_t *labels;
    /* last: written before read (decode_network, net_cache_get), so that
     * request_decode and request_free clear the fields above only (2 KB less) */
    gs_layer_def few_layers[NET_CACHE_MAX_LAYERS];
} request;

/* Decodes the common fields of root (opened with codec_open, whose codec
 * must outlive r) into r (zeroed first). The network's definition is taken
 * from nets when codec's skeleton id is kept there, and kept there when it is
 * read and checked without an error (NULL: read every time; the answers are
 * the same). Returns 1, or 0 with d filled (400 invalid, 422 over a limit,
 * 500 out of memory). */
int request_decode(request *r, const json_t *root, const codec_ctx *codec,
                   const request_kind *kind, const server_options *o, net_cache *nets,
                   diag *d);
void request_free(request *r);

/* Reads an optional member: 1 when present and valid, 0 when absent, -1 when
 * invalid (error added to d at base/key). */
int get_bool(const json_t *obj, const char *key, const char *base, int *out, diag *d);
int get_number(const json_t *obj, const char *key, const char *base, double *out, diag *d);
int get_count(const json_t *obj, const char *key, const char *base, size_t min, size_t *out,
              diag *d); /* integer >= min */
int get_seed(const json_t *obj, const char *key, const char *base, uint64_t *out, diag *d);
/* Rejects every key of obj not in allowed (NULL-terminated lists, any number
 * of them, the last argument NULL). */
int check_keys(const json_t *obj, const char *base, diag *d, ...);
/* obj must be an object; else an error at ptr. */
int need_object(const json_t *v, const char *ptr, diag *d);

/* The core's field (relative to a definition) as a pointer under prefix. */
void core_field_ptr(char out[PTR_MAX], const char *prefix, const char *field);
/* Turns a core error into a problem: EINVAL 400 at prefix + field, ELIMIT
 * 422 naming a limit, ENOMEM 500. */
void diag_core(diag *d, const gs_error *e, const char *prefix, const char *limit);

/* /train: the optimizer definition (with its per-kind keys) and the resume
 * state, read into an optimizer created for r->net. */
int optimizer_decode(const json_t *root, gs_optim_def *def, diag *d);
int optimizer_state_decode(const json_t *root, gs_optim *opt, const request *r, diag *d);

/* Reads a params-shaped list [{"weight": [out,in], "bias": [out]}, {}, ...] at
 * at into a slab of r->net's layout and dtype; with buffers (the params
 * themselves, not optimizer state) also the optional running_mean and
 * running_var of batch_norm layers, which start at 0 and 1 when absent. */
int params_decode(const json_t *v, const json_ptr *at, const request *r, void *slab,
                  int buffers, diag *d);

#endif
