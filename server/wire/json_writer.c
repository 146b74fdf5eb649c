#include "wire/json_writer.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "wire/fastjson.h"

void jw_init(jw *w) { memset(w, 0, sizeof *w); }

static void bytes_free(jw_bytes *b)
{
    for (size_t i = 0; i < b->n_full; i++) srv_free(b->full[i].p);
    srv_free(b->full);
    srv_free(b->buf);
}

void jw_free(jw *w)
{
    bytes_free(&w->text);
    bytes_free(&w->bin);
    jw_init(w);
}

/* Room for n more contiguous bytes in b; 0 when out of memory. While b is
 * one chunk under JW_FIRST_MAX it doubles (a small answer: one buffer, a
 * few small copies); past that the chunk being written joins the filled
 * ones as it is and a fresh one of JW_CHUNK bytes (or n) takes its place:
 * nothing written is copied again. Contiguous requests are small (a number,
 * a key, a piece of base64), so a filled chunk's unwritten tail is too.
 */
static int bytes_grow(jw_bytes *b, size_t n)
{
    if (!b->n_full) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n && cap < JW_FIRST_MAX) cap *= 2;
        if (cap - b->len >= n) {
            char *p = srv_realloc(b->buf, cap);
            if (!p) return 0;
            b->buf = p;
            b->cap = cap;
            return 1;
        }
    }
    if (b->len) {
        if (b->n_full == b->cap_full) {
            size_t cap = b->cap_full ? 2 * b->cap_full : 16;
            jw_chunk *t = srv_realloc(b->full, cap * sizeof *t);
            if (!t) return 0;
            b->full = t;
            b->cap_full = cap;
        }
        b->full[b->n_full++] = (jw_chunk){b->buf, b->len};
        b->full_len += b->len;
    } else {
        srv_free(b->buf);
    }
    size_t cap = n > JW_CHUNK ? n : JW_CHUNK;
    b->buf = srv_malloc(cap);
    b->len = 0;
    b->cap = b->buf ? cap : 0;
    return b->buf != NULL;
}

void jw_binary(jw *w, const void *data, size_t n)
{
    jw_bytes *b = &w->bin;
    const char *from = data;
    while (!w->failed && n) {
        if (b->cap == b->len && !bytes_grow(b, n < JW_CHUNK ? n : JW_CHUNK)) {
            w->failed = 1;
            return;
        }
        size_t k = b->cap - b->len < n ? b->cap - b->len : n; /* the tensor may span chunks */
        memcpy(b->buf + b->len, from, k);
        b->len += k;
        from += k;
        n -= k;
    }
}

static size_t bytes_len(const jw_bytes *b) { return b->full_len + b->len; }

static size_t bytes_chunks(const jw_bytes *b) { return b->n_full + (b->len > 0); }

size_t jw_chunks(const jw *w) { return bytes_chunks(&w->text) + bytes_chunks(&w->bin); }

/* Copies b's bytes to out. */
static char *bytes_copy(char *out, const jw_bytes *b)
{
    for (size_t i = 0; i < b->n_full; i++) {
        memcpy(out, b->full[i].p, b->full[i].len);
        out += b->full[i].len;
    }
    if (b->len) memcpy(out, b->buf, b->len);
    return out + b->len;
}

/* The text (and with bin the binary part after it) in one buffer, extra
 * bytes more: the text's own when it is one chunk (grown if it lacks room),
 * else a copy. For the caller (srv_free()); NULL when out of memory. */
static char *join(jw *w, int bin, size_t extra)
{
    size_t n = bytes_len(&w->text), b = bin ? bytes_len(&w->bin) : 0;
    if (w->failed || b > SIZE_MAX - n - extra) return NULL;
    size_t total = n + b + extra;
    char *out;
    if (!w->text.n_full) {
        out = w->text.cap >= total ? w->text.buf : srv_realloc(w->text.buf, total ? total : 1);
        if (!out) return NULL;
        w->text.buf = NULL;
        w->text.len = w->text.cap = 0;
    } else {
        out = srv_malloc(total);
        if (!out) return NULL;
        bytes_copy(out, &w->text);
    }
    if (bin) bytes_copy(out + n, &w->bin);
    return out;
}

