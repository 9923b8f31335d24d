import Testing
import Tensors

/// `GEMM.rowsIndependent`: every row of a many-row product is bit for bit the product of that row
/// alone — the property continuous batching needs so that a sequence's output does not depend on
/// the sequences decoded with it.
@Suite("Row-independent products")
struct IndependentRowsTests {
    /// Row `row` of `x` `[m, k]` as a `[1, k]` tensor.
    static func row(_ x: Tensor, _ row: Int) -> Tensor {
        let k = x.shape[1]
        return Tensor(Array(x.toArray()[(row * k)..<((row + 1) * k)]), shape: [1, k])
    }

    @Test("a dense x·Wᵀ of 13 rows equals each row's own product, bit for bit")
    func denseRows() {
        var generator = SeededRandom(seed: 3)
        let (m, n, k) = (13, 70, 576)
        let x = Tensor.randomNormal([m, k], generator: &generator)
        let w = Tensor.randomNormal([n, k], generator: &generator)
        let batched = GEMM.$rowsIndependent.withValue(true) { Tensor.matmul(x, w, transposeB: true) }.toArray()
        for r in 0..<m {
            let alone = Tensor.matmul(Self.row(x, r), w, transposeB: true).toArray()
            #expect(Array(batched[(r * n)..<((r + 1) * n)]) == alone, "row \(r)")
        }
    }

    @Test("a packed product of 11 rows equals each row's own, exact and with integer activations",
          arguments: [QuantizedMatrix.Format.q8_0, .q4_1])
    func packedRows(_ format: QuantizedMatrix.Format) throws {
        var generator = SeededRandom(seed: 5)
        let (m, n, k) = (11, 96, 256)
        let w = try QuantizedMatrixTests.randomMatrix(format, rows: n, columns: k, seed: 9)
        let x = Tensor.randomNormal([m, k], generator: &generator)
        for arithmetic in QuantizedMatrix.DecodeArithmetic.allCases {
            try QuantizedMatrix.$decodeArithmetic.withValue(arithmetic) {
                let batched = GEMM.$rowsIndependent.withValue(true) { Tensor.matmul(x, w, transposeW: true) }.toArray()
                for r in 0..<m {
                    let alone = Tensor.matmul(Self.row(x, r), w, transposeW: true).toArray()
                    #expect(Array(batched[(r * n)..<((r + 1) * n)]) == alone, "\(format) \(arithmetic) row \(r)")
                }
                // Without the flag the 11 rows take the blocked path: still the product, within rounding.
                let blocked = Tensor.matmul(x, w, transposeW: true).toArray()
                let scale = blocked.map(abs).max() ?? 1
                let worst = zip(blocked, batched).map { abs($0 - $1) }.max() ?? 0
                try #require(worst <= scale * (arithmetic == .exact ? 1e-5 : 2e-2), "\(format) \(arithmetic): \(worst) of \(scale)")
            }
        }
    }
}
