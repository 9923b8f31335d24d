import Autograd
import NN
import Tensors

/// One sequence's part of a forward pass that runs several sequences together.
public struct SequenceStep {
    /// New token ids, run after the positions `cache` holds.
    public var ids: [Int]
    /// The sequence's own keys and values; the new ones are appended.
    public var cache: KeyValueCache
    /// Virtual-token embeddings `[P, C]` before `ids` (a prompt-tuning adapter's), only when the
    /// cache is empty.
    public var prefix: Variable?

    /// A step of `ids` after what `cache` holds.
    public init(ids: [Int], cache: KeyValueCache, prefix: Variable? = nil) {
        self.ids = ids
        self.cache = cache
        self.prefix = prefix
    }
}

/// A causal language model that runs several sequences — each at its own position, with its own
/// cache — in one forward pass (continuous batching). Their tokens go through the linear layers as
/// one batch of rows; attention stays within each sequence.
public protocol BatchedDecoding: CausalLanguageModel {
    /// The last position's logits of each step's sequence after its `ids` (and prefix) run.
    ///
    /// While it runs, `SequenceRows.current` names each activation row's sequence (the index of
    /// its step), so a layer may treat sequences differently (an adapter per sequence).
    ///
    /// Each sequence's logits are bit for bit those of its own pass alone when every step has at
    /// most `QuantizedMatrix.decodeRows` rows (decoding tokens, short prompt pieces:
    /// `GEMM.rowsIndependent` is bound), or when there is one step. Longer pieces of several
    /// sequences together give each row its product within rounding, not bit for bit (the blocked
    /// products' rounding depends on the row count). Call inside `withoutGradients`, in eval mode.
    /// - Throws: `ModelError.contextOverflow` for a step past the context, token-id errors.
    func lastLogits(batch steps: [SequenceStep]) throws -> [[Float]]
}

extension DecoderForCausalLM: BatchedDecoding {
    /// See `BatchedDecoding.lastLogits(batch:)`.
    public func lastLogits(batch steps: [SequenceStep]) throws -> [[Float]] {
        guard !steps.isEmpty else { return [] }
        let hiddenSize = configuration.hiddenSize
        var tokenSequences: [Int] = []  // the step of each row, prefix rows included
        var spans: [SequenceSpan] = []
        var rowsSoFar = 0
        for (index, step) in steps.enumerated() {
            guard !step.ids.isEmpty else { throw ModelError.invalidGenerationParameter("step \(index) of the batch has no tokens") }
            let offset = step.cache.length
            if let prefix = step.prefix {
                precondition(prefix.shape.count == 2 && prefix.shape[1] == hiddenSize && offset == 0,
                             "DecoderForCausalLM: prefix \(prefix.shape) must be [P, \(hiddenSize)] on an empty cache")
            }
            let count = step.ids.count + (step.prefix?.shape[0] ?? 0)
            guard offset + count <= configuration.maxPositionEmbeddings else {
                throw ModelError.contextOverflow(positions: offset + count, context: configuration.maxPositionEmbeddings)
            }
            spans.append(SequenceSpan(rows: rowsSoFar..<(rowsSoFar + count), positions: Array(offset..<(offset + count)), cache: step.cache))
            tokenSequences += Array(repeating: index, count: count)
            rowsSoFar += count
        }
        let fewRows = spans.allSatisfy { $0.rows.count <= QuantizedMatrix.decodeRows }
        let hidden = try GEMM.$rowsIndependent.withValue(fewRows && steps.count > 1) {
            try SequenceRows.$current.withValue(tokenSequences) {
                var pieces: [Variable] = []
                for step in steps {
                    // As `hiddenStates` embeds one sequence: looked up, scaled, the prefix before.
                    var x = try SequenceRows.$current.withValue(Array(repeating: pieces.count, count: step.ids.count)) {
                        try body.embedTokens(step.ids, shape: [1, step.ids.count])
                    }
                    if configuration.family.scalesEmbeddings { x = x * Float(Double(hiddenSize).squareRoot()) }
                    if let prefix = step.prefix {
                        x = Variable.concatenate([prefix.reshaped([1, prefix.shape[0], hiddenSize]), x], axis: 1)
                    }
                    pieces.append(x)
                }
                var x = pieces.count == 1 ? pieces[0] : Variable.concatenate(pieces, axis: 1)
                for index in 0..<configuration.layerCount {
                    x = body.layers[index](x, positions: [], keyMask: nil, cache: nil, layer: index, spans: spans)
                }
                return body.norm(x)
            }
        }
        // Each sequence's last row, then the head over those rows only (row i is sequence i).
        let last = try hidden.value.reshaped([rowsSoFar, hiddenSize]).gatherRows(spans.map { $0.rows.upperBound - 1 })
        let logits = GEMM.$rowsIndependent.withValue(steps.count > 1) {
            self.logits(from: Variable(last.reshaped([1, steps.count, hiddenSize])))
        }.value.toArray()
        let width = logits.count / steps.count
        return (0..<steps.count).map { Array(logits[($0 * width)..<(($0 + 1) * width)]) }
    }
}
