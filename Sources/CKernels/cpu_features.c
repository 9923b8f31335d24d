// Runtime CPU feature detection and per-thread state.
#include "CKernels.h"

int pk_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static _Thread_local int in_parallel_region = 0;

int pk_thread_in_parallel_region(void) { return in_parallel_region; }
void pk_thread_set_parallel_region(int inside) { in_parallel_region = inside; }
