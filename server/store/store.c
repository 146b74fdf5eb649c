#include "store/store.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct store_entry {
    unsigned char digest[DIGEST_BYTES];
    void *bytes;
    size_t len;
    unsigned pins;          /* users now: requests reading it, GET responses sending it */
    int in_map;             /* 0 once deleted or evicted (freed with its last pin) */
    store_entry *next;      /* the map's chain */
    store_entry *newer, *older; /* the LRU list */
};

struct tensor_store {
    pthread_mutex_t mu;
    size_t budget;
    size_t bytes;           /* every entry not yet freed, those out of the map included */
    size_t entries;         /* in the map */
    store_entry **slots;    /* chains; n_slots a power of two */
    size_t n_slots;
    store_entry *newest, *oldest;
    uint64_t hits, misses, evictions;
};

/* The digest is uniformly random already: its first bytes are the hash. */
static size_t slot_of(const tensor_store *s, const unsigned char *digest)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)h & (s->n_slots - 1);
}

tensor_store *store_new(size_t budget)
{
    tensor_store *s = srv_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n_slots = 256;
    if (!(s->slots = srv_calloc(s->n_slots, sizeof *s->slots))) {
        srv_free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->budget = budget;
    return s;
}

void store_free(tensor_store *s)
{
    if (!s) return;
    /* entries out of the map but still pinned are their users' to free: at
     * shutdown none is left (libmicrohttpd and the workers stopped first) */
    for (store_entry *e = s->newest, *n; e; e = n) {
        n = e->older;
        srv_free(e->bytes);
        srv_free(e);
    }
    pthread_mutex_destroy(&s->mu);
    srv_free(s->slots);
    srv_free(s);
}

static const char HEX[] = "0123456789abcdef";

int ref_parse(const char *text, size_t len, unsigned char digest[DIGEST_BYTES])
{
    if (len != REF_TEXT_LEN || memcmp(text, "sha256:", 7) != 0) return 0;
    for (size_t i = 0; i < DIGEST_BYTES; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = text[7 + 2 * i + k];
            const char *p = c ? strchr(HEX, c) : NULL;
            if (!p) return 0;
            v = v * 16 + (int)(p - HEX);
        }
        digest[i] = (unsigned char)v;
    }
    return 1;
}

void ref_text(char out[REF_TEXT_LEN + 1], const unsigned char digest[DIGEST_BYTES])
{
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < DIGEST_BYTES; i++) {
        out[7 + 2 * i] = HEX[digest[i] >> 4];
        out[8 + 2 * i] = HEX[digest[i] & 15];
    }
    out[REF_TEXT_LEN] = 0;
}

int sha256_of(const void *data, size_t len, unsigned char digest[DIGEST_BYTES])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL) == 1 && n == DIGEST_BYTES;
}

/* The stream is OpenSSL's digest context itself. */
sha256_stream *sha256_begin(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    return (sha256_stream *)c;
}

void sha256_update(sha256_stream *h, const void *data, size_t len)
{
    EVP_DigestUpdate((EVP_MD_CTX *)h, data, len); /* cannot fail for sha256 in memory */
}

int sha256_end(sha256_stream *h, unsigned char digest[DIGEST_BYTES])
{
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex((EVP_MD_CTX *)h, digest, &n) == 1 && n == DIGEST_BYTES;
    EVP_MD_CTX_free((EVP_MD_CTX *)h);
    return ok;
}

void sha256_abandon(sha256_stream *h) { EVP_MD_CTX_free((EVP_MD_CTX *)h); }

/* ---- the map and the LRU list (s->mu held) ------------------------------------ */

static store_entry *find(const tensor_store *s, const unsigned char *digest)
{
    store_entry *e = s->slots[slot_of(s, digest)];
    while (e && memcmp(e->digest, digest, DIGEST_BYTES) != 0) e = e->next;
    return e;
}

