/* The BLAS kernels the real server settles on at start (server/kernels.c):
 * what it reports in /metrics (gradserve_blas_info) and its log, against
 * what this machine's processor runs.
 *
 * OpenBLAS recognises this machine's processor, so its own choice needs no
 * upgrade here. To exercise the upgrade for real, the server is started
 * with OPENBLAS_CORETYPE=Prescott and GRADSERVE_BLAS_SIMULATE_FALLBACK=1,
 * which makes it take Prescott (really loaded: OpenBLAS reports it) as
 * OpenBLAS's own choice, as on a processor OpenBLAS does not know; the
 * server must then start again with the processor's best kernels.
 * GRADSERVE_BLAS_SIMULATE_MISMATCH=1 makes the upgraded image's self-check
 * fail, so the fallback runs. Kernels the processor cannot run are the real
 * thing: OPENBLAS_CORETYPE=SkylakeX on a processor without AVX-512. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/apitest.h"

typedef struct {
    char core[64], openblas[64], cpu[160], reason[64];
} blas_info;

/* One label's value from a series line (no escapes in these values). */
static int label(const char *line, const char *name, char *out, size_t n)
{
    char key[64];
    snprintf(key, sizeof key, "%s=\"", name);
    const char *p = strstr(line, key);
    if (!p) return -1;
    p += strlen(key);
    const char *end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= n) return -1;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = 0;
    return 0;
}

/* GET /metrics and read gradserve_blas_info's labels; 0 or -1 (CHECKed). */
static int get_blas_info(blas_info *b)
{
    http_response r;
    json_decref(api_call(NULL, "GET", "/metrics", NULL, NULL, 0, 200, &r));
    int rc = -1;
    const char *line = r.body ? strstr(r.body, "\ngradserve_blas_info{") : NULL;
    CHECK(line != NULL, "no gradserve_blas_info series in /metrics");
    if (line) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", line + 1);
        copy[strcspn(copy, "\n")] = 0;
        CHECK(strstr(copy, "} 1") != NULL, "gauge value: %s", copy);
        rc = label(copy, "core", b->core, sizeof b->core) |
             label(copy, "openblas", b->openblas, sizeof b->openblas) |
             label(copy, "cpu", b->cpu, sizeof b->cpu) |
             label(copy, "reason", b->reason, sizeof b->reason);
        CHECK(rc == 0, "labels of %s", copy);
        CHECK(r.body && strstr(r.body, "# TYPE gradserve_blas_info gauge\n"), "TYPE line");
    }
    http_response_free(&r);
    return rc;
}

