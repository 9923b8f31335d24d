/// The memory behind a tensor's elements: a contiguous run of `Float`s and the rule for releasing it.
///
/// A storage is one of three kinds (see ``Kind``):
/// - **owned** — allocated here (16-byte aligned) and freed when the last tensor using it goes;
/// - **borrowed** — a read-only view of memory another object owns, such as a memory-mapped
///   weights file; the storage keeps that object alive, and a tensor copies the elements into
///   owned memory before its first write;
/// - **adopted** — memory handed over together with a release function, which runs instead of
///   `free` (a buffer pool takes its buffer back this way).
///
/// Tensors share a storage until one of them is written (copy-on-write), so a storage whose
/// elements can be reached from more than one tensor is never modified. That is what makes the
/// type `Sendable`.
public final class TensorStorage: @unchecked Sendable {
    /// Where a storage's memory comes from, and who releases it.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// Allocated by PEFTKit; freed with the storage.
        case owned
        /// A read-only view of memory owned by another object (kept alive by the storage).
        case borrowed
        /// Memory handed over with a release function that runs when the storage goes.
        case adopted
    }

    private enum Release {
        case deallocate
        case keepAlive(AnyObject)
        case custom(@Sendable (UnsafeMutableBufferPointer<Float>) -> Void, handedOver: UnsafeMutableBufferPointer<Float>)
    }

    /// Alignment of owned allocations in bytes: what `malloc` gives. (Asking for 64 sends every
    /// allocation through `aligned_alloc`, whose leftovers fragment glibc's heap: a SmolLM2 training
    /// step's peak grew by 40–60 %. The kernels load unaligned.)
    public static let alignment = 16

    private let base: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int
    private let release: Release

    /// Where the memory comes from.
    public var kind: Kind {
        switch release {
        case .deallocate: return .owned
        case .keepAlive: return .borrowed
        case .custom: return .adopted
        }
    }

    /// True unless the storage is a borrowed view (which tensors copy before writing).
    public var isWritable: Bool { kind != .borrowed }

    /// Owned storage of `count` elements whose contents are undefined until written.
    /// - Precondition: `count >= 0`.
    init(uninitializedCount count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        let (bytes, overflow) = Swift.max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        precondition(!overflow, "TensorStorage: \(count) elements overflow the address space")
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment).bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        self.count = count
        release = .deallocate
    }

    /// Owned storage of `count` copies of `value`.
    public convenience init(repeating value: Float, count: Int) {
        self.init(uninitializedCount: count)
        base.initialize(repeating: value, count: count)
    }

    /// Owned storage holding a copy of `elements`.
    public convenience init(copying elements: UnsafeBufferPointer<Float>) {
        self.init(uninitializedCount: elements.count)
        if let source = elements.baseAddress { base.initialize(from: source, count: elements.count) }
    }

    /// A read-only view of `elements`, which `owner` keeps valid for as long as `owner` lives
    /// (for example a memory-mapped file). The storage holds a strong reference to `owner`.
    ///
    /// - Precondition: `elements` is aligned for `Float` (it is typed, so the caller has checked).
    public init(borrowing elements: UnsafeBufferPointer<Float>, keepingAlive owner: AnyObject) {
        precondition(elements.count == 0 || Int(bitPattern: elements.baseAddress) % MemoryLayout<Float>.alignment == 0,
                     "TensorStorage: borrowed elements are not aligned for Float")
        count = elements.count
        base = UnsafeMutablePointer(mutating: elements.baseAddress ?? UnsafePointer(Self.emptyElement))
        release = .keepAlive(owner)
    }

    /// Takes over `elements`: tensors may read and write them, and `release` runs with them when
    /// the storage goes (instead of any deallocation here).
    public init(adopting elements: UnsafeMutableBufferPointer<Float>,
                release: @escaping @Sendable (UnsafeMutableBufferPointer<Float>) -> Void) {
        count = elements.count
        base = elements.baseAddress ?? Self.emptyElement
        self.release = .custom(release, handedOver: elements)
    }

    deinit {
        switch release {
        case .deallocate: UnsafeMutableRawPointer(base).deallocate()
        case .keepAlive: break
        case let .custom(function, elements): function(elements)
        }
    }

    /// A new owned storage with the same elements.
    func copy() -> TensorStorage {
        TensorStorage(copying: UnsafeBufferPointer(start: base, count: count))
    }

    /// Calls `body` with the elements (do not let the pointer escape).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(UnsafeBufferPointer(start: base, count: count))
    }

    /// The elements, writable; only for a storage no other tensor can see and that `isWritable`.
    func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(UnsafeMutableBufferPointer(start: base, count: count))
    }

    /// A valid, never-written address for empty views (a buffer pointer of count 0 needs no memory,
    /// but a non-nil base keeps `baseAddress!` at call sites safe).
    nonisolated(unsafe) private static let emptyElement = UnsafeMutablePointer<Float>.allocate(capacity: 1)
}
