/* gradserve core: networks of typed layers, forward and backward passes,
 * optimizers.
 *
 * A library with no HTTP, no JSON, no globals and no printing. Every function
 * that can fail returns a gs_status and fills a gs_error the caller owns; none
 * exits or aborts on anything a caller passes in. Objects are not shared
 * between threads; distinct objects may be used from distinct threads freely.
 *
 * Conventions (those of PyTorch's nn.Linear, nn.Conv2d and torch.nn losses):
 *   - a batch is [rows, features], or [rows, C, H, W] (NCHW) for images,
 *     row-major;
 *   - a dense layer computes z = x W^T + b, a = act(z); W is [out, in], b is
 *     [out]; a conv2d layer's W is [out_channels, in_channels, kh, kw];
 *   - parameters live in one slab, each layer's tensors in turn (dense,
 *     conv2d, layer_norm, batch_norm: weight, bias; flatten, the pools,
 *     dropout: none), the order of torch's
 *     model.parameters(); gradients and optimizer state use the same layout;
 *   - every buffer is of the network's dtype (float or double), except losses
 *     and reports, which are double, and class labels, which are int64_t.
 */
#ifndef GRADSERVE_H
#define GRADSERVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GS_VERSION "0.1.0"

/* ---- status and errors ------------------------------------------------- */

typedef enum {
    GS_OK = 0,
    GS_EINVAL,    /* a definition or argument is invalid (field says which) */
    GS_ELIMIT,    /* a size exceeds a caller-given limit (field says which) */
    GS_ENOMEM,    /* an allocation failed */
    GS_EDIVERGED, /* the loss or a gradient became non-finite (step says when) */
    GS_ECANCELED, /* the caller's cancel callback asked to stop (step says when) */
    GS_EMISMATCH, /* a library's result differs from the reference loops (message says where) */
} gs_status;

/* field: a path relative to the argument being checked, '/'-separated with
 * zero-based indices, e.g. "layers/1/units" for a gs_net_def, "momentum" for
 * a gs_optim_def, "targets/7" for a label. Empty when no field is to blame. */
typedef struct {
    gs_status status;
    char field[96];
    char message[160];
    size_t step; /* GS_EDIVERGED / GS_ECANCELED: zero-based step index */
    /* GS_ELIMIT: the gs_limits member crossed ("max_units", "max_params",
     * "max_layers", "max_batch_elems"; "max_units" also for the 32-bit BLAS
     * bound on a width), or NULL when memory itself is the bound */
    const char *limit;
} gs_error;

const char *gs_status_name(gs_status s);

/* ---- allocation hook (tests inject failures through it) ----------------- */

typedef struct {
    void *(*malloc_fn)(size_t size, void *ctx);
    void (*free_fn)(void *ptr, void *ctx);
    void *ctx;
} gs_allocator;

/* The allocator used when none is given: malloc, except that blocks of 2 MiB
 * and more start on a 2 MiB boundary and ask for transparent huge pages (GEMM
 * runs a few percent faster on them). A hook that counts or fails
 * allocations should call through to it. */
extern const gs_allocator gs_default_allocator;

/* ---- network definition ------------------------------------------------ */

typedef enum { GS_FLOAT32 = 0, GS_FLOAT64 } gs_dtype;

typedef enum {
    GS_ACT_LINEAR = 0,
    GS_ACT_RELU,
    GS_ACT_LEAKY_RELU, /* uses slope */
    GS_ACT_ELU,        /* uses alpha */
    GS_ACT_GELU,       /* exact (erf) form */
    GS_ACT_SIGMOID,
    GS_ACT_TANH,
    GS_ACT_SOFTPLUS,   /* beta 1, threshold 20, as torch */
    GS_ACT_SOFTMAX,    /* last layer only; over each row */
    GS_ACT_COUNT
} gs_activation;

