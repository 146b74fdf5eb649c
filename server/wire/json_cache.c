#include "wire/json_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

typedef struct {
    uint64_t hash;
    char *text; /* NULL: the slot is empty */
    size_t len;
    json_t *root;
    uint64_t id; /* json_cache_get's id of this tree: never that of another */
} cache_slot;

struct json_cache {
    pthread_mutex_t mu; /* guards slots and the counts; held for a compare, never a parse */
    cache_slot *slots;
    size_t n_slots, max_text;
    unsigned long hits, misses;
};

/* Ids of kept trees, unique in the process rather than in one cache, so that
 * a cache of what is derived from the trees (api/net_cache.h) cannot mistake
 * one cache's tree for another's; 64 bits do not wrap. */
static atomic_uint_fast64_t last_id;

/* Eight bytes a step (a byte at a time, FNV-1a took 0.25 us for the 2-4-1
 * skeleton, every request), each mixed by a multiplication and a shift, and
 * the whole finished as murmur3's fmix64 does: the hash only picks the slot,
 * which compares the whole text anyway. */
static uint64_t text_hash(const char *s, size_t n)
{
    const uint64_t k = UINT64_C(0xff51afd7ed558ccd);
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ n, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    if (i < n) {
        w = 0;
        memcpy(&w, s + i, n - i);
        h = (h ^ w) * k;
    }
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

json_cache *json_cache_create(size_t slots, size_t max_text)
{
    json_cache *c = srv_calloc(1, sizeof *c);
    if (!c || !slots || !(c->slots = srv_calloc(slots, sizeof *c->slots))) {
        srv_free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->n_slots = slots;
    c->max_text = max_text;
    return c;
}

void json_cache_free(json_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_slots; i++) {
        srv_free(c->slots[i].text);
        json_decref(c->slots[i].root);
    }
    pthread_mutex_destroy(&c->mu);
    srv_free(c->slots);
    srv_free(c);
}

json_t *json_cache_get(json_cache *c, const char *text, size_t len, uint64_t *id)
{
    *id = 0;
    if (!c) return NULL;
    uint64_t h = len <= c->max_text ? text_hash(text, len) : 0;
    json_t *root = NULL;
    pthread_mutex_lock(&c->mu);
    cache_slot *s = &c->slots[h % c->n_slots];
    if (len <= c->max_text && s->text && s->hash == h && s->len == len &&
        memcmp(s->text, text, len) == 0)
        root = json_incref(s->root);
    if (root) *id = s->id;
    if (root) c->hits++;
    else c->misses++;
    pthread_mutex_unlock(&c->mu);
    return root;
}

uint64_t json_cache_put(json_cache *c, const char *text, size_t len, json_t *root)
{
    if (!c || len > c->max_text || !root) return 0;
    char *copy = srv_malloc(len ? len : 1);
    if (!copy) return 0;
    memcpy(copy, text, len);
    uint64_t h = text_hash(text, len);
    pthread_mutex_lock(&c->mu);
    cache_slot *s = &c->slots[h % c->n_slots], old = *s;
    uint64_t id = atomic_fetch_add(&last_id, 1) + 1;
    *s = (cache_slot){.hash = h, .text = copy, .len = len, .root = json_incref(root), .id = id};
    pthread_mutex_unlock(&c->mu);
    /* the tree it replaces, outside the lock: a reader may still hold it */
    srv_free(old.text);
    json_decref(old.root);
    return id;
}

void json_cache_counts(json_cache *c, unsigned long *hits, unsigned long *misses)
{
    pthread_mutex_lock(&c->mu);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->mu);
}
