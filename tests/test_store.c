/* The tensor store in-process (server/store/store.c): the digest's one
 * spelling, least-recently-used eviction, pins that eviction passes over and
 * that keep a deleted entry's bytes until released, a store full of pinned
 * entries, and the map growing past its first slots. The same store over
 * HTTP: tests/test_api_store.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store/store.h"
#include "wire/codec.h"

/* n bytes of value v under their digest; the digest in d. */
static store_put_result put_fill(tensor_store *s, size_t n, int v, unsigned char d[DIGEST_BYTES])
{
    unsigned char *b = malloc(n ? n : 1);
    memset(b, v, n);
    /* the digest of n bytes of v, with n mixed in so that sizes differ too */
    sha256_of(b, n, d);
    return store_put(s, d, b, n);
}

static void test_ref_spelling(void)
{
    unsigned char d[DIGEST_BYTES], back[DIGEST_BYTES];
    sha256_of("abc", 3, d);
    char text[REF_TEXT_LEN + 1];
    ref_text(text, d);
    CHECK(!strcmp(text, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "sha256(abc) = %s", text);
    CHECK(ref_parse(text, strlen(text), back) && !memcmp(d, back, DIGEST_BYTES), "round trip");
    char upper[REF_TEXT_LEN + 1];
    strcpy(upper, text);
    upper[7 + 2] = 'A'; /* "ba7816" -> "baA816"... any upper-case letter */
    CHECK(!ref_parse(upper, strlen(upper), back), "upper case refused");
    CHECK(!ref_parse(text, strlen(text) - 1, back), "63 digits refused");
    CHECK(!ref_parse("sha1:ba7816bf", 13, back), "another algorithm refused");
    char nul[REF_TEXT_LEN + 1];
    memcpy(nul, text, sizeof nul);
    nul[20] = 0;
    CHECK(!ref_parse(nul, REF_TEXT_LEN, back), "a NUL inside refused");
    /* the streamed hash equals the one-shot hash */
    sha256_stream *h = sha256_begin();
    sha256_update(h, "a", 1);
    sha256_update(h, "bc", 2);
    CHECK(h && sha256_end(h, back) && !memcmp(d, back, DIGEST_BYTES), "streamed sha256");
}

static void test_lru_and_pins(void)
{
    tensor_store *s = store_new(4000);
    unsigned char d[5][DIGEST_BYTES];
    for (int i = 0; i < 4; i++) CHECK(put_fill(s, 1000, i, d[i]) == STORE_ADDED, "put %d", i);
    store_stats st;
    store_get_stats(s, &st);
    CHECK(st.bytes == 4000 && st.entries == 4, "4000 bytes in 4 entries: %zu %zu", st.bytes,
          st.entries);
    /* pin the oldest: the next put evicts the second oldest instead */
    store_entry *e0 = store_pin(s, d[0], 1);
    CHECK(e0 != NULL, "pin 0");
    CHECK(put_fill(s, 1000, 4, d[4]) == STORE_ADDED, "put 4");
    CHECK(store_pin(s, d[1], 0) == NULL, "1 evicted, not the pinned 0");
    /* delete the pinned entry: gone from the map, its bytes kept and counted */
    CHECK(store_delete(s, d[0]) == 1, "delete 0");
    CHECK(store_pin(s, d[0], 0) == NULL, "0 gone for new users");
    size_t len;
    const unsigned char *b = store_entry_bytes(e0, &len);
    CHECK(len == 1000 && b[0] == 0 && b[999] == 0, "0's bytes still readable while pinned");
    store_get_stats(s, &st);
    CHECK(st.bytes == 4000 && st.entries == 3, "deleted but pinned: %zu bytes, %zu entries",
          st.bytes, st.entries);
    store_unpin(s, e0);
    store_get_stats(s, &st);
    CHECK(st.bytes == 3000 && st.entries == 3, "freed on unpin: %zu bytes", st.bytes);
    CHECK(st.hits == 1 && st.misses == 0 && st.evictions == 1, "stats %llu %llu %llu",
          (unsigned long long)st.hits, (unsigned long long)st.misses,
          (unsigned long long)st.evictions);
    /* the same bytes again: held, the new copy freed */
    unsigned char again[DIGEST_BYTES];
    CHECK(put_fill(s, 1000, 2, again) == STORE_HELD, "same bytes: held");
    store_free(s);
}

static void test_full_of_pins(void)
{
    tensor_store *s = store_new(2000);
    unsigned char d[3][DIGEST_BYTES];
    put_fill(s, 1000, 1, d[0]);
    put_fill(s, 1000, 2, d[1]);
    store_entry *a = store_pin(s, d[0], 0), *b = store_pin(s, d[1], 0);
    CHECK(put_fill(s, 1000, 3, d[2]) == STORE_FULL, "nothing to evict: full");
    CHECK(put_fill(s, 2001, 3, d[2]) == STORE_TOO_BIG, "over the whole budget");
    store_stats st;
    store_get_stats(s, &st);
    CHECK(st.entries == 2 && st.bytes == 2000, "unchanged after refusals");
    store_unpin(s, a);
    CHECK(put_fill(s, 1000, 3, d[2]) == STORE_ADDED, "room once unpinned");
    CHECK(store_pin(s, d[0], 0) == NULL, "the unpinned one went");
    store_unpin(s, b);
    store_free(s);
    /* a store of 0 bytes holds nothing */
    s = store_new(0);
    CHECK(put_fill(s, 1, 1, d[0]) == STORE_TOO_BIG, "budget 0");
    CHECK(put_fill(s, 0, 1, d[0]) == STORE_ADDED, "an empty tensor fits");
    store_free(s);
}

static void test_many_entries(void)
{
    tensor_store *s = store_new((size_t)1 << 30);
    enum { N = 10000 };
    static unsigned char d[N][DIGEST_BYTES];
    int ok = 1;
    for (int i = 0; i < N; i++) {
        unsigned char *b = malloc(8);
        memcpy(b, &i, sizeof i);
        memset(b + 4, 0, 4);
        sha256_of(b, 8, d[i]);
        ok &= store_put(s, d[i], b, 8) == STORE_ADDED;
    }
    CHECK(ok, "10,000 puts");
    int found = 0;
    for (int i = 0; i < N; i++) {
        store_entry *e = store_pin(s, d[i], 0);
        size_t len;
        const unsigned char *b = e ? store_entry_bytes(e, &len) : NULL;
        int v;
        if (b) memcpy(&v, b, sizeof v);
        found += b && len == 8 && v == i;
        if (e) store_unpin(s, e);
    }
    CHECK(found == N, "%d of %d found after the map grew", found, N);
    store_free(s);
}

/* A ref read by the codec: its bytes are used where the store holds them
 * (tensor_borrow, as for binary and base64 tensors), pinned until the
 * request's refs are freed; the wrong dtype for them is refused. */
static void test_ref_borrowed_in_place(void)
{
    tensor_store *s = store_new(1 << 16);
    float four[4] = {1, 2, 3, 4};
    unsigned char d[DIGEST_BYTES];
    char ref[REF_TEXT_LEN + 1], body[300];
    void *copy = malloc(sizeof four);
    memcpy(copy, four, sizeof four);
    sha256_of(four, sizeof four, d);
    store_put(s, d, copy, sizeof four);
    ref_text(ref, d);
    snprintf(body, sizeof body, "{\"x\":{\"ref\":\"%s\",\"shape\":[2,2],\"dtype\":\"float32\"}}", ref);
    codec_ctx cc;
    diag dg = {0};
    json_t *root = codec_open(&cc, body, strlen(body), 0, NULL, 0, NULL, &dg);
    codec_refs refs = {.store = s};
    cc.refs = &refs;
    tensor_view t;
    const json_ptr x = {.key = "x"};
    CHECK(root && tensor_view_of(&cc, json_object_get(root, "x"), &x, &t, &dg), "view: %s",
          dg.n ? dg.errors[0].detail : dg.detail);
    size_t len;
    store_entry *e = store_pin(s, d, 0);
    const void *held = e ? store_entry_bytes(e, &len) : NULL;
    CHECK(held && tensor_borrow(&t, GS_FLOAT32) == held, "float32 ref borrowed in place");
    CHECK(tensor_borrow(&t, GS_FLOAT64) == NULL, "not as float64");
    double as64[4];
    CHECK(tensor_read(&t, &x, GS_FLOAT64, as64, &dg) && as64[3] == 4.0, "converted read");
    CHECK(store_delete(s, d), "delete while the request holds it");
    store_unpin(s, e);
    store_stats st;
    store_get_stats(s, &st);
    CHECK(st.bytes == 16, "still held by the request's pin: %zu", st.bytes);
    codec_refs_free(&refs);
    store_get_stats(s, &st);
    CHECK(st.bytes == 0, "freed with the request's refs: %zu", st.bytes);
    json_decref(root);
    codec_close(&cc);
    store_free(s);
}

int main(void)
{
    RUN(test_ref_spelling);
    RUN(test_lru_and_pins);
    RUN(test_full_of_pins);
    RUN(test_many_entries);
    RUN(test_ref_borrowed_in_place);
    return CHECK_DONE();
}
