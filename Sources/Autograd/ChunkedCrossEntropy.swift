import Tensors

/// Rows of hidden states `chunkedCrossEntropySum` sends through the vocabulary head at a time by default.
/// Each chunk packs the whole head matrix again (forward and input gradient), so larger chunks cost less
/// time: 128 rows hold a batch of 8 instruction examples' labelled positions in one chunk, for 3 · 128 · V
/// floats of logits, exponentials and gradient (75 MB at V = 49152) against 38 MB at 64.
public let chunkedCrossEntropyDefaultRows = 128

/// The summed cross-entropy of `head(hidden)` against `targets`, `chunkRows` rows at a time, so the
/// `[N, V]` logits (and their gradient) never exist whole: for a 49152-token vocabulary and 256 labelled
/// positions that is 150 MB of fresh pages per step that the kernel would otherwise zero, against a
/// few chunk-sized buffers the allocator reuses.
///
/// `hidden` is `[N, C]`; `head` maps `[R, C]` to `[R, V]` (the vocabulary projection). When the head
/// is frozen — its output does not require a gradient for an input that does not — each chunk's
/// gradient with respect to its hidden rows is computed right after its loss (one chunk's logits at a
/// time) and kept (`[N, C]`) for backward, which scales it by the incoming gradient. A head with
/// trainable parameters (LoRA on `lm_head`, say) takes the ordinary unchunked path, so its parameters
/// see the incoming gradient exactly as before. Without gradients (evaluation) only the loss is computed,
/// chunk by chunk.
///
/// The value equals `crossEntropy(logits: head(hidden), targets: targets) · n` (n = counted targets) up
/// to the order of the float sums; targets equal to `ignoreIndex` count for nothing.
///
/// - Throws: `TensorError.indexOutOfRange` for a target outside `0..<V` that is not `ignoreIndex`.
public func chunkedCrossEntropySum(hidden: Variable, targets: [Int], ignoreIndex: Int = -100, chunkRows: Int = chunkedCrossEntropyDefaultRows,
                                   head: (Variable) -> Variable) throws -> Variable {
    precondition(hidden.shape.count == 2 && hidden.shape[0] == targets.count,
                 "chunkedCrossEntropySum: hidden \(hidden.shape) for \(targets.count) targets")
    return try chunkedRowSum(hidden: hidden, chunkRows: chunkRows, head: head) { input, range in
        let part = Array(targets[range])
        let counted = part.filter { $0 != ignoreIndex }.count
        return try crossEntropy(logits: head(input), targets: part, ignoreIndex: ignoreIndex) * Float(counted)
    }
}

/// The sum over row chunks of `loss(rows, range)` (a scalar per chunk), with the chunk-at-a-time
/// backward described at `chunkedCrossEntropySum`: a frozen head's chunks are differentiated at once
/// and only the `[N, C]` gradient of the hidden rows is kept; a trainable head takes one unchunked
/// pass so its parameters see the incoming gradient; without gradients only the values are summed.
func chunkedRowSum(hidden: Variable, chunkRows: Int, head: (Variable) -> Variable,
                   loss: (Variable, Range<Int>) throws -> Variable) throws -> Variable {
    precondition(chunkRows > 0, "chunked loss: chunkRows must be positive, got \(chunkRows)")
    let rows = hidden.shape[0]
    let chunks = stride(from: 0, to: rows, by: chunkRows).map { $0..<min(rows, $0 + chunkRows) }
    if GradMode.isEnabled && headIsTrainable(width: hidden.shape[1], head: head) {
        return try loss(hidden, 0..<rows)
    }
    guard GradMode.isEnabled, hidden.requiresGrad else {
        // Nothing to differentiate: the loss alone, chunk by chunk.
        var total: Float = 0
        try withoutGradients {
            for range in chunks { total += try loss(Variable(hidden.value.slice(axis: 0, range)), range).value.scalar }
        }
        return Variable(Tensor(scalar: total))
    }
    var total: Float = 0
    var gradients: [Tensor] = []
    gradients.reserveCapacity(chunks.count)
    for range in chunks {
        let input = Variable(hidden.value.slice(axis: 0, range), requiresGrad: true)
        let value = try loss(input, range)
        value.backward()
        total += value.value.scalar
        gradients.append(input.grad ?? Tensor.zeros([range.count, hidden.shape[1]]))
    }
    let gradient = Tensor.concatenate(gradients, axis: 0)
    return Variable.operation("chunkedRowSum", value: Tensor(scalar: total), inputs: [hidden]) { g in
        [gradient * g.scalar]
    }
}

/// True when `head`'s output needs a gradient for an input that does not: the head has trainable parameters.
private func headIsTrainable(width: Int, head: (Variable) -> Variable) -> Bool {
    head(Variable(Tensor.zeros([1, width]))).requiresGrad
}