typedef enum {
    GS_LOSS_MSE = 0,
    GS_LOSS_L1,
    GS_LOSS_HUBER, /* uses huber_delta */
    GS_LOSS_BCE,   /* last layer sigmoid (probabilities) or linear (logits) */
    GS_LOSS_CE,    /* last layer softmax (probabilities) or linear (logits) */
    GS_LOSS_COUNT
} gs_loss;

typedef enum { GS_REDUCE_MEAN = 0, GS_REDUCE_SUM } gs_reduction;

typedef enum { GS_GEMM_AUTO = 0, GS_GEMM_BLAS, GS_GEMM_REFERENCE } gs_gemm_path;

/* Layer types; a zeroed gs_layer_def is dense. */
typedef enum {
    GS_LAYER_DENSE = 0, /* units, activation */
    GS_LAYER_FLATTEN,   /* [rows, C, H, W] -> [rows, C*H*W] in row-major order */
    GS_LAYER_CONV2D,    /* out_channels, kernel, stride, padding, activation */
    GS_LAYER_MAX_POOL2D, /* kernel, stride, padding (at most half the kernel) */
    GS_LAYER_AVG_POOL2D, /* the same; the average counts the padding's zeros */
    GS_LAYER_DROPOUT,   /* p; inverted (kept values x 1/(1-p)) in training mode */
    GS_LAYER_LAYER_NORM, /* eps, activation; over each row's every element */
    GS_LAYER_BATCH_NORM, /* eps, momentum, activation; per feature or channel */
    GS_LAYER_COUNT
} gs_layer_type;

typedef struct {
    size_t units;
    gs_activation activation;
    double slope; /* leaky_relu negative slope; default 0.01 */
    double alpha; /* elu alpha; default 1.0 */
    gs_layer_type type;
    /* conv2d (as torch.nn.Conv2d, no dilation or groups) and the pools (as
     * torch.nn.MaxPool2d, AvgPool2d: no dilation, floor mode); each pair [h, w] */
    size_t out_channels; /* conv2d */
    size_t kernel[2];
    size_t stride[2];  /* gs_layer_conv2d: 1; gs_layer_pool2d: the kernel */
    size_t padding[2]; /* on every side (conv2d, avg: zeros; max: ignored); 0 */
    double p;          /* dropout: the probability of dropping, in [0, 1) */
    double eps;        /* layer_norm, batch_norm: added to the variance; 1e-5 */
    double momentum;   /* batch_norm: of the running statistics' update; 0.1 */
} gs_layer_def;

/* The shape of one row of a tensor (the batch's rows dimension left out):
 * rank 1 [features] or rank 3 [C, H, W]. */
typedef struct {
    size_t rank;
    size_t dim[3];
} gs_shape;

typedef struct {
    size_t inputs; /* features per row; C*H*W when input_shape is given */
    /* [C, H, W] when the rows are images; all zero: the rows are [inputs] */
    size_t input_shape[3];
    size_t n_layers;
    const gs_layer_def *layers; /* n_layers entries, owned by the caller */
    gs_loss loss;
    gs_reduction reduction;
    double huber_delta; /* default 1.0 */
    /* A penalty on every layer's weight (not the biases), part of the loss and
     * its gradient: loss + l1 sum|W| + l2 sum W^2, as PyTorch computes it when
     * added to the loss (the gradient of |w| at 0 is 0). Default 0, 0. */
    double l1, l2;
    gs_dtype dtype;
    gs_gemm_path gemm; /* AUTO: BLAS except for tiny products */
} gs_net_def;

/* Limits a caller (the server) imposes; 0 means "no limit". */
typedef struct {
    size_t max_layers;
    size_t max_units;      /* per layer (units, out_channels), features of any row */
    size_t max_params;     /* total parameters of every layer */
    size_t max_batch_elems; /* rows x widest row of any layer, per pass; also a
                               convolution's per-image work buffer */
} gs_limits;

/* 1 when a and b hold the same value in every member: a definition
 * gs_net_def_check accepted against a is accepted against b (a cache of
 * checked definitions keys on this). A member added to gs_limits must be
 * compared here: a static assertion beside the definition fails until it is. */
int gs_limits_equal(const gs_limits *a, const gs_limits *b);

