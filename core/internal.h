/* Private to core/: the structures behind the opaque handles, and helpers
 * shared by the core's files. */
#ifndef GS_INTERNAL_H
#define GS_INTERNAL_H

#include "gradserve.h"

#include <stdarg.h>

struct gs_net {
    gs_net_def def;        /* def.layers points at layers below */
    gs_layer_def *layers;  /* [n_layers] */
    size_t *offsets;       /* [2 * n_layers]: weight, bias element offsets */
    size_t n_params;
    size_t max_width;
    void *params;          /* [n_params] */
    void *grads;           /* [n_params] */
    gs_allocator alloc;
};

/* Activation buffers of one batch, one slab: per layer z, a (aliases z for
 * linear and relu layers) and delta, each [rows, units]; then dL/dx
 * [rows, inputs]. */
struct gs_pass {
    const gs_net *net;
    size_t max_rows, rows;
    void *slab;
    void **z, **a, **delta; /* [n_layers] each */
    void *input_grad;
    gs_allocator alloc;
};

struct gs_optim {
    gs_optim_def def;
    gs_dtype dtype;
    size_t n_params;
    size_t steps;
    size_t n_state;
    const char *state_names[3];
    void *state;            /* [n_state * n_params] */
    gs_allocator alloc;
};

/* Fill err (may be NULL) with status, field and a printf-formatted message;
 * returns status, so callers can `return gs_fail(...)`. */
gs_status gs_fail(gs_error *err, gs_status status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gs_error_clear(gs_error *err);

/* Allocation through the caller's hook; NULL hook means malloc/free. */
gs_allocator gs_allocator_or_default(const gs_allocator *a);
void *gs_alloc(const gs_allocator *a, size_t size);
void *gs_alloc_zero(const gs_allocator *a, size_t size);
void gs_free(const gs_allocator *a, void *p);

/* Overflow-checked size arithmetic: returns 0 on overflow. */
int gs_mul_ok(size_t a, size_t b, size_t *out);
int gs_add_ok(size_t a, size_t b, size_t *out);

/* GEMM seam, row-major, as cblas_?gemm: C = alpha op(A) op(B) + beta C with
 * op(A) [M,K], op(B) [K,N], C [M,N]. beta 0 overwrites C (NaNs in C ignored).
 * AUTO takes the reference loops for tiny products, BLAS otherwise. */
void gs_gemm_f32(int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha,
                 const float *A, size_t lda, const float *B, size_t ldb, float beta,
                 float *C, size_t ldc, gs_gemm_path path);
void gs_gemm_f64(int trans_a, int trans_b, size_t M, size_t N, size_t K, double alpha,
                 const double *A, size_t lda, const double *B, size_t ldb, double beta,
                 double *C, size_t ldc, gs_gemm_path path);

/* Pass kernels, one instance per dtype (core/pass_impl.h). */
gs_status gs_pass_forward_f32(const gs_net *net, gs_pass *pass, const gs_batch *b,
                              double *loss, int want_delta, gs_error *err);
gs_status gs_pass_forward_f64(const gs_net *net, gs_pass *pass, const gs_batch *b,
                              double *loss, int want_delta, gs_error *err);
void gs_pass_backward_f32(gs_net *net, gs_pass *pass, const gs_batch *b, int want_input_grad);
void gs_pass_backward_f64(gs_net *net, gs_pass *pass, const gs_batch *b, int want_input_grad);

/* Largest rows x width product a pass of max_rows needs, checked. */
gs_status gs_pass_check_rows(const gs_net *net, size_t rows, const gs_limits *lim,
                             gs_error *err);

#endif
