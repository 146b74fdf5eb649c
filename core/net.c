/* Networks: the parameter and gradient slabs, their layout, and their
 * initialisation from a seeded generator. */
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

gs_net *gs_net_create(const gs_net_def *def, const gs_limits *lim,
                      const gs_allocator *alloc, gs_error *err)
{
    return gs_net_create_ex(def, lim, alloc, 0, err);
}

/* Bytes of n elements of size each, rounded up to 64 (a cache line, and the
 * alignment of every part of a net's blocks); 0 on overflow. */
static size_t part_bytes(size_t n, size_t size)
{
    size_t b;
    if (!gs_mul_ok(n, size, &b) || b > SIZE_MAX - 63) return 0;
    return (b + 63) & ~(size_t)63;
}

gs_net *gs_net_create_ex(const gs_net_def *def, const gs_limits *lim,
                         const gs_allocator *alloc, unsigned flags, gs_error *err)
{
    if (!(flags & GS_NET_DEF_CHECKED) && gs_net_def_check(def, lim, err)) return NULL;
    gs_allocator A = gs_allocator_or_default(alloc);
    size_t L = def->n_layers;

    /* Two blocks: the net and its per-layer tables (one block of a few
     * hundred bytes for a small net, whose request would otherwise pay a
     * malloc and a free for each of seven tables), then the parameter and
     * gradient slabs (big ones are mapped on their own, alloc.c). At most
     * GS_LAYER_TENSORS_MAX tensors and 2 buffers a layer. */
    size_t parts[7] = {part_bytes(1, sizeof(gs_net)),
                       part_bytes(L, sizeof(gs_layer_def)),
                       part_bytes(L, sizeof(gs_layer_geom)),
                       part_bytes(L, GS_LAYER_TENSORS_MAX * sizeof(size_t)),
                       part_bytes(L, GS_LAYER_TENSORS_MAX * sizeof(size_t)),
                       part_bytes(L, 2 * sizeof(size_t)),
                       part_bytes(L, 2 * sizeof(size_t))};
    size_t total = 0;
    for (size_t i = 0; i < 7; i++)
        if ((!parts[i] && L) || !gs_add_ok(total, parts[i], &total)) goto oom;
    char *block = gs_alloc_zero(&A, total);
    gs_net *net = (gs_net *)block;
    if (!net) goto oom;
    net->alloc = A;
    block += parts[0];
    net->layers = (gs_layer_def *)block;
    block += parts[1];
    net->geom = (gs_layer_geom *)block;
    block += parts[2];
    net->offsets = (size_t *)block;
    block += parts[3];
    net->tensor_layer = (size_t *)block;
    block += parts[4];
    net->buffer_offsets = (size_t *)block;
    block += parts[5];
    net->buffer_layer = (size_t *)block;
    memcpy(net->layers, def->layers, L * sizeof *net->layers);
    net->def = *def;
    net->def.layers = net->layers;

    /* Each layer's tensors in turn (dense: w [u, in], b [u]); sizes were
     * checked against overflow by gs_net_def_check, which succeeded on the
     * same definition, so gs_layer_geom_of cannot fail here. */
    gs_shape shape = gs_def_input_shape(def);
    size_t off = 0, t = 0;
    net->max_width = def->inputs;
    for (size_t l = 0; l < L; l++) {
        gs_layer_geom *g = &net->geom[l];
        gs_layer_geom_of(&net->layers[l], l, &shape, NULL, g, NULL);
        g->first_tensor = t;
        for (size_t k = 0; k < g->n_tensors; k++, t++) {
            size_t n = 1;
            for (size_t i = 0; i < g->rank[k]; i++) n *= g->dims[k][i];
            net->offsets[t] = off;
            net->tensor_layer[t] = l;
            off += n;
        }
        if (g->out_n > net->max_width) net->max_width = g->out_n;
        if (g->work > net->max_work) net->max_work = g->work;
        shape = g->out;
    }
    net->n_tensors = t;
    net->n_params = off;
    /* the buffers after the parameters: [C] each, C <= the layer's width */
    for (size_t l = 0, b = 0; l < L; l++) {
        gs_layer_geom *g = &net->geom[l];
        g->first_buffer = b;
        for (size_t k = 0; k < g->n_buffers; k++, b++) {
            net->buffer_offsets[b] = off;
            net->buffer_layer[b] = l;
            off += g->buffer_size;
        }
        net->n_buffers = b;
    }
    net->n_buffer_elems = off - net->n_params;

    /* params [off] then grads [n_params], each zeroed unless flags say not;
     * sizes < max_params * 8, checked */
    size_t es = gs_dtype_size(def->dtype), p_bytes = part_bytes(off, es),
           g_bytes = net->n_params * es;
    char *slabs = gs_alloc(&A, p_bytes + g_bytes);
    if (!slabs) {
        gs_net_free(net);
        goto oom;
    }
    net->params = slabs;
    net->grads = slabs + p_bytes;
    if (!(flags & GS_NET_UNINIT_PARAMS)) memset(net->params, 0, off * es);
    if (!(flags & GS_NET_UNINIT_GRADS)) memset(net->grads, 0, g_bytes);
    return net;

oom:
    gs_fail(err, GS_ENOMEM, "", "out of memory allocating the network");
    return NULL;
}

void gs_net_free(gs_net *net)
{
    if (!net) return;
    gs_allocator A = net->alloc;
    gs_free(&A, net->params); /* and the grads after them */
    gs_free(&A, net);         /* and its tables after it */
}

