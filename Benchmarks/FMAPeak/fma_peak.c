// The float FMA peak of this CPU: independent chains of fused multiply-adds on 1 and 2 threads
// (AVX-512 when the CPU has it, else AVX2), in GFLOP/s — the denominator of "the step runs at N %
// of the FMA peak" in Benchmarks/results. Built by run.sh with the toolchain's clang.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct { long rounds; float sink; int avx512; } Job;

#define STEP12(F) F(a0); F(a1); F(a2); F(a3); F(a4); F(a5); F(a6); F(a7); F(a8); F(a9); F(a10); F(a11)

__attribute__((target("avx512f"))) static float chains512(long rounds) {
    __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3),
           a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7),
           a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
#define F512(x) x = _mm512_fmadd_ps(x, b, c)
    for (long r = 0; r < rounds; r++) { STEP12(F512); }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float chains256(long rounds) {
    __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3),
           a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7),
           a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
#define F256(x) x = _mm256_fmadd_ps(x, b, c)
    for (long r = 0; r < rounds; r++) { STEP12(F256); }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

static void *work(void *argument) {
    Job *job = argument;
    job->sink = job->avx512 ? chains512(job->rounds) : chains256(job->rounds);
    return NULL;
}

int main(int argc, char **argv) {
    int maxThreads = argc > 1 ? atoi(argv[1]) : 2;
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !__builtin_cpu_supports("fma")) { printf("no FMA on this CPU\n"); return 1; }
    int lanes = avx512 ? 16 : 8;
    long rounds = 300000000L;
    for (int threads = 1; threads <= maxThreads; threads++) {
        pthread_t ids[64];
        Job jobs[64];
        double start = now();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (Job){ rounds, 0, avx512 };
            pthread_create(&ids[i], NULL, work, &jobs[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
        double seconds = now() - start;
        printf("%s FMA peak, %d thread%s: %.1f GFLOP/s\n", avx512 ? "AVX-512" : "AVX2", threads, threads > 1 ? "s" : "",
               threads * (double)rounds * 12 * lanes * 2 / seconds / 1e9);
    }
    return 0;
}
