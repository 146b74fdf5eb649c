#include "wire/fastjson.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "wire/base64.h"

_Static_assert(sizeof FJ_MARK_TEXT - 1 == FJ_MARK_DIGITS, "FJ_MARK_TEXT is FJ_MARK written out");

#define MAX_DEPTH 64 /* deeper requests are left to jansson whole */
#define MAX_KEY 32   /* longer keys are never part of a tensor position */

/* ---- numbers ------------------------------------------------------------ */

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* JSON's number grammar; the value is exact when the significand fits 2^53
 * and the power of ten is exact (10^22 at most): one multiplication or
 * division then rounds once, as strtod does (Clinger's fast path). Anything
 * else goes to strtod itself. The token is always followed by a delimiter
 * here (',' ']' or space), so strtod reads exactly the token. */
/* 17-digit numbers (what JavaScript and Python print for a float32 held in
 * a double) have significands above 2^53. x87's long double holds any
 * 64-bit significand and 10^k up to k = 27 exactly, so w x 10^k there is one
 * rounding to 64 bits; rounding that to double is then correct unless the
 * 64-bit result sits within an ulp of a point halfway between two doubles,
 * where the exact value may lie on the other side: strtod decides those. */
static int long_double_path(uint64_t w, int exp10, double *out)
{
#if LDBL_MANT_DIG == 64 && defined(__x86_64__)
    static const long double P[28] = {
        1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
        1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
        1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
    if (exp10 < -27 || exp10 > 27) return 0;
    long double x = exp10 < 0 ? (long double)w / P[-exp10] : (long double)w * P[exp10];
    uint64_t m;
    memcpy(&m, &x, sizeof m); /* the explicit 64-bit significand */
    unsigned low = (unsigned)(m & 0x7ff);
    if (low >= 0x3ff && low <= 0x401) return 0;
    double v = (double)x;
    if (!(fabs(v) >= DBL_MIN) || isinf(v)) return 0; /* subnormal: other rounding bits */
    *out = v;
    return 1;
#else
    (void)w;
    (void)exp10;
    (void)out;
    return 0;
#endif
}

size_t fastjson_number(const char *s, const char *end, double *out)
{
    const char *p = s;
    int neg = 0, is_int = 1;
    uint64_t w = 0;
    int sig = 0, exp10 = 0; /* significant digits taken; value = w x 10^exp10 */
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || !is_digit(*p)) return 0;
    if (*p == '0') {
        p++;
    } else {
        for (; p < end && is_digit(*p); p++) {
            if (sig < 19) {
                w = w * 10 + (uint64_t)(*p - '0');
                sig++;
            } else {
                exp10++;
                sig++;
            }
        }
    }
    if (p < end && *p == '.') {
        is_int = 0;
        p++;
        if (p >= end || !is_digit(*p)) return 0;
        for (; p < end && is_digit(*p); p++) {
            if (w == 0 && *p == '0') {
                exp10--; /* leading zeros of 0.000x count for nothing */
            } else if (sig < 19) {
                w = w * 10 + (uint64_t)(*p - '0');
                sig++;
                exp10--;
            } else {
                sig++;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        int eneg = 0, e = 0;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end || !is_digit(*p)) return 0;
        for (; p < end && is_digit(*p); p++)
            if (e < 100000) e = e * 10 + (*p - '0');
        exp10 += eneg ? -e : e;
    }
    if (p >= end) return 0; /* never at the very end: a ']' must follow */
    size_t n = (size_t)(p - s);
    if (is_int) {
        /* jansson: json_integer (strtoll), then json_number_value's cast;
         * "-0" is the integer 0. 19 digits are taken while they fit int64_t
         * (a tensor with one number left to jansson is all left to it, a
         * node a number); beyond, jansson refuses the text. */
        if (sig > 19 || w > (neg ? UINT64_C(1) << 63 : (uint64_t)INT64_MAX)) return 0;
        *out = neg && w ? -(double)w : (double)w; /* "-0" is +0 */
        return n;
    }
    if (w == 0) {
        *out = neg ? -0.0 : 0.0;
        return n;
    }
    double v;
    if (sig <= 19 && w <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        v = exp10 < 0 ? (double)w / POW10[-exp10] : (double)w * POW10[exp10];
        if (neg) v = -v;
    } else if (sig <= 19 && long_double_path(w, exp10, &v)) {
        if (neg) v = -v;
    } else {
        char *stop;
        v = strtod(s, &stop);
        if (stop != p) return 0;
    }
    if (isinf(v)) return 0; /* jansson: "real number overflow" */
    *out = v;
    return n;
}

/* ---- the scan ------------------------------------------------------------ */

typedef struct {
    int is_index;
    size_t index;
    char key[MAX_KEY + 1]; /* "" when too long or escaped: matches nothing */
} segment;

typedef struct {
    const char *base, *s, *end;
    size_t depth;
    fastjson *f;
    size_t *spans; /* start, end of each packed array in the text */
    size_t n_spans, cap_spans;
    int oom;
    const char *const *tensors; /* where tensors go: fastjson_scan's patterns */
    size_t expected;            /* numbers the request said it holds (0: unknown) */
    const char *cut;            /* the '[' of the tensor holding refused, where the scan stopped */
    const char *refused, *refused_end; /* a number jansson refuses (refused_number) */
    /* last: segments are written as the scan descends, so fastjson_scan
     * zeroes the fields above only (3 KB less to clear per request) */
    segment path[MAX_DEPTH];
} scanner;

static void skip_ws(scanner *c)
{
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\n' || *c->s == '\r' || *c->s == '\t'))
        c->s++;
}

static int key_is(const segment *g, const char *k) { return !g->is_index && !strcmp(g->key, k); }

/* 1 when the path p[0, depth) matches the pattern: a JSON Pointer whose
 * segment "#" matches any array index and "*" any (non-empty) key. A
 * character at a time, no library calls: it runs for every array in a body. */
static int path_matches(const char *s, const segment *p, size_t depth)
{
    for (size_t i = 0; i < depth; i++) {
        if (*s++ != '/') return 0;
        if ((*s == '#' || *s == '*') && (s[1] == '/' || !s[1])) {
            if (*s == '#' ? !p[i].is_index : p[i].is_index || !p[i].key[0]) return 0;
            s++;
            continue;
        }
        if (p[i].is_index) return 0;
        const char *k = p[i].key;
        while (*k && *k == *s) k++, s++;
        if (*k || (*s && *s != '/')) return 0;
    }
    return *s == 0;
}

/* 1 when the path so far is where a tensor goes (one of the route's patterns). */
static int tensor_position(const scanner *c, size_t depth)
{
    for (const char *const *t = c->tensors; *t; t++)
        if (path_matches(*t, c->path, depth)) return 1;
    return 0;
}

/* Reads a string (after its opening quote has been seen); a key is kept in
 * g when it is short and has no escapes. */
static int scan_string(scanner *c, segment *g)
{
    const char *start = ++c->s;
    int escaped = 0;
    while (c->s < c->end && *c->s != '"') {
        if (*c->s == '\\') {
            escaped = 1;
            c->s++;
        }
        c->s++;
    }
    if (c->s >= c->end) return -1;
    size_t n = (size_t)(c->s - start);
    c->s++;
    if (g) {
        g->is_index = 0;
        if (escaped || n > MAX_KEY) n = 0;
        memcpy(g->key, start, n);
        g->key[n] = 0;
    }
    return 0;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size, scanner *c)
{
    if (need <= *cap) return p;
    /* start under 512 bytes: glibc consolidates its small free chunks for
     * every request above 1 KiB, which small requests would pay each time */
    size_t n = *cap ? *cap : 512 / size > 4 ? 512 / size : 4;
    while (n < need) n *= 2;
    void *q = srv_realloc(p, n * size);
    if (!q) {
        c->oom = 1;
        return NULL;
    }
    *cap = n;
    return q;
}

/* A new packed tensor, for the text [start, end) that the skeleton replaces
 * with its marker; data (a decoded b64 buffer, or NULL) is freed on
 * failure. NULL: out of memory (c->oom set). The caller fills in the rest. */
static packed_array *record(scanner *c, const char *start, const char *end, void *data)
{
    fastjson *f = c->f;
    packed_array *arr = grow(f->arr, &f->cap, f->n + 1, sizeof *f->arr, c);
    if (arr) f->arr = arr;
    size_t *spans = arr ? grow(c->spans, &c->cap_spans, 2 * c->n_spans + 2, sizeof *spans, c)
                        : NULL;
    if (!spans) {
        srv_free(data);
        c->oom = 1;
        return NULL;
    }
    c->spans = spans;
    packed_array *a = &f->arr[f->n++];
    memset(a, 0, sizeof *a);
    c->spans[2 * c->n_spans] = (size_t)(start - c->base);
    c->spans[2 * c->n_spans + 1] = (size_t)(end - c->base);
    c->n_spans++;
    return a;
}

/* Separators (',' and ']') in [s, end), 16 bytes at a time (a vector of
 * byte counters, added up before any can wrap). For the 29 MB nested body of
 * bench/http_bodies.py, counted by callgrind, 3.5% of the scan's
 * instructions, where the doubling it replaces copied 15 MiB. */
static size_t separators(const char *s, const char *end)
{
    typedef unsigned char bytes16 __attribute__((vector_size(16)));
    size_t total = 0;
    while (end - s >= 16) {
        size_t blocks = (size_t)(end - s) / 16;
        if (blocks > 255) blocks = 255;
        bytes16 seen = {0};
        for (size_t b = 0; b < blocks; b++, s += 16) {
            bytes16 v;
            memcpy(&v, s, sizeof v);
            seen -= (bytes16)((v == ',') | (v == ']')); /* each match is -1 */
        }
        for (unsigned i = 0; i < sizeof seen; i++) total += seen[i];
    }
    for (; s < end; s++) total += *s == ',' || *s == ']';
    return total;
}

/* Room in the pool for the number at c->s; -1 out of memory. The pool is
 * sized once from the count of numbers the request's estimate found in its
 * tensors (fastjson_scan's numbers_expected, http/estimate.c), so a body
 * asks for the same size each time, which the next such request finds in
 * the cache of mappings (alloc.c), and never for more than the estimate
 * charged to the memory budget. That count is the body's word, not a promise: the room is
 * never more than the rest of the text can hold (every number packed from
 * c->s on but the first is preceded by a ',' and takes a character: at most
 * rest / 2 + 1 of them), and a body that holds more numbers than it said
 * (its shapes and its text disagree: the decode refuses it) gets the way
 * the scan had without a count:
 * - a small pool doubles in malloc's blocks, which are freed as they are
 *   outgrown;
 * - one that would reach SRV_MAP_MIN bytes is sized once instead, from the
 *   ',' and ']' left in the text (a mapping outgrown would stay cached until
 *   the request ends, so that doubling held up to 3 doubles per number). A
 *   separator elsewhere (in a string, between members) only adds room that
 *   is never written: address space, not memory, but counted among the
 *   mapped bytes, up to 4 bytes per byte of text left. */
static int pool_room(scanner *c)
{
    fastjson *f = c->f;
    if (f->pool_len < f->pool_cap) return 0;
    size_t rest = (size_t)(c->end - c->s), most = f->pool_len + rest / 2 + 1, cap;
    if (c->expected > f->pool_len) {
        cap = c->expected < most ? c->expected : most;
    } else {
        cap = f->pool_cap ? 2 * f->pool_cap : 512 / sizeof *f->pool;
        if (cap * sizeof *f->pool >= SRV_MAP_MIN) {
            size_t more = separators(c->s, c->end);
            cap = f->pool_len + (more < rest / 2 ? more : rest / 2) + 1;
        }
    }
    double *pool = srv_realloc(f->pool, cap * sizeof *pool);
    if (!pool) {
        c->oom = 1;
        return -1;
    }
    f->pool = pool;
    f->pool_cap = cap;
    return 0;
}

/* The length of the number token at s (< end) when jansson refuses it, as
 * its lexer reads it (load.c, lex_scan_number): an integer beyond int64_t
 * ("too big integer") or a real that overflows ("real number overflow");
 * 0 for anything else. The text is malformed there, whatever follows. */
static size_t refused_number(const char *s, const char *end)
{
    const char *p = s + (s < end && *s == '-');
    double v;
    if (p >= end || !is_digit(*p)) return 0;
    if (*p == '0') {
        if (++p < end && is_digit(*p)) return 0;
    } else {
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && *p == '.') {
        if (++p >= end || !is_digit(*p)) return 0;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) return 0;
        while (p < end && is_digit(*p)) p++;
    }
    /* JSON's grammar, followed by a character: fastjson_number refuses it
     * only for its value, as jansson does */
    return p < end && !fastjson_number(s, end, &v) ? (size_t)(p - s) : 0;
}

/* The numbers of one array, from just after its '[': appends them to the
 * pool; 0 with the ']' consumed, -1 when it is not a plain array of
 * numbers (c->refused set when it holds a number jansson refuses after
 * nothing but numbers and separators). */
static int scan_numbers(scanner *c)
{
    fastjson *f = c->f;
    skip_ws(c);
    if (c->s < c->end && *c->s == ']') return -1; /* empty: left to the codec */
    for (;;) {
        if (pool_room(c) != 0) return -1;
        size_t k = fastjson_number(c->s, c->end, &f->pool[f->pool_len]);
        if (!k) {
            size_t r = refused_number(c->s, c->end);
            /* jansson reads one character past the token: a byte that is
             * not ASCII there may be its error instead (not UTF-8), which
             * a skeleton ending with the token would not show */
            if (r && (c->s + r == c->end || (unsigned char)c->s[r] < 0x80)) {
                c->refused = c->s;
                c->refused_end = c->s + r;
            }
            return -1;
        }
        c->s += k;
        f->pool_len++;
        skip_ws(c);
        if (c->s >= c->end) return -1;
        if (*c->s == ']') {
            c->s++;
            return 0;
        }
        if (*c->s != ',') return -1;
        c->s++;
        skip_ws(c);
    }
}

/* At a '[' in a tensor position: reads a rectangular array of numbers of
 * rank 1 (or 2 unless flat_data). 1 when packed, 0 when left as it is (c->s
 * back at the '['), -1 out of memory or when it holds a number jansson
 * refuses (c->cut set: the scan stops, the skeleton ends with that number). */
static int try_pack(scanner *c, int flat_data)
{
    const char *start = c->s;
    fastjson *f = c->f;
    /* the numbers go to the end of the pool: n counts from `first` */
    size_t first = f->pool_len, rank = 1, rows = 0, cols = 0;
    c->s++;
    skip_ws(c);
    int ok;
    if (c->s < c->end && *c->s == '[') {
        rank = 2;
        ok = !flat_data;
        while (ok) {
            if (c->s >= c->end || *c->s != '[') {
                ok = 0;
                break;
            }
            c->s++;
            size_t before = f->pool_len;
            ok = scan_numbers(c) == 0 && (rows == 0 || f->pool_len - before == cols);
            if (!ok) break;
            cols = f->pool_len - before;
            rows++;
            skip_ws(c);
            if (c->s < c->end && *c->s == ']') {
                c->s++;
                break;
            }
            if (c->s >= c->end || *c->s != ',') ok = 0;
            else {
                c->s++;
                skip_ws(c);
            }
        }
    } else {
        ok = scan_numbers(c) == 0;
        rows = f->pool_len - first;
    }
    if (!ok) {
        f->pool_len = first; /* what was read of it is forgotten */
        c->s = start;
        if (c->refused && !c->oom) c->cut = start;
        return c->oom || c->refused ? -1 : 0;
    }
    packed_array *a = record(c, start, c->s, NULL);
    if (!a) return -1;
    a->rank = rank;
    a->dim[0] = rows;
    a->dim[1] = rank == 2 ? cols : 0;
    a->count = f->pool_len - first;
    a->values_at = first;
    return 1;
}

#define B64_BLOCK 16384                /* characters decoded per step: 12 KiB out */
#define B64_ONE_PASS ((size_t)16 << 20) /* see try_pack_b64 */

/* Finiteness of bytes[n] (n a multiple of 8) read as float32 and as float64,
 * eight bytes at a time without branches, as the codec's all_finite: in each
 * lane the masked exponent plus one exponent unit reaches the sign bit only
 * when the exponent is all ones (Inf or NaN). Nonzero *bad32 / *bad64 when
 * some value is not finite. */
static void finite_scan(const unsigned char *b, size_t n, uint64_t *bad32, uint64_t *bad64)
{
    uint64_t b32 = 0, b64 = 0;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t u;
        memcpy(&u, b + i, 8);
        b32 |= ((u & UINT64_C(0x7f8000007f800000)) + UINT64_C(0x0080000000800000)) &
               UINT64_C(0x8000000080000000);
        b64 |= ((u & UINT64_C(0x7ff0000000000000)) + UINT64_C(0x0010000000000000)) &
               UINT64_C(0x8000000000000000);
    }
    *bad32 |= b32;
    *bad64 |= b64;
}

