/* What is wrong with a request, collected while decoding it, and its
 * rendering as application/problem+json (RFC 9457) with JSON Pointers
 * (RFC 6901) into the request. */
#ifndef GS_SERVER_PROBLEM_H
#define GS_SERVER_PROBLEM_H

#include <stddef.h>

#define PTR_MAX 192
#define DETAIL_MAX 240
#define DIAG_MAX 16

#define PROBLEM_BASE "https://gradserve.dev/problems/"

typedef struct {
    char pointer[PTR_MAX];
    char detail[DETAIL_MAX];
} diag_entry;

/* A problem in the making: the status and type are those of the first
 * error; later errors of the same request are listed after it. */
typedef struct {
    int status;        /* 0 while nothing is wrong */
    const char *slug;  /* type: PROBLEM_BASE slug */
    char detail[DETAIL_MAX];
    const char *limit; /* limit-exceeded: the flag's name, e.g. "max-params" */
    double limit_value;
    int has_step;      /* diverged, or stopped by the deadline */
    size_t step;
    int has_position;  /* /autodiff: byte offset into the expression */
    size_t position;
    int has_node;      /* /autodiff domain-error: the tape node and its op */
    size_t node;
    const char *op;
    size_t n, dropped;
    const char *errors_json; /* instead of errors: a JSON array written already (409
                                missing-refs: one entry per ref, codec.h); not owned */
    /* Last, 7 KB: only errors[0, n) are ever read, each written before n
     * counts it, so clearing a diag up to here makes it empty (RESULT_HEAD,
     * REQUEST_HEAD). */
    diag_entry errors[DIAG_MAX];
} diag;

/* Appends pointer + "/" + key (escaped per RFC 6901) or + "/" + index. */
void ptr_key(char out[PTR_MAX], const char *base, const char *key);
void ptr_index(char out[PTR_MAX], const char *base, size_t i);

/* A JSON Pointer kept as its reference tokens and written out (ptr_write)
 * only when an error names it: a tensor's pointer ("/params/0/weight") is
 * needed for an error only, and most requests have none. A node is one token
 * under the node up (NULL: under the root, ""): key, or index when key is
 * NULL. Nodes live on their users' stacks, e.g. for /params/0/weight:
 *     json_ptr params = {.key = "params"}, layer = {.up = &params, .index = 0};
 *     json_ptr weight = {.up = &layer, .key = "weight"};  or PTR_KEY(&layer, "weight") */
typedef struct json_ptr {
    const struct json_ptr *up;
    const char *key;
    size_t index;
} json_ptr;

/* A node under up, for the length of the enclosing block. */
#define PTR_KEY(u, k) (&(const json_ptr){.up = (u), .key = (k)})
#define PTR_INDEX(u, i) (&(const json_ptr){.up = (u), .index = (i)})

/* at's text ("" when NULL), as ptr_key and ptr_index build it token after
 * token: the same escapes, the same truncation at PTR_MAX. */
void ptr_write(char out[PTR_MAX], const json_ptr *at);

/* 400 invalid-request: one error at pointer. */
void diag_invalid(diag *d, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same at a pointer held as its tokens (written here, not before). */
void diag_invalid_at(diag *d, const json_ptr *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 422 limit-exceeded: the request is valid but over the named limit. */
void diag_limit(diag *d, const char *limit, double value, const char *pointer, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
/* A non-finite value at pointer (into the response): 422 non-finite. */
void diag_nonfinite(diag *d, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Any other problem: status, slug and detail (overrides nothing set before). */
void diag_set(diag *d, int status, const char *slug, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Title of a problem type (slug). */
const char *problem_title(const char *slug);

/* The problem+json body of d (malloc'd text, *len bytes), or NULL. */
char *problem_render(const diag *d, const char *request_id, size_t *len);

#endif