/* A dense layer with defaults (slope 0.01, alpha 1). */
gs_layer_def gs_layer(size_t units, gs_activation act);
/* A flatten layer. */
gs_layer_def gs_layer_flatten(void);
/* A conv2d layer: out_channels, a kh x kw kernel, stride 1, padding 0. */
gs_layer_def gs_layer_conv2d(size_t out_channels, size_t kh, size_t kw, gs_activation act);
/* A max_pool2d or avg_pool2d layer: a k x k window, stride k, padding 0. */
gs_layer_def gs_layer_pool2d(gs_layer_type type, size_t k);
/* A dropout layer dropping with probability p. */
gs_layer_def gs_layer_dropout(double p);
/* A layer_norm layer (torch.nn.LayerNorm over every non-batch dimension),
 * eps 1e-5; weight and bias have the row's shape, initialised to 1 and 0. */
gs_layer_def gs_layer_norm(gs_activation act);
/* A batch_norm layer (torch.nn.BatchNorm1d on [rows, F], BatchNorm2d on
 * [rows, C, H, W]), eps 1e-5, momentum 0.1; weight and bias [F or C]
 * initialised to 1 and 0; buffers running_mean and running_var [F or C]. */
gs_layer_def gs_layer_batch_norm(gs_activation act);
/* Defaults: mean, huber_delta 1, float32, AUTO. */
void gs_net_def_init(gs_net_def *def);

/* Names as used in requests ("relu", "cross_entropy", ...); -1 if unknown. */
const char *gs_activation_name(gs_activation a);
int gs_activation_from_name(const char *name);
const char *gs_loss_name(gs_loss l);
int gs_loss_from_name(const char *name);
const char *gs_layer_type_name(gs_layer_type t);
int gs_layer_type_from_name(const char *name);

/* Checks a definition (every layer, every field, every shape as it flows
 * through the layers) and its sizes against the limits, with
 * overflow-checked arithmetic; allocates nothing. */
gs_status gs_net_def_check(const gs_net_def *def, const gs_limits *lim, gs_error *err);

/* For a definition gs_net_def_check accepted, before any net exists (to
 * check a batch's size before anything is allocated): the widest row of the
 * inputs and of every layer's output, and *outputs (may be NULL) the
 * features of the last layer's rows; as gs_net_max_width and gs_net_outputs
 * of the net it would create. */
size_t gs_net_def_max_width(const gs_net_def *def, size_t *outputs);

/* ---- network ------------------------------------------------------------ */

typedef struct gs_net gs_net;

/* Checks def (as gs_net_def_check) and allocates the parameter and gradient
 * slabs, zeroed. alloc may be NULL (malloc/free). */
gs_net *gs_net_create(const gs_net_def *def, const gs_limits *lim,
                      const gs_allocator *alloc, gs_error *err);

/* gs_net_create_ex flags: slabs left as the allocator returns them, for a
 * caller that overwrites them anyway (a few MB of memset on big networks).
 * GS_NET_UNINIT_PARAMS: the caller sets every parameter (gs_net_set_params,
 * gs_net_init_params, or all of gs_net_params) before any pass.
 * GS_NET_UNINIT_GRADS: the grads are read only after a gs_backward, which
 * writes every element of the slab.
 * GS_NET_DEF_CHECKED: gs_net_def_check already accepted def with these
 * limits (a caller that checked it, or keeps checked definitions in a cache):
 * it is not checked again (about 0.3 us of a 2-4-1 request). A definition
 * that was not checked must not be passed with it. */
enum {
    GS_NET_UNINIT_PARAMS = 1u << 0,
    GS_NET_UNINIT_GRADS = 1u << 1,
    GS_NET_DEF_CHECKED = 1u << 2,
};

/* gs_net_create with flags (0: exactly gs_net_create). */
gs_net *gs_net_create_ex(const gs_net_def *def, const gs_limits *lim,
                         const gs_allocator *alloc, unsigned flags, gs_error *err);
void gs_net_free(gs_net *net);