char *jw_take_with_binary(jw *w, size_t *len, size_t *json_len)
{
    size_t n = bytes_len(&w->text), total = n + bytes_len(&w->bin);
    char *out = join(w, 1, 0);
    jw_free(w);
    if (out) {
        *len = total;
        *json_len = n;
    }
    return out;
}

char *jw_take(jw *w, size_t *len)
{
    size_t n = bytes_len(&w->text);
    char *out = join(w, 0, 1); /* and the terminating NUL, not counted */
    jw_free(w);
    if (!out) return NULL;
    out[n] = 0;
    *len = n;
    return out;
}

/* Appends b's chunks to p (its chunks are p's from here). */
static void bytes_hand(jw_parts *p, jw_bytes *b)
{
    for (size_t i = 0; i < b->n_full; i++) p->part[p->n++] = b->full[i];
    b->n_full = 0;
    if (b->len) {
        p->part[p->n++] = (jw_chunk){b->buf, b->len};
        b->buf = NULL;
    }
}

jw_parts *jw_take_parts(jw *w)
{
    size_t n = jw_chunks(w);
    jw_parts *p = w->failed ? NULL : srv_malloc(sizeof *p + n * sizeof p->part[0]);
    if (p) {
        p->n = 0;
        p->json_len = bytes_len(&w->text);
        p->len = p->json_len + bytes_len(&w->bin);
        bytes_hand(p, &w->text);
        bytes_hand(p, &w->bin);
    }
    jw_free(w);
    return p;
}

char *jw_parts_join(const jw_parts *p, size_t n)
{
    char *out = srv_malloc(n ? n : 1);
    size_t at = 0;
    for (size_t i = 0; out && i < p->n && at < n; i++) {
        size_t k = p->part[i].len < n - at ? p->part[i].len : n - at;
        memcpy(out + at, p->part[i].p, k);
        at += k;
    }
    return out;
}

void jw_parts_free(jw_parts *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) srv_free(p->part[i].p);
    srv_free(p);
}

/* Room for n more contiguous bytes of text, or 0 (the writer has failed). */
__attribute__((noinline, cold)) static int reserve_more(jw *w, size_t n)
{
    if (w->failed) return 0;
    if (!bytes_grow(&w->text, n)) {
        w->failed = 1;
        return 0;
    }
    return 1;
}

/* The fast path is this test alone, inlined in every writer function. */
static inline int reserve(jw *w, size_t n)
{
    if (__builtin_expect(!w->failed && w->text.cap - w->text.len >= n, 1)) return 1;
    return reserve_more(w, n);
}

static inline void put(jw *w, const char *s, size_t n)
{
    if (!reserve(w, n)) return;
    memcpy(w->text.buf + w->text.len, s, n);
    w->text.len += n;
}

void jw_raw(jw *w, const char *s, size_t n) { put(w, s, n); }

char *jw_raw_space(jw *w, size_t n)
{
    if (!reserve(w, n)) return NULL;
    char *p = w->text.buf + w->text.len;
    w->text.len += n;
    return p;
}

/* The comma before a value, unless it follows a key or opens a container. */
static void separate(jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->has_items[w->depth]) put(w, ",", 1);
    w->has_items[w->depth] = 1;
}

void jw_raw_value(jw *w, const char *s, size_t n)
{
    separate(w);
    put(w, s, n);
}

static void open_container(jw *w, char open, char close)
{
    separate(w);
    put(w, &open, 1);
    if (w->depth == JW_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    w->depth++;
    w->has_items[w->depth] = 0;
    w->closer[w->depth] = close;
}

void jw_object(jw *w) { open_container(w, '{', '}'); }
void jw_array(jw *w) { open_container(w, '[', ']'); }

void jw_end(jw *w)
{
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }
    put(w, &w->closer[w->depth], 1);
    w->depth--;
}

