#include "wire/codec.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "wire/base64.h"
#include "wire/fastjson.h"

/* b64 tensors are little-endian on the wire and copied as they are. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "codec.c copies little-endian tensor bytes as they are: add byte swapping"
#endif

static const char *const DTYPES[] = {"float32", "float64"};
static const char *const ENCODINGS[] = {"nested", "flat", "b64", "binary", "ref"};

static int index_of(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

const char *dtype_name(gs_dtype t) { return DTYPES[t == GS_FLOAT64]; }
int dtype_from_name(const char *name) { return index_of(DTYPES, 2, name); }
int encoding_from_name(const char *name) { return index_of(ENCODINGS, 5, name); }

/* ---- binary tensors --------------------------------------------------- */

/* Depth-first in the order of the text (jansson keeps objects' key order). */
static int find_binary(codec_ctx *c, const json_t *v, size_t *cap, size_t *off)
{
    if (json_is_object(v)) {
        const json_t *size = json_object_get(v, "binary_data_size");
        if (size) {
            if (c->n_bin == *cap) {
                size_t n = *cap ? *cap * 2 : 16;
                const json_t **o = srv_realloc(c->bin_obj, n * sizeof *o);
                if (o) c->bin_obj = o;
                size_t *f = o ? srv_realloc(c->bin_off, n * sizeof *f) : NULL;
                if (!f) return -1;
                c->bin_off = f;
                *cap = n;
            }
            c->bin_obj[c->n_bin] = v;
            c->bin_off[c->n_bin++] = *off;
            /* a size that is not a count is refused when the tensor is read */
            if (json_is_integer(size) && json_integer_value(size) >= 0)
                *off += (size_t)json_integer_value(size);
            return 0;
        }
        const char *key;
        const json_t *m;
        json_object_foreach((json_t *)v, key, m) if (find_binary(c, m, cap, off)) return -1;
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (find_binary(c, json_array_get(v, i), cap, off)) return -1;
    }
    return 0;
}

/* Finds the binary tensors of a parsed header and gives each its offset;
 * 0, or -1 with d filled (sizes that do not add up to bin_len, or out of
 * memory). */
static int bind_binary(codec_ctx *c, const json_t *root, const unsigned char *bin,
                       size_t bin_len, diag *d)
{
    size_t cap = 0, total = 0;
    c->bin = bin;
    c->bin_len = bin_len;
    if (find_binary(c, root, &cap, &total) != 0) {
        diag_set(d, 500, "internal", "out of memory reading the binary tensors");
        return -1;
    }
    if (bin && total != bin_len) {
        diag_invalid(d, "",
                     "the binary_data_size of the header's tensors add up to %zu bytes, but "
                     "%zu bytes follow the %s",
                     total, bin_len, "JSON header (Inference-Header-Content-Length)");
        return -1;
    }
    return 0;
}

/* Turns jansson's error in fj's skeleton into the error it gives for
 * body[len] itself: the same message at the same token (fastjson.h), its
 * offset mapped back and its line and column counted in the body as
 * jansson's load.c counts them (stream_get: lines from 1; a column is the
 * characters read since the last newline, a UTF-8 sequence one character,
 * its continuation bytes 0x80-0xBF not counted; bytes that are not UTF-8
 * stop jansson before they are read). So a malformed body is not parsed a
 * second time: that parse built a node (about 48 bytes) for every number
 * before the error, which the request's estimate does not count. 0, err
 * unchanged, when the offset cannot be mapped: an error within a marker,
 * which no error jansson finds is (a marker is a valid integer, followed by
 * what followed its array), or a skeleton longer than json_error_t's int
 * offset can hold modulo 2^32. */
static int error_in_body(const fastjson *fj, const char *body, size_t len, json_error_t *err)
{
    size_t pos;
    if (fj->skeleton_len > UINT_MAX ||
        !fastjson_body_offset(fj, (unsigned)err->position, &pos) || pos > len)
        return 0;
    const char *p = body, *end = body + pos, *nl;
    size_t line = 1, column = 0;
    while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
        line++;
        p = nl + 1;
    }
    for (; p < end; p++) {
        unsigned char u = (unsigned char)*p; /* jansson's utf8_check_first(u) != 0 */
        column += u < 0x80 || (u >= 0xC2 && u <= 0xF4);
    }
    err->line = (int)line;
    err->column = (int)column;
    err->position = (int)pos;
    return 1;
}

/* Tensors in JSON numbers are read by fastjson (see fastjson.h), the rest by
 * jansson, or taken from the cache when the same skeleton was parsed before
 * (json_cache.h); a request fastjson's skeleton makes malformed is malformed
 * itself, at the same token, and its error is mapped back to the text as
 * sent (error_in_body), or, where it cannot be, that text is parsed again. */
