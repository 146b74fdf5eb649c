/* base64 (codec.c, with server/wire/base64.c's AVX2 blocks) against a plain
 * reference written here from RFC 4648: every length from 0 to 300 bytes and
 * random long buffers, both ways; bad characters at every position of a long
 * text (the vector blocks must stop and leave the error to the scalar code);
 * no write past the decoded bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/base64.h"
#include "check.h"
#include "wire/codec.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static uint64_t rng = 0x9E3779B97F4A7C15u;
static unsigned char next_byte(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned char)(rng >> 32);
}

/* RFC 4648 section 4, bit by bit. */
static void reference_encode(char *out, const unsigned char *in, size_t n)
{
    size_t bits = 0, o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = ALPHABET[(acc >> bits) & 63];
        }
    }
    if (bits) out[o++] = ALPHABET[(acc << (6 - bits)) & 63];
    while (o % 4) out[o++] = '=';
}

static void roundtrip(size_t n)
{
    unsigned char *in = malloc(n + 1), *back = malloc(n + 1);
    size_t len = base64_encoded_len(n);
    char *got = malloc(len + 1), *want = malloc(len + 1);
    for (size_t i = 0; i < n; i++) in[i] = next_byte();
    reference_encode(want, in, n);
    base64_encode(got, in, n);
    CHECK(!memcmp(got, want, len), "encode of %zu bytes differs", n);
    long long k = base64_decode(back, want, len);
    CHECK(k == (long long)n && !memcmp(back, in, n), "decode of %zu bytes: %lld", n, k);
    free(in);
    free(back);
    free(got);
    free(want);
}

static void test_base64_lengths(void)
{
    for (size_t n = 0; n <= 300; n++) roundtrip(n);
    for (int r = 0; r < 20; r++) roundtrip(4096 + (size_t)(next_byte() * 37u));
    roundtrip(1 << 20);
}

/* Every character class at every position of a block the vector code takes. */
static void test_base64_bad_characters(void)
{
    enum { N = 300 };
    unsigned char in[N], out[N];
    char text[(N + 2) / 3 * 4 + 1];
    for (size_t i = 0; i < N; i++) in[i] = next_byte();
    size_t len = base64_encoded_len(N);
    base64_encode(text, in, N);
    const char bad[] = {'=', '-', '_', ' ', '\0', '@', '[', '`', '{', ':', (char)0x80, (char)0xff};
    for (size_t pos = 0; pos + 4 < len; pos++) {
        for (size_t b = 0; b < sizeof bad; b++) {
            char saved = text[pos];
            text[pos] = bad[b];
            CHECK(base64_decode(out, text, len) == -1, "0x%02x at %zu accepted",
                  (unsigned char)bad[b], pos);
            text[pos] = saved;
        }
    }
    CHECK(base64_decode(out, text, len) == N, "the text itself");
}

/* The vector decoder stores 32 bytes for 24: never past what the text decodes to. */
static void test_base64_no_overrun(void)
{
    for (size_t n = 40; n < 400; n += 7) {
        unsigned char *in = malloc(n), *out = malloc(n + 64);
        char *text = malloc(base64_encoded_len(n));
        for (size_t i = 0; i < n; i++) in[i] = next_byte();
        base64_encode(text, in, n);
        memset(out, 0xA5, n + 64);
        base64_decode(out, text, base64_encoded_len(n));
        int clean = 1;
        for (size_t i = n; i < n + 64; i++) clean &= out[i] == 0xA5;
        CHECK(clean && !memcmp(out, in, n), "n = %zu", n);
        size_t done = base64_decode_bulk(out, text, base64_encoded_len(n));
        CHECK(done % 32 == 0 && done / 4 * 3 + 8 <= n, "bulk took %zu of %zu", done, n);
        if (__builtin_cpu_supports("avx2") && base64_encoded_len(n) >= 64)
            CHECK(done > 0, "no vector blocks for n = %zu", n);
        free(in);
        free(out);
        free(text);
    }
}

int main(void)
{
    RUN(test_base64_lengths);
    RUN(test_base64_bad_characters);
    RUN(test_base64_no_overrun);
    return CHECK_DONE();
}
