import CKernels

/// A row-major matrix kept in a block-quantized format: every row is a run of blocks, each a scale
/// (and minimum) plus small integers — GGUF's Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 (blocks of 32), Q4_K and Q6_K
/// (super-blocks of 256), or QLoRA's NF4 (blocks of 64).
///
/// Products with it never materialise the float matrix: `Tensor.matmul(_:_:transposeW:)` dequantizes
/// one GEMM panel at a time into the packing buffer, and gives exactly (bit for bit) the product
/// with `dequantized()`. This is how a frozen base weight stays 4–8 bits per value while LoRA trains
/// on top of it.
public struct QuantizedMatrix: Sendable, Equatable {
    /// A block-quantized storage format.
    public enum Format: String, Sendable, CaseIterable {
        /// 8-bit integers and one scale per block (8.5 bits per value).
        case q8_0 = "Q8_0"
        /// 4-bit integers offset by 8 and one scale per block (4.5 bits per value).
        case q4_0 = "Q4_0"
        /// 4-bit integers, a scale and a minimum per block (5 bits per value).
        case q4_1 = "Q4_1"
        /// 5-bit integers offset by 16 and one scale per block (5.5 bits per value). Read from GGUF only.
        case q5_0 = "Q5_0"
        /// 5-bit integers, a scale and a minimum per block (6 bits per value). Read from GGUF only.
        case q5_1 = "Q5_1"
        /// QLoRA's 4-bit NormalFloat: per block of 64, a float32 absmax and 4-bit indices into 16
        /// levels that are quantiles of a normal distribution scaled to [−1, 1] (4.5 bits per value;
        /// without the optional double quantization of the absmax). Not a GGUF type.
        case nf4 = "NF4"
        /// GGUF's Q4_K: super-blocks of 256 in 8 sub-blocks of 32, each with a 6-bit scale and
        /// minimum under half-precision `d` and `dmin` (4.5 bits per value). Read from GGUF only.
        case q4_K = "Q4_K"
        /// GGUF's Q6_K: super-blocks of 256 6-bit values in 16 sub-blocks with int8 scales under a
        /// half-precision `d` (6.5625 bits per value). Read from GGUF only.
        case q6_K = "Q6_K"

        /// Bytes of one block.
        public var blockBytes: Int {
            switch self {
            case .q8_0: return 34
            case .q4_0: return 18
            case .q4_1: return 20
            case .q5_0: return 22
            case .q5_1: return 24
            case .nf4: return 36
            case .q4_K: return 144
            case .q6_K: return 210
            }
        }

        /// Values per block: 32, 64 for NF4, 256 for the K-quants.
        public var blockValues: Int {
            switch self {
            case .nf4: return 64
            case .q4_K, .q6_K: return 256
            default: return 32
            }
        }

        var kernelFormat: pk_quant_format {
            switch self {
            case .q8_0: return PK_QUANT_Q8_0
            case .q4_0: return PK_QUANT_Q4_0
            case .q4_1: return PK_QUANT_Q4_1
            case .q5_0: return PK_QUANT_Q5_0
            case .q5_1: return PK_QUANT_Q5_1
            case .nf4: return PK_QUANT_NF4
            case .q4_K: return PK_QUANT_Q4_K
            case .q6_K: return PK_QUANT_Q6_K
            }
        }
    }

    /// Values per block of the GGUF formats (NF4 blocks hold `Format.blockValues` = 64).
    public static let blockSize = 32

    /// The storage format.
    public let format: Format
    /// Number of rows.
    public let rows: Int
    /// Number of columns (a multiple of the format's block).
    public let columns: Int
    /// The blocks, row after row (`rows · rowBytes` bytes, GGUF's layout): owned, or borrowed in
    /// place from a memory-mapped model file.
    private let blocks: PackedBlocks

    /// Number of bytes of the blocks (`rows · rowBytes`).
    public var byteCount: Int { blocks.bytes.count }

    /// `.owned` for blocks held by the matrix, `.borrowed` for blocks used in place in memory
    /// another object owns (a mapped GGUF file), which the matrix keeps alive.
    public var storageKind: TensorStorage.Kind { blocks.isBorrowed ? .borrowed : .owned }

