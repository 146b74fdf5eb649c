/* Optimizers: torch.optim's SGD, Adam, AdamW and RMSprop over the flat
 * parameter slab, with clipping by global norm and exportable state. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

#define PER_DTYPE_IMPL "optim_impl.h"
#include "per_dtype.h"

static const char *const optim_names[GS_OPT_COUNT] = {"sgd", "adam", "adamw", "rmsprop"};

const char *gs_optim_name(gs_optim_kind k)
{
    return (unsigned)k < GS_OPT_COUNT ? optim_names[k] : NULL;
}

int gs_optim_from_name(const char *name)
{
    for (int i = 0; name && i < GS_OPT_COUNT; i++)
        if (strcmp(optim_names[i], name) == 0) return i;
    return -1;
}

void gs_optim_defaults(gs_optim_def *def, gs_optim_kind kind)
{
    memset(def, 0, sizeof *def);
    def->kind = kind;
    def->beta1 = 0.9;
    def->beta2 = 0.999;
    def->alpha = 0.99;
    def->eps = 1e-8;
    switch (kind) {
    case GS_OPT_SGD: def->lr = 1e-3; break;
    case GS_OPT_ADAM: def->lr = 1e-3; break;
    case GS_OPT_ADAMW: def->lr = 1e-3; def->weight_decay = 0.01; break;
    case GS_OPT_RMSPROP: def->lr = 1e-2; break;
    default: break;
    }
}

static int nonneg(double x) { return isfinite(x) && x >= 0; }
static int unit_interval(double x) { return isfinite(x) && x >= 0 && x < 1; }

gs_status gs_optim_def_check(const gs_optim_def *o, gs_error *err)
{
    gs_error_clear(err);
    if ((unsigned)o->kind >= GS_OPT_COUNT) return gs_fail(err, GS_EINVAL, "name", "unknown optimizer");
    if (!nonneg(o->lr)) return gs_fail(err, GS_EINVAL, "lr", "must be a finite number >= 0");
    if (!nonneg(o->weight_decay))
        return gs_fail(err, GS_EINVAL, "weight_decay", "must be a finite number >= 0");
    if (!nonneg(o->max_grad_norm))
        return gs_fail(err, GS_EINVAL, "max_grad_norm", "must be a finite number >= 0 (0: off)");
    switch (o->kind) {
    case GS_OPT_SGD:
        if (!nonneg(o->momentum)) return gs_fail(err, GS_EINVAL, "momentum", "must be >= 0");
        if (!(isfinite(o->dampening) && o->dampening >= 0 && o->dampening <= 1))
            return gs_fail(err, GS_EINVAL, "dampening", "must be in [0, 1]");
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
            return gs_fail(err, GS_EINVAL, "nesterov",
                           "needs a momentum > 0 and zero dampening (as torch)");
        break;
    case GS_OPT_ADAM:
    case GS_OPT_ADAMW:
        if (!unit_interval(o->beta1)) return gs_fail(err, GS_EINVAL, "betas/0", "must be in [0, 1)");
        if (!unit_interval(o->beta2)) return gs_fail(err, GS_EINVAL, "betas/1", "must be in [0, 1)");
        if (!nonneg(o->eps)) return gs_fail(err, GS_EINVAL, "eps", "must be a finite number >= 0");
        break;
    case GS_OPT_RMSPROP:
        if (!(isfinite(o->alpha) && o->alpha >= 0 && o->alpha <= 1))
            return gs_fail(err, GS_EINVAL, "alpha", "must be in [0, 1]");
        if (!nonneg(o->eps)) return gs_fail(err, GS_EINVAL, "eps", "must be a finite number >= 0");
        if (!nonneg(o->momentum)) return gs_fail(err, GS_EINVAL, "momentum", "must be >= 0");
        break;
    default:
        break;
    }
    return GS_OK;
}

/* The state buffers an optimizer keeps, in torch's names; slots 0..2 match
 * s0..s2 of optim_update (a NULL name: the slot is unused). */
static void state_layout(const gs_optim_def *o, const char *names[GS_OPTIM_MAX_STATE])
{
    for (size_t i = 0; i < GS_OPTIM_MAX_STATE; i++) names[i] = NULL;
    switch (o->kind) {
    case GS_OPT_SGD:
        if (o->momentum != 0) names[0] = "momentum_buffer";
        break;
    case GS_OPT_ADAM:
    case GS_OPT_ADAMW:
        names[0] = "exp_avg";
        names[1] = "exp_avg_sq";
        if (o->amsgrad) names[2] = "max_exp_avg_sq";
        break;
    case GS_OPT_RMSPROP:
        names[0] = "square_avg";
        if (o->momentum > 0) names[1] = "momentum_buffer";
        if (o->centered) names[2] = "grad_avg";
        break;
    default:
        break;
    }
}

