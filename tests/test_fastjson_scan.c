/* fastjson_scan's positions: the arrays at the patterns' positions are packed,
 * and no others. Its markers: the skeleton holds 10^13 + i where the i-th
 * packed tensor was (in the order of the text: nested arrays, "data" arrays
 * and "b64" strings alike), fastjson_marked maps exactly those values back,
 * and a body with an integer a client wrote that could pass for a marker (14
 * characters or more, wherever it is) is not packed at all; and the pool of
 * numbers of a big body is sized once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "check.h"
#include "wire/codec.h"
#include "wire/fastjson.h"

static void test_markers_in_text_order(void)
{
    static const char *const patterns[] = {"/*/#/w", "/t", NULL};
    const char *body = "{\"a/b~c\": [0, 1, {\"w\": [1, 2]}], \"t\": {\"shape\": [2], \"data\": [3, 4]},"
                       " \"plain\": [{\"w\": [[5, 6], [7, 8]]}, {\"w\": [[1], [2, 3]]}],"
                       " \"b\": [{\"w\": {\"shape\": [1], \"dtype\": \"float32\", \"b64\": \"AACAPw==\"}}]}";
    const char *want = "{\"a/b~c\": [0, 1, {\"w\": 10000000000000}], \"t\": {\"shape\": [2], "
                       "\"data\": 10000000000001}, \"plain\": [{\"w\": 10000000000002}, "
                       "{\"w\": [[1], [2, 3]]}], \"b\": [{\"w\": {\"shape\": [1], \"dtype\": "
                       "\"float32\", \"b64\": 10000000000003}}]}";
    fastjson f;
    CHECK(fastjson_scan(&f, body, strlen(body), patterns, 0) == 0, "scan");
    CHECK(f.n == 4, "%zu packed", f.n);
    CHECK(f.skeleton && f.skeleton_len == strlen(want) && !strcmp(f.skeleton, want), "skeleton %s",
          f.skeleton ? f.skeleton : "(none)");
    if (f.n == 4) {
        CHECK(f.arr[0].count == 2 && f.arr[0].values[1] == 2, "the first w");
        CHECK(f.arr[1].rank == 1 && f.arr[1].values[0] == 3, "the data");
        CHECK(f.arr[2].rank == 2 && f.arr[2].dim[0] == 2 && f.arr[2].values[3] == 8, "the second w");
        CHECK(f.arr[3].bytes && f.arr[3].count == 4, "the b64");
    }
    for (long long i = 0; i < 4; i++)
        CHECK(fastjson_marked(&f, FJ_MARK + i) == &f.arr[i], "marker %lld", i);
    /* every other integer is no marker: those next to them, a client's 0 */
    const long long others[] = {FJ_MARK - 1, FJ_MARK + 4, 0, 1, 3, -FJ_MARK, 9223372036854775807LL};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        CHECK(fastjson_marked(&f, others[i]) == NULL, "%lld taken for a marker", others[i]);
    fastjson_free(&f);
}

/* Which arrays are tensor positions: "#" takes an array index only, "*" a
 * non-empty key only, a key matches a segment whole (not "ab" for "a", nor
 * "a" for "ab"), an escaped key nothing. */
static void test_positions(void)
{
    static const char *const patterns[] = {"/a", "/b/#/w", "/s/*/#/w", "/ab/c", NULL};
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"{\"a\": [1], \"ab\": [2], \"b\": [{\"w\": [3], \"v\": [4], \"ww\": [5]}, {\"w\": [6]}], "
         "\"s\": {\"m\": [{\"w\": [7]}], \"\": [{\"w\": [8]}]}, \"x\": {\"a\": [9]}, \"\\u0061\": [10]}",
         "{\"a\": 10000000000000, \"ab\": [2], \"b\": [{\"w\": 10000000000001, \"v\": [4], "
         "\"ww\": [5]}, {\"w\": 10000000000002}], \"s\": {\"m\": [{\"w\": 10000000000003}], "
         "\"\": [{\"w\": [8]}]}, \"x\": {\"a\": [9]}, \"\\u0061\": [10]}"},
        {"{\"b\": {\"0\": {\"w\": [1]}}, \"ab\": {\"c\": [2], \"cd\": [3]}, \"s\": [[{\"w\": [4]}]]}",
         "{\"b\": {\"0\": {\"w\": [1]}}, \"ab\": {\"c\": 10000000000000, \"cd\": [3]}, "
         "\"s\": [[{\"w\": [4]}]]}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fastjson f;
        CHECK(fastjson_scan(&f, cases[i].body, strlen(cases[i].body), patterns, 0) == 0, "scan");
        CHECK(f.skeleton && !strcmp(f.skeleton, cases[i].want), "body %zu: skeleton %s", i,
              f.skeleton ? f.skeleton : "(none)");
        fastjson_free(&f);
    }
}

