import CKernels

/// Process-wide allocator settings for training and generation loops.
public enum AllocatorTuning {
    /// Asks glibc's allocator to keep freed memory for reuse instead of returning it to the system:
    /// blocks up to 32 MB come from the heap rather than fresh `mmap`s, and the heap is not trimmed.
    ///
    /// A training step allocates the same activation buffers as the step before. With glibc's
    /// defaults every buffer above 128 kB is a new mapping whose pages the kernel must fault in and
    /// clear — about a quarter of a SmolLM2 training step on 2 cores. With this setting a step
    /// reuses the previous step's memory (the same results; peak memory is unchanged, freed memory
    /// is just not handed back). Idempotent; does nothing on platforms without glibc.
    /// - Returns: true when the setting was applied (glibc), false elsewhere.
    @discardableResult
    public static func keepFreedMemory() -> Bool {
        pk_keep_freed_memory() == 1
    }
}
