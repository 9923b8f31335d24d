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
        if entry.decoding.isFinished { entry.channel.send(.finished) } else { entries.append(entry) }
    }

    /// Adapters of the sequences in the batch.
    var adaptersInUse: [String?] { entries.map(\.adapter) }

    /// A pass of one new row: it may join a decoding pass.
    private static func isSingleRow(_ pass: SequenceDecoding.Pass) -> Bool { pass.ids.count == 1 && pass.prefix == nil }

    /// One step: drops cancelled sequences, runs the oldest prompt piece waiting, then one decoding pass.
    func step() {
        entries.removeAll { $0.channel.isCancelled }
        guard !entries.isEmpty else { return }
        model.eval()
        if let prompt = entries.first(where: { !Self.isSingleRow($0.decoding.nextPass!) }) { run([prompt]) }
        let decoding = entries.filter { !$0.decoding.isFinished && Self.isSingleRow($0.decoding.nextPass!) }
        if model is any BatchedDecoding {
            if !decoding.isEmpty {
                decodingPassSizes[decoding.count, default: 0] += 1
                run(decoding)
            }
        } else {
            for entry in decoding {
                decodingPassSizes[1, default: 0] += 1
                run([entry])
            }
        }
        entries.removeAll { $0.decoding.isFinished }
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