/* An integer of 14 characters or more anywhere (outside the arrays packed)
 * could be read as a marker: nothing is packed, the body is jansson's. Real
 * numbers of any length, and shorter integers, do not stop the packing. */
static void test_marker_like_integers(void)
{
    static const char *const patterns[] = {"/x", "/y", NULL};
    static const char *const unpacked[] = {
        "{\"x\": [1, 2], \"y\": 10000000000000}",    /* a marker's value */
        "{\"s\": 10000000000001, \"x\": [1, 2]}",    /* before the arrays */
        "{\"x\": [1, 2], \"n\": {\"k\": [9999999999999999999]}}", /* too big for jansson */
        "{\"x\": [1, 2], \"y\": [[1], [2, 10000000000002]]}", /* in an array left */
        "{\"x\": [1, 2], \"n\": -1000000000000}",         /* '-' and 13 digits */
    };
    static const char *const packed[] = {
        "{\"x\": [1, 2], \"y\": 1000000000000}",          /* 13 digits */
        "{\"x\": [1, 2], \"r\": 0.10000000149011611938}", /* a real of 22 */
        "{\"x\": [1, 2], \"r\": 10000000000000.0}",
        "{\"x\": [1, 2], \"r\": \"10000000000000\"}",
        "{\"x\": [1, 2], \"y\": [1, 10000000000002]}", /* packed: not in the skeleton */
    };
    fastjson f;
    for (size_t i = 0; i < sizeof unpacked / sizeof *unpacked; i++) {
        CHECK(fastjson_scan(&f, unpacked[i], strlen(unpacked[i]), patterns, 0) == 0, "scan");
        CHECK(f.n == 0 && !f.skeleton, "%s: %zu packed", unpacked[i], f.n);
        CHECK(fastjson_marked(&f, FJ_MARK) == NULL, "a marker in %s", unpacked[i]);
        fastjson_free(&f);
    }
    for (size_t i = 0; i < sizeof packed / sizeof *packed; i++) {
        CHECK(fastjson_scan(&f, packed[i], strlen(packed[i]), patterns, 0) == 0, "scan");
        CHECK(f.n >= 1 && f.skeleton && strstr(f.skeleton, "\"x\": 10000000000000,"),
              "%s: %zu packed", packed[i], f.n);
        fastjson_free(&f);
    }
}

/* Writes the numbers first, first + 0.25, ... (n of them, exact in binary)
 * as a JSON array at o, in rows of cols (cols 0: one flat array); the end. */
static char *write_numbers(char *o, size_t first, size_t n, size_t cols)
{
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (cols && i % cols == 0) o += sprintf(o, "%s[", i ? "," : "");
        else if (i) *o++ = ',';
        o += sprintf(o, "%.2f", (double)(first + i) * 0.25);
        if (cols && i % cols == cols - 1) *o++ = ']';
    }
    *o++ = ']';
    return o;
}

/* A body of 350,010 numbers (2.8 MB of doubles) packed into one pool: the
 * pool, past SRV_MAP_MIN, is sized once from the separators left in the text
 * (one per number, one per row, the few of a ragged array, of a string and
 * of the keys), so no outgrown mapping is left in the cache of mappings
 * (before, the pool doubled: 4 MiB of room, and its 1 and 2 MiB selves
 * cached until the request ended); every number as strtod reads it; a
 * ragged array after the pool was sized is left to jansson, and the numbers
 * after it still fit; scanned again, the body's pool is the cached one. */
