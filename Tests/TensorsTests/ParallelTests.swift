import Dispatch
import Foundation
import Synchronization
import Testing
import Tensors

/// The worker pool: every chunk runs exactly once, whether regions follow each other closely (workers
/// spinning), come from several threads at once (one of them runs its chunks itself), or nest (the
/// inner one runs serially on its worker); and a region returns only after all its chunks finished.
@Suite("Worker pool")
struct ParallelTests {
    @Test("each chunk runs exactly once, over thousands of back-to-back regions")
    func backToBack() {
        for chunks in [2, 3, 8, 64, 1000] {
            for _ in 0..<(chunks < 100 ? 2000 : 50) {
                let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: chunks)
                counts.initialize(repeating: 0)
                Parallel.forEach(chunks: chunks) { chunk in counts[chunk] += 1 }
                #expect(counts.allSatisfy { $0 == 1 }, "\(chunks) chunks")
                counts.deallocate()
            }
        }
    }

    @Test("regions from concurrent callers and nested regions each run every chunk once")
    func concurrentAndNested() {
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for _ in 0..<200 {
                let seen = Atomic<Int>(0)
                Parallel.forEach(chunks: 5) { _ in
                    // A nested region runs serially on this thread, never deadlocks.
                    Parallel.forEach(chunks: 3) { _ in
                        #expect(Parallel.isInsideParallelRegion)
                        seen.add(1, ordering: .relaxed)
                    }
                }
                #expect(seen.load(ordering: .relaxed) == 15)
                total.add(1, ordering: .relaxed)
            }
        }
        #expect(total.load(ordering: .relaxed) == 800)
        #expect(!Parallel.isInsideParallelRegion)
    }

    @Test("a region waits for slow chunks, and chunks see the caller's writes")
    func waitsForAll() {
        var input = [Int](repeating: 0, count: 16)
        for i in input.indices { input[i] = i * i }
        let output = UnsafeMutableBufferPointer<Int>.allocate(capacity: 16)
        defer { output.deallocate() }
        input.withUnsafeBufferPointer { source in
            Parallel.forEach(chunks: 16) { chunk in
                if chunk % 5 == 0 { usleep(2000) }
                output[chunk] = source[chunk] + 1
            }
        }
        #expect(Array(output) == input.map { $0 + 1 })
    }
}
