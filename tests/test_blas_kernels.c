/* The core's BLAS kernel choice: the decision on a table of processors
 * (CPUID and XCR0 written from the documented bits of real ones) and
 * OpenBLAS answers, the CPUID reading against the kernel's own
 * (/proc/cpuinfo), the kernel ranks against the names OpenBLAS 0.3.21 uses,
 * and the GEMM self-check (passing on this machine's kernels, failing when a
 * result is corrupted). */
#include "check.h"
#include "gradserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AVX512_ALL (GS_CPU_AVX512)
#define AVX2_FMA (GS_CPU_AVX | GS_CPU_FMA | GS_CPU_AVX2 | GS_CPU_OSXSAVE)
/* XCR0 values as XGETBV returns them on Linux: x87|SSE|AVX (0x7), plus
 * PKRU (0x200), plus the three AVX-512 components (0xe0), plus AMX tile
 * state (0x60000) on Sapphire/Emerald Rapids. */
#define XCR0_AVX 0x7u
#define XCR0_ZEN3 0x207u
#define XCR0_EMERALD_RAPIDS 0x602e7u

/* Processors (CPUID as Linux reports them on each). */
static const gs_cpu XEON_5TH_GEN = {"GenuineIntel", 6, 207, AVX2_FMA | AVX512_ALL,
                                    XCR0_EMERALD_RAPIDS};
/* The same processor where the OS (or hypervisor) does not save zmm state. */
static const gs_cpu XEON_5TH_GEN_NO_OS_AVX512 = {"GenuineIntel", 6, 207, AVX2_FMA | AVX512_ALL,
                                                 XCR0_AVX};
static const gs_cpu EPYC_ZEN3 = {"AuthenticAMD", 25, 1, AVX2_FMA, XCR0_ZEN3};
/* Xeon E5-2670 (Sandy Bridge): AVX without FMA or AVX2. */
static const gs_cpu XEON_SANDY_BRIDGE = {"GenuineIntel", 6, 45,
                                         GS_CPU_AVX | GS_CPU_OSXSAVE, XCR0_AVX};
/* Core 2 Duo (Penryn): no AVX at all. */
static const gs_cpu CORE2_PENRYN = {"GenuineIntel", 6, 23, 0, 0};
/* AVX2 in CPUID but XSAVE disabled by the kernel (noxsave): OSXSAVE clear. */
static const gs_cpu HASWELL_NOXSAVE = {"GenuineIntel", 6, 63,
                                       GS_CPU_AVX | GS_CPU_FMA | GS_CPU_AVX2, 0};
/* Skylake-SP with AVX-512 but one subset (CD) masked by a hypervisor. */
static const gs_cpu SKYLAKE_SP_NO_CD = {"GenuineIntel", 6, 85,
                                        AVX2_FMA | (AVX512_ALL & ~GS_CPU_AVX512CD),
                                        XCR0_EMERALD_RAPIDS & 0x2ffu};

