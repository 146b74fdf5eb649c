/* The fast path for tensors written as JSON numbers.
 *
 * jansson makes a node (a malloc) for every number and converts each through
 * a copy and strtod: about 0.45 s per million numbers. Before jansson sees a
 * request, fastjson_scan walks the text once and reads every tensor written
 * as a rectangular array of numbers (nested [[..],..] or [..], or the "data"
 * of a {"shape", "data"} tensor) straight into doubles; jansson then parses a
 * skeleton of the request in which each of those arrays is its marker.
 *
 * The "b64" string of a {"shape", "dtype", "b64"} tensor is decoded the same
 * way (jansson copies strings a character at a time) and marked the same,
 * when it is plain standard base64 with padding.
 *
 * The marker of the i-th packed array (in the order of the text) is the
 * integer FJ_MARK + i, written in 14 digits (i < 9 x 10^13: a body of fewer
 * than 2.7 x 10^14 bytes holds fewer arrays):
 *     {"inputs": [[0, 1], [1, 0]], "params": [{"weight": [1, 2]}]}
 *     {"inputs": 10000000000000, "params": [{"weight": 10000000000001}]}
 * so the codec finds a packed array from the value it reads where the tensor
 * is (fastjson_marked), without building its JSON Pointer. No number a client
 * wrote can pass for a marker, wherever the codec reads it: a body holding an
 * integer of 14 characters or more anywhere outside the packed arrays is not
 * packed at all, but parsed whole by jansson, as a body fastjson cannot read
 * is (such integers are rare: no size or count comes near 10^13). Not longer:
 * jansson reads a number into a buffer of 16 bytes that a longer token (with
 * the character after it) makes it grow, and a growth that fails there stops
 * the process (jansson 2.14's load.c asserts in lex_unget_unsave).
 *
 * Only the tensor positions the caller names are read this way (a route's
 * row lists them, api/routes.c: /inputs, /params/#/weight, ... and their
 * /data and /b64), and only arrays that jansson would read as the same
 * numbers: anything else there (a string, a ragged or empty array) is left
 * in the skeleton for jansson and the codec to judge, so every error keeps
 * its message and JSON Pointer. A number jansson refuses (an integer beyond
 * int64_t, a real that overflows) after nothing but numbers in its tensor
 * ends the skeleton (f->cut): jansson stops there, or before, in the body
 * too, and reads none of that tensor's numbers.
 *
 * A skeleton that jansson refuses means the request itself is malformed, at
 * the same token: the text before the error is the body's with valid arrays
 * (and strings) replaced by valid integers, so jansson stops at the same
 * place with the same message (it quotes the token it was reading, never a
 * marker: a marker is read whole and accepted, and the scan saw ',' ']' or
 * '}' after each packed array). The caller maps the error's offset back to
 * the body (fastjson_body_offset) for the line and column the client's text
 * has there, without parsing that text again. */
#ifndef GS_SERVER_FASTJSON_H
#define GS_SERVER_FASTJSON_H

#include <stddef.h>

typedef struct {
    size_t rank;      /* 1 or 2 (a "data" array is always 1) */
    size_t dim[2];
    size_t count;
    double *values;   /* row-major, exactly as strtod reads the text (in fastjson.pool) */
    unsigned char *bytes; /* a "b64" string instead: its decoded bytes (count of them) */
    size_t text_len;      /* and the string's length */
    size_t values_at;     /* while scanning: where values will be in the pool,
                             which may still move as it grows */
    unsigned finite;      /* b64: FJ_FINITE_F32 when the bytes, read as float32, are all
                             finite; FJ_FINITE_F64 the same as float64 (checked while
                             decoding, so the codec need not scan them again) */
} packed_array;

enum { FJ_FINITE_F32 = 1u, FJ_FINITE_F64 = 2u };

/* Every array's numbers in one pool: a request with a few small tensors
 * costs a few allocations, not a few per tensor. */
typedef struct fastjson_s {
    packed_array *arr;
    size_t n, cap;
    double *pool;     /* the numbers of every packed array */
    size_t pool_len, pool_cap;
    char *skeleton;   /* NULL when nothing was packed nor cut: parse the original */
    size_t skeleton_len;
    size_t *spans;    /* where packed array i's text was in the body: [2i, 2i + 1)
                         (its marker is FJ_MARK_DIGITS characters in the skeleton) */
    int cut;          /* 1: a tensor holds a number that jansson refuses after
                         nothing but numbers; the skeleton is the text up to
                         the tensor's '[' (body offset cut_at), then that
                         number, which the body has cut_skip characters on */
    size_t cut_at, cut_skip;
} fastjson;

/* Scans body[len] for tensors at the positions in tensors: NULL-terminated
 * JSON Pointers in which a segment "#" stands for any array index and "*" for
 * any key ("/params/#/weight"). numbers_expected: how many numbers the
 * tensors written as text hold, as the request's estimate counted them
 * (http/estimate.h; 0: not known); the pool of doubles is sized once from
 * it, and never written past whatever the body holds (fastjson.c,
 * pool_room). 0 (f->skeleton NULL when nothing was packed, also when the
 * text is not valid JSON, unless it was cut: see f->cut), or -1 when out of
 * memory. f is always freeable. */
int fastjson_scan(fastjson *f, const char *body, size_t len, const char *const *tensors,
                  size_t numbers_expected);
void fastjson_free(fastjson *f);

#define FJ_MARK 10000000000000LL /* 10^13: the first marker */
#define FJ_MARK_TEXT "10000000000000"
#define FJ_MARK_DIGITS 14

/* The array whose marker is v (an integer the skeleton holds), or NULL when
 * v is no marker of f's. */
const packed_array *fastjson_marked(const fastjson *f, long long v);

/* The offset in the body of offset pos of the skeleton (pos characters of
 * the skeleton read stand for *body_pos characters of the body): 1, or 0
 * when pos falls within a marker (after its first digit, up to its end), a
 * place no error of jansson's is found at: there the skeleton's text and the
 * body's differ. */
int fastjson_body_offset(const fastjson *f, size_t pos, size_t *body_pos);

/* Reads a JSON number token at s (< end): the double strtod gives for it, as
 * jansson reads it (an integer literal through json_int_t). Returns the
 * characters read, or 0 when s does not start a number this fast path takes
 * (not JSON's grammar, an integer beyond 18 digits, an overflow). */
size_t fastjson_number(const char *s, const char *end, double *out);

#endif
