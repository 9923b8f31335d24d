import Foundation
import Tensors

/// Mean cross-entropy of `logits` (`[N, V]`, or any `[…, V]`) against integer targets, skipping
/// targets equal to `ignoreIndex` (prompt and padding positions).
///
/// loss = −(1/n) Σ_{i: tᵢ ≠ ignore} log softmax(logitsᵢ)[tᵢ], n = number of counted targets.
/// Backward: (softmax(logitsᵢ) − onehot(tᵢ))/n on counted rows, zero on ignored rows.
/// When every target is ignored the loss is 0 with a zero gradient (not NaN).
///
/// - Throws: `TensorError.indexOutOfRange` for a target outside `0..<V` that is not `ignoreIndex`.
public func crossEntropy(logits: Variable, targets: [Int], ignoreIndex: Int = -100) throws -> Variable {
    let shape = logits.shape
    precondition(shape.count >= 1 && (shape.last ?? 0) > 0, "crossEntropy: logits need a non-empty last axis, got \(shape)")
    let vocabulary = shape[shape.count - 1]
    let rows = logits.value.count / vocabulary
    precondition(targets.count == rows,
                 "crossEntropy: \(targets.count) targets for \(rows) rows of logits \(shape)")
    for (position, target) in targets.enumerated() where target != ignoreIndex && (target < 0 || target >= vocabulary) {
        throw TensorError.indexOutOfRange(operation: "crossEntropy target", index: target, bound: vocabulary, position: position)
    }
    let counted = targets.filter { $0 != ignoreIndex }.count
    let input = logits.value
    // Per-row log-sum-exp, computed only on counted rows (rows in parallel, a scratch row each).
    var logSumExp = [Float](repeating: 0, count: rows)
    input.withUnsafeBufferPointer { p in
        logSumExp.withUnsafeMutableBufferPointer { lse in
            let (base, sums) = (p.baseAddress!, lse.baseAddress!)
            Parallel.forEachRange(rows, minimumPerChunk: max(1, 32_768 / vocabulary)) { range in
                var scratch = [Float](repeating: 0, count: vocabulary)
                scratch.withUnsafeMutableBufferPointer { buffer in
                    for r in range where targets[r] != ignoreIndex {
                        let row = base + r * vocabulary
                        var maximum = -Float.infinity
                        for j in 0..<vocabulary { maximum = Swift.max(maximum, row[j]) }
                        buffer.baseAddress!.update(from: row, count: vocabulary)
                        let sum = Tensor.exponentiateShifted(buffer.baseAddress!, count: vocabulary, shift: maximum)
                        sums[r] = maximum + Foundation.log(sum)
                    }
                }
            }
        }
    }
    var total = 0.0
    input.withUnsafeBufferPointer { p in
        for r in 0..<rows where targets[r] != ignoreIndex { total += Double(logSumExp[r] - p[r * vocabulary + targets[r]]) }
    }
    let loss = counted == 0 ? 0 : Float(total / Double(counted))
    return Variable.operation("crossEntropy", value: Tensor(scalar: loss), inputs: [logits]) { g in
        let scale = counted == 0 ? 0 : g.scalar / Float(counted)
        return [Tensor(shape: shape) { out in
            input.withUnsafeBufferPointer { p in
                let (base, result) = (p.baseAddress!, out.baseAddress!)
                Parallel.forEachRange(rows, minimumPerChunk: max(1, 32_768 / vocabulary)) { range in
                    for r in range {
                        let dst = result + r * vocabulary
                        if targets[r] == ignoreIndex {
                            dst.update(repeating: 0, count: vocabulary)
                            continue
                        }
                        dst.update(from: base + r * vocabulary, count: vocabulary)
                        Tensor.exponentiateShifted(dst, count: vocabulary, shift: logSumExp[r])
                        for j in 0..<vocabulary { dst[j] *= scale }
                        dst[targets[r]] -= scale
                    }
                }
            }
        }]
    }
}