static void test_big_pool_sized_once(void)
{
    enum { ROWS = 1000, COLS = 300, FLAT = 50000, TAIL = 10 };
    static const char *const patterns[] = {"/a", "/b", "/c", "/d", NULL};
    char *body = srv_malloc((size_t)(ROWS * COLS + FLAT + TAIL) * 12 + 256), *o = body;
    CHECK(body != NULL, "body");
    if (!body) return;
    o += sprintf(o, "{\"a\": ");
    o = write_numbers(o, 0, ROWS * COLS, COLS);
    o += sprintf(o, ", \"b\": ");
    o = write_numbers(o, ROWS * COLS, FLAT, 0);
    o += sprintf(o, ", \"c\": [[1, 2], [3]], \"s\": \",,]],\", \"d\": ");
    o = write_numbers(o, ROWS * COLS + FLAT, TAIL, 0);
    o += sprintf(o, "}");
    size_t body_live, live, cached;
    srv_alloc_release();
    srv_alloc_mapped(&body_live, &cached); /* the body's own mapping */
    fastjson f;
    CHECK(fastjson_scan(&f, body, (size_t)(o - body), patterns, 0) == 0, "scan");
    srv_alloc_mapped(&live, &cached);
    size_t numbers = ROWS * COLS + FLAT + TAIL;
    CHECK(f.n == 3 && f.pool_len == numbers, "%zu packed, %zu numbers", f.n, f.pool_len);
    /* after the pool was sized: the rows' ']', the ragged array's 4
     * separators, the string's 4 and 4 between members */
    CHECK(f.pool_cap >= f.pool_len && f.pool_cap <= f.pool_len + ROWS + 16,
          "room for %zu numbers, %zu read", f.pool_cap, f.pool_len);
    if (srv_alloc_maps()) /* under a checker every block is malloc's */
        CHECK(cached == 0 && live - body_live < f.pool_cap * sizeof(double) + ((size_t)64 << 10),
              "mapped %zu bytes in use besides the body, %zu cached", live - body_live, cached);
    const size_t firsts[3] = {0, ROWS * COLS, ROWS * COLS + FLAT};
    size_t wrong = 0;
    for (size_t i = 0; i < f.n && i < 3; i++)
        for (size_t k = 0; k < f.arr[i].count; k++)
            wrong += f.arr[i].values[k] != (double)(firsts[i] + k) * 0.25;
    CHECK(wrong == 0, "%zu numbers read wrong", wrong);
    CHECK(f.n == 3 && f.arr[2].count == TAIL && f.arr[0].dim[0] == ROWS &&
              f.arr[0].dim[1] == COLS && f.arr[1].count == FLAT,
          "shapes");
    CHECK(f.skeleton && strstr(f.skeleton, "\"c\": [[1, 2], [3]]"), "the ragged array left");
    fastjson_free(&f);
    /* the same body again asks for the same size: the freed pool, cached,
     * serves it (no fresh mapping, no page faulted in again) */
    size_t first_live = live, cached_between;
    srv_alloc_mapped(&live, &cached_between);
    CHECK(fastjson_scan(&f, body, (size_t)(o - body), patterns, 0) == 0 && f.n == 3, "scan again");
    srv_alloc_mapped(&live, &cached);
    if (srv_alloc_maps())
        CHECK(cached_between > 0 && cached == 0 && live == first_live,
              "%zu bytes cached before, %zu after; %zu in use, %zu the first time", cached_between,
              cached, live, first_live);
    fastjson_free(&f);
    srv_free(body);
}

/* The pool sized from the count of numbers the request's estimate found
 * (numbers_expected), whatever the body says: a body of 300,010 numbers with
 * 4 MB of commas in a string between them. The right count: room for exactly
 * its numbers (counted from the separators, it reserved room for the commas
 * too: 2 million doubles more, 16 MB of address space). A count too small (a
 * body holding more numbers than its shapes say), down to one number: the
 * scan goes on as without a count, every number read, none written past the
 * pool (AddressSanitizer watches, make test SANITIZE=1). A count far too big
 * (the shapes say more than the text holds): room for no more numbers than
 * the text left can hold, two characters a number. */
static void test_pool_sized_from_count(void)
{
    enum { ROWS = 1000, COLS = 300, TAIL = 10, COMMAS = 4 << 20 };
    static const char *const patterns[] = {"/a", "/d", NULL};
    char *body = srv_malloc((size_t)(ROWS * COLS + TAIL) * 12 + COMMAS + 256), *o = body;
    CHECK(body != NULL, "body");
    if (!body) return;
    o += sprintf(o, "{\"a\": ");
    o = write_numbers(o, 0, ROWS * COLS, COLS);
    o += sprintf(o, ", \"s\": \"");
    memset(o, ',', COMMAS);
    o += COMMAS;
    o += sprintf(o, "\", \"d\": ");
    o = write_numbers(o, ROWS * COLS, TAIL, 0);
    o += sprintf(o, "}");
    size_t len = (size_t)(o - body), numbers = ROWS * COLS + TAIL;
    const size_t counts[] = {numbers, numbers - 1, numbers / 3, 1, numbers * 1000, (size_t)-1 / 2};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        fastjson f;
        CHECK(fastjson_scan(&f, body, len, patterns, counts[i]) == 0, "scan");
        CHECK(f.n == 2 && f.pool_len == numbers && f.pool_cap >= f.pool_len,
              "count %zu: %zu packed, %zu numbers in room for %zu", counts[i], f.n, f.pool_len,
              f.pool_cap);
        if (counts[i] == numbers)
            CHECK(f.pool_cap == numbers, "room for %zu numbers, %zu counted", f.pool_cap, numbers);
        CHECK(f.pool_cap <= len / 2 + 1, "count %zu: room for %zu numbers in %zu characters",
              counts[i], f.pool_cap, len);
        size_t wrong = 0;
        for (size_t a = 0; a < f.n; a++)
            for (size_t k = 0; k < f.arr[a].count; k++)
                wrong += f.arr[a].values[k] != (double)(f.arr[a].values_at + k) * 0.25;
        CHECK(wrong == 0, "count %zu: %zu numbers read wrong", counts[i], wrong);
        fastjson_free(&f);
    }
    srv_free(body);
}

