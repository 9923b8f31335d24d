// Few-row products C[M×N] = alpha·A·Bᵀ + beta·C for M ≤ 4 with B stored N×K (a weight [out, in]):
// the decode step of generation. Packing would cost more than the product, and the operation is
// bound by reading B once, so each output is a direct dot product over a contiguous row of B.
#include "CKernels.h"
#include "sgemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma")))
static void small_m_avx2(long M, long N, long K, float alpha, const float *A, long lda,
                         const float *B, long ldb, float beta, float *C, long ldc) {
    for (long n = 0; n < N; n++) {
        const float *b = B + n * ldb;
        for (long m = 0; m < M; m++) {
            const float *a = A + m * lda;
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
            long k = 0;
            for (; k + 16 <= K; k += 16) {
                if (m == 0) _mm_prefetch((const char *)(b + k + 256), _MM_HINT_T0);  // 1 KB ahead of the row stream
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
            }
            __m256 s = _mm256_add_ps(s0, s1);
            __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
            h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
            float sum = _mm_cvtss_f32(h);
            for (; k < K; k++) sum += a[k] * b[k];
            float *c = C + m * ldc + n;
            *c = alpha * sum + (beta == 0.0f ? 0.0f : beta * *c);
        }
    }
}

/// C[M×N] = alpha·A·B + beta·C with B stored K×N (attention's probabilities times the cached values):
/// rows of B scaled and summed into C in registers, 64 columns at a time. Each element is the same FMA
/// chain over each KC block, stored with the same formulas, as the packed 6×16 kernel computes for a full
/// tile, so full tiles equal the blocked GEMM bit for bit.
__attribute__((target("avx2,fma")))
static void small_m_nn_avx2(long M, long N, long K, float alpha, const float *A, long lda,
                            const float *B, long ldb, float beta, float *C, long ldc) {
    const __m256 va = _mm256_set1_ps(alpha);
    for (long m = 0; m < M; m++) {
        const float *a = A + m * lda;
        float *c = C + m * ldc;
        long n = 0;
        for (; n + 8 <= N; n += 64) {
            const long vectors = (N - n) / 8 < 8 ? (N - n) / 8 : 8;
            for (long pc = 0; pc < K; pc += PK_KC) {
                const long kc = K - pc < PK_KC ? K - pc : PK_KC;
                const float block_beta = pc == 0 ? beta : 1.0f;
                __m256 acc[8];
                for (int v = 0; v < 8; v++) acc[v] = _mm256_setzero_ps();
                for (long k = pc; k < pc + kc; k++) {
                    const __m256 x = _mm256_set1_ps(a[k]);
                    const float *b = B + k * ldb + n;
                    for (int v = 0; v < 8; v++) if (v < vectors) acc[v] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 8 * v), acc[v]);
                }
                for (int v = 0; v < vectors; v++) {
                    float *out = c + n + 8 * v;
                    if (block_beta == 0.0f) {
                        _mm256_storeu_ps(out, _mm256_mul_ps(va, acc[v]));
                    } else if (block_beta == 1.0f) {
                        _mm256_storeu_ps(out, _mm256_fmadd_ps(va, acc[v], _mm256_loadu_ps(out)));
                    } else {
                        _mm256_storeu_ps(out, _mm256_fmadd_ps(va, acc[v], _mm256_mul_ps(_mm256_set1_ps(block_beta), _mm256_loadu_ps(out))));
                    }
                }
            }
            if (vectors < 8) { n += 8 * vectors; break; }
        }
        for (; n < N; n++) {
            float sum = 0.0f;
            for (long k = 0; k < K; k++) sum = __builtin_fmaf(a[k], B[k * ldb + n], sum);
            c[n] = alpha * sum + (beta == 0.0f ? 0.0f : beta * c[n]);
        }
    }
}
#endif

static void small_m_portable(long M, long N, long K, float alpha, const float *A, long lda,
                             const float *B, long ldb, float beta, float *C, long ldc) {
    for (long n = 0; n < N; n++) {
        const float *b = B + n * ldb;
        for (long m = 0; m < M; m++) {
            const float *a = A + m * lda;
            float s[8] = {0};
            long k = 0;
            for (; k + 8 <= K; k += 8)
                for (int j = 0; j < 8; j++) s[j] += a[k + j] * b[k + j];
            float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
            for (; k < K; k++) sum += a[k] * b[k];
            float *c = C + m * ldc + n;
            *c = alpha * sum + (beta == 0.0f ? 0.0f : beta * *c);
        }
    }
}

void pk_sgemm_small_m(pk_gemm_kernel kernel, long M, long N, long K, float alpha, const float *A, long lda,
                      const float *B, long ldb, float beta, float *C, long ldc) {
#if defined(__x86_64__) || defined(__i386__)
    if (pk_kernel_uses_avx2(kernel)) {
        small_m_avx2(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    small_m_portable(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void pk_sgemm_independent_rows(pk_gemm_kernel kernel, long M, long N, long K, float alpha, const float *A, long lda,
                               const float *B, long ldb, float beta, float *C, long ldc) {
    pk_sgemm_small_m(pk_sgemm_resolve(kernel), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int pk_sgemm_small_m_nn(pk_gemm_kernel kernel, long M, long N, long K, float alpha, const float *A, long lda,
                        const float *B, long ldb, float beta, float *C, long ldc) {
#if defined(__x86_64__) || defined(__i386__)
    if (pk_kernel_uses_avx2(kernel)) {
        small_m_nn_avx2(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return 1;
    }
#endif
    return 0;
}