static void test_decision_table(void)
{
    static const struct {
        const char *what;
        const gs_cpu *cpu;
        const char *openblas;  /* openblas_get_corename() by itself */
        const char *operator_; /* OPENBLAS_CORETYPE, NULL when unset */
        int upgrade;
        gs_blas_verdict want;
        const char *want_coretype; /* NULL: no restart */
        const char *want_best;
    } cases[] = {
        {"issue 22: Xeon 6/207, OpenBLAS falls back to Prescott", &XEON_5TH_GEN, "Prescott",
         NULL, 1, GS_BLAS_UPGRADE, "SkylakeX", "SkylakeX"},
        {"the same, upgrade turned off", &XEON_5TH_GEN, "Prescott", NULL, 0, GS_BLAS_DISABLED,
         NULL, "SkylakeX"},
        {"the same, operator set Haswell", &XEON_5TH_GEN, "Haswell", "Haswell", 1,
         GS_BLAS_OPERATOR, NULL, "SkylakeX"},
        {"the same, operator set Prescott", &XEON_5TH_GEN, "Prescott", "Prescott", 1,
         GS_BLAS_OPERATOR, NULL, "SkylakeX"},
        {"an operator's empty OPENBLAS_CORETYPE is still theirs", &XEON_5TH_GEN, "Haswell", "",
         1, GS_BLAS_OPERATOR, NULL, "SkylakeX"},
        {"a newer OpenBLAS that knows the model", &XEON_5TH_GEN, "SkylakeX", NULL, 1,
         GS_BLAS_KEEP, NULL, "SkylakeX"},
        {"Cooperlake kernels are AVX-512 too", &XEON_5TH_GEN, "Cooperlake", NULL, 1,
         GS_BLAS_KEEP, NULL, "SkylakeX"},
        {"AVX-512 not saved by the OS: Haswell at most", &XEON_5TH_GEN_NO_OS_AVX512, "Prescott",
         NULL, 1, GS_BLAS_UPGRADE, "Haswell", "Haswell"},
        {"AVX-512 not saved by the OS, OpenBLAS chose Haswell", &XEON_5TH_GEN_NO_OS_AVX512,
         "Haswell", NULL, 1, GS_BLAS_KEEP, NULL, "Haswell"},
        {"one AVX-512 subset missing: Haswell at most", &SKYLAKE_SP_NO_CD, "Prescott", NULL, 1,
         GS_BLAS_UPGRADE, "Haswell", "Haswell"},
        {"AMD Zen 3 reported as Haswell", &EPYC_ZEN3, "Haswell", NULL, 1, GS_BLAS_KEEP, NULL,
         "Haswell"},
        {"AMD Zen 3 reported as Zen", &EPYC_ZEN3, "Zen", NULL, 1, GS_BLAS_KEEP, NULL, "Haswell"},
        {"AMD Zen 3 given Prescott", &EPYC_ZEN3, "Prescott", NULL, 1, GS_BLAS_UPGRADE, "Haswell",
         "Haswell"},
        {"AVX without AVX2, OpenBLAS chose Sandybridge", &XEON_SANDY_BRIDGE, "Sandybridge", NULL,
         1, GS_BLAS_KEEP, NULL, "Sandybridge"},
        {"AVX without AVX2, OpenBLAS fell back to Nehalem", &XEON_SANDY_BRIDGE, "Nehalem", NULL,
         1, GS_BLAS_UPGRADE, "Sandybridge", "Sandybridge"},
        {"no AVX: Prescott is all there is", &CORE2_PENRYN, "Prescott", NULL, 1, GS_BLAS_KEEP,
         NULL, NULL},
        {"no AVX: Penryn", &CORE2_PENRYN, "Penryn", NULL, 1, GS_BLAS_KEEP, NULL, NULL},
        {"AVX2 in CPUID, XSAVE off in the OS", &HASWELL_NOXSAVE, "Prescott", NULL, 1,
         GS_BLAS_KEEP, NULL, NULL},
        {"a name OpenBLAS 0.3.21 never reports", &XEON_5TH_GEN, "SapphireRapids", NULL, 1,
         GS_BLAS_UNKNOWN_CORE, NULL, "SkylakeX"},
        {"no name at all", &XEON_5TH_GEN, "", NULL, 1, GS_BLAS_UNKNOWN_CORE, NULL, "SkylakeX"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gs_blas_choice c =
            gs_blas_choose(cases[i].cpu, cases[i].openblas, cases[i].operator_, cases[i].upgrade);
        CHECK(c.verdict == cases[i].want, "%s: verdict %s, want %s", cases[i].what,
              gs_blas_verdict_name(c.verdict), gs_blas_verdict_name(cases[i].want));
        CHECK((c.coretype == NULL) == (cases[i].want_coretype == NULL) &&
                  (!c.coretype || strcmp(c.coretype, cases[i].want_coretype) == 0),
              "%s: coretype %s, want %s", cases[i].what, c.coretype ? c.coretype : "none",
              cases[i].want_coretype ? cases[i].want_coretype : "none");
        CHECK((c.best == NULL) == (cases[i].want_best == NULL) &&
                  (!c.best || strcmp(c.best, cases[i].want_best) == 0),
              "%s: best %s, want %s", cases[i].what, c.best ? c.best : "none",
              cases[i].want_best ? cases[i].want_best : "none");
    }
}

/* Every family name OpenBLAS 0.3.21 (x86-64 DYNAMIC_ARCH) knows has a rank,
 * and what gs_cpu_best_kernels returns is a name OpenBLAS accepts. */
static void test_kernel_ranks(void)
{
    static const char *const names[] = {
        "Katmai",  "Coppermine",  "Northwood",  "Prescott", "Banias",    "Atom",
        "Core2",   "Penryn",      "Dunnington", "Nehalem",  "Athlon",    "Opteron",
        "Opteron_SSE3", "Barcelona", "Nano",    "Sandybridge", "Bobcat", "Bulldozer",
        "Piledriver", "Haswell",  "Steamroller", "Excavator", "Zen",    "SkylakeX",
        "Cooperlake",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        CHECK(gs_blas_kernel_rank(names[i]) >= 1, "%s has no rank", names[i]);
    CHECK(gs_blas_kernel_rank("Prescott") == 1, "Prescott");
    CHECK(gs_blas_kernel_rank("Sandybridge") == 2, "Sandybridge");
    CHECK(gs_blas_kernel_rank("Haswell") == 3 && gs_blas_kernel_rank("zen") == 3, "Haswell, zen");
    CHECK(gs_blas_kernel_rank("SKYLAKEX") == 4, "SkylakeX, any case");
    CHECK(gs_blas_kernel_rank("Unknown") == 0 && gs_blas_kernel_rank(NULL) == 0, "unknown");
    CHECK(gs_blas_kernel_rank("Haswell2") == 0, "no prefix match");
}

/* A field of /proc/cpuinfo's first processor ("vendor_id", "flags"). */
static int cpuinfo_field(const char *key, char *out, size_t n)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    static char line[8192];
    int found = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0 || (line[klen] != ' ' && line[klen] != '\t')) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        snprintf(out, n, "%s", colon + 1 + (colon[1] == ' '));
        out[strcspn(out, "\n")] = 0;
        found = 0;
        break;
    }
    fclose(f);
    return found;
}

