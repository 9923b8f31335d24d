// CKernels — SIMD microkernels for PEFTKit.
//
// Compiled by the toolchain's clang without special flags: the AVX2+FMA paths use per-function
// `target` attributes and are chosen at run time after CPU detection; a portable C path serves
// every other CPU (including arm64, where clang vectorises it with NEON).
#ifndef PEFTKIT_CKERNELS_H
#define PEFTKIT_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Kernel families the single-precision GEMM can run on.
typedef enum {
    PK_GEMM_KERNEL_AUTO = 0,     ///< best kernel the CPU supports
    PK_GEMM_KERNEL_PORTABLE = 1, ///< plain C, any CPU
    PK_GEMM_KERNEL_AVX2 = 2,     ///< x86-64 AVX2 + FMA (falls back to portable when unsupported)
    PK_GEMM_KERNEL_AVX512 = 3    ///< x86-64 AVX-512F: 12×32 tiles, AVX2 for the rest (falls back to AVX2)
} pk_gemm_kernel;

/// Non-zero when the running CPU (and OS) support AVX2, FMA and F16C (the AVX2 kernels' baseline).
int pk_cpu_has_avx2_fma(void);

/// Non-zero when the running CPU supports AVX-512F and the OS saves its registers (XCR0).
int pk_cpu_has_avx512f(void);

/// Non-zero when the running CPU supports AVX512-FP16 (half-precision arithmetic) with AVX-512 state enabled.
int pk_cpu_has_avx512fp16(void);

/// Non-zero when the running CPU supports AVX512-BF16 (`vdpbf16ps`) with AVX-512 state enabled.
int pk_cpu_has_avx512bf16(void);

/// Arithmetic of the shared-packing products (`pk_sgemm_threaded`, `pk_sgemm_quantized_threaded`).
typedef enum {
    PK_GEMM_PRECISION_FLOAT = 0, ///< IEEE single throughout
    /// IEEE-half operands (each row of op(A) and each 64-column group of op(B) scaled by a power of two
    /// per cache block, so nothing overflows), sums in half for 64 steps and in float beyond: about twice
    /// the float rate, relative error about 1e-3. Needs AVX512-FP16; elsewhere the product runs in float.
    PK_GEMM_PRECISION_HALF = 1,
    /// bfloat16 operands, float sums: relative error about 2e-3; about twice the float rate where
    /// `vdpbf16ps` runs at the float FMA's rate (AMD Zen 4/5), slower than float on Intel Xeons. Needs
    /// AVX512-BF16; elsewhere the product runs in float.
    PK_GEMM_PRECISION_BFLOAT16 = 2
} pk_gemm_precision;

/// True when a product asked for `precision` on the kernel `active` runs in that reduced precision (the
/// AVX-512 kernel on a CPU with AVX512-FP16 for half, AVX512-BF16 for bfloat16; the CPU is asked once).
int pk_sgemm_uses_reduced_precision(pk_gemm_precision precision, pk_gemm_kernel active);

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

/// C[M×N] = alpha·A·Bᵀ + beta·C (B stored N×K, a weight [out, in]) for any M, each row of C computed
/// as the direct few-row path computes the product of that row alone (a decoding step): one pass over
/// B serves every row, and a row's result does not depend on the others.
void pk_sgemm_independent_rows(pk_gemm_kernel kernel, long M, long N, long K, float alpha, const float *A, long lda,
                               const float *B, long ldb, float beta, float *C, long ldc);

/// `pk_sgemm` on an explicit kernel (AUTO means the active one); lets callers compare kernels
/// without changing process-wide state.
void pk_sgemm_with_kernel(pk_gemm_kernel kernel, int transA, int transB,
                          long M, long N, long K,
                          float alpha,
                          const float *A, long lda,
                          const float *B, long ldb,
                          float beta,
                          float *C, long ldc);

