/* The server's number text, both ways, against the C library.
 *
 * Writing (json_writer.c): every float32 jw_float prints must read back as
 * the same bits through strtof, through strtod then a cast (what most JSON
 * parsers do) and through jansson; millions of random bit patterns (so every
 * exponent, subnormals included), the extremes, and powers of two and ten.
 * Doubles (jw_double) likewise through strtod and fastjson_number, no longer
 * than the "%.15g".."%.17g" text: millions of random bit patterns,
 * significands and float32 values, subnormals, every power of two and ten and
 * their neighbours, exact digit ties. The text must be a JSON number
 * (fastjson_number's grammar, which is JSON's).
 *
 * Reading (fastjson.c): fastjson_number must give exactly strtod's double
 * for every JSON number it takes, and refuse what JSON does not allow. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_ALLOC_LIBC_NAMES /* the test frees its own buffers with free */
#include "alloc.h"
#include "check.h"
#include "wire/fastjson.h"
#include "wire/json_writer.h"

#define RANDOM_FLOATS 4000000
#define RANDOM_DOUBLES 3000000
#define RANDOM_TEXTS 3000000
#define REFERENCE_FLOATS 2000000

static uint64_t rng = 0x243F6A8885A308D3u;
static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* v through the writer alone, as float32 (jw_float) or float64 (jw_double):
 * "[text]" and its length, srv_free'd by the caller; NULL when out of memory. */
static char *write_one(double v, int as_float, size_t *len)
{
    jw w;
    jw_init(&w);
    jw_array(&w);
    if (as_float) jw_float(&w, (float)v);
    else jw_double(&w, v);
    jw_end(&w);
    return jw_take(&w, len);
}

/* One float through the writer; 1 when everything agreed. */
static int float_ok(float v, char *why, size_t cap)
{
    size_t len;
    char *s = write_one(v, 1, &len);
    if (!s) {
        snprintf(why, cap, "out of memory");
        return 0;
    }
    /* s is "[text]" */
    const char *text = s + 1, *end = s + len - 1;
    char *stop;
    float a = strtof(text, &stop);
    float b = (float)strtod(text, NULL);
    double c = 0;
    size_t k = fastjson_number(text, end + 1, &c);
    int ok = stop == end && memcmp(&a, &v, 4) == 0 && memcmp(&b, &v, 4) == 0 &&
             k == (size_t)(end - text) && (float)c == v && !signbit(c) == !signbit(v);
    if (!ok) snprintf(why, cap, "%a printed as %s (strtof %a, strtod %a)", (double)v, s, (double)a, (double)b);
    srv_free(s);
    return ok;
}

