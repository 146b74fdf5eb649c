#include "api/net_cache.h"

#include <pthread.h>
#include <string.h>

#include "alloc.h"

typedef struct {
    uint64_t skeleton; /* 0: the slot is empty */
    gs_limits lim;
    gs_net_def def; /* def.layers unused: the layers are below */
    gs_layer_def layers[NET_CACHE_MAX_LAYERS];
} net_slot;

struct net_cache {
    pthread_mutex_t mu; /* guards slots and the counts; held for a copy */
    net_slot *slots;
    size_t n_slots;
    unsigned long hits, misses;
};

net_cache *net_cache_create(size_t slots)
{
    net_cache *c = srv_calloc(1, sizeof *c);
    if (!c || !slots || !(c->slots = srv_calloc(slots, sizeof *c->slots))) {
        srv_free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->n_slots = slots;
    return c;
}

void net_cache_free(net_cache *c)
{
    if (!c) return;
    pthread_mutex_destroy(&c->mu);
    srv_free(c->slots);
    srv_free(c);
}

int net_cache_get(net_cache *c, uint64_t skeleton, const gs_limits *lim, gs_net_def *def,
                  gs_layer_def *layers, size_t cap)
{
    if (!c || !skeleton) return 0;
    int hit = 0;
    pthread_mutex_lock(&c->mu);
    const net_slot *s = &c->slots[skeleton % c->n_slots];
    if (s->skeleton == skeleton && gs_limits_equal(&s->lim, lim) && s->def.n_layers <= cap) {
        *def = s->def;
        memcpy(layers, s->layers, s->def.n_layers * sizeof *layers);
        def->layers = layers;
        hit = 1;
    }
    if (hit) c->hits++;
    else c->misses++;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void net_cache_put(net_cache *c, uint64_t skeleton, const gs_limits *lim, const gs_net_def *def)
{
    if (!c || !skeleton || def->n_layers > NET_CACHE_MAX_LAYERS) return;
    pthread_mutex_lock(&c->mu);
    net_slot *s = &c->slots[skeleton % c->n_slots];
    s->skeleton = skeleton;
    s->lim = *lim;
    s->def = *def;
    s->def.layers = NULL;
    memcpy(s->layers, def->layers, def->n_layers * sizeof *s->layers);
    pthread_mutex_unlock(&c->mu);
}

void net_cache_counts(net_cache *c, unsigned long *hits, unsigned long *misses)
{
    pthread_mutex_lock(&c->mu);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->mu);
}
