/* bench_core: one training step of the core (gs_backward: forward, loss and
 * backward, float32, GS_GEMM_AUTO) against the bare cblas_sgemm calls that
 * step needs, per shape and per OpenBLAS thread count.
 *
 * The bare products are the step's "limit": with nothing around them (no bias,
 * activation, loss or bias gradient) the step cannot be faster. For a net of
 * layers l = 0..L-1 with a_{-1} = x:
 *   forward   z_l  = a_{l-1} W_l^T      (B,in) x (out,in)^T -> (B,out)
 *   backward  dW_l = d_l^T a_{l-1}      (B,out)^T x (B,in)  -> (out,in)
 *             da_{l-1} = d_l W_l        (B,out) x (out,in)  -> (B,in), l > 0 only
 * the products core/pass_impl.h issues through gs_gemm_f32 (dL/dx is not asked
 * for). The step's forward adds the bias with beta 1 onto rows copied from b;
 * the bare products use beta 0.
 *
 * Output, one tab-separated line per measurement on stdout ('#' lines are
 * metadata and the header):
 *   core <shape> <batch> <threads> step|gemm <median_us> <min_us> <samples> <inner> <gflops>
 * gflops counts the products above (the same count for step and gemm).
 *
 * usage: bench_core [--threads 1,2] [--budget SECONDS] [--only SHAPE:BATCH]
 *                   [--what step|gemm]
 *        bench_core --kernels
 *   --threads  OpenBLAS thread counts to run (default: 1 and the number of cores)
 *   --budget   time per measurement after warm-up (default 0.5 s); the step
 *              and its bare products are timed in alternating samples
 *   --only     run one shape, e.g. --only 784-128-10:64
 *   --what     time only the step or only the bare products (to profile one)
 *   --kernels  print the server's start-up decision for this process's
 *              environment and exit (bench/run.sh gives every benchmark process
 *              the kernels the server would compute with):
 *              openblas_choice <TAB> best <TAB> verdict <TAB> coretype|-
 *              (see gs_blas_choose; best "-" when nothing above SSE)
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gradserve.h"
#include "lib/step.h"

#define MAX_SIZES 8
#define MAX_THREAD_COUNTS 8
#define MIN_SAMPLES 7
#define MAX_SAMPLES 101
#define SAMPLE_MIN_S 0.005 /* a sample times enough calls to last this long */
#define WARMUP_S 0.05

typedef struct {
    const char *name;           /* sizes joined by '-' */
    size_t batch;
    size_t n_sizes;             /* inputs, then the units of each layer */
    size_t sizes[MAX_SIZES];
    gs_loss loss;               /* CE: labels, last layer linear (logits) */
} shape;

static const shape SHAPES[] = {
    {"2-4-1", 4, 3, {2, 4, 1}, GS_LOSS_MSE},
    {"784-128-10", 64, 3, {784, 128, 10}, GS_LOSS_CE},
    {"784-512-512-10", 256, 4, {784, 512, 512, 10}, GS_LOSS_CE},
    {"784-512-512-10", 1000, 4, {784, 512, 512, 10}, GS_LOSS_CE},
    {"1024-4096-4096-1024", 512, 4, {1024, 4096, 4096, 1024}, GS_LOSS_MSE},
};
#define N_SHAPES (sizeof SHAPES / sizeof SHAPES[0])

