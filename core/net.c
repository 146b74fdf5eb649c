/* Networks: the parameter and gradient slabs, their layout, and their
 * initialisation from a seeded generator. */
#include "internal.h"

#include <math.h>
#include <string.h>

gs_net *gs_net_create(const gs_net_def *def, const gs_limits *lim,
                      const gs_allocator *alloc, gs_error *err)
{
    return gs_net_create_ex(def, lim, alloc, 0, err);
}

gs_net *gs_net_create_ex(const gs_net_def *def, const gs_limits *lim,
                         const gs_allocator *alloc, unsigned flags, gs_error *err)
{
    if (gs_net_def_check(def, lim, err)) return NULL;
    gs_allocator A = gs_allocator_or_default(alloc);
    size_t L = def->n_layers;

    gs_net *net = gs_alloc_zero(&A, sizeof *net);
    if (!net) goto oom;
    net->alloc = A;
    net->layers = gs_alloc(&A, L * sizeof *net->layers);
    net->offsets = gs_alloc(&A, 2 * L * sizeof *net->offsets);
    if (!net->layers || !net->offsets) goto oom;
    memcpy(net->layers, def->layers, L * sizeof *net->layers);
    net->def = *def;
    net->def.layers = net->layers;

    /* w0 [u0, inputs], b0 [u0], w1 [u1, u0], b1 [u1], ...: sizes were checked
     * against overflow by gs_net_def_check. */
    size_t off = 0, fan_in = def->inputs;
    net->max_width = def->inputs;
    for (size_t l = 0; l < L; l++) {
        size_t out = def->layers[l].units;
        net->offsets[2 * l] = off;
        off += out * fan_in;
        net->offsets[2 * l + 1] = off;
        off += out;
        fan_in = out;
        if (out > net->max_width) net->max_width = out;
    }
    net->n_params = off;

    size_t bytes = off * gs_dtype_size(def->dtype); /* < max_params * 8, checked */
    net->params = flags & GS_NET_UNINIT_PARAMS ? gs_alloc(&A, bytes) : gs_alloc_zero(&A, bytes);
    net->grads = flags & GS_NET_UNINIT_GRADS ? gs_alloc(&A, bytes) : gs_alloc_zero(&A, bytes);
    if (!net->params || !net->grads) goto oom;
    return net;

oom:
    gs_net_free(net);
    gs_fail(err, GS_ENOMEM, "", "out of memory allocating the network");
    return NULL;
}

void gs_net_free(gs_net *net)
{
    if (!net) return;
    gs_allocator A = net->alloc;
    gs_free(&A, net->params);
    gs_free(&A, net->grads);
    gs_free(&A, net->layers);
    gs_free(&A, net->offsets);
    gs_free(&A, net);
}

const gs_net_def *gs_net_def_of(const gs_net *net) { return &net->def; }
size_t gs_net_param_count(const gs_net *net) { return net->n_params; }
size_t gs_net_max_width(const gs_net *net) { return net->max_width; }
void *gs_net_params(gs_net *net) { return net->params; }
void *gs_net_grads(gs_net *net) { return net->grads; }
size_t gs_net_weight_offset(const gs_net *net, size_t layer) { return net->offsets[2 * layer]; }
size_t gs_net_bias_offset(const gs_net *net, size_t layer) { return net->offsets[2 * layer + 1]; }

size_t gs_net_outputs(const gs_net *net)
{
    return net->def.layers[net->def.n_layers - 1].units;
}

/* Copy n elements between dtypes (same dtype: memcpy). */
static void convert(void *dst, gs_dtype dt, const void *src, gs_dtype st, size_t n)
{
    if (dt == st) {
        memcpy(dst, src, n * gs_dtype_size(dt));
    } else if (dt == GS_FLOAT64) {
        const float *s = src;
        double *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = s[i];
    } else {
        const double *s = src;
        float *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = (float)s[i];
    }
}

void gs_net_set_params(gs_net *net, const void *src, gs_dtype src_dtype)
{
    convert(net->params, net->def.dtype, src, src_dtype, net->n_params);
}

void gs_net_get_params(const gs_net *net, void *dst, gs_dtype dst_dtype)
{
    convert(dst, dst_dtype, net->params, net->def.dtype, net->n_params);
}

/* ---- initialisation --------------------------------------------------------- */

static const char *const init_names[GS_INIT_COUNT] = {
    "torch_default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "zeros",
};

const char *gs_init_name(gs_init_scheme s)
{
    return (unsigned)s < GS_INIT_COUNT ? init_names[s] : NULL;
}

int gs_init_from_name(const char *name)
{
    for (int i = 0; name && i < GS_INIT_COUNT; i++)
        if (strcmp(init_names[i], name) == 0) return i;
    return -1;
}

static void put(gs_net *net, size_t i, double v)
{
    if (net->def.dtype == GS_FLOAT64)
        ((double *)net->params)[i] = v;
    else
        ((float *)net->params)[i] = (float)v;
}

void gs_net_init_params(gs_net *net, gs_init_scheme scheme, uint64_t seed)
{
    gs_rng rng;
    gs_rng_seed(&rng, seed);
    size_t fan_in = net->def.inputs;
    for (size_t l = 0; l < net->def.n_layers; l++) {
        size_t out = net->def.layers[l].units;
        size_t w = net->offsets[2 * l], b = net->offsets[2 * l + 1];
        double in = (double)fan_in, bound_b = 0, scale = 0;
        int normal = 0;
        switch (scheme) {
        case GS_INIT_TORCH_DEFAULT: scale = bound_b = 1.0 / sqrt(in); break;
        case GS_INIT_XAVIER_UNIFORM: scale = sqrt(6.0 / (in + out)); break;
        case GS_INIT_XAVIER_NORMAL: scale = sqrt(2.0 / (in + out)); normal = 1; break;
        case GS_INIT_KAIMING_UNIFORM: scale = sqrt(6.0 / in); break;
        case GS_INIT_KAIMING_NORMAL: scale = sqrt(2.0 / in); normal = 1; break;
        default: break; /* zeros */
        }
        for (size_t i = 0; i < out * fan_in; i++)
            put(net, w + i,
                scale == 0 ? 0.0
                : normal   ? scale * gs_rng_normal(&rng)
                           : scale * (2.0 * gs_rng_uniform(&rng) - 1.0));
        for (size_t i = 0; i < out; i++)
            put(net, b + i, bound_b == 0 ? 0.0 : bound_b * (2.0 * gs_rng_uniform(&rng) - 1.0));
        fan_in = out;
    }
}

/* ---- the generator: SplitMix64 seeding xoshiro256** ----------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gs_rng_seed(gs_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gs_rng_next(gs_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double gs_rng_uniform(gs_rng *r)
{
    return (double)(gs_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller, one normal per call (the second is discarded, so the sequence
 * does not depend on hidden state beyond s[4]). */
double gs_rng_normal(gs_rng *r)
{
    double u1 = 1.0 - gs_rng_uniform(r); /* (0, 1]: log stays finite */
    double u2 = gs_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}
