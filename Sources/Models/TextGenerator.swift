import Foundation
import Autograd
import Tokenizers

/// Text in, text out: a causal language model with its tokenizer. Streams decoded text (never a
/// broken character), stops on the tokenizer's end-of-sequence tokens and on stop strings (which are
/// not included in the result).
public struct TextGenerator {
    /// The model that generates.
    public let model: any CausalLanguageModel
    /// Encodes prompts and decodes the answer.
    public let tokenizer: Tokenizer
    /// Virtual-token embeddings `[P, C]` run before every prompt: a prompt-tuning adapter's
    /// (`PeftModel.activePromptEmbeddings`). Without it such an adapter has no effect on `model`.
    public var prefix: Variable?
    /// Produces the tokens instead of `model.generate` (same arguments, same contract): a server's
    /// scheduler that runs this generation as one sequence of a batch. Nil: `model.generate`, with
    /// the model's attached prefix when `prefix` is nil.
    public var tokenSource: TokenSource?

    /// A replacement for `CausalLanguageModel.generate(prompt:options:prefix:onScores:onToken:)`.
    public typealias TokenSource = (_ prompt: [Int], _ options: GenerationOptions, _ prefix: Variable?,
                                    _ onScores: ((Int, [Float]) throws -> Void)?, _ onToken: (Int) throws -> Bool) throws -> [Int]