/* A "b64" string at a tensor position (c->s at its quote): decoded into bytes
 * when it is valid standard base64 with padding and has no escapes; 1 when
 * packed, 0 when left to jansson and the codec, -1 out of memory. */
static int try_pack_b64(scanner *c)
{
    static const signed char T[256] = { /* base64 digit values, -1 elsewhere */
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
        -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
        -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    };
    const char *start = c->s + 1;
    size_t avail = (size_t)(c->end - start);
    /* Up to B64_ONE_PASS characters left in the body: decode as the closing
     * quote is looked for, in blocks that stay in cache, into a buffer sized
     * for the rest of the body and shrunk after (no page is touched twice:
     * one pass over the text instead of a memchr and then the decoding).
     * Beyond that, find the quote first, so that a small string in a huge
     * body does not reserve memory for all of it. */
    int one_pass = avail <= B64_ONE_PASS;
    const char *q = one_pass ? NULL : memchr(start, '"', avail);
    if (!one_pass && !q) return 0;
    size_t cap = (one_pass ? avail : (size_t)(q - start)) / 4 * 3 + 8;
    unsigned char *out = srv_malloc(cap);
    if (!out) {
        c->oom = 1;
        return -1;
    }
    /* the bulk decoder stops at the first 32-character block that is not all
     * base64 digits: the one holding the padding or the closing quote (a
     * backslash, an escape, is not a digit either) */
    size_t done = 0, limit = one_pass ? avail : (size_t)(q - start);
    uint64_t bad32 = 0, bad64 = 0;
    for (;;) {
        size_t n = limit - done < B64_BLOCK + 32 ? limit - done : B64_BLOCK + 32;
        size_t k = base64_decode_bulk(out + done / 4 * 3, start + done, n);
        finite_scan(out + done / 4 * 3, k / 4 * 3, &bad32, &bad64);
        done += k;
        if (k < B64_BLOCK) break;
    }
    if (!q && !(q = memchr(start + done, '"', avail - done))) {
        srv_free(out);
        return 0;
    }
    size_t len = (size_t)(q - start);
    if (len % 4) {
        srv_free(out);
        return 0;
    }
    size_t pad = len && start[len - 1] == '=';
    pad += pad && start[len - 2] == '=';
    size_t nbytes = len / 4 * 3 - pad;
    const unsigned char *in = (const unsigned char *)start;
    size_t full = len / 4 - (pad ? 1 : 0), o = done / 4 * 3, checked = o;
    int bad = 0;
    in += done;
    for (size_t i = done / 4; i < full; i++, in += 4) {
        int a = T[in[0]], b = T[in[1]], cc = T[in[2]], d = T[in[3]];
        bad |= a | b | cc | d; /* negative when any is not base64 */
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)cc << 6 | (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (pad) { /* the last quartet: "xx==" or "xxx=" */
        int a = T[in[0]], b = T[in[1]], cc = pad == 1 ? T[in[2]] : 0;
        bad |= a | b | cc;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)cc << 6;
        out[o++] = (unsigned char)(v >> 16);
        if (pad == 1) out[o++] = (unsigned char)(v >> 8);
    }
    if (bad < 0) {
        srv_free(out);
        return 0;
    }
    /* the tail the bulk decoder left; a last odd float32 on its own */
    finite_scan(out + checked, (nbytes - checked) / 8 * 8, &bad32, &bad64);
    size_t rest = (nbytes - checked) % 8;
    if (rest == 4) {
        uint32_t u;
        memcpy(&u, out + nbytes - 4, 4);
        bad32 |= (u & 0x7f800000u) == 0x7f800000u;
        bad64 = 1; /* not a whole number of float64: not known finite */
    } else if (rest) {
        bad32 = bad64 = 1;
    }
    if (nbytes + 8 < cap) { /* give the rest of the reservation back */
        unsigned char *shrunk = srv_realloc(out, nbytes ? nbytes : 1);
        if (!shrunk) { /* cannot fail in glibc, but every failure is reported */
            srv_free(out);
            c->oom = 1;
            return -1;
        }
        out = shrunk;
    }
    packed_array *e = record(c, start - 1, q + 1, out); /* with its quotes */
    if (!e) return -1;
    e->bytes = out;
    e->count = nbytes;
    e->text_len = len;
    e->finite = (bad32 ? 0 : FJ_FINITE_F32) | (bad64 ? 0 : FJ_FINITE_F64);
    c->s = q + 1;
    return 1;
}