/* Small bodies whose shapes and text disagree in every way, against every
 * count from 0 to 40: arrays ragged, empty, holding strings, literals and
 * numbers fastjson does not take, after and between packed ones. Every count
 * reads the same arrays as no count at all, and the pool is never written
 * past (AddressSanitizer, make test SANITIZE=1). */
static void test_wrong_counts_small(void)
{
    static const char *const patterns[] = {"/inputs", "/targets", "/params/#/weight",
                                           "/params/#/bias", NULL};
    static const char *const bodies[] = {
        "{\"inputs\": [[1, 2], [3]], \"targets\": [[1], [2]]}",
        "{\"inputs\": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]], \"targets\": [1, 2, 3]}",
        "{\"inputs\": [[1, null], [3, 4]], \"targets\": [[1, 2, 3, 4, 5, 6, 7, 8, 9]]}",
        "{\"params\": [{\"weight\": [[1, 2], [3, 4]], \"bias\": [1e999, 2]}, {\"weight\": "
        "[[5, 6, 7, 8, 9, 10]], \"bias\": []}], \"inputs\": [[\"1\", 2]], \"targets\": [[1]]}",
        "{\"inputs\": [[1, 2], [3, 4]], \"targets\": [[12345678901234567890], [1]], "
        "\"s\": \",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\", \"params\": [{\"bias\": [1, 2, 3, 4, 5]}]}",
    };
    for (size_t b = 0; b < sizeof bodies / sizeof *bodies; b++) {
        fastjson ref;
        CHECK(fastjson_scan(&ref, bodies[b], strlen(bodies[b]), patterns, 0) == 0, "scan");
        for (size_t count = 1; count <= 40; count++) {
            fastjson f;
            CHECK(fastjson_scan(&f, bodies[b], strlen(bodies[b]), patterns, count) == 0, "scan");
            int same = f.n == ref.n && f.pool_len == ref.pool_len && f.pool_cap >= f.pool_len &&
                       (!f.n || !memcmp(f.pool, ref.pool, f.pool_len * sizeof *f.pool)) &&
                       (!f.skeleton) == (!ref.skeleton) &&
                       (!f.skeleton || !strcmp(f.skeleton, ref.skeleton));
            CHECK(same, "body %zu, count %zu: %zu arrays, %zu numbers (without a count: %zu, %zu)",
                  b, count, f.n, f.pool_len, ref.n, ref.pool_len);
            fastjson_free(&f);
        }
        fastjson_free(&ref);
    }
}


/* A malformed body gets the error jansson gives for it as sent, though only
 * fastjson's skeleton is parsed (wire/codec.c, error_in_body): the same
 * line, column and message, for every body made from one with packed tensors
 * on several lines, UTF-8 in its strings, and each kind of error placed
 * before, inside, between and after the packed tensors: each truncation,
 * each byte removed, and snippets inserted at each byte. Counts the errors
 * answered from the skeleton, which a build that parses the text again (and
 * frees the skeleton first) never does. */
static size_t n_checked, n_from_skeleton;

