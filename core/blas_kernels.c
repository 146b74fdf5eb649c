/* Which OpenBLAS kernels the processor can run, whether OpenBLAS fell back to
 * weaker ones, and a check of the kernels in use against the reference loops.
 *
 * Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels from the CPU
 * model when it loads; a model it does not know (an Intel family 6 model 207,
 * a 5th generation Xeon, for one) gets Prescott, its SSE3 kernels, at a fifth
 * of the speed the processor has. OpenBLAS reads OPENBLAS_CORETYPE at load
 * time only, so the caller upgrades by starting the process image again;
 * everything here is pure or reads the CPU, and prints nothing. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define GS_X86 1
#endif

/* Declared by OpenBLAS's cblas.h; repeated so this file needs no BLAS header
 * flags beyond those of gemm.c. */
char *openblas_get_corename(void);

/* ---- the processor ---------------------------------------------------------- */

#ifdef GS_X86
/* XGETBV(0): only valid when CPUID says OSXSAVE (else #UD). */
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

void gs_cpu_read(gs_cpu *cpu)
{
    memset(cpu, 0, sizeof *cpu);
#ifdef GS_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned max_leaf = a;
    memcpy(cpu->vendor, &b, 4);
    memcpy(cpu->vendor + 4, &d, 4);
    memcpy(cpu->vendor + 8, &c, 4);
    cpu->vendor[12] = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    /* Displayed family and model, as the kernel computes them (Intel SDM
     * vol. 2A, CPUID leaf 1): the extended fields count for family 15, and
     * the extended model also for family 6. */
    unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    cpu->family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    cpu->model = base_family == 0x6 || base_family == 0xf
                     ? base_model + (((a >> 16) & 0xf) << 4)
                     : base_model;
    if (c & (1u << 28)) cpu->features |= GS_CPU_AVX;
    if (c & (1u << 12)) cpu->features |= GS_CPU_FMA;
    if (c & (1u << 27)) cpu->features |= GS_CPU_OSXSAVE;
    if (max_leaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        static const struct {
            unsigned bit, feature;
        } leaf7[] = {{5, GS_CPU_AVX2},       {16, GS_CPU_AVX512F},  {17, GS_CPU_AVX512DQ},
                     {28, GS_CPU_AVX512CD},  {30, GS_CPU_AVX512BW}, {31, GS_CPU_AVX512VL}};
        for (size_t i = 0; i < sizeof leaf7 / sizeof *leaf7; i++)
            if (b & (1u << leaf7[i].bit)) cpu->features |= leaf7[i].feature;
    }
    if (cpu->features & GS_CPU_OSXSAVE) cpu->xcr0 = read_xcr0();
#endif
}

static int has_all(unsigned features, unsigned want) { return (features & want) == want; }

/* AVX state saved by the OS: without it AVX instructions fault (#UD). */
static int os_avx(const gs_cpu *cpu)
{
    return (cpu->features & GS_CPU_OSXSAVE) && (cpu->xcr0 & GS_XCR0_AVX) == GS_XCR0_AVX;
}

static int os_avx512(const gs_cpu *cpu)
{
    return os_avx(cpu) && (cpu->xcr0 & GS_XCR0_AVX512) == GS_XCR0_AVX512;
}

const char *gs_cpu_best_kernels(const gs_cpu *cpu)
{
    unsigned f = cpu->features;
    if (!os_avx(cpu) || !(f & GS_CPU_AVX)) return NULL;
    if (has_all(f, GS_CPU_AVX2 | GS_CPU_FMA)) {
        if (has_all(f, GS_CPU_AVX512) && os_avx512(cpu)) return "SkylakeX";
        return "Haswell";
    }
    return "Sandybridge";
}

void gs_cpu_describe(const gs_cpu *cpu, char *buf, size_t size)
{
    if (!cpu->vendor[0]) {
        snprintf(buf, size, "not x86");
        return;
    }
    unsigned f = cpu->features;
    int avx512 = has_all(f, GS_CPU_AVX512);
    snprintf(buf, size, "%s family %u model %u:%s%s%s%s%s", cpu->vendor, cpu->family, cpu->model,
             f & GS_CPU_AVX ? (os_avx(cpu) ? " avx" : " avx(os-off)") : "",
             f & GS_CPU_FMA ? " fma" : "", f & GS_CPU_AVX2 ? " avx2" : "",
             avx512 ? (os_avx512(cpu) ? " avx512" : " avx512(os-off)") : "",
             f & (GS_CPU_AVX | GS_CPU_AVX2 | GS_CPU_FMA) ? "" : " sse only");
}