/* 1 when the token [s, end) is an integer as long as a marker or longer
 * (FJ_MARK_DIGITS characters): one that could be read as a marker. */
static int marker_like(const char *s, const char *end)
{
    if (end - s < FJ_MARK_DIGITS) return 0;
    for (s += *s == '-'; s < end; s++)
        if (!is_digit(*s)) return 0;
    return 1;
}

/* Any value, tracking where it is; -1 when nothing is to be packed: the
 * text stops making sense (jansson will say what is wrong), or it holds an
 * integer that the codec could take for a marker. */
static int scan_value(scanner *c)
{
    skip_ws(c);
    if (c->s >= c->end) return -1;
    char ch = *c->s;
    if (ch == '[' && c->depth && tensor_position(c, c->depth)) {
        int r = try_pack(c, 0);
        if (r != 0) return r > 0 ? 0 : -1;
    }
    if (ch == '[' && c->depth > 1 && key_is(&c->path[c->depth - 1], "data") &&
        tensor_position(c, c->depth - 1)) {
        int r = try_pack(c, 1);
        if (r != 0) return r > 0 ? 0 : -1;
    }
    if (ch == '"' && c->depth > 1 && key_is(&c->path[c->depth - 1], "b64") &&
        tensor_position(c, c->depth - 1)) {
        int r = try_pack_b64(c);
        if (r != 0) return r > 0 ? 0 : -1;
    }
    if (ch == '"') return scan_string(c, NULL);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        if (c->depth == MAX_DEPTH) return -1;
        segment *g = &c->path[c->depth++];
        c->s++;
        skip_ws(c);
        if (c->s < c->end && *c->s == close) {
            c->s++;
            c->depth--;
            return 0;
        }
        for (size_t i = 0;; i++) {
            if (ch == '{') {
                skip_ws(c);
                if (c->s >= c->end || *c->s != '"' || scan_string(c, g) != 0) return -1;
                skip_ws(c);
                if (c->s >= c->end || *c->s != ':') return -1;
                c->s++;
            } else {
                g->is_index = 1;
                g->index = i;
            }
            if (scan_value(c) != 0) return -1;
            skip_ws(c);
            if (c->s >= c->end) return -1;
            if (*c->s == close) {
                c->s++;
                c->depth--;
                return 0;
            }
            if (*c->s != ',') return -1;
            c->s++;
        }
    }
    /* a number or a literal: jansson checks it */
    const char *token = c->s;
    while (c->s < c->end && !strchr(",]} \n\r\t", *c->s)) c->s++;
    return marker_like(token, c->s) ? -1 : 0;
}

