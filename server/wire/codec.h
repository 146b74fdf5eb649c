/* Tensors between JSON and the core's buffers, in the encodings of the API:
 * nested arrays, {shape, data}, {shape, dtype, b64}, {shape, dtype,
 * binary_data_size} and {ref, shape, dtype} (bytes held by the tensor store,
 * store/store.h). Decoding reads
 * the shape first, so the caller can check sizes against its limits before
 * anything of the tensor's size is allocated. */
#ifndef GS_SERVER_CODEC_H
#define GS_SERVER_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gradserve.h"
#include "wire/fastjson.h"
#include "wire/json_cache.h"
#include "wire/json_writer.h"
#include "store/store.h"
#include "wire/problem.h"

#define TENSOR_MAX_RANK 4

typedef enum { ENC_NESTED = 0, ENC_FLAT, ENC_B64, ENC_BINARY, ENC_REF } tensor_encoding;

/* A ref the store did not hold, where the request named it. */
typedef struct {
    char pointer[PTR_MAX];
    unsigned char digest[DIGEST_BYTES];
} missing_ref;

/* The refs of one request: the store they are read from (NULL: none, every
 * ref is missing), the entries pinned until the request ends, and the refs
 * the store did not hold. Owned by the request's runner (compute_run), which
 * frees it with codec_refs_free once the answer is written. */
typedef struct {
    tensor_store *store;
    store_entry **pins;
    size_t n_pins, cap_pins;
    missing_ref *missing;
    size_t n_missing, cap_missing;
} codec_refs;

void codec_refs_free(codec_refs *refs);

/* The refs the request named that the store does not hold, all of them: 0
 * when there are none (or d holds another problem already, which comes
 * first); else 1 with d a 409 missing-refs whose errors (one per ref, with
 * its pointer and ref) are the JSON array put in *errors_json (free(); d
 * points at it, so it must live as long as d is rendered). */
int codec_refs_missing(const codec_refs *refs, diag *d, char **errors_json, size_t *len);

/* What the decoder knows of one request beyond its JSON tree: the arrays
 * fastjson read straight into doubles, and the binary tensors after the JSON
 * header (application/octet-stream with Inference-Header-Content-Length). A
 * tensor {"shape", "dtype", "binary_data_size": N} takes the next N bytes of
 * the binary part, in the order the tensors appear in the JSON text.
 * Filled by codec_open and passed to every decoder of that request's tensors
 * (tensor_view_of, request_decode), so that a benchmark, a fuzzer and a
 * request reach the same code. */
typedef struct {
    fastjson packed;                 /* packed.skeleton NULL: nothing was packed */
    const unsigned char *bin;        /* the binary part; NULL: none was sent */
    size_t bin_len;
    const json_t **bin_obj;          /* binary tensor objects, in text order */
    size_t *bin_off;                 /* and their offsets into bin */
    size_t n_bin;
    codec_refs *refs; /* set after codec_open; NULL: refs are refused (400) */
    uint64_t skeleton_id; /* the skeleton cache's id of the tree codec_open returned
                             (json_cache.h); 0: a tree of this request's own */
} codec_ctx;

/* The "scan the body" stage of a request: body[0, json_len) is JSON (all of
 * it when json_len is 0), the rest binary tensors. The JSON's tensors at the
 * positions in tensors (fastjson_scan's patterns; NULL: none) are read by
 * fastjson (into a pool sized for numbers_expected numbers, the count the
 * request's estimate found: fastjson_scan; 0: not known), the rest is parsed
 * by jansson (or its tree taken from cache, when
 * not NULL: the tree is then shared, to be read only), and the binary tensors
 * are given their offsets. Returns the JSON tree (json_decref it), or NULL with d
 * filled: 400 malformed JSON (line and column) or binary sizes that do not
 * add up, 500 out of memory. c is always filled: free it with codec_close
 * after the tree and every tensor_view of the request are done with. */
json_t *codec_open(codec_ctx *c, const char *body, size_t len, size_t json_len,
                   const char *const *tensors, size_t numbers_expected, json_cache *cache,
                   diag *d);
void codec_close(codec_ctx *c);

