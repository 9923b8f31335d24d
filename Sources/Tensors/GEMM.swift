import CKernels
import Synchronization
#if OpenBLAS
import COpenBLAS
#endif

/// How the large matrix products of a computation are carried out.
public enum MatmulPrecision: String, Sendable, CaseIterable, Codable {
    /// IEEE single precision throughout (the default). Results do not depend on the kernel family or
    /// the thread count.
    case float32
    /// Mixed precision for the large products (both sides at least 128 wide, more than 4 rows): operands
    /// rounded to IEEE half after scaling each row of A and each 64-column group of B by a power of two
    /// (so nothing overflows), sums kept in half for 64 steps and in float beyond. About twice the float
    /// rate on CPUs with AVX512-FP16, with a relative error near 1e-3, below that of rounding the operands
    /// to bfloat16; results still do not depend on the thread count. Other products, every product on CPUs
    /// without AVX512-FP16 (or with a kernel other than `.avx512` forced), and float products sent to
    /// OpenBLAS run in float (packed-weight products always use the built-in kernels).
    case float16
    /// Mixed precision for the same large products: operands rounded to bfloat16 (float's range, 8
    /// significant bits), sums in float. Relative error near 2e-3. Needs AVX512-BF16: about twice the
    /// float rate where `vdpbf16ps` runs at the float FMA's rate (AMD Zen 4 and Zen 5, which lack
    /// AVX512-FP16); on Intel Xeons it is slower than float, and `.float16` is the choice there. Products
    /// that do not qualify run in float, as for `.float16`.
    case bfloat16

    /// The C kernels' name for this arithmetic.
    var kernelValue: pk_gemm_precision {
        switch self {
        case .float32: return PK_GEMM_PRECISION_FLOAT
        case .float16: return PK_GEMM_PRECISION_HALF
        case .bfloat16: return PK_GEMM_PRECISION_BFLOAT16
        }
    }
}

/// Single-precision matrix multiplication on row-major buffers:
/// `C = alpha · op(A) · op(B) + beta · C`.
///
/// The built-in backend is a packed, cache-blocked kernel (AVX2+FMA when the CPU has it, portable C
/// otherwise) that splits C across `Parallel.threadCount` workers. With the package trait `OpenBLAS`
/// the default backend is the system OpenBLAS (`cblas_sgemm`), called directly on the same buffers.
public enum GEMM {
    /// Which implementation multiplies matrices.
    public enum Backend: String, Sendable, CaseIterable {
        /// PEFTKit's own kernels (always available).
        case builtin
        /// The system OpenBLAS; available only when built with the `OpenBLAS` trait.
        case openBLAS
    }

    /// The microkernel family the built-in backend uses.
    public enum Kernel: String, Sendable {
        /// Plain C, any CPU.
        case portable
        /// x86-64 AVX2 + FMA.
        case avx2
        /// x86-64 AVX-512F: 12×32 register tiles, with the AVX2 kernel at the edges. Each element is
        /// the same chain of fused multiply-adds as in `avx2`, so the two give bit-identical results.
        case avx512

        var cValue: pk_gemm_kernel {
            switch self {
            case .portable: PK_GEMM_KERNEL_PORTABLE
            case .avx2: PK_GEMM_KERNEL_AVX2
            case .avx512: PK_GEMM_KERNEL_AVX512
            }
        }

        init(_ value: pk_gemm_kernel) {
            self = switch value {
            case PK_GEMM_KERNEL_AVX512: .avx512
            case PK_GEMM_KERNEL_AVX2: .avx2
            default: .portable
            }
        }
    }

    /// The arithmetic of the large products (see ``MatmulPrecision``): `.float32` unless a caller binds
    /// another for the duration of some work, e.g. `GEMM.$precision.withValue(.float16) { … }` (a
    /// task-local value, so concurrent work keeps its own).
    @TaskLocal public static var precision: MatmulPrecision = .float32