    /// Calls `body` with the blocks, row after row (do not let the pointer escape).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try blocks.withUnsafeBytes(body)
    }

    /// Bytes of one row.
    public var rowBytes: Int { columns / format.blockValues * format.blockBytes }

    /// The shape `[rows, columns]`.
    public var shape: [Int] { [rows, columns] }

    /// Wraps quantized blocks as read from a GGUF tensor.
    /// - Throws: `TensorError.invalidShape` when `columns` is not a positive multiple of the block
    ///   (32, NF4: 64) or `bytes` does not hold exactly `rows × columns` values.
    public init(format: Format, rows: Int, columns: Int, bytes: [UInt8]) throws {
        try Self.validate(format: format, rows: rows, columns: columns, byteCount: bytes.count)
        self.format = format
        self.rows = rows
        self.columns = columns
        self.blocks = bytes.withUnsafeBytes { PackedBlocks(copying: $0) }
    }

    /// Uses quantized blocks in place, for example a GGUF tensor's data in the mapped file; `owner`
    /// keeps the memory valid and the matrix keeps `owner` alive. The memory is never written.
    /// - Throws: `TensorError.invalidShape` like ``init(format:rows:columns:bytes:)``.
    public init(format: Format, rows: Int, columns: Int, borrowing bytes: UnsafeRawBufferPointer, keepingAlive owner: AnyObject) throws {
        try Self.validate(format: format, rows: rows, columns: columns, byteCount: bytes.count)
        self.format = format
        self.rows = rows
        self.columns = columns
        self.blocks = PackedBlocks(borrowing: bytes, keepingAlive: owner)
    }

    private static func validate(format: Format, rows: Int, columns: Int, byteCount: Int) throws {
        guard rows > 0, columns > 0, columns % format.blockValues == 0 else {
            throw TensorError.invalidShape(operation: "QuantizedMatrix", shape: [rows, columns],
                                           reason: "\(format.rawValue) needs a positive row count and a positive multiple of \(format.blockValues) columns")
        }
        let (rowBytes, overflow) = (columns / format.blockValues * format.blockBytes).multipliedReportingOverflow(by: rows)
        guard !overflow, byteCount == rowBytes else {
            throw TensorError.invalidShape(operation: "QuantizedMatrix", shape: [rows, columns],
                                           reason: "\(byteCount) bytes do not hold \(rows)×\(columns) \(format.rawValue) values")
        }
    }

    /// Quantizes a `[rows, columns]` float matrix (columns a multiple of the block) to Q8_0 or Q4_1
    /// with ggml's reference quantizers, or to NF4 as QLoRA does. Per block of 32, Q8_0 stores
    /// `d = max|x|/127` and `round(x/d)`; Q4_1 stores `m = min`, `d = (max − min)/15` and
    /// `round((x − m)/d)`: the error per value is at most `d/2` (plus the half-precision rounding of
    /// `d` and `m`). Per block of 64, NF4 stores `a = max|x|` and the nearest of its 16 levels to
    /// `x/a`: the error is at most `a` times half the widest gap between levels (0.152·a).
    /// - Throws: `TensorError.invalidShape` for another rank, a column count that is not a multiple
    ///   of the block, non-finite values, or Q4_0 and the K-quants (not offered: they are read from GGUF
    ///   files; Q4_1 is at least as accurate as Q4_0 at 0.5 more bits).
    public static func quantizing(_ matrix: Tensor, to format: Format) throws -> QuantizedMatrix {
        guard matrix.rank == 2, matrix.shape[0] > 0, matrix.shape[1] > 0, matrix.shape[1] % format.blockValues == 0 else {
            throw TensorError.invalidShape(operation: "QuantizedMatrix.quantizing", shape: matrix.shape,
                                           reason: "needs a [rows, columns] matrix with a positive multiple of \(format.blockValues) columns for \(format.rawValue)")
        }
        guard [.q8_0, .q4_1, .nf4].contains(format) else {
            throw TensorError.invalidShape(operation: "QuantizedMatrix.quantizing", shape: matrix.shape,
                                           reason: "\(format.rawValue) quantization is not offered (it is read from GGUF files); use Q8_0, Q4_1 or NF4")
        }
        guard matrix.isFinite else {
            throw TensorError.invalidShape(operation: "QuantizedMatrix.quantizing", shape: matrix.shape, reason: "the matrix holds non-finite values")
        }
        let rows = matrix.shape[0], columns = matrix.shape[1]
        var bytes = [UInt8](repeating: 0, count: rows * (columns / format.blockValues) * format.blockBytes)
        let status = matrix.withUnsafeBufferPointer { x in
            bytes.withUnsafeMutableBytes { out in pk_quantize_rows(format.kernelFormat, x.baseAddress!, rows, columns, out.baseAddress!) }
        }
        precondition(status == 0, "QuantizedMatrix.quantizing: the kernel refused \(format.rawValue)")
        return try QuantizedMatrix(format: format, rows: rows, columns: columns, bytes: bytes)
    }

    /// The float rows `ids` (`[ids.count, columns]`): an embedding lookup on a packed table. Each
    /// row equals the same row of `dequantized()`.
    /// - Throws: `TensorError.indexOutOfRange` for an id outside `0..<rows`, naming it and its position.
    public func dequantizedRows(_ ids: [Int]) throws -> Tensor {
        for (position, id) in ids.enumerated() where id < 0 || id >= rows {
            throw TensorError.indexOutOfRange(operation: "quantized row lookup", index: id, bound: rows, position: position)
        }
        return Tensor(shape: [ids.count, columns]) { out in
            withUnsafeBytes { raw in
                for (index, id) in ids.enumerated() {
                    pk_dequantize_rows(format.kernelFormat, raw.baseAddress!, rowBytes, id, 1, 0, columns,
                                       out.baseAddress! + index * columns, columns)
                }
            }
        }
    }

    /// The float matrix the blocks encode (ggml's `dequantize_row_*` formulas).
    public func dequantized() -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBytes { raw in
                pk_dequantize_rows(format.kernelFormat, raw.baseAddress!, rowBytes, 0, rows, 0, columns, out.baseAddress!, columns)
            }
        }
    }
}

