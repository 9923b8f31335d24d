// AVX2 packing routines of the SGEMM driver. The strided ("gather") cases
//   op(B) = Bᵀ   (B stored N×K, e.g. a weight [out, in] in y = x·Wᵀ)
//   op(A) = A    (A stored M×K row-major)
// read rows that run along k and must write panels that run across rows; an in-register 8×8
// transpose turns 8 row loads into 8 panel stores. op(A) = Aᵀ copies six values per k, and
// op(B) = B copies each row of B into all the panels it crosses.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "sgemm_internal.h"

#define PK_AVX2 __attribute__((target("avx2,fma")))

/// Packs one full NR-column panel of op(B) = Bᵀ: dst[k·NR + j] = src[j·ldb + k] for j < NR, k < kc.
PK_AVX2 void pk_pack_bt_panel_avx2(const float *src, long ldb, long kc, float *dst) {
    long k = 0;
    for (; k + 8 <= kc; k += 8) {
        for (int half = 0; half < 2; half++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (half * 8 + i) * ldb + k);
            pk_transpose8x8(r);
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
        pk_transpose8x8(r);
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
/// Packs `panels` whole NR-column panels of op(B) = B (B stored K×N) row by row, so each row of B is read
/// as one run (walking a panel down rows kilobytes apart left the hardware prefetcher behind):
/// dst[p·kc·NR + k·NR + j] = src[k·ldb + p·NR + j].
PK_AVX2 void pk_pack_b_rows_avx2(const float *src, long ldb, long kc, long panels, float *dst) {
    for (long k = 0; k < kc; k++) {
        const float *row = src + k * ldb;
        float *out = dst + k * PK_NR;
        for (long p = 0; p < panels; p++) {
            _mm256_store_ps(out + p * kc * PK_NR, _mm256_loadu_ps(row + p * PK_NR));
            _mm256_store_ps(out + p * kc * PK_NR + 8, _mm256_loadu_ps(row + p * PK_NR + 8));
        }
    }
}
#endif
