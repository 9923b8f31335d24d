// Shared definitions of the SGEMM driver and its microkernels (not part of the public header).
#ifndef PEFTKIT_SGEMM_INTERNAL_H
#define PEFTKIT_SGEMM_INTERNAL_H

#include <stdint.h>

#include "CKernels.h"

// Register tile computed by one microkernel call: MR rows of C by NR columns.
#define PK_MR 6
#define PK_NR 16

// Cache blocking (floats). A block (MC×KC, 216 KiB) lives in L2, a B micro-panel (KC×NR, 24 KiB)
// in L1, the packed B block (KC×NC, 1.1 MiB) in L3. Chosen by measuring ratios against OpenBLAS on
// the SmolLM2 training shapes on Zen 3 (32 KiB L1d, 512 KiB L2); any value is correct.
#ifndef PK_KC
#define PK_KC 384
#endif
#ifndef PK_MC
#define PK_MC 144
#endif
#ifndef PK_NC
#define PK_NC 768
#endif

// Floats of one packed A block: MC×KC plus slack (the SIMD A packers write 2 floats past a panel's end),
// rounded to a multiple of 16 so consecutive blocks stay 64-byte aligned.
#define PK_PACK_A_FLOATS ((size_t)PK_MC * PK_KC + 16)

/// Computes one full MR×NR tile: c = alpha · a·b + beta · c (c not read when beta == 0).
/// `a` is a packed MR-row panel (kc columns of MR values), `b` a packed NR-column panel
/// (kc rows of NR values), both 32-byte aligned.
typedef void (*pk_microkernel)(long kc, const float *a, const float *b,
                               float *c, long ldc, float alpha, float beta);

void pk_microkernel_portable(long kc, const float *a, const float *b,
                             float *c, long ldc, float alpha, float beta);

#if defined(__x86_64__) || defined(__i386__)
void pk_microkernel_avx2(long kc, const float *a, const float *b,
                         float *c, long ldc, float alpha, float beta);
void pk_pack_bt_panel_avx2(const float *src, long ldb, long kc, float *dst);
void pk_pack_b_rows_avx2(const float *src, long ldb, long kc, long panels, float *dst);
void pk_pack_a_panel_avx2(const float *src, long lda, long kc, float *dst);
void pk_pack_at_panel_avx2(const float *src, long lda, long kc, float *dst);
#endif
#if defined(__x86_64__)
/// 12×32: the A panels at `a` and `a + kc·MR`, the B panels at `b` and `b + kc·NR` (ordinary packing).
void pk_microkernel_avx512(long kc, const float *a, const float *b,
                           float *c, long ldc, float alpha, float beta);
/// An edge tile on AVX-512: `a_panels` (1 or 2) A panels by `b_panels` (1 or 2) B panels, all of the
/// 6·a_panels × 16·b_panels sums a·b (unscaled) written to the scratch tile `c`.
void pk_microkernel_avx512_edge(long kc, const float *a, const float *b, float *c, long ldc, int a_panels,
                                int b_panels);
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

/// IEEE half at `p` → float by F16C (exact, as `pk_half_to_float`).
__attribute__((target("avx2,fma,f16c"))) static inline float pk_load_half_f16c(const uint8_t *p) {
    uint16_t bits;
    memcpy(&bits, p, sizeof bits);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)));
}
/// Transposes the 8×8 block held in r[0..7] (row i = r[i]) in place.
__attribute__((target("avx2,fma"))) static inline void pk_transpose8x8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

#endif

/// True for the kernels that run the AVX2 packers and 6×16 microkernel (AVX-512 uses them at edges).
static inline int pk_kernel_uses_avx2(pk_gemm_kernel kernel) {
    return kernel == PK_GEMM_KERNEL_AVX2 || kernel == PK_GEMM_KERNEL_AVX512;
}

/// Where the blocked driver gets op(B) from: `pack` writes op(B)[p0:p0+kc, j0:j0+nc] as
/// ceil(nc/NR) panels of kc rows of NR values, zero-padding columns past nc (float matrices, or
/// quantized ones dequantized panel by panel).
typedef struct {
    void (*pack)(const void *context, long p0, long j0, long kc, long nc, float *dst);
    const void *context;
} pk_b_packer;

