import Dispatch
import Synchronization
import Testing
import Tensors

/// Straightforward Float64 reference for C = alpha·op(A)·op(B) + beta·C.
func referenceGEMM(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, alpha: Float,
                   _ a: [Float], _ b: [Float], beta: Float, _ c: [Float]) -> [Float] {
    var result = c
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let av = transA ? a[p * m + i] : a[i * k + p]
                let bv = transB ? b[j * k + p] : b[p * n + j]
                sum += Double(av) * Double(bv)
            }
            result[i * n + j] = Float(Double(alpha) * sum + (beta == 0 ? 0 : Double(beta) * Double(c[i * n + j])))
        }
    }
    return result
}

/// `a·b` for rank-2 tensors through one explicit backend and kernel (no process-wide switches,
/// so suites running in parallel are unaffected).
func product(_ a: Tensor, _ b: Tensor, backend: GEMM.Backend, kernel: GEMM.Kernel?) -> Tensor {
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    return Tensor(shape: [m, n]) { out in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                GEMM.sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k, a: pa.baseAddress!, lda: k,
                           b: pb.baseAddress!, ldb: n, c: out.baseAddress!, ldc: n, backend: backend, kernel: kernel)
            }
        }
    }
}

/// `alpha·op(A)·op(B) + beta·C` on dense row-major arrays through the built-in backend and `kernel`,
/// returning the new C.
func builtinProduct(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, alpha: Float, _ a: [Float], _ b: [Float],
                    beta: Float, _ c: [Float], kernel: GEMM.Kernel?) -> [Float] {
    var out = c
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { pc in
                GEMM.sgemm(transposeA: transA, transposeB: transB, m: m, n: n, k: k, alpha: alpha,
                           a: pa.baseAddress!, lda: transA ? m : k, b: pb.baseAddress!, ldb: transB ? k : n,
                           beta: beta, c: pc.baseAddress!, ldc: n, backend: .builtin, kernel: kernel)
            }
        }
    }
    return out
}