static void lru_unlink(tensor_store *s, store_entry *e)
{
    if (e->newer) e->newer->older = e->older;
    else s->newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else s->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(tensor_store *s, store_entry *e)
{
    e->older = s->newest;
    e->newer = NULL;
    if (s->newest) s->newest->newer = e;
    s->newest = e;
    if (!s->oldest) s->oldest = e;
}

/* Doubles the slots when the chains average over one entry; a failed
 * allocation keeps the old ones (longer chains, still right). */
static void grow(tensor_store *s)
{
    if (s->entries < s->n_slots) return;
    size_t n = s->n_slots * 2;
    store_entry **slots = srv_calloc(n, sizeof *slots);
    if (!slots) return;
    for (size_t i = 0; i < s->n_slots; i++)
        for (store_entry *e = s->slots[i], *next; e; e = next) {
            next = e->next;
            uint64_t h;
            memcpy(&h, e->digest, sizeof h);
            e->next = slots[h & (n - 1)];
            slots[h & (n - 1)] = e;
        }
    srv_free(s->slots);
    s->slots = slots;
    s->n_slots = n;
}

/* Out of the map and the LRU list; freed now unless pinned. */
static void unmap(tensor_store *s, store_entry *e)
{
    store_entry **p = &s->slots[slot_of(s, e->digest)];
    while (*p != e) p = &(*p)->next;
    *p = e->next;
    lru_unlink(s, e);
    e->in_map = 0;
    s->entries--;
    if (!e->pins) {
        s->bytes -= e->len;
        srv_free(e->bytes);
        srv_free(e);
    }
}

/* Evicts unpinned entries, oldest first, until need more bytes fit: 1, or 0
 * when pinned ones leave too little room (nothing is evicted then). */
static int make_room(tensor_store *s, size_t need)
{
    size_t freeable = 0;
    for (store_entry *e = s->oldest; e && s->bytes - freeable + need > s->budget; e = e->newer)
        if (!e->pins) freeable += e->len;
    if (s->bytes - freeable + need > s->budget) return 0;
    for (store_entry *e = s->oldest, *newer; e && s->bytes + need > s->budget; e = newer) {
        newer = e->newer;
        if (e->pins) continue;
        unmap(s, e);
        s->evictions++;
    }
    return 1;
}

/* ---- the API ----------------------------------------------------------------- */

store_entry *store_pin(tensor_store *s, const unsigned char digest[DIGEST_BYTES], int count)
{
    if (!s) return NULL;
    pthread_mutex_lock(&s->mu);
    store_entry *e = find(s, digest);
    if (e) {
        e->pins++;
        lru_unlink(s, e);
        lru_push(s, e);
    }
    if (count && e) s->hits++;
    else if (count) s->misses++;
    pthread_mutex_unlock(&s->mu);
    return e;
}

void store_unpin(tensor_store *s, store_entry *e)
{
    pthread_mutex_lock(&s->mu);
    if (--e->pins == 0 && !e->in_map) {
        s->bytes -= e->len;
        srv_free(e->bytes);
        srv_free(e);
    }
    pthread_mutex_unlock(&s->mu);
}

const void *store_entry_bytes(const store_entry *e, size_t *len)
{
    *len = e->len;
    return e->bytes;
}

store_put_result store_put(tensor_store *s, const unsigned char digest[DIGEST_BYTES], void *buf,
                           size_t len)
{
    if (len > s->budget) {
        srv_free(buf);
        return STORE_TOO_BIG;
    }
    store_entry *e = srv_malloc(sizeof *e);
    pthread_mutex_lock(&s->mu);
    store_put_result r = STORE_ADDED;
    store_entry *held = find(s, digest);
    if (held) {
        lru_unlink(s, held);
        lru_push(s, held);
        r = STORE_HELD;
    } else if (!e) {
        r = STORE_NO_MEMORY;
    } else if (!make_room(s, len)) {
        r = STORE_FULL;
    } else {
        memcpy(e->digest, digest, DIGEST_BYTES);
        e->bytes = buf;
        e->len = len;
        e->pins = 0;
        e->in_map = 1;
        size_t i = slot_of(s, digest);
        e->next = s->slots[i];
        s->slots[i] = e;
        lru_push(s, e);
        s->bytes += len;
        s->entries++;
        grow(s);
    }
    pthread_mutex_unlock(&s->mu);
    if (r != STORE_ADDED) {
        srv_free(e);
        srv_free(buf);
    }
    return r;
}

int store_delete(tensor_store *s, const unsigned char digest[DIGEST_BYTES])
{
    pthread_mutex_lock(&s->mu);
    store_entry *e = find(s, digest);
    if (e) unmap(s, e);
    pthread_mutex_unlock(&s->mu);
    return e != NULL;
}

void store_get_stats(tensor_store *s, store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = (store_stats){s->budget, s->bytes, s->entries, s->hits, s->misses, s->evictions};
    pthread_mutex_unlock(&s->mu);
}

size_t store_budget(const tensor_store *s) { return s->budget; }
