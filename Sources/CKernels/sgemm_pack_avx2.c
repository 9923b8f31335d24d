// AVX2 packing routines for the strided ("gather") cases of the SGEMM driver:
//   op(B) = Bᵀ   (B stored N×K, e.g. a weight [out, in] in y = x·Wᵀ)
//   op(A) = A    (A stored M×K row-major)
// Both read rows that run along k and must write panels that run across rows; an in-register
// 8×8 transpose turns 8 row loads into 8 panel stores.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "sgemm_internal.h"

#define PK_AVX2 __attribute__((target("avx2,fma")))

/// Transposes the 8×8 block held in r[0..7] (row i = r[i]) in place.
PK_AVX2 static inline void transpose8(__m256 r[8]) {
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

/// Packs one full NR-column panel of op(B) = Bᵀ: dst[k·NR + j] = src[j·ldb + k] for j < NR, k < kc.
PK_AVX2 void pk_pack_bt_panel_avx2(const float *src, long ldb, long kc, float *dst) {
    long k = 0;
    for (; k + 8 <= kc; k += 8) {
        for (int half = 0; half < 2; half++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (half * 8 + i) * ldb + k);
            transpose8(r);
            for (int i = 0; i < 8; i++) _mm256_store_ps(dst + (k + i) * PK_NR + half * 8, r[i]);
        }
    }
    for (; k < kc; k++) {
        for (int j = 0; j < PK_NR; j++) dst[k * PK_NR + j] = src[j * ldb + k];
    }
}

/// Packs one full MR-row panel of op(A) = A: dst[k·MR + i] = src[i·lda + k] for i < MR, k < kc.
/// Writes 8 floats per k (the last two are overwritten by the next k), so `dst` needs 2 floats of slack.
PK_AVX2 void pk_pack_a_panel_avx2(const float *src, long lda, long kc, float *dst) {
    long k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        for (int i = 0; i < PK_MR; i++) r[i] = _mm256_loadu_ps(src + i * lda + k);
        r[6] = _mm256_setzero_ps();
        r[7] = _mm256_setzero_ps();
        transpose8(r);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (k + i) * PK_MR, r[i]);
    }
    for (; k < kc; k++) {
        for (int i = 0; i < PK_MR; i++) dst[k * PK_MR + i] = src[i * lda + k];
    }
}
#endif

#if defined(__x86_64__) || defined(__i386__)
/// Packs one full MR-row panel of op(A) = Aᵀ (A stored K×M): dst[k·MR + i] = src[k·lda + i].
/// Masked loads never touch the two floats past the panel; like the row packer, it needs 2 floats of slack.
PK_AVX2 void pk_pack_at_panel_avx2(const float *src, long lda, long kc, float *dst) {
    const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    for (long k = 0; k < kc; k++) {
        _mm256_storeu_ps(dst + k * PK_MR, _mm256_maskload_ps(src + k * lda, six));
    }
}
#endif

#if defined(__x86_64__) || defined(__i386__)
/// Packs one full NR-column panel of op(B) = B (B stored K×N): dst[k·NR + j] = src[k·ldb + j].
PK_AVX2 void pk_pack_b_panel_avx2(const float *src, long ldb, long kc, float *dst) {
    for (long k = 0; k < kc; k++) {
        const float *row = src + k * ldb;
        _mm256_store_ps(dst + k * PK_NR, _mm256_loadu_ps(row));
        _mm256_store_ps(dst + k * PK_NR + 8, _mm256_loadu_ps(row + 8));
    }
}
#endif
