import Foundation

// Softmax and log-softmax along the last axis, computed stably (the row maximum is subtracted).

extension Tensor {
    /// `exp(x − max) / Σ exp(x − max)` over the last axis.
    public func softmax() -> Tensor {
        rowwise("softmax") { row, out, n in
            var maximum = -Float.infinity
            for j in 0..<n { maximum = Swift.max(maximum, row[j]) }
            if maximum == -Float.infinity { maximum = 0 }  // fully masked row: all zeros
            out.update(from: row, count: n)
            let total = Tensor.exponentiateShifted(out, count: n, shift: maximum)
            let scale = total > 0 ? 1 / total : 0
            for j in 0..<n { out[j] *= scale }
        }
    }

    /// `x − max − log Σ exp(x − max)` over the last axis.
    public func logSoftmax() -> Tensor {
        rowwise("logSoftmax") { row, out, n in
            var maximum = -Float.infinity
            for j in 0..<n { maximum = Swift.max(maximum, row[j]) }
            out.update(from: row, count: n)
            let total = Tensor.exponentiateShifted(out, count: n, shift: maximum)
            let shift = maximum + Foundation.log(total)
            for j in 0..<n { out[j] = row[j] - shift }
        }
    }

    /// Applies `body(inputRow, outputRow, width)` to each row of the last axis, rows in parallel.
    func rowwise(_ name: String,
                 _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        precondition(rank >= 1, "\(name): needs rank ≥ 1, got a scalar")
        let width = shape[rank - 1]
        let rows = width == 0 ? 0 : count / width
        return Tensor(shape: shape) { out in
            withUnsafeBufferPointer { p in
                guard rows > 0 else { return }
                let input = UInt(bitPattern: p.baseAddress!), output = UInt(bitPattern: out.baseAddress!)
                Parallel.forEachRange(rows, minimumPerChunk: Swift.max(1, 16_384 / Swift.max(width, 1))) { range in
                    for r in range {
                        body(UnsafePointer(bitPattern: input)! + r * width,
                             UnsafeMutablePointer(bitPattern: output)! + r * width, width)
                    }
                }
            }
        }
    }
}
