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
        let blocks = rows * columns / format.blockValues
        for index in 0..<blocks {
            if format == .nf4 {
                // A float32 absmax (zero for every seventh block) and 64 random codes.
                let absmax: Float = index % 7 == 0 ? 0 : Float(generator.next() % 1000) / 250
                bytes += withUnsafeBytes(of: absmax.bitPattern.littleEndian) { Array($0) }
                for _ in 0..<32 { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
                continue
            }
            func half() -> [UInt8] {
                let sign: UInt16 = generator.next() & 1 == 0 ? 0 : 0x8000
                // Exponents 0 (zero/subnormal) to 15 (±2⁰): scales like real weights', never inf or NaN.
                let exponent = UInt16(index % 7 == 0 ? 0 : 5 + Int(generator.next() % 11))
                let bits = sign | exponent << 10 | UInt16(generator.next() % 1024)
                return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
            }
            if format == .q4_K || format == .q6_K {
                // d (and dmin) as finite halves; scales, minimums and values as random bytes.
                if format == .q4_K { bytes += half() + half() }
                for _ in 0..<(format == .q4_K ? 140 : 208) { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
                if format == .q6_K { bytes += half() }
                continue
            }
            bytes += half()
            if format == .q4_1 || format == .q5_1 { bytes += half() }
            let payload = format == .q8_0 ? 32 : [.q5_0, .q5_1].contains(format) ? 20 : 16
            for _ in 0..<payload { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
        }
        return try QuantizedMatrix(format: format, rows: rows, columns: columns, bytes: bytes)
    }

    static func ggufType(_ format: QuantizedMatrix.Format) -> GGUFTensorType? {
        switch format {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q4_K: return .q4_K
        case .q6_K: return .q6_K
        case .nf4: return nil
        }
    }

    /// QLoRA's NF4 levels (the paper's appendix), for an independent reference.
    static let nf4Levels: [Float] = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                                     -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                                     0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                                     0.7229568362236023, 1.0]

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

    @Test("dequantization equals the GGUF reference", arguments: [QuantizedMatrix.Format.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q6_K])
    func dequantization(_ format: QuantizedMatrix.Format) throws {
        let columns = format.blockValues * 3
        let matrix = try Self.randomMatrix(format, rows: 7, columns: columns, seed: 1)
        let reference = try matrix.withUnsafeBytes { try GGUFDequantization.floats($0, type: Self.ggufType(format)!, count: 7 * columns) }
        #expect(matrix.dequantized().toArray() == reference)
        #expect(matrix.dequantized().shape == [7, columns])
        // Partial rows (a thread's column range) read the same values.
        #expect(try matrix.dequantizedRows([6, 1]).toArray() == Array(reference[(6 * columns)..<(7 * columns)] + reference[columns..<(2 * columns)]))
    }

    @Test("NF4 dequantizes to level × absmax, value by value (float32 absmax, low nibble first)")
    func nf4Dequantization() throws {
        let matrix = try Self.randomMatrix(.nf4, rows: 3, columns: 192, seed: 2)
        #expect(matrix.byteCount == 3 * 3 * 36 && matrix.rowBytes == 108)
        let values = matrix.dequantized().toArray()
        let bytes = matrix.withUnsafeBytes { Array($0) }
        for index in 0..<values.count {
            let block = index / 64, j = index % 64
            let offset = block * 36
            let absmax = Float(bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                               | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
            let byte = bytes[offset + 4 + j / 2]
            #expect(values[index] == Self.nf4Levels[Int(j % 2 == 0 ? byte & 0xF : byte >> 4)] * absmax)
        }
        #expect(try matrix.dequantizedRows([2, 0]).toArray() == Array(values[384..<576] + values[0..<192]))
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .nf4, rows: 1, columns: 96, bytes: [UInt8](repeating: 0, count: 54)) }
    }

    @Test("quantizing stays within each format's published bound: Q8_0 and Q4_1 d/2, NF4 0.152·absmax")
    func roundTripBounds() throws {
        var generator = SeededRandom(seed: 17)
        // One all-zero block and one block holding exactly representable NF4 values.
        var scalars = Tensor.randomNormal([24, 256], std: 0.05, generator: &generator).toArray()
        for j in 0..<64 { scalars[j] = 0; scalars[64 + j] = Self.nf4Levels[j % 16] * 0.5 }
        let weights = Tensor(scalars, shape: [24, 256])
        for format in [QuantizedMatrix.Format.q8_0, .q4_1, .nf4] {
            let restored = try QuantizedMatrix.quantizing(weights, to: format).dequantized().toArray()
            let block = format.blockValues
            var worstRatio: Float = 0
            for start in stride(from: 0, to: scalars.count, by: block) {
                let values = scalars[start..<(start + block)]
                let lo = values.min()!, hi = values.max()!, absmax = values.map(abs).max()!
                // Half a step, plus what storing the scale (and minimum) in half precision adds: the
                // largest integer times the scale's rounding (2⁻¹¹ relative). NF4's absmax is float32.
                let halfRounding: Float = 1.0 / 2048
                let bound: Float = switch format {
                case .q8_0: absmax / 127 * (0.5 + 127 * halfRounding) + 1e-9
                case .q4_1: (hi - lo) / 15 * (0.5 + 15 * halfRounding) + abs(lo) * halfRounding + 1e-9
                default: absmax * 0.152 + 1e-9
                }
                for (x, y) in zip(values, restored[start..<(start + block)]) { worstRatio = max(worstRatio, abs(x - y) / bound) }
            }
            #expect(worstRatio <= 1, "\(format): worst error \(worstRatio) of the bound")
            #expect(worstRatio > 0.5, "\(format): the bound is tight enough to mean something (\(worstRatio))")
            #expect(restored[0..<64].allSatisfy { $0 == 0 }, "\(format): a zero block stays zero")
            if format == .nf4 { #expect(Array(restored[64..<128]) == Array(scalars[64..<128]), "NF4 levels round-trip exactly") }
        }
        #expect(throws: TensorError.self) { try QuantizedMatrix.quantizing(Tensor.zeros([2, 96]), to: .nf4) }
    }

    @Test("x·Wᵀ and dY·W equal the float GEMM on the dequantized matrix, bit for bit", arguments: QuantizedMatrix.Format.allCases)
    func products(_ format: QuantizedMatrix.Format) throws {
        var generator = SeededRandom(seed: 7)
        // (rows m of x, out features, in features): decode rows, KC = 384 crossed, edge tiles, a split over threads.
        for (m, out, columns) in [(1, 40, 64), (3, 21, 416), (7, 100, 800), (50, 70, 96), (130, 200, 576)] {
            let inFeatures = (columns + format.blockValues - 1) / format.blockValues * format.blockValues
            let w = try Self.randomMatrix(format, rows: out, columns: inFeatures, seed: UInt64(m * 1000 + out))
            let dense = w.dequantized()
            let x = Tensor.randomNormal([m, inFeatures], generator: &generator)
            let forward = Tensor.matmul(x, w, transposeW: true)
            let kernel = GEMM.builtinKernel
            #expect(forward.shape == [m, out])
            #expect(forward.toArray() == Self.floatProduct(x, dense, transposeW: true, kernel: kernel).toArray(), "\(format) forward \(m)×\(out)×\(inFeatures)")
            let dy = Tensor.randomNormal([m, out], generator: &generator)
            let backward = Tensor.matmul(dy, w, transposeW: false)
            #expect(backward.shape == [m, inFeatures])
            #expect(backward.toArray() == Self.floatProduct(dy, dense, transposeW: false, kernel: kernel).toArray(), "\(format) backward \(m)×\(out)×\(inFeatures)")
        }
        // Leading axes are kept: (2, 3, K) · Wᵀ → (2, 3, N).
        let w = try Self.randomMatrix(format, rows: 8, columns: format.blockValues, seed: 3)
        #expect(Tensor.matmul(Tensor.ones([2, 3, format.blockValues]), w, transposeW: true).shape == [2, 3, 8])
    }

    @Test("a tall product shares the dequantized W between threads and keeps the bits of one thread", arguments: QuantizedMatrix.Format.allCases)
    func sharedDequantization(_ format: QuantizedMatrix.Format) throws {
        var generator = SeededRandom(seed: 9)
        let previous = Parallel.threadCount
        defer { Parallel.threadCount = previous }
        // 800 outputs cross the 768-column block in the forward product; 768 inputs, a multiple of every
        // block size, cross it in the backward one.
        let (m, out, inFeatures) = (200, 800, 768)
        let w = try Self.randomMatrix(format, rows: out, columns: inFeatures, seed: 11)
        let x = Tensor.randomNormal([m, inFeatures], generator: &generator)
        let dy = Tensor.randomNormal([m, out], generator: &generator)
        Parallel.threadCount = 1
        let forward = Tensor.matmul(x, w, transposeW: true), backward = Tensor.matmul(dy, w, transposeW: false)
        for threads in [2, 3] {
            Parallel.threadCount = threads
            #expect(Tensor.matmul(x, w, transposeW: true).toArray() == forward.toArray(), "\(format) forward, \(threads) threads")
            #expect(Tensor.matmul(dy, w, transposeW: false).toArray() == backward.toArray(), "\(format) backward, \(threads) threads")
        }
    }

    @Test("malformed matrices are typed errors")
    func malformed() {
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q8_0, rows: 2, columns: 48, bytes: []) }
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q4_1, rows: 2, columns: 64, bytes: [UInt8](repeating: 0, count: 79)) }
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q4_0, rows: 0, columns: 32, bytes: []) }
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q4_0, rows: Int.max / 2, columns: 64, bytes: []) }
        // K-quant rows are whole 256-value super-blocks; the K-quants are read, never made.
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q4_K, rows: 1, columns: 128, bytes: [UInt8](repeating: 0, count: 72)) }
        #expect(throws: TensorError.self) { try QuantizedMatrix(format: .q6_K, rows: 1, columns: 256, bytes: [UInt8](repeating: 0, count: 209)) }
        #expect(throws: TensorError.self) { try QuantizedMatrix.quantizing(Tensor.zeros([1, 256]), to: .q4_K) }
    }
}