void fastjson_free(fastjson *f)
{
    for (size_t i = 0; i < f->n; i++) srv_free(f->arr[i].bytes);
    srv_free(f->arr);
    srv_free(f->pool);
    srv_free(f->skeleton);
    srv_free(f->spans);
    memset(f, 0, sizeof *f);
}

int fastjson_scan(fastjson *f, const char *body, size_t len, const char *const *tensors,
                  size_t numbers_expected)
{
    memset(f, 0, sizeof *f);
    scanner c;
    memset(&c, 0, offsetof(scanner, path));
    c.base = c.s = body;
    c.end = body + len;
    c.f = f;
    c.tensors = tensors;
    c.expected = numbers_expected;
    skip_ws(&c);
    int ok = c.s < c.end && *c.s == '{' && scan_value(&c) == 0;
    /* A number jansson refuses in a tensor, after nothing but numbers: the
     * body is malformed there (or before). The skeleton stops after that
     * number, so jansson reads no node of its tensor nor anything beyond,
     * and gives the error the body has (fastjson_body_offset maps it). */
    size_t text_end = len, token = 0;
    if (c.cut) {
        f->cut = 1;
        text_end = f->cut_at = (size_t)(c.cut - body);
        f->cut_skip = (size_t)(c.refused - c.cut);
        token = (size_t)(c.refused_end - c.refused);
    } else if (!ok || !f->n) {
        int oom = c.oom;
        srv_free(c.spans);
        fastjson_free(f);
        return oom ? -1 : 0;
    }
    /* The pool has stopped moving: the arrays' pointers into it. */
    for (size_t i = 0; i < f->n; i++) {
        packed_array *a = &f->arr[i];
        if (!a->bytes) a->values = f->pool + a->values_at;
    }
    /* The skeleton: the text with packed array i replaced by its marker. */
    size_t packed = 0;
    for (size_t i = 0; i < c.n_spans; i++)
        packed += c.spans[2 * i + 1] - c.spans[2 * i] - FJ_MARK_DIGITS;
    f->skeleton_len = text_end - packed + token;
    if (!(f->skeleton = srv_malloc(f->skeleton_len + 1))) {
        srv_free(c.spans);
        fastjson_free(f);
        return -1;
    }
    char *o = f->skeleton;
    size_t from = 0;
    for (size_t i = 0; i < c.n_spans; i++) {
        memcpy(o, body + from, c.spans[2 * i] - from);
        o += c.spans[2 * i] - from;
        memcpy(o, FJ_MARK_TEXT, FJ_MARK_DIGITS); /* FJ_MARK + i: i's digits at the end */
        o += FJ_MARK_DIGITS;
        char *digit = o;
        for (size_t k = i; k; k /= 10) *--digit = (char)('0' + k % 10);
        from = c.spans[2 * i + 1];
    }
    memcpy(o, body + from, text_end - from);
    if (token) memcpy(o + text_end - from, c.refused, token);
    f->skeleton[f->skeleton_len] = 0;
    f->spans = c.spans; /* kept to map an error's offset back (fastjson_body_offset) */
    return 0;
}

int fastjson_body_offset(const fastjson *f, size_t pos, size_t *body_pos)
{
    size_t shift = 0; /* characters the markers before pos stand for beyond their own */
    for (size_t i = 0; i < f->n; i++) {
        size_t start = f->spans[2 * i] - shift, len = f->spans[2 * i + 1] - f->spans[2 * i];
        if (pos <= start) break;
        if (pos <= start + FJ_MARK_DIGITS) return 0;
        shift += len - FJ_MARK_DIGITS;
    }
    if (f->cut && pos > f->cut_at - shift) shift += f->cut_skip;
    *body_pos = pos + shift;
    return 1;
}

const packed_array *fastjson_marked(const fastjson *f, long long v)
{
    if (v < FJ_MARK || (unsigned long long)(v - FJ_MARK) >= f->n) return NULL;
    return &f->arr[v - FJ_MARK];
}