    /// When true, a product `A·op(B)` of many rows is computed in groups of rows as a decoding step
    /// computes a single row (at most 4 rows per group with the built-in kernels, 1 with OpenBLAS), so
    /// each row of the result is bit for bit the row its own product alone would give, whatever other
    /// rows share the call. A batch of sequences decoded together (continuous batching) binds it, so
    /// a sequence's output does not depend on its neighbours. Task-local: `GEMM.$rowsIndependent.withValue(true) { … }`.
    @TaskLocal public static var rowsIndependent = false

    /// Rows per group under `rowsIndependent` with `backend`: the direct few-row path's limit, or 1
    /// where the backend (OpenBLAS) may choose its method by the row count.
    static func independentRowGroup(_ backend: Backend) -> Int { backend == .openBLAS ? 1 : 4 }

    /// True when this CPU runs products asked for in `precision` in that precision (the AVX-512 kernel
    /// active, with AVX512-FP16 for `.float16` or AVX512-BF16 for `.bfloat16`); elsewhere they run in
    /// float. Always true for `.float32`.
    public static func isAvailable(_ precision: MatmulPrecision) -> Bool {
        precision == .float32 || pk_sgemm_uses_reduced_precision(precision.kernelValue, pk_sgemm_active_kernel()) != 0
    }

    /// True when this CPU runs `.float16` products in half precision (``isAvailable(_:)`` for `.float16`).
    public static var isFloat16Available: Bool { isAvailable(.float16) }

    /// Smallest width and depth of a product computed in reduced precision: the large linears of a model
    /// qualify; attention's per-head products (depth or width 64) and low-rank adapter products
    /// (rank ≤ 64) stay in float.
    static let reducedPrecisionMinimumSize = 128

    /// The thread count and arithmetic for a product in mixed precision, or nil when it runs in float:
    /// the precision is not `.float32`, the shape qualifies (shared packing's limits, any thread count)
    /// and the CPU has it.
    static func reducedPrecisionPlan(m: Int, n: Int, k: Int) -> (threads: Int, precision: pk_gemm_precision)? {
        guard precision != .float32, m > 4, n >= reducedPrecisionMinimumSize, k >= reducedPrecisionMinimumSize,
              n.multipliedReportingOverflow(by: k).partialValue <= sharedPackingMaximumFloats, isAvailable(precision)
        else { return nil }
        return (Parallel.isInsideParallelRegion ? 1 : Parallel.threadCount, precision.kernelValue)
    }

    /// True when the package was built with the `OpenBLAS` trait.
    public static var isOpenBLASAvailable: Bool {
        #if OpenBLAS
        return true
        #else
        return false
        #endif
    }

    /// True when the process-wide backend is OpenBLAS.
    private static let usesOpenBLAS = Atomic<Bool>(isOpenBLASAvailable)

    /// The backend used by `sgemm` and every matmul (default: OpenBLAS when built with the trait).
    /// Setting `.openBLAS` without the trait is a programming error.
    public static var backend: Backend {
        get { usesOpenBLAS.load(ordering: .relaxed) ? .openBLAS : .builtin }
        set {
            precondition(newValue == .builtin || isOpenBLASAvailable,
                         "GEMM.backend: OpenBLAS requested but PEFTKit was built without the OpenBLAS trait")
            usesOpenBLAS.store(newValue == .openBLAS, ordering: .relaxed)
        }
    }

    /// The built-in microkernel in use (the best the CPU supports unless assigned). Assign to force a
    /// kernel (for testing or comparison); a kernel the CPU lacks falls back to the best one below it.
    public static var builtinKernel: Kernel {
        get { Kernel(pk_sgemm_active_kernel()) }
        set { _ = pk_sgemm_set_kernel(newValue.cValue) }
    }

    /// The best kernel this CPU supports.
    public static var bestKernel: Kernel { cpuSupportsAVX512 ? .avx512 : cpuSupportsAVX2 ? .avx2 : .portable }

    /// True when the CPU supports the AVX2+FMA kernel.
    public static var cpuSupportsAVX2: Bool { pk_cpu_has_avx2_fma() != 0 }

    /// True when the CPU (and OS) support the AVX-512F kernel.
    public static var cpuSupportsAVX512: Bool { pk_cpu_has_avx512f() != 0 }