static void check_as_sent(const char *body, size_t len)
{
    static const char *const patterns[] = {"/inputs", "/targets", "/params/#/weight",
                                           "/params/#/bias", NULL};
    codec_ctx cc;
    diag d = {0};
    json_t *root = codec_open(&cc, body, len, 0, patterns, 0, NULL, &d);
    json_error_t err;
    json_t *whole = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    char want[sizeof d.detail];
    snprintf(want, sizeof want, "line %d, column %d: %s", err.line, err.column, err.text);
    if (root || whole)
        CHECK(root && whole, "%.*s: codec %s, jansson %s", (int)len, body, root ? "took" : d.detail,
              whole ? "took" : want);
    else {
        n_checked++;
        n_from_skeleton += cc.packed.skeleton != NULL;
        CHECK(d.status == 400 && !strcmp(d.detail, want), "%.*s: codec said \"%s\", jansson \"%s\"",
              (int)len, body, d.detail, want);
    }
    json_decref(root);
    json_decref(whole);
    codec_close(&cc);
}

static void test_errors_as_sent(void)
{
    const char *base =
        "{\"network\": {\"inputs\": 2, \"layers\": [{\"units\": 1, \"activation\": \"linear\"}],\n"
        "  \"loss\": \"mse\", \"name\": \"r\xc3\xa9seau \xe2\x82\xac\"},\n"
        " \"inputs\": [[0.5, 1],\n   [2, -3e-2]], \"targets\": {\"shape\": [2, 1], \"data\": [1, 2]},\n"
        " \"params\": [{\"weight\": [[1, 2]], \"bias\": {\"shape\": [1], \"dtype\": \"float32\","
        " \"b64\": \"AACAPw==\"}}, {\"weight\": [3], \"bias\": [\"x\"]}],\r\n"
        "\t\"note\": \"\xf0\x9f\x98\x80 \\u00e9\", \"n\": [1, true, null]}";
    static const char *const snippets[] = {
        "x", "1e999", "-1e999", "9223372036854775808", "-9223372036854775809", "\"", "\"\\x\"",
        "\"\\u12\"", "\"\\uD800\"", "\"\\uDC00\"", "\"\\u0000\"", "\"a\x01\"", "\"a\nb\"", "\xff",
        "\xc3", "\xc0\x80", "\xe2\x82", ",", ":", "}", "]", "{", "[", "\n", "01", "1.", "1e",
        "-", "tru", "nul", "\"inputs\": 1,", "\"network\": 0,", "\"\":0,", "\"k\\u0000\":1,", "\0",
        " 5", "\xc3\xa9"};
    size_t len = strlen(base);
    char *b = srv_malloc(len + 64);
    check_as_sent(base, len); /* well-formed: both take it */
    for (size_t k = 0; k < len; k++) check_as_sent(base, k); /* each truncation */
    for (size_t k = 0; k < len; k++) { /* each byte removed */
        memcpy(b, base, k);
        memcpy(b + k, base + k + 1, len - k - 1);
        check_as_sent(b, len - 1);
    }
    for (size_t i = 0; i < sizeof snippets / sizeof *snippets; i++) {
        size_t n = snippets[i][0] ? strlen(snippets[i]) : 1; /* "\0": a NUL byte */
        for (size_t k = 0; k <= len; k++) {
            memcpy(b, base, k);
            memcpy(b + k, snippets[i], n);
            memcpy(b + k + n, base + k, len - k);
            check_as_sent(b, len + n);
        }
    }
    /* a duplicate key after every packed tensor, text after the body, a
     * member past jansson's 2048 levels (fastjson packs nothing past 64) */
    const char *ends[] = {", \"inputs\": [[1, 2]]}", "}\n x", "} 1e999", "}\n\n  \"\xe2\x82\xac\"", NULL};
    for (size_t i = 0; ends[i]; i++) {
        memcpy(b, base, len - 1);
        strcpy(b + len - 1, ends[i]);
        check_as_sent(b, strlen(b));
    }
    char *deep = srv_malloc(len + 2 * 2100 + 16);
    memcpy(deep, base, len - 1);
    size_t n = len - 1;
    n += (size_t)sprintf(deep + n, ", \"d\": ");
    memset(deep + n, '[', 2100), n += 2100;
    memset(deep + n, ']', 2100), n += 2100;
    deep[n++] = '}';
    check_as_sent(deep, n);
    srv_free(deep);
    srv_free(b);
    printf("  %zu malformed bodies, %zu answered from the skeleton\n", n_checked, n_from_skeleton);
    CHECK(n_from_skeleton > n_checked / 5, "%zu of %zu answered from the skeleton", n_from_skeleton,
          n_checked);
}

int main(void)
{
    RUN(test_markers_in_text_order);
    RUN(test_positions);
    RUN(test_marker_like_integers);
    RUN(test_big_pool_sized_once);
    RUN(test_pool_sized_from_count);
    RUN(test_wrong_counts_small);
    RUN(test_errors_as_sent);
    return CHECK_DONE();
}