/// `pk_sgemm_with_kernel` on up to `threads` threads of the worker pool (see `pk_parallel_run`): the rows
/// of C are split between the threads, and op(B) is packed once into a buffer they share instead of once
/// per thread. Results equal `pk_sgemm`'s bit for bit. Products of at most 4 rows run on the caller alone.
/// Returns 0, or -1 when the shared buffer (op(B) plus an A block per thread, kept between calls) is in
/// use by another thread's product or cannot be allocated; C is then untouched.
/// With `PK_GEMM_PRECISION_HALF` on a CPU that has it, the product runs in mixed precision on any thread
/// count (one included), with results that do not depend on it, and takes a buffer of its own when the
/// shared one is in use; products of at most 4 rows stay in float.
int pk_sgemm_threaded(pk_gemm_kernel kernel, pk_gemm_precision precision, int threads, int transA, int transB,
                      long M, long N, long K,
                      float alpha,
                      const float *A, long lda,
                      const float *B, long ldb,
                      float beta,
                      float *C, long ldc);

/// Block-quantized matrix formats (GGUF's, 32 values per block or 256 for K-quants, and QLoRA's NF4, 64 per block).
typedef enum {
    PK_QUANT_Q8_0 = 8,  ///< fp16 scale + 32 int8: 34 bytes per block
    PK_QUANT_Q4_0 = 2,  ///< fp16 scale + 32 4-bit values offset by 8: 18 bytes per block
    PK_QUANT_Q4_1 = 3,  ///< fp16 scale + fp16 minimum + 32 4-bit values: 20 bytes per block
    PK_QUANT_Q5_0 = 6,  ///< fp16 scale + 32 high bits + 32 low nibbles, values offset by 16: 22 bytes per block
    PK_QUANT_Q5_1 = 7,  ///< fp16 scale + fp16 minimum + 32 high bits + 32 low nibbles: 24 bytes per block
    PK_QUANT_Q4_K = 12, ///< GGUF K-quant: 256 values in 8 sub-blocks with 6-bit scales and minimums, 144 bytes
    PK_QUANT_Q6_K = 14, ///< GGUF K-quant: 256 6-bit values in 16 sub-blocks with int8 scales, 210 bytes
    PK_QUANT_NF4 = 100  ///< float32 absmax + 64 4-bit NormalFloat codes: 36 bytes per block (not a GGUF type)
} pk_quant_format;

/// Bytes of one block of `format` (0 for an unknown format).
long pk_quant_block_bytes(pk_quant_format format);

/// Values in one block of `format`: 32, 64 for NF4, 256 for the K-quants.
long pk_quant_block_values(pk_quant_format format);

/// Dequantizes rows [row0, row0+rows) × columns [col0, col0+cols) of a row-major quantized matrix
/// (`row_bytes` bytes per row, blocks along rows) into `out` (leading dimension `ldo`).
void pk_dequantize_rows(pk_quant_format format, const void *matrix, long row_bytes, long row0, long rows,
                        long col0, long cols, float *out, long ldo);

/// Quantizes `rows` × `cols` floats (row-major, cols a multiple of the block size) to Q8_0 or Q4_1
/// as ggml's reference quantizers do, or to NF4 as QLoRA does (absmax per 64, nearest level),
/// writing `rows · cols / block` blocks to `out`. Returns 0, or -1 for another format or a column
/// count that is not a multiple of the block size.
int pk_quantize_rows(pk_quant_format format, const float *x, long rows, long cols, void *out);

/// C[M×N] = alpha · A[M×K] · op(W) + beta · C with W block-quantized, row-major, `row_bytes` per row;
/// W's element (r, c) is the quantized matrix's (row0 + r, col0 + c).
///   transW = 1: op(W) = Wᵀ, W is N×K (a linear layer's forward, x·Wᵀ).
///   transW = 0: op(W) = W,  W is K×N (its input gradient, dY·W).
/// W is dequantized panel by panel into the packing buffer; the result equals `pk_sgemm` on the
/// dequantized matrix bit for bit. Returns 0, or -1 when a buffer cannot be allocated (C untouched).
int pk_sgemm_quantized(pk_gemm_kernel kernel, int transW, long M, long N, long K, float alpha,
                       const float *A, long lda, pk_quant_format format, const void *W, long row_bytes,
                       long row0, long col0, float beta, float *C, long ldc);

