import Tensors

extension Variable {
    /// Same elements, new shape (one dimension may be −1).
    public func reshaped(_ newShape: [Int]) -> Variable {
        let shape = self.shape
        return Variable.operation("reshape", value: value.reshaped(newShape), inputs: [self]) { g in
            [g.reshaped(shape)]
        }
    }

    /// Reorders axes; backward applies the inverse permutation.
    public func permuted(_ permutation: [Int]) -> Variable {
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (i, p) in permutation.enumerated() { inverse[p] = i }
        return Variable.operation("permute", value: value.permuted(permutation), inputs: [self]) { g in
            [g.permuted(inverse)]
        }
    }

    /// Swaps two axes.
    public func transposed(_ axis0: Int = -2, _ axis1: Int = -1) -> Variable {
        let a = Shape.normalizedAxis(axis0, rank: shape.count, operation: "transpose")
        let b = Shape.normalizedAxis(axis1, rank: shape.count, operation: "transpose")
        var permutation = Array(0..<shape.count)
        permutation.swapAt(a, b)
        return permuted(permutation)
    }

    /// Elements with index in `range` along `axis`; backward scatters into zeros.
    public func slice(axis: Int, _ range: Range<Int>) -> Variable {
        let shape = self.shape
        let axis = Shape.normalizedAxis(axis, rank: shape.count, operation: "slice")
        return Variable.operation("slice", value: value.slice(axis: axis, range), inputs: [self]) { g in
            var parts: [Tensor] = []
            var before = shape, after = shape
            before[axis] = range.lowerBound
            after[axis] = shape[axis] - range.upperBound
            if range.lowerBound > 0 { parts.append(.zeros(before)) }
            parts.append(g)
            if after[axis] > 0 { parts.append(.zeros(after)) }
            return [Tensor.concatenate(parts, axis: axis)]
        }
    }

    /// Joins variables along `axis`; backward slices the gradient back apart.
    public static func concatenate(_ variables: [Variable], axis: Int) -> Variable {
        precondition(!variables.isEmpty, "concatenate: no variables")
        let resolved = Shape.normalizedAxis(axis, rank: variables[0].shape.count, operation: "concatenate")
        let sizes = variables.map { $0.shape[resolved] }
        let needed = variables.map(\.requiresGrad)  // flags, not the variables: their values are not needed
        return operation("concatenate", value: Tensor.concatenate(variables.map(\.value), axis: resolved),
                         inputs: variables) { g in
            var start = 0
            return zip(needed, sizes).map { need, size in
                defer { start += size }
                return need ? g.slice(axis: resolved, start..<(start + size)) : nil
            }
        }
    }
}

/// Rows of `table` (`[rows, dim]`) for each id: the embedding lookup. The result has shape
/// `idsShape + [dim]`. Backward scatter-adds into the rows that were read.
///
/// - Throws: `TensorError.indexOutOfRange` for an id outside the table (naming the id and its position).
public func embedding(_ table: Variable, ids: [Int], idsShape: [Int]? = nil) throws -> Variable {
    precondition(table.shape.count == 2, "embedding: table must be [rows, dim], got \(table.shape)")
    let idsShape = idsShape ?? [ids.count]
    precondition(Shape.elementCount(idsShape) == ids.count,
                 "embedding: \(ids.count) ids do not fill shape \(idsShape)")
    let rows = try table.value.gatherRows(ids)
    let dim = table.shape[1]
    let tableShape = table.shape
    return Variable.operation("embedding", value: rows.reshaped(idsShape + [dim]), inputs: [table]) { g in
        var gradient = Tensor.zeros(tableShape)
        gradient.scatterAddRows(ids, from: g)
        return [gradient]
    }
}

extension Variable {
    /// Rows `indices` of a `[rows, C]` variable, giving `[indices.count, C]`; backward scatter-adds
    /// into the rows that were read (an index may repeat). Used to send only the positions that carry
    /// a label through a language model's vocabulary head.
    /// - Throws: `TensorError.indexOutOfRange` for an index outside `0..<rows`.
    public func gatherRows(_ indices: [Int]) throws -> Variable {
        precondition(shape.count == 2, "gatherRows: expected [rows, C], got \(shape)")
        return try embedding(self, ids: indices, idsShape: [indices.count])
    }
}
