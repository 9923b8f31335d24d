import Synchronization

/// Counts the floating-point operations of matrix products (2·m·n·k each) while a profile is being
/// taken, so a per-operation profile can show each operation's GFLOP/s beside its time.
///
/// Off by default; when off, a product pays one relaxed atomic load. Products on worker threads are
/// counted too (the count is process-wide).
public enum FlopCounter {
    private static let enabled = Atomic<Bool>(false)
    private static let total = Atomic<Int>(0)

    /// Whether products are being counted.
    public static var isEnabled: Bool {
        get { enabled.load(ordering: .relaxed) }
        set { enabled.store(newValue, ordering: .relaxed) }
    }

    /// The operations counted since the process started (only while enabled).
    public static var count: Int { total.load(ordering: .relaxed) }

    /// Adds one product `C[m×n] += A[m×k]·B[k×n]`.
    @inline(__always)
    static func addProduct(m: Int, n: Int, k: Int) {
        guard enabled.load(ordering: .relaxed) else { return }
        total.add(2 * m * n * k, ordering: .relaxed)
    }
}
