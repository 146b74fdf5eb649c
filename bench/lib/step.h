/* The benchmarked step: one gs_backward (forward, loss, backward; float32,
 * GS_GEMM_AUTO) of a dense net, hidden layers ReLU, last layer linear (or of
 * LeNet-5), on
 * uniform random inputs. bench_core times it against its bare GEMMs; the same
 * code is built as build/bench/libbench_step.so so that bench/torch_bench.py
 * can time it inside the PyTorch or NumPy process, in alternating samples with
 * the framework's own step (one OpenBLAS, one time window; see bench/run.sh).
 *
 * The functions take plain C types only, for ctypes. */
#ifndef BENCH_STEP_H
#define BENCH_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "gradserve.h"

typedef struct bench_step bench_step;

/* sizes: the inputs, then the units of each layer (n_sizes >= 2); loss "mse"
 * (uniform targets) or "ce" (class labels, logits). NULL on a bad argument or
 * out of memory; *why (when given) then says which. */
bench_step *bench_step_new(const size_t *sizes, size_t n_sizes, size_t batch,
                           const char *loss, uint64_t seed, const char **why);
/* LeNet-5 on [batch, 1, 28, 28] uniform [0, 1) inputs, 10 classes (labels):
 * conv 6@5x5 padding 2, relu; max_pool 2; conv 16@5x5, relu; max_pool 2;
 * flatten; dense 120 relu, 84 relu, 10; cross_entropy. */
bench_step *bench_lenet_new(size_t batch, uint64_t seed, const char **why);
/* Run `calls` steps back to back. 0, or -1 if a step failed or its loss was
 * not finite. */
int bench_step_run(bench_step *s, size_t calls);
double bench_step_loss(const bench_step *s); /* the last step's loss */
void bench_step_free(bench_step *s);

/* OpenBLAS threads for every step in this process (gs_blas_set_threads). */
void bench_step_set_threads(int n);
/* Buffers as the core and numpy get them: big ones 2 MiB-aligned with
 * transparent huge pages requested. NULL when out of memory; free() it. */
void *bench_alloc(size_t n);
/* x[0, n) uniform in [lo, hi), drawn from r (gradserve.h's generator). */
void bench_fill_uniform(float *x, size_t n, float lo, float hi, gs_rng *r);

#endif
