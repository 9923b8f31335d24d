import Testing
import Tensors

/// `MatmulPrecision.float16` (half operands, short half sums) and `.bfloat16` (bfloat16 operands, float
/// sums): the large products must stay within the error bound the precision documents, on every transpose
/// and edge, whatever the operands' magnitudes; keep their bits for any thread count; leave small products
/// in float; and run in float on CPUs without the instructions (AVX512-FP16, AVX512-BF16). Tests of one
/// precision return early on a CPU without it; the float fallback is tested on every CPU.
@Suite("GEMM in mixed precision", .serialized)
struct HalfPrecisionGEMMTests {
    /// Row and column sums of |a|·|b| for each element: the scale of its rounding error.
    static func magnitudes(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float]) -> [Float] {
        referenceGEMM(transA, transB, m, n, k, alpha: 1, a.map(abs), b.map(abs), beta: 0, [Float](repeating: 0, count: m * n))
    }

    /// The reduced precisions under test.
    static let precisions: [MatmulPrecision] = [.float16, .bfloat16]

    /// Checks every element of a reduced-precision product against Float64: |error| ≤ 4e-3 · alpha ·
    /// Σ|a||b| (+ the float rounding of the beta term). A 64-step half sum of products below 1 rounds by at
    /// most 64 · 2⁻¹¹ relative to its terms' magnitudes in the worst case, ~1e-3 typically; bfloat16
    /// operands are each within 2⁻⁹ of their value, so a product within 2⁻⁸ ≈ 3.9e-3, and the float sums
    /// add ~1e-5. `product` is the Float64 a·b and `scale` the sums of |a||b|, as `referenceGEMM` and
    /// `magnitudes` give them.
    static func expectWithinBound(product: [Float], scale: [Float], alpha: Float, beta: Float, _ c: [Float], _ result: [Float],
                                  _ label: String) {
        var worst: Float = 0
        var sumSquares = 0.0, errorSquares = 0.0
        for index in 0..<product.count {
            let reference = Double(alpha) * Double(product[index]) + (beta == 0 ? 0 : Double(beta) * Double(c[index]))
            let error = abs(Double(result[index]) - reference)
            let bound = 4e-3 * Double(abs(alpha) * scale[index]) + 1e-6 * Double(abs(beta * c[index])) + Double(Float.leastNormalMagnitude)
            worst = max(worst, Float(error / bound))
            sumSquares += reference * reference
            errorSquares += error * error
        }
        #expect(worst <= 1, "\(label): an element is \(worst)× over its bound")
        #expect((errorSquares / max(sumSquares, 1e-300)).squareRoot() < 3e-3, "\(label): relative error over the product")
    }

    /// `expectWithinBound` computing the reference of `a·b` itself.
    static func expectWithinBound(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float],
                                  _ result: [Float], _ label: String) {
        let zero = [Float](repeating: 0, count: m * n)
        expectWithinBound(product: referenceGEMM(transA, transB, m, n, k, alpha: 1, a, b, beta: 0, zero),
                          scale: magnitudes(transA, transB, m, n, k, a, b), alpha: 1, beta: 0, zero, result, label)
    }

    static func run(_ precision: MatmulPrecision, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, alpha: Float,
                    _ a: [Float], _ b: [Float], beta: Float, _ c: [Float]) -> [Float] {
        GEMM.$precision.withValue(precision) {
            builtinProduct(transA, transB, m, n, k, alpha: alpha, a, b, beta: beta, c, kernel: nil)
        }
    }

    static func checkWithinBound(_ precision: MatmulPrecision) throws {
        var generator = SeededRandom(seed: 41)
        // M ends in partial 12-row tiles, N in partial 64-column groups and crosses the 768-column block, K
        // crosses the 384-deep block and ends in a partial 64-step run.
        for (m, n, k) in [(13, 130, 129), (150, 800, 390), (97, 300, 200), (61, 192, 576)] {
            for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = Tensor.randomNormal([m * k], generator: &generator).toArray()
                let b = Tensor.randomUniform([k * n], low: -0.1, high: 0.1, generator: &generator).toArray()
                let c = Tensor.randomUniform([m * n], low: -1, high: 1, generator: &generator).toArray()
                let zero = [Float](repeating: 0, count: m * n)
                let exact = referenceGEMM(transA, transB, m, n, k, alpha: 1, a, b, beta: 0, zero)
                let scale = Self.magnitudes(transA, transB, m, n, k, a, b)
                for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, -0.5)] {
                    let result = Self.run(precision, transA, transB, m, n, k, alpha: alpha, a, b, beta: beta, c)
                    Self.expectWithinBound(product: exact, scale: scale, alpha: alpha, beta: beta, c, result,
                                           "\(m)×\(n)×\(k) transA=\(transA) transB=\(transB) alpha=\(alpha) beta=\(beta)")
                    // The reduced path ran: float gives other bits.
                    let differs = result != Self.run(.float32, transA, transB, m, n, k, alpha: alpha, a, b, beta: beta, c)
                    #expect(differs, "\(m)×\(n)×\(k) transA=\(transA) transB=\(transB): \(precision) gave float32's bits")
                }
            }
        }
    }

    static func checkExtremeMagnitudes(_ precision: MatmulPrecision) throws {
        var generator = SeededRandom(seed: 43)
        let (m, n, k) = (40, 256, 300)
        var a = Tensor.randomNormal([m * k], generator: &generator).toArray()
        for row in 0..<m {
            var scale: Float = 1e-30
            for _ in 0..<(row % 13) { scale *= 1e5 }
            for p in 0..<k { a[row * k + p] *= scale }
        }
        // One column group of large weights, one of tiny ones, the rest ordinary.
        var b = Tensor.randomUniform([k * n], low: -1, high: 1, generator: &generator).toArray()
        for p in 0..<k {
            for j in 0..<64 { b[p * n + j] *= 1e5 }
            for j in 64..<128 { b[p * n + j] *= 1e-7 }
        }
        let zero = [Float](repeating: 0, count: m * n)
        let result = Self.run(precision, false, false, m, n, k, alpha: 1, a, b, beta: 0, zero)
        #expect(result.allSatisfy { $0.isFinite })
        Self.expectWithinBound(false, false, m, n, k, a, b, result, "extreme magnitudes")
    }

    static func checkNonFiniteOperands(_ precision: MatmulPrecision) throws {
        var generator = SeededRandom(seed: 47)
        let (m, n, k) = (24, 128, 128)
        var a = Tensor.randomNormal([m * k], generator: &generator).toArray()
        let b = Tensor.randomUniform([k * n], low: 0.5, high: 1, generator: &generator).toArray()
        a[3 * k + 5] = .nan
        a[7 * k + 9] = .infinity
        let result = Self.run(precision, false, false, m, n, k, alpha: 1, a, b, beta: 0, [Float](repeating: 0, count: m * n))
        #expect((0..<n).allSatisfy { result[3 * n + $0].isNaN })
        #expect((0..<n).allSatisfy { result[7 * n + $0] == .infinity || result[7 * n + $0].isNaN })
        #expect(result[0..<(3 * n)].allSatisfy { $0.isFinite })
    }

    @Test("results keep their bits for 1, 2 and 3 threads", arguments: precisions)
    func threadCountDoesNotChangeBits(precision: MatmulPrecision) {
        var generator = SeededRandom(seed: 45)
        let previous = Parallel.threadCount
        defer { Parallel.threadCount = previous }
        let (m, n, k) = (301, 790, 400)
        let a = Tensor.randomNormal([m * k], generator: &generator).toArray()
        let b = Tensor.randomUniform([k * n], low: -1, high: 1, generator: &generator).toArray()
        let c = Tensor.randomUniform([m * n], low: -1, high: 1, generator: &generator).toArray()
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            Parallel.threadCount = threads
            results.append(Self.run(precision, false, true, m, n, k, alpha: 0.5, a, b, beta: 1, c))
        }
        let same = results[1] == results[0] && results[2] == results[0]
        #expect(same, "\(precision) products changed with the thread count")
    }

    @Test("small products (≤ 4 rows, width or depth under 128) and CPUs without the instructions compute in float, bit for bit",
          arguments: precisions)
    func floatWhereReducedDoesNotApply(precision: MatmulPrecision) {
        var generator = SeededRandom(seed: 49)
        var shapes = [(4, 256, 256), (200, 64, 256), (200, 256, 64), (300, 8, 576), (300, 576, 8)]
        if !GEMM.isAvailable(precision) { shapes.append((150, 800, 390)) }
        for (m, n, k) in shapes {
            let a = Tensor.randomNormal([m * k], generator: &generator).toArray()
            let b = Tensor.randomNormal([k * n], generator: &generator).toArray()
            let c = [Float](repeating: 0, count: m * n)
            let same = Self.run(precision, false, false, m, n, k, alpha: 1, a, b, beta: 0, c)
                == Self.run(.float32, false, false, m, n, k, alpha: 1, a, b, beta: 0, c)
            #expect(same, "\(m)×\(n)×\(k) changed under \(precision)")
        }
    }

    static func checkQuantizedWithinBound(_ format: QuantizedMatrix.Format, _ precision: MatmulPrecision) throws {
        var generator = SeededRandom(seed: 51)
        let (rows, columns) = (320, 512)
        let w = try QuantizedMatrix.quantizing(Tensor.randomUniform([rows, columns], low: -0.2, high: 0.2, generator: &generator),
                                               to: format)
        let dense = w.dequantized().toArray()
        for transposeW in [true, false] {
            let m = 150, k = transposeW ? columns : rows, n = transposeW ? rows : columns
            let x = Tensor.randomNormal([m, k], generator: &generator)
            let result = GEMM.$precision.withValue(precision) { Tensor.matmul(x, w, transposeW: transposeW) }
            Self.expectWithinBound(false, transposeW, m, n, k, x.toArray(), dense, result.toArray(), "\(format) transposeW=\(transposeW)")
            let differs = result != Tensor.matmul(x, w, transposeW: transposeW)
            #expect(differs, "\(format) transposeW=\(transposeW): \(precision) gave float32's bits")
        }
    }
}

