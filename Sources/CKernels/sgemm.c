// Packed, cache-blocked single-precision GEMM driver (Goto/BLIS loop order).
//
//   for jc in N step NC:            B block column
//     for pc in K step KC:          pack op(B)[pc:pc+KC, jc:jc+NC] into NR-wide panels (L3)
//       for ic in M step MC:        pack op(A)[ic:ic+MC, pc:pc+KC] into MR-tall panels (L2)
//         for jr in NC step NR:     one B micro-panel stays in L1 ...
//           for ir in MC step MR:   ... while the microkernel sweeps the A panels
//
// Transposed operands are absorbed by the packing routines, so one microkernel serves
// C = A·B, A·Bᵀ, Aᵀ·B and Aᵀ·Bᵀ. `pk_sgemm` is single-threaded (the Swift layer splits C across
// threads); `pk_sgemm_threaded` splits the rows of C over the worker pool and packs op(B) once for all
// threads (sgemm_threaded.c).
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "CKernels.h"
#include "sgemm_internal.h"

// MARK: - Kernel selection

static _Atomic int active_kernel = PK_GEMM_KERNEL_AUTO;

static pk_gemm_kernel resolve(pk_gemm_kernel requested) {
    if (requested == PK_GEMM_KERNEL_PORTABLE || !pk_cpu_has_avx2_fma()) return PK_GEMM_KERNEL_PORTABLE;
    if (requested == PK_GEMM_KERNEL_AVX2) return PK_GEMM_KERNEL_AVX2;
    return pk_cpu_has_avx512f() ? PK_GEMM_KERNEL_AVX512 : PK_GEMM_KERNEL_AVX2;
}

pk_gemm_kernel pk_sgemm_set_kernel(pk_gemm_kernel kernel) {
    pk_gemm_kernel resolved = resolve(kernel);
    atomic_store(&active_kernel, (int)resolved);
    return resolved;
}

pk_gemm_kernel pk_sgemm_active_kernel(void) {
    int k = atomic_load(&active_kernel);
    if (k == PK_GEMM_KERNEL_AUTO) return pk_sgemm_set_kernel(PK_GEMM_KERNEL_AUTO);
    return (pk_gemm_kernel)k;
}

static pk_microkernel microkernel_for(pk_gemm_kernel kernel) {
#if defined(__x86_64__) || defined(__i386__)
    if (pk_kernel_uses_avx2(kernel)) return pk_microkernel_avx2;
#endif
    (void)kernel;
    return pk_microkernel_portable;
}

// MARK: - Per-thread packing buffers

#define PK_PACK_B_FLOATS ((size_t)PK_KC * PK_NC)

static pthread_once_t buffer_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t buffer_key;

static void make_buffer_key(void) { pthread_key_create(&buffer_key, free); }

/// One 64-byte-aligned allocation per thread: [A panel block | B panel block]. NULL if out of memory.
static float *thread_pack_buffer(void) {
    pthread_once(&buffer_key_once, make_buffer_key);
    float *buffer = pthread_getspecific(buffer_key);
    if (buffer == NULL) {
        buffer = aligned_alloc(64, (PK_PACK_A_FLOATS + PK_PACK_B_FLOATS) * sizeof(float));
        if (buffer != NULL) pthread_setspecific(buffer_key, buffer);
    }
    return buffer;
}

// MARK: - Packing