/* 1 for a character JSON takes as it is in a string (not the NUL that ends s). */
static inline int plain_char(unsigned char c) { return c >= 0x20 && c != '"' && c != '\\'; }

size_t json_escape_into(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (cap < 3) return 0;
    out[n++] = '"';
    while (*s) {
        /* A run of plain characters (keys and names are one) in one copy;
         * it stops where a character would leave no room for the closing
         * quote and the NUL, as the escapes do (n <= cap - 2 throughout). */
        size_t run = 0;
        while (plain_char((unsigned char)s[run])) run++;
        if (run) {
            size_t room = cap - 2 - n;
            size_t k = run < room ? run : room;
            memcpy(out + n, s, k);
            n += k;
            if (k < run) break;
            s += run;
            continue;
        }
        unsigned char c = (unsigned char)*s++;
        char esc[7];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else {
            memcpy(esc, "\\u00", 4);
            k = 4;
            esc[k++] = hex[c >> 4];
            esc[k++] = hex[c & 15];
        }
        if (n + k + 2 > cap) break;
        memcpy(out + n, esc, k);
        n += k;
    }
    out[n++] = '"';
    out[n] = 0;
    return n;
}

void jw_key(jw *w, const char *key)
{
    jw_string(w, key);
    put(w, ":", 1);
    w->after_key = 1;
}

void jw_string(jw *w, const char *s)
{
    separate(w);
    /* Escaped text is at most 6 bytes per input byte plus quotes. */
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 3) / 6 || !reserve(w, 6 * n + 3)) {
        w->failed = 1;
        return;
    }
    w->text.len += json_escape_into(w->text.buf + w->text.len, 6 * n + 3, s);
}

void jw_bool(jw *w, int b)
{
    separate(w);
    if (b) put(w, "true", 4);
    else put(w, "false", 5);
}

void jw_null(jw *w)
{
    separate(w);
    put(w, "null", 4);
}

void jw_uint(jw *w, uint64_t v)
{
    char buf[24];
    size_t n = sizeof buf;
    do buf[--n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    separate(w);
    put(w, buf + n, sizeof buf - n);
}

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* "0" or "-0", as jansson and strtod read them (jansson: an integer 0). */
static int format_zero(char *out, double v)
{
    const char *s = signbit(v) ? "-0" : "0";
    size_t n = strlen(s);
    memcpy(out, s, n + 1);
    return (int)n;
}

/* "00" .. "99": two digits per division by 100. */
static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* The decimal digits of m > 0 into digits (at most 20), most significant
 * first; returns how many. Counted first, then written from the end two at
 * a time. */
static int decimal_digits(char digits[24], uint64_t m)
{
    int nd = 1;
    for (uint64_t t = 10; nd < 20 && m >= t; t *= 10) nd++;
    int i = nd;
    while (m >= 100) {
        unsigned r = (unsigned)(m % 100);
        m /= 100;
        i -= 2;
        memcpy(digits + i, DIGIT_PAIRS + 2 * r, 2);
    }
    if (m >= 10) memcpy(digits, DIGIT_PAIRS + 2 * m, 2);
    else digits[0] = (char)('0' + m);
    return nd;
}

/* Writes m x 10^k (m > 0, up to 18 digits) as a JSON number: plain for
 * exponents -5..8, scientific otherwise. */
static int format_decimal(char *out, int negative, uint64_t m, int k)
{
    while (m % 100 == 0) { /* trailing zeros, two at a time */
        m /= 100;
        k += 2;
    }
    if (m % 10 == 0) {
        m /= 10;
        k++;
    }
    char digits[24];
    int nd = decimal_digits(digits, m);
    int e = k + nd - 1, n = 0; /* e: exponent of the first digit */
    if (negative) out[n++] = '-';
    if (e < -5 || e > 8) {
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, (size_t)nd - 1);
            n += nd - 1;
        }
        out[n++] = 'e';
        if (e < 0) {
            out[n++] = '-';
            e = -e;
        }
        if (e >= 100) out[n++] = (char)('0' + e / 100);
        if (e >= 10) out[n++] = (char)('0' + e / 10 % 10);
        out[n++] = (char)('0' + e % 10);
        out[n] = 0;
        return n;
    }
    if (k >= 0) {
        memcpy(out + n, digits, (size_t)nd);
        n += nd;
        memset(out + n, '0', (size_t)k);
        n += k;
    } else if (e >= 0) {
        memcpy(out + n, digits, (size_t)e + 1);
        n += e + 1;
        out[n++] = '.';
        memcpy(out + n, digits + e + 1, (size_t)(nd - e - 1));
        n += nd - e - 1;
    } else {
        out[n++] = '0';
        out[n++] = '.';
        memset(out + n, '0', (size_t)(-e - 1));
        n += -e - 1;
        memcpy(out + n, digits, (size_t)nd);
        n += nd;
    }
    out[n] = 0;
    return n;
}