const gs_net_def *gs_net_def_of(const gs_net *net); /* layers copied inside */
size_t gs_net_param_count(const gs_net *net);
size_t gs_net_outputs(const gs_net *net);   /* features of the last layer's rows */
size_t gs_net_max_width(const gs_net *net); /* widest row of inputs and layers */
size_t gs_dtype_size(gs_dtype t);
/* Row shapes: the inputs', and layer l's output (its z, a and delta). */
gs_shape gs_net_input_shape(const gs_net *net);
gs_shape gs_net_layer_shape(const gs_net *net, size_t layer);

/* The slabs: param_count elements of the net's dtype. */
void *gs_net_params(gs_net *net);
void *gs_net_grads(gs_net *net);

/* Buffers (batch_norm's running_mean and running_var): state of the net
 * that is no parameter: no gradient, no optimizer state, never changed by an
 * optimizer; a training-mode forward pass updates them. They live in the
 * params slab after the param_count parameters; gs_net_set_params and
 * gs_net_get_params leave them alone. Numbered 0..buffer_count-1; layer l
 * owns gs_net_layer_buffers(net, l, &first) of them. */
size_t gs_net_buffer_count(const gs_net *net);
size_t gs_net_layer_buffers(const gs_net *net, size_t layer, size_t *first);
const char *gs_net_buffer_name(const gs_net *net, size_t b); /* "running_mean", ... */
size_t gs_net_buffer_layer(const gs_net *net, size_t b);
size_t gs_net_buffer_offset(const gs_net *net, size_t b); /* into the params slab */
size_t gs_net_buffer_size(const gs_net *net, size_t b);   /* elements, rank 1 */
/* Sets every buffer to its initial value (running_mean 0, running_var 1);
 * gs_net_init_params does it too. */
void gs_net_reset_buffers(gs_net *net);

/* Parameter tensors, numbered 0..tensor_count-1 in slab order: layer l owns
 * gs_net_layer_tensors(net, l, &first) of them from index first. */
size_t gs_net_tensor_count(const gs_net *net);
size_t gs_net_layer_tensors(const gs_net *net, size_t layer, size_t *first);
const char *gs_net_tensor_name(const gs_net *net, size_t t); /* "weight", "bias" */
size_t gs_net_tensor_layer(const gs_net *net, size_t t);
size_t gs_net_tensor_offset(const gs_net *net, size_t t); /* elements into a slab */
size_t gs_net_tensor_size(const gs_net *net, size_t t);   /* elements */
/* Full shape: rank 1 to 4 (a conv2d weight is [out, in, kh, kw]). */
size_t gs_net_tensor_dims(const gs_net *net, size_t t, size_t dims[4]);
/* Element offsets of the weight and bias of a layer that has them (dense,
 * conv2d, the norms) in the slabs. */
size_t gs_net_weight_offset(const gs_net *net, size_t layer);
size_t gs_net_bias_offset(const gs_net *net, size_t layer);

/* Copy parameters in from / out to a buffer of any dtype (converting). */
void gs_net_set_params(gs_net *net, const void *src, gs_dtype src_dtype);
void gs_net_get_params(const gs_net *net, void *dst, gs_dtype dst_dtype);

/* ---- initialisation ------------------------------------------------------ */

typedef enum {
    GS_INIT_TORCH_DEFAULT = 0, /* nn.Linear: W, b ~ U(-1/sqrt(in), 1/sqrt(in)) */
    GS_INIT_XAVIER_UNIFORM,    /* W ~ U(-a, a), a = sqrt(6/(in+out)); b = 0 */
    GS_INIT_XAVIER_NORMAL,     /* W ~ N(0, 2/(in+out)); b = 0 */
    GS_INIT_KAIMING_UNIFORM,   /* W ~ U(-a, a), a = sqrt(6/in) (relu gain); b = 0 */
    GS_INIT_KAIMING_NORMAL,    /* W ~ N(0, 2/in); b = 0 */
    GS_INIT_ZEROS,
    GS_INIT_COUNT
} gs_init_scheme;

