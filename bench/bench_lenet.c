/* bench_lenet: one training step of LeNet-5 (gs_backward: forward, loss and
 * backward, float32) on [batch, 1, 28, 28] against the bare cblas_sgemm calls
 * that step issues, per OpenBLAS thread count:
 *   conv 6@5x5 padding 2, relu; max_pool 2; conv 16@5x5, relu; max_pool 2;
 *   flatten; dense 120 relu, 84 relu, 10 (cross_entropy on class labels).
 * The convolutions are im2col + one GEMM per image (core/layers_impl.h):
 *   forward   out_b [OC, P] = W [OC, K] col_b [K, P]           K = C kh kw, P = OH OW
 *   backward  dW [OC, K] += dout_b [OC, P] col_b^T              every conv layer
 *             dcol_b [K, P] = W^T [K, OC] dout_b [OC, P]        not the first layer
 * and the dense layers bench_core's three products. The bare products run on
 * the same shapes and buffers of the same sizes, beta 0 or 1 as the step's.
 *
 * Output, one tab-separated line per measurement on stdout ('#' lines are
 * metadata): lenet <batch> <threads> step|gemm <median_us> <min_us> <samples> <gflops>
 * gflops counts the products above (the same count for step and gemm).
 *
 * usage: bench_lenet [--threads 1,2] [--batch 256] [--samples 15]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gradserve.h"
#include "lib/step.h"

#define MAX_SAMPLES 101

static void die(const char *what)
{
    fprintf(stderr, "bench_lenet: %s\n", what);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *xalloc(size_t n)
{
    void *p = bench_alloc(n * sizeof(float));
    if (!p) die("out of memory");
    return p;
}

/* ---- the bare products ------------------------------------------------------------------- */

typedef struct {
    size_t OC, K, P; /* a convolution's product sizes */
    int first;       /* no dcol */
    float *w, *dw, *col, *dcol, *out;
} conv_gemms;

typedef struct {
    size_t B;
    conv_gemms conv[2];
    size_t sizes[4]; /* 400-120-84-10 */
    float *a[4], *d[4], *w[3], *dw[3];
} gemm_ctx;

static void gemm_run(gemm_ctx *c)
{
    for (int k = 0; k < 2; k++) {
        conv_gemms *g = &c->conv[k];
        int OC = (int)g->OC, K = (int)g->K, P = (int)g->P;
        for (size_t b = 0; b < c->B; b++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, P, K, 1.0f, g->w, K,
                        g->col, P, 1.0f, g->out + b * OC * P, P);
    }
    int B = (int)c->B;
    for (int l = 0; l < 3; l++) {
        int in = (int)c->sizes[l], out = (int)c->sizes[l + 1];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, c->a[l], in,
                    c->w[l], in, 1.0f, c->a[l + 1], out);
    }
    for (int l = 3; l-- > 0;) {
        int in = (int)c->sizes[l], out = (int)c->sizes[l + 1];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, c->d[l + 1], out,
                    c->a[l], in, 0.0f, c->dw[l], in);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, c->d[l + 1],
                    out, c->w[l], in, 0.0f, c->d[l], in);
    }
    for (int k = 2; k-- > 0;) {
        conv_gemms *g = &c->conv[k];
        int OC = (int)g->OC, K = (int)g->K, P = (int)g->P;
        for (size_t b = 0; b < c->B; b++) {
            const float *db = g->out + b * OC * P;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, K, P, 1.0f, db, P, g->col,
                        P, b ? 1.0f : 0.0f, g->dw, K);
            if (!g->first)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, OC, 1.0f, g->w, K, db,
                            P, 0.0f, g->dcol, P);
        }
    }
}

static double gemm_flops(const gemm_ctx *c)
{
    double f = 0, B = (double)c->B;
    for (int k = 0; k < 2; k++) {
        const conv_gemms *g = &c->conv[k];
        f += B * 2.0 * (double)(g->OC * g->K * g->P) * (g->first ? 2 : 3);
    }
    for (int l = 0; l < 3; l++) f += 3 * 2.0 * B * (double)(c->sizes[l] * c->sizes[l + 1]);
    return f;
}