const gs_net_def *gs_net_def_of(const gs_net *net) { return &net->def; }
size_t gs_net_param_count(const gs_net *net) { return net->n_params; }
size_t gs_net_max_width(const gs_net *net) { return net->max_width; }
void *gs_net_params(gs_net *net) { return net->params; }
void *gs_net_grads(gs_net *net) { return net->grads; }
size_t gs_net_weight_offset(const gs_net *net, size_t layer)
{
    return net->offsets[net->geom[layer].first_tensor];
}
size_t gs_net_bias_offset(const gs_net *net, size_t layer)
{
    return net->offsets[net->geom[layer].first_tensor + 1];
}

size_t gs_net_outputs(const gs_net *net)
{
    return net->geom[net->def.n_layers - 1].out_n;
}

gs_shape gs_net_input_shape(const gs_net *net) { return net->geom[0].in; }
gs_shape gs_net_layer_shape(const gs_net *net, size_t layer) { return net->geom[layer].out; }

size_t gs_net_tensor_count(const gs_net *net) { return net->n_tensors; }
size_t gs_net_buffer_count(const gs_net *net) { return net->n_buffers; }

size_t gs_net_layer_buffers(const gs_net *net, size_t layer, size_t *first)
{
    if (first) *first = net->geom[layer].first_buffer;
    return net->geom[layer].n_buffers;
}

const char *gs_net_buffer_name(const gs_net *net, size_t b)
{
    size_t l = net->buffer_layer[b];
    return gs_layer_kinds[net->layers[l].type].buffer_names[b - net->geom[l].first_buffer];
}

size_t gs_net_buffer_layer(const gs_net *net, size_t b) { return net->buffer_layer[b]; }
size_t gs_net_buffer_offset(const gs_net *net, size_t b) { return net->buffer_offsets[b]; }
size_t gs_net_buffer_size(const gs_net *net, size_t b)
{
    return net->geom[net->buffer_layer[b]].buffer_size;
}

size_t gs_net_layer_tensors(const gs_net *net, size_t layer, size_t *first)
{
    if (first) *first = net->geom[layer].first_tensor;
    return net->geom[layer].n_tensors;
}

size_t gs_net_tensor_layer(const gs_net *net, size_t t) { return net->tensor_layer[t]; }
size_t gs_net_tensor_offset(const gs_net *net, size_t t) { return net->offsets[t]; }

size_t gs_net_tensor_size(const gs_net *net, size_t t)
{
    size_t end = t + 1 < net->n_tensors ? net->offsets[t + 1] : net->n_params;
    return end - net->offsets[t];
}

const char *gs_net_tensor_name(const gs_net *net, size_t t)
{
    size_t l = net->tensor_layer[t];
    return gs_layer_kinds[net->layers[l].type].tensor_names[t - net->geom[l].first_tensor];
}

size_t gs_net_tensor_dims(const gs_net *net, size_t t, size_t dims[4])
{
    const gs_layer_geom *g = &net->geom[net->tensor_layer[t]];
    size_t k = t - g->first_tensor;
    for (size_t i = 0; i < g->rank[k]; i++) dims[i] = g->dims[k][i];
    return g->rank[k];
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

/* Per layer with parameters: tensor 0 (the weight) from the scheme with
 * torch's fan_in and fan_out for the type, tensor 1 (the bias) from
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for torch_default, else zeros; drawn
 * in slab order. A norm's weight is 1 and its bias 0 whatever the scheme
 * (torch's), drawing nothing. */
void gs_net_init_params(gs_net *net, gs_init_scheme scheme, uint64_t seed)
{
    gs_rng rng;
    gs_rng_seed(&rng, seed);
    for (size_t l = 0; l < net->def.n_layers; l++) {
        const gs_layer_geom *g = &net->geom[l];
        if (g->n_tensors == 0) continue;
        size_t w = net->offsets[g->first_tensor], b = net->offsets[g->first_tensor + 1];
        size_t n_w = b - w, n_b = gs_net_tensor_size(net, g->first_tensor + 1);
        if (gs_layer_kinds[net->layers[l].type].unit_init) { /* torch's norms: no draws */
            for (size_t i = 0; i < n_w; i++) put(net, w + i, 1.0);
            for (size_t i = 0; i < n_b; i++) put(net, b + i, 0.0);
            continue;
        }
        double in = (double)g->fan_in, out = (double)g->fan_out, bound_b = 0, scale = 0;
        int normal = 0;
        switch (scheme) {
        case GS_INIT_TORCH_DEFAULT: scale = bound_b = 1.0 / sqrt(in); break;
        case GS_INIT_XAVIER_UNIFORM: scale = sqrt(6.0 / (in + out)); break;
        case GS_INIT_XAVIER_NORMAL: scale = sqrt(2.0 / (in + out)); normal = 1; break;
        case GS_INIT_KAIMING_UNIFORM: scale = sqrt(6.0 / in); break;
        case GS_INIT_KAIMING_NORMAL: scale = sqrt(2.0 / in); normal = 1; break;
        default: break; /* zeros */
        }
        for (size_t i = 0; i < n_w; i++)
            put(net, w + i,
                scale == 0 ? 0.0
                : normal   ? scale * gs_rng_normal(&rng)
                           : scale * (2.0 * gs_rng_uniform(&rng) - 1.0));
        for (size_t i = 0; i < n_b; i++)
            put(net, b + i, bound_b == 0 ? 0.0 : bound_b * (2.0 * gs_rng_uniform(&rng) - 1.0));
    }
    gs_net_reset_buffers(net);
}

/* running_mean 0, running_var 1 (torch's). */
void gs_net_reset_buffers(gs_net *net)
{
    for (size_t b = 0; b < net->n_buffers; b++) {
        double v = strcmp(gs_net_buffer_name(net, b), "running_var") == 0 ? 1.0 : 0.0;
        for (size_t i = 0; i < gs_net_buffer_size(net, b); i++) put(net, net->buffer_offsets[b] + i, v);
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