const char *gs_init_name(gs_init_scheme s);
int gs_init_from_name(const char *name);

/* Fills the parameters from seed. Generator: SplitMix64 seeds xoshiro256**;
 * uniforms are the top 53 bits / 2^53; normals by Box-Muller in double.
 * Values are drawn in double in parameter order, then rounded to the dtype,
 * so a seed gives the same weights on every machine and in both dtypes. */
void gs_net_init_params(gs_net *net, gs_init_scheme scheme, uint64_t seed);

/* The generator itself, for shuffling and for tests. */
typedef struct { uint64_t s[4]; } gs_rng;
void gs_rng_seed(gs_rng *r, uint64_t seed);
uint64_t gs_rng_next(gs_rng *r);
double gs_rng_uniform(gs_rng *r); /* [0, 1) */
double gs_rng_normal(gs_rng *r);  /* N(0, 1) */

/* ---- a batch and one pass ---------------------------------------------- */

/* Targets: values [rows, outputs] of the net's dtype, or (cross_entropy only)
 * class labels [rows] in 0..outputs-1. */
typedef struct {
    const void *values;
    const int64_t *labels;
} gs_targets;

typedef struct {
    const void *inputs; /* [rows, inputs] or [rows, C, H, W], net dtype */
    gs_targets targets; /* both NULL: forward only, no loss */
    size_t rows;
} gs_batch;

/* What a pass keeps beyond the loss and the parameter gradients. */
enum {
    GS_KEEP_OUTPUTS = 1u << 0,    /* gs_pass_outputs */
    GS_KEEP_INPUT_GRAD = 1u << 1, /* gs_pass_input_grad: dL/dx [rows, inputs] */
    GS_KEEP_DELTAS = 1u << 2,     /* gs_pass_delta: dL/dz per layer [rows, layer shape] */
};

/* A pass holds the activations of one batch; reusable for batches of at most
 * max_rows rows. The net is read during a pass; its grads slab is written. */
typedef struct gs_pass gs_pass;

gs_pass *gs_pass_create(const gs_net *net, size_t max_rows, const gs_limits *lim,
                        gs_error *err);
void gs_pass_free(gs_pass *pass);

/* Forward only: outputs, and the loss when targets are given (loss may be NULL). */
gs_status gs_forward(gs_net *net, gs_pass *pass, const gs_batch *batch, double *loss,
                     gs_error *err);
/* Forward and backward: the loss and the gradient of every parameter, written
 * (not accumulated) into the net's grads slab. Needs targets. */
gs_status gs_backward(gs_net *net, gs_pass *pass, const gs_batch *batch, unsigned keep,
                      double *loss, gs_error *err);

/* Training mode (a new pass is in evaluation mode): dropout layers multiply
 * by masks drawn here from seed for up to max_rows rows (gs_pass_set_training
 * again draws new ones; every pass until then uses these, so a gradient check
 * sees one mask), and batch_norm layers normalize by the batch's statistics
 * and update their running statistics on every forward pass (torch's
 * momentum rule, unbiased variance). In evaluation mode dropout is the
 * identity and batch_norm uses the running statistics. */
void gs_pass_set_training(gs_pass *pass, int training, uint64_t seed);
/* A dropout layer's mask [rows, layer shape], 1 kept and 0 dropped, in
 * training mode; NULL otherwise. */
const void *gs_pass_mask(const gs_pass *pass, size_t layer);

const void *gs_pass_outputs(const gs_pass *pass);           /* [rows, outputs] */
const void *gs_pass_input_grad(const gs_pass *pass);        /* [rows, inputs] */
const void *gs_pass_delta(const gs_pass *pass, size_t layer); /* [rows, layer shape] */
/* Layer l's output after its activation [rows, layer shape], from the last
 * forward pass (the last layer's is gs_pass_outputs); NULL past the layers. */
const void *gs_pass_activation(const gs_pass *pass, size_t layer);

/* ---- optimizers --------------------------------------------------------- */

