/* Loading the PyTorch reference fixtures (tests/fixtures, JSON) and comparing
 * core buffers against them.
 *
 * A fixture network is {"dtype", "def": {inputs (a count or [C, H, W]),
 * layers: [{type? (dense), units, activation, slope?, alpha?} or {type:
 * "flatten"}], loss, reduction, huber_delta?, penalty?: {l1?, l2?}}, "params": [{weight, bias} or {}],
 * "rows", "inputs", "targets" | "labels", ...}; every tensor is a flat,
 * row-major array of numbers (see tests/fixtures/make_fixtures.py). */
#ifndef GS_TEST_FIXTURE_H
#define GS_TEST_FIXTURE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gradserve.h"

#define FX_MAX_LAYERS 16

/* Loads path; NULL with a message in why (e.g. missing file, bad JSON). */
json_t *fx_load(const char *path, char *why, size_t why_size);

/* A fixture's definition parsed into layers[] (FX_MAX_LAYERS entries), with
 * gs_net_def_init / gs_layer defaults for the fields the fixture omits.
 * Returns 0, or -1 with a message in why. */
int fx_net_def(const json_t *fx, gs_net_def *def, gs_layer_def *layers, char *why,
               size_t why_size);

/* Number of parameters a fixture's [{weight, bias}, {}, ...] list holds. */
size_t fx_params_len(const json_t *list);

/* Element count of a JSON array of numbers; (size_t)-1 if arr is not one. */
size_t fx_len(const json_t *arr);

/* arr (exactly n numbers, integer literals allowed) into out.
 * Returns 0, or -1 if arr is not an array of n numbers. */
int fx_doubles(const json_t *arr, double *out, size_t n);

/* A JSON [{weight, bias}, {}, ...] list (one object per layer, its tensors
 * by name) into a double slab of gs_net_param_count elements, each tensor at
 * gs_net_tensor_offset.
 * Returns 0, or -1 with a message in why. */
int fx_param_slab(const json_t *list, const gs_net *net, double *slab, char *why,
                  size_t why_size);

/* A fixture's "buffers" list [{running_mean, running_var}, {}, ...] into the
 * net's buffers (batch_norm's running statistics). 0, or -1 with why. */
int fx_set_buffers(const json_t *list, gs_net *net, char *why, size_t why_size);

/* n doubles converted to a new buffer of dtype t (free() it). */
void *fx_convert(const double *src, size_t n, gs_dtype t);

/* Element i of a buffer of dtype t, as a double. */
double fx_get(const void *buf, gs_dtype t, size_t i);

/* Bytes of one element of dtype t. */
size_t fx_dtype_bytes(gs_dtype t);

/* Per-tensor relative error: max_i |got_i - want_i| / max(max_i |want_i|, tiny).
 * NaN or infinite got (or want) gives INFINITY. *worst (may be NULL) is the
 * index of the largest |got - want|. */
#define FX_TINY 1e-30
double fx_rel_err(const void *got, gs_dtype t, const double *want, size_t n, size_t *worst);

/* Names in fixtures to enums; -1 if unknown (independent of the core's own
 * name tables, so a renamed string there does not hide a numeric result). */
int fx_activation(const char *name);
int fx_loss(const char *name);
int fx_reduction(const char *name);
int fx_dtype(const char *name);
int fx_optim_kind(const char *name);

/* An "optim" object over gs_optim_defaults(kind): every field present in the
 * fixture overrides the default. Returns 0, or -1 with a message in why. */
int fx_optim_def(const json_t *obj, gs_optim_def *def, char *why, size_t why_size);

#endif
