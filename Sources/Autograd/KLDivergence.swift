import Tensors

/// Σ over rows of KL(p ‖ q) = Σ_v p_v · (log p_v − log q_v), with p = softmax(`referenceLogits`) and
/// q = softmax(`logits`) per row of the last axis; `referenceLogits` is a constant (the base model's
/// logits: no gradient flows to it).
///
/// Backward: `∂/∂logits = (q − p) · g` per row — the soft-target cross-entropy's gradient, as the
/// entropy of p does not depend on the logits.
public func klDivergenceSum(logits: Variable, referenceLogits: Tensor) -> Variable {
    precondition(logits.shape == referenceLogits.shape,
                 "klDivergenceSum: logits \(logits.shape) and reference \(referenceLogits.shape) must have one shape")
    let logQ = logits.value.logSoftmax()
    let logP = referenceLogits.logSoftmax()
    let p = logP.exp()
    let value = (p * (logP - logQ)).sum()
    return Variable.operation("klDivergenceSum", value: value, inputs: [logits]) { g in
        [(logQ.exp() - p) * g.scalar]
    }
}

/// The summed KL(p ‖ q) of `head(hidden)` against the reference rows `reference(range)` gives, `chunkRows`
/// rows at a time, so the `[N, V]` logits never exist whole (as `chunkedCrossEntropySum`). `reference`
/// returns the `[R, V]` logits p comes from for rows `range` (computed without gradients, by the
/// base model, say).
public func chunkedKLDivergenceSum(hidden: Variable, chunkRows: Int = chunkedCrossEntropyDefaultRows, reference: (Range<Int>) throws -> Tensor,
                                   head: (Variable) -> Variable) throws -> Variable {
    precondition(hidden.shape.count == 2, "chunkedKLDivergenceSum: hidden must be [N, C], got \(hidden.shape)")
    return try chunkedRowSum(hidden: hidden, chunkRows: chunkRows, head: head) { input, range in
        let target = try reference(range)
        return klDivergenceSum(logits: head(input), referenceLogits: target)
    }
}