/// IEEE half → float, exact for every input (the scalar decoder of the quantized kernels).
float pk_half_to_float(uint16_t h);

/// The kernel a request resolves to (AUTO: the active one).
pk_gemm_kernel pk_sgemm_resolve(pk_gemm_kernel requested);

/// This thread's packing buffer (A block then B block), or NULL when it cannot be allocated.
float *pk_sgemm_thread_buffer(void);

/// The Goto/BLIS loops of `pk_sgemm` with B coming from `packer` (A row-major, or transposed).
void pk_sgemm_blocked(pk_gemm_kernel active, float *buffer, int transA, long M, long N, long K, float alpha,
                      const float *A, long lda, const pk_b_packer *packer, float beta, float *C, long ldc);

/// Packs op(A)[ic:ic+mc, pc:pc+kc] into `packed_a` as MR-row panels (this thread's A block).
void pk_sgemm_pack_a_block(pk_gemm_kernel active, int transA, const float *A, long lda, long ic, long pc, long mc,
                           long kc, float *packed_a);

/// The microkernel sweep of one packed A block (mc rows) against one packed B block (nc columns), both kc
/// deep: C[mc×nc] = alpha · a·b + beta · C, C pointing at the block's first element.
void pk_sgemm_block_tiles(pk_gemm_kernel active, const float *packed_a, long mc, long kc, long nc,
                          const float *packed_b, float alpha, float beta, float *C, long ldc);

/// The loops of `pk_sgemm_blocked` on up to `threads` threads of the worker pool: all of op(B) is packed
/// once into a shared buffer (each block in a part per thread, parts aligned to `granule` columns, a
/// multiple of PK_NR), and threads compute ranges of rows of C against each block once it is packed.
/// Every element's arithmetic is that of `pk_sgemm_blocked`, so results are the same bit for bit.
/// Returns 0, or -1 when the shared buffer is in use by another thread's product or cannot be allocated
/// (C untouched).
/// With `reduced` arithmetic (half or bfloat16, see `pk_reduced_arithmetic_for`), each packed block is
/// also converted by its packers and the tiles are computed by its `block_tiles` instead.
typedef struct pk_reduced_arithmetic pk_reduced_arithmetic;
int pk_sgemm_shared_b(pk_gemm_kernel active, int threads, const pk_reduced_arithmetic *reduced, int transA, long M, long N,
                      long K, float alpha, const float *A, long lda, const pk_b_packer *packer, long granule, float beta,
                      float *C, long ldc);

// Mixed precision (sgemm_half.c, x86-64 with AVX512-FP16 only): 12-row tiles by 64-column groups.
#define PK_HALF_NR 64
// Steps summed in half before the sums are added into float (relative error ~1e-3 at 64).
#define PK_HALF_SPAN 64

/// Converts a packed float A block (mc rows, kc deep) into half tiles: ceil(mc/12) tiles of kc steps of 12
/// dwords, each holding one row's value twice as IEEE half after scaling the row by a power of two that
/// brings its largest magnitude in the block into [0.5, 1); the inverse of each row's scale goes to
/// `inverse` (rows rounded up to 12).
void pk_half_pack_a(const float *packed_a, long mc, long kc, uint32_t *dst, float *inverse);

/// Converts nc columns of a packed float B block (kc deep, starting on a 64-column group) into half
/// groups of kc steps of 64 values, each group scaled by its own power of two (inverse to `inverse`).
void pk_half_pack_b(const float *packed_b, long kc, long nc, uint16_t *dst, float *inverse);

/// C[mc×nc] = alpha · a·b + beta · C for a half A block and half B groups (as `pk_sgemm_block_tiles`).
void pk_half_block_tiles(const uint32_t *half_a, const float *a_inverse, long mc, long kc, long nc,
                         const uint16_t *half_b, const float *b_inverse, float alpha, float beta, float *C, long ldc);