/* ---- OpenBLAS's kernel families ------------------------------------------------ */

/* Every name OpenBLAS 0.3.21's x86-64 DYNAMIC_ARCH build reports or accepts
 * (driver/others/dynamic.c), with the instruction set its kernels need. */
static const struct {
    const char *name;
    int rank;
} FAMILIES[] = {
    {"Katmai", 1},      {"Coppermine", 1},   {"Northwood", 1},  {"Prescott", 1},
    {"Banias", 1},      {"Atom", 1},         {"Core2", 1},      {"Penryn", 1},
    {"Dunnington", 1},  {"Nehalem", 1},      {"Athlon", 1},     {"Opteron", 1},
    {"Opteron_SSE3", 1}, {"Barcelona", 1},   {"Nano", 1},       {"Bobcat", 1},
    {"Sandybridge", 2}, {"Bulldozer", 2},    {"Piledriver", 2}, {"Steamroller", 2},
    {"Haswell", 3},     {"Excavator", 3},    {"Zen", 3},
    {"SkylakeX", 4},    {"Cooperlake", 4},
};

int gs_blas_kernel_rank(const char *family)
{
    if (!family) return 0;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof *FAMILIES; i++)
        if (strcasecmp(family, FAMILIES[i].name) == 0) return FAMILIES[i].rank;
    return 0;
}

gs_blas_choice gs_blas_choose(const gs_cpu *cpu, const char *openblas_core,
                              const char *operator_coretype, int upgrade)
{
    gs_blas_choice c = {GS_BLAS_KEEP, gs_cpu_best_kernels(cpu), NULL};
    int have = gs_blas_kernel_rank(openblas_core);
    /* Nothing above SSE counts as rank 1: never "upgrade" to an SSE family. */
    int can = c.best ? gs_blas_kernel_rank(c.best) : 1;
    if (operator_coretype) c.verdict = GS_BLAS_OPERATOR;
    else if (have == 0) c.verdict = GS_BLAS_UNKNOWN_CORE;
    else if (have >= can) c.verdict = GS_BLAS_KEEP;
    else if (!upgrade) c.verdict = GS_BLAS_DISABLED;
    else {
        c.verdict = GS_BLAS_UPGRADE;
        c.coretype = c.best;
    }
    return c;
}

const char *gs_blas_verdict_name(gs_blas_verdict v)
{
    static const char *const names[] = {
        [GS_BLAS_KEEP] = "keep",         [GS_BLAS_UPGRADE] = "upgrade",
        [GS_BLAS_OPERATOR] = "operator", [GS_BLAS_DISABLED] = "disabled",
        [GS_BLAS_UNKNOWN_CORE] = "unknown_core",
    };
    return (unsigned)v < sizeof names / sizeof *names ? names[v] : "unknown";
}

const char *gs_blas_core(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "";
}

/* ---- the self-check ------------------------------------------------------------- */

/* Shapes (M, N, K) around the kernels' register blocks (Haswell's sgemm is
 * 16x4 and 8x4, SkylakeX's 16x4 up to 32x...), so their edge code runs: odd
 * sizes, a row and a column, sizes OpenBLAS's small-matrix path takes, and
 * K over its first K block (GEMM_Q 256-448 in these families). */
static const struct {
    size_t M, N, K;
} CHECK_SHAPES[] = {
    {1, 1, 1}, {3, 5, 7}, {1, 67, 33}, {37, 1, 19}, {17, 33, 9}, {67, 45, 129}, {130, 97, 71},
    {23, 19, 515},
};
#define CHECK_MAX_ELEMS 16384 /* every padded A, B or C above fits (at most 515 x 26) */

/* Deterministic small integers in [-4, 4]: products and their sums stay
 * below 2^24, so float and double hold every partial sum exactly. */
static double small_int(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)((*state >> 33) % 9) - 4.0;
}