/// Packs op(A)[i0:i0+mc, p0:p0+kc] as ceil(mc/MR) panels, each kc columns of MR values,
/// zero-padding rows past mc.
static void pack_a(int transA, int simd, const float *A, long lda, long i0, long p0,
                   long mc, long kc, float *restrict dst) {
    for (long ip = 0; ip < mc; ip += PK_MR) {
        const long rows = (mc - ip < PK_MR) ? mc - ip : PK_MR;
#if defined(__x86_64__) || defined(__i386__)
        if (simd && rows == PK_MR) {
            if (transA) {
                pk_pack_at_panel_avx2(A + p0 * lda + i0 + ip, lda, kc, dst);
            } else {
                pk_pack_a_panel_avx2(A + (i0 + ip) * lda + p0, lda, kc, dst);
            }
            dst += kc * PK_MR;
            continue;
        }
#endif
        if (transA) {
            // op(A)[i][k] = A[k][i]: the MR values of one k are contiguous.
            for (long k = 0; k < kc; k++) {
                const float *src = A + (p0 + k) * lda + i0 + ip;
                long i = 0;
                for (; i < rows; i++) dst[k * PK_MR + i] = src[i];
                for (; i < PK_MR; i++) dst[k * PK_MR + i] = 0.0f;
            }
        } else {
            for (long i = 0; i < PK_MR; i++) {
                if (i < rows) {
                    const float *src = A + (i0 + ip + i) * lda + p0;
                    for (long k = 0; k < kc; k++) dst[k * PK_MR + i] = src[k];
                } else {
                    for (long k = 0; k < kc; k++) dst[k * PK_MR + i] = 0.0f;
                }
            }
        }
        dst += kc * PK_MR;
    }
}

/// Packs op(B)[p0:p0+kc, j0:j0+nc] as ceil(nc/NR) panels, each kc rows of NR values,
/// zero-padding columns past nc.
static void pack_b(int transB, int simd, const float *B, long ldb, long p0, long j0,
                   long kc, long nc, float *restrict dst) {
#if defined(__x86_64__) || defined(__i386__)
    if (simd && !transB && nc >= PK_NR) {
        // Whole panels row by row: each row of B is read as one run.
        const long panels = nc / PK_NR;
        pk_pack_b_rows_avx2(B + p0 * ldb + j0, ldb, kc, panels, dst);
        dst += panels * kc * PK_NR;
        j0 += panels * PK_NR;
        nc -= panels * PK_NR;
    }
#endif
    for (long jp = 0; jp < nc; jp += PK_NR) {
        const long cols = (nc - jp < PK_NR) ? nc - jp : PK_NR;
#if defined(__x86_64__) || defined(__i386__)
        if (simd && cols == PK_NR && transB) {  // whole panels of op(B) = B were packed above
            pk_pack_bt_panel_avx2(B + (j0 + jp) * ldb + p0, ldb, kc, dst);
            dst += kc * PK_NR;
            continue;
        }
#endif
        if (transB) {
            // op(B)[k][j] = B[j][k]: read each of the NR source rows contiguously.
            for (long j = 0; j < PK_NR; j++) {
                if (j < cols) {
                    const float *src = B + (j0 + jp + j) * ldb + p0;
                    for (long k = 0; k < kc; k++) dst[k * PK_NR + j] = src[k];
                } else {
                    for (long k = 0; k < kc; k++) dst[k * PK_NR + j] = 0.0f;
                }
            }
        } else {
            for (long k = 0; k < kc; k++) {
                const float *src = B + (p0 + k) * ldb + j0 + jp;
                long j = 0;
                for (; j < cols; j++) dst[k * PK_NR + j] = src[j];
                for (; j < PK_NR; j++) dst[k * PK_NR + j] = 0.0f;
            }
        }
        dst += kc * PK_NR;
    }
}

/// The float source of B for the driver: op(B) with B row-major (`pack_b`).
typedef struct {
    int transB;
    int simd;
    const float *B;
    long ldb;
} float_b_source;

static void pack_float_b(const void *context, long p0, long j0, long kc, long nc, float *dst) {
    const float_b_source *source = context;
    pack_b(source->transB, source->simd, source->B, source->ldb, p0, j0, kc, nc, dst);
}

// MARK: - Fallbacks

static void scale_c(long M, long N, float beta, float *C, long ldc) {
    for (long i = 0; i < M; i++) {
        float *row = C + i * ldc;
        if (beta == 0.0f) {
            memset(row, 0, (size_t)N * sizeof(float));
        } else if (beta != 1.0f) {
            for (long j = 0; j < N; j++) row[j] *= beta;
        }
    }
}

