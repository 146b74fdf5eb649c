/* The start-up dance of kernels.h: decide (the core's gs_blas_choose), start
 * the image again, check the kernels in a child process, say what happened.
 *
 * Images of one start (same pid, same argv; only the environment differs):
 *   1. as launched: OpenBLAS chose by itself (or the operator chose). When
 *      the choice is weaker than the CPU runs and the upgrade is on: execv
 *      with OPENBLAS_CORETYPE=<best> and GRADSERVE_BLAS_STAGE=upgraded:<choice>.
 *   2. upgraded: self-check. Pass: serve. Fail: log why, execv with
 *      OPENBLAS_CORETYPE as it was in image 1, GRADSERVE_BLAS_STAGE=fallback:...
 *   3. fallback: self-check of OpenBLAS's own choice; never starts again.
 * The stage marker is what stops a loop: an image that has one never
 * upgrades, and a fallback image never starts again at all. */
#include "kernels.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gradserve.h"
#include "log.h"

#define CORETYPE_ENV "OPENBLAS_CORETYPE"

static int env_on(const char *name)
{
    const char *v = getenv(name);
    return v && strcmp(v, "1") == 0;
}

/* gs_blas_self_check in a forked child, so that kernels the processor cannot
 * run (SIGILL) fail the check instead of killing the server. 1 when it
 * passed; 0 with why filled otherwise. Falls back to checking in-process
 * when fork fails. */