extension Tensor {
    /// `a · Wᵀ` (`transposeW`, a linear layer's forward with `W: [out, in]`) or `a · W` (its input
    /// gradient), for `a: (…, K)`, with the quantized matrix dequantized panel by panel.
    /// Equal bit for bit to `Tensor.matmul(a, w.dequantized(), transposeB: transposeW)` on the same
    /// GEMM kernel, for any thread count.
    public static func matmul(_ a: Tensor, _ w: QuantizedMatrix, transposeW: Bool) -> Tensor {
        let (m, n, k, shape) = quantizedProductSizes(a, w, transposeW: transposeW)
        return Tensor(shape: shape) { out in
            quantizedProduct(a, w, transposeW: transposeW, m: m, n: n, k: k, beta: 0, into: out)
        }
    }

    /// `out = a·op(W) + beta·out` on the sizes from `quantizedProductSizes`.
    private static func quantizedProduct(_ a: Tensor, _ w: QuantizedMatrix, transposeW: Bool, m: Int, n: Int, k: Int, beta: Float,
                                         into out: UnsafeMutableBufferPointer<Float>) {
        a.withUnsafeBufferPointer { aBuffer in
            w.withUnsafeBytes { raw in
                QuantizedGEMM.run(transposeW: transposeW, m: m, n: n, k: k, a: aBuffer.baseAddress!, w: w,
                                  bytes: raw.baseAddress!, beta: beta, c: out.baseAddress!)
            }
        }
    }

    /// Rows, columns and depth of `a · op(W)` (all leading axes of `a` folded into rows), and its shape.
    private static func quantizedProductSizes(_ a: Tensor, _ w: QuantizedMatrix, transposeW: Bool) -> (m: Int, n: Int, k: Int, shape: [Int]) {
        let k = a.shape.last ?? 0
        let inner = transposeW ? w.columns : w.rows
        let n = transposeW ? w.rows : w.columns
        precondition(a.rank >= 1 && k == inner,
                     "Tensor.matmul: inner dimensions differ: a \(a.shape), quantized W \(w.shape)\(transposeW ? "ᵀ" : "")")
        var shape = a.shape
        shape[shape.count - 1] = n
        return (a.count / Swift.max(k, 1), n, k, shape)
    }

    /// `c += a · Wᵀ` (`transposeW`) or `c += a · W`, as `matmul(_:_:transposeW:)` but adding its products into
    /// `c` (shaped as the product) inside the GEMM: no temporary and no separate addition. Equal bit for
    /// bit to `Tensor.matmul(a, w.dequantized(), transposeB: transposeW, addingInto: &c)`.
    public static func matmul(_ a: Tensor, _ w: QuantizedMatrix, transposeW: Bool, addingInto c: inout Tensor) {
        let (m, n, k, shape) = quantizedProductSizes(a, w, transposeW: transposeW)
        precondition(c.shape == shape, "Tensor.matmul(addingInto:): the sum \(c.shape) does not have the product's shape \(shape)")
        c.withUnsafeMutableBufferPointer { out in
            quantizedProduct(a, w, transposeW: transposeW, m: m, n: n, k: k, beta: 1, into: out)
        }
    }
}

