/* Decoded and checked network definitions kept for the next request that
 * sends the same skeleton.
 *
 * A request's "network" lies in its skeleton (wire/json_cache.h: the JSON
 * with its tensors taken out), and what request_decode makes of it, the
 * gs_net_def and its layers, depends on that text and the server's limits
 * alone. A client that trains or evaluates one network sends the same
 * skeleton with every request; for the 2-4-1 request, reading the network
 * and checking it (gs_net_def_check) were about a third of request_decode.
 *
 * Entries are keyed by the skeleton cache's id of the tree (codec_ctx's
 * skeleton_id), which names one kept text and is never reused in the
 * process, so an entry cannot be taken for another skeleton's, even after
 * the tree it came from was replaced; and by the limits it was checked
 * against, every member of them (gs_limits_equal). Only definitions that were read without an error and passed the
 * check are kept (request_decode's business): a malformed network is read,
 * and refused, every time, with the same errors.
 *
 * A fixed number of slots (slot = id % slots, a newer id replaces the one
 * there), each holding up to NET_CACHE_MAX_LAYERS layers: the requests whose
 * decoding costs as much as their compute are small. Entries are copied in
 * and out under one mutex (a few hundred bytes), so no reader holds one.
 * Owned by the server, passed to each request in compute_env.nets;
 * thread-safe. */
#ifndef GS_SERVER_NET_CACHE_H
#define GS_SERVER_NET_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "gradserve.h"

#define NET_CACHE_MAX_LAYERS 16

typedef struct net_cache net_cache;

/* A cache of `slots` definitions; NULL when out of memory (a server then
 * reads every network). */
net_cache *net_cache_create(size_t slots);
void net_cache_free(net_cache *c); /* NULL: nothing */

/* The definition kept for skeleton id `skeleton` checked against lim: 1
 * with *def filled and its layers copied into layers[cap] (def->layers
 * points at them); 0 when not kept (c NULL, id 0, another id or other limits
 * in the slot, or more than cap layers), with def and layers unchanged. */
int net_cache_get(net_cache *c, uint64_t skeleton, const gs_limits *lim, gs_net_def *def,
                  gs_layer_def *layers, size_t cap);

/* Keeps a copy of def (and its layers), which gs_net_def_check accepted
 * against lim, for skeleton id `skeleton`, in place of what its slot held.
 * Nothing when c is NULL, the id 0 or def has more than NET_CACHE_MAX_LAYERS
 * layers. */
void net_cache_put(net_cache *c, uint64_t skeleton, const gs_limits *lim, const gs_net_def *def);

/* Requests whose definition came from the cache, and those that read it,
 * since it was created. */
void net_cache_counts(net_cache *c, unsigned long *hits, unsigned long *misses);

#endif
