/* Private to core/: the structures behind the opaque handles, and helpers
 * shared by the core's files. */
#ifndef GS_INTERNAL_H
#define GS_INTERNAL_H

#include "gradserve.h"

#include <stdarg.h>

#define GS_LAYER_TENSORS_MAX 2

/* What a layer's shape check derives from its definition and its input: the
 * row shapes in and out, its parameter tensors, and the per-pass work buffer
 * its kernels need. Filled by gs_layer_geom_of, kept per layer in the net. */
typedef struct {
    gs_shape in, out;
    size_t in_n, out_n;       /* features per row: products of in, out */
    size_t fan_in, fan_out;   /* for initialisation, as torch counts them */
    size_t n_tensors;         /* parameter tensors, at most GS_LAYER_TENSORS_MAX */
    size_t rank[GS_LAYER_TENSORS_MAX], dims[GS_LAYER_TENSORS_MAX][4];
    size_t n_params;          /* elements of every tensor */
    size_t work;              /* elements of the pass's work buffer (not per row) */
    size_t saved;             /* elements per row of the layer's own pass buffer */
    size_t saved_fixed;       /* and elements of it not per row */
    size_t n_buffers, buffer_size; /* buffers (rank 1, buffer_size each) */
    size_t first_buffer;      /* set by gs_net_create */
    size_t first_tensor;      /* set by gs_net_create: index of the layer's tensor 0 */
} gs_layer_geom;

struct gs_net {
    gs_net_def def;        /* def.layers points at layers below */
    gs_layer_def *layers;  /* [n_layers] */
    gs_layer_geom *geom;   /* [n_layers] */
    size_t n_tensors;
    size_t *offsets;       /* [n_tensors]: element offset of each parameter tensor */
    size_t *tensor_layer;  /* [n_tensors]: the layer owning it */
    size_t n_buffers;      /* buffer tensors, after the parameters in the params slab */
    size_t *buffer_offsets; /* [n_buffers] */
    size_t *buffer_layer;   /* [n_buffers] */
    size_t n_buffer_elems;
    size_t n_params;
    size_t max_width;      /* widest row of the inputs and of every layer's output */
    size_t max_work;       /* largest work buffer of any layer */
    void *params;          /* [n_params + n_buffer_elems] */
    void *grads;           /* [n_params] */
    gs_allocator alloc;
};

/* Activation buffers of one batch, one slab: per layer z, a (aliases z when
 * the activation runs in place) and delta, each [rows, layer l's out_n], and
 * its saved buffer [rows, g->saved]; then dL/dx [rows, inputs]; then the
 * layers' shared work buffer. */
struct gs_pass {
    const gs_net *net;
    size_t max_rows, rows;
    void *slab;
    void **z, **a, **delta; /* [n_layers] each */
    void **saved;           /* [n_layers]: [max_rows, g->saved] each, NULL when 0 */
    void *input_grad;
    void *work;             /* [net->max_work] */
    int training;           /* gs_pass_set_training */
    gs_allocator alloc;
};

/* ---- the layer table -------------------------------------------------------------------- */

/* What a layer's kernels get besides their tensors: the batch's rows, the
 * GEMM path, the pass's shared work buffer (net->max_work elements, no
 * lasting content), the layer's own buffer kept from forward to backward
 * (rows x g->saved elements: a dropout's mask), and the mode. */
typedef struct {
    size_t rows;
    gs_gemm_path path;
    void *work;
    void *saved;
    void *buffers; /* the layer's buffers (batch_norm: running mean, var), or NULL */
    int training;  /* dropout applies its mask; batch_norm uses the batch's statistics */
} gs_layer_run;

/* A layer's kernels, in each dtype. Arguments: outputs first, then saved
 * inputs, then parameters (the layer's tensors, contiguous in the slab from
 * its first), then the run.
 *   forward:  in [rows, g->in] -> z [rows, g->out] (before the activation)
 *   backward: dz [rows, g->out] -> dparam (written, not accumulated) and,
 *             when din is not NULL, din [rows, g->in] = dL/d(input) (written). */