typedef enum { GS_OPT_SGD = 0, GS_OPT_ADAM, GS_OPT_ADAMW, GS_OPT_RMSPROP, GS_OPT_COUNT } gs_optim_kind;

typedef struct {
    gs_optim_kind kind;
    double lr;           /* sgd 1e-3 (torch 2.x), adam(w) 1e-3, rmsprop 1e-2 */
    double weight_decay; /* 0; adamw 0.01 */
    double momentum;     /* sgd, rmsprop: 0 */
    double dampening;    /* sgd: 0 */
    int nesterov;        /* sgd: 0 */
    double beta1, beta2; /* adam(w): 0.9, 0.999 */
    double eps;          /* adam(w) 1e-8, rmsprop 1e-8 */
    int amsgrad;         /* adam(w): 0 */
    double alpha;        /* rmsprop smoothing: 0.99 */
    int centered;        /* rmsprop: 0 */
    double max_grad_norm; /* > 0: clip by global norm before the update */
} gs_optim_def;

void gs_optim_defaults(gs_optim_def *def, gs_optim_kind kind);
const char *gs_optim_name(gs_optim_kind k);
int gs_optim_from_name(const char *name);
gs_status gs_optim_def_check(const gs_optim_def *def, gs_error *err);

typedef struct gs_optim gs_optim;

gs_optim *gs_optim_create(const gs_net *net, const gs_optim_def *def, gs_error *err);
void gs_optim_free(gs_optim *opt);

/* One update of the net's params from its grads (torch.optim's rule). On
 * return *grad_norm (if not NULL) holds the global norm before clipping.
 * A non-finite gradient is refused with GS_EDIVERGED, nothing updated. */
gs_status gs_optim_step(gs_optim *opt, gs_net *net, double *grad_norm, gs_error *err);

/* State, to export and to resume: the number of steps taken and named buffers
 * in the parameter layout ("momentum_buffer", "exp_avg", "exp_avg_sq",
 * "max_exp_avg_sq", "square_avg", "grad_avg"), as torch names them. */
size_t gs_optim_steps(const gs_optim *opt);
void gs_optim_set_steps(gs_optim *opt, size_t steps);
size_t gs_optim_state_count(const gs_optim *opt);
/* The most buffers an optimizer keeps: Adam with amsgrad, a centered RMSprop
 * with momentum. */
#define GS_OPTIM_MAX_STATE 3
/* The buffers an optimizer of def keeps (0 to GS_OPTIM_MAX_STATE), before any
 * exists: gs_optim_state_count of the one gs_optim_create would make (to
 * estimate a request's memory before it is decoded). */
size_t gs_optim_def_state_count(const gs_optim_def *def);
const char *gs_optim_state_name(const gs_optim *opt, size_t i);
void *gs_optim_state(gs_optim *opt, size_t i); /* param_count elements, net dtype */

/* ---- training ------------------------------------------------------------ */

typedef struct {
    size_t epochs;
    size_t batch_size; /* 0: the whole batch */
    int shuffle;       /* reshuffle rows every epoch from seed */
    uint64_t seed;
    /* Called before every step; returning nonzero stops with GS_ECANCELED. */
    int (*cancel)(void *ctx);
    void *cancel_ctx;
} gs_train_def;

/* steps = epochs x ceil(rows / batch_size). */
size_t gs_train_steps(const gs_train_def *def, size_t rows);
/* The seed of step k's dropout masks (gs_train runs every step in training
 * mode): seed ^ (0x9e3779b97f4a7c15 x (k + 1)), modulo 2^64. */
uint64_t gs_train_mask_seed(uint64_t seed, size_t step);

/* Runs the steps; loss_history[k] (steps entries, may be NULL) is step k's
 * mini-batch loss before its update. *steps_done counts completed updates.
 * A non-finite loss or gradient stops before updating, with GS_EDIVERGED and
 * err->step = k; the params are then those after step k-1. */
gs_status gs_train(gs_net *net, gs_optim *opt, const gs_train_def *def,
                   const gs_batch *data, const gs_limits *lim, double *loss_history,
                   size_t *steps_done, gs_error *err);

