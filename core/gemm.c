/* The one seam to BLAS: every matrix product of the core goes through
 * gs_gemm_f32 / gs_gemm_f64, which take OpenBLAS or the plain reference loops
 * the tests compare it with. */
#include "internal.h"

#include <cblas.h>

/* Below this many multiply-adds the call overhead of BLAS outweighs its speed
 * (measured with bench/bench_core on 2-4-1 and 784-128-10 shapes). */
#define GS_GEMM_TINY 4096

void gs_blas_set_threads(int n)
{
    openblas_set_num_threads(n < 1 ? 1 : n);
}

int gs_blas_threads(void)
{
    return openblas_get_num_threads();
}

static int use_blas(gs_gemm_path path, size_t M, size_t N, size_t K)
{
    if (path == GS_GEMM_REFERENCE) return 0;
    if (path == GS_GEMM_BLAS) return 1;
    return (double)M * (double)N * (double)K >= GS_GEMM_TINY;
}

/* The reference loops: C[i,j] = alpha sum_k A'[i,k] B'[k,j] + beta C[i,j],
 * where A' is A or A^T and B' is B or B^T, all row-major. The i-k-j order
 * keeps the inner loop on contiguous rows of B and C when B is not transposed. */
#define REFERENCE_GEMM(NAME, REAL)                                                      \
    static void NAME(int ta, int tb, size_t M, size_t N, size_t K, REAL alpha,          \
                     const REAL *A, size_t lda, const REAL *B, size_t ldb, REAL beta,   \
                     REAL *C, size_t ldc)                                               \
    {                                                                                   \
        for (size_t i = 0; i < M; i++) {                                                \
            REAL *c = C + i * ldc;                                                      \
            for (size_t j = 0; j < N; j++) c[j] = beta == 0 ? 0 : beta * c[j];          \
            for (size_t k = 0; k < K; k++) {                                            \
                REAL a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);                \
                if (tb)                                                                 \
                    for (size_t j = 0; j < N; j++) c[j] += a * B[j * ldb + k];          \
                else                                                                    \
                    for (size_t j = 0; j < N; j++) c[j] += a * B[k * ldb + j];          \
            }                                                                           \
        }                                                                               \
    }

REFERENCE_GEMM(reference_gemm_f32, float)
REFERENCE_GEMM(reference_gemm_f64, double)

/* Sizes fit in int: gs_net_def_check and gs_pass_check_rows cap every
 * dimension at INT_MAX. */
void gs_gemm_f32(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc,
                 gs_gemm_path path)
{
    if (!use_blas(path, M, N, K)) {
        reference_gemm_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb,
                beta, C, (blasint)ldc);
}

void gs_gemm_f64(int ta, int tb, size_t M, size_t N, size_t K, double alpha, const double *A,
                 size_t lda, const double *B, size_t ldb, double beta, double *C, size_t ldc,
                 gs_gemm_path path)
{
    if (!use_blas(path, M, N, K)) {
        reference_gemm_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb,
                beta, C, (blasint)ldc);
}
