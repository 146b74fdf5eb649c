/* The answer writer's chunks (wire/json_writer.h): a small answer stays one
 * buffer; a long one is written in chunks that are never copied to grow, and
 * handed over as they lie (jw_take_parts) or joined (jw_take), the same bytes
 * either way; the mapped bytes it holds stay within the text plus JW_SLACK and
 * none of it waits in alloc.c's cache of mappings; a binary part may span
 * chunks; a base64 tensor of megabytes is written in pieces that read back as
 * the whole; every allocation failing in turn leaves a NULL answer, nothing
 * leaked (make test SANITIZE=1 checks leaks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_ALLOC_LIBC_NAMES /* arms the hook; the test's own buffers are malloc's */
#include "alloc.h"
#include "check.h"
#include "wire/codec.h"
#include "wire/json_writer.h"

static uint64_t rng = 0x2545F4914F6CDD1Du;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* An answer of n rows of 8 floats, as a handler writes one: {"rows":[[...],...]}. */
static void write_rows(jw *w, size_t n, uint64_t seed)
{
    rng = seed;
    jw_object(w);
    jw_key(w, "rows");
    jw_array(w);
    for (size_t r = 0; r < n; r++) {
        jw_array(w);
        for (int k = 0; k < 8; k++) jw_float(w, (float)next_u32() / 3e9f - 0.7f);
        jw_end(w);
    }
    jw_end(w);
    jw_end(w);
}

/* The parts' bytes in one buffer (malloc's). */
static char *concat(const jw_parts *p)
{
    char *out = malloc(p->len + 1);
    size_t at = 0;
    for (size_t i = 0; i < p->n; i++) {
        memcpy(out + at, p->part[i].p, p->part[i].len);
        at += p->part[i].len;
    }
    return out;
}

static void test_small_answer_is_one_buffer(void)
{
    jw w;
    jw_init(&w);
    write_rows(&w, 4, 1);
    CHECK(jw_chunks(&w) == 1, "%zu chunks", jw_chunks(&w));
    size_t len = 0;
    char *text = jw_take(&w, &len);
    CHECK(text && len == strlen(text) && !strncmp(text, "{\"rows\":[[", 10), "%s", text);
    srv_free(text);
}

/* 300,000 rows (about 30 MB of text): chunks of JW_CHUNK after a first one
 * of at most JW_FIRST_MAX, the same bytes as joined, and no more mapped than
 * the text and JW_SLACK, nothing of it in the cache of mappings. */
static void test_long_answer_in_chunks(void)
{
    enum { ROWS = 300000 };
    size_t live0, cached0, live1, cached1;
    srv_alloc_release();
    srv_alloc_mapped(&live0, &cached0);
    jw a, b;
    jw_init(&a);
    write_rows(&a, ROWS, 2);
    srv_alloc_mapped(&live1, &cached1);
    size_t chunks = jw_chunks(&a);
    jw_parts *p = jw_take_parts(&a);
    CHECK(p != NULL, "parts");
    if (!p) return;
    CHECK(p->json_len == p->len && p->n == chunks && p->n > 10, "%zu parts of %zu bytes", p->n,
          p->len);
    CHECK(p->part[0].len <= JW_FIRST_MAX, "first chunk %zu bytes", p->part[0].len);
    for (size_t i = 1; i < p->n; i++)
        CHECK(p->part[i].len <= JW_CHUNK && (i + 1 == p->n || p->part[i].len > JW_CHUNK - 64),
              "chunk %zu: %zu bytes", i, p->part[i].len);
    if (srv_alloc_maps()) {
        CHECK(live1 - live0 <= p->len + JW_SLACK, "mapped %zu for %zu bytes of text",
              live1 - live0, p->len);
        CHECK(cached1 == cached0, "cached mappings grew from %zu to %zu while writing", cached0,
              cached1);
    } else {
        printf("  mapped bytes not checked: under a checker big blocks are malloc's\n");
    }
    printf("  %zu bytes of text in %zu chunks\n", p->len, p->n);

    jw_init(&b);
    write_rows(&b, ROWS, 2);
    size_t len = 0;
    char *joined = jw_take(&b, &len), *parts = concat(p);
    CHECK(joined && len == p->len && !memcmp(joined, parts, len) && joined[len] == 0,
          "joined %zu bytes, parts %zu", len, p->len);
    char *head = jw_parts_join(p, 1000);
    CHECK(head && !memcmp(head, parts, 1000), "jw_parts_join's first 1000 bytes");
    srv_free(head);
    srv_free(joined);
    free(parts);
    jw_parts_free(p);
}

