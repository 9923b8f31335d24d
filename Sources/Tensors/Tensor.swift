/// An n-dimensional array of `Float` with value semantics and contiguous row-major storage.
///
/// Copies are cheap until one of them is mutated (copy-on-write through the underlying array).
/// Shapes are lists of non-negative dimension sizes; a rank-0 tensor (shape `[]`) holds one scalar.
///
/// ```swift
/// let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
/// let y = (x * 2).sum(axis: 1)          // [6, 30]
/// ```
public struct Tensor: Sendable, Equatable {
    /// Dimension sizes, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order (`shape.last` varies fastest).
    public private(set) var scalars: [Float]

    /// Creates a tensor from scalars laid out row-major in `shape`.
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`, and no dimension is negative.
    public init(_ scalars: [Float], shape: [Int]) {
        let count = Shape.elementCount(shape)
        precondition(scalars.count == count,
                     "Tensor: \(scalars.count) scalars do not fill shape \(shape) (needs \(count))")
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a rank-1 tensor from scalars.
    public init(_ scalars: [Float]) {
        self.init(scalars, shape: [scalars.count])
    }

    /// Creates a rank-0 tensor holding one scalar.
    public init(scalar: Float) {
        self.init([scalar], shape: [])
    }

    /// Creates a tensor of `shape` whose storage is written by `initializer`, which must set every element.
    public init(shape: [Int], unsafeUninitialized initializer: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = Shape.elementCount(shape)
        self.shape = shape
        self.scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            initializer(buffer)
            initialized = count
        }
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Total number of elements.
    public var count: Int { scalars.count }

    /// The single element of a tensor with exactly one element.
    public var scalar: Float {
        precondition(count == 1, "Tensor.scalar: tensor of shape \(shape) has \(count) elements, not 1")
        return scalars[0]
    }

    /// Reads or writes one element by its full multi-index.
    public subscript(_ indices: Int...) -> Float {
        get { scalars[flatIndex(indices)] }
        set { scalars[flatIndex(indices)] = newValue }
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

    /// Calls `body` with a pointer to the contiguous elements.

    /// Calls `body` with the elements, row-major (do not let the pointer escape).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with a mutable pointer to the contiguous elements (copying first if the storage is shared).

    /// Calls `body` with mutable elements, copying the storage first if it is shared.
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Replaces the shape without touching the elements; used by `reshaped`.
    mutating func _setShape(_ newShape: [Int]) {
        shape = newShape
    }
}

extension Tensor: CustomStringConvertible {
    /// A short description: the shape and the first few elements.
    public var description: String {
        let shown = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(count > 8 ? ", …" : "")])"
    }
}
