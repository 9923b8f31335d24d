// Shape and layout operations. Every result is contiguous; moves that change element order copy.

extension Tensor {
    /// The same elements in a new shape; one dimension may be −1 to infer it.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        precondition(inferred.count <= 1, "reshape: more than one −1 in \(newShape)")
        precondition(newShape.allSatisfy { $0 >= -1 }, "reshape: negative dimension in \(newShape)")
        if let axis = inferred.first {
            let known = newShape.enumerated().filter { $0.offset != axis }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0,
                         "reshape: cannot reshape \(shape) (\(count) elements) into \(newShape)")
            resolved[axis] = count / known
        }
        precondition(Shape.elementCount(resolved) == count,
                     "reshape: cannot reshape \(shape) (\(count) elements) into \(newShape)")
        var result = self
        result._setShape(resolved)
        return result
    }

    /// Reorders the axes: result axis `i` is input axis `permutation[i]`.
    public func permuted(_ permutation: [Int]) -> Tensor {
        precondition(permutation.count == rank && Set(permutation) == Set(0..<rank),
                     "permute: \(permutation) is not a permutation of the \(rank) axes of \(shape)")
        if permutation == Array(0..<rank) { return self }
        let newShape = permutation.map { shape[$0] }
        let sourceStrides = Shape.strides(shape)
        let strides = permutation.map { sourceStrides[$0] }
        let inner = newShape.last ?? 1
        let innerStride = strides.last ?? 1
        return Tensor(shape: newShape) { out in
            guard out.count > 0 else { return }
            withUnsafeBufferPointer { p in
                let (input, output) = (p.baseAddress!, out.baseAddress!)
                // Rows of the output (all axes but the last) in parallel; a contiguous inner axis is
                // copied as one run.
                Parallel.forEachRange(out.count / inner, minimumPerChunk: Swift.max(1, parallelElementThreshold / inner)) { rows in
                    var odometer = Odometer(shape: newShape, stridesA: strides, startingAtRow: rows.lowerBound)
                    for row in rows {
                        let destination = output + row * inner
                        if innerStride == 1 {
                            destination.update(from: input + odometer.offsetA, count: inner)
                        } else {
                            var source = odometer.offsetA
                            for j in 0..<inner {
                                destination[j] = input[source]
                                source += innerStride
                            }
                        }
                        odometer.advance()
                    }
                }
            }
        }
    }

    /// Swaps two axes (negative axes count from the end).
    public func transposed(_ axis0: Int = -2, _ axis1: Int = -1) -> Tensor {
        let a = Shape.normalizedAxis(axis0, rank: rank, operation: "transpose")
        let b = Shape.normalizedAxis(axis1, rank: rank, operation: "transpose")
        var permutation = Array(0..<rank)
        permutation.swapAt(a, b)
        return permuted(permutation)
    }

    /// The elements whose index along `axis` lies in `range`.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = Shape.normalizedAxis(axis, rank: rank, operation: "slice")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis],
                     "slice: range \(range) is out of bounds 0..<\(shape[axis]) on axis \(axis) of shape \(shape)")
        let (outer, size, inner) = splitAround(axis)
        var newShape = shape
        newShape[axis] = range.count
        let run = range.count * inner
        return Tensor(shape: newShape) { out in
            withUnsafeBufferPointer { p in
                for o in 0..<outer {
                    let source = p.baseAddress! + o * size * inner + range.lowerBound * inner
                    (out.baseAddress! + o * run).update(from: source, count: run)
                }
            }
        }
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate: no tensors")
        let first = tensors[0]
        let axis = Shape.normalizedAxis(axis, rank: first.rank, operation: "concatenate")
        for t in tensors {
            var a = t.shape, b = first.shape
            precondition(a.count == b.count, "concatenate: ranks differ, \(t.shape) vs \(first.shape)")
            a[axis] = 0; b[axis] = 0
            precondition(a == b, "concatenate: shapes \(t.shape) and \(first.shape) differ off axis \(axis)")
        }
        var newShape = first.shape
        newShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
        let outer = first.shape[..<axis].reduce(1, *)
        let inner = first.shape[(axis + 1)...].reduce(1, *)
        let runs = tensors.map { $0.shape[axis] * inner }
        let total = runs.reduce(0, +)
        return Tensor(shape: newShape) { out in
            for o in 0..<outer {
                var position = o * total
                for (t, run) in zip(tensors, runs) {
                    t.withUnsafeBufferPointer { p in
                        if run > 0 { (out.baseAddress! + position).update(from: p.baseAddress! + o * run, count: run) }
                    }
                    position += run
                }
            }
        }
    }

    /// Rows of a table selected by index: `self` is `[rows, …]`, the result `[indices.count, …]`.
    /// Throws `TensorError.indexOutOfRange` naming the first bad index (for example a token id past the vocabulary).
    public func gatherRows(_ indices: [Int]) throws -> Tensor {
        precondition(rank >= 1, "gatherRows: needs a table of rank ≥ 1, got shape \(shape)")
        let rows = shape[0]
        let width = count / Swift.max(rows, 1)
        for (position, index) in indices.enumerated() where index < 0 || index >= rows {
            throw TensorError.indexOutOfRange(operation: "gatherRows", index: index, bound: rows, position: position)
        }
        return Tensor(shape: [indices.count] + shape.dropFirst()) { out in
            withUnsafeBufferPointer { p in
                for (position, index) in indices.enumerated() where width > 0 {
                    (out.baseAddress! + position * width).update(from: p.baseAddress! + index * width, count: width)
                }
            }
        }
    }

    /// Replaces row `indices[i]` of `self` with row `i` of `source` (the inverse of `gatherRows`).
    public mutating func setRows(_ indices: [Int], from source: Tensor) {
        forEachRow(indices, of: source, "setRows") { row, from, width in row.update(from: from, count: width) }
    }

    /// Row `indices[i]` of `self` becomes itself plus row `i` of `source` times `scale`, rounded as
    /// `self + source * scale` computes it (the product rounded, then the sum).
    public mutating func addRows(_ indices: [Int], from source: Tensor, scaledBy scale: Float) {
        forEachRow(indices, of: source, "addRows") { row, from, width in
            for j in 0..<width {
                let scaled = from[j] * scale
                row[j] = row[j] + scaled
            }
        }
    }

    /// Calls `body` with row `indices[i]` of `self`, row `i` of `source` and the row width, for each i.
    private mutating func forEachRow(_ indices: [Int], of source: Tensor, _ operation: String,
                                     _ body: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void) {
        let width = count / Swift.max(shape.first ?? 1, 1)
        precondition(source.count == indices.count * width, "\(operation): source \(source.shape) does not hold \(indices.count) rows of \(width)")
        let rows = shape.first ?? 0
        withUnsafeMutableBufferPointer { p in
            source.withUnsafeBufferPointer { s in
                for (position, index) in indices.enumerated() {
                    precondition(index >= 0 && index < rows, "\(operation): index \(index) out of range 0..<\(rows)")
                    body(p.baseAddress! + index * width, s.baseAddress! + position * width, width)
                }
            }
        }
    }

    /// Adds row `i` of `source` into row `indices[i]` of `self` (the backward of `gatherRows`).
    /// Indices must already be validated (they come from a successful `gatherRows`).
    public mutating func scatterAddRows(_ indices: [Int], from source: Tensor) {
        forEachRow(indices, of: source, "scatterAddRows") { row, from, width in
            for j in 0..<width { row[j] += from[j] }
        }
    }
}