static void test_float_roundtrip_random(void)
{
    char why[200];
    long bad = 0;
    for (long i = 0; i < RANDOM_FLOATS; i++) {
        uint32_t u = (uint32_t)next_u64();
        float v;
        memcpy(&v, &u, 4);
        if (!isfinite(v)) continue;
        if (!float_ok(v, why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
    }
    CHECK(bad == 0, "%ld of %d random floats did not round-trip", bad, RANDOM_FLOATS);
}

static void test_float_roundtrip_edges(void)
{
    char why[200];
    long bad = 0, n = 0;
    float edges[] = {FLT_MIN, FLT_MAX, FLT_TRUE_MIN, -FLT_TRUE_MIN, 1, -1, 0.1f, 1e-5f, 1e-6f,
                     1e8f, 1e9f, 123456789.f, 3.4028235e38f, 1.17549435e-38f, 0.3f, 2.5f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++, n++)
        if (!float_ok(edges[i], why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
    /* every power of two, each neighbour, and around every power of ten */
    for (int e = -149; e <= 127; e++) {
        float p = ldexpf(1, e);
        float around[] = {p, nextafterf(p, 0), nextafterf(p, INFINITY), -p};
        for (int j = 0; j < 4; j++, n++)
            if (isfinite(around[j]) && !float_ok(around[j], why, sizeof why) && bad++ < 5)
                CHECK(0, "%s", why);
    }
    for (int e = -45; e <= 38; e++) {
        float p = (float)pow(10, e);
        float q = p;
        for (int j = 0; j < 8; j++, n++) {
            if (q != 0 && isfinite(q) && !float_ok(q, why, sizeof why) && bad++ < 5)
                CHECK(0, "%s", why);
            q = nextafterf(q, INFINITY);
        }
    }
    /* the first subnormals, the subnormal/normal boundary */
    for (uint32_t u = 1; u < 200000; u++, n++) {
        float v;
        memcpy(&v, &u, 4);
        if (!float_ok(v, why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
    }
    for (uint32_t u = 0x00800000u - 100000; u < 0x00800000u + 100000; u++, n++) {
        float v;
        memcpy(&v, &u, 4);
        if (!float_ok(v, why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
    }
    CHECK(bad == 0, "%ld of %ld edge floats did not round-trip", bad, n);
}

/* Short forms where they exist: the writer is meant to be readable. */
static void test_float_shortest_forms(void)
{
    struct {
        float v;
        const char *text;
    } cases[] = {{0.1f, "0.1"},   {1, "1"},        {-2.5f, "-2.5"}, {1e-6f, "1e-6"},
                 {100, "100"},    {0.0f, "0"},     {-0.0f, "-0"},   {3e38f, "3e+38"},
                 {1e9f, "1e9"},   {123456.f, "123456"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *s = write_one(cases[i].v, 1, &len);
        char want[64];
        snprintf(want, sizeof want, "[%s]", cases[i].text);
        CHECK(s && !strcmp(s, want), "%a printed as %s, want %s", (double)cases[i].v, s ? s : "(null)", want);
        srv_free(s);
    }
}

/* The p significant digits of |v| rounded half up from its exact decimal
 * expansion (glibc prints it exactly), as "d.ddde<x>" text in out. */
static void round_half_up(char *out, size_t cap, double a, int p)
{
    char exact[160];
    snprintf(exact, sizeof exact, "%.140e", a);
    char digits[16];
    int nd = 0;
    const char *c = exact;
    for (; *c != 'e' && nd < p + 1; c++)
        if (*c != '.') digits[nd++] = *c;
    int x = atoi(strchr(exact, 'e') + 1);
    int up = digits[p] >= '5';
    for (int i = p - 1; up && i >= 0; i--) {
        if (digits[i] == '9') digits[i] = '0';
        else {
            digits[i]++;
            up = 0;
        }
    }
    if (up) { /* 99..9 became 100..0 */
        digits[0] = '1';
        x++;
    }
    int n = snprintf(out, cap, "%c.", digits[0]);
    for (int i = 1; i < p; i++) out[n++] = digits[i];
    snprintf(out + n, cap - (size_t)n, "e%d", x);
}

/* The text jw_float is meant to print for a finite v, made the slow and
 * obvious way (the reference the writer's fast digits are held to): the
 * fewest significant digits p, from 6 (FLT_DIG) to 9, whose rounding (half
 * up, from the exact value) reads back as v through strtof and through
 * strtod then a cast, and is not exactly halfway between v and a neighbour
 * (where a correctly rounding reader may go either way); laid out as the
 * writer does, trailing zeros dropped, plain for decimal exponents -5..8,
 * else "d.ddde-x" (no '+', no leading zeros). Where the writer's exact
 * double arithmetic does not reach (a p-digit candidate m x 10^k with |k| >
 * 22, i.e. |v| beyond about 1e-17..1e28) it prints "%.*g" itself. */
static void reference_float(char *out, size_t cap, float v)
{
    if (v == 0) {
        snprintf(out, cap, "%s", signbit(v) ? "-0" : "0");
        return;
    }
    double d = v, a = fabs(d);
    double mid_lo = (a + (double)nextafterf(fabsf(v), 0)) / 2,
           mid_hi = (a + (double)nextafterf(fabsf(v), INFINITY)) / 2;
    char e[48], exact[64];
    snprintf(exact, sizeof exact, "%.30e", a);
    int e10 = atoi(strchr(exact, 'e') + 1); /* 10^e10 <= |v| < 10^(e10 + 1) */
    int p = 6;
    for (;; p++) {
        if (e10 - p + 1 < -22 || e10 - p + 1 > 22) {
            for (int q = 6; q <= 9; q++) {
                snprintf(out, cap, "%.*g", q, d);
                if (strtof(out, NULL) == v && (float)strtod(out, NULL) == v) break;
            }
            return;
        }
        round_half_up(e, sizeof e, a, p);
        double back = strtod(e, NULL);
        if (strtof(e, NULL) == fabsf(v) && (float)back == fabsf(v) && back != mid_lo &&
            back != mid_hi)
            break;
    }
    /* e is "d.ddddde<x>": its digits without trailing zeros, and the
     * exponent of the first one */
    char digits[16];
    int nd = 0;
    for (const char *c = e; *c != 'e'; c++)
        if (*c != '.') digits[nd++] = *c;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int x = atoi(strchr(e, 'e') + 1), n = 0;
    if (v < 0) out[n++] = '-';
    if (x < -5 || x > 8) {
        out[n++] = digits[0];
        if (nd > 1) out[n++] = '.';
        for (int i = 1; i < nd; i++) out[n++] = digits[i];
        n += snprintf(out + n, cap - (size_t)n, "e%d", x);
    } else if (x >= 0) {
        for (int i = 0; i <= x || i < nd; i++) {
            if (i == x + 1) out[n++] = '.';
            out[n++] = i < nd ? digits[i] : '0';
        }
        out[n] = 0;
    } else {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -x - 1; i++) out[n++] = '0';
        for (int i = 0; i < nd; i++) out[n++] = digits[i];
        out[n] = 0;
    }
}

/* jw_float against reference_float, byte for byte: random bit patterns
 * (every exponent), every power of two and ten with neighbours, the
 * subnormals' start and end, and the magnitudes where the writer changes
 * method (around 1e-17..1e-14 and 1e22..1e28). Before its digit writer was
 * replaced, the writer was checked against its previous version on all 2^32
 * bit patterns (docs/performance.md); this keeps it to the reference. */
static long float_vs_reference(float v, long *bad)
{
    char want[64];
    size_t len;
    reference_float(want, sizeof want, v);
    char *s = write_one(v, 1, &len);
    int same = s && len == strlen(want) + 2 && !memcmp(s + 1, want, len - 2);
    if (!same && (*bad)++ < 5)
        CHECK(0, "%a (%.9g) printed as %s, the reference %s", (double)v, (double)v,
              s ? s : "(null)", want);
    srv_free(s);
    return 1;
}

static void test_float_matches_reference(void)
{
    long bad = 0, n = 0;
    for (long i = 0; i < REFERENCE_FLOATS; i++) {
        uint32_t u = (uint32_t)next_u64();
        float v;
        memcpy(&v, &u, 4);
        if (isfinite(v)) n += float_vs_reference(v, &bad);
    }
    for (int e = -149; e <= 127; e++) {
        float p = ldexpf(1, e);
        float around[] = {p, nextafterf(p, 0), nextafterf(p, INFINITY), -p};
        for (int j = 0; j < 4; j++)
            if (isfinite(around[j])) n += float_vs_reference(around[j], &bad);
    }
    for (int e = -45; e <= 38; e++) {
        float q = (float)pow(10, e);
        for (int j = 0; j < 16 && isfinite(q); j++, q = nextafterf(q, INFINITY))
            n += float_vs_reference(q, &bad) + float_vs_reference(-nextafterf((float)pow(10, e), 0), &bad);
    }
    for (uint32_t u = 1; u < 100000; u++) { /* the first subnormals, then up to FLT_MIN */
        float v;
        memcpy(&v, &u, 4);
        n += float_vs_reference(v, &bad);
        u += u > 1000 ? 7 : 0;
    }
    static const double ranges[][2] = {{1e-18, 1e-13}, {1e21, 1e29}};
    for (int r = 0; r < 2; r++) /* 200,000 floats spread evenly in log scale */
        for (int i = 0; i < 200000; i++) {
            double f = (double)i / 200000;
            float v = (float)(ranges[r][0] * pow(ranges[r][1] / ranges[r][0], f));
            n += float_vs_reference(v, &bad) + float_vs_reference(nextafterf(v, 0), &bad);
        }
    CHECK(bad == 0, "%ld of %ld floats differ from the reference", bad, n);
}

/* jansson (what a C client of the API would use) reads the same floats. */
static void test_float_roundtrip_jansson(void)
{
    enum { N = 200000 };
    float *v = malloc(N * sizeof *v);
    jw w;
    jw_init(&w);
    jw_array(&w);
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)next_u64();
        memcpy(&v[i], &u, 4);
        if (!isfinite(v[i])) v[i] = (float)i;
        jw_float(&w, v[i]);
    }
    jw_end(&w);
    size_t len;
    char *s = jw_take(&w, &len);
    json_error_t err;
    json_t *arr = s ? json_loadb(s, len, 0, &err) : NULL;
    CHECK(arr && json_array_size(arr) == N, "jansson: %s", arr ? "wrong size" : err.text);
    long bad = 0;
    for (int i = 0; arr && i < N; i++) {
        float back = (float)json_number_value(json_array_get(arr, (size_t)i));
        if (memcmp(&back, &v[i], 4) != 0) bad++;
    }
    CHECK(bad == 0, "%ld of %d floats read back differently by jansson", bad, N);
    json_decref(arr);
    srv_free(s);
    free(v);
}

/* Significant digits of a number's text: "0.00120e5" has 3. */
static int significant_digits(const char *s)
{
    int n = 0, zeros = 0, started = 0;
    for (; *s && *s != 'e' && *s != 'E'; s++) {
        if (*s < '0' || *s > '9') continue;
        if (*s == '0' && !started) continue;
        started = 1;
        if (*s == '0') zeros++;
        else {
            n += zeros + 1;
            zeros = 0;
        }
    }
    return n;
}

/* One double through the writer; 1 when it reads back as the same bits
 * through strtod and fastjson_number (jansson's way: "-0" is the integer 0),
 * and is as short as the "%.15g", "%.16g", "%.17g" loop that it replaces. */
static int double_ok(double v, char *why, size_t cap)
{
    size_t len;
    char *s = write_one(v, 0, &len);
    if (!s) {
        snprintf(why, cap, "out of memory");
        return 0;
    }
    const char *text = s + 1, *end = s + len - 1;
    char *stop;
    double a = strtod(text, &stop), b = 0;
    size_t k = fastjson_number(text, end + 1, &b);
    char ref[40];
    for (int p = 15; p <= 17; p++) {
        snprintf(ref, sizeof ref, "%.*g", p, v);
        if (strtod(ref, NULL) == v) break;
    }
    int ok = stop == end && memcmp(&a, &v, 8) == 0 && k == (size_t)(end - text) &&
             (v == 0 ? b == 0 : memcmp(&b, &v, 8) == 0) &&
             significant_digits(text) <= significant_digits(ref);
    if (!ok) snprintf(why, cap, "%a printed as %s (strtod %a, reader %a, %%g %s)", v, s, a, b, ref);
    srv_free(s);
    return ok;
}

static void test_double_roundtrip_random(void)
{
    char why[200];
    long bad = 0, n = 0;
    for (long i = 0; i < RANDOM_DOUBLES; i++) {
        uint64_t u = next_u64();
        double v;
        switch (i % 4) {
        case 0: /* any bit pattern: every exponent, subnormals */
            memcpy(&v, &u, 8);
            break;
        case 1: /* losses and gradients: any significand, 2^-40 .. 2^140 */
            v = ldexp((double)(u >> 11) / 9007199254740992.0 + 0.5, (int)(u % 181) - 40);
            if (u & 1024) v = -v;
            break;
        case 2: { /* a float32 held in a double */
            float f;
            uint32_t b = (uint32_t)u;
            memcpy(&f, &b, 4);
            v = f;
            break;
        }
        default: /* a float32 computation carried on in double */
            v = (double)(float)((u >> 11) * 0x1p-53) * 1.0000001 / 3;
            break;
        }
        if (!isfinite(v)) continue;
        n++;
        if (!double_ok(v, why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
    }
    CHECK(bad == 0, "%ld of %ld random doubles did not round-trip as shortest", bad, n);
}

static void test_double_roundtrip_edges(void)
{
    char why[200];
    long bad = 0, n = 0;
    double edges[] = {0.0, -0.0, 5e-324, -5e-324, DBL_MIN, DBL_MAX, -DBL_MAX, 1, -1, 0.1,
                      0.1 + 0.2, 1.0 / 3, 2.0 / 3, 1e-11, 1e41, 9007199254740993.0,
                      0.7061583772301674, 1e23, 8.41e21, 5e-310, 2.2250738585072009e-308};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++, n++)
        if (!double_ok(edges[i], why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
    /* every power of two and its neighbours */
    for (int e = -1074; e <= 1023; e++) {
        double p = ldexp(1, e);
        double around[] = {p, nextafter(p, 0), nextafter(p, INFINITY), -p};
        for (int j = 0; j < 4; j++, n++)
            if (isfinite(around[j]) && !double_ok(around[j], why, sizeof why) && bad++ < 5)
                CHECK(0, "%s", why);
    }
    /* around every power of ten */
    for (int e = -323; e <= 308; e++) {
        double q = strtod((char[16]){0}, NULL);
        char t[16];
        snprintf(t, sizeof t, "1e%d", e);
        q = strtod(t, NULL);
        for (int j = 0; j < 8; j++, n++) {
            if (q != 0 && isfinite(q) && !double_ok(q, why, sizeof why) && bad++ < 5)
                CHECK(0, "%s", why);
            q = j == 3 ? nextafter(strtod(t, NULL), 0) : nextafter(q, j < 3 ? INFINITY : 0);
        }
    }
    /* digit roundings that are exact ties: 2^k + 1/2 has 16 or 17 digits */
    for (int e = 40; e <= 53; e++) {
        for (double h = 0.25; h <= 0.75; h += 0.25, n++) {
            double v = ldexp(1, e) + h;
            if (!double_ok(v, why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
        }
    }
    /* the first subnormals, the subnormal/normal boundary */
    for (uint64_t u = 1; u < 100000; u++, n++) {
        double v;
        memcpy(&v, &u, 8);
        if (!double_ok(v, why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
    }
    for (uint64_t u = UINT64_C(0x0010000000000000) - 50000; u < UINT64_C(0x0010000000000000) + 50000;
         u++, n++) {
        double v;
        memcpy(&v, &u, 8);
        if (!double_ok(v, why, sizeof why) && bad++ < 5) CHECK(0, "%s", why);
    }
    CHECK(bad == 0, "%ld of %ld edge doubles did not round-trip as shortest", bad, n);
}

/* Short forms of doubles, written as floats are (plain for exponents -5..8);
 * beyond 1e-11..1e41 by snprintf's %g. */
static void test_double_shortest_forms(void)
{
    struct {
        double v;
        const char *text;
    } cases[] = {{0.1, "0.1"},      {1, "1"},      {-2.5, "-2.5"}, {1e-6, "1e-6"},
                 {0.0, "0"},        {-0.0, "-0"},  {1e300, "1e+300"}, {5e-324, "4.94065645841247e-324"},
                 {0.1 + 0.2, "0.30000000000000004"}, {123456789012.5, "1.234567890125e11"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *s = write_one(cases[i].v, 0, &len);
        char want[64];
        snprintf(want, sizeof want, "[%s]", cases[i].text);
        CHECK(s && !strcmp(s, want), "%a printed as %s, want %s", cases[i].v, s ? s : "(null)", want);
        srv_free(s);
    }
}

/* fastjson_number on texts of every kind, against strtod. */
static void test_number_reader(void)
{
    char buf[80];
    long bad = 0, taken = 0;
    for (long i = 0; i < RANDOM_TEXTS; i++) {
        uint64_t r = next_u64();
        double d;
        switch (i % 5) {
        case 0: { /* a float32 as a double prints it: 17 digits */
            float f;
            uint32_t u = (uint32_t)r;
            memcpy(&f, &u, 4);
            if (!isfinite(f)) continue;
            snprintf(buf, sizeof buf, "%.17g,", (double)f);
            break;
        }
        case 1: /* any double */
            memcpy(&d, &r, 8);
            if (!isfinite(d)) continue;
            snprintf(buf, sizeof buf, "%.17g]", d);
            break;
        case 2: /* 1 to 19 digits */
            d = (double)(r >> 11) / 9007199254740992.0 * pow(10, (double)(r % 40) - 20);
            snprintf(buf, sizeof buf, "%.*g ", (int)(next_u64() % 19) + 1, d);
            break;
        case 3: /* integers, up to 18 digits */
            snprintf(buf, sizeof buf, "%lld,", (long long)(r >> (r % 64)) * ((r & 1) ? -1 : 1));
            break;
        default: /* plain decimals, as people type them */
            snprintf(buf, sizeof buf, "%s%llu.%0*llu]", (r & 1) ? "-" : "",
                     (unsigned long long)(r % 1000), (int)(r % 7) + 1,
                     (unsigned long long)(next_u64() % 1000000));
            break;
        }
        double v, ref;
        size_t k = fastjson_number(buf, buf + strlen(buf), &v);
        if (!k) continue;
        taken++;
        char *e;
        ref = strtod(buf, &e);
        if ((memcmp(&v, &ref, 8) != 0 || k != (size_t)(e - buf)) && bad++ < 5)
            CHECK(0, "%s read as %a, strtod %a", buf, v, ref);
    }
    CHECK(bad == 0, "%ld of %ld numbers read differently from strtod", bad, taken);
    CHECK(taken > RANDOM_TEXTS / 2, "only %ld of %d numbers taken", taken, RANDOM_TEXTS);
}

static void test_number_reader_refuses(void)
{
    const char *no[] = {"01,", "+1,", ".5,", "1.,", "1e,", "-,", "NaN,", "Infinity,",
                        "0x10,", "1e999,", "-1e400,", "12345678901234567890,", "1", "--1,",
                        /* beyond int64_t: jansson refuses it ("too big integer") */
                        "9223372036854775808,", "-9223372036854775809,"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        double v;
        size_t k = fastjson_number(no[i], no[i] + strlen(no[i]), &v);
        /* "01" reads the 0 and leaves "1": the array scan then refuses it */
        int refused = k == 0 || no[i][k] != ',';
        CHECK(refused, "%s taken (%zu characters)", no[i], k);
    }
    /* 19-digit integers that fit int64_t, which jansson takes (strtoll): a
     * tensor holding one would be left to jansson whole, a node a number */
    const char *yes[] = {"-0,", "0,", "1e5,", "1E+5,", "2.5e-3,", "1e-400,", "-0.0,",
                         "1000000000000000000,", "9223372036854775807,",
                         "-9223372036854775808,"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        double v;
        size_t k = fastjson_number(yes[i], yes[i] + strlen(yes[i]), &v);
        double ref = strtod(yes[i], NULL);
        if (!strcmp(yes[i], "-0,")) ref = 0.0; /* an integer for jansson: +0 */
        CHECK(k == strlen(yes[i]) - 1 && memcmp(&v, &ref, 8) == 0, "%s read as %a (%zu)", yes[i], v, k);
    }
}

int main(void)
{
    RUN(test_float_shortest_forms);
    RUN(test_float_roundtrip_edges);
    RUN(test_float_roundtrip_random);
    RUN(test_float_roundtrip_jansson);
    RUN(test_float_matches_reference);
    RUN(test_double_shortest_forms);
    RUN(test_double_roundtrip_edges);
    RUN(test_double_roundtrip_random);
    RUN(test_number_reader);
    RUN(test_number_reader_refuses);
    return CHECK_DONE();
}