/* A tensor found in a request, before its numbers are read. */
typedef struct {
    tensor_encoding enc;
    size_t rank;
    size_t dim[TENSOR_MAX_RANK];
    size_t count;        /* product of dim, overflow-checked */
    const json_t *data;  /* nested: the outer array; flat: the data array */
    gs_dtype b64_dtype;  /* b64: the dtype of the bytes */
    const char *b64;     /* b64: the text, b64_len characters */
    size_t b64_len;
    const double *packed;       /* nested or flat read by fastjson: the values */
    const unsigned char *bytes; /* binary: t->count elements of b64_dtype; b64 that
                                   fastjson decoded: b64_bytes of them */
    size_t b64_bytes;
    unsigned finite;            /* b64 that fastjson decoded: its FJ_FINITE_* bits */
    int ref_int64;              /* ref: int64 bytes (class indices only), b64_dtype unused */
    int ref_missing;            /* ref the store does not hold: reads as zeros, and the
                                   request gets 409 before computing (codec_refs_missing) */
} tensor_view;

/* Reads the shape of v (at pointer at, in the request that c opened; NULL:
 * a tree parsed by jansson alone) into t; on failure adds an error to d and
 * returns 0. A b64 tensor must name its dtype: its bytes cannot. Here and
 * below, at is written out only when an error (or a missing ref) names it. */
int tensor_view_of(const codec_ctx *c, const json_t *v, const json_ptr *at, tensor_view *t,
                   diag *d);

/* "[2, 3, 5]" */
void tensor_shape_text(char *out, size_t cap, size_t rank, const size_t *dim);

/* 1 when t has the given rank and dims (each dim 0 = any). */
int tensor_shape_is(const tensor_view *t, size_t rank, const size_t *dims);

/* Checks that t has the given rank and dims (each dim 0 = any); what names the
 * expected shape in the message, e.g. "[rows, 2]". */
int tensor_expect(const tensor_view *t, const json_ptr *at, size_t rank, const size_t *dims,
                  const char *what, diag *d);

/* Reads t's t->count numbers into dst (of dtype), rejecting anything that is
 * not a finite number representable in dtype. */
int tensor_read(const tensor_view *t, const json_ptr *at, gs_dtype dtype, void *dst, diag *d);

/* The tensor's values where they lie, when they need no copy: binary or
 * fastjson-decoded base64 bytes of dtype, aligned for it, all finite (the
 * request's body or fastjson's buffer: valid while the request is decoded
 * and computed). NULL otherwise: tensor_read then copies, or says what is
 * wrong. */
const void *tensor_borrow(const tensor_view *t, gs_dtype dtype);

/* Reads a 1-D tensor of class labels, each an integer in [0, classes). */
int tensor_read_labels(const tensor_view *t, const json_ptr *at, size_t classes, int64_t *dst,
                       diag *d);

/* Writes data (rank 1 to TENSOR_MAX_RANK, dims dim) of dtype in the encoding. Non-finite
 * values are the caller's to refuse first unless enc is ENC_B64. */
void tensor_write(jw *w, tensor_encoding enc, gs_dtype dtype, const void *data, size_t rank,
                  const size_t *dim);

/* "encoding": "ref": puts the bytes of data (rank 1 to TENSOR_MAX_RANK, dims
 * dim) into store and writes {"ref", "shape", "dtype"}. 1, or 0 with d filled
 * (422 when the store cannot take it, 500 out of memory). */
int tensor_write_ref(jw *w, tensor_store *store, gs_dtype dtype, const void *data, size_t rank,
                     const size_t *dim, diag *d);

/* Index of the first non-finite element of data[n], or n if all are finite. */
size_t first_nonfinite(const void *data, gs_dtype dtype, size_t n);

const char *dtype_name(gs_dtype t);
int dtype_from_name(const char *name);
int encoding_from_name(const char *name);

/* Standard base64 with padding. */
size_t base64_encoded_len(size_t bytes);
void base64_encode(char *out, const unsigned char *in, size_t n);
/* Decodes len characters (len % 4 == 0) into out; -1 on a bad character or
 * padding, else the byte count. */
long long base64_decode(unsigned char *out, const char *in, size_t len);

#endif