    /// `C[M×N] = alpha · op(A) · op(B) + beta · C` on row-major buffers with leading dimensions
    /// `lda`, `ldb`, `ldc`. `op(A)` is `A` (M×K) or `Aᵀ` (A stored K×M); likewise for B (K×N or N×K).
    /// When `beta` is 0, C is write-only. `backend` and `kernel` override the process-wide choice for
    /// this call only.
    public static func sgemm(
        transposeA: Bool, transposeB: Bool,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        backend: Backend? = nil,
        kernel: Kernel? = nil
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM.sgemm: negative size m=\(m) n=\(n) k=\(k)")
        precondition(lda >= max(1, transposeA ? m : k) && ldb >= max(1, transposeB ? k : n) && ldc >= max(1, n),
                     "GEMM.sgemm: leading dimensions lda=\(lda) ldb=\(ldb) ldc=\(ldc) too small for m=\(m) n=\(n) k=\(k)")
        guard m > 0 && n > 0 else { return }
        if rowsIndependent && !transposeA && transposeB && (backend ?? self.backend) == .builtin && m > 4 {
            // One pass over B for every row, each row as a decoding step computes it.
            FlopCounter.addProduct(m: m, n: n, k: k)
            let choice = kernel?.cValue ?? PK_GEMM_KERNEL_AUTO
            forEachPart(m: m, n: n, k: k, columnTile: 32) { splitColumns, part in
                if splitColumns {
                    pk_sgemm_independent_rows(choice, m, part.count, k, alpha, a, lda, b + part.lowerBound * ldb, ldb, beta, c + part.lowerBound, ldc)
                } else {
                    pk_sgemm_independent_rows(choice, part.count, n, k, alpha, a + part.lowerBound * lda, lda, b, ldb, beta, c + part.lowerBound * ldc, ldc)
                }
            }
            return
        }
        if rowsIndependent && !transposeA && m > independentRowGroup(backend ?? self.backend) {
            let group = independentRowGroup(backend ?? self.backend)
            for start in stride(from: 0, to: m, by: group) {
                sgemm(transposeA: false, transposeB: transposeB, m: Swift.min(group, m - start), n: n, k: k, alpha: alpha,
                      a: a + start * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + start * ldc, ldc: ldc, backend: backend, kernel: kernel)
            }
            return
        }
        FlopCounter.addProduct(m: m, n: n, k: k)
        switch backend ?? self.backend {
        case .openBLAS:
            #if OpenBLAS
            if !Parallel.isInsideParallelRegion {
                syncOpenBLASThreads()
                cblas_sgemm(CblasRowMajor,
                            transposeA ? CblasTrans : CblasNoTrans,
                            transposeB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), alpha,
                            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
                return
            }
            #endif
            builtin(kernel, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        case .builtin:
            builtin(kernel, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
    }

    #if OpenBLAS
    private static let openBLASThreads = Atomic<Int>(0)
    private static func syncOpenBLASThreads() {
        let wanted = Parallel.threadCount
        if openBLASThreads.exchange(wanted, ordering: .relaxed) != wanted {
            openblas_set_num_threads(Int32(wanted))
        }
    }
    #endif

    /// Below this many multiply-adds a single thread is faster than waking workers.
    static let parallelThreshold = 1 << 18
    /// The same for products of at most 4 rows (decoding), which are bound by reading the weight: the
    /// pool's workers spin between regions, so even a block's smaller projections gain from a split.
    static let decodeParallelThreshold = 1 << 14

    /// Runs one independent `pk_sgemm` per block of C from `forEachPart` (column blocks of whole
    /// 32-column tiles, or row blocks).
    private static func builtin(_ kernel: Kernel?, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                                _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                                _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        let choice = kernel?.cValue ?? PK_GEMM_KERNEL_AUTO
        if let plan = reducedPrecisionPlan(m: m, n: n, k: k),
           pk_sgemm_threaded(choice, plan.precision, Int32(plan.threads), transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha,
                             a, lda, b, ldb, beta, c, ldc) == 0 {
            return
        }
        let sharing = sharedPackingThreads(m: m, n: n, k: k)
        if sharing > 1 && pk_sgemm_threaded(choice, PK_GEMM_PRECISION_FLOAT, Int32(sharing), transA ? 1 : 0, transB ? 1 : 0, m, n,
                                            k, alpha, a, lda, b, ldb, beta, c, ldc) == 0 {
            return
        }
        forEachPart(m: m, n: n, k: k, columnTile: 32) { splitColumns, part in
            if splitColumns {
                // Columns of C need columns of op(B).
                let bPart = transB ? b + part.lowerBound * ldb : b + part.lowerBound
                pk_sgemm_with_kernel(choice, transA ? 1 : 0, transB ? 1 : 0, m, part.count, k, alpha,
                                     a, lda, bPart, ldb, beta, c + part.lowerBound, ldc)
            } else {
                // Rows of C need rows of op(A).
                let aPart = transA ? a + part.lowerBound : a + part.lowerBound * lda
                pk_sgemm_with_kernel(choice, transA ? 1 : 0, transB ? 1 : 0, part.count, n, k, alpha,
                                     aPart, lda, b, ldb, beta, c + part.lowerBound * ldc, ldc)
            }
        }
    }

    /// Rows of C per thread from which a product splits its rows between threads that share one packed
    /// op(B) (`pk_sgemm_threaded`) instead of running independent products (`forEachPart`), which would
    /// each pack the operand they have in common.
    static let sharedPackingMinimumRows = 48
    /// Largest op(B), in floats, packed whole to be shared (32 MB); a larger one (a vocabulary head) is
    /// split by columns, each thread packing its own part.
    static let sharedPackingMaximumFloats = 1 << 23

    /// The thread count for a shared-packing product C[m×n] with depth k, or 1 when the product is
    /// better split by `forEachPart` (or not split at all).
    static func sharedPackingThreads(m: Int, n: Int, k: Int) -> Int {
        guard !Parallel.isInsideParallelRegion else { return 1 }
        let threads = Parallel.threadCount
        let (bFloats, overflow) = n.multipliedReportingOverflow(by: k)
        guard threads > 1, m >= sharedPackingMinimumRows * threads, !overflow, bFloats <= sharedPackingMaximumFloats,
              m.multipliedReportingOverflow(by: bFloats).partialValue >= parallelThreshold else { return 1 }
        return threads
    }

    /// Splits a product C[m×n] (k multiply-adds per element) over the worker pool: contiguous column
    /// blocks (multiples of `columnTile`) when C is at least as wide as tall, row blocks (multiples of
    /// the 12-row AVX-512 tile) otherwise, one `body(splitColumns, range)` per worker — or one call
    /// with the whole extent when the product is too small to be worth waking workers. Each element's
    /// reduction order does not depend on the split, so results are bit-identical for any thread count.
    static func forEachPart(m: Int, n: Int, k: Int, columnTile: Int, _ body: (_ splitColumns: Bool, _ part: Range<Int>) -> Void) {
        let work = m.multipliedReportingOverflow(by: n).partialValue.multipliedReportingOverflow(by: k).partialValue
        let threads = Parallel.isInsideParallelRegion || work < (m <= 4 ? decodeParallelThreshold : parallelThreshold) ? 1 : Parallel.threadCount
        let splitColumns = n >= m
        let tile = splitColumns ? columnTile : 12
        let extent = splitColumns ? n : m
        let tiles = (extent + tile - 1) / tile
        // Decode-sized products are short: four chunks per thread let whoever starts first take more, so
        // the caller does not wait on a worker that woke late. Larger products keep one chunk per thread
        // (each chunk packs its own panels). Either way each element's arithmetic is the same.
        let chunks = max(1, min(m <= 4 && threads > 1 ? threads * 4 : threads, tiles))
        if chunks == 1 {
            body(splitColumns, 0..<extent)
            return
        }
        Parallel.forEach(chunks: chunks) { chunk in
            let start = min(extent, tiles * chunk / chunks * tile)
            let end = min(extent, tiles * (chunk + 1) / chunks * tile)
            if start < end { body(splitColumns, start..<end) }
        }
    }
}
