// Reductions along one axis or over all elements. Sums accumulate in Double so large reductions
// stay accurate and independent of evaluation order.

extension Tensor {
    /// Views the tensor as `[outer, size, inner]` around `axis`.
    func splitAround(_ axis: Int) -> (outer: Int, size: Int, inner: Int) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    private func reduce(axis: Int, keepingDimension: Bool, _ name: String,
                        _ body: (UnsafeBufferPointer<Float>, Int, Int, Int) -> Float) -> Tensor {
        let axis = Shape.normalizedAxis(axis, rank: rank, operation: name)
        let (outer, size, inner) = splitAround(axis)
        var newShape = shape
        if keepingDimension { newShape[axis] = 1 } else { newShape.remove(at: axis) }
        return Tensor(shape: newShape) { out in
            withUnsafeBufferPointer { p in
                for o in 0..<outer {
                    for i in 0..<inner { out[o * inner + i] = body(p, o * size * inner + i, size, inner) }
                }
            }
        }
    }

    /// Sum along `axis` (negative counts from the end).
    public func sum(axis: Int, keepingDimension: Bool = false) -> Tensor {
        reduce(axis: axis, keepingDimension: keepingDimension, "sum") { p, start, size, stride in
            var total = 0.0
            for j in 0..<size { total += Double(p[start + j * stride]) }
            return Float(total)
        }
    }

    /// Mean along `axis`.
    public func mean(axis: Int, keepingDimension: Bool = false) -> Tensor {
        let size = shape[Shape.normalizedAxis(axis, rank: rank, operation: "mean")]
        return sum(axis: axis, keepingDimension: keepingDimension) / Float(Swift.max(size, 1))
    }

    /// Maximum along `axis`.
    public func max(axis: Int, keepingDimension: Bool = false) -> Tensor {
        precondition(shape[Shape.normalizedAxis(axis, rank: rank, operation: "max")] > 0,
                     "max: axis \(axis) of shape \(shape) is empty")
        return reduce(axis: axis, keepingDimension: keepingDimension, "max") { p, start, size, stride in
            var best = -Float.infinity
            for j in 0..<size { best = Swift.max(best, p[start + j * stride]) }
            return best
        }
    }

    /// Index of the maximum along the last axis, for each leading position (first index wins ties).
    public func argmaxLastAxis() -> [Int] {
        precondition(rank >= 1 && shape[rank - 1] > 0, "argmax: shape \(shape) has an empty last axis")
        let size = shape[rank - 1]
        return withUnsafeBufferPointer { elements in
            (0..<(count / size)).map { row in
                var best = 0
                for j in 1..<size where elements[row * size + j] > elements[row * size + best] { best = j }
                return best
            }
        }
    }

    /// Sum of all elements as a rank-0 tensor.
    public func sum() -> Tensor {
        Tensor(scalar: Float(withUnsafeBufferPointer { p in p.reduce(0.0) { $0 + Double($1) } }))
    }

    /// Mean of all elements as a rank-0 tensor.
    public func mean() -> Tensor { Tensor(scalar: sum().scalar / Float(Swift.max(count, 1))) }

    /// Sums away the dimensions that broadcasting stretched, so the result has `target`'s shape.
    /// `self.shape` must be `target` broadcast to some shape (used by backward of broadcasting ops).
    public func sum(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        precondition(Shape.broadcast(target, shape) == shape,
                     "sum(toShape:): \(target) does not broadcast to \(shape)")
        var result = self
        // Leading dimensions that target lacks.
        while result.rank > target.count { result = result.sum(axis: 0) }
        for axis in 0..<target.count where target[axis] == 1 && result.shape[axis] != 1 {
            result = result.sum(axis: axis, keepingDimension: true)
        }
        return result
    }
}
