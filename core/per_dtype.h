/* Instantiates a kernel template once per dtype: a .c file defines
 * PER_DTYPE_IMPL as the template's header ("pass_impl.h") and includes this.
 * The template sees REAL (float, then double), SFX(name) (name_f32, then
 * name_f64) and GEMM (gs_gemm_f32, then gs_gemm_f64: gemm.c). No include
 * guard: it is meant to be included once per template. */
#ifndef PER_DTYPE_IMPL
#error "define PER_DTYPE_IMPL as the template to instantiate"
#endif

#define REAL float
#define SFX(name) name##_f32
#define GEMM gs_gemm_f32
#include PER_DTYPE_IMPL
#undef REAL
#undef SFX
#undef GEMM

#define REAL double
#define SFX(name) name##_f64
#define GEMM gs_gemm_f64
#include PER_DTYPE_IMPL
#undef REAL
#undef SFX
#undef GEMM

#undef PER_DTYPE_IMPL
