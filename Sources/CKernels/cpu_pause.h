// The spin-wait hint of the CPU, for loops that wait on another thread (not part of the public header).
#ifndef PEFTKIT_CPU_PAUSE_H
#define PEFTKIT_CPU_PAUSE_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PK_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define PK_PAUSE() __asm__ volatile("yield")
#else
#define PK_PAUSE() ((void)0)
#endif

#endif
