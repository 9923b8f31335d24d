// CKernels — SIMD microkernels for PEFTKit.
//
// Compiled by the toolchain's clang without special flags: the AVX2+FMA paths use per-function
// `target` attributes and are chosen at run time after CPU detection; a portable C path serves
// every other CPU (including arm64, where clang vectorises it with NEON).
#ifndef PEFTKIT_CKERNELS_H
#define PEFTKIT_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Kernel families the single-precision GEMM can run on.
typedef enum {
    PK_GEMM_KERNEL_AUTO = 0,     ///< best kernel the CPU supports
    PK_GEMM_KERNEL_PORTABLE = 1, ///< plain C, any CPU
    PK_GEMM_KERNEL_AVX2 = 2      ///< x86-64 AVX2 + FMA (falls back to portable when unsupported)
} pk_gemm_kernel;

/// Non-zero when the running CPU (and OS) support AVX2 and FMA.
int pk_cpu_has_avx2_fma(void);

/// Selects the kernel used by `pk_sgemm` in this process. Returns the kernel actually in effect.
pk_gemm_kernel pk_sgemm_set_kernel(pk_gemm_kernel kernel);

/// The kernel `pk_sgemm` uses now (never AUTO).
pk_gemm_kernel pk_sgemm_active_kernel(void);

/// Single-threaded, packed, cache-blocked SGEMM on row-major matrices:
///   C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C
/// op(A) = A (A is M×K, leading dimension lda) or Aᵀ when transA (A is K×M);
/// op(B) = B (B is K×N) or Bᵀ when transB (B is N×K).
/// When beta == 0, C is not read (NaNs in C do not propagate).
/// Callers split work across threads by offsetting the pointers; every call is independent.
void pk_sgemm(int transA, int transB,
              long M, long N, long K,
              float alpha,
              const float *A, long lda,
              const float *B, long ldb,
              float beta,
              float *C, long ldc);

/// `pk_sgemm` on an explicit kernel (AUTO means the active one); lets callers compare kernels
/// without changing process-wide state.
void pk_sgemm_with_kernel(pk_gemm_kernel kernel, int transA, int transB,
                          long M, long N, long K,
                          float alpha,
                          const float *A, long lda,
                          const float *B, long ldb,
                          float beta,
                          float *C, long ldc);

/// Per-thread flag used by the Swift parallel-for to refuse nested parallelism.
int pk_thread_in_parallel_region(void);
void pk_thread_set_parallel_region(int inside);

/// Makes glibc's allocator keep freed memory for reuse (no fresh mmap per block up to 32 MB, no
/// heap trimming). Returns 1 when applied, 0 on other C libraries.
int pk_keep_freed_memory(void);

#ifdef __cplusplus
}
#endif

#endif