/* The same comparison for float and double: fill A, B (padding NaN, which
 * no kernel may read), C (NaN under beta 0, which must not be read either),
 * run BLAS and the reference, compare every element including C's padding. */
#define SELF_CHECK(NAME, REAL, GEMM, LABEL)                                                    \
    static gs_status NAME(REAL *a, REAL *b, REAL *c_blas, REAL *c_ref, unsigned flags,         \
                          gs_error *err)                                                       \
    {                                                                                          \
        uint64_t state = 0x9e3779b97f4a7c15ULL;                                                \
        size_t round = 0;                                                                      \
        for (size_t s = 0; s < sizeof CHECK_SHAPES / sizeof *CHECK_SHAPES; s++)                \
            for (int t = 0; t < 4; t++, round++) {                                             \
                size_t M = CHECK_SHAPES[s].M, N = CHECK_SHAPES[s].N, K = CHECK_SHAPES[s].K;   \
                int ta = t >> 1, tb = t & 1;                                                   \
                /* A is [M,K] or, transposed, [K,M]; B is [K,N] or [N,K]. */                   \
                size_t a_rows = ta ? K : M, a_cols = ta ? M : K;                               \
                size_t b_rows = tb ? N : K, b_cols = tb ? K : N;                               \
                size_t lda = a_cols + 3, ldb = b_cols + 1, ldc = N + 2;                        \
                REAL alpha = (round & 1) ? (REAL)0.5 : (REAL)1;                                \
                REAL beta = (round & 2) ? (REAL)1 : (REAL)0;                                   \
                for (size_t i = 0; i < a_rows * lda; i++)                                      \
                    a[i] = i % lda < a_cols ? (REAL)small_int(&state) : (REAL)NAN;             \
                for (size_t i = 0; i < b_rows * ldb; i++)                                      \
                    b[i] = i % ldb < b_cols ? (REAL)small_int(&state) : (REAL)NAN;             \
                for (size_t i = 0; i < M * ldc; i++) {                                         \
                    REAL v = i % ldc < N ? (beta == 0 ? (REAL)NAN : (REAL)small_int(&state))   \
                                         : (REAL)-7;                                           \
                    c_blas[i] = c_ref[i] = v;                                                  \
                }                                                                              \
                GEMM(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c_blas, ldc, GS_GEMM_BLAS); \
                GEMM(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c_ref, ldc,                 \
                     GS_GEMM_REFERENCE);                                                       \
                if ((flags & GS_BLAS_CHECK_CORRUPT) && round == 5) c_blas[(M / 2) * ldc] += 1; \
                for (size_t i = 0; i < M * ldc; i++)                                           \
                    if (!(c_blas[i] == c_ref[i])) /* NaN differs too */                        \
                        return gs_fail(err, GS_EMISMATCH, "",                                  \
                                       "%s %c%c %zux%zux%zu (alpha %g, beta %g): C[%zu,%zu] "  \
                                       "is %g, the reference loops give %g",                   \
                                       LABEL, ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K,         \
                                       (double)alpha, (double)beta, i / ldc, i % ldc,          \
                                       (double)c_blas[i], (double)c_ref[i]);                   \
            }                                                                                  \
        return GS_OK;                                                                          \
    }

SELF_CHECK(self_check_f32, float, gs_gemm_f32, "sgemm")
SELF_CHECK(self_check_f64, double, gs_gemm_f64, "dgemm")

gs_status gs_blas_self_check(unsigned flags, gs_error *err)
{
    gs_error_clear(err);
    /* Four buffers of doubles; the float pass uses their first halves. */
    double *slab = gs_alloc(&gs_default_allocator, 4 * CHECK_MAX_ELEMS * sizeof(double));
    if (!slab) return gs_fail(err, GS_ENOMEM, "", "no memory for the BLAS self-check");
    double *a = slab, *b = a + CHECK_MAX_ELEMS, *c1 = b + CHECK_MAX_ELEMS,
           *c2 = c1 + CHECK_MAX_ELEMS;
    gs_status st = self_check_f32((float *)a, (float *)b, (float *)c1, (float *)c2, flags, err);
    if (st == GS_OK) st = self_check_f64(a, b, c1, c2, flags, err);
    gs_free(&gs_default_allocator, slab);
    return st;
}
