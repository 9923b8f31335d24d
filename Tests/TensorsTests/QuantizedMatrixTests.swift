import ModelIO
import Testing
import Tensors

/// Quantized matrices: dequantization equals ModelIO's GGUF dequantizer (which matches the `gguf`
/// package), and products dequantize panel by panel with results equal bit for bit to the built-in
/// float GEMM on the dequantized matrix — forward (x·Wᵀ) and input gradient (dY·W), across the
/// small-M decode path, the KC block boundary and edge tiles.
@Suite("Quantized matrices")
struct QuantizedMatrixTests {
    /// Random blocks with finite half-precision scales (including zero and subnormal ones).
    static func randomMatrix(_ format: QuantizedMatrix.Format, rows: Int, columns: Int, seed: UInt64) throws -> QuantizedMatrix {
        var generator = SeededRandom(seed: seed)
        var bytes: [UInt8] = []
        let blocks = rows * columns / 32
        for index in 0..<blocks {
            func half() -> [UInt8] {
                let sign: UInt16 = generator.next() & 1 == 0 ? 0 : 0x8000
                // Exponents 0 (zero/subnormal) to 15 (±2⁰): scales like real weights', never inf or NaN.
                let exponent = UInt16(index % 7 == 0 ? 0 : 5 + Int(generator.next() % 11))
                let bits = sign | exponent << 10 | UInt16(generator.next() % 1024)
                return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
            }
            bytes += half()
            if format == .q4_1 { bytes += half() }
            let payload = format == .q8_0 ? 32 : 16
            for _ in 0..<payload { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
        }
        return try QuantizedMatrix(format: format, rows: rows, columns: columns, bytes: bytes)
    }

    static func ggufType(_ format: QuantizedMatrix.Format) -> GGUFTensorType {
        switch format {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        }
    }

    /// The built-in float GEMM, explicitly (a process built with OpenBLAS may default to it).
    static func floatProduct(_ a: Tensor, _ w: Tensor, transposeW: Bool, kernel: GEMM.Kernel) -> Tensor {
        let m = a.shape[0], k = a.shape[1], n = transposeW ? w.shape[0] : w.shape[1]
        return Tensor(shape: [m, n]) { out in
            a.withUnsafeBufferPointer { pa in
                w.withUnsafeBufferPointer { pw in
                    GEMM.sgemm(transposeA: false, transposeB: transposeW, m: m, n: n, k: k, a: pa.baseAddress!, lda: k,
                               b: pw.baseAddress!, ldb: transposeW ? k : n, c: out.baseAddress!, ldc: n, backend: .builtin, kernel: kernel)
                }
            }
        }
    }

    @Test("dequantization equals the GGUF reference", arguments: QuantizedMatrix.Format.allCases)
    func dequantization(_ format: QuantizedMatrix.Format) throws {
        let matrix = try Self.randomMatrix(format, rows: 7, columns: 96, seed: 1)
        let reference = try matrix.bytes.withUnsafeBytes { try GGUFDequantization.floats($0, type: Self.ggufType(format), count: 7 * 96) }
        #expect(matrix.dequantized().scalars == reference)
        #expect(matrix.dequantized().shape == [7, 96])
    }

    @Test("x·Wᵀ and dY·W equal the float GEMM on the dequantized matrix, bit for bit", arguments: QuantizedMatrix.Format.allCases)
    func products(_ format: QuantizedMatrix.Format) throws {
        var generator = SeededRandom(seed: 7)
        // (rows m of x, out features, in features): decode rows, KC = 384 crossed, edge tiles, a split over threads.
        for (m, out, inFeatures) in [(1, 40, 64), (3, 21, 416), (7, 100, 800), (50, 70, 96), (130, 200, 576)] {
            let w = try Self.randomMatrix(format, rows: out, columns: inFeatures, seed: UInt64(m * 1000 + out))
            let dense = w.dequantized()
            let x = Tensor.randomNormal([m, inFeatures], generator: &generator)
            let forward = Tensor.matmul(x, w, transposeW: true)
            let kernel = GEMM.builtinKernel
            #expect(forward.shape == [m, out])
            #expect(forward.scalars == Self.floatProduct(x, dense, transposeW: true, kernel: kernel).scalars, "\(format) forward \(m)×\(out)×\(inFeatures)")
            let dy = Tensor.randomNormal([m, out], generator: &generator)
            let backward = Tensor.matmul(dy, w, transposeW: false)
            #expect(backward.shape == [m, inFeatures])
            #expect(backward.scalars == Self.floatProduct(dy, dense, transposeW: false, kernel: kernel).scalars, "\(format) backward \(m)×\(out)×\(inFeatures)")
        }
        // Leading axes are kept: (2, 3, K) · Wᵀ → (2, 3, N).
        let w = try Self.randomMatrix(format, rows: 8, columns: 32, seed: 3)
        #expect(Tensor.matmul(Tensor.ones([2, 3, 32]), w, transposeW: true).shape == [2, 3, 8])
    }

    @Test("malformed matrices are typed errors")
    func malformed() {
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q8_0, rows: 2, columns: 48, bytes: []) }
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q4_1, rows: 2, columns: 64, bytes: [UInt8](repeating: 0, count: 79)) }
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q4_0, rows: 0, columns: 32, bytes: []) }
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q4_0, rows: Int.max / 2, columns: 64, bytes: []) }
    }
}
