// Allocator settings for step-after-step workloads (see Tensors/AllocatorTuning.swift).
#include "CKernels.h"
#include <stdlib.h>  // defines __GLIBC__ on glibc systems

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int pk_keep_freed_memory(void) {
#if defined(__GLIBC__)
    // Blocks up to 32 MB (glibc's maximum threshold) come from the heap, and the heap is never trimmed.
    int ok = mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ok &= mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
    return ok;
#else
    return 0;
#endif
}