/// Splits a quantized product over the worker pool as a float one — tall products share one dequantized,
/// packed W (`pk_sgemm_quantized_threaded`), the rest go through `GEMM.forEachPart` — so results do not
/// depend on the thread count.
enum QuantizedGEMM {
    /// `c = a·op(W) + beta·c` (`c` write-only when beta is 0).
    static func run(transposeW: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, w: QuantizedMatrix,
                    bytes: UnsafeRawPointer, beta: Float = 0, c: UnsafeMutablePointer<Float>) {
        guard m > 0 && n > 0 else { return }
        if GEMM.rowsIndependent && transposeW && m > QuantizedMatrix.decodeRows && !(beta == 0 && k > 0 && w.integerActivationBits(rows: m) > 0) {
            // Each group as a decoding step computes it (see `GEMM.rowsIndependent`).
            for start in stride(from: 0, to: m, by: QuantizedMatrix.decodeRows) {
                run(transposeW: true, m: Swift.min(QuantizedMatrix.decodeRows, m - start), n: n, k: k, a: a + start * k, w: w, bytes: bytes,
                    beta: beta, c: c + start * n)
            }
            return
        }
        FlopCounter.addProduct(m: m, n: n, k: k)
        if transposeW && k > 0 && beta == 0 {
            let bits = w.integerActivationBits(rows: m)
            if bits > 0 {
                runInteger(bits: bits, m: m, n: n, k: k, a: a, w: w, bytes: bytes, c: c)
                return
            }
        }
        let format = w.format.kernelFormat, rowBytes = w.rowBytes
        let kernel = pk_sgemm_active_kernel()
        if let plan = GEMM.reducedPrecisionPlan(m: m, n: n, k: k),
           pk_sgemm_quantized_threaded(kernel, plan.precision, Int32(plan.threads), transposeW ? 1 : 0, m, n, k, 1, a, k, format,
                                       bytes, rowBytes, 0, 0, beta, c, n) == 0 {
            return
        }
        let sharing = GEMM.sharedPackingThreads(m: m, n: n, k: k)
        if sharing > 1 && pk_sgemm_quantized_threaded(kernel, PK_GEMM_PRECISION_FLOAT, Int32(sharing), transposeW ? 1 : 0, m, n, k, 1, a,
                                                       k, format, bytes, rowBytes, 0, 0, beta, c, n) == 0 {
            return
        }
        // Column blocks in multiples of 64 start on block boundaries (no half-used blocks, NF4's
        // 64 included).
        GEMM.forEachPart(m: m, n: n, k: k, columnTile: 64) { splitColumns, part in
            let status: Int32
            if splitColumns {
                status = pk_sgemm_quantized(kernel, transposeW ? 1 : 0, m, part.count, k, 1, a, k, format, bytes, rowBytes,
                                            transposeW ? part.lowerBound : 0, transposeW ? 0 : part.lowerBound, beta, c + part.lowerBound, n)
            } else {
                status = pk_sgemm_quantized(kernel, transposeW ? 1 : 0, part.count, n, k, 1, a + part.lowerBound * k, k, format, bytes,
                                            rowBytes, 0, 0, beta, c + part.lowerBound * n, n)
            }
            precondition(status == 0, "Tensor.matmul: out of memory for the quantized GEMM's buffers")
        }
    }
}

extension QuantizedMatrix {
    /// Same format and shape, and the same bytes (wherever they are stored).
    public static func == (lhs: QuantizedMatrix, rhs: QuantizedMatrix) -> Bool {
        guard lhs.format == rhs.format, lhs.rows == rhs.rows, lhs.columns == rhs.columns else { return false }
        return lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in a.elementsEqual(b) } }
    }
}

/// The memory of a quantized matrix's blocks: a copy it owns, or a read-only view of memory another
/// object owns (kept alive here). Never written after creation, hence `Sendable`.
final class PackedBlocks: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?

    var isBorrowed: Bool { owner != nil }

    init(copying source: UnsafeRawBufferPointer) {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(source.count, 1), alignment: 64)
        if source.count > 0 { memory.copyMemory(from: source) }
        bytes = UnsafeRawBufferPointer(rebasing: memory[0..<source.count])
        owner = nil
    }

    init(borrowing source: UnsafeRawBufferPointer, keepingAlive owner: AnyObject) {
        bytes = source
        self.owner = owner
    }

    deinit {
        if owner == nil { bytes.baseAddress.map { UnsafeMutableRawPointer(mutating: $0).deallocate() } }
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(bytes)
    }
}
