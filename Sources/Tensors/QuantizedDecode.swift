import CKernels

extension QuantizedMatrix {
    /// How a product of a few activation rows (at most `decodeRows`, as when generating token by
    /// token) with a packed Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K or Q6_K matrix is computed.
    public enum DecodeArithmetic: String, Sendable, CaseIterable {
        /// Dequantize in registers and multiply in float: equal bit for bit to the product with the
        /// dequantized matrix. Products of more rows always run this way.
        case exact
        /// Quantize the activations to integers too, per block of 32 (8 bits against 4- to 6-bit
        /// weights, 16 bits against Q8_0), and take integer dot products, as llama.cpp's CPU decoding
        /// does: about twice as fast, with the activations' rounding (relative step 2⁻⁸ or 2⁻¹⁶ of
        /// each block's largest value) below the weights' own error. NF4 matrices stay exact.
        case integerActivations = "integer"
    }

    /// Most activation rows a product may have to run with `decodeArithmetic` (a decoding step has one
    /// row per sequence).
    public static let decodeRows = 4

    /// The arithmetic of decode-sized products in the current task; `.exact` unless set with
    /// `QuantizedMatrix.$decodeArithmetic.withValue(_:operation:)` (text generation sets it from
    /// `GenerationOptions`). Training and evaluation never set it, so gradients always see exact products.
    @TaskLocal public static var decodeArithmetic: DecodeArithmetic = .exact

    /// Bits of the integer activations a product of `rows` rows with this matrix would use now (0: exact).
    /// Under `GEMM.rowsIndependent` every row of a product counts as a decoding step's row.
    func integerActivationBits(rows: Int) -> Int {
        guard rows <= Self.decodeRows || GEMM.rowsIndependent, Self.decodeArithmetic == .integerActivations else { return 0 }
        return Int(pk_integer_activation_bits(format.kernelFormat))
    }
}

extension QuantizedGEMM {
    /// `C = A·Wᵀ` for a decode-sized A, with A quantized to `bits`-bit integers once and W's rows
    /// split over the workers.
    /// - Parameter kernel: the kernel family whose code runs (tests compare the portable C with the
    ///   vector code); the active one by default.
    static func runInteger(bits: Int, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, w: QuantizedMatrix,
                           bytes: UnsafeRawPointer, c: UnsafeMutablePointer<Float>, kernel: GEMM.Kernel? = nil) {
        let kernel = kernel?.cValue ?? pk_sgemm_active_kernel()
        let blocks = m * k / 32
        // One buffer for either width: m·k int16 codes, or m·k int8 codes packed into its first half.
        var codes = [Int16](repeating: 0, count: bits == 16 ? m * k : (m * k + 1) / 2)
        var scales = [Float](repeating: 0, count: blocks)
        var sums = [Float](repeating: 0, count: blocks)
        let prepared = codes.withUnsafeMutableBytes { q in
            scales.withUnsafeMutableBufferPointer { d in
                sums.withUnsafeMutableBufferPointer { s in
                    pk_quantize_activations(kernel, Int32(bits), a, m, k, k, q.baseAddress!, d.baseAddress!, s.baseAddress!)
                }
            }
        }
        precondition(prepared == 0, "QuantizedGEMM.runInteger: \(k) columns are not a multiple of 32")
        codes.withUnsafeBytes { q in
            scales.withUnsafeBufferPointer { d in
                sums.withUnsafeBufferPointer { s in
                    // Each multiply-add costs about a quarter of an exact one: split only larger products.
                    GEMM.forEachPart(m: m, n: n, k: k / 4, columnTile: 16) { splitColumns, rowsOrColumns in
                        let part = splitColumns ? rowsOrColumns : 0..<n  // rows are split only when n < m ≤ 4
                        guard splitColumns || rowsOrColumns.lowerBound == 0 else { return }
                        let status = pk_gemm_quantized_integer(kernel, w.format.kernelFormat, m, part.count, k, q.baseAddress!,
                                                               d.baseAddress!, s.baseAddress!, bytes, w.rowBytes, part.lowerBound,
                                                               c + part.lowerBound, n)
                        precondition(status == 0, "QuantizedGEMM.runInteger: the kernel refused \(w.format.rawValue)")
                    }
                }
            }
        }
    }
}