    /// - Throws: `ModelError.invalidConfiguration` when the tokenizer produces ids the model has no
    ///   embedding for (a tokenizer from another model).
    public init(model: any CausalLanguageModel, tokenizer: Tokenizer, prefix: Variable? = nil) throws {
        guard tokenizer.vocabularySize <= model.vocabularySize else {
            throw ModelError.invalidConfiguration(field: "tokenizer", reason: "it has \(tokenizer.vocabularySize) tokens but the model's vocabulary holds \(model.vocabularySize); they do not belong together")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.prefix = prefix
    }

    /// Ids that end generation: the tokenizer's eos and, for chat models, the end-of-turn marker.
    public var endOfSequenceIDs: Set<Int> { Self.endOfSequenceIDs(of: tokenizer) }

    /// The ids that end a turn for `tokenizer`: its eos and the end-of-turn markers of chat formats
    /// (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`) it has.
    public static func endOfSequenceIDs(of tokenizer: Tokenizer) -> Set<Int> {
        var ids = Set<Int>()
        if let eos = tokenizer.specialTokens.eos?.id { ids.insert(eos) }
        for marker in ["<|im_end|>", "<|eot_id|>", "<end_of_turn>"] { if let id = tokenizer.id(for: marker) { ids.insert(id) } }
        return ids
    }

    /// `options` fitted to this tokenizer: it also stops at the end-of-turn ids, and never picks an id
    /// the tokenizer cannot spell (a model's vocabulary may be padded beyond its tokenizer's).
    public func fitted(_ options: GenerationOptions) -> GenerationOptions {
        var options = options
        if options.stopsAtEndOfSequence { options.stopTokenIDs.formUnion(endOfSequenceIDs) }
        options.selectableIDs = min(options.selectableIDs ?? .max, tokenizer.vocabularySize)
        return options
    }

    /// Continues `prompt` (token ids); returns the generated text.
    @discardableResult
    public func generate(prompt: [Int], options: GenerationOptions, stopStrings: [String] = [],
                         onText: (String) throws -> Void = { _ in }) throws -> String {
        try complete(prompt: prompt, options: options, stopStrings: stopStrings, onText: onText).text
    }

    /// What a completion produced: its text, how many tokens it took, and why it ended.
    public struct Completion: Sendable, Equatable {
        /// Why generation ended (OpenAI's `finish_reason`).
        public enum FinishReason: String, Sendable {
            /// An end-of-sequence token or a stop string.
            case stop
            /// The token budget (`maxNewTokens`) or the model's context ran out.
            case length
        }
        /// The generated text (stop strings left out).
        public var text: String
        /// Tokens generated (including one that ended generation).
        public var tokenCount: Int
        /// Why it ended.
        public var finishReason: FinishReason
        /// Each generated token of the text with its log probability and the most likely
        /// alternatives (when asked for: `complete(…, logprobs:)`); an ending end-of-sequence token is left out.
        public var logprobs: [TokenLogprob] = []
    }

    /// One generated token's log probability under the model (log-softmax of its raw logits), and
    /// the `top` most likely tokens at that step.
    public struct TokenLogprob: Sendable, Equatable {
        /// The token id.
        public var id: Int
        /// Its log probability.
        public var logprob: Float
        /// The most likely ids at that step with their log probabilities, most likely first.
        public var top: [(id: Int, logprob: Float)]

        /// Equal ids, log probabilities and alternatives.
        public static func == (lhs: TokenLogprob, rhs: TokenLogprob) -> Bool {
            lhs.id == rhs.id && lhs.logprob == rhs.logprob && lhs.top.map(\.id) == rhs.top.map(\.id) && lhs.top.map(\.logprob) == rhs.top.map(\.logprob)
        }
    }

    /// Continues `prompt` (token ids), streaming text to `onText` (which may throw to cancel), and
    /// returns the text with its token count and finish reason.
    /// - Parameter logprobs: also record each token's log probability and this many alternatives.
    public func complete(prompt: [Int], options: GenerationOptions, stopStrings: [String] = [], logprobs: Int? = nil,
                         onText: (String) throws -> Void = { _ in }) throws -> Completion {
        try complete(prompt: prompt, options: options, stopStrings: stopStrings, logprobs: logprobs) { text, _ in try onText(text) }
    }

    /// `complete`, streaming each piece of text with the log probabilities of the tokens that
    /// produced it since the previous piece (empty without `logprobs`). Tokens whose text a stop
    /// string removes, and an ending end-of-sequence token, are in no piece.
    public func complete(prompt: [Int], options: GenerationOptions, stopStrings: [String] = [], logprobs: Int?,
                         onPiece: (String, [TokenLogprob]) throws -> Void) throws -> Completion {
        let options = fitted(options)
        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        var filter = StopStringFilter(stops: stopStrings)
        var result = ""
        var recorded: [TokenLogprob] = []
        var tokensSeen = 0, tokensEmitted = 0
        func emit(_ text: String) throws {
            guard !text.isEmpty else { return }
            result += text
            let upTo = min(recorded.count, tokensSeen)
            let fresh = upTo > tokensEmitted ? Array(recorded[tokensEmitted..<upTo]) : []
            tokensEmitted = max(tokensEmitted, upTo)
            try onPiece(text, fresh)
        }
        let onScores: ((Int, [Float]) throws -> Void)? = logprobs.map { top in { id, scores in
            let limit = min(scores.count, self.tokenizer.vocabularySize)
            let peak = scores[0..<limit].max() ?? 0
            let logSum = log(scores[0..<limit].reduce(Float(0)) { $0 + exp($1 - peak) }) + peak
            let best = top > 0 ? scores[0..<limit].enumerated().sorted { $0.element > $1.element }.prefix(top).map { ($0.offset, $0.element - logSum) } : []
            recorded.append(TokenLogprob(id: id, logprob: scores[id] - logSum, top: best))
        } }
        func onToken(_ id: Int) throws -> Bool {
            tokensSeen += 1
            guard let piece = try decoder.step(id) else { return true }
            try emit(filter.feed(piece))
            return !filter.stopped
        }
        let ids = try tokenSource.map { try $0(prompt, options, prefix, onScores, onToken) }
            ?? model.generate(prompt: prompt, options: options, prefix: prefix, onScores: onScores, onToken: onToken)
        if !filter.stopped, let rest = try decoder.finish() { try emit(filter.feed(rest)) }
        try emit(filter.flush())
        // Fewer ids than the budget without a stop string: an end-of-sequence id ended it (sampled,
        // counted, not returned). Otherwise the budget did, unless a stop string came first.
        let virtualTokens = (prefix ?? (tokenSource == nil ? model.attachedPrefix : nil))?.shape.first ?? 0
        let budget = min(options.maxNewTokens, model.contextLength - prompt.count - virtualTokens)
        let endedByEndOfSequence = !filter.stopped && ids.count < budget
        if recorded.count > ids.count { recorded.removeLast(recorded.count - ids.count) }
        return Completion(text: result, tokenCount: ids.count + (endedByEndOfSequence ? 1 : 0),
                          finishReason: filter.stopped || endedByEndOfSequence ? .stop : .length, logprobs: recorded)
    }

    /// Renders `messages` with the model's chat template and generates the assistant's reply.
    @discardableResult
    public func chat(_ messages: [ChatMessage], options: GenerationOptions, stopStrings: [String] = [],
                     onText: (String) throws -> Void = { _ in }) throws -> String {
        try generate(prompt: try tokenizer.encodeChat(messages, addGenerationPrompt: true), options: options,
                     stopStrings: stopStrings, onText: onText)
    }
}

/// Holds back text that could still become a stop string, so no stop string is ever emitted, and
/// notices when one has appeared.
public struct StopStringFilter {
    let stops: [[Character]]
    private var pending: [Character] = []
    /// True once a stop string has been seen.
    public private(set) var stopped = false

    /// A filter that holds back text until it cannot start one of `stops`.
    public init(stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }.map(Array.init)
    }

    /// Adds text; returns the part that is safe to emit now (before any stop string).
    public mutating func feed(_ text: String) -> String {
        guard !stopped else { return "" }
        guard !stops.isEmpty else { return text }
        pending.append(contentsOf: text)
        if let start = stops.compactMap({ firstOccurrence(of: $0, in: pending) }).min() {
            let safe = String(pending[..<start])
            pending.removeAll()
            stopped = true
            return safe
        }
        let keep = min(pending.count, (stops.map(\.count).max() ?? 1) - 1)
        let safe = String(pending[..<(pending.count - keep)])
        pending.removeFirst(pending.count - keep)
        return safe
    }

    /// What is still held back, at the end of generation (empty after a stop).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return stopped ? "" : String(pending)
    }

    private func firstOccurrence(of needle: [Character], in haystack: [Character]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<(start + needle.count)]) == needle { return start }
        return nil
    }
}
