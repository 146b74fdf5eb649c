/* The tensor store: tensors' raw bytes held under their sha256 digest
 * (PUT /tensors/sha256:<hex>), so that requests name them by ref instead of
 * carrying them (docs/tensor-store.md).
 *
 * One map from digest to entry, one least-recently-used list and one byte
 * budget, under one mutex: the event loop thread (PUT, GET, HEAD, DELETE) and
 * the compute workers (refs in requests, "encoding": "ref" answers) share it.
 * An entry in use is pinned (a count): eviction passes over it, and a DELETE
 * takes it out of the map at once but frees its bytes only when the last
 * user unpins it. */
#ifndef GS_SERVER_STORE_H
#define GS_SERVER_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_BYTES 32
/* "sha256:" and 64 lowercase hex digits */
#define REF_TEXT_LEN (7 + 2 * DIGEST_BYTES)

typedef struct tensor_store tensor_store;
typedef struct store_entry store_entry;

typedef enum {
    STORE_ADDED = 0, /* a new entry */
    STORE_HELD,      /* the store held these bytes already: the new copy was freed */
    STORE_TOO_BIG,   /* larger than the whole budget (buffer freed) */
    STORE_FULL,      /* pinned entries fill the budget: nothing can be evicted (freed) */
    STORE_NO_MEMORY, /* out of memory for the entry (freed) */
} store_put_result;

/* What /metrics shows (gradserve_tensor_store_*). */
typedef struct {
    size_t budget, bytes, entries;
    uint64_t hits, misses, evictions;
} store_stats;

/* A store of at most budget bytes (0: holds nothing, every PUT is too big);
 * NULL when out of memory. */
tensor_store *store_new(size_t budget);
/* Frees every entry, pinned or not: call after the last user has gone. */
void store_free(tensor_store *s);

/* "sha256:<64 lowercase hex>" (exactly len characters) into digest; 0 when
 * it is anything else (upper case included: one spelling per digest). */
int ref_parse(const char *text, size_t len, unsigned char digest[DIGEST_BYTES]);
/* The ref text of digest, NUL-terminated. */
void ref_text(char out[REF_TEXT_LEN + 1], const unsigned char digest[DIGEST_BYTES]);
/* sha256 of len bytes (OpenSSL's EVP); 0 when OpenSSL fails. */
int sha256_of(const void *data, size_t len, unsigned char digest[DIGEST_BYTES]);

/* sha256 over bytes arriving in pieces (a PUT's body as it is received, so
 * that a large one never holds the event loop for its whole hash). NULL
 * when out of memory; sha256_end frees the stream, 0 when OpenSSL failed. */
typedef struct sha256_stream sha256_stream;
sha256_stream *sha256_begin(void);
void sha256_update(sha256_stream *h, const void *data, size_t len);
int sha256_end(sha256_stream *h, unsigned char digest[DIGEST_BYTES]);
/* Frees a stream that will not be ended (NULL: nothing). */
void sha256_abandon(sha256_stream *h);

/* The entry held under digest, pinned (and made most recently used), or
 * NULL. count: a ref's lookup, counted as a hit or a miss in the stats. */
store_entry *store_pin(tensor_store *s, const unsigned char digest[DIGEST_BYTES], int count);
/* Releases a pin; frees the entry when it was deleted or evicted meanwhile
 * and this was its last user. */
void store_unpin(tensor_store *s, store_entry *e);
/* The entry's bytes and length: valid while pinned. */
const void *store_entry_bytes(const store_entry *e, size_t *len);

/* Stores len bytes whose digest the caller computed, taking buf (malloc'd,
 * len bytes; the store frees it in every case but STORE_ADDED, and then when
 * the entry goes). Evicts least recently used unpinned entries to make room. */
store_put_result store_put(tensor_store *s, const unsigned char digest[DIGEST_BYTES], void *buf,
                           size_t len);
/* Takes the entry out of the map: 1, or 0 when it was not held. Its bytes go
 * now, or when its last pin is released. */
int store_delete(tensor_store *s, const unsigned char digest[DIGEST_BYTES]);

void store_get_stats(tensor_store *s, store_stats *out);
size_t store_budget(const tensor_store *s);

#endif