static void gemm_init(gemm_ctx *c, size_t B, gs_rng *r)
{
    memset(c, 0, sizeof *c);
    c->B = B;
    const size_t conv[2][4] = {{6, 25, 784, 1}, {16, 150, 100, 0}};
    for (int k = 0; k < 2; k++) {
        conv_gemms *g = &c->conv[k];
        g->OC = conv[k][0], g->K = conv[k][1], g->P = conv[k][2], g->first = (int)conv[k][3];
        g->w = xalloc(g->OC * g->K);
        g->dw = xalloc(g->OC * g->K);
        g->col = xalloc(g->K * g->P);
        g->dcol = xalloc(g->K * g->P);
        g->out = xalloc(B * g->OC * g->P);
        bench_fill_uniform(g->w, g->OC * g->K, -0.1f, 0.1f, r);
        bench_fill_uniform(g->col, g->K * g->P, 0, 1, r);
        bench_fill_uniform(g->out, B * g->OC * g->P, -0.1f, 0.1f, r);
    }
    const size_t sizes[4] = {400, 120, 84, 10};
    memcpy(c->sizes, sizes, sizeof sizes);
    for (int l = 0; l < 4; l++) {
        c->a[l] = xalloc(B * sizes[l]);
        c->d[l] = xalloc(B * sizes[l]);
        bench_fill_uniform(c->a[l], B * sizes[l], 0, 1, r);
        bench_fill_uniform(c->d[l], B * sizes[l], -0.1f, 0.1f, r);
    }
    for (int l = 0; l < 3; l++) {
        c->w[l] = xalloc(sizes[l] * sizes[l + 1]);
        c->dw[l] = xalloc(sizes[l] * sizes[l + 1]);
        bench_fill_uniform(c->w[l], sizes[l] * sizes[l + 1], -0.1f, 0.1f, r);
    }
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    int threads[8], n_threads = 0;
    size_t B = 256, samples = 15;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            for (char *s = strtok(argv[++i], ","); s && n_threads < 8; s = strtok(NULL, ","))
                threads[n_threads++] = atoi(s);
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            B = (size_t)atol(argv[++i]);
        } else if (!strcmp(argv[i], "--samples") && i + 1 < argc) {
            samples = (size_t)atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_lenet [--threads 1,2] [--batch 256] [--samples 15]\n");
            return 2;
        }
    }
    if (!n_threads) {
        threads[n_threads++] = 1;
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        if (nc > 1) threads[n_threads++] = (int)nc;
    }
    if (B == 0 || samples == 0 || samples > MAX_SAMPLES) die("bad --batch or --samples");

    const char *why = NULL;
    bench_step *s = bench_lenet_new(B, 1, &why);
    if (!s) die(why);
    gs_rng r;
    gs_rng_seed(&r, 7);
    gemm_ctx g;
    gemm_init(&g, B, &r);

    printf("#meta\tbatch\t%zu\n", B);
    for (int t = 0; t < n_threads; t++) {
        gs_blas_set_threads(threads[t]);
        double st[MAX_SAMPLES], gt[MAX_SAMPLES];
        if (bench_step_run(s, 1)) die("the step failed"); /* warm-up: pages, threads */
        gemm_run(&g);
        for (size_t k = 0; k < samples; k++) { /* in turns: a burst of load hits both */
            double t0 = now_s();
            if (bench_step_run(s, 1)) die("the step failed");
            double t1 = now_s();
            gemm_run(&g);
            st[k] = t1 - t0;
            gt[k] = now_s() - t1;
        }
        qsort(st, samples, sizeof *st, cmp_double);
        qsort(gt, samples, sizeof *gt, cmp_double);
        double flops = gemm_flops(&g);
        printf("lenet\t%zu\t%d\tstep\t%.1f\t%.1f\t%zu\t%.2f\n", B, threads[t],
               1e6 * st[samples / 2], 1e6 * st[0], samples, flops / st[samples / 2] * 1e-9);
        printf("lenet\t%zu\t%d\tgemm\t%.1f\t%.1f\t%zu\t%.2f\n", B, threads[t],
               1e6 * gt[samples / 2], 1e6 * gt[0], samples, flops / gt[samples / 2] * 1e-9);
        fflush(stdout);
    }
    bench_step_free(s);
    return 0;
}
