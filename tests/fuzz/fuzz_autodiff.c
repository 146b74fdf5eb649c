/* libFuzzer harness for the expression parser and the sweeps over its tape.
 *
 * Build and run from the repository root (clang's libFuzzer, ASan, UBSan):
 *
 *   mkdir -p build/fuzz && clang -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -Icore \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -fno-omit-frame-pointer -o build/fuzz/fuzz_autodiff \
 *     tests/fuzz/fuzz_autodiff.c core/autodiff.c core/def.c -lm
 *   mkdir -p build/fuzz/corpus-autodiff      # the working corpus, which grows
 *   cp tests/fuzz/corpus/autodiff/seed* build/fuzz/corpus-autodiff
 *   build/fuzz/fuzz_autodiff -max_total_time=120 -max_len=2048 \
 *     -dict=tests/fuzz/autodiff.dict build/fuzz/corpus-autodiff
 *
 * The input is the expression itself. Every expression is parsed under
 * limits (and, once in a while, with allocations failing) and, when it
 * parses, evaluated at three points. Beyond the sanitizers' findings the
 * harness aborts when an invariant of the API breaks: an error without a
 * message, kind or valid position; a tape that is not topologically ordered;
 * a non-finite result after success; reverse and forward mode disagreeing
 * beyond rounding; a leaked allocation.
 */
#include "gradserve_autodiff.h"
#include "../lib/counting_alloc.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)                                                                  \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__);      \
            abort();                                                                \
        }                                                                           \
    } while (0)

#define MAX_NODES 512


static void check_error(const gs_ad_error *e, size_t len)
{
    REQUIRE(e->base.status != GS_OK && e->base.message[0]);
    switch (e->kind) {
    case GS_AD_ERR_SYNTAX:
        REQUIRE(e->base.status == GS_EINVAL && e->position <= len && e->node == GS_AD_NONE);
        REQUIRE(strcmp(e->base.field, "expression") == 0);
        break;
    case GS_AD_ERR_LIMIT:
        REQUIRE(e->base.status == GS_ELIMIT && e->position <= len && e->limit);
        break;
    case GS_AD_ERR_NOMEM: REQUIRE(e->base.status == GS_ENOMEM); break;
    default: REQUIRE(0);
    }
}

/* |d out / d node| summed over every path with |partials|: the scale the two
 * modes' rounding errors are measured against. Written into mag[n]. */
static void magnitudes(const gs_ad_tape *t, double *mag)
{
    size_t n = gs_ad_node_count(t);
    const gs_ad_node *d = gs_ad_nodes(t);
    for (size_t i = 0; i < n; i++) mag[i] = 0;
    mag[n - 1] = 1;
    for (size_t i = n; i-- > 0;)
        for (size_t k = 0; k < d[i].n_in; k++)
            if (d[d[i].in[k]].depends) mag[d[i].in[k]] += mag[i] * fabs(d[i].partial[k]);
}

static int well_scaled(double x)
{
    return x == 0 || (fabs(x) >= 1e-100 && fabs(x) <= 1e100);
}

