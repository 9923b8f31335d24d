import CKernels

extension QuantizedMatrix {
    /// How a product of a few activation rows (at most `decodeRows`, as when generating token by
    /// token) with a packed Q8_0, Q4_0 or Q4_1 matrix is computed.
    public enum DecodeArithmetic: String, Sendable, CaseIterable {
        /// Dequantize in registers and multiply in float: equal bit for bit to the product with the
        /// dequantized matrix. Products of more rows always run this way.
        case exact
        /// Quantize the activations to int8 per block of 32 too (scale max|x|/127) and take integer
        /// dot products, as llama.cpp's CPU decoding does: several times faster, with a relative error
        /// of about 2⁻⁸ per block added by the activations' rounding (smaller than the 4-bit weights').
        /// NF4 and K-quant matrices ignore it and stay exact.
        case int8Activations = "int8"
    }

    /// Most activation rows a product may have to run with `decodeArithmetic` (a decoding step has one
    /// row per sequence).
    public static let decodeRows = 4

    /// The arithmetic of decode-sized products in the current task; `.exact` unless set with
    /// `QuantizedMatrix.$decodeArithmetic.withValue(_:operation:)` (text generation sets it from
    /// `GenerationOptions`). Training and evaluation never set it, so gradients always see exact products.
    @TaskLocal public static var decodeArithmetic: DecodeArithmetic = .exact

    /// True when `decodeArithmetic` would run a product of `rows` activation rows with this matrix
    /// in int8.
    func usesInt8Activations(rows: Int) -> Bool {
        rows <= Self.decodeRows && Self.decodeArithmetic == .int8Activations && [.q8_0, .q4_0, .q4_1].contains(format)
    }
}

extension QuantizedGEMM {
    /// `C = A·Wᵀ` for a decode-sized A, with A quantized to int8 once and W's rows split over the workers.
    static func runInt8(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, w: QuantizedMatrix, bytes: UnsafeRawPointer,
                        c: UnsafeMutablePointer<Float>) {
        let kernel = pk_sgemm_active_kernel()
        let blocks = m * k / 32
        var codes = [Int8](repeating: 0, count: m * k)
        var scales = [Float](repeating: 0, count: blocks)
        var sums = [Float](repeating: 0, count: blocks)
        let prepared = codes.withUnsafeMutableBufferPointer { q in
            scales.withUnsafeMutableBufferPointer { d in
                sums.withUnsafeMutableBufferPointer { s in
                    pk_quantize_activations_int8(kernel, a, m, k, k, q.baseAddress!, d.baseAddress!, s.baseAddress!)
                }
            }
        }
        precondition(prepared == 0, "QuantizedGEMM.runInt8: \(k) columns are not a multiple of 32")
        codes.withUnsafeBufferPointer { q in
            scales.withUnsafeBufferPointer { d in
                sums.withUnsafeBufferPointer { s in
                    // Each multiply-add costs about a quarter of an exact one: split only larger products.
                    GEMM.forEachPart(m: m, n: n, k: k / 4, columnTile: 16) { splitColumns, rowsOrColumns in
                        let part = splitColumns ? rowsOrColumns : 0..<n  // rows are split only when n < m ≤ 4
                        guard splitColumns || rowsOrColumns.lowerBound == 0 else { return }
                        let status = pk_gemm_quantized_int8(kernel, w.format.kernelFormat, m, part.count, k, q.baseAddress!,
                                                            d.baseAddress!, s.baseAddress!, bytes, w.rowBytes, part.lowerBound,
                                                            c + part.lowerBound, n)
                        precondition(status == 0, "QuantizedGEMM.runInt8: the kernel refused \(w.format.rawValue)")
                    }
                }
            }
        }
    }
}
