import Autograd
import Models
import NN
import Tensors

/// The sequences being generated together and one step of their generation: at most one pass of
/// a prompt (run alone, in `prefillChunk` pieces, so a long prompt delays the others by one piece
/// per step), then one decoding pass for every sequence waiting for its next token. With a model
/// that decodes in batches (`BatchedDecoding`) the decoding pass is one forward for all of them,
/// each row with its own adapter through `route`; each sequence's tokens are those it would get
/// alone. Used only from the scheduler's thread.
final class DecodeBatch {
    /// One sequence in the batch.
    final class Entry {
        /// The adapter it runs with (nil: the base model).
        let adapter: String?
        /// Its generation state.
        var decoding: SequenceDecoding
        /// Its keys and values.
        let cache: KeyValueCache
        /// True when the request wants the raw logits of each token.
        let wantsScores: Bool
        /// Where its tokens go.
        let channel: TokenChannel

        init(adapter: String?, decoding: SequenceDecoding, cache: KeyValueCache, wantsScores: Bool, channel: TokenChannel) {
            self.adapter = adapter
            self.decoding = decoding
            self.cache = cache
            self.wantsScores = wantsScores
            self.channel = channel
        }
    }

    /// Runs a forward pass with each sequence routed to its adapter.
    typealias Route = (_ adapters: [String?], _ pass: () throws -> [[Float]]) throws -> [[Float]]

    private(set) var entries: [Entry] = []
    /// How many decoding passes ran with each number of sequences (a measure of the batching).
    private(set) var decodingPassSizes: [Int: Int] = [:]
    let model: any CausalLanguageModel
    private let route: Route
    private let packedDecode: QuantizedMatrix.DecodeArithmetic

    init(model: any CausalLanguageModel, packedDecode: QuantizedMatrix.DecodeArithmetic = .integerActivations, route: @escaping Route) {
        self.model = model
        self.packedDecode = packedDecode
        self.route = route
    }

    /// Adds a sequence; it takes part from the next step.
    func add(_ entry: Entry) {
        model.eval()  // once per request, not per step (a load may have added modules)
        if entry.decoding.isFinished { entry.channel.send(.finished) } else { entries.append(entry) }
    }

    /// Adapters of the sequences in the batch.
    var adaptersInUse: [String?] { entries.map(\.adapter) }

    /// Rows a pass adds (its tokens and prefix).
    private static func rows(_ pass: SequenceDecoding.Pass) -> Int { pass.ids.count + (pass.prefix?.shape.first ?? 0) }

    /// One step: drops cancelled sequences, runs the oldest waiting prompt piece of more than
    /// `QuantizedMatrix.decodeRows` rows alone, then one pass for every other sequence (decoding
    /// tokens and short prompt pieces).
    ///
    /// A pass of at most `QuantizedMatrix.decodeRows` rows takes the few-row products, which give
    /// each row the same bits in any batch of such passes (see `BatchedDecoding`); a longer piece
    /// takes the blocked products, whose rows' bits depend on the row count, so it runs alone, as
    /// `generate` runs it.
    func step() {
        entries.removeAll { $0.channel.isCancelled }
        guard !entries.isEmpty else { return }
        let fewRows = QuantizedMatrix.decodeRows
        if let prompt = entries.first(where: { Self.rows($0.decoding.nextPass!) > fewRows }) { run([prompt]) }
        let decoding = entries.filter { !$0.decoding.isFinished && Self.rows($0.decoding.nextPass!) <= fewRows }
        if !decoding.isEmpty {
            decodingPassSizes[decoding.count, default: 0] += 1
            runPasses(decoding)
        }
        entries.removeAll { $0.decoding.isFinished }
    }

    /// `run` for a model that batches, or one sequence at a time for one that cannot.
    private func runPasses(_ group: [Entry]) {
        if model is any BatchedDecoding { run(group) } else { for entry in group { run([entry]) } }
    }

    /// Runs the next pass of `group` together and hands each sequence its token.
    private func run(_ group: [Entry]) {
        let passes = group.map { $0.decoding.nextPass! }
        let logits: [[Float]]
        do {
            logits = try route(group.map(\.adapter)) {
                try QuantizedMatrix.$decodeArithmetic.withValue(packedDecode) {
                    try withoutGradients { try forward(passes, caches: group.map(\.cache)) }
                }
            }
        } catch {
            for entry in group {
                entry.decoding.finish()
                entry.channel.send(.failed(error))
            }
            return
        }
        for (index, entry) in group.enumerated() {
            guard passes[index].choosesToken else {
                entry.decoding.advance()
                continue
            }
            var scores = logits[index]
            let raw = entry.wantsScores ? scores : nil
            let choice = entry.decoding.choose(from: &scores)
            entry.channel.send(.token(choice.id, scores: raw, stops: choice.stops))
            if entry.decoding.isFinished { entry.channel.send(.finished) }
        }
    }

    /// The last logits of each pass: one batched forward, or (a model that cannot batch) the single
    /// pass exactly as `generate` runs it.
    private func forward(_ passes: [SequenceDecoding.Pass], caches: [KeyValueCache]) throws -> [[Float]] {
        if let batched = model as? any BatchedDecoding {
            return try batched.lastLogits(batch: zip(passes, caches).map { SequenceStep(ids: $0.ids, cache: $1, prefix: $0.prefix) })
        }
        precondition(passes.count == 1, "DecodeBatch: a model without batched decoding runs one sequence per pass")
        let hidden = try model.hiddenStates(passes[0].ids, batch: 1, keyMask: nil, cache: caches[0], prefix: passes[0].prefix, segments: nil)
        let steps = hidden.shape[1]
        return [model.logits(from: hidden.slice(axis: 1, (steps - 1)..<steps)).value.toArray()]
    }
}