static int has_flag(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = flags; (p = strstr(p, flag)); p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

/* gs_cpu_read against the kernel's reading of the same processor. Linux
 * lists avx/avx2/fma/avx512* only when it also saves their state, which is
 * what gs_cpu_best_kernels asks for too. */
static void test_cpu_read_matches_proc_cpuinfo(void)
{
    gs_cpu cpu;
    gs_cpu_read(&cpu);
    static char vendor[64], family[16], model[16], flags[8192];
    if (cpuinfo_field("vendor_id", vendor, sizeof vendor) != 0 ||
        cpuinfo_field("cpu family", family, sizeof family) != 0 ||
        cpuinfo_field("model", model, sizeof model) != 0 ||
        cpuinfo_field("flags", flags, sizeof flags) != 0) {
        CHECK(!cpu.vendor[0], "x86 processor (%s) but no /proc/cpuinfo fields", cpu.vendor);
        return;
    }
    CHECK(strcmp(cpu.vendor, vendor) == 0, "vendor %s, /proc/cpuinfo %s", cpu.vendor, vendor);
    CHECK(cpu.family == (unsigned)atoi(family), "family %u, /proc/cpuinfo %s", cpu.family,
          family);
    CHECK(cpu.model == (unsigned)atoi(model), "model %u, /proc/cpuinfo %s", cpu.model, model);
    static const struct {
        const char *flag;
        unsigned bit;
        unsigned xcr0;
    } map[] = {
        {"avx", GS_CPU_AVX, GS_XCR0_AVX},           {"fma", GS_CPU_FMA, GS_XCR0_AVX},
        {"avx2", GS_CPU_AVX2, GS_XCR0_AVX},         {"avx512f", GS_CPU_AVX512F, GS_XCR0_AVX512},
        {"avx512dq", GS_CPU_AVX512DQ, GS_XCR0_AVX512}, {"avx512cd", GS_CPU_AVX512CD, GS_XCR0_AVX512},
        {"avx512bw", GS_CPU_AVX512BW, GS_XCR0_AVX512}, {"avx512vl", GS_CPU_AVX512VL, GS_XCR0_AVX512},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        int ours = (cpu.features & map[i].bit) && (cpu.features & GS_CPU_OSXSAVE) &&
                   (cpu.xcr0 & map[i].xcr0) == map[i].xcr0;
        CHECK(ours == has_flag(flags, map[i].flag), "%s: CPUID+XCR0 say %d, /proc/cpuinfo %d",
              map[i].flag, ours, has_flag(flags, map[i].flag));
    }
    char desc[128];
    gs_cpu_describe(&cpu, desc, sizeof desc);
    CHECK(strstr(desc, vendor) != NULL, "description \"%s\" names the vendor", desc);
    printf("  this machine: %s; OpenBLAS chose %s; the CPU runs %s\n", desc, gs_blas_core(),
           gs_cpu_best_kernels(&cpu) ? gs_cpu_best_kernels(&cpu) : "nothing above SSE");
}

static void test_describe(void)
{
    char d[128];
    gs_cpu_describe(&XEON_5TH_GEN, d, sizeof d);
    CHECK(strcmp(d, "GenuineIntel family 6 model 207: avx fma avx2 avx512") == 0, "%s", d);
    gs_cpu_describe(&XEON_5TH_GEN_NO_OS_AVX512, d, sizeof d);
    CHECK(strcmp(d, "GenuineIntel family 6 model 207: avx fma avx2 avx512(os-off)") == 0, "%s",
          d);
    gs_cpu_describe(&CORE2_PENRYN, d, sizeof d);
    CHECK(strcmp(d, "GenuineIntel family 6 model 23: sse only") == 0, "%s", d);
    char tiny[8];
    gs_cpu_describe(&XEON_5TH_GEN, tiny, sizeof tiny);
    CHECK(strlen(tiny) == 7, "truncated to the buffer: \"%s\"", tiny);
}

/* The name this process's OpenBLAS reports is one the table ranks (the
 * server's upgrade is tested against the real binary, test_api_blas). */
static void test_this_process_core_is_known(void)
{
    const char *core = gs_blas_core();
    CHECK(gs_blas_kernel_rank(core) > 0, "OpenBLAS reports \"%s\", unknown to the table", core);
}

static void test_self_check_passes(void)
{
    gs_error e;
    gs_status st = gs_blas_self_check(0, &e);
    CHECK(st == GS_OK, "%s: %s", gs_status_name(st), e.message);
}

/* A corrupted result must be caught, and named precisely: the sixth sgemm
 * (shape 3x5x7, A as is, B transposed, alpha 0.5, beta 0), row 1, column 0. */
static void test_self_check_catches_a_wrong_element(void)
{
    gs_error e;
    gs_status st = gs_blas_self_check(GS_BLAS_CHECK_CORRUPT, &e);
    CHECK(st == GS_EMISMATCH, "status %s", gs_status_name(st));
    CHECK(strstr(e.message, "sgemm NT 3x5x7 (alpha 0.5, beta 0): C[1,0]") != NULL, "message: %s",
          e.message);
    CHECK(strcmp(gs_status_name(GS_EMISMATCH), "mismatch") == 0, "status name");
}

int main(void)
{
    RUN(test_decision_table);
    RUN(test_kernel_ranks);
    RUN(test_describe);
    RUN(test_cpu_read_matches_proc_cpuinfo);
    RUN(test_this_process_core_is_known);
    RUN(test_self_check_passes);
    RUN(test_self_check_catches_a_wrong_element);
    return CHECK_DONE();
}
