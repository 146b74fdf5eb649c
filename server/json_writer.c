#include "json_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jw *w) { memset(w, 0, sizeof *w); }

void jw_free(jw *w)
{
    free(w->buf);
    jw_init(w);
}

char *jw_take(jw *w, size_t *len)
{
    jw_raw(w, "", 1); /* the terminating NUL, not counted */
    if (w->failed) {
        jw_free(w);
        return NULL;
    }
    char *out = w->buf;
    *len = w->len - 1;
    w->buf = NULL;
    jw_free(w);
    return out;
}

static int reserve(jw *w, size_t n)
{
    if (w->failed) return 0;
    if (w->cap - w->len >= n) return 1;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n) {
        if (cap > SIZE_MAX / 2) {
            w->failed = 1;
            return 0;
        }
        cap *= 2;
    }
    char *p = realloc(w->buf, cap);
    if (!p) {
        w->failed = 1;
        return 0;
    }
    w->buf = p;
    w->cap = cap;
    return 1;
}

void jw_raw(jw *w, const char *s, size_t n)
{
    if (!reserve(w, n)) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* The comma before a value, unless it follows a key or opens a container. */
static void separate(jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->has_items[w->depth]) jw_raw(w, ",", 1);
    w->has_items[w->depth] = 1;
}

static void open_container(jw *w, char open, char close)
{
    separate(w);
    jw_raw(w, &open, 1);
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
    jw_raw(w, &w->closer[w->depth], 1);
    w->depth--;
}

size_t json_escape_into(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (cap < 3) return 0;
    out[n++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            k = 4;
            esc[k++] = hex[c >> 4];
            esc[k++] = hex[c & 15];
        } else {
            esc[k++] = (char)c;
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
    jw_raw(w, ":", 1);
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
    w->len += json_escape_into(w->buf + w->len, 6 * n + 3, s);
}

char *jw_string_space(jw *w, size_t n)
{
    separate(w);
    if (n > SIZE_MAX - 2 || !reserve(w, n + 2)) {
        w->failed = 1;
        return NULL;
    }
    char *p = w->buf + w->len + 1;
    w->buf[w->len] = '"';
    w->buf[w->len + 1 + n] = '"';
    w->len += n + 2;
    return p;
}

void jw_bool(jw *w, int b)
{
    separate(w);
    if (b) jw_raw(w, "true", 4);
    else jw_raw(w, "false", 5);
}

void jw_null(jw *w)
{
    separate(w);
    jw_raw(w, "null", 4);
}

void jw_uint(jw *w, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    separate(w);
    jw_raw(w, buf, (size_t)n);
}

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Writes m x 10^k (m > 0, up to 10 digits) as a JSON number: plain for
 * exponents -5..8, scientific otherwise. */
static int format_decimal(char *out, int negative, uint64_t m, int k)
{
    char digits[24];
    int nd = 0;
    while (m % 10 == 0) {
        m /= 10;
        k++;
    }
    for (uint64_t t = m; t; t /= 10) nd++;
    for (int i = nd - 1; i >= 0; i--, m /= 10) digits[i] = (char)('0' + m % 10);
    int e = k + nd - 1, n = 0; /* e: exponent of the first digit */
    if (negative) out[n++] = '-';
    if (e < -5 || e > 8) {
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, (size_t)nd - 1);
            n += nd - 1;
        }
        return n + sprintf(out + n, "e%d", e);
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
    if (v == 0) return snprintf(out, cap, signbit(v) ? "-0" : "0");
    double d = v, a = fabs(d);
    double mid_lo = (d + (double)nextafterf(v, -INFINITY)) / 2;
    double mid_hi = (d + (double)nextafterf(v, INFINITY)) / 2;
    int e10 = (int)floor(log10(a));
    for (int p = 6; p <= 9; p++) {
        int k = e10 - p + 1;
        if (k < -22 || k > 22) break;
        double m = nearbyint(k >= 0 ? a / POW10[k] : a * POW10[-k]);
        if (m < 1 || m >= 1e10) continue;
        double c = k >= 0 ? m * POW10[k] : m / POW10[-k];
        if (d < 0) c = -c;
        if ((float)c == v && c != mid_lo && c != mid_hi)
            return format_decimal(out, d < 0, (uint64_t)m, k);
    }
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

/* As for float: from DBL_DIG (15) up to DBL_DECIMAL_DIG (17). */
void jw_double(jw *w, double v)
{
    if (!isfinite(v)) {
        w->nonfinite++;
        jw_null(w);
        return;
    }
    char buf[40];
    int n = 0;
    for (int p = 15; p <= 17; p++) {
        n = snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    separate(w);
    jw_raw(w, buf, (size_t)n);
}
