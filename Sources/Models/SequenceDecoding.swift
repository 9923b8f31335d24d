import Autograd
import Tensors

/// One sequence's generation, step by step: which tokens its next forward pass runs, and what
/// follows from the logits of that pass (the chosen token, or the end). `generate` drives one; a
/// scheduler that decodes many sequences together drives one per sequence, so a sequence's tokens
/// are chosen by the same code however it is run.
///
/// The prompt runs in passes of `options.prefillChunk` tokens (the prefix, if any, with the
/// first); only the last pass's logits choose a token. Then each chosen token is the next pass.
public struct SequenceDecoding {
    /// The options, as validated.
    public let options: GenerationOptions
    /// Most tokens this sequence may still produce: the options' limit or the context's room.
    public let budget: Int
    /// The prompt's length.
    public let promptCount: Int
    /// Tokens chosen so far (an ending stop token is not among them).
    public private(set) var output: [Int] = []
    /// True once the budget is spent, a stop token was chosen, or `finish()` was called.
    public private(set) var isFinished = false
    private var history: [Int]
    private var pending: [Int]
    private var prefix: Variable?
    private var generator: SeededRandom

    /// What the next forward pass of the sequence runs.
    public struct Pass {
        /// Token ids after the cached positions.
        public let ids: [Int]
        /// Virtual-token embeddings `[P, C]` placed before `ids` (only on the first pass).
        public let prefix: Variable?
        /// True when the pass's last logits choose a token (`choose(from:)`); false for a pass that
        /// only fills the cache (`advance()`).
        public let choosesToken: Bool
    }

    /// The outcome of a pass that chose a token.
    public struct Choice {
        /// The chosen id.
        public let id: Int
        /// True when `id` is a stop token: generation ends and `id` is not part of the output.
        public let stops: Bool
    }

    /// A sequence continuing `prompt` with `options` on a model of `contextLength` positions.
    /// - Parameter prefix: virtual-token embeddings `[P, C]` before the prompt; they count against the context.
    /// - Throws: `ModelError.invalidGenerationParameter` for an empty prompt or bad options,
    ///   `ModelError.contextOverflow` for a prompt longer than the context.
    public init(prompt: [Int], options: GenerationOptions, prefix: Variable?, contextLength: Int) throws {
        try options.validate()
        guard !prompt.isEmpty else { throw ModelError.invalidGenerationParameter("the prompt is empty") }
        let virtualTokens = prefix?.shape.first ?? 0
        guard prompt.count + virtualTokens <= contextLength else {
            throw ModelError.contextOverflow(positions: prompt.count + virtualTokens, context: contextLength)
        }
        self.options = options
        self.prefix = prefix
        promptCount = prompt.count
        budget = min(options.maxNewTokens, contextLength - prompt.count - virtualTokens)
        history = prompt
        pending = prompt
        generator = SeededRandom(seed: options.seed)
        isFinished = budget <= 0
    }

    /// The next pass to run, or nil when the sequence is finished.
    public var nextPass: Pass? {
        guard !isFinished else { return nil }
        if pending.count > options.prefillChunk {
            return Pass(ids: Array(pending.prefix(options.prefillChunk)), prefix: prefix, choosesToken: false)
        }
        return Pass(ids: pending, prefix: prefix, choosesToken: true)
    }

    /// Records that a pass which does not choose a token has run.
    public mutating func advance() {
        precondition(nextPass?.choosesToken == false, "SequenceDecoding.advance: the next pass chooses a token")
        pending.removeFirst(options.prefillChunk)
        prefix = nil
    }

    /// Chooses the next token from the last position's raw `logits` of the pass that `nextPass` gave
    /// (it may reorder or cut `logits`: pass a copy to keep them).
    public mutating func choose(from logits: inout [Float]) -> Choice {
        precondition(nextPass?.choosesToken == true, "SequenceDecoding.choose: the next pass only fills the cache")
        prefix = nil
        let next = TokenChooser.choose(&logits, history: history, options: options, generator: &generator)
        if options.stopTokenIDs.contains(next) {
            isFinished = true
            return Choice(id: next, stops: true)
        }
        output.append(next)
        history.append(next)
        pending = [next]
        if output.count >= budget { isFinished = true }
        return Choice(id: next, stops: false)
    }

    /// Ends the sequence early (its consumer wants no more tokens).
    public mutating func finish() { isFinished = true }
}