/// `pk_sgemm_quantized` on up to `threads` threads of the worker pool, as `pk_sgemm_threaded`: W is
/// dequantized once into a packed buffer the threads share, and each computes a range of rows of C.
/// Results equal `pk_sgemm_quantized`'s bit for bit in float precision. `precision`, the return value and
/// C on failure as `pk_sgemm_threaded`.
int pk_sgemm_quantized_threaded(pk_gemm_kernel kernel, pk_gemm_precision precision, int threads, int transW, long M, long N, long K, float alpha,
                                const float *A, long lda, pk_quant_format format, const void *W, long row_bytes,
                                long row0, long col0, float beta, float *C, long ldc);

// MARK: - Decode products with integer activations (approximate, opt-in)

/// Non-zero when the CPU has AVX-VNNI (256-bit `vpdpbusd` without AVX-512), used by the int8 products.
int pk_cpu_has_avx_vnni(void);

/// Bits of the integer activations `pk_gemm_quantized_integer` takes for `format`: 16 for Q8_0, 8 for
/// Q4_0 and Q4_1 (the activations' rounding stays below the weights'); 0 for formats it does not serve.
int pk_integer_activation_bits(pk_quant_format format);

/// Quantizes M rows of K floats (row stride `lda`, K a multiple of 32) to `bits`-bit integers (8 or 16)
/// in blocks of 32, as llama.cpp quantizes activations: per block d = max|x|/127 (or /32767), codes
/// round(x/d) (ties to even), written to `codes` (M·K int8 or int16 values, row after row), `scales`
/// (d, M·K/32 floats) and `sums` (d · Σ codes, M·K/32 floats). Returns 0, or -1 for K not a multiple
/// of 32 or another bit count.
int pk_quantize_activations(pk_gemm_kernel kernel, int bits, const float *A, long M, long K, long lda, void *codes,
                            float *scales, float *sums);

/// C[M×N] = Ã·Wᵀ for activations Ã prepared by `pk_quantize_activations` with
/// `pk_integer_activation_bits(format)` bits and rows [row0, row0+N) of a Q8_0, Q4_0 or Q4_1 matrix W
/// (K columns, `row_bytes` per row): per block, the integer dot product of weight and activation codes
/// times both scales (plus the Q4_1 minimum times the activation sum, or minus 8 times it for Q4_0).
/// C is overwritten. Returns 0, or -1 for another format or K not a multiple of 32.
int pk_gemm_quantized_integer(pk_gemm_kernel kernel, pk_quant_format format, long M, long N, long K, const void *codes,
                              const float *scales, const float *sums, const void *W, long row_bytes, long row0, float *C, long ldc);

// MARK: - Elementwise and row kernels (AVX2 when available; callers split ranges across threads)

/// The four arithmetic operations of `pk_binary`.
typedef enum {
    PK_BINARY_ADD = 0,
    PK_BINARY_SUBTRACT = 1,
    PK_BINARY_MULTIPLY = 2,
    PK_BINARY_DIVIDE = 3
} pk_binary_op;

/// out[i] = a[i] op b[i], one IEEE operation per element (bit for bit a scalar loop's result). `out`
/// may be `a` or `b` (in-place accumulation).
void pk_binary(pk_binary_op op, const float *a, const float *b, float *out, long n);

/// out[i] = a[i] op s; `out` may be `a`.
void pk_binary_scalar(pk_binary_op op, const float *a, float s, float *out, long n);

/// out[i] = silu(gate[i]) · up[i], silu(x) = x·σ(x).
void pk_swiglu_forward(const float *gate, const float *up, float *out, long n);

/// Gradients of `pk_swiglu_forward` for the incoming gradient g, with s = σ(gate):
///   dup = g·gate·s    dgate = g·up·s·(1 + gate·(1 − s))    (either output may be NULL).
void pk_swiglu_backward(const float *gate, const float *up, const float *g, float *dgate, float *dup, long n);