static void check_eval(gs_ad_tape *t, const double *values, const char *const *names,
                       size_t nv, size_t len, double *mag)
{
    gs_ad_error err;
    gs_status st = gs_ad_eval(t, nv, names, values, &err);
    size_t n = gs_ad_node_count(t);
    const gs_ad_node *d = gs_ad_nodes(t);
    if (st != GS_OK) {
        REQUIRE(err.base.message[0] && err.base.status == st);
        REQUIRE(err.kind == GS_AD_ERR_DOMAIN && st == GS_EINVAL);
        REQUIRE(err.node < n && err.position == d[err.node].pos && err.position < len);
        REQUIRE(isnan(gs_ad_value(t)) && gs_ad_event_count(t) == 0);
        return;
    }
    REQUIRE(isfinite(gs_ad_value(t)));
    int scaled = 1; /* every number in 0 or [1e-100, 1e100]: nothing under- or overflows */
    for (size_t i = 0; i < n; i++) {
        REQUIRE(isfinite(d[i].value) && isfinite(d[i].adjoint));
        scaled &= well_scaled(d[i].value) && well_scaled(d[i].adjoint);
        for (size_t k = 0; k < d[i].n_in; k++) {
            REQUIRE(d[i].has_partial[k] ? isfinite(d[i].partial[k])
                                        : !d[d[i].in[k]].depends && isnan(d[i].partial[k]));
            scaled &= !d[i].has_partial[k] || well_scaled(d[i].partial[k]);
        }
    }
    size_t ne = gs_ad_event_count(t);
    const gs_ad_event *e = gs_ad_events(t);
    REQUIRE(ne <= 2 * n + 1);
    for (size_t k = 0; k < ne; k++) {
        REQUIRE(e[k].node < n && isfinite(e[k].adjoint));
        REQUIRE(k == 0 ? e[k].from == GS_AD_NONE : e[k].from < n && e[k].node < e[k].from);
        if (k > 0) REQUIRE(e[k].from <= e[k - 1].from || e[k - 1].from == GS_AD_NONE);
    }
    magnitudes(t, mag);
    for (size_t v = 0; v < gs_ad_var_count(t); v++) {
        double g = gs_ad_gradient(t)[v], f = gs_ad_forward_gradient(t)[v];
        size_t node = gs_ad_var_node(t, v);
        REQUIRE(isfinite(g) && isfinite(f) && g == d[node].adjoint);
        /* Both modes sum the same path products, in different orders: they
         * agree to rounding relative to the sum of their magnitudes, unless
         * an intermediate product left the range of doubles (reverse mode's
         * -a/b^2 can underflow where forward mode's (a' - v b')/b does not). */
        double m = mag[node];
        if (scaled && isfinite(m)) REQUIRE(fabs(g - f) <= 1e-9 * m + 1e-250);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    gs_ad_limits lim = {.max_length = 1024, .max_depth = 64, .max_nodes = MAX_NODES,
                        .max_vars = 16};
    /* One input in eight also runs with its k-th allocation failing. */
    counting c = {.fail_at = size % 8 == 7 ? (long)(size / 8 % 6) : -1};
    gs_allocator A = {counting_malloc, counting_free, &c};
    gs_ad_error err;
    gs_ad_tape *t = gs_ad_parse(s, size, &lim, &A, &err);
    if (!t) {
        check_error(&err, size);
        REQUIRE(c.live == 0);
        return 0;
    }
    size_t n = gs_ad_node_count(t), nv = gs_ad_var_count(t);
    REQUIRE(n >= 1 && n <= lim.max_nodes && nv <= lim.max_vars && n <= size);
    const gs_ad_node *d = gs_ad_nodes(t);
    for (size_t i = 0; i < n; i++) {
        REQUIRE((unsigned)d[i].op < GS_AD_OP_COUNT && d[i].n_in <= 2);
        REQUIRE(d[i].begin <= d[i].pos && d[i].pos < d[i].end && d[i].end <= size);
        int dep = d[i].op == GS_AD_VAR;
        for (size_t k = 0; k < d[i].n_in; k++) {
            REQUIRE(d[i].in[k] < i);
            dep |= d[d[i].in[k]].depends;
        }
        REQUIRE(dep == d[i].depends);
    }
    const char *names[16];
    double values[16], mag[MAX_NODES];
    for (size_t v = 0; v < nv; v++) {
        names[v] = gs_ad_var_name(t, v);
        REQUIRE(gs_ad_var_find(t, names[v], strlen(names[v])) == v);
        REQUIRE(d[gs_ad_var_node(t, v)].op == GS_AD_VAR && d[gs_ad_var_node(t, v)].var == v);
    }
    static const double base[3] = {0.7, -1.3, 0}, step[3] = {0.1, -0.2, 0};
    for (int p = 0; p < 3; p++) {
        for (size_t v = 0; v < nv; v++) values[v] = base[p] + step[p] * (double)v;
        check_eval(t, values, names, nv, size, mag);
    }
    gs_ad_free(t);
    REQUIRE(c.live == 0);
    return 0;
}