// bfloat16 (sgemm_bfloat16.c, x86-64 with AVX512-BF16 only), in the half path's buffers and block layout:
// A tiles of ceil(kc/2) steps of 12 dwords holding a row's pair of depths, B groups of kc/2 steps of 64
// columns' pairs (an odd last depth as 64 plain values), scaled by powers of two as the half path's.
void pk_bfloat16_pack_a(const float *packed_a, long mc, long kc, uint32_t *dst, float *inverse);
void pk_bfloat16_pack_b(const float *packed_b, long kc, long nc, uint16_t *dst, float *inverse);
void pk_bfloat16_block_tiles(const uint32_t *packed_a, const float *a_inverse, long mc, long kc, long nc,
                             const uint16_t *packed_b, const float *b_inverse, float alpha, float beta, float *C, long ldc);

/// sums[12×64] (rows PK_HALF_NR apart) = a·b for one converted 12-row A tile and one 64-column B group.
typedef void (*pk_mixed_tile)(long kc, const uint32_t *a, const uint16_t *b, float *sums);

/// C[mc×nc] = alpha · a·b · (row and group inverse scales) + beta · C (beta 0: C not read), tile by tile
/// with `tile`: the block loop and write-back of both reduced-precision paths.
void pk_mixed_block_tiles(pk_mixed_tile tile, const uint32_t *a, const float *a_inverse, long mc, long kc, long nc,
                          const uint16_t *b, const float *b_inverse, float alpha, float beta, float *C, long ldc);

#if defined(__x86_64__)
/// Power-of-two scales (in lanes 0–11; 2^-e bringing each row's largest magnitude in the block into
/// [0.5, 1), 1 for zero or non-finite rows) of the 12 rows of two packed 6-row A panels (`p1` NULL when
/// absent), with their inverses to `inverse[0..<12]`.
__attribute__((target("avx512f"))) __m512 pk_mixed_row_scales(const float *p0, const float *p1, long kc, float *inverse);

/// The power-of-two scale of a 64-column group (four packed 16-column B panels, absent ones NULL), its
/// inverse to `*inverse`.
float pk_mixed_group_scale(const float *const source[4], long kc, float *inverse);
#endif

/// A reduced-precision arithmetic of the shared-packing driver: converters of the float packers' blocks
/// and the tile routine.
struct pk_reduced_arithmetic {
    void (*pack_a)(const float *packed_a, long mc, long kc, uint32_t *dst, float *inverse);
    void (*pack_b)(const float *packed_b, long kc, long nc, uint16_t *dst, float *inverse);
    void (*block_tiles)(const uint32_t *a, const float *a_inverse, long mc, long kc, long nc, const uint16_t *b,
                        const float *b_inverse, float alpha, float beta, float *C, long ldc);
};

/// The arithmetic a product asked for `precision` runs with on the kernel `active`, or NULL for float
/// (PK_GEMM_PRECISION_FLOAT, another kernel than AVX-512, or a CPU without the instructions).
const pk_reduced_arithmetic *pk_reduced_arithmetic_for(pk_gemm_precision precision, pk_gemm_kernel active);

/// Direct path for C = alpha·A·B + beta·C (B stored K×N) with few rows of A (M ≤ PK_SMALL_M); returns 0
/// when the kernel has none (the caller packs as usual).
int pk_sgemm_small_m_nn(pk_gemm_kernel kernel, long M, long N, long K, float alpha, const float *A, long lda,
                        const float *B, long ldb, float beta, float *C, long ldc);

/// Direct dot-product path for C = alpha·A·Bᵀ + beta·C with few rows of A (M ≤ PK_SMALL_M).
#define PK_SMALL_M 4
void pk_sgemm_small_m(pk_gemm_kernel kernel, long M, long N, long K, float alpha, const float *A, long lda,
                      const float *B, long ldb, float beta, float *C, long ldc);

/// Q4_K's 6-bit scale and minimum of sub-block j (of 8), packed in 12 bytes as ggml does (shared by
/// the dequantizer and the integer decode kernels).
static inline void pk_q4_k_scale_min(const uint8_t *scales, int j, int *scale, int *minimum) {
    if (j < 4) {
        *scale = scales[j] & 63;
        *minimum = scales[j + 4] & 63;
    } else {
        *scale = (scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4);
        *minimum = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
}

#endif
