/* Bulk base64 (standard alphabet) on AVX2 CPUs: the fast part of codec.c's
 * and fastjson.c's loops, which do the rest. */
#ifndef GS_SERVER_BASE64_H
#define GS_SERVER_BASE64_H

#include <stddef.h>

/* Decodes a prefix of in[len] made of whole 32-character blocks of base64
 * digits (no padding), stopping at the first block holding anything else
 * and 32 characters before len; returns the characters decoded (a multiple
 * of 32, 0 without AVX2), having written 3/4 as many bytes to out. May
 * store up to 8 bytes past those, within the len / 4 * 3 - 2 bytes that
 * in[len] decodes to. */
size_t base64_decode_bulk(unsigned char *out, const char *in, size_t len);

/* Encodes a prefix of in[n] in whole 24-byte blocks, leaving at least 8
 * bytes; returns the bytes encoded (a multiple of 24, 0 without AVX2),
 * having written 4/3 as many characters to out. */
size_t base64_encode_bulk(char *out, const unsigned char *in, size_t n);

#endif
