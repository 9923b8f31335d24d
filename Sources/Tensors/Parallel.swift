import CKernels
import Dispatch
import Foundation
import Synchronization

/// The process-wide worker pool used by every parallel kernel.
///
/// Work is spread over `threadCount` threads: the caller and persistent workers (`pk_parallel_run`) that
/// spin briefly between regions, so the hundreds of small products of a decoding step each start
/// within a microsecond. One region runs at a time; a caller that finds the pool busy with another
/// thread's region runs its chunks itself. Parallel regions never nest: a `forEach` issued from inside
/// another one runs serially on the calling worker, so kernels can call each other freely without
/// oversubscribing the cores.
public enum Parallel {
    private static let configuredThreads = Atomic<Int>(0)

    /// Logical processors available to this process.
    public static var availableProcessors: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Number of workers used by parallel kernels. Defaults to the available processors
    /// (or the `PEFTKIT_NUM_THREADS` environment variable); set it to 1 for single-threaded runs.
    public static var threadCount: Int {
        get {
            let configured = configuredThreads.load(ordering: .relaxed)
            if configured > 0 { return configured }
            let fromEnvironment = ProcessInfo.processInfo.environment["PEFTKIT_NUM_THREADS"].flatMap(Int.init) ?? 0
            let resolved = fromEnvironment > 0 ? fromEnvironment : availableProcessors
            configuredThreads.store(resolved, ordering: .relaxed)
            return resolved
        }
        set {
            precondition(newValue >= 1, "Parallel.threadCount must be at least 1, got \(newValue)")
            configuredThreads.store(newValue, ordering: .relaxed)
        }
    }

    /// True on a thread that is currently running a chunk of a parallel region.
    public static var isInsideParallelRegion: Bool { pk_thread_in_parallel_region() != 0 }

    /// Runs `body(chunk)` for `chunk` in `0..<chunks`, using up to `threadCount` workers.
    /// Runs serially when there is one chunk, one thread, or when already inside a parallel region.
    public static func forEach(chunks: Int, _ body: (Int) -> Void) {
        guard chunks > 0 else { return }
        if chunks == 1 || isInsideParallelRegion {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        if threadCount == 1 {
            // Still a region, as when the pool runs one serially: what the chunks start runs serially
            // too, whatever `threadCount` becomes meanwhile.
            pk_thread_set_parallel_region(1)
            defer { pk_thread_set_parallel_region(0) }
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var closure = body
            withUnsafeMutablePointer(to: &closure) { pointer in
                pk_parallel_run(chunks, Int32(clamping: threadCount), { context, chunk in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(chunk)
                }, pointer)
            }
        }
    }

    /// Splits `0..<count` into at most `threadCount` contiguous ranges of at least `minimumPerChunk`
    /// elements and runs `body` on each, in parallel.
    public static func forEachRange(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = max(1, min(threadCount, count / max(1, minimumPerChunk)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        forEach(chunks: chunks) { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            if start < end { body(start..<end) }
        }
    }

    /// `forEachRange` with every range but the last starting and ending on a multiple of 8 elements,
    /// so a kernel with an 8-lane body and a scalar tail computes each element the same way whatever
    /// the thread count (only the array's own tail is ever scalar).
    public static func forEachVectorAlignedRange(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        forEachRange((count + 7) / 8, minimumPerChunk: max(1, minimumPerChunk / 8)) { blocks in
            body((blocks.lowerBound * 8)..<Swift.min(count, blocks.upperBound * 8))
        }
    }
}