/// The reduced-precision kernels' checks, run where the CPU has the instructions and reported as
/// skipped where it has not (the products then compute in float32, checked above).
@Suite("float16 products (AVX512-FP16)", .enabled(if: GEMM.isAvailable(.float16), "this CPU has no AVX512-FP16"))
struct Float16GEMMTests {
    @Test("every transpose, edge tiles and cache blocks, alpha and beta: within the documented error of Float64")
    func withinBound() throws { try HalfPrecisionGEMMTests.checkWithinBound(.float16) }
    @Test("magnitudes far outside half's range are neither lost nor overflowed")
    func extremeMagnitudes() throws { try HalfPrecisionGEMMTests.checkExtremeMagnitudes(.float16) }
    @Test("NaN and infinity in an operand reach the product as in float")
    func nonFiniteOperands() throws { try HalfPrecisionGEMMTests.checkNonFiniteOperands(.float16) }
    @Test("quantized weights: forward and input gradient within the bound of the dequantized product", arguments: [QuantizedMatrix.Format.q4_1, .q8_0, .nf4])
    func quantizedWithinBound(format: QuantizedMatrix.Format) throws { try HalfPrecisionGEMMTests.checkQuantizedWithinBound(format, .float16) }
}

/// The same checks for bfloat16 operands (AVX512-BF16).
@Suite("bfloat16 products (AVX512-BF16)", .enabled(if: GEMM.isAvailable(.bfloat16), "this CPU has no AVX512-BF16"))
struct BFloat16GEMMTests {
    @Test("every transpose, edge tiles and cache blocks, alpha and beta: within the documented error of Float64")
    func withinBound() throws { try HalfPrecisionGEMMTests.checkWithinBound(.bfloat16) }
    @Test("magnitudes far outside half's range are neither lost nor overflowed")
    func extremeMagnitudes() throws { try HalfPrecisionGEMMTests.checkExtremeMagnitudes(.bfloat16) }
    @Test("NaN and infinity in an operand reach the product as in float")
    func nonFiniteOperands() throws { try HalfPrecisionGEMMTests.checkNonFiniteOperands(.bfloat16) }
    @Test("quantized weights: forward and input gradient within the bound of the dequantized product", arguments: [QuantizedMatrix.Format.q4_1, .q8_0, .nf4])
    func quantizedWithinBound(format: QuantizedMatrix.Format) throws { try HalfPrecisionGEMMTests.checkQuantizedWithinBound(format, .bfloat16) }
}