/// out[i] = gelu_tanh(gate[i]) · up[i] (GeGLU, Gemma's feed-forward), computed as gate·σ(2u) with
/// u = √(2/π)·(gate + 0.044715·gate³), which equals 0.5·gate·(1 + tanh(u)).
void pk_geglu_forward(const float *gate, const float *up, float *out, long n);

/// Gradients of `pk_geglu_forward`, with s = σ(2u): dup = g·gate·s,
/// dgate = g·up·(s + gate·s·(1 − s)·2√(2/π)·(1 + 3·0.044715·gate²))    (either output may be NULL).
void pk_geglu_backward(const float *gate, const float *up, const float *g, float *dgate, float *dup, long n);

/// x[i] = e^(x[i] − shift) in place; returns the sum. Arguments ≤ −87.3 (and −∞) give exactly 0.
float pk_exp_shifted(float *x, long n, float shift);

/// out[i] = e^x[i] (about 2 ulp).
void pk_exp(const float *x, float *out, long n);

/// Softmax of a score row in place over its first `visible` entries (the causal prefix); the others become
/// exactly 0. A NaN among the visible scores makes the row NaN; `visible` ≤ 0 makes it all 0.
void pk_softmax_prefix(float *x, long n, long visible);

/// Softmax backward of `rows` rows of n probabilities p, in place of their gradients d:
///   d = p ⊙ (d − Σ d⊙p) · scale.
void pk_softmax_backward_rows(const float *p, float *d, long rows, long n, float scale);

/// Rotary embedding of rows [first_row, first_row + rows) of x (rows of 2·half values; row r at position
/// r mod steps, whose tables are cosines/sines[(r mod steps)·half ...]), into the same rows of y:
///   y[i] = x[i]·c − x[i+half]·s,  y[i+half] = x[i+half]·c + x[i]·s,  s = direction·sin.
void pk_rotary(const float *x, float *y, const float *cosines, const float *sines, long first_row, long rows,
               long steps, long half, float direction);

/// RMSNorm of `rows` rows of `c`: out = x · r · w with r = 1/√(mean(x²) + ε) stored in inverse[row].
void pk_rmsnorm_forward(const float *x, const float *w, float *out, float *inverse, long rows, long c, float epsilon);

/// RMSNorm's input gradient: dx = r·(g⊙w) − x·r³·Σ(g⊙w⊙x)/c per row.
void pk_rmsnorm_backward(const float *x, const float *w, const float *g, const float *inverse, float *dx, long rows, long c);

/// Runs function(context, task) for every task in [0, tasks) on the process's worker pool with up to
/// `threads` threads (the caller included), returning when all have finished. Workers spin briefly between
/// regions, so starting one costs well under a microsecond when regions follow each other closely. Runs
/// the tasks serially on the caller when threads ≤ 1, inside another region, or while another thread's
/// region occupies the pool.
void pk_parallel_run(long tasks, int threads, void (*function)(void *context, long task), void *context);

/// Which thread of a `pk_parallel_run(tasks, threads, …)` region runs the calling task: 0 for the caller,
/// 1 … threads − 1 for the pool's workers, so tasks can index per-thread scratch. (Inside a region run
/// serially because it is nested, the one thread running it may report a larger number.)
int pk_parallel_thread_index(void);

/// Per-thread flag used by the Swift parallel-for to refuse nested parallelism.
int pk_thread_in_parallel_region(void);
void pk_thread_set_parallel_region(int inside);

/// Matrix-product FLOP counting for operation profiles: the calling thread's counter (NULL, the
/// default: not counting). `pk_flops_add` adds atomically to it, if set; `pk_parallel_run` hands the
/// caller's counter to the workers running its tasks, so a region's products count where it began.
void pk_flops_set_counter(long *counter);
long *pk_flops_counter(void);
void pk_flops_add(long flops);
long pk_flops_read(const long *counter);

/// Makes glibc's allocator keep freed memory for reuse (no fresh mmap per block up to 32 MB, no
/// heap trimming). Returns 1 when applied, 0 on other C libraries.
int pk_keep_freed_memory(void);

#ifdef __cplusplus
}
#endif

#endif
