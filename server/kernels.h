/* Which OpenBLAS kernels the server computes with, settled before it serves:
 * upgraded when OpenBLAS fell back to weaker kernels than the processor runs
 * (the process image starts again with OPENBLAS_CORETYPE, which OpenBLAS
 * reads only when it loads), checked against the reference loops, and said
 * in one log line and in /metrics (gradserve_blas_info). */
#ifndef GS_SERVER_KERNELS_H
#define GS_SERVER_KERNELS_H

typedef struct {
    char cpu[128];     /* gs_cpu_describe */
    char openblas[32]; /* the kernels OpenBLAS chose by itself (or the operator's) */
    char core[32];     /* the kernels in use */
    char best[32];     /* the strongest family the processor runs, or "none" */
    /* upgraded | openblas | operator | disabled | unknown_core |
     * self_check_failed | restart_failed */
    const char *reason;
} kernels_info;

/* Environment variables of the restart. GRADSERVE_BLAS_STAGE marks an image
 * started again by gradserve ("upgraded:<OpenBLAS's choice>" or
 * "fallback:<OpenBLAS's choice>:<the kernels that failed>"), so an
 * OPENBLAS_CORETYPE it set is not taken for the operator's and no image
 * starts another more than once. The two SIMULATE variables are test aids:
 * see docs/blas-kernels.md. */
#define KERNELS_STAGE_ENV "GRADSERVE_BLAS_STAGE"
#define KERNELS_SIMULATE_FALLBACK_ENV "GRADSERVE_BLAS_SIMULATE_FALLBACK"
#define KERNELS_SIMULATE_MISMATCH_ENV "GRADSERVE_BLAS_SIMULATE_MISMATCH"

/* Called first in main, before any thread of ours exists. May not return:
 * execv("/proc/self/exe", argv) with OPENBLAS_CORETYPE set to the best
 * family (upgrade on and no operator's OPENBLAS_CORETYPE), or, after that
 * image's self-check failed, without it. Returns 0 with k filled and the
 * start-up line logged, or -1 (logged) when the kernels in use fail the
 * self-check and nothing safer is left: a wrong answer is worse than none. */
int kernels_settle(kernels_info *k, int upgrade, char **argv);

#endif
