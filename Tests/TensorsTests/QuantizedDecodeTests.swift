import Testing
@testable import Tensors

/// Decode products with integer activations: the kernel computes exactly the product of the dequantized
/// weights with the activations rounded per block of 32 to int8 (4-bit weights) or int16 (Q8_0) —
/// checked in Float64 against an independent Swift quantizer — stays within the rounding's bound of the
/// exact product, and is used only when asked for and only for decode-sized products.
@Suite("Quantized decode products")
struct QuantizedDecodeTests {
    /// The activations after llama.cpp-style rounding: per block d = max|x|/L, round(x·(1/d)) · d, with
    /// L = 127 (int8) or 32767 (int16).
    static func integerRounded(_ x: [Float], levels: Float) -> [Double] {
        var out: [Double] = []
        for start in stride(from: 0, to: x.count, by: 32) {
            let block = x[start..<(start + 32)]
            let d = block.map(abs).max()! / levels
            let inverse: Float = d != 0 ? 1 / d : 0
            out += block.map { Double(($0 * inverse).rounded(.toNearestOrEven)) * Double(d) }
        }
        return out
    }

    static let shapes = [(1, 40, 64), (1, 333, 576), (2, 21, 416), (3, 64, 96), (4, 70, 1536)]
    /// K-quant rows are whole super-blocks of 256.
    static let superBlockShapes = [(1, 40, 256), (1, 333, 768), (2, 21, 512), (4, 70, 1536)]

    @Test("integer-activation products equal the dequantized weights times the rounded activations",
          arguments: [QuantizedMatrix.Format.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q6_K])
    func integerProducts(_ format: QuantizedMatrix.Format) throws {
        var generator = SeededRandom(seed: 11)
        let levels: Float = format == .q8_0 ? 32767 : 127
        for (m, n, k) in [.q4_K, .q6_K].contains(format) ? Self.superBlockShapes : Self.shapes {
            let w = try QuantizedMatrixTests.randomMatrix(format, rows: n, columns: k, seed: UInt64(n * 7 + k))
            let dense = w.dequantized().toArray()
            var x = Tensor.randomNormal([m, k], generator: &generator).toArray()
            for j in 0..<32 { x[j] = 0 }  // an all-zero block
            let input = Tensor(x, shape: [m, k])
            let fast = QuantizedMatrix.$decodeArithmetic.withValue(.integerActivations) { Tensor.matmul(input, w, transposeW: true) }
            let exact = Tensor.matmul(input, w, transposeW: true)
            #expect(fast.shape == [m, n])
            var worst = 0.0, worstRounding = 0.0
            for row in 0..<m {
                let rounded = Self.integerRounded(Array(x[(row * k)..<((row + 1) * k)]), levels: levels)
                for column in 0..<n {
                    var sum = 0.0, magnitude = 0.0, roundingBound = 0.0
                    for j in 0..<k {
                        let weight = Double(dense[column * k + j])
                        sum += weight * rounded[j]
                        magnitude += abs(weight * rounded[j])
                        // Each activation moves by at most half its block's step d/2.
                        let block = x[(row * k + j / 32 * 32)..<(row * k + j / 32 * 32 + 32)]
                        roundingBound += abs(weight) * Double(block.map(abs).max()!) / Double(levels) / 2
                    }
                    let got = Double(fast[flat: row * n + column])
                    worst = max(worst, abs(got - sum) / (magnitude * 1e-5 + 1e-30))
                    let exactValue = Double(exact[flat: row * n + column])
                    worstRounding = max(worstRounding, abs(got - exactValue) / (roundingBound * 1.001 + magnitude * 1e-5 + 1e-30))
                }
            }
            #expect(worst <= 1, "\(format) \(m)×\(n)×\(k): \(worst) of the float tolerance from the integer reference")
            #expect(worstRounding <= 1, "\(format) \(m)×\(n)×\(k): \(worstRounding) of the rounding bound from the exact product")
            #expect(fast.toArray() != exact.toArray(), "\(format) \(m)×\(n)×\(k): the integer path ran")
        }
    }

    @Test("the vector kernels (AVX2, AVX-VNNI) give the portable C kernel's integer products, up to float summation order",
          arguments: [QuantizedMatrix.Format.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q6_K])
    func vectorEqualsPortable(_ format: QuantizedMatrix.Format) throws {
        var generator = SeededRandom(seed: 13)
        let (m, n, k) = (3, 37, 768)
        let w = try QuantizedMatrixTests.randomMatrix(format, rows: n, columns: k, seed: 17)
        let x = Tensor.randomNormal([m, k], generator: &generator)
        let bits = format == .q8_0 ? 16 : 8
        func product(_ kernel: GEMM.Kernel) -> [Float] {
            var out = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { a in
                w.withUnsafeBytes { bytes in
                    out.withUnsafeMutableBufferPointer { c in
                        QuantizedGEMM.runInteger(bits: bits, m: m, n: n, k: k, a: a.baseAddress!, w: w, bytes: bytes.baseAddress!,
                                                 c: c.baseAddress!, kernel: kernel)
                    }
                }
            }
            return out
        }
        let portable = product(.portable), vector = product(GEMM.bestKernel)
        let scale = portable.map(abs).max()!
        let worst = zip(portable, vector).map { abs($0 - $1) }.max()!
        #expect(!portable.contains { !$0.isFinite })
        #expect(worst <= 1e-5 * scale, "\(format): vector and portable differ by \(worst) (largest value \(scale))")
    }

    @Test("exact unless asked for, and only for products of at most decodeRows rows of a 32-block format")
    func exactElsewhere() throws {
        var generator = SeededRandom(seed: 12)
        for format in QuantizedMatrix.Format.allCases {
            let w = try QuantizedMatrixTests.randomMatrix(format, rows: 48, columns: 256, seed: 5)
            let dense = w.dequantized()
            for m in [1, QuantizedMatrix.decodeRows + 1] {
                let x = Tensor.randomNormal([m, 256], generator: &generator)
                let reference = QuantizedMatrixTests.floatProduct(x, dense, transposeW: true, kernel: GEMM.builtinKernel).toArray()
                #expect(Tensor.matmul(x, w, transposeW: true).toArray() == reference, "\(format), \(m) rows, default")
                let asked = QuantizedMatrix.$decodeArithmetic.withValue(.integerActivations) { Tensor.matmul(x, w, transposeW: true).toArray() }
                let integerFormat = format != .nf4
                #expect((asked == reference) == !(integerFormat && m <= QuantizedMatrix.decodeRows), "\(format), \(m) rows, integer asked")
                // The input gradient (dY·W) never runs on integers.
                let dy = Tensor.randomNormal([m, 48], generator: &generator)
                let backward = QuantizedMatrix.$decodeArithmetic.withValue(.integerActivations) { Tensor.matmul(dy, w, transposeW: false).toArray() }
                #expect(backward == QuantizedMatrixTests.floatProduct(dy, dense, transposeW: false, kernel: GEMM.builtinKernel).toArray())
            }
        }
    }
}