/* 10^e10 <= a < 10^(e10 + 1) for a finite a > 0, from the binary exponent:
 * floor(e2 log10 2) is exact for |e2| < 1650 with 78913 / 2^18, and one
 * comparison with the power above corrects it. The table's negative powers
 * are rounded, so a float within 2^-53 of a power of ten may get the other
 * exponent: its candidates then have one digit more or less, and the
 * exact round-trip check below still decides. */
static int decimal_exponent(double a)
{
    static const double p10[90] = { /* 10^-46 .. 10^43, as the compiler rounds them */
        1e-46, 1e-45, 1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39, 1e-38, 1e-37, 1e-36, 1e-35,
        1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25, 1e-24, 1e-23,
        1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11,
        1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4,
        1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32, 1e33,
        1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43
    };
    /* a = f 2^e2, f in [0.5, 1): frexp's e2, read from a's exponent bits
     * when a is normal (every float32 is, as a double) */
    uint64_t bits;
    memcpy(&bits, &a, 8);
    int e2 = (int)(bits >> 52) - 1022;
    if (!(bits >> 52)) frexp(a, &e2);
    int e10 = ((e2 - 1) * 78913) >> 18;
    if (e10 + 47 < 90 && a >= p10[e10 + 47]) e10++;
    return e10;
}

/* The shortest decimal text of v that reads back as v both through strtof
 * and through strtod then a cast to float (what most JSON parsers do).
 * Candidates m x 10^k with 6..9 digits are checked exactly in double: m and
 * 10^|k| <= 10^22 are exact, so m * 10^k is rounded once, as strtod rounds
 * it; a candidate that lands exactly on the midpoint between v and a
 * neighbour is refused, as a correctly rounding strtof could go the other
 * way. Starting at 6 digits (FLT_DIG) finds shorter forms too: the 6-digit
 * rounding of v is then that form padded with zeros, which are dropped.
 * Outside that exponent range (|v| beyond about 1e-16..1e22) the %g forms
 * are tried the slow way; "%.9g" is always enough for float32. */
static int shortest_float(char *out, size_t cap, float v)
{
    if (v == 0) return format_zero(out, v);
    float av = fabsf(v);
    uint32_t bits;
    memcpy(&bits, &av, 4);
    /* neighbours of |v| from its bits; below the smallest subnormal is 0 */
    uint32_t ub = bits + 1, db = bits - 1;
    float up, down;
    memcpy(&up, &ub, 4);
    memcpy(&down, &db, 4);
    double a = av;
    double mid_lo = (a + (double)down) / 2, mid_hi = (a + (double)up) / 2;
    int e10 = decimal_exponent(a);
    for (int p = 6; p <= 9; p++) {
        int k = e10 - p + 1;
        if (k < -22 || k > 22) break;
        double x = k >= 0 ? a / POW10[k] : a * POW10[-k];
        if (!(x >= 0.5 && x < 1e10)) continue;
        uint64_t m = (uint64_t)(x + 0.5);
        double c = k >= 0 ? (double)m * POW10[k] : (double)m / POW10[-k];
        if ((float)c == av && c != mid_lo && c != mid_hi)
            return format_decimal(out, v < 0, m, k);
    }
    double d = v;
    int n = 0;
    for (int p = 6; p <= 9; p++) {
        n = snprintf(out, cap, "%.*g", p, d);
        if (strtof(out, NULL) == v && (float)strtod(out, NULL) == v) break;
    }
    return n;
}

