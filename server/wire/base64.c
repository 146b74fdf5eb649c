/* Bulk base64 with AVX2 (the algorithms of Muła and Lemire, "Faster Base64
 * Encoding and Decoding Using AVX2 Instructions", as in aklomp/base64): 24
 * bytes to 32 characters and back per step, about ten times the scalar
 * loops. Each function does a prefix and leaves the rest (and everything on
 * a CPU without AVX2) to the scalar code of its caller, which also handles
 * padding and reports errors. tests/test_base64.c compares them with the
 * scalar code. */
#include "wire/base64.h"

#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

static int have_avx2(void) { return __builtin_cpu_supports("avx2"); }

__attribute__((target("avx2"))) static size_t decode_avx2(unsigned char *out, const char *in,
                                                         size_t len)
{
    const __m256i lut_lo = _mm256_setr_epi8(
        0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B,
        0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
        0x1B, 0x1B, 0x1B, 0x1A);
    const __m256i lut_hi = _mm256_setr_epi8(
        0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
        0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
        0x10, 0x10, 0x10, 0x10);
    const __m256i lut_roll = _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0,
                                              0, 0, 0, 0, 16, 19, 4, -65, -65, -71, -71, 0, 0,
                                              0, 0, 0, 0, 0, 0);
    const __m256i mask_2f = _mm256_set1_epi8(0x2f);
    const __m256i pack = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1,
                                          -1, 2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1,
                                          -1, -1);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1);
    size_t i = 0;
    /* 32 characters in, 32 bytes stored of which 24 count: the next store
     * overwrites the 8 extra, and the last one leaves 8 bytes of room (the
     * 32 characters after it give at least 22 bytes). */
    for (; len - i >= 64; i += 32, out += 24) {
        __m256i s = _mm256_loadu_si256((const __m256i *)(in + i));
        __m256i hi_nib = _mm256_and_si256(_mm256_srli_epi32(s, 4), mask_2f);
        __m256i lo_nib = _mm256_and_si256(s, mask_2f);
        __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nib);
        __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nib);
        if (!_mm256_testz_si256(lo, hi)) break; /* not base64: the scalar code says so */
        __m256i eq_2f = _mm256_cmpeq_epi8(s, mask_2f);
        __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nib));
        s = _mm256_add_epi8(s, roll); /* each character's 6-bit value */
        __m256i ab_bc = _mm256_maddubs_epi16(s, _mm256_set1_epi32(0x01400140));
        __m256i v = _mm256_madd_epi16(ab_bc, _mm256_set1_epi32(0x00011000));
        v = _mm256_shuffle_epi8(v, pack);
        v = _mm256_permutevar8x32_epi32(v, lanes);
        _mm256_storeu_si256((__m256i *)out, v);
    }
    return i;
}

__attribute__((target("avx2"))) static size_t encode_avx2(char *out, const unsigned char *in,
                                                         size_t n)
{
    /* Each step loads 32 bytes from 4 before the 24 it encodes, so that each
     * 128-bit lane finds its 12 bytes where the shuffle takes them. */
    const __m256i shuf = _mm256_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1, 14,
                                         15, 13, 14, 11, 12, 10, 11, 8, 9, 7, 8, 5, 6, 4, 5);
    const __m256i lut = _mm256_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19,
                                         -16, 0, 0, 65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4,
                                         -4, -19, -16, 0, 0);
    size_t i = 0;
    for (; n - i >= 32; i += 24, out += 32) {
        __m256i s;
        if (i == 0) { /* in - 4 is not ours: assemble the first block's lanes */
            __m128i a = _mm_slli_si128(_mm_loadu_si128((const __m128i *)in), 4);
            __m128i b = _mm_loadu_si128((const __m128i *)(in + 12));
            s = _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
        } else {
            s = _mm256_loadu_si256((const __m256i *)(in + i - 4));
        }
        s = _mm256_shuffle_epi8(s, shuf);
        __m256i t0 = _mm256_and_si256(s, _mm256_set1_epi32(0x0FC0FC00));
        __m256i t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x04000040));
        __m256i t2 = _mm256_and_si256(s, _mm256_set1_epi32(0x003F03F0));
        __m256i t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x01000010));
        __m256i idx = _mm256_or_si256(t1, t3); /* 6-bit values, one per byte */
        __m256i k = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
        k = _mm256_sub_epi8(k, _mm256_cmpgt_epi8(idx, _mm256_set1_epi8(25)));
        _mm256_storeu_si256((__m256i *)out, _mm256_add_epi8(idx, _mm256_shuffle_epi8(lut, k)));
    }
    return i;
}

size_t base64_decode_bulk(unsigned char *out, const char *in, size_t len)
{
    return have_avx2() ? decode_avx2(out, in, len) : 0;
}

size_t base64_encode_bulk(char *out, const unsigned char *in, size_t n)
{
    return have_avx2() ? encode_avx2(out, in, n) : 0;
}

#else

size_t base64_decode_bulk(unsigned char *out, const char *in, size_t len)
{
    (void)out, (void)in, (void)len;
    return 0;
}

size_t base64_encode_bulk(char *out, const unsigned char *in, size_t n)
{
    (void)out, (void)in, (void)n;
    return 0;
}

#endif