/* JSON, then three tensors of 3 MB (each spans chunks): the parts, the
 * joined answer and the tensors as given all agree. */
static void test_binary_part_spans_chunks(void)
{
    enum { N = 3, FLOATS = 750000 };
    float *t[N];
    for (int k = 0; k < N; k++) {
        t[k] = malloc(FLOATS * sizeof(float));
        for (size_t i = 0; i < FLOATS; i++) t[k][i] = (float)next_u32();
    }
    jw a, b;
    jw *ws[2] = {&a, &b};
    for (int j = 0; j < 2; j++) {
        jw_init(ws[j]);
        jw_array(ws[j]);
        size_t dim = FLOATS;
        for (int k = 0; k < N; k++) tensor_write(ws[j], ENC_BINARY, GS_FLOAT32, t[k], 1, &dim);
        jw_end(ws[j]);
    }
    jw_parts *p = jw_take_parts(&a);
    size_t len = 0, json_len = 0;
    char *joined = jw_take_with_binary(&b, &len, &json_len);
    CHECK(p && joined, "taken");
    if (p && joined) {
        char *parts = concat(p);
        CHECK(p->len == len && p->json_len == json_len && !memcmp(parts, joined, len),
              "parts %zu (JSON %zu), joined %zu (JSON %zu)", p->len, p->json_len, len, json_len);
        CHECK(len == json_len + (size_t)N * FLOATS * 4, "%zu bytes after %zu of JSON", len,
              json_len);
        for (int k = 0; k < N; k++)
            CHECK(!memcmp(joined + json_len + (size_t)k * FLOATS * 4, t[k], FLOATS * 4),
                  "tensor %d", k);
        free(parts);
    }
    srv_free(joined);
    jw_parts_free(p);
    for (int k = 0; k < N; k++) free(t[k]);
}

/* A 5 MB tensor as base64 after 1.9 MB of other text, so that its pieces
 * cross a chunk's end: the string reads back as the tensor's bytes. */
static void test_base64_in_pieces(void)
{
    enum { FLOATS = 1250003 }; /* not a multiple of the piece */
    float *t = malloc(FLOATS * sizeof(float));
    for (size_t i = 0; i < FLOATS; i++) t[i] = (float)next_u32();
    jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < 190000; i++) jw_raw_value(&w, "123456789", 9);
    size_t dim = FLOATS;
    tensor_write(&w, ENC_B64, GS_FLOAT32, t, 1, &dim);
    jw_end(&w);
    CHECK(jw_chunks(&w) > 3, "%zu chunks", jw_chunks(&w));
    size_t len = 0;
    char *text = jw_take(&w, &len);
    const char *b64 = text ? strstr(text, "\"b64\":\"") : NULL;
    CHECK(b64 != NULL, "no b64 key");
    if (b64) {
        b64 += 7;
        const char *end = strchr(b64, '"');
        size_t n = end ? (size_t)(end - b64) : 0;
        unsigned char *back = malloc(n / 4 * 3 + 3);
        long long k = end ? base64_decode(back, b64, n) : -1;
        CHECK(n == base64_encoded_len(FLOATS * 4) && k == (long long)FLOATS * 4 &&
                  !memcmp(back, t, FLOATS * 4),
              "%zu characters decode to %lld bytes", n, k);
        free(back);
    }
    srv_free(text);
    free(t);
}

/* The n-th allocation failing, for every n a long answer makes (sticky: the
 * ones after it too): the writer marks itself failed and each taker answers
 * NULL, freeing what was written. */
static void test_allocation_failures(void)
{
    long total = 0;
    for (long n = 1;; n++) {
        jw w;
        jw_init(&w);
        srv_alloc_fail_at(n, 1);
        write_rows(&w, 60000, 3);
        size_t len = 0;
        char *text = n % 2 ? jw_take(&w, &len) : NULL;
        jw_parts *p = n % 2 ? NULL : jw_take_parts(&w);
        int failed = srv_alloc_failed();
        total = srv_alloc_count();
        srv_alloc_fail_at(0, 0);
        CHECK(failed ? !text && !p : text || p, "allocation %ld failing: answer %p %p", n,
              (void *)text, (void *)p);
        srv_free(text);
        jw_parts_free(p);
        if (!failed) break;
    }
    printf("  %ld allocations for a %d-row answer, each made to fail in turn\n", total, 60000);
}

int main(void)
{
    RUN(test_small_answer_is_one_buffer);
    RUN(test_long_answer_in_chunks);
    RUN(test_binary_part_spans_chunks);
    RUN(test_base64_in_pieces);
    RUN(test_allocation_failures);
    return CHECK_DONE();
}