#define GS_LAYER_KERNELS(REAL, SFX)                                                         \
    void (*forward_##SFX)(const gs_layer_def *L, const gs_layer_geom *g, REAL *z,           \
                          const REAL *in, const REAL *param, const gs_layer_run *run);      \
    void (*backward_##SFX)(const gs_layer_def *L, const gs_layer_geom *g, REAL *din,        \
                           REAL *dparam, const REAL *dz, const REAL *in, const REAL *param, \
                           const gs_layer_run *run)

/* One row per gs_layer_type. check fills g (g->in and g->in_n are set by the
 * caller) or fails naming "layers/<l>/<field>"; it allocates nothing. */
typedef struct {
    const char *name;
    int has_activation;                              /* else the activation is linear */
    const char *size_field; /* blamed when the layer's rows or parameters are too big */
    int unit_init;          /* weight 1, bias 0 whatever the scheme (torch's norms) */
    const char *tensor_names[GS_LAYER_TENSORS_MAX]; /* in slab order */
    const char *buffer_names[2];
    gs_status (*check)(const gs_layer_def *L, size_t l, const gs_limits *lim,
                       gs_layer_geom *g, gs_error *err);
    GS_LAYER_KERNELS(float, f32);
    GS_LAYER_KERNELS(double, f64);
} gs_layer_kind;

extern const gs_layer_kind gs_layer_kinds[GS_LAYER_COUNT];

/* The row shape of layer l's input -> g, through the table's check, with the
 * checks common to every type (activation fields, sizes). */
gs_status gs_layer_geom_of(const gs_layer_def *L, size_t l, const gs_shape *in,
                           const gs_limits *lim, gs_layer_geom *g, gs_error *err);

/* Fail naming layers/<l>/<field> (l == SIZE_MAX: <field> alone); the path
 * is built only on failure. */
gs_status gs_fail_at(gs_error *err, gs_status status, size_t l, const char *field,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A width BLAS (32-bit ints) takes and the limits allow; 0 is refused. */
gs_status gs_check_width(size_t n, const gs_limits *lim, size_t l, const char *field,
                         gs_error *err);
/* The row shape of def's inputs: [C, H, W] or [inputs]. */
gs_shape gs_def_input_shape(const gs_net_def *def);
/* Features of a row shape, 0 on overflow. */
size_t gs_shape_size(const gs_shape *s);

struct gs_optim {
    gs_optim_def def;
    gs_dtype dtype;
    size_t n_params;
    size_t steps;
    size_t n_state;
    const char *state_names[GS_OPTIM_MAX_STATE];
    void *state;            /* [n_state * n_params] */
    gs_allocator alloc;
};

/* Fill err (may be NULL) with status, field and a printf-formatted message;
 * returns status, so callers can `return gs_fail(...)`. */
gs_status gs_fail(gs_error *err, gs_status status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gs_error_clear(gs_error *err);
/* Names the gs_limits member behind a GS_ELIMIT just failed; returns st. */
static inline gs_status gs_limit(gs_error *err, gs_status st, const char *limit)
{
    if (err) err->limit = limit;
    return st;
}

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
gs_status gs_pass_forward_f32(gs_net *net, gs_pass *pass, const gs_batch *b, double *loss,
                              int want_delta, gs_error *err);
gs_status gs_pass_forward_f64(gs_net *net, gs_pass *pass, const gs_batch *b, double *loss,
                              int want_delta, gs_error *err);
void gs_pass_backward_f32(gs_net *net, gs_pass *pass, const gs_batch *b, int want_input_grad);
void gs_pass_backward_f64(gs_net *net, gs_pass *pass, const gs_batch *b, int want_input_grad);

/* Largest rows x width product a pass of max_rows needs, checked. */
gs_status gs_pass_check_rows(const gs_net *net, size_t rows, const gs_limits *lim,
                             gs_error *err);

#endif
