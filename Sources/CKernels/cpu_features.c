// Runtime CPU feature detection and per-thread state.
#include "CKernels.h"

int pk_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // F16C comes with every AVX2 CPU; the quantized kernels read half-precision scales with it.
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

int pk_cpu_has_avx512f(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !pk_cpu_has_avx2_fma()) return 0;
    // The OS must enable the opmask and ZMM state (XCR0 bits 5-7) besides SSE/AVX (bits 1-2).
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (eax & 0xE6u) == 0xE6u;
#else
    return 0;
#endif
}

#if defined(__x86_64__)
/// AVX-512 F, BW and VL with the state enabled: what both mixed-precision kernels need besides their own.
static int has_avx512_base(void) {
    __builtin_cpu_init();
    return pk_cpu_has_avx512f() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
#endif

int pk_cpu_has_avx512fp16(void) {
#if defined(__x86_64__)
    return has_avx512_base() && __builtin_cpu_supports("avx512fp16");
#else
    return 0;
#endif
}

int pk_cpu_has_avx512bf16(void) {
#if defined(__x86_64__)
    return has_avx512_base() && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

static _Thread_local int in_parallel_region = 0;

int pk_thread_in_parallel_region(void) { return in_parallel_region; }
void pk_thread_set_parallel_region(int inside) { in_parallel_region = inside; }

static _Thread_local long *flop_counter = 0;

void pk_flops_set_counter(long *counter) { flop_counter = counter; }
long *pk_flops_counter(void) { return flop_counter; }
void pk_flops_add(long flops) {
    if (flop_counter) __atomic_fetch_add(flop_counter, flops, __ATOMIC_RELAXED);
}
long pk_flops_read(const long *counter) { return __atomic_load_n(counter, __ATOMIC_RELAXED); }
