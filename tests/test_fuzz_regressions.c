/* Replays the fuzzers' inputs in the ordinary test build (and under
 * SANITIZE=1, ASan + UBSan): every crash a fuzzer found, kept in
 * tests/fuzz/regressions/<harness>/, and the seed corpora. Request inputs go
 * through the same code and invariants as fuzz_request and fuzz_compute
 * (tests/fuzz/fuzz_common.h); autodiff inputs through the parser and the
 * sweeps. The seeds are real requests: those named as valid must answer 200. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define FUZZ_REQUIRE(c) CHECK(c, "%s: invariant broken", fuzz_current)
static const char *fuzz_current = "";

#include "fuzz/fuzz_common.h"
#include "gradserve_autodiff.h"

typedef struct {
    char path[512];
    unsigned char *data;
    size_t size;
} input;

/* The files of dir (sorted by name), read whole. */
static size_t read_dir(const char *dir, input **out)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    size_t k = 0;
    *out = NULL;
    if (n < 0) return 0;
    *out = calloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++) {
        input *in = &(*out)[k];
        if (names[i]->d_name[0] != '.') {
            snprintf(in->path, sizeof in->path, "%s/%s", dir, names[i]->d_name);
            FILE *f = fopen(in->path, "rb");
            if (f) {
                fseek(f, 0, SEEK_END);
                long len = ftell(f);
                fseek(f, 0, SEEK_SET);
                in->data = malloc(len > 0 ? (size_t)len : 1);
                in->size = fread(in->data, 1, len > 0 ? (size_t)len : 0, f);
                fclose(f);
                k++;
            }
        }
        free(names[i]);
    }
    free(names);
    return k;
}

static void free_inputs(input *in, size_t n)
{
    for (size_t i = 0; i < n; i++) free(in[i].data);
    free(in);
}

static size_t replay_requests(const char *dir)
{
    input *in;
    size_t n = read_dir(dir, &in);
    for (size_t i = 0; i < n; i++) {
        fuzz_current = in[i].path;
        fuzz_decode_one(in[i].data, in[i].size);
        fuzz_compute_one(in[i].data, in[i].size);
    }
    free_inputs(in, n);
    return n;
}

/* As fuzz_autodiff.c runs an input: parse under limits, evaluate. */
static size_t replay_autodiff(const char *dir)
{
    input *in;
    size_t n = read_dir(dir, &in);
    for (size_t i = 0; i < n; i++) {
        fuzz_current = in[i].path;
        gs_ad_limits lim = {.max_length = 1024, .max_depth = 64, .max_nodes = 512, .max_vars = 16};
        gs_ad_error err;
        gs_ad_tape *t = gs_ad_parse((const char *)in[i].data, in[i].size, &lim, NULL, &err);
        if (!t) {
            CHECK(err.base.status != GS_OK && err.base.message[0], "%s: error without message",
                  in[i].path);
            continue;
        }
        const char *names[16];
        double values[16];
        size_t nv = gs_ad_var_count(t);
        for (size_t v = 0; v < nv && v < 16; v++) {
            names[v] = gs_ad_var_name(t, v);
            values[v] = 0.7 + 0.1 * (double)v;
        }
        gs_ad_eval(t, nv, names, values, &err);
        gs_ad_free(t);
    }
    free_inputs(in, n);
    return n;
}

static void test_fuzz_crash_inputs_replay(void)
{
    size_t n = replay_requests("tests/fuzz/regressions/fuzz_request") +
               replay_requests("tests/fuzz/regressions/fuzz_compute") +
               replay_autodiff("tests/fuzz/regressions/fuzz_autodiff");
    printf("  %zu crash inputs replayed\n", n);
}

static void test_seed_corpora_replay(void)
{
    size_t n = replay_requests("tests/fuzz/corpus/request") +
               replay_autodiff("tests/fuzz/corpus/autodiff");
    CHECK(n >= 10, "only %zu seeds found (run from the repository root)", n);
    printf("  %zu seeds replayed\n", n);
}

/* The request seeds are real requests: all but those named "invalid" work,
 * and those named "missing" name refs the store lacks (409). */
static void test_request_seeds_are_valid_requests(void)
{
    input *in;
    size_t n = read_dir("tests/fuzz/corpus/request", &in);
    fuzz_setup();
    for (size_t i = 0; i < n; i++) {
        if (!in[i].size) continue;
        compute_env env = {.opts = &fuzz_opts, .abort = &fuzz_no_abort, .store = fuzz_store};
        compute_result res;
        compute_run(fuzz_route(in[i].data[0]), (const char *)in[i].data + 1, in[i].size - 1,
                    &env, &res);
        int want = strstr(in[i].path, "invalid") ? 400 : strstr(in[i].path, "missing") ? 409 : 200;
        CHECK(res.status == want, "%s: status %d, want %d (%s)", in[i].path, res.status, want,
              res.d.n ? res.d.errors[0].detail : res.d.detail);
        free(res.body);
    }
    free_inputs(in, n);
}

int main(void)
{
    RUN(test_fuzz_crash_inputs_replay);
    RUN(test_seed_corpora_replay);
    RUN(test_request_seeds_are_valid_requests);
    options_free(&fuzz_opts);
    return CHECK_DONE();
}
