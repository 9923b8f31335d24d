// Matrix products on the last two axes, batched over the leading ones.

extension Tensor {
    /// `op(a) · op(b)` over the last two axes, where `op` optionally transposes them.
    ///
    /// - `a: [..., M, K]` (or `[..., K, M]` with `transposeA`), `b: [K, N]` (or `[N, K]` with `transposeB`):
    ///   a rank-2 `b` is shared by every batch element (the `x · Wᵀ` of a linear layer).
    /// - Both of rank ≥ 3: the leading (batch) dimensions must be equal.
    /// - A rank-2 `a` with a batched `b` is shared across the batch.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        let (batchA, m, n, k) = matmulShape(a, b, transposeA: transposeA, transposeB: transposeB)
        let batchB = Array(b.shape.dropLast(2))
        let lda = a.shape[a.rank - 1], ldb = b.shape[b.rank - 1]

        // Fold the batch into M when b is shared and a is not transposed: one large GEMM.
        if batchB.isEmpty && !transposeA {
            let rows = batchA.reduce(1, *) * m
            return Tensor(shape: batchA + [m, n]) { out in
                gemm(a, b, transposeA: false, transposeB: transposeB, m: rows, n: n, k: k, lda: lda, ldb: ldb, into: out)
            }
        }
        precondition(batchA.isEmpty || batchB.isEmpty || batchA == batchB,
                     "matmul: batch dimensions differ: \(a.shape) vs \(b.shape)")
        let batch = batchA.isEmpty ? batchB : batchA
        let batches = batch.reduce(1, *)
        let strideA = batchA.isEmpty ? 0 : m * k
        let strideB = batchB.isEmpty ? 0 : k * n
        return Tensor(shape: batch + [m, n]) { out in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    let base = (UInt(bitPattern: pa.baseAddress), UInt(bitPattern: pb.baseAddress), UInt(bitPattern: out.baseAddress))
                    let perBatchWork = m * n * Swift.max(k, 1)
                    let run: (Int) -> Void = { index in
                        GEMM.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                   a: UnsafePointer(bitPattern: base.0)! + index * strideA, lda: lda,
                                   b: UnsafePointer(bitPattern: base.1)! + index * strideB, ldb: ldb,
                                   c: UnsafeMutablePointer(bitPattern: base.2)! + index * m * n, ldc: n)
                    }
                    if m * n == 0 { return }
                    if perBatchWork >= GEMM.parallelThreshold || batches == 1 {
                        for index in 0..<batches { run(index) }
                    } else {
                        Parallel.forEachRange(batches) { range in for index in range { run(index) } }
                    }
                }
            }
        }
    }

    /// `a`'s batch axes and the M, N and K of `op(a) · op(b)`, checking that the operands fit.
    private static func matmulShape(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> (batch: [Int], m: Int, n: Int, k: Int) {
        precondition(a.rank >= 2 && b.rank >= 2,
                     "matmul: operands need rank ≥ 2, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let ka = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        precondition(ka == kb, "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "") (\(ka) vs \(kb))")
        return (Array(a.shape.dropLast(2)), m, n, ka)
    }

    /// `c += a · op(b)` for `a: [..., M, K]` and a rank-2 `b` (`[K, N]`, or `[N, K]` with `transposeB`), as one
    /// GEMM that adds its products into `c` (`[..., M, N]`): no temporary and no separate addition. The
    /// sum is rounded with the products (C + A·B per depth block), so it can differ from `c + matmul(a, b)`
    /// in the last bit; it does not depend on the thread count.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false, addingInto c: inout Tensor) {
        precondition(a.rank >= 2 && b.rank == 2, "matmul(addingInto:): needs a: [..., M, K] and a rank-2 b, got \(a.shape) and \(b.shape)")
        let product = matmulShape(a, b, transposeA: false, transposeB: transposeB)
        precondition(c.shape == product.batch + [product.m, product.n],
                     "matmul(addingInto:): the sum \(c.shape) does not have the product's shape \(product.batch + [product.m, product.n])")
        c.withUnsafeMutableBufferPointer { out in
            gemm(a, b, transposeA: false, transposeB: transposeB, m: product.batch.reduce(1, *) * product.m, n: product.n,
                 k: product.k, lda: product.k, ldb: b.shape[1], beta: 1, into: out)
        }
    }

    private static func gemm(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
                             m: Int, n: Int, k: Int, lda: Int, ldb: Int, beta: Float = 0, into out: UnsafeMutableBufferPointer<Float>) {
        guard m > 0 && n > 0 else { return }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                // Empty operands still need a valid pointer; `k == 0` only zero-fills C.
                let dummy: Float = 0
                withUnsafePointer(to: dummy) { d in
                    GEMM.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                               a: pa.baseAddress ?? d, lda: Swift.max(lda, 1),
                               b: pb.baseAddress ?? d, ldb: Swift.max(ldb, 1),
                               beta: beta, c: out.baseAddress!, ldc: n)
                }
            }
        }
    }
}