static int self_check(unsigned flags, char *why, size_t n)
{
    int fds[2];
    gs_error e;
    if (pipe(fds) != 0) {
        if (gs_blas_self_check(flags, &e) == GS_OK) return 1;
        snprintf(why, n, "%s", e.message);
        return 0;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        gs_status st = gs_blas_self_check(flags, &e);
        if (st != GS_OK) {
            ssize_t w = write(fds[1], e.message, strlen(e.message));
            (void)w;
        }
        _exit(st == GS_OK ? 0 : 1);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        if (gs_blas_self_check(flags, &e) == GS_OK) return 1;
        snprintf(why, n, "%s", e.message);
        return 0;
    }
    char msg[sizeof e.message] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 &&
           ((r = read(fds[0], msg + got, sizeof msg - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0) got += (size_t)r;
    msg[got] = 0;
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
    if (WIFSIGNALED(status))
        snprintf(why, n, "the check died of signal %d (%s): the processor cannot run them",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(why, n, "%s", got ? msg : "the check failed without a message");
    return 0;
}

/* argv of main, the same for every image. The binary is the path that
 * /proc/self/exe links to (argv[0] may be a bare name found on the PATH):
 * under valgrind that readlink gives the program, where an execv of
 * /proc/self/exe itself would start valgrind's tool. /proc/self/exe is the
 * second try (the file was replaced or deleted since). Returns on failure
 * only, errno set. */
static void restart(char **argv)
{
    fflush(stdout);
    fflush(stderr);
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) {
        path[n] = 0;
        execv(path, argv);
    }
    execv("/proc/self/exe", argv);
}

static void log_settled(const kernels_info *k)
{
    const char *coretype = getenv(CORETYPE_ENV);
    char why[160];
    if (strcmp(k->reason, "upgraded") == 0)
        snprintf(why, sizeof why, "OpenBLAS fell back to weaker kernels; started again with "
                                  "OPENBLAS_CORETYPE=%s",
                 k->core);
    else if (strcmp(k->reason, "operator") == 0)
        snprintf(why, sizeof why, "OPENBLAS_CORETYPE=%s is the operator's, kept",
                 coretype ? coretype : "");
    else if (strcmp(k->reason, "disabled") == 0)
        snprintf(why, sizeof why, "OpenBLAS fell back to weaker kernels; the upgrade is off "
                                  "(--blas-upgrade off)");
    else if (strcmp(k->reason, "unknown_core") == 0)
        snprintf(why, sizeof why, "OpenBLAS named kernels gradserve does not rank, kept");
    else if (strcmp(k->reason, "self_check_failed") == 0)
        snprintf(why, sizeof why, "the upgrade failed its self-check (logged above); "
                                  "OpenBLAS's choice kept");
    else if (strcmp(k->reason, "restart_failed") == 0)
        snprintf(why, sizeof why, "could not start again to upgrade (logged above); "
                                  "OpenBLAS's choice kept");
    else
        snprintf(why, sizeof why, "OpenBLAS's choice, as strong as the processor allows");
    log_event("info", "BLAS kernels %s in use (OpenBLAS chose %s; processor %s, runs %s): %s; "
                      "self-check passed",
              k->core, k->openblas, k->cpu, k->best, why);
}

static const char *reason_of(gs_blas_verdict v)
{
    switch (v) {
    case GS_BLAS_OPERATOR: return "operator";
    case GS_BLAS_DISABLED: return "disabled";
    case GS_BLAS_UNKNOWN_CORE: return "unknown_core";
    case GS_BLAS_UPGRADE: /* only when the restart failed */ return "restart_failed";
    case GS_BLAS_KEEP: break;
    }
    return "openblas";
}

int kernels_settle(kernels_info *k, int upgrade, char **argv)
{
    memset(k, 0, sizeof *k);
    gs_cpu cpu;
    gs_cpu_read(&cpu);
    gs_cpu_describe(&cpu, k->cpu, sizeof k->cpu);
    const char *best = gs_cpu_best_kernels(&cpu);
    snprintf(k->best, sizeof k->best, "%s", best ? best : "none");
    snprintf(k->core, sizeof k->core, "%s", gs_blas_core());
    /* Test aid: this image's OPENBLAS_CORETYPE stands for OpenBLAS's own
     * choice, as on a processor it does not know. */
    int simulate = env_on(KERNELS_SIMULATE_FALLBACK_ENV);
    char stage[96] = "";
    if (getenv(KERNELS_STAGE_ENV))
        snprintf(stage, sizeof stage, "%s", getenv(KERNELS_STAGE_ENV));
    unsetenv(KERNELS_STAGE_ENV);
    char why[200] = "";

    if (strncmp(stage, "upgraded:", 9) == 0) {
        snprintf(k->openblas, sizeof k->openblas, "%.31s", stage + 9);
        unsigned flags = env_on(KERNELS_SIMULATE_MISMATCH_ENV) ? GS_BLAS_CHECK_CORRUPT : 0;
        if (self_check(flags, why, sizeof why)) {
            k->reason = "upgraded";
            log_settled(k);
            return 0;
        }
        log_event("error", "BLAS kernels %s failed the self-check against the reference loops: "
                           "%s; starting again with OpenBLAS's choice, %s",
                  k->core, why, k->openblas);
        char next[96];
        snprintf(next, sizeof next, "fallback:%s:%s", k->openblas, k->core);
        setenv(KERNELS_STAGE_ENV, next, 1);
        if (simulate) setenv(CORETYPE_ENV, k->openblas, 1);
        else unsetenv(CORETYPE_ENV);
        restart(argv);
        log_event("error", "cannot start again without OPENBLAS_CORETYPE (execv: %s): refusing "
                           "to serve with kernels that gave a wrong answer",
                  strerror(errno));
        return -1;
    }

    snprintf(k->openblas, sizeof k->openblas, "%s", k->core);
    if (strncmp(stage, "fallback:", 9) == 0) {
        k->reason = "self_check_failed";
    } else {
        const char *operator_coretype = simulate ? NULL : getenv(CORETYPE_ENV);
        gs_blas_choice c = gs_blas_choose(&cpu, k->core, operator_coretype, upgrade);
        if (c.verdict == GS_BLAS_UPGRADE) {
            char next[96];
            snprintf(next, sizeof next, "upgraded:%s", k->core);
            setenv(KERNELS_STAGE_ENV, next, 1);
            setenv(CORETYPE_ENV, c.coretype, 1);
            restart(argv);
            log_event("error", "cannot start again with OPENBLAS_CORETYPE=%s (execv: %s)",
                      c.coretype, strerror(errno));
            unsetenv(KERNELS_STAGE_ENV);
            if (simulate) setenv(CORETYPE_ENV, k->core, 1);
            else unsetenv(CORETYPE_ENV);
        }
        k->reason = reason_of(c.verdict);
    }
    if (!self_check(0, why, sizeof why)) {
        log_event("error", "BLAS kernels %s (%s) failed the self-check against the reference "
                           "loops: %s; refusing to start: a wrong answer is worse than none%s%s",
                  k->core, k->reason, why,
                  strcmp(k->reason, "operator") == 0 ? "; this processor runs " : "",
                  strcmp(k->reason, "operator") == 0 ? k->best : "");
        return -1;
    }
    log_settled(k);
    return 0;
}