@Suite("GEMM", .serialized)
struct GEMMTests {
    /// Sizes straddle the 6×16 and 12×32 register tiles and the K (384), M (144) and N (768) cache
    /// blocks so every edge path runs.
    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (7, 17, 5), (13, 33, 300), (6, 16, 384), (12, 32, 385), (25, 70, 40),
                                            (50, 3, 70), (19, 40, 785), (7, 790, 390), (150, 20, 390), (150, 800, 17), (3, 33, 70), (4, 17, 9)]

    @Test("all transpose combinations, alpha/beta, every microkernel", arguments: [GEMM.Kernel.portable, .avx2, .avx512])
    func matchesReference(kernel: GEMM.Kernel) {
        var generator = SeededRandom(seed: 7)
        for (m, n, k) in Self.shapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, -0.5)] {
                        let a = Tensor.randomUniform([m * k], low: -1, high: 1, generator: &generator).toArray()
                        let b = Tensor.randomUniform([k * n], low: -1, high: 1, generator: &generator).toArray()
                        var c = Tensor.randomUniform([m * n], low: -1, high: 1, generator: &generator).toArray()
                        let expected = referenceGEMM(transA, transB, m, n, k, alpha: alpha, a, b, beta: beta, c)
                        c = builtinProduct(transA, transB, m, n, k, alpha: alpha, a, b, beta: beta, c, kernel: kernel)
                        let worst = zip(c, expected).map { abs($0 - $1) }.max() ?? 0
                        #expect(worst < 1e-4 * Float(max(k, 1)).squareRoot(),
                                "m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB) alpha=\(alpha) beta=\(beta): error \(worst)")
                    }
                }
            }
        }
    }

    @Test("beta = 0 never reads C (NaN in C does not leak)")
    func betaZeroIgnoresC() {
        let a = [Float](repeating: 1, count: 8 * 8), b = a
        var c = [Float](repeating: .nan, count: 8 * 8)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    GEMM.sgemm(transposeA: false, transposeB: false, m: 8, n: 8, k: 8, a: pa.baseAddress!, lda: 8,
                               b: pb.baseAddress!, ldb: 8, c: pc.baseAddress!, ldc: 8, backend: .builtin)
                }
            }
        }
        #expect(c.allSatisfy { $0 == 8 })
    }

    @Test("the built-in kernel gives bit-identical results for 1 and 2 threads")
    func threadCountDoesNotChangeBits() {
        var generator = SeededRandom(seed: 3)
        let a = Tensor.randomNormal([96, 130], generator: &generator)
        let b = Tensor.randomNormal([130, 70], generator: &generator)
        let previous = Parallel.threadCount
        defer { Parallel.threadCount = previous }
        Parallel.threadCount = 1
        let single = product(a, b, backend: .builtin, kernel: nil)
        Parallel.threadCount = 2
        let double = product(a, b, backend: .builtin, kernel: nil)
        #expect(single == double)
    }

    @Test("tall products share one packed op(B) between threads and keep the bits of one thread", arguments: [GEMM.Kernel.avx2, .avx512])
    func sharedPackingKeepsBits(kernel: GEMM.Kernel) {
        var generator = SeededRandom(seed: 5)
        let previous = Parallel.threadCount
        defer { Parallel.threadCount = previous }
        // Tall enough for the shared path with 2 and 3 threads; N crosses the 768-column block, K the
        // 384-deep one, and M ends in a partial tile.
        let (m, n, k) = (301, 790, 400)
        for transA in [false, true] {
            for transB in [false, true] {
                let a = Tensor.randomUniform([m * k], low: -1, high: 1, generator: &generator).toArray()
                let b = Tensor.randomUniform([k * n], low: -1, high: 1, generator: &generator).toArray()
                let c = Tensor.randomUniform([m * n], low: -1, high: 1, generator: &generator).toArray()
                func run(threads: Int) -> [Float] {
                    Parallel.threadCount = threads
                    return builtinProduct(transA, transB, m, n, k, alpha: 0.5, a, b, beta: -1, c, kernel: kernel)
                }
                let single = run(threads: 1)
                #expect(run(threads: 2) == single, "transA=\(transA) transB=\(transB), 2 threads")
                #expect(run(threads: 3) == single, "transA=\(transA) transB=\(transB), 3 threads")
                let reference = referenceGEMM(transA, transB, m, n, k, alpha: 0.5, a, b, beta: -1, c)
                #expect(zip(single, reference).map { abs($0 - $1) }.max()! < 1e-3)
            }
        }
    }

    @Test("tall products issued from several threads at once (a busy pool, a taken shared buffer) keep their bits")
    func concurrentTallProducts() {
        var generator = SeededRandom(seed: 21)
        let (m, n, k) = (200, 300, 500)
        let inputs = (0..<4).map { _ in
            (Tensor.randomNormal([m * k], generator: &generator).toArray(), Tensor.randomNormal([k * n], generator: &generator).toArray())
        }
        let previous = Parallel.threadCount
        defer { Parallel.threadCount = previous }
        Parallel.threadCount = 1
        let expected = inputs.map { builtinProduct(false, true, m, n, k, alpha: 1, $0.0, $0.1, beta: 0, [Float](repeating: 0, count: m * n), kernel: nil) }
        Parallel.threadCount = 2
        let results = Mutex([[Float]](repeating: [], count: inputs.count))
        DispatchQueue.concurrentPerform(iterations: inputs.count) { index in
            for _ in 0..<3 {
                let c = builtinProduct(false, true, m, n, k, alpha: 1, inputs[index].0, inputs[index].1, beta: 0,
                                       [Float](repeating: 0, count: m * n), kernel: nil)
                results.withLock { $0[index] = c }
            }
        }
        #expect(results.withLock { $0 } == expected)
    }

    @Test("the portable and AVX2 kernels agree closely", .enabled(if: GEMM.cpuSupportsAVX2, "this CPU has no AVX2"))
    func kernelsAgree() {
        var generator = SeededRandom(seed: 11)
        let a = Tensor.randomNormal([37, 301], generator: &generator)
        let b = Tensor.randomNormal([301, 45], generator: &generator)
        let portable = product(a, b, backend: .builtin, kernel: .portable)
        let avx2 = product(a, b, backend: .builtin, kernel: .avx2)
        #expect(portable.maxAbsDifference(avx2) < 1e-3)
    }

    @Test("a decode-sized A·B (M ≤ 4, B not transposed) equals the rows of a packed product bit for bit on full tiles", .enabled(if: GEMM.cpuSupportsAVX2, "this CPU has no AVX2"))
    func smallRowsTimesMatrix() {
        var generator = SeededRandom(seed: 14)
        // K crosses the 384 block; N = 80 is five full 16-wide tiles, N = 70 ends on a partial one.
        for (n, k) in [(80, 800), (64, 40), (70, 390)] {
            let a = Tensor.randomNormal([6 * k], generator: &generator).toArray()
            let b = Tensor.randomNormal([k * n], generator: &generator).toArray()
            let c = Tensor.randomNormal([6 * n], generator: &generator).toArray()
            for beta: Float in [0, 1, 0.5] {
                func run(_ m: Int) -> [Float] {
                    var out = Array(c.prefix(m * n))
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            out.withUnsafeMutableBufferPointer { pc in
                                GEMM.sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 0.75, a: pa.baseAddress!, lda: k,
                                           b: pb.baseAddress!, ldb: n, beta: beta, c: pc.baseAddress!, ldc: n, backend: .builtin, kernel: .avx2)
                            }
                        }
                    }
                    return out
                }
                let packed = run(6)  // a full 6-row tile: the blocked driver
                for m in 1...4 {
                    let direct = run(m)
                    let fullColumns = n / 16 * 16
                    for row in 0..<m {
                        #expect(Array(direct[(row * n)..<(row * n + fullColumns)]) == Array(packed[(row * n)..<(row * n + fullColumns)]),
                                "n=\(n) k=\(k) beta=\(beta) m=\(m) row \(row)")
                    }
                    let reference = referenceGEMM(false, false, m, n, k, alpha: 0.75, a, b, beta: beta, Array(c.prefix(m * n)))
                    #expect(zip(direct, reference).allSatisfy { abs($0 - $1) <= 1e-3 * max(1, abs($1)) }, "n=\(n) k=\(k) beta=\(beta) m=\(m)")
                }
            }
        }
    }

    @Test("the AVX-512 and AVX2 kernels give bit-identical results (one FMA chain per element in both)", .enabled(if: GEMM.cpuSupportsAVX512, "this CPU has no AVX-512"))
    func avx512MatchesAVX2Bits() {
        var generator = SeededRandom(seed: 13)
        for (m, n, k) in Self.shapes + [(146, 800, 400)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = Tensor.randomNormal([m * k], generator: &generator).toArray()
                    let b = Tensor.randomNormal([k * n], generator: &generator).toArray()
                    let c = Tensor.randomNormal([m * n], generator: &generator).toArray()
                    let results = [GEMM.Kernel.avx2, .avx512].map { kernel in
                        builtinProduct(transA, transB, m, n, k, alpha: 0.75, a, b, beta: 0.5, c, kernel: kernel)
                    }
                    #expect(results[0] == results[1], "m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB)")
                }
            }
        }
    }

    #if OpenBLAS
    @Test("OpenBLAS backend matches the built-in kernel")
    func openBLASMatches() {
        var generator = SeededRandom(seed: 5)
        for (m, n, k) in Self.shapes {
            let a = Tensor.randomNormal([m, k], generator: &generator)
            let b = Tensor.randomNormal([k, n], generator: &generator)
            let blas = product(a, b, backend: .openBLAS, kernel: nil)
            let builtin = product(a, b, backend: .builtin, kernel: nil)
            #expect(blas.maxAbsDifference(builtin) < 1e-3)
        }
    }
    #endif
}

@Test("allocator tuning applies on glibc (it is compiled against the real malloc.h, not skipped)")
func allocatorTuningApplies() {
    #if os(Linux)
    #expect(AllocatorTuning.keepFreedMemory())
    #endif
}