/* The server's log so far (malloc'd, "" when unreadable). */
static char *read_log(const test_server *s)
{
    FILE *f = fopen(s->log, "r");
    char *buf = calloc(1, 1 << 16);
    if (f) {
        size_t n = fread(buf, 1, (1 << 16) - 1, f);
        buf[n] = 0;
        fclose(f);
    }
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The value of NAME in the running server's initial environment
 * (/proc/PID/environ: what the last execve gave it). */
static int proc_env(pid_t pid, const char *name, char *out, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    size_t nl = strlen(name);
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
        if (strncmp(buf + i, name, nl) == 0 && buf[i + nl] == '=') {
            snprintf(out, n, "%s", buf + i + nl + 1);
            return 0;
        }
    return -1;
}

static const char *this_cpu_best(void)
{
    gs_cpu cpu;
    gs_cpu_read(&cpu);
    return gs_cpu_best_kernels(&cpu);
}

static void this_cpu_description(char *out, size_t n)
{
    gs_cpu cpu;
    gs_cpu_read(&cpu);
    gs_cpu_describe(&cpu, out, n);
}

/* /gradients on a case big enough for BLAS (20-64-10, 50 rows, float32):
 * the answer agrees with the in-process core within float rounding (the
 * server's kernels may differ from this process's, so not bit for bit). */
static void gradients_agree(const char *what)
{
    api_case c;
    api_case_init(&c, 20, GS_LOSS_MSE, GS_FLOAT32);
    api_case_layer(&c, 64, GS_ACT_TANH);
    api_case_layer(&c, 10, GS_ACT_LINEAR);
    api_case_random(&c, 50, 22, 1, 0);
    c.out_enc = "flat";
    json_t *resp = api_post_new("/gradients", api_case_json(&c), 200);
    api_ref ref;
    int rc = api_ref_backward(&c, 0, &ref);
    CHECK(rc == 0, "%s: core: %s", what, ref.err.message);
    if (resp && rc == 0) {
        double loss = json_number_value(json_object_get(resp, "loss"));
        CHECK_CLOSE(loss, ref.loss, 1e-5, what);
        json_t *g = json_object_get(resp, "gradients");
        const float *want = gs_net_grads(ref.net);
        size_t k = 0, bad = 0;
        for (size_t l = 0; l < json_array_size(g); l++)
            for (int part = 0; part < 2; part++) {
                json_t *data = json_object_get(
                    json_object_get(json_array_get(g, l), part ? "bias" : "weight"), "data");
                for (size_t i = 0; i < json_array_size(data); i++, k++)
                    if (!check_close(json_number_value(json_array_get(data, i)), want[k], 1e-4))
                        bad++;
            }
        CHECK(k == gs_net_param_count(ref.net), "%s: %zu gradient values, want %zu", what, k,
              gs_net_param_count(ref.net));
        CHECK(bad == 0, "%s: %zu gradient values differ from the core's", what, bad);
    }
    api_ref_free(&ref);
    api_case_free(&c);
    json_decref(resp);
}

/* As launched by an operator who set nothing: OpenBLAS's choice, or the
 * upgrade, and never a weaker family than this processor runs. */
static void test_default_start_uses_the_processors_kernels(void)
{
    if (api_start(NULL, NULL)) return;
    check_begin("default_start_uses_the_processors_kernels");
    blas_info b;
    if (get_blas_info(&b) == 0) {
        const char *best = this_cpu_best();
        const char *operator_ = getenv("OPENBLAS_CORETYPE");
        if (operator_) {
            CHECK(strcmp(b.reason, "operator") == 0, "OPENBLAS_CORETYPE=%s set, reason %s",
                  operator_, b.reason);
        } else {
            CHECK(gs_blas_kernel_rank(b.core) >= (best ? gs_blas_kernel_rank(best) : 1),
                  "the server computes with %s, this processor runs %s", b.core,
                  best ? best : "SSE only");
            CHECK(strcmp(b.openblas, gs_blas_core()) == 0,
                  "server says OpenBLAS chose %s, here it chose %s", b.openblas, gs_blas_core());
            CHECK(!strcmp(b.reason, "openblas") || !strcmp(b.reason, "upgraded"), "reason %s",
                  b.reason);
        }
        char desc[160];
        this_cpu_description(desc, sizeof desc);
        CHECK(strcmp(b.cpu, desc) == 0, "cpu label \"%s\", here \"%s\"", b.cpu, desc);
        char *log = read_log(&api_srv);
        CHECK(count(log, "BLAS kernels ") == 1, "one start-up line about the kernels:\n%s", log);
        char want[400];
        snprintf(want, sizeof want, "BLAS kernels %s in use (OpenBLAS chose %s; processor %s",
                 b.core, b.openblas, b.cpu);
        CHECK(strstr(log, want) != NULL, "log lacks \"%s\":\n%s", want, log);
        free(log);
    }
    gradients_agree("default kernels");
    check_end();
    api_stop();
}

/* OpenBLAS (made to) fall back to Prescott: the server starts again, same
 * pid, with OPENBLAS_CORETYPE naming the best family this processor runs. */
static void test_fallback_is_upgraded(void)
{
    const char *env[] = {"OPENBLAS_CORETYPE=Prescott", "GRADSERVE_BLAS_SIMULATE_FALLBACK=1",
                         NULL};
    if (api_start(NULL, env)) return;
    check_begin("fallback_to_prescott_is_upgraded");
    const char *best = this_cpu_best();
    blas_info b;
    if (get_blas_info(&b) == 0) {
        CHECK(strcmp(b.openblas, "Prescott") == 0, "openblas label %s", b.openblas);
        char coretype[64] = "";
        int has = proc_env(api_srv.pid, "OPENBLAS_CORETYPE", coretype, sizeof coretype);
        char *log = read_log(&api_srv);
        if (best) {
            CHECK(strcmp(b.core, best) == 0, "core %s, want %s", b.core, best);
            CHECK(strcmp(b.reason, "upgraded") == 0, "reason %s", b.reason);
            CHECK(has == 0 && strcmp(coretype, best) == 0,
                  "the running image's OPENBLAS_CORETYPE is \"%s\", want %s", coretype, best);
            char want[96];
            snprintf(want, sizeof want, "started again with OPENBLAS_CORETYPE=%s", best);
            CHECK(strstr(log, want) != NULL, "log lacks \"%s\":\n%s", want, log);
        } else { /* nothing above SSE: Prescott is as good as it gets */
            CHECK(strcmp(b.core, "Prescott") == 0 && strcmp(b.reason, "openblas") == 0,
                  "core %s, reason %s on a processor without AVX", b.core, b.reason);
        }
        CHECK(count(log, "BLAS kernels ") == 1, "one start-up line:\n%s", log);
        CHECK(count(log, "listening on") == 1, "one image listened:\n%s", log);
        free(log);
    }
    gradients_agree("upgraded kernels");
    check_end();
    api_stop();
}

/* The upgraded image's self-check fails (simulated): it logs why and starts
 * again once more with OpenBLAS's choice, and stops there. */
static void test_failed_self_check_falls_back(void)
{
    const char *env[] = {"OPENBLAS_CORETYPE=Prescott", "GRADSERVE_BLAS_SIMULATE_FALLBACK=1",
                         "GRADSERVE_BLAS_SIMULATE_MISMATCH=1", NULL};
    if (api_start(NULL, env)) return;
    check_begin("failed_self_check_falls_back_to_openblas_choice");
    blas_info b;
    if (get_blas_info(&b) == 0) {
        CHECK(strcmp(b.core, "Prescott") == 0, "core %s, want Prescott", b.core);
        CHECK(strcmp(b.openblas, "Prescott") == 0, "openblas %s", b.openblas);
        char *log = read_log(&api_srv);
        if (this_cpu_best()) {
            CHECK(strcmp(b.reason, "self_check_failed") == 0, "reason %s", b.reason);
            CHECK(count(log, "failed the self-check against the reference loops: sgemm NT "
                             "3x5x7") == 1,
                  "the error names the product:\n%s", log);
            CHECK(strstr(log, "the upgrade failed its self-check") != NULL, "start-up line:\n%s",
                  log);
        }
        CHECK(count(log, "BLAS kernels Prescott in use") == 1, "one start-up line:\n%s", log);
        free(log);
    }
    gradients_agree("kernels after a failed upgrade");
    check_end();
    api_stop();
}

/* The stage marker is what stops a loop: an image launched with a fallback
 * marker (as the image after a failed upgrade is) never upgrades, even when
 * OpenBLAS fell back. */
static void test_fallback_image_never_restarts(void)
{
    const char *env[] = {"OPENBLAS_CORETYPE=Prescott", "GRADSERVE_BLAS_SIMULATE_FALLBACK=1",
                         "GRADSERVE_BLAS_STAGE=fallback:Prescott:Haswell", NULL};
    if (api_start(NULL, env)) return;
    check_begin("fallback_image_never_restarts");
    blas_info b;
    if (get_blas_info(&b) == 0) {
        CHECK(strcmp(b.core, "Prescott") == 0, "core %s", b.core);
        CHECK(strcmp(b.reason, "self_check_failed") == 0, "reason %s", b.reason);
        char coretype[64] = "";
        CHECK(proc_env(api_srv.pid, "OPENBLAS_CORETYPE", coretype, sizeof coretype) == 0 &&
                  strcmp(coretype, "Prescott") == 0,
              "the image was replaced: OPENBLAS_CORETYPE=%s", coretype);
    }
    check_end();
    api_stop();
}

/* An operator's OPENBLAS_CORETYPE is kept, even when weaker. */
static void test_operator_coretype_is_kept(void)
{
    const char *env[] = {"OPENBLAS_CORETYPE=Prescott", NULL};
    if (api_start(NULL, env)) return;
    check_begin("operator_coretype_is_kept");
    blas_info b;
    if (get_blas_info(&b) == 0) {
        CHECK(strcmp(b.core, "Prescott") == 0, "core %s", b.core);
        CHECK(strcmp(b.reason, "operator") == 0, "reason %s", b.reason);
        char *log = read_log(&api_srv);
        CHECK(strstr(log, "OPENBLAS_CORETYPE=Prescott is the operator's, kept"), "log:\n%s", log);
        free(log);
    }
    check_end();
    api_stop();
}

/* --blas-upgrade off (and its variable) keeps OpenBLAS's fallback, and says so. */
static void test_upgrade_can_be_turned_off(void)
{
    const char *args[] = {"--blas-upgrade", "off", NULL};
    const char *env_flag[] = {"OPENBLAS_CORETYPE=Prescott", "GRADSERVE_BLAS_SIMULATE_FALLBACK=1",
                              NULL};
    const char *env_var[] = {"OPENBLAS_CORETYPE=Prescott", "GRADSERVE_BLAS_SIMULATE_FALLBACK=1",
                             "GRADSERVE_BLAS_UPGRADE=off", NULL};
    for (int by_env = 0; by_env < 2; by_env++) {
        if (api_start(by_env ? NULL : args, by_env ? env_var : env_flag)) return;
        check_begin(by_env ? "upgrade_off_by_environment" : "upgrade_off_by_flag");
        blas_info b;
        if (get_blas_info(&b) == 0) {
            CHECK(strcmp(b.core, "Prescott") == 0, "core %s", b.core);
            CHECK(strcmp(b.reason, this_cpu_best() ? "disabled" : "openblas") == 0, "reason %s",
                  b.reason);
        }
        check_end();
        api_stop();
    }
}

/* Kernels the processor cannot run: the self-check's child dies of SIGILL
 * and the server refuses to start (exit 1), naming the signal. On a
 * processor with AVX-512, SkylakeX runs and is served. */
static void test_kernels_the_cpu_cannot_run(void)
{
    const char *best = this_cpu_best();
    int runs_avx512 = best && strcmp(best, "SkylakeX") == 0;
    check_begin("kernels_the_processor_cannot_run_are_refused");
    test_server s;
    const char *env[] = {"OPENBLAS_CORETYPE=SkylakeX", NULL};
    if (runs_avx512) {
        CHECK(server_start(&s, NULL, env) == 0, "SkylakeX on an AVX-512 processor");
        server_stop(&s);
    } else {
        /* server_start retries a server that exits (a lost port race), and
         * reports that it never started: expected here. */
        printf("  (expected: the server exits at start)\n");
        CHECK(server_start(&s, NULL, env) != 0, "started with SkylakeX kernels without AVX-512");
        int code = -1;
        CHECK(server_wait(&s, 10000, &code) == 0 && code == 1, "exit code %d, want 1", code);
        char *log = read_log(&s);
        CHECK(strstr(log, "BLAS kernels SkylakeX (operator) failed the self-check") &&
                  strstr(log, "died of signal 4"),
              "log:\n%s", log);
        free(log);
        unlink(s.log);
    }
    check_end();
}

/* The flag takes on|off only, and --help lists it. */
static void test_flag_values(void)
{
    check_begin("blas_upgrade_flag_values");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "%s --blas-upgrade maybe 2>&1", server_binary());
    FILE *p = popen(cmd, "r");
    char out[512] = "";
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit status %d", st);
    CHECK(strstr(out, "invalid value \"maybe\" for --blas-upgrade"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s --help", server_binary());
    p = popen(cmd, "r");
    static char help[1 << 15];
    n = p ? fread(help, 1, sizeof help - 1, p) : 0;
    help[n] = 0;
    if (p) pclose(p);
    CHECK(strstr(help, "--blas-upgrade VALUE") && strstr(help, "GRADSERVE_BLAS_UPGRADE"), "help");
    check_end();
}

int main(void)
{
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    test_default_start_uses_the_processors_kernels();
    test_fallback_is_upgraded();
    test_failed_self_check_falls_back();
    test_fallback_image_never_restarts();
    test_operator_coretype_is_kept();
    test_upgrade_can_be_turned_off();
    test_kernels_the_cpu_cannot_run();
    test_flag_values();
    api_check_all_responses_valid();
    schema_free(api_schema);
    return CHECK_DONE();
}