/* ---- BLAS threads ---------------------------------------------------------- */

/* OpenBLAS's thread count is process-wide (its own global, not ours): set it
 * once at start-up, before any pass runs. 1 suits many concurrent requests. */
void gs_blas_set_threads(int n);
int gs_blas_threads(void);

/* ---- BLAS kernels: what the processor runs, what OpenBLAS chose ------------ */

/* OpenBLAS picks its kernels when it loads, from the CPU model it knows
 * (openblas_get_corename()); a model newer than the library gets its oldest
 * kernels (Prescott, SSE3). These functions tell what the processor and OS
 * can run, and decide whether to start again with OPENBLAS_CORETYPE (which
 * OpenBLAS reads only when it loads). They print nothing and exec nothing:
 * the caller does (server/kernels.c). */

/* Processor features as CPUID reports them (gs_cpu.features). */
enum {
    GS_CPU_AVX = 1u << 0,      /* leaf 1 ecx 28 */
    GS_CPU_FMA = 1u << 1,      /* leaf 1 ecx 12 */
    GS_CPU_OSXSAVE = 1u << 2,  /* leaf 1 ecx 27: XGETBV usable, xcr0 read */
    GS_CPU_AVX2 = 1u << 3,     /* leaf 7 ebx 5 */
    GS_CPU_AVX512F = 1u << 4,  /* leaf 7 ebx 16 */
    GS_CPU_AVX512DQ = 1u << 5, /* leaf 7 ebx 17 */
    GS_CPU_AVX512CD = 1u << 6, /* leaf 7 ebx 28 */
    GS_CPU_AVX512BW = 1u << 7, /* leaf 7 ebx 30 */
    GS_CPU_AVX512VL = 1u << 8, /* leaf 7 ebx 31 */
};
/* The five AVX-512 subsets OpenBLAS's SkylakeX kernels use. */
#define GS_CPU_AVX512 \
    (GS_CPU_AVX512F | GS_CPU_AVX512DQ | GS_CPU_AVX512CD | GS_CPU_AVX512BW | GS_CPU_AVX512VL)
/* XCR0 bits: the OS saves this register state across context switches. */
#define GS_XCR0_AVX 0x6u     /* SSE (xmm) and AVX (upper ymm) */
#define GS_XCR0_AVX512 0xe0u /* opmask, upper zmm0-15, zmm16-31 */

typedef struct {
    char vendor[13];         /* "GenuineIntel", "AuthenticAMD", ...; "" off x86 */
    unsigned family, model;  /* as /proc/cpuinfo shows them (extended fields added) */
    unsigned features;       /* GS_CPU_* bits */
    uint64_t xcr0;           /* XGETBV(0); 0 without OSXSAVE */
} gs_cpu;

/* Reads CPUID and XGETBV of the processor running the caller; all zero off x86. */
void gs_cpu_read(gs_cpu *cpu);

/* The strongest OpenBLAS kernel family the processor runs with its state
 * saved by the OS: "SkylakeX" (AVX-512 F/DQ/CD/BW/VL + AVX2 + FMA), "Haswell"
 * (AVX2 + FMA), "Sandybridge" (AVX), or NULL (nothing above SSE). */
const char *gs_cpu_best_kernels(const gs_cpu *cpu);

/* "GenuineIntel family 6 model 207: avx fma avx2 avx512" into buf (size >= 1);
 * AVX-512 that the OS does not enable is written "avx512(os-off)". */
void gs_cpu_describe(const gs_cpu *cpu, char *buf, size_t size);

/* The instruction set an OpenBLAS kernel family needs, as a rank: 1 SSE
 * (Prescott, Nehalem, Core2, Barcelona, ...), 2 AVX (Sandybridge, Bulldozer,
 * Piledriver, Steamroller), 3 AVX2 + FMA (Haswell, Zen, Excavator), 4 AVX-512
 * (SkylakeX, Cooperlake); 0 for a name OpenBLAS 0.3.21 does not use. Names
 * compare case-insensitively, as OpenBLAS reads OPENBLAS_CORETYPE. */
