/* One optimizer update, written once and instantiated per dtype by
 * core/optim.c through core/per_dtype.h (REAL, SFX). The rules are
 * torch.optim's single-tensor ones (torch 1.13), operation for operation, so
 * trajectories agree step by step:
 *   sgd:     g += wd p; buf = t>1 ? mu buf + (1-damp) g : g;
 *            g = nesterov ? g + mu buf : buf; p -= lr g
 *   adam(w): adamw: p *= 1 - lr wd; adam: g += wd p;
 *            m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; (amsgrad: vmax = max(vmax, v))
 *            p -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   rmsprop: g += wd p; s = a s + (1-a) g^2; (centered: ga = a ga + (1-a) g, s' = s - ga^2)
 *            d = sqrt(s') + eps; momentum: buf = mu buf + g/d, p -= lr buf; else p -= lr g/d
 * t is the step number counting this one (1 on the first update). */
static void SFX(optim_update)(const gs_optim_def *o, size_t t, REAL *p, const REAL *grad,
                              REAL *s0, REAL *s1, REAL *s2, size_t n)
{
    REAL lr = (REAL)o->lr, wd = (REAL)o->weight_decay, mu = (REAL)o->momentum;
    switch (o->kind) {
    case GS_OPT_SGD: {
        REAL damp = (REAL)(1 - o->dampening);
        for (size_t i = 0; i < n; i++) {
            REAL g = grad[i];
            if (wd != 0) g = g + wd * p[i];
            if (mu != 0) {
                s0[i] = t == 1 ? g : s0[i] * mu + damp * g;
                g = o->nesterov ? g + mu * s0[i] : s0[i];
            }
            p[i] = p[i] - lr * g;
        }
        break;
    }
    case GS_OPT_ADAM:
    case GS_OPT_ADAMW: {
        REAL b1 = (REAL)o->beta1, b2 = (REAL)o->beta2, eps = (REAL)o->eps;
        REAL c1 = (REAL)(1 - o->beta1), c2 = (REAL)(1 - o->beta2);
        double bc1 = 1 - pow(o->beta1, (double)t), bc2 = 1 - pow(o->beta2, (double)t);
        REAL step_size = (REAL)(o->lr / bc1), bc2_sqrt = (REAL)sqrt(bc2);
        REAL decay = (REAL)(1 - o->lr * o->weight_decay);
        int adamw = o->kind == GS_OPT_ADAMW;
        for (size_t i = 0; i < n; i++) {
            REAL g = grad[i];
            if (adamw) p[i] = p[i] * decay;
            else if (wd != 0) g = g + wd * p[i];
            s0[i] = s0[i] * b1 + c1 * g;
            s1[i] = s1[i] * b2 + c2 * g * g;
            REAL v = s1[i];
            if (o->amsgrad) v = s2[i] = s2[i] > v ? s2[i] : v;
            REAL denom = sqrt(v) / bc2_sqrt + eps;
            p[i] = p[i] + -step_size * (s0[i] / denom);
        }
        break;
    }
    case GS_OPT_RMSPROP: {
        REAL a = (REAL)o->alpha, c = (REAL)(1 - o->alpha), eps = (REAL)o->eps;
        for (size_t i = 0; i < n; i++) {
            REAL g = grad[i];
            if (wd != 0) g = g + wd * p[i];
            s0[i] = s0[i] * a + c * g * g;
            REAL avg;
            if (o->centered) {
                s2[i] = s2[i] * a + c * g;
                avg = sqrt(s0[i] + -1 * s2[i] * s2[i]) + eps;
            } else {
                avg = sqrt(s0[i]) + eps;
            }
            if (mu > 0) {
                s1[i] = s1[i] * mu + g / avg;
                p[i] = p[i] + -lr * s1[i];
            } else {
                p[i] = p[i] + -lr * (g / avg);
            }
        }
        break;
    }
    default:
        break;
    }
}

/* Global L2 norm of the gradients, in double; clip them to max_norm as
 * torch.nn.utils.clip_grad_norm_ does (coef = max / (norm + 1e-6), if < 1). */
static double SFX(grad_norm_clip)(REAL *g, size_t n, double max_norm)
{
    double sq = 0;
    for (size_t i = 0; i < n; i++) sq += (double)g[i] * g[i];
    double norm = sqrt(sq);
    if (max_norm > 0 && isfinite(norm)) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1)
            for (size_t i = 0; i < n; i++) g[i] = g[i] * (REAL)coef;
    }
    return norm;
}
