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
