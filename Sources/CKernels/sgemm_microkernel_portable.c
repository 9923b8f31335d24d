// Portable 6×16 SGEMM microkernel in plain C. Optimising compilers vectorise the inner
// loops (SSE2 on x86-64, NEON on arm64).
#include "sgemm_internal.h"

void pk_microkernel_portable(long kc, const float *restrict a, const float *restrict b,
                             float *restrict c, long ldc, float alpha, float beta) {
    float acc[PK_MR][PK_NR] = {{0}};
    for (long k = 0; k < kc; k++) {
        for (int i = 0; i < PK_MR; i++) {
            const float ai = a[i];
            for (int j = 0; j < PK_NR; j++) acc[i][j] += ai * b[j];
        }
        a += PK_MR;
        b += PK_NR;
    }
    for (int i = 0; i < PK_MR; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f) {
            for (int j = 0; j < PK_NR; j++) ci[j] = alpha * acc[i][j];
        } else {
            for (int j = 0; j < PK_NR; j++) ci[j] = alpha * acc[i][j] + beta * ci[j];
        }
    }
}