/// Unblocked reference used only when the packing buffer cannot be allocated.
static void sgemm_unpacked(int transA, int transB, long M, long N, long K, float alpha,
                           const float *A, long lda, const float *B, long ldb,
                           float beta, float *C, long ldc) {
    for (long i = 0; i < M; i++) {
        for (long j = 0; j < N; j++) {
            float sum = 0.0f;
            for (long k = 0; k < K; k++) {
                const float a = transA ? A[k * lda + i] : A[i * lda + k];
                const float b = transB ? B[j * ldb + k] : B[k * ldb + j];
                sum += a * b;
            }
            float *c = C + i * ldc + j;
            *c = alpha * sum + (beta == 0.0f ? 0.0f : beta * *c);
        }
    }
}

// MARK: - Driver

void pk_sgemm(int transA, int transB, long M, long N, long K, float alpha,
              const float *A, long lda, const float *B, long ldb,
              float beta, float *C, long ldc) {
    pk_sgemm_with_kernel(PK_GEMM_KERNEL_AUTO, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void pk_sgemm_with_kernel(pk_gemm_kernel requested, int transA, int transB, long M, long N, long K,
                          float alpha, const float *A, long lda, const float *B, long ldb,
                          float beta, float *C, long ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    if (M <= PK_SMALL_M && transB && !transA) {
        pk_sgemm_small_m(pk_sgemm_resolve(requested), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (M <= PK_SMALL_M && !transB && !transA && pk_sgemm_small_m_nn(pk_sgemm_resolve(requested), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) {
        return;
    }
    float *buffer = thread_pack_buffer();
    if (buffer == NULL) {
        sgemm_unpacked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const pk_gemm_kernel active = pk_sgemm_resolve(requested);
    const float_b_source source = {transB, pk_kernel_uses_avx2(active), B, ldb};
    const pk_b_packer packer = {pack_float_b, &source};
    pk_sgemm_blocked(active, buffer, transA, M, N, K, alpha, A, lda, &packer, beta, C, ldc);
}

int pk_sgemm_threaded(pk_gemm_kernel requested, pk_gemm_precision precision, int threads, int transA, int transB, long M,
                      long N, long K, float alpha, const float *A, long lda, const float *B, long ldb, float beta,
                      float *C, long ldc) {
    if (M <= 0 || N <= 0) return 0;
    const pk_gemm_kernel active = pk_sgemm_resolve(requested);
    const pk_reduced_arithmetic *reduced = pk_reduced_arithmetic_for(precision, active);
    if ((threads <= 1 && reduced == NULL) || K <= 0 || alpha == 0.0f || M <= PK_SMALL_M) {
        pk_sgemm_with_kernel(active, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return 0;
    }
    const float_b_source source = {transB, pk_kernel_uses_avx2(active), B, ldb};
    const pk_b_packer packer = {pack_float_b, &source};
    return pk_sgemm_shared_b(active, threads < 1 ? 1 : threads, reduced, transA, M, N, K, alpha, A, lda, &packer, PK_NR, beta,
                             C, ldc);
}

pk_gemm_kernel pk_sgemm_resolve(pk_gemm_kernel requested) {
    return requested == PK_GEMM_KERNEL_AUTO ? pk_sgemm_active_kernel() : resolve(requested);
}

float *pk_sgemm_thread_buffer(void) { return thread_pack_buffer(); }

/// Whether the CPU has the instructions of `precision` (half: AVX512-FP16, bfloat16: AVX512-BF16), asked
/// once per precision: cpuid traps to the hypervisor on virtual machines.
static int cpu_has(pk_gemm_precision precision) {
    static _Atomic int half = -1, bfloat16 = -1;
    _Atomic int *cached = precision == PK_GEMM_PRECISION_HALF ? &half : &bfloat16;
    int has = atomic_load_explicit(cached, memory_order_relaxed);
    if (has < 0) {
        has = precision == PK_GEMM_PRECISION_HALF ? pk_cpu_has_avx512fp16() : pk_cpu_has_avx512bf16();
        atomic_store_explicit(cached, has, memory_order_relaxed);
    }
    return has;
}

const pk_reduced_arithmetic *pk_reduced_arithmetic_for(pk_gemm_precision precision, pk_gemm_kernel active) {
#if defined(__x86_64__)
    static const pk_reduced_arithmetic half = {pk_half_pack_a, pk_half_pack_b, pk_half_block_tiles};
    static const pk_reduced_arithmetic bfloat16 = {pk_bfloat16_pack_a, pk_bfloat16_pack_b, pk_bfloat16_block_tiles};
    if (active != PK_GEMM_KERNEL_AVX512) return NULL;
    if (precision == PK_GEMM_PRECISION_HALF && cpu_has(precision)) return &half;
    if (precision == PK_GEMM_PRECISION_BFLOAT16 && cpu_has(precision)) return &bfloat16;
#else
    (void)precision;
    (void)active;
#endif
    return NULL;
}

int pk_sgemm_uses_reduced_precision(pk_gemm_precision precision, pk_gemm_kernel active) {
    return pk_reduced_arithmetic_for(precision, active) != NULL;
}

/// C[mr×nr] = edge + beta · C for the scratch tile `edge` (alpha already applied) of an edge tile.
static inline void copy_edge(const float *edge, long lde, float *c_tile, long ldc, long mr, long nr, float beta) {
    for (long i = 0; i < mr; i++) {
        float *c_row = c_tile + i * ldc;
        const float *e_row = edge + i * lde;
        if (beta == 0.0f) {
            for (long j = 0; j < nr; j++) c_row[j] = e_row[j];
        } else {
            for (long j = 0; j < nr; j++) c_row[j] = e_row[j] + beta * c_row[j];
        }
    }
}

/// Stores the sums of an AVX-512 edge region (up to 2·MR × 2·NR) exactly as the AVX2 6×16 kernel would
/// store them tile by tile: elements of whole 6×16 tiles as its store does (alpha·s, or fused with
/// beta·C), the others as `run_tile`'s scratch path (alpha·s rounded, then + beta·C). So the AVX-512 and
/// AVX2 kernels keep giving the same bits for any alpha and beta.
/// Compiled for FMA (only the AVX-512 path calls it) so `fmaf` is one instruction; contraction stays off
/// so the scratch path's product and sum round separately, as in `copy_edge`.
#if defined(__x86_64__)
__attribute__((target("avx512f,fma")))
#endif
static void finish_edge(const float *sums, long lds, float *c_tile, long ldc, long mr, long nr, float alpha, float beta) {
#pragma clang fp contract(off)
    for (long i = 0; i < mr; i++) {
        const int full_rows = i / PK_MR * PK_MR + PK_MR <= mr;
        float *c_row = c_tile + i * ldc;
        for (long j = 0; j < nr; j++) {
            const float s = sums[i * lds + j];
            if (full_rows && j / PK_NR * PK_NR + PK_NR <= nr) {
                c_row[j] = beta == 0.0f ? alpha * s : fmaf(alpha, s, beta == 1.0f ? c_row[j] : beta * c_row[j]);
            } else {
                const float e = alpha * s;
                c_row[j] = beta == 0.0f ? e : e + beta * c_row[j];
            }
        }
    }
}

/// One MR×NR tile of C from packed panels; edge tiles (mr < MR or nr < NR) go through a scratch tile.
static inline void run_tile(pk_microkernel kernel, long kc, const float *a_panel, const float *b_panel,
                            float *c_tile, long ldc, long mr, long nr, float alpha, float beta) {
    if (mr == PK_MR && nr == PK_NR) {
        kernel(kc, a_panel, b_panel, c_tile, ldc, alpha, beta);
        return;
    }
    _Alignas(64) float edge[PK_MR * PK_NR];
    kernel(kc, a_panel, b_panel, edge, PK_NR, alpha, 0.0f);
    copy_edge(edge, PK_NR, c_tile, ldc, mr, nr, beta);
}

void pk_sgemm_pack_a_block(pk_gemm_kernel active, int transA, const float *A, long lda, long ic, long pc, long mc,
                           long kc, float *packed_a) {
    pack_a(transA, pk_kernel_uses_avx2(active), A, lda, ic, pc, mc, kc, packed_a);
}

void pk_sgemm_block_tiles(pk_gemm_kernel active, const float *packed_a, long mc, long kc, long nc,
                          const float *packed_b, float alpha, float beta, float *C, long ldc) {
    const pk_microkernel kernel = microkernel_for(active);
#if defined(__x86_64__)
    // AVX-512 covers 2×2 register tiles (12×32) per call; AVX2 finishes the edges.
    const int wide = active == PK_GEMM_KERNEL_AVX512;
#else
    const int wide = 0;
#endif
    const long step_n = wide ? 2 * PK_NR : PK_NR, step_m = wide ? 2 * PK_MR : PK_MR;
    for (long jr = 0; jr < nc; jr += step_n) {
        for (long ir = 0; ir < mc; ir += step_m) {
#if defined(__x86_64__)
            if (wide && jr + 2 * PK_NR <= nc && ir + 2 * PK_MR <= mc) {
                pk_microkernel_avx512(kc, packed_a + ir * kc, packed_b + jr * kc, C + ir * ldc + jr, ldc, alpha, beta);
                continue;
            }
            if (wide) {
                // An edge: the panels that exist (zero-padded past mc and nc), into a scratch tile.
                const long mr = (mc - ir < step_m) ? mc - ir : step_m, nr = (nc - jr < step_n) ? nc - jr : step_n;
                _Alignas(64) float sums[2 * PK_MR * 2 * PK_NR];
                pk_microkernel_avx512_edge(kc, packed_a + ir * kc, packed_b + jr * kc, sums, 2 * PK_NR,
                                           mr > PK_MR ? 2 : 1, nr > PK_NR ? 2 : 1);
                finish_edge(sums, 2 * PK_NR, C + ir * ldc + jr, ldc, mr, nr, alpha, beta);
                continue;
            }
#endif
            for (long j = jr; j < jr + step_n && j < nc; j += PK_NR) {
                const long nr = (nc - j < PK_NR) ? nc - j : PK_NR;
                for (long i = ir; i < ir + step_m && i < mc; i += PK_MR) {
                    const long mr = (mc - i < PK_MR) ? mc - i : PK_MR;
                    run_tile(kernel, kc, packed_a + i * kc, packed_b + j * kc, C + i * ldc + j, ldc, mr, nr, alpha, beta);
                }
            }
        }
    }
}

void pk_sgemm_blocked(pk_gemm_kernel active, float *buffer, int transA, long M, long N, long K, float alpha,
                      const float *A, long lda, const pk_b_packer *packer, float beta, float *C, long ldc) {
    float *packed_a = buffer;
    float *packed_b = buffer + PK_PACK_A_FLOATS;
    for (long jc = 0; jc < N; jc += PK_NC) {
        const long nc = (N - jc < PK_NC) ? N - jc : PK_NC;
        for (long pc = 0; pc < K; pc += PK_KC) {
            const long kc = (K - pc < PK_KC) ? K - pc : PK_KC;
            packer->pack(packer->context, pc, jc, kc, nc, packed_b);
            for (long ic = 0; ic < M; ic += PK_MC) {
                const long mc = (M - ic < PK_MC) ? M - ic : PK_MC;
                pk_sgemm_pack_a_block(active, transA, A, lda, ic, pc, mc, kc, packed_a);
                pk_sgemm_block_tiles(active, packed_a, mc, kc, nc, packed_b, alpha, (pc == 0) ? beta : 1.0f,
                                     C + ic * ldc + jc, ldc);
            }
        }
    }
}
