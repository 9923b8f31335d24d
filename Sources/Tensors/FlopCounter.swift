import CKernels

/// Counts the floating-point operations of matrix products (2·m·n·k each) done for one profile, so a
/// per-operation profile can show each operation's GFLOP/s beside its time.
///
/// Only products started inside `counting` are counted: on the calling thread, and on the pool's
/// workers running the tasks of a region that thread opened. Products of other threads (another
/// trainer, a test running beside) are not. Outside any counter, a product pays one thread-local load.
public final class FlopCounter: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<CLong>

    /// A counter at zero.
    public init() {
        storage = .allocate(capacity: 1)
        storage.initialize(to: 0)
    }

    deinit { storage.deallocate() }

    /// The operations counted so far.
    public var count: Int { Int(pk_flops_read(storage)) }

    /// Runs `body` with this thread's products (and those of the regions it opens) counted here.
    public func counting<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pk_flops_counter()
        pk_flops_set_counter(storage)
        defer { pk_flops_set_counter(previous) }
        return try body()
    }

    /// Adds one product `C[m×n] += A[m×k]·B[k×n]` to the calling thread's counter, if it has one.
    @inline(__always)
    static func addProduct(m: Int, n: Int, k: Int) {
        pk_flops_add(CLong(2 * m * n * k))
    }
}