int gs_blas_kernel_rank(const char *family);

typedef enum {
    GS_BLAS_KEEP = 0,     /* OpenBLAS's choice is as strong as the processor allows */
    GS_BLAS_UPGRADE,      /* it fell back to weaker kernels: start again with coretype */
    GS_BLAS_OPERATOR,     /* OPENBLAS_CORETYPE is the operator's: kept as given */
    GS_BLAS_DISABLED,     /* it fell back, but the caller turned the upgrade off */
    GS_BLAS_UNKNOWN_CORE, /* OpenBLAS named kernels this table does not know: kept */
} gs_blas_verdict;

typedef struct {
    gs_blas_verdict verdict;
    const char *best;     /* gs_cpu_best_kernels(cpu), or NULL */
    const char *coretype; /* GS_BLAS_UPGRADE: the OPENBLAS_CORETYPE to start with; else NULL */
} gs_blas_choice;

/* The decision, pure: cpu as gs_cpu_read fills it, openblas_core the name
 * OpenBLAS chose by itself, operator_coretype the operator's
 * OPENBLAS_CORETYPE (NULL when unset; any value set, even empty, is kept),
 * upgrade 0 when the operator turned the upgrade off. */
gs_blas_choice gs_blas_choose(const gs_cpu *cpu, const char *openblas_core,
                              const char *operator_coretype, int upgrade);

/* "keep", "upgrade", "operator", "disabled", "unknown_core". */
const char *gs_blas_verdict_name(gs_blas_verdict v);

/* The kernels this process's OpenBLAS uses: openblas_get_corename(). */
const char *gs_blas_core(void);

/* gs_blas_self_check flags. GS_BLAS_CHECK_CORRUPT: one BLAS result is altered
 * before the comparison, so the check fails as it would on a wrong kernel
 * (tests of the caller's fallback). */
#define GS_BLAS_CHECK_CORRUPT 1u

/* Runs sgemm and dgemm through OpenBLAS on odd shapes (all four transpose
 * pairs, leading dimensions wider than the rows, beta 0 over NaN and beta 1)
 * and compares them with the reference loops. The inputs are small integers,
 * so every sum is exact in float and double whatever the summation order or
 * FMA: results must be equal, not close. GS_OK, GS_EMISMATCH (message: the
 * product and element), or GS_ENOMEM. Uses 512 KB for about 10 ms. */
gs_status gs_blas_self_check(unsigned flags, gs_error *err);

/* ---- gradient check ------------------------------------------------------- */

/* An element passes when |b - n| <= GS_GRADCHECK_ATOL + GS_GRADCHECK_RTOL |n|
 * (b back-propagation, n the central difference), as torch.autograd.gradcheck
 * judges, with tolerances fitted to float64 differences of step 1e-6, whose
 * error is about 1e-10 |loss|: a wrong derivative is off by far more. */
#define GS_GRADCHECK_ATOL 1e-6
#define GS_GRADCHECK_RTOL 1e-5

typedef struct {
    double max_abs_error; /* max |backprop - numeric| */
    double max_rel_error; /* max |b - n| / max(|b|, |n|, 1e-8) */
    size_t worst_index;   /* element index of the max relative error */
    size_t checked;       /* elements compared */
    int passed;           /* every element within the tolerances above */
} gs_check_report;

/* Central differences in float64 (on a float64 copy of the net) against
 * back-propagation, for every parameter tensor: report[t] for tensor t
 * (gs_net_tensor_count entries; a dense-only net: 2l weight, 2l+1 bias).
 * step h is eps * max(1, |theta|); eps 0 means 1e-6. In training mode, with
 * the dropout masks drawn from seed (gs_pass_set_training) once: every
 * evaluation sees the same masks. */
gs_status gs_gradcheck(const gs_net *net, const gs_batch *batch, double eps, uint64_t seed,
                       gs_check_report *report, gs_error *err);

#ifdef __cplusplus
}
#endif
#endif