static void die(const char *what)
{
    fprintf(stderr, "bench_core: %s\n", what);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = bench_alloc(n);
    if (!p) die("out of memory");
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- timing --------------------------------------------------------------- */

typedef void (*work_fn)(void *ctx);

/* One thing to time: fn(ctx) is called `inner` times per sample. */
typedef struct {
    work_fn fn;
    void *ctx;
    size_t inner;
    double once;                 /* fastest single call seen in the warm-up */
    double sample[MAX_SAMPLES];  /* seconds per call */
} series;

typedef struct {
    double median_s, min_s; /* per call */
    size_t samples, inner;  /* samples of inner calls each */
} timing;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Warm up (page faults, OpenBLAS thread start-up, caches) and choose how many
 * calls make one sample last at least SAMPLE_MIN_S. */
static void warm_up(series *w)
{
    double t0 = now_s();
    w->fn(w->ctx);
    w->once = now_s() - t0;
    for (size_t calls = 1; now_s() - t0 < WARMUP_S || calls < 2; calls++) {
        double t1 = now_s();
        w->fn(w->ctx);
        w->once = fmin(w->once, now_s() - t1);
    }
    w->inner = w->once >= SAMPLE_MIN_S ? 1 : (size_t)ceil(SAMPLE_MIN_S / fmax(w->once, 1e-9));
}

/* Time the series in turns, sample k of each before sample k+1 of any, so
 * that a burst of load from elsewhere on the machine hits the step and its
 * bare products alike and their ratio stays meaningful; then the median of
 * each. Each sample starts with one untimed call, so that neither pays for
 * refilling the caches after the other. Samples are scaled so that each
 * series takes about budget_s, within [MIN_SAMPLES, MAX_SAMPLES]. */
static void measure(series *w, size_t n, double budget_s, timing *out)
{
    double per_sample = 0;
    for (size_t i = 0; i < n; i++) {
        warm_up(&w[i]);
        per_sample = fmax(per_sample, w[i].once * (double)w[i].inner);
    }
    double want = ceil(budget_s / per_sample);
    size_t samples = want < MIN_SAMPLES ? MIN_SAMPLES
                     : want > MAX_SAMPLES ? MAX_SAMPLES : (size_t)want;
    for (size_t k = 0; k < samples; k++) {
        for (size_t i = 0; i < n; i++) {
            w[i].fn(w[i].ctx);
            double t1 = now_s();
            for (size_t c = 0; c < w[i].inner; c++) w[i].fn(w[i].ctx);
            w[i].sample[k] = (now_s() - t1) / (double)w[i].inner;
        }
    }
    for (size_t i = 0; i < n; i++) {
        double *s = w[i].sample;
        qsort(s, samples, sizeof s[0], cmp_double);
        out[i].median_s = samples % 2 ? s[samples / 2] : 0.5 * (s[samples / 2 - 1] + s[samples / 2]);
        out[i].min_s = s[0];
        out[i].samples = samples;
        out[i].inner = w[i].inner;
    }
}

/* ---- the step: gs_backward (bench/lib/step.c) ------------------------------ */

static void step_run(void *p)
{
    if (bench_step_run(p, 1) != 0) die("gs_backward failed or its loss is not finite");
}

/* ---- the limit: the same products, bare ------------------------------------ */

typedef struct {
    size_t B, n_layers;
    const size_t *sizes;
    float *a[MAX_SIZES];  /* a[0] = x [B, sizes[0]], a[l+1] = layer l's output [B, sizes[l+1]] */
    float *d[MAX_SIZES];  /* d[l+1]: dL/dz of layer l [B, sizes[l+1]]; d[l] also takes da_{l-1} */
    float *w[MAX_SIZES];  /* W_l [sizes[l+1], sizes[l]] */
    float *dw[MAX_SIZES]; /* dW_l, same shape */
} gemm_ctx;

static void gemm_run(void *p)
{
    gemm_ctx *c = p;
    const int B = (int)c->B;
    for (size_t l = 0; l < c->n_layers; l++) {
        const int in = (int)c->sizes[l], out = (int)c->sizes[l + 1];
        /* z_l = a_{l-1} W_l^T: (B,in) x (out,in)^T -> (B,out) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, c->a[l], in,
                    c->w[l], in, 0.0f, c->a[l + 1], out);
    }
    for (size_t l = c->n_layers; l-- > 0;) {
        const int in = (int)c->sizes[l], out = (int)c->sizes[l + 1];
        /* dW_l = d_l^T a_{l-1}: (B,out)^T x (B,in) -> (out,in) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, c->d[l + 1], out,
                    c->a[l], in, 0.0f, c->dw[l], in);
        /* da_{l-1} = d_l W_l: (B,out) x (out,in) -> (B,in); not for the first layer */
        if (l > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f,
                        c->d[l + 1], out, c->w[l], in, 0.0f, c->d[l], in);
    }
}

static void gemm_init(gemm_ctx *c, const shape *sh, gs_rng *rng)
{
    memset(c, 0, sizeof *c);
    c->B = sh->batch;
    c->n_layers = sh->n_sizes - 1;
    c->sizes = sh->sizes;
    for (size_t i = 0; i < sh->n_sizes; i++) {
        c->a[i] = xmalloc(sh->batch * sh->sizes[i] * sizeof(float));
        c->d[i] = xmalloc(sh->batch * sh->sizes[i] * sizeof(float));
        bench_fill_uniform(c->a[i], sh->batch * sh->sizes[i], -1.0f, 1.0f, rng);
        bench_fill_uniform(c->d[i], sh->batch * sh->sizes[i], -0.01f, 0.01f, rng);
    }
    for (size_t l = 0; l < c->n_layers; l++) {
        size_t n = sh->sizes[l] * sh->sizes[l + 1];
        float bound = 1.0f / sqrtf((float)sh->sizes[l]);
        c->w[l] = xmalloc(n * sizeof(float));
        c->dw[l] = xmalloc(n * sizeof(float));
        bench_fill_uniform(c->w[l], n, -bound, bound, rng);
        memset(c->dw[l], 0, n * sizeof(float));
    }
}

static void gemm_free(gemm_ctx *c)
{
    for (size_t i = 0; i <= c->n_layers; i++) {
        free(c->a[i]);
        free(c->d[i]);
    }
    for (size_t l = 0; l < c->n_layers; l++) {
        free(c->w[l]);
        free(c->dw[l]);
    }
}

static double gemm_flops(const shape *sh)
{
    double f = 0;
    for (size_t l = 0; l + 1 < sh->n_sizes; l++) {
        double mnk = 2.0 * (double)sh->batch * (double)sh->sizes[l] * (double)sh->sizes[l + 1];
        f += mnk * (l > 0 ? 3 : 2); /* forward, dW, and da for all but the first */
    }
    return f;
}

/* ---- main ------------------------------------------------------------------- */

static void report(const shape *sh, int threads, const char *what, timing t)
{
    printf("core\t%s\t%zu\t%d\t%s\t%.3f\t%.3f\t%zu\t%zu\t%.2f\n", sh->name, sh->batch, threads,
           what, t.median_s * 1e6, t.min_s * 1e6, t.samples, t.inner,
           gemm_flops(sh) / t.median_s * 1e-9);
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_core [--threads 1,2] [--budget SECONDS] [--only SHAPE:BATCH]"
                    " [--what step|gemm] | --kernels\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int threads[MAX_THREAD_COUNTS];
    size_t n_threads = 0;
    double budget = 0.5;
    const char *only = NULL, *what = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *s = argv[++i], *end;
            while (*s && n_threads < MAX_THREAD_COUNTS) {
                long v = strtol(s, &end, 10);
                if (end == s || v < 1 || v > 1024) usage();
                threads[n_threads++] = (int)v;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') usage();
            }
        } else if (!strcmp(argv[i], "--budget") && i + 1 < argc) {
            budget = atof(argv[++i]);
            if (!(budget > 0)) usage();
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--kernels")) {
            gs_cpu cpu;
            gs_cpu_read(&cpu);
            gs_blas_choice c = gs_blas_choose(&cpu, gs_blas_core(), getenv("OPENBLAS_CORETYPE"), 1);
            printf("%s\t%s\t%s\t%s\n", gs_blas_core(), c.best ? c.best : "-",
                   gs_blas_verdict_name(c.verdict), c.coretype ? c.coretype : "-");
            return 0;
        } else if (!strcmp(argv[i], "--what") && i + 1 < argc) {
            what = argv[++i];
            if (strcmp(what, "step") && strcmp(what, "gemm")) usage();
        } else {
            usage();
        }
    }
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncores < 1) ncores = 1;
    if (n_threads == 0) {
        threads[n_threads++] = 1;
        if (ncores > 1) threads[n_threads++] = (int)ncores;
    }

    printf("#meta\tgradserve\t%s\n", GS_VERSION);
    printf("#meta\tcorename\t%s\n", openblas_get_corename());
    printf("#meta\topenblas_config\t%s\n", openblas_get_config());
    printf("#meta\tncores\t%ld\n", ncores);
    printf("#fields\tbench\tshape\tbatch\tthreads\twhat\tmedian_us\tmin_us\tsamples\tinner\tgflops\n");
    fflush(stdout);

    for (size_t ti = 0; ti < n_threads; ti++) {
        bench_step_set_threads(threads[ti]);
        printf("#meta\topenblas_threads@%d\t%d\n", threads[ti], openblas_get_num_threads());
        for (size_t s = 0; s < N_SHAPES; s++) {
            const shape *sh = &SHAPES[s];
            char key[64];
            snprintf(key, sizeof key, "%s:%zu", sh->name, sh->batch);
            if (only && strcmp(only, key)) continue;

            gs_rng rng;
            gs_rng_seed(&rng, 1234 + s);
            int do_step = !what || !strcmp(what, "step"), do_gemm = !what || !strcmp(what, "gemm");
            static series w[2]; /* static: MAX_SAMPLES doubles each */
            static timing t[2];
            const char *names[2];
            bench_step *sc = NULL;
            gemm_ctx gc;
            size_t n = 0;
            if (do_step) {
                const char *why;
                sc = bench_step_new(sh->sizes, sh->n_sizes, sh->batch,
                                    sh->loss == GS_LOSS_CE ? "ce" : "mse", 1234 + s, &why);
                if (!sc) die(why);
                step_run(sc);
                w[n] = (series){.fn = step_run, .ctx = sc};
                names[n++] = "step";
            }
            if (do_gemm) {
                gemm_init(&gc, sh, &rng);
                w[n] = (series){.fn = gemm_run, .ctx = &gc};
                names[n++] = "gemm";
            }
            measure(w, n, budget, t);
            for (size_t i = 0; i < n; i++) report(sh, threads[ti], names[i], t[i]);
            bench_step_free(sc);
            if (do_gemm) gemm_free(&gc);
        }
    }
    return 0;
}
