import Autograd
import Models
import Tensors

/// The loss of a batch for each kind of model head.
enum Objective {
    /// The summed (not averaged) cross-entropy over the batch's targets; the trainer divides by the
    /// targets of the whole optimizer step.
    ///
    /// Language models: position `t` of a row predicts label `t + 1`. Only positions with a label go
    /// through the vocabulary head — the prompt's positions never pay for the `[C, V]` projection — and
    /// they go through it 128 at a time (`chunkedCrossEntropySum`), so their logits never exist whole.
    ///
    /// With an `anchor` (λ and the model whose base it reaches), a language model's sum also holds
    /// λ · Σ KL(base ‖ model) over the same labelled positions: the base's hidden states come from one
    /// more forward pass without gradients, its logits chunk by chunk beside the model's.
    static func lossSum(head: ModelHead, prefix: Variable?, batch: Batch, anchor: (weight: Float, model: any TrainableModel)? = nil) throws -> Variable {
        switch head {
        case let .languageModel(model):
            let (selected, targets) = try targetHiddenStates(model, prefix: prefix, batch: batch)
            guard let selected else { return Variable(Tensor(scalar: 0)) }
            let crossEntropy = try chunkedCrossEntropySum(hidden: selected, targets: targets) { model.logits(from: $0) }
            guard let anchor, anchor.weight > 0 else { return crossEntropy }
            return crossEntropy + (try divergenceSum(model, hidden: selected, base: anchor.model, batch: batch)) * anchor.weight
        case let .classifier(model):
            let logits = try model.classLogits(batch.ids, batch: batch.rows, keyMask: batch.keyMask)
            return try crossEntropy(logits: logits, targets: batch.classLabels) * Float(batch.rows)
        }
    }

    /// Σ KL(base ‖ model) over the batch's labelled positions, from the model's hidden states there
    /// (`hidden`, as `targetHiddenStates` gives them) and one more forward pass of the base: the same
    /// weights under `base.withBaseModel` (no gradient), whose head also makes the reference logits,
    /// chunk by chunk beside the model's (`chunkedKLDivergenceSum`).
    static func divergenceSum(_ model: any CausalLanguageModel, hidden: Variable, base: any TrainableModel, batch: Batch) throws -> Variable {
        let baseHidden = try withoutGradients { try base.withBaseModel { try targetHiddenStates(model, prefix: nil, batch: batch).hidden } }
        guard let baseHidden else { return Variable(Tensor(scalar: 0)) }
        return try chunkedKLDivergenceSum(hidden: hidden, reference: { range in
            try base.withBaseModel { withoutGradients { model.logits(from: Variable(baseHidden.value.slice(axis: 0, range))).value } }
        }, head: { model.logits(from: $0) })
    }

    /// The final hidden states `[N, C]` of the batch's N labelled positions (nil when there are
    /// none) and the N labels they predict, in row order.
    static func targetHiddenStates(_ model: any CausalLanguageModel, prefix: Variable?, batch: Batch) throws -> (hidden: Variable?, targets: [Int]) {
        let hidden = try model.hiddenStates(batch.ids, batch: batch.rows, keyMask: batch.keyMask, cache: nil, prefix: prefix, segments: batch.segments)
        let width = hidden.shape[1]  // P + T
        let virtual = width - batch.length
        var rows: [Int] = []
        var targets: [Int] = []
        rows.reserveCapacity(batch.targetCount)
        targets.reserveCapacity(batch.targetCount)
        for row in 0..<batch.rows {
            for t in 0..<(batch.length - 1) {
                let position = row * batch.length + t
                let label = batch.labels[position + 1]
                // A packed row's next example is not predicted from the previous one.
                let sameExample = batch.segments.map { $0[position] == $0[position + 1] } ?? true
                if label != TokenizedExample.ignoreIndex && sameExample {
                    rows.append(row * width + virtual + t)
                    targets.append(label)
                }
            }
        }
        guard !rows.isEmpty else { return (nil, []) }
        return (try hidden.reshaped([batch.rows * width, hidden.shape[2]]).gatherRows(rows), targets)
    }
}