void jw_float(jw *w, float v)
{
    if (!isfinite(v)) {
        w->nonfinite++;
        jw_null(w);
        return;
    }
    char buf[48];
    int n = shortest_float(buf, sizeof buf, v);
    separate(w);
    jw_raw(w, buf, (size_t)n);
}

/* The p-digit rounding of a > 0 (p <= 17), m x 10^k with 10^(p-1) <= m <=
 * 10^p, or 0 when it cannot be had exactly here. a x 10^-k is computed in
 * x87's long double: 10^|k| <= 10^27 is exact there (5^27 < 2^64), so the
 * product or quotient is rounded once, to 64 bits, and its nearest integer
 * is the exact value's unless that value lies within an ulp of a midpoint
 * (then 0: the caller asks snprintf, which rounds exactly). */
static uint64_t round_digits(double a, int p, int e10, int *k)
{
#if LDBL_MANT_DIG == 64 && defined(__x86_64__)
    static const long double P[28] = {
        1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
        1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
        1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
    int j = p - 1 - e10; /* a x 10^j has p digits before the point */
    long double x = 0;
    for (int tries = 0; tries < 2; tries++) {
        if (j < -27 || j > 27) return 0;
        x = j >= 0 ? (long double)a * P[j] : (long double)a / P[-j];
        if (x >= P[p - 1]) break;
        j++; /* e10 was one too high: a just below a power of ten */
    }
    if (x < P[p - 1] || x >= P[p]) return 0;
    long double whole = floorl(x), frac = x - whole;
    if (fabsl(frac - 0.5L) <= x * 0x1p-62L) return 0; /* too near a midpoint */
    *k = -j;
    return (uint64_t)whole + (frac > 0.5L);
#else
    (void)a;
    (void)p;
    (void)e10;
    (void)k;
    return 0;
#endif
}

/* The shortest text of 15 (DBL_DIG) to 17 (DBL_DECIMAL_DIG) significant
 * digits that reads back as v, as the "%.15g", "%.16g", "%.17g" loop would
 * choose (and 15 digits find shorter forms: their trailing zeros are
 * dropped). Each candidate is the exact p-digit rounding (round_digits) and
 * is read back by fastjson_number, the server's own exact reader (strtod
 * where it cannot be sure). Magnitudes outside 1e-11..1e41, and the rare
 * rounding round_digits cannot decide, go to snprintf and strtod. */
static int shortest_double(char *out, size_t cap, double v)
{
    if (v == 0) return format_zero(out, v);
    double a = fabs(v);
    if (a >= 1e-11 && a < 1e41) {
        int e10 = decimal_exponent(a);
        for (int p = 15; p <= 17; p++) {
            int k;
            uint64_t m = round_digits(a, p, e10, &k);
            if (!m) break;
            int n = format_decimal(out, v < 0, m, k);
            double back;
            if (fastjson_number(out, out + n + 1, &back) == (size_t)n && back == v) return n;
        }
    }
    int n = 0;
    for (int p = 15; p <= 17; p++) {
        n = snprintf(out, cap, "%.*g", p, v);
        if (strtod(out, NULL) == v) break;
    }
    return n;
}

void jw_double(jw *w, double v)
{
    if (!isfinite(v)) {
        w->nonfinite++;
        jw_null(w);
        return;
    }
    char buf[40];
    int n = shortest_double(buf, sizeof buf, v);
    separate(w);
    jw_raw(w, buf, (size_t)n);
}
