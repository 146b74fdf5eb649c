/* A growing buffer that JSON is written into directly: responses hold
 * millions of numbers, which a jansson tree would allocate one by one, and
 * jansson 2.14 cannot print the shortest round-trip form of a float. */
#ifndef GS_SERVER_JSON_WRITER_H
#define GS_SERVER_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 16

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;       /* an allocation failed: the output is unusable */
    size_t nonfinite; /* non-finite numbers written as null (a bug upstream) */
    unsigned depth;
    int after_key;
    unsigned char has_items[JW_MAX_DEPTH + 1];
    char closer[JW_MAX_DEPTH + 1]; /* '}' or ']' per open container */
    char *bin;        /* binary tensors, in the order the JSON names them */
    size_t bin_len, bin_cap;
} jw;

void jw_init(jw *w);
void jw_free(jw *w);
/* Hands the NUL-terminated text to the caller (srv_free()), or NULL on failure. */
char *jw_take(jw *w, size_t *len);
/* Appends n bytes to the binary part that follows the JSON. */
void jw_binary(jw *w, const void *data, size_t n);
/* The JSON followed by the binary part, in one buffer for the caller
 * (srv_free()); *json_len is the JSON's length. NULL on failure. */
char *jw_take_with_binary(jw *w, size_t *len, size_t *json_len);
/* The same without joining them: the JSON (not NUL-terminated) and the
 * binary part (*bin, NULL when empty), both for the caller (srv_free()). NULL
 * on failure, with nothing to free. */
char *jw_take_parts(jw *w, size_t *len, char **bin, size_t *bin_len);

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
/* A string of n characters that need no escaping, to be filled in by the
 * caller through the returned pointer (NULL on failure). */
char *jw_string_space(jw *w, size_t n);
/* Shortest text that reads back as the same float / double. */
void jw_float(jw *w, float v);
void jw_double(jw *w, double v);

/* Writes s as a JSON string (with quotes) into out[cap]; for log lines. */
size_t json_escape_into(char *out, size_t cap, const char *s);

#endif
