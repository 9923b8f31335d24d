/// An n-dimensional array of `Float` with value semantics and contiguous row-major storage.
///
/// The elements live in a ``TensorStorage``: memory allocated here, a read-only view of a
/// memory-mapped weights file, or a buffer handed over with its own release (a pool). Copies share
/// the storage until one of them is written (copy-on-write); a tensor viewing borrowed memory copies
/// it into its own before the first write. Read the elements with ``withUnsafeBufferPointer(_:)``
/// or copy them out with ``toArray()``.
///
/// Shapes are lists of non-negative dimension sizes; a rank-0 tensor (shape `[]`) holds one scalar.
///
/// ```swift
/// let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
/// let y = (x * 2).sum(axis: 1)          // [6, 30]
/// ```
public struct Tensor: Sendable {
    /// Dimension sizes, outermost first.
    public private(set) var shape: [Int]
    /// The memory holding the elements, row-major (`shape.last` varies fastest).
    public private(set) var storage: TensorStorage

    /// Creates a tensor whose elements are `storage`'s, laid out row-major in `shape`.
    ///
    /// - Precondition: `storage.count` equals the product of `shape`, and no dimension is negative.
    public init(storage: TensorStorage, shape: [Int]) {
        let count = Shape.elementCount(shape)
        precondition(storage.count == count,
                     "Tensor: storage of \(storage.count) elements does not fill shape \(shape) (needs \(count))")
        self.shape = shape
        self.storage = storage
    }

    /// Creates a tensor from scalars laid out row-major in `shape` (copied into owned storage).
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`, and no dimension is negative.
    public init(_ scalars: [Float], shape: [Int]) {
        let count = Shape.elementCount(shape)
        precondition(scalars.count == count,
                     "Tensor: \(scalars.count) scalars do not fill shape \(shape) (needs \(count))")
        self.shape = shape
        self.storage = scalars.withUnsafeBufferPointer { TensorStorage(copying: $0) }
    }

    /// Creates a rank-1 tensor from scalars.
    public init(_ scalars: [Float]) {
        self.init(scalars, shape: [scalars.count])
    }

    /// Creates a rank-0 tensor holding one scalar.
    public init(scalar: Float) {
        self.init(storage: TensorStorage(repeating: scalar, count: 1), shape: [])
    }

    /// Creates a tensor of `shape` whose storage is written by `initializer`, which must set every element.
    public init(shape: [Int], unsafeUninitialized initializer: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let storage = TensorStorage(uninitializedCount: Shape.elementCount(shape))
        storage.withUnsafeMutableBufferPointer(initializer)
        self.shape = shape
        self.storage = storage
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Total number of elements.
    public var count: Int { storage.count }

    /// The single element of a tensor with exactly one element.
    public var scalar: Float {
        precondition(count == 1, "Tensor.scalar: tensor of shape \(shape) has \(count) elements, not 1")
        return withUnsafeBufferPointer { $0[0] }
    }

    /// The elements in row-major order, copied into an array.
    public func toArray() -> [Float] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// Reads or writes one element by its full multi-index.
    public subscript(_ indices: Int...) -> Float {
        get {
            let flat = flatIndex(indices)
            return withUnsafeBufferPointer { $0[flat] }
        }
        set {
            let flat = flatIndex(indices)
            withUnsafeMutableBufferPointer { $0[flat] = newValue }
        }
    }

    /// Reads or writes the element at `index` of the row-major order (`0..<count`).
    public subscript(flat index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "Tensor subscript: flat index \(index) out of range 0..<\(count) (shape \(shape))")
            return withUnsafeBufferPointer { $0[index] }
        }
        set {
            precondition(index >= 0 && index < count, "Tensor subscript: flat index \(index) out of range 0..<\(count) (shape \(shape))")
            withUnsafeMutableBufferPointer { $0[index] = newValue }
        }
    }

    private func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank,
                     "Tensor subscript: \(indices.count) indices for a tensor of rank \(rank) (shape \(shape))")
        var flat = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis],
                         "Tensor subscript: index \(index) out of range 0..<\(shape[axis]) on axis \(axis) of shape \(shape)")
            flat = flat * shape[axis] + index
        }
        return flat
    }

    /// Calls `body` with the elements, row-major (do not let the pointer escape).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with mutable elements, first copying them into owned storage if another tensor
    /// shares the storage or it is a read-only borrowed view.
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) || !storage.isWritable { storage = storage.copy() }
        return try storage.withUnsafeMutableBufferPointer(body)
    }

    /// Replaces the shape without touching the elements; used by `reshaped`.
    mutating func _setShape(_ newShape: [Int]) {
        shape = newShape
    }
}

extension Tensor: Equatable {
    /// Same shape and equal elements (`Float` equality: NaN differs from everything, `-0 == 0`).
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.shape == rhs.shape else { return false }
        return lhs.withUnsafeBufferPointer { a in rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) } }
    }
}

extension Tensor: CustomStringConvertible {
    /// A short description: the shape and the first few elements.
    public var description: String {
        let shown = withUnsafeBufferPointer { $0.prefix(8).map { String($0) }.joined(separator: ", ") }
        return "Tensor(shape: \(shape), [\(shown)\(count > 8 ? ", …" : "")])"
    }
}
