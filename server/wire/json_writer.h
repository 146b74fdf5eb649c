/* JSON written directly into memory: responses hold millions of numbers,
 * which a jansson tree would allocate one by one, and jansson 2.14 cannot
 * print the shortest round-trip form of a float.
 *
 * The text (and a binary answer's tensors) is written in chunks, never
 * copied to grow: the first chunk is malloc's and doubles up to
 * JW_FIRST_MAX, so a small answer is one buffer as it always was; past that
 * each further chunk is a fresh block of JW_CHUNK bytes (a mapping of
 * alloc.c's, on one huge page), and the chunks already written stay where
 * they are. A doubling buffer copied a 60 MB answer at each step and left
 * each smaller copy resident in alloc.c's cache of mappings until the
 * request ended: 1.5 to 3 times the text at the peak, now the text and less
 * than JW_SLACK bytes. HTTP sends the chunks as they lie (jw_take_parts, one
 * iovec); the other takers join them. */
#ifndef GS_SERVER_JSON_WRITER_H
#define GS_SERVER_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 16
/* The first chunk doubles up to this (malloc's blocks: under alloc.h's
 * SRV_MAP_MIN); the next ones are JW_CHUNK bytes, or one value's length
 * when it is longer (a base64 tensor is one string). */
#define JW_FIRST_MAX ((size_t)512 << 10)
#define JW_CHUNK ((size_t)2 << 20)
/* Bytes allocated beyond what was written, at most: the first chunk's
 * doubling, a chunk's unwritten tail when the next value did not fit it, and
 * the last chunk's, for the text and for the binary part. The estimate of a
 * request's memory counts it (http/estimate.c). */
#define JW_SLACK (2 * (JW_FIRST_MAX + 2 * JW_CHUNK))

/* Bytes written: chunk p[0, len). */
typedef struct {
    char *p;
    size_t len;
} jw_chunk;

/* A sequence of bytes in chunks: the one being written (buf[0, len) of
 * cap), after the filled ones. */
typedef struct {
    char *buf;
    size_t len, cap;
    jw_chunk *full; /* filled chunks, in order */
    size_t n_full, cap_full;
    size_t full_len; /* bytes in them */
} jw_bytes;

typedef struct {
    jw_bytes text;    /* the JSON */
    int failed;       /* an allocation failed: the output is unusable */
    size_t nonfinite; /* non-finite numbers written as null (a bug upstream) */
    unsigned depth;
    int after_key;
    unsigned char has_items[JW_MAX_DEPTH + 1];
    char closer[JW_MAX_DEPTH + 1]; /* '}' or ']' per open container */
    jw_bytes bin;     /* binary tensors, in the order the JSON names them */
} jw;

/* An answer handed over in its chunks: the JSON's, then the binary part's
 * (json_len bytes of JSON, then len - json_len of tensors). Freed whole by
 * jw_parts_free (with the response that sends it). */
typedef struct {
    size_t n, len, json_len;
    jw_chunk part[];
} jw_parts;

void jw_init(jw *w);
void jw_free(jw *w);
/* Hands the NUL-terminated text to the caller (srv_free()), or NULL on
 * failure. The chunks of a long text are joined (a copy). */
char *jw_take(jw *w, size_t *len);
/* Appends n bytes to the binary part that follows the JSON. */
void jw_binary(jw *w, const void *data, size_t n);
/* The JSON followed by the binary part, in one buffer for the caller
 * (srv_free()); *json_len is the JSON's length. NULL on failure. */
char *jw_take_with_binary(jw *w, size_t *len, size_t *json_len);
/* Chunks written so far, of the JSON and the binary part: 1 (or 0) for an
 * answer that fits the first chunk and has no binary part. */
size_t jw_chunks(const jw *w);
/* The JSON (not NUL-terminated) and the binary part as they lie, no copy;
 * NULL on failure, with nothing to free. */
jw_parts *jw_take_parts(jw *w);
/* The first n bytes of p joined, for the caller (srv_free()); NULL when out of memory. */
char *jw_parts_join(const jw_parts *p, size_t n);
void jw_parts_free(jw_parts *p);

void jw_raw(jw *w, const char *s, size_t n);
/* A value written already (valid JSON), placed as jw_string places one. */
void jw_raw_value(jw *w, const char *s, size_t n);
void jw_object(jw *w); /* { */
void jw_array(jw *w);  /* [ */
void jw_end(jw *w);    /* } or ] (whichever is open) */
void jw_key(jw *w, const char *key);
void jw_string(jw *w, const char *s);
void jw_bool(jw *w, int b);
void jw_null(jw *w);
void jw_uint(jw *w, uint64_t v);
/* n bytes of raw text (a piece of a value), to be filled in by the caller
 * through the returned pointer (NULL on failure). Keep n small (a few KB): a
 * long value is written in pieces, each contiguous, the value not. */
char *jw_raw_space(jw *w, size_t n);
/* Shortest text that reads back as the same float / double. */
void jw_float(jw *w, float v);
void jw_double(jw *w, double v);

/* Writes s as a JSON string (with quotes) into out[cap]; for log lines. */
size_t json_escape_into(char *out, size_t cap, const char *s);

#endif
