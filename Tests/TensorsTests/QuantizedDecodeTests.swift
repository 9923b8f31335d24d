import Testing
import Tensors

/// Decode products with int8 activations: the kernel computes exactly the product of the dequantized
/// weights with the activations rounded to int8 per block of 32 (checked in Float64 against an
/// independent Swift quantizer), stays within the rounding's bound of the exact product, and is used
/// only when asked for and only for decode-sized products.
@Suite("Quantized decode products")
struct QuantizedDecodeTests {
    /// The activations after llama.cpp's int8 rounding: per block d = max|x|/127, round(x·(1/d)) · d.
    static func int8Rounded(_ x: [Float]) -> [Double] {
        var out: [Double] = []
        for start in stride(from: 0, to: x.count, by: 32) {
            let block = x[start..<(start + 32)]
            let d = block.map(abs).max()! / 127
            let inverse: Float = d != 0 ? 1 / d : 0
            out += block.map { Double(($0 * inverse).rounded(.toNearestOrEven)) * Double(d) }
        }
        return out
    }

    static let shapes = [(1, 40, 64), (1, 333, 576), (2, 21, 416), (3, 64, 96), (4, 70, 1536)]

    @Test("int8-activation products equal the dequantized weights times the int8-rounded activations",
          arguments: [QuantizedMatrix.Format.q8_0, .q4_0, .q4_1])
    func int8Products(_ format: QuantizedMatrix.Format) throws {
        var generator = SeededRandom(seed: 11)
        for (m, n, k) in Self.shapes {
            let w = try QuantizedMatrixTests.randomMatrix(format, rows: n, columns: k, seed: UInt64(n * 7 + k))
            let dense = w.dequantized().scalars
            var x = Tensor.randomNormal([m, k], generator: &generator).scalars
            for j in 0..<32 { x[j] = 0 }  // an all-zero block
            let input = Tensor(x, shape: [m, k])
            let fast = QuantizedMatrix.$decodeArithmetic.withValue(.int8Activations) { Tensor.matmul(input, w, transposeW: true) }
            let exact = Tensor.matmul(input, w, transposeW: true)
            #expect(fast.shape == [m, n])
            var worst = 0.0, worstRounding = 0.0
            for row in 0..<m {
                let rounded = Self.int8Rounded(Array(x[(row * k)..<((row + 1) * k)]))
                for column in 0..<n {
                    var sum = 0.0, magnitude = 0.0, roundingBound = 0.0
                    for j in 0..<k {
                        let weight = Double(dense[column * k + j])
                        sum += weight * rounded[j]
                        magnitude += abs(weight * rounded[j])
                        // Each activation moves by at most half its block's step d/2.
                        let block = x[(row * k + j / 32 * 32)..<(row * k + j / 32 * 32 + 32)]
                        roundingBound += abs(weight) * Double(block.map(abs).max()!) / 127 / 2
                    }
                    let got = Double(fast.scalars[row * n + column])
                    worst = max(worst, abs(got - sum) / (magnitude * 1e-5 + 1e-30))
                    let exactValue = Double(exact.scalars[row * n + column])
                    worstRounding = max(worstRounding, abs(got - exactValue) / (roundingBound * 1.001 + magnitude * 1e-5 + 1e-30))
                }
            }
            #expect(worst <= 1, "\(format) \(m)×\(n)×\(k): \(worst) of the float tolerance from the int8 reference")
            #expect(worstRounding <= 1, "\(format) \(m)×\(n)×\(k): \(worstRounding) of the rounding bound from the exact product")
            #expect(fast.scalars != exact.scalars, "\(format) \(m)×\(n)×\(k): the int8 path ran")
        }
    }

    @Test("exact unless asked for, and only for products of at most decodeRows rows of a 32-block format")
    func exactElsewhere() throws {
        var generator = SeededRandom(seed: 12)
        for format in QuantizedMatrix.Format.allCases {
            let w = try QuantizedMatrixTests.randomMatrix(format, rows: 48, columns: 256, seed: 5)
            let dense = w.dequantized()
            for m in [1, QuantizedMatrix.decodeRows + 1] {
                let x = Tensor.randomNormal([m, 256], generator: &generator)
                let reference = QuantizedMatrixTests.floatProduct(x, dense, transposeW: true, kernel: GEMM.builtinKernel).scalars
                #expect(Tensor.matmul(x, w, transposeW: true).scalars == reference, "\(format), \(m) rows, default")
                let asked = QuantizedMatrix.$decodeArithmetic.withValue(.int8Activations) { Tensor.matmul(x, w, transposeW: true).scalars }
                let int8Format = [.q8_0, .q4_0, .q4_1].contains(format)
                #expect((asked == reference) == !(int8Format && m <= QuantizedMatrix.decodeRows), "\(format), \(m) rows, int8 asked")
                // The input gradient (dY·W) never runs in int8.
                let dy = Tensor.randomNormal([m, 48], generator: &generator)
                let backward = QuantizedMatrix.$decodeArithmetic.withValue(.int8Activations) { Tensor.matmul(dy, w, transposeW: false).scalars }
                #expect(backward == QuantizedMatrixTests.floatProduct(dy, dense, transposeW: false, kernel: GEMM.builtinKernel).scalars)
            }
        }
    }
}