static json_t *parse(codec_ctx *c, const char *body, size_t len, const char *const *tensors,
                     size_t numbers_expected, json_cache *cache, diag *d)
{
    fastjson *fj = &c->packed;
    if (tensors && fastjson_scan(fj, body, len, tensors, numbers_expected) != 0) {
        diag_set(d, 500, "internal", "out of memory reading the request's tensors");
        return NULL;
    }
    if (fj->skeleton) {
        json_t *root = json_cache_get(cache, fj->skeleton, fj->skeleton_len, &c->skeleton_id);
        if (root) return root;
    }
    json_error_t err;
    unsigned long nulls = srv_alloc_nulls;
    json_t *root = NULL;
    int cacheable = 0;
    if (fj->skeleton) {
        root = json_loadb(fj->skeleton, fj->skeleton_len, JSON_REJECT_DUPLICATES, &err);
        cacheable = root != NULL;
        if (!root && srv_alloc_nulls == nulls && json_error_code(&err) != json_error_out_of_memory &&
            !error_in_body(fj, body, len, &err))
            fastjson_free(fj);
    }
    if (!fj->skeleton) root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    /* jansson 2.14 reports some failed allocations as syntax errors, and
     * ignores others: a string or number token whose buffer could not grow
     * comes back truncated ("0.125" read as 0.1). Any failed allocation
     * during the parse discards its result. */
    if (srv_alloc_nulls != nulls || (!root && json_error_code(&err) == json_error_out_of_memory)) {
        json_decref(root);
        root = NULL;
        diag_set(d, 500, "internal", "out of memory parsing the request");
    } else if (!root) {
        diag_set(d, 400, "malformed-json", "line %d, column %d: %s", err.line, err.column,
                 err.text);
    } else if (cacheable) {
        c->skeleton_id = json_cache_put(cache, fj->skeleton, fj->skeleton_len, root);
    }
    return root;
}

json_t *codec_open(codec_ctx *c, const char *body, size_t len, size_t json_len,
                   const char *const *tensors, size_t numbers_expected, json_cache *cache,
                   diag *d)
{
    memset(c, 0, sizeof *c);
    size_t n = json_len && json_len <= len ? json_len : len;
    json_t *root = parse(c, body, n, tensors, numbers_expected, cache, d);
    if (root && json_len &&
        bind_binary(c, root, (const unsigned char *)body + n, len - n, d) != 0) {
        json_decref(root);
        root = NULL;
    }
    return root;
}

void codec_close(codec_ctx *c)
{
    srv_free(c->bin_obj);
    srv_free(c->bin_off);
    fastjson_free(&c->packed);
    memset(c, 0, sizeof *c);
}

/* The array fastjson packed where the skeleton holds v (its marker, see
 * fastjson.h), or NULL. */
static const packed_array *packed_at(const codec_ctx *c, const json_t *v)
{
    return c && json_is_integer(v) ? fastjson_marked(&c->packed, json_integer_value(v)) : NULL;
}

/* ---- base64 ------------------------------------------------------------ */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t bytes) { return (bytes + 2) / 3 * 4; }

