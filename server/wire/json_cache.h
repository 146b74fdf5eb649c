/* Parsed skeletons kept for the next request that sends the same one.
 *
 * Once fastjson has taken a request's tensors out (wire/fastjson.h), what
 * jansson parses is the skeleton: the network, the options, and a marker
 * where each tensor was. A client that trains or evaluates one network sends
 * the same skeleton with every request, and parsing it is the largest part
 * of a small request's decoding (for the 2-4-1 request, 63 of its 86
 * allocations and about a third of the CPU time of stages 4 to 7). The tree
 * depends on the skeleton's text alone (the markers number the tensors in
 * the order of the text; their values are the request's own fastjson
 * record), and the request path only reads it, so one tree can serve every
 * request with that text.
 *
 * The cache holds a fixed number of trees, each of a skeleton at most
 * max_text bytes long, one per slot chosen by the text's hash (a newer text
 * replaces an older one in its slot). A tree handed out carries a reference
 * (jansson counts them atomically), so a replaced tree lives until its last
 * reader's json_decref. Owned by the server, passed to each request in
 * compute_env.skeletons; thread-safe. */
#ifndef GS_SERVER_JSON_CACHE_H
#define GS_SERVER_JSON_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct json_cache json_cache;

/* A cache of `slots` trees of texts up to max_text bytes; NULL when out of
 * memory (a server then runs without one). */
json_cache *json_cache_create(size_t slots, size_t max_text);
/* Drops every tree (those still read keep their references). NULL: nothing. */
void json_cache_free(json_cache *c);

/* The tree parsed from text[len] before, with a reference for the caller
 * (json_decref it), and *id the tree's id; NULL and *id 0 when the cache does
 * not hold that text. The tree is shared: read it only. */
json_t *json_cache_get(json_cache *c, const char *text, size_t len, uint64_t *id);

/* Keeps root as the tree of text[len] (taking a reference of its own), in
 * place of what its slot held, and returns its id. Texts over max_text are
 * not kept, nor any when a copy of the text cannot be allocated: 0 then, the
 * cache is only a shortcut.
 *
 * Ids: every tree kept gets a new one, never 0, never reused in the process
 * (not even by another cache, nor for the same text kept again after it was
 * replaced). Two requests given the same id have the same skeleton text, so
 * anything computed from the tree alone can be kept under its id
 * (api/net_cache.h does) without this cache knowing what that is. */
uint64_t json_cache_put(json_cache *c, const char *text, size_t len, json_t *root);

/* Requests answered from the cache and parsed, since it was created. */
void json_cache_counts(json_cache *c, unsigned long *hits, unsigned long *misses);

#endif