/* The slots of a state_layout in use. */
static size_t used_slots(const char *const names[GS_OPTIM_MAX_STATE])
{
    size_t n = 0;
    for (int i = 0; i < GS_OPTIM_MAX_STATE; i++) n += names[i] != NULL;
    return n;
}

gs_optim *gs_optim_create(const gs_net *net, const gs_optim_def *def, gs_error *err)
{
    if (gs_optim_def_check(def, err)) return NULL;
    gs_allocator A = net->alloc;
    gs_optim *o = gs_alloc_zero(&A, sizeof *o);
    if (!o) goto oom;
    o->alloc = A;
    o->def = *def;
    o->dtype = net->def.dtype;
    o->n_params = net->n_params;
    state_layout(def, o->state_names);
    o->n_state = used_slots(o->state_names);
    /* n_params * 8 bytes fits (the slabs exist); three of them may not. */
    size_t bytes;
    if (!gs_mul_ok(o->n_state * gs_dtype_size(o->dtype), o->n_params, &bytes)) goto oom;
    o->state = gs_alloc_zero(&A, bytes);
    if (!o->state) goto oom;
    return o;
oom:
    gs_optim_free(o);
    gs_fail(err, GS_ENOMEM, "", "out of memory allocating the optimizer state");
    return NULL;
}

void gs_optim_free(gs_optim *opt)
{
    if (!opt) return;
    gs_allocator A = opt->alloc;
    gs_free(&A, opt->state);
    gs_free(&A, opt);
}

/* Slot s's buffer: the used slots are packed in slot order; NULL if unused. */
static void *slot(gs_optim *o, int s)
{
    if (!o->state_names[s]) return NULL;
    size_t pos = 0;
    for (int k = 0; k < s; k++) pos += o->state_names[k] != NULL;
    return (char *)o->state + pos * o->n_params * gs_dtype_size(o->dtype);
}

gs_status gs_optim_step(gs_optim *opt, gs_net *net, double *grad_norm, gs_error *err)
{
    gs_error_clear(err);
    if (net->n_params != opt->n_params || net->def.dtype != opt->dtype)
        return gs_fail(err, GS_EINVAL, "", "the optimizer was created for another network");
    size_t t = opt->steps + 1, n = opt->n_params;
    int f64 = opt->dtype == GS_FLOAT64;
    double norm = f64 ? grad_norm_clip_f64(net->grads, n, opt->def.max_grad_norm)
                      : grad_norm_clip_f32(net->grads, n, opt->def.max_grad_norm);
    if (grad_norm) *grad_norm = norm;
    /* A non-finite gradient would poison every parameter it touches: refuse. */
    if (!isfinite(norm))
        return gs_fail(err, GS_EDIVERGED, "", "the gradient is not finite (norm %g)", norm);
    if (f64)
        optim_update_f64(&opt->def, t, net->params, net->grads, slot(opt, 0), slot(opt, 1),
                         slot(opt, 2), n);
    else
        optim_update_f32(&opt->def, t, net->params, net->grads, slot(opt, 0), slot(opt, 1),
                         slot(opt, 2), n);
    opt->steps = t;
    return GS_OK;
}

size_t gs_optim_steps(const gs_optim *opt) { return opt->steps; }
void gs_optim_set_steps(gs_optim *opt, size_t steps) { opt->steps = steps; }
size_t gs_optim_state_count(const gs_optim *opt) { return opt->n_state; }

size_t gs_optim_def_state_count(const gs_optim_def *def)
{
    const char *names[GS_OPTIM_MAX_STATE];
    state_layout(def, names);
    return used_slots(names);
}

/* The i-th used slot, in slot order. */
static int used_slot(const gs_optim *opt, size_t i)
{
    for (int s = 0; s < GS_OPTIM_MAX_STATE; s++)
        if (opt->state_names[s] && i-- == 0) return s;
    return -1;
}

const char *gs_optim_state_name(const gs_optim *opt, size_t i)
{
    int s = used_slot(opt, i);
    return s < 0 ? NULL : opt->state_names[s];
}

void *gs_optim_state(gs_optim *opt, size_t i)
{
    int s = used_slot(opt, i);
    return s < 0 ? NULL : slot(opt, s);
}