void base64_encode(char *out, const unsigned char *in, size_t n)
{
    size_t i = base64_encode_bulk(out, in, n);
    out += i / 3 * 4;
    for (; i + 3 <= n; i += 3, out += 4) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[0] = B64[v >> 18];
        out[1] = B64[(v >> 12) & 63];
        out[2] = B64[(v >> 6) & 63];
        out[3] = B64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[0] = B64[v >> 18];
        out[1] = B64[(v >> 12) & 63];
        out[2] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        out[3] = '=';
    }
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long long base64_decode(unsigned char *out, const char *in, size_t len)
{
    if (len % 4) return -1;
    size_t i = base64_decode_bulk(out, in, len), n = i / 4 * 3;
    for (; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            v[k] = b64_value(in[i + k]);
            if (v[k] < 0) {
                /* '=' only as the last one or two characters of the text */
                if (in[i + k] != '=' || i + 4 != len || k < 2) return -1;
                pad++;
                v[k] = 0;
            } else if (pad) {
                return -1;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        out[n++] = (unsigned char)(x >> 16);
        if (pad < 2) out[n++] = (unsigned char)(x >> 8);
        if (pad < 1) out[n++] = (unsigned char)x;
    }
    return (long long)n;
}

/* ---- reading ----------------------------------------------------------- */

static int mul_ok(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

void tensor_shape_text(char *out, size_t cap, size_t rank, const size_t *dim)
{
    size_t n = (size_t)snprintf(out, cap, "[");
    for (size_t i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, i ? ", %zu" : "%zu", dim[i]);
    if (n < cap) snprintf(out + n, cap - n, "]");
}

static void shape_text(char *out, size_t cap, const size_t *dim, size_t rank)
{
    tensor_shape_text(out, cap, rank, dim);
}

/* The shape of nested arrays, read down the first elements; the other
 * elements are checked against it as they are read (read_nested). */
static int view_nested(const json_t *v, const json_ptr *at, tensor_view *t, diag *d)
{
    t->enc = ENC_NESTED;
    t->data = v;
    t->rank = 0;
    t->count = 1;
    for (const json_t *a = v; json_is_array(a); a = json_array_get(a, 0)) {
        if (t->rank == TENSOR_MAX_RANK) { /* at's first element TENSOR_MAX_RANK levels down */
            json_ptr first[TENSOR_MAX_RANK];
            for (size_t k = 0; k < TENSOR_MAX_RANK; k++)
                first[k] = (json_ptr){.up = k ? &first[k - 1] : at, .index = 0};
            diag_invalid_at(d, &first[TENSOR_MAX_RANK - 1], "tensors have at most %d dimensions",
                            TENSOR_MAX_RANK);
            return 0;
        }
        t->dim[t->rank++] = json_array_size(a);
        if (!mul_ok(t->count, json_array_size(a), &t->count)) return 0; /* not in memory */
    }
    return 1;
}

static int view_shape(const json_t *shape, const json_ptr *at, tensor_view *t, diag *d)
{
    const json_ptr *p = PTR_KEY(at, "shape");
    size_t rank = json_array_size(shape);
    if (!json_is_array(shape) || rank < 1 || rank > TENSOR_MAX_RANK) {
        diag_invalid_at(d, p, "must be an array of 1 to %d dimensions", TENSOR_MAX_RANK);
        return 0;
    }
    t->rank = rank;
    t->count = 1;
    for (size_t i = 0; i < rank; i++) {
        const json_t *e = json_array_get(shape, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0) {
            diag_invalid_at(d, PTR_INDEX(p, i), "must be a non-negative integer");
            return 0;
        }
        t->dim[i] = (size_t)json_integer_value(e);
        if (!mul_ok(t->count, t->dim[i], &t->count)) {
            diag_invalid_at(d, p, "the shape's size overflows");
            return 0;
        }
    }
    return 1;
}

/* What b64 and binary tensors share after their shape: the encoding enc
 * (ENC_B64 or ENC_BINARY) into t; its data key ("b64" or
 * "binary_data_size") in the object v at at, its value into *data; the
 * "dtype" beside it into t->b64_dtype; bytes, what the shape holds in that
 * dtype (SIZE_MAX when that overflows). 0 (d filled) when the dtype is
 * missing or names no dtype we read. */
static int view_packed(const json_t *v, const json_ptr *at, tensor_encoding enc, tensor_view *t,
                       const json_t **data, size_t *bytes, diag *d)
{
    const char *with = enc == ENC_B64 ? "b64" : "binary_data_size";
    const json_t *dt = json_object_get(v, "dtype");
    t->enc = enc;
    *data = json_object_get(v, with);
    int k = json_is_string(dt) ? dtype_from_name(json_string_value(dt)) : -1;
    if (k < 0) {
        const json_ptr *p = PTR_KEY(at, "dtype");
        if (dt) diag_invalid_at(d, p, "must be \"float32\" or \"float64\"");
        else diag_invalid_at(d, p, "is required with %s", with);
        return 0;
    }
    t->b64_dtype = (gs_dtype)k;
    if (!mul_ok(t->count, gs_dtype_size(t->b64_dtype), bytes)) *bytes = SIZE_MAX;
    return 1;
}

static int view_b64(const codec_ctx *c, const json_t *v, const json_ptr *at, tensor_view *t,
                    diag *d)
{
    const json_ptr *p = PTR_KEY(at, "b64");
    const json_t *text;
    size_t bytes;
    if (!view_packed(v, at, ENC_B64, t, &text, &bytes, d)) return 0;
    const packed_array *pa = packed_at(c, text);
    if (pa && pa->bytes) { /* decoded by fastjson */
        t->b64 = "";
        t->b64_len = pa->text_len;
        t->bytes = pa->bytes;
        t->b64_bytes = pa->count;
        t->finite = pa->finite;
    } else if (json_is_string(text)) {
        t->b64 = json_string_value(text);
        t->b64_len = json_string_length(text);
    } else {
        diag_invalid_at(d, p, "must be a base64 string");
        return 0;
    }
    if (bytes == SIZE_MAX || base64_encoded_len(bytes) != t->b64_len) {
        char s[64];
        shape_text(s, sizeof s, t->dim, t->rank);
        diag_invalid_at(d, p, "holds %zu base64 characters; shape %s of %s needs %zu",
                        t->b64_len, s, dtype_name(t->b64_dtype), base64_encoded_len(bytes));
        return 0;
    }
    return 1;
}

/* {"shape", "dtype", "binary_data_size"}: the next bytes of the binary part. */
static int view_binary(const codec_ctx *c, const json_t *v, const json_ptr *at, tensor_view *t,
                       diag *d)
{
    const json_ptr *p = PTR_KEY(at, "binary_data_size");
    const json_t *size;
    size_t bytes;
    if (!view_packed(v, at, ENC_BINARY, t, &size, &bytes, d)) return 0;
    if (bytes == SIZE_MAX || !json_is_integer(size) || json_integer_value(size) < 0 ||
        (size_t)json_integer_value(size) != bytes) {
        char s[64];
        shape_text(s, sizeof s, t->dim, t->rank);
        diag_invalid_at(d, p, "must be %zu: the bytes of shape %s of %s", bytes, s,
                        dtype_name(t->b64_dtype));
        return 0;
    }
    size_t i = 0;
    while (c && i < c->n_bin && c->bin_obj[i] != v) i++;
    if (!c || !c->bin || i == c->n_bin) {
        diag_invalid_at(d, p,
                        "binary tensors need an application/octet-stream body whose first "
                        "Inference-Header-Content-Length bytes are the JSON");
        return 0;
    }
    t->bytes = c->bin + c->bin_off[i];
    return 1;
}

/* Grows an array of n elements of size to hold one more; 0 when out of memory. */
static int reserve_one(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 1;
    size_t c = *cap ? *cap * 2 : 8;
    void *a = srv_realloc(*arr, c * size);
    if (!a) return 0;
    *arr = a;
    *cap = c;
    return 1;
}

/* {"ref": "sha256:<hex>", "shape": [...], "dtype": "float32" | "float64" |
 * "int64"}: the bytes the store holds under that digest, pinned until the
 * request ends (codec_refs_free). A ref the store does not hold is noted
 * (codec_refs_missing answers them all at once) and reads as zeros meanwhile,
 * so that decoding goes on and finds every other missing ref and error. */
static int view_ref(const codec_ctx *cx, const json_t *v, const json_ptr *at, tensor_view *t,
                    diag *d)
{
    static const char DTYPE_NAMES[] = "must be \"float32\", \"float64\" or \"int64\"";
    codec_refs *c = cx ? cx->refs : NULL;
    const char *key;
    const json_t *value;
    int ok = 1;
    json_object_foreach((json_t *)v, key, value) {
        if (strcmp(key, "ref") && strcmp(key, "shape") && strcmp(key, "dtype")) {
            diag_invalid_at(d, PTR_KEY(at, key),
                            "unknown key in a ref tensor (it takes ref, shape and dtype)");
            ok = 0;
        }
    }
    if (!ok || !view_shape(json_object_get(v, "shape"), at, t, d)) return 0;
    const json_t *ref = json_object_get(v, "ref"), *dt = json_object_get(v, "dtype");
    unsigned char digest[DIGEST_BYTES];
    if (!json_is_string(ref) || !ref_parse(json_string_value(ref), json_string_length(ref), digest)) {
        diag_invalid_at(d, PTR_KEY(at, "ref"), "must be \"sha256:\" and 64 lowercase hex digits");
        return 0;
    }
    const char *dname = json_is_string(dt) ? json_string_value(dt) : "";
    int k = dtype_from_name(dname);
    t->ref_int64 = strcmp(dname, "int64") == 0;
    if (k < 0 && !t->ref_int64) {
        diag_invalid_at(d, PTR_KEY(at, "dtype"), dt ? DTYPE_NAMES : "is required with ref");
        return 0;
    }
    if (!c) { /* decoding outside a request's runner (nobody to answer 409) */
        diag_invalid_at(d, at, "refs are read only in requests to the server");
        return 0;
    }
    t->enc = ENC_REF;
    t->b64_dtype = k < 0 ? GS_FLOAT64 : (gs_dtype)k; /* int64: 8 bytes an element too */
    store_entry *e = c->store ? store_pin(c->store, digest, 1) : NULL;
    if (!e) {
        if (!reserve_one((void **)&c->missing, &c->cap_missing, c->n_missing,
                         sizeof *c->missing)) {
            diag_set(d, 500, "internal", "out of memory noting a missing ref");
            return 0;
        }
        missing_ref *m = &c->missing[c->n_missing++];
        ptr_write(m->pointer, at);
        memcpy(m->digest, digest, DIGEST_BYTES);
        t->ref_missing = 1;
        return 1;
    }
    if (!reserve_one((void **)&c->pins, &c->cap_pins, c->n_pins, sizeof *c->pins)) {
        store_unpin(c->store, e);
        diag_set(d, 500, "internal", "out of memory pinning a ref");
        return 0;
    }
    c->pins[c->n_pins++] = e;
    size_t len, need = SIZE_MAX;
    t->bytes = store_entry_bytes(e, &len);
    /* int64 elements are 8 bytes, as float64's (b64_dtype above) */
    if (!mul_ok(t->count, gs_dtype_size(t->b64_dtype), &need) || need != len) {
        char sh[64];
        shape_text(sh, sizeof sh, t->dim, t->rank);
        diag_invalid_at(d, PTR_KEY(at, "ref"), "holds %zu bytes; shape %s of %s needs %zu", len,
                        sh, dname, need == SIZE_MAX ? 0 : need);
        return 0;
    }
    return 1;
}

static int view_object(const codec_ctx *c, const json_t *v, const json_ptr *at, tensor_view *t,
                       diag *d)
{
    if (json_object_get(v, "ref")) return view_ref(c, v, at, t, d);
    const json_t *data = json_object_get(v, "data"), *b64 = json_object_get(v, "b64");
    const json_t *bin = json_object_get(v, "binary_data_size");
    const char *key;
    const json_t *value;
    int ok = 1;
    json_object_foreach((json_t *)v, key, value) {
        int known = strcmp(key, "shape") == 0 || (data && strcmp(key, "data") == 0) ||
                    ((b64 || bin) && strcmp(key, "dtype") == 0) ||
                    (b64 && strcmp(key, "b64") == 0) ||
                    (bin && strcmp(key, "binary_data_size") == 0);
        if (!known) {
            diag_invalid_at(d, PTR_KEY(at, key), "unknown key in a %s tensor",
                            b64 ? "b64" : bin ? "binary" : "flat");
            ok = 0;
        }
    }
    if (!ok) return 0;
    if (!!data + !!b64 + !!bin != 1) {
        diag_invalid_at(d, at,
                        "a tensor object holds one of \"data\", \"b64\" or \"binary_data_size\"");
        return 0;
    }
    if (!view_shape(json_object_get(v, "shape"), at, t, d)) return 0;
    if (b64) return view_b64(c, v, at, t, d);
    if (bin) return view_binary(c, v, at, t, d);
    t->enc = ENC_FLAT;
    t->data = data;
    const packed_array *pa = packed_at(c, data);
    if (pa && !pa->bytes && pa->count == t->count) {
        t->packed = pa->values;
        return 1;
    }
    if (pa || !json_is_array(data) || json_array_size(data) != t->count) {
        char s[64];
        shape_text(s, sizeof s, t->dim, t->rank);
        diag_invalid_at(d, PTR_KEY(at, "data"), "must be an array of %zu numbers (shape %s)",
                        t->count, s);
        return 0;
    }
    return 1;
}

int tensor_view_of(const codec_ctx *c, const json_t *v, const json_ptr *at, tensor_view *t,
                   diag *d)
{
    memset(t, 0, sizeof *t);
    const packed_array *pa = packed_at(c, v);
    if (pa && !pa->bytes) { /* a nested array fastjson read */
        t->enc = ENC_NESTED;
        t->rank = pa->rank;
        t->dim[0] = pa->dim[0];
        t->dim[1] = pa->dim[1];
        t->count = pa->count;
        t->packed = pa->values;
        return 1;
    }
    if (json_is_array(v)) return view_nested(v, at, t, d);
    if (json_is_object(v)) return view_object(c, v, at, t, d);
    diag_invalid_at(d, at,
                    "must be a tensor: nested arrays, {\"shape\", \"data\"}, "
                    "{\"shape\", \"dtype\", \"b64\"}, {\"shape\", \"dtype\", "
                    "\"binary_data_size\"} or {\"ref\", \"shape\", \"dtype\"}");
    return 0;
}

int tensor_shape_is(const tensor_view *t, size_t rank, const size_t *dims)
{
    int ok = t->rank == rank;
    for (size_t i = 0; ok && i < rank; i++) ok = !dims[i] || dims[i] == t->dim[i];
    return ok;
}

int tensor_expect(const tensor_view *t, const json_ptr *at, size_t rank, const size_t *dims,
                  const char *what, diag *d)
{
    int ok = tensor_shape_is(t, rank, dims);
    if (!ok) {
        char s[64];
        shape_text(s, sizeof s, t->dim, t->rank);
        diag_invalid_at(d, at, "must have shape %s, not %s", what, s);
    }
    return ok;
}

/* Row-major index i of a tensor of rank dims as its indices, written
 * "[a, b, c]". */
static void index_text(char *out, size_t cap, const tensor_view *t, size_t i)
{
    size_t idx[TENSOR_MAX_RANK];
    for (size_t k = t->rank; k-- > 0;) {
        idx[k] = t->dim[k] ? i % t->dim[k] : 0;
        i = t->dim[k] ? i / t->dim[k] : 0;
    }
    tensor_shape_text(out, cap, t->rank, idx);
}

/* Pointer to element i of the tensor t at at (for messages). */
static void element_ptr(char out[PTR_MAX], const tensor_view *t, const json_ptr *at, size_t i)
{
    if (t->enc == ENC_B64) {
        ptr_write(out, PTR_KEY(at, "b64"));
    } else if (t->enc == ENC_BINARY || t->enc == ENC_REF) {
        ptr_write(out, at);
    } else if (t->enc == ENC_FLAT) {
        ptr_write(out, PTR_INDEX(PTR_KEY(at, "data"), i));
    } else { /* nested: one index per dimension, the last one's varying fastest */
        json_ptr idx[TENSOR_MAX_RANK];
        for (size_t k = t->rank; k-- > 0;) {
            idx[k] = (json_ptr){.up = k ? &idx[k - 1] : at, .index = i % t->dim[k]};
            i /= t->dim[k];
        }
        ptr_write(out, t->rank ? &idx[t->rank - 1] : at);
    }
}

static int store_number(const json_t *e, gs_dtype dtype, void *dst, size_t i, const tensor_view *t,
                        const json_ptr *at, diag *d)
{
    if (!json_is_number(e)) {
        char p[PTR_MAX];
        element_ptr(p, t, at, i);
        diag_invalid(d, p, "must be a number");
        return 0;
    }
    double v = json_number_value(e);
    if (dtype == GS_FLOAT64) {
        ((double *)dst)[i] = v;
        return 1;
    }
    if (fabs(v) > FLT_MAX) {
        char p[PTR_MAX];
        element_ptr(p, t, at, i);
        diag_invalid(d, p, "%g is outside the float32 range", v);
        return 0;
    }
    ((float *)dst)[i] = (float)v;
    return 1;
}

/* The array a of level k (0: t->data), at pointer `at` in the tensor at
 * `base`, from element *i on: each array below must hold t->dim[k + 1]
 * entries, as the first did. */
static int read_level(const tensor_view *t, const json_t *a, size_t k, const json_ptr *base,
                      const json_ptr *at, gs_dtype dtype, void *dst, size_t *i, diag *d)
{
    if (k + 1 == t->rank) {
        for (size_t j = 0; j < t->dim[k]; j++, (*i)++)
            if (!store_number(json_array_get(a, j), dtype, dst, *i, t, base, d)) return 0;
        return 1;
    }
    for (size_t j = 0; j < t->dim[k]; j++) {
        const json_t *sub = json_array_get(a, j);
        const json_ptr row = {.up = at, .index = j};
        if (!json_is_array(sub) || json_array_size(sub) != t->dim[k + 1]) {
            if (k + 2 == t->rank)
                diag_invalid_at(d, &row, "must be an array of %zu numbers, as the first row",
                                t->dim[k + 1]);
            else
                diag_invalid_at(d, &row, "must be an array of %zu arrays, as the first",
                                t->dim[k + 1]);
            return 0;
        }
        if (!read_level(t, sub, k + 1, base, &row, dtype, dst, i, d)) return 0;
    }
    return 1;
}

static int read_nested(const tensor_view *t, const json_ptr *at, gs_dtype dtype, void *dst,
                       diag *d)
{
    size_t i = 0;
    return read_level(t, t->data, 0, at, at, dtype, dst, &i, d);
}

/* 1 when the n values at x (of dtype, any alignment) are all finite. Eight
 * bytes at a time, without branches: in each lane the masked exponent plus
 * one exponent unit reaches the sign bit only when the exponent is all ones
 * (Inf or NaN), and the sign bit itself is masked off, so no carry crosses
 * into the next lane. */
static int all_finite(const void *x, gs_dtype dtype, size_t n)
{
    int f64 = dtype == GS_FLOAT64;
    const uint64_t e = f64 ? UINT64_C(0x7ff0000000000000) : UINT64_C(0x7f8000007f800000);
    const uint64_t one = f64 ? UINT64_C(0x0010000000000000) : UINT64_C(0x0080000000800000);
    const uint64_t sign = f64 ? UINT64_C(0x8000000000000000) : UINT64_C(0x8000000080000000);
    const unsigned char *b = x;
    size_t bytes = n * gs_dtype_size(dtype), words = bytes / 8;
    uint64_t bad = 0;
    for (size_t i = 0; i < words; i++) {
        uint64_t u;
        memcpy(&u, b + 8 * i, 8);
        bad |= ((u & e) + one) & sign;
    }
    if (bytes % 8) { /* a last float32 */
        uint32_t u;
        memcpy(&u, b + 8 * words, 4);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* 1 when fastjson found t's decoded bytes all finite as dtype. */
static int known_finite(const tensor_view *t, gs_dtype dtype)
{
    return t->enc == ENC_B64 && (t->finite & (dtype == GS_FLOAT64 ? FJ_FINITE_F64 : FJ_FINITE_F32));
}

/* Copies n values of dtype and checks them in blocks that stay in L1: one
 * pass over memory instead of a copy and then a scan. 1 when all are finite. */
static int copy_finite(void *dst, const void *src, gs_dtype dtype, size_t n)
{
    size_t es = gs_dtype_size(dtype), step = 8192 / es;
    int ok = 1;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        memcpy((char *)dst + i * es, (const char *)src + i * es, k * es);
        ok &= all_finite((char *)dst + i * es, dtype, k);
    }
    return ok;
}

/* Converts t->count elements of t->b64_dtype at raw (possibly unaligned, or
 * dst itself) into dst, refusing non-finite values (which JSON numbers cannot
 * carry but base64 and binary can); p names the tensor's bytes. */
static int convert_raw(const tensor_view *t, const json_ptr *p, const void *raw, gs_dtype dtype,
                       void *dst, diag *d)
{
    const unsigned char *b = raw;
    if (raw == dst && all_finite(dst, dtype, t->count)) return 1;
    for (size_t i = 0; i < t->count; i++) {
        double v;
        if (t->b64_dtype == GS_FLOAT64) {
            memcpy(&v, b + 8 * i, 8);
        } else {
            float f;
            memcpy(&f, b + 4 * i, 4);
            v = f;
        }
        if (!isfinite(v) || (dtype == GS_FLOAT32 && fabs(v) > FLT_MAX)) {
            char at[96];
            index_text(at, sizeof at, t, i);
            diag_invalid_at(d, p, "element %s is not a finite %s", at, dtype_name(dtype));
            return 0;
        }
        if (raw == dst) continue;
        if (dtype == GS_FLOAT64) ((double *)dst)[i] = v;
        else ((float *)dst)[i] = (float)v;
    }
    return 1;
}

/* Decodes the bytes into dst, converting when the dtypes differ, and refuses
 * non-finite values (which JSON numbers cannot carry but base64 can). */
static int read_b64(const tensor_view *t, const json_ptr *at, gs_dtype dtype, void *dst, diag *d)
{
    size_t in_size = gs_dtype_size(t->b64_dtype), bytes = t->count * in_size;
    const json_ptr *p = PTR_KEY(at, "b64");
    if (t->bytes) { /* fastjson decoded the text already */
        if (t->b64_bytes != bytes) {
            diag_invalid_at(d, p, "is not valid base64 (standard alphabet, with padding)");
            return 0;
        }
        if (t->b64_dtype != dtype) return convert_raw(t, p, t->bytes, dtype, dst, d);
        if (known_finite(t, dtype)) { /* checked as fastjson decoded them */
            memcpy(dst, t->bytes, bytes);
            return 1;
        }
        return copy_finite(dst, t->bytes, dtype, t->count) ||
               convert_raw(t, p, dst, dtype, dst, d); /* names the element */
    }
    void *raw = dst;
    if (t->b64_dtype != dtype && !(raw = srv_malloc(bytes ? bytes : 1))) {
        diag_set(d, 500, "internal", "out of memory decoding a tensor");
        return 0;
    }
    /* The text's length matches the shape (view_b64), but its padding may
     * not: "AAAAAAAA" decodes to 6 bytes where "AAAAAA==" gives 4. Decoding
     * only text of exactly `bytes` bytes keeps it inside raw. */
    size_t len = t->b64_len, pad = len && t->b64[len - 1] == '=';
    pad += pad && len > 1 && t->b64[len - 2] == '=';
    int ok = len / 4 * 3 - pad == bytes &&
             base64_decode(raw, t->b64, t->b64_len) == (long long)bytes;
    if (!ok) diag_invalid_at(d, p, "is not valid base64 (standard alphabet, with padding)");
    ok = ok && convert_raw(t, p, raw, dtype, dst, d);
    if (raw != dst) srv_free(raw);
    return ok;
}

/* Binary tensors: the bytes are copied as they are when the dtypes agree
 * (at memory speed; they may be unaligned in the body), then checked. */
static int read_binary(const tensor_view *t, const json_ptr *at, gs_dtype dtype, void *dst,
                       diag *d)
{
    if (t->b64_dtype != dtype) return convert_raw(t, at, t->bytes, dtype, dst, d);
    return copy_finite(dst, t->bytes, dtype, t->count) ||
           convert_raw(t, at, dst, dtype, dst, d); /* names the element */
}

const void *tensor_borrow(const tensor_view *t, gs_dtype dtype)
{
    size_t es = gs_dtype_size(dtype);
    int bytes_ready = t->enc == ENC_BINARY || (t->enc == ENC_REF && !t->ref_int64) ||
                      (t->enc == ENC_B64 && t->bytes && t->b64_bytes == t->count * es);
    if (!bytes_ready || !t->bytes || t->packed || t->b64_dtype != dtype ||
        (uintptr_t)t->bytes % es ||
        (!known_finite(t, dtype) && !all_finite(t->bytes, dtype, t->count)))
        return NULL;
    return t->bytes;
}

/* Numbers fastjson read: range checks and casts as store_number makes them. */
static int read_packed(const tensor_view *t, const json_ptr *at, gs_dtype dtype, void *dst,
                       diag *d)
{
    const double *v = t->packed;
    if (dtype == GS_FLOAT64) {
        memcpy(dst, v, t->count * sizeof *v);
        return 1;
    }
    float *f = dst;
    for (size_t i = 0; i < t->count; i++) {
        if (fabs(v[i]) > FLT_MAX) {
            char p[PTR_MAX];
            element_ptr(p, t, at, i);
            diag_invalid(d, p, "%g is outside the float32 range", v[i]);
            return 0;
        }
        f[i] = (float)v[i];
    }
    return 1;
}

/* A ref's bytes, as read_binary reads a binary tensor's. */
static int read_ref(const tensor_view *t, const json_ptr *at, gs_dtype dtype, void *dst, diag *d)
{
    if (t->ref_int64) {
        diag_invalid_at(d, PTR_KEY(at, "dtype"),
                        "int64 is only for class-index targets; this tensor takes float32 "
                        "or float64");
        return 0;
    }
    if (t->ref_missing) { /* answered 409 before any compute: codec_refs_missing */
        memset(dst, 0, t->count * gs_dtype_size(dtype));
        return 1;
    }
    return read_binary(t, at, dtype, dst, d);
}

int tensor_read(const tensor_view *t, const json_ptr *at, gs_dtype dtype, void *dst, diag *d)
{
    if (t->packed) return read_packed(t, at, dtype, dst, d);
    switch (t->enc) {
    case ENC_REF: return read_ref(t, at, dtype, dst, d);
    case ENC_NESTED: return read_nested(t, at, dtype, dst, d);
    case ENC_B64: return read_b64(t, at, dtype, dst, d);
    case ENC_BINARY: return read_binary(t, at, dtype, dst, d);
    case ENC_FLAT:
        for (size_t i = 0; i < t->count; i++)
            if (!store_number(json_array_get(t->data, i), dtype, dst, i, t, at, d)) return 0;
        return 1;
    }
    return 0;
}

int tensor_read_labels(const tensor_view *t, const json_ptr *at, size_t classes, int64_t *dst,
                       diag *d)
{
    if (t->enc == ENC_REF && t->ref_int64) { /* the integers themselves */
        if (t->ref_missing) {
            memset(dst, 0, t->count * sizeof *dst);
            return 1;
        }
        memcpy(dst, t->bytes, t->count * sizeof *dst);
        for (size_t i = 0; i < t->count; i++)
            if (dst[i] < 0 || (uint64_t)dst[i] >= classes) {
                diag_invalid_at(d, PTR_KEY(at, "ref"),
                                "element %zu is %lld: a class index is an integer in 0..%zu", i,
                                (long long)dst[i], classes - 1);
                return 0;
            }
        return 1;
    }
    double *v = srv_malloc(t->count ? t->count * sizeof *v : 1);
    if (!v) {
        diag_set(d, 500, "internal", "out of memory decoding labels");
        return 0;
    }
    int ok = tensor_read(t, at, GS_FLOAT64, v, d);
    for (size_t i = 0; ok && i < t->count; i++) {
        if (v[i] >= 0 && v[i] < (double)classes && v[i] == floor(v[i])) {
            dst[i] = (int64_t)v[i];
            continue;
        }
        char p[PTR_MAX];
        element_ptr(p, t, at, i);
        diag_invalid(d, p, "must be a class index, an integer in 0..%zu", classes - 1);
        ok = 0;
    }
    srv_free(v);
    return ok;
}

void codec_refs_free(codec_refs *refs)
{
    for (size_t i = 0; i < refs->n_pins; i++) store_unpin(refs->store, refs->pins[i]);
    srv_free(refs->pins);
    srv_free(refs->missing);
    memset(refs, 0, sizeof *refs);
}

int codec_refs_missing(const codec_refs *c, diag *d, char **errors_json, size_t *len)
{
    if (!c->n_missing || d->status) return 0;
    jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < c->n_missing; i++) {
        char ref[REF_TEXT_LEN + 1];
        ref_text(ref, c->missing[i].digest);
        jw_object(&w);
        jw_key(&w, "pointer");
        jw_string(&w, c->missing[i].pointer);
        jw_key(&w, "detail");
        jw_string(&w, "not in the tensor store");
        jw_key(&w, "ref");
        jw_string(&w, ref);
        jw_end(&w);
    }
    jw_end(&w);
    *errors_json = jw_take(&w, len);
    if (!*errors_json) {
        diag_set(d, 500, "internal", "out of memory listing the missing refs");
        return 1;
    }
    diag_set(d, 409, "missing-refs",
             "%zu tensor ref%s of this request %s not in the tensor store; PUT %s to "
             "/tensors/{ref} and send the request again.",
             c->n_missing, c->n_missing == 1 ? "" : "s", c->n_missing == 1 ? "is" : "are",
             c->n_missing == 1 ? "it" : "them");
    d->errors_json = *errors_json;
    return 1;
}

/* ---- writing ------------------------------------------------------------ */

static void write_numbers(jw *w, gs_dtype dtype, const void *data, size_t from, size_t n)
{
    jw_array(w);
    if (dtype == GS_FLOAT64)
        for (size_t i = from; i < from + n; i++) jw_double(w, ((const double *)data)[i]);
    else
        for (size_t i = from; i < from + n; i++) jw_float(w, ((const float *)data)[i]);
    jw_end(w);
}

static void write_shape(jw *w, size_t rank, const size_t *dim)
{
    jw_key(w, "shape");
    jw_array(w);
    for (size_t i = 0; i < rank; i++) jw_uint(w, dim[i]);
    jw_end(w);
}

/* Nested arrays of dims dim[0..rank-1] from element `from` of data. */
static void write_nested(jw *w, gs_dtype dtype, const void *data, size_t from, size_t rank,
                         const size_t *dim)
{
    if (rank == 1) {
        write_numbers(w, dtype, data, from, dim[0]);
        return;
    }
    size_t inner = 1;
    for (size_t k = 1; k < rank; k++) inner *= dim[k];
    jw_array(w);
    for (size_t r = 0; r < dim[0]; r++) write_nested(w, dtype, data, from + r * inner, rank - 1, dim + 1);
    jw_end(w);
}

/* Bytes of a tensor base64-encoded at a time: 16 KB of text. */
#define B64_PIECE ((size_t)12288)

void tensor_write(jw *w, tensor_encoding enc, gs_dtype dtype, const void *data, size_t rank,
                  const size_t *dim)
{
    size_t count = 1;
    for (size_t k = 0; k < rank; k++) count *= dim[k];
    if (enc == ENC_NESTED) {
        write_nested(w, dtype, data, 0, rank, dim);
        return;
    }
    jw_object(w);
    write_shape(w, rank, dim);
    if (enc == ENC_FLAT) {
        jw_key(w, "data");
        write_numbers(w, dtype, data, 0, count);
    } else if (enc == ENC_BINARY) {
        size_t bytes = count * gs_dtype_size(dtype);
        jw_key(w, "dtype");
        jw_string(w, dtype_name(dtype));
        jw_key(w, "binary_data_size");
        jw_uint(w, bytes);
        jw_binary(w, data, bytes);
    } else {
        size_t bytes = count * gs_dtype_size(dtype);
        jw_key(w, "dtype");
        jw_string(w, dtype_name(dtype));
        jw_key(w, "b64");
        /* in pieces of B64_PIECE bytes (a multiple of 3: the pieces' texts
         * join into the whole's), so that the writer needs no contiguous
         * room for a tensor of megabytes (json_writer.h) */
        jw_raw_value(w, "\"", 1);
        for (size_t at = 0; at < bytes; at += B64_PIECE) {
            size_t k = bytes - at < B64_PIECE ? bytes - at : B64_PIECE;
            char *out = jw_raw_space(w, base64_encoded_len(k));
            if (!out) break;
            base64_encode(out, (const unsigned char *)data + at, k);
        }
        jw_raw(w, "\"", 1);
    }
    jw_end(w);
}

size_t first_nonfinite(const void *data, gs_dtype dtype, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = dtype == GS_FLOAT64 ? ((const double *)data)[i] : ((const float *)data)[i];
        if (!isfinite(v)) return i;
    }
    return n;
}

int tensor_write_ref(jw *w, tensor_store *store, gs_dtype dtype, const void *data, size_t rank,
                     const size_t *dim, diag *d)
{
    size_t count = 1;
    for (size_t k = 0; k < rank; k++) count *= dim[k];
    size_t bytes = count * gs_dtype_size(dtype);
    unsigned char digest[DIGEST_BYTES];
    void *copy = srv_malloc(bytes ? bytes : 1);
    if (!copy || !sha256_of(data, bytes, digest)) {
        srv_free(copy);
        diag_set(d, 500, "internal", "out of memory putting an answer's tensor in the store");
        return 0;
    }
    memcpy(copy, data, bytes);
    store_put_result r = store ? store_put(store, digest, copy, bytes) : STORE_TOO_BIG;
    if (!store) srv_free(copy);
    if (r == STORE_NO_MEMORY) {
        diag_set(d, 500, "internal", "out of memory putting an answer's tensor in the store");
        return 0;
    }
    if (r == STORE_TOO_BIG || r == STORE_FULL) {
        size_t budget = store ? store_budget(store) : 0;
        diag_limit(d, "tensor_store_bytes", (double)budget, "/encoding",
                   "an answer's tensor of %zu bytes does not fit in the tensor store (%zu "
                   "bytes%s); ask for another encoding",
                   bytes, budget, r == STORE_FULL ? ", held by running requests" : "");
        return 0;
    }
    char ref[REF_TEXT_LEN + 1];
    ref_text(ref, digest);
    jw_object(w);
    jw_key(w, "ref");
    jw_string(w, ref);
    write_shape(w, rank, dim);
    jw_key(w, "dtype");
    jw_string(w, dtype_name(dtype));
    jw_end(w);
    return 1;
}
