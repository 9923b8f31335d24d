import Autograd
import Foundation
import Tensors

/// How to choose each next token.
public struct GenerationOptions: Sendable {
    /// Most tokens to generate.
    public var maxNewTokens: Int = 128
    /// 0 means greedy (argmax); otherwise logits are divided by it before sampling.
    public var temperature: Float = 0
    /// Keep only the k most likely tokens (0 = all).
    public var topK: Int = 0
    /// Keep the smallest set of tokens whose probability reaches p (1 = all).
    public var topP: Float = 1
    /// > 1 discourages tokens already present in the prompt or output (CTRL-style, as transformers).
    public var repetitionPenalty: Float = 1
    /// Token ids that end generation (not included in the result).
    public var stopTokenIDs: Set<Int> = []
    /// Seed for sampling.
    public var seed: UInt64 = 0
    /// How each new token's products with packed GGUF weights (all but NF4) are computed: with integer
    /// activations by default (about twice as fast, as llama.cpp decodes), or `.exact` for results
    /// equal to the dequantized model's. The prompt, float weights and training are always exact.
    public var packedDecode: QuantizedMatrix.DecodeArithmetic = .integerActivations
    /// When set, only ids below it are ever chosen: a model whose vocabulary is padded beyond its
    /// tokenizer's (Qwen, tiny checkpoints) then never emits an id the tokenizer cannot spell.
    /// `TextGenerator` and evaluation set it to the tokenizer's size.
    public var selectableIDs: Int? = nil
    /// Prompt tokens run per pass before the first new token. Attention over a pass needs
    /// `chunk × positions` scores, so a long prompt's memory grows with its length, not its square
    /// (an 8,000-token prompt: 256 × 8,000 scores per head instead of 8,000²).
    public var prefillChunk: Int = 256
    /// When false, `TextGenerator` does not add the tokenizer's end-of-sequence ids to the stop
    /// tokens, so generation runs to `maxNewTokens` (vLLM's and llama.cpp's `ignore_eos`: for
    /// benchmarks that need answers of a fixed length).
    public var stopsAtEndOfSequence = true

    /// Options; the defaults decode greedily.
    public init(maxNewTokens: Int = 128, temperature: Float = 0, topK: Int = 0, topP: Float = 1,
                repetitionPenalty: Float = 1, stopTokenIDs: Set<Int> = [], seed: UInt64 = 0,
                packedDecode: QuantizedMatrix.DecodeArithmetic = .integerActivations) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.stopTokenIDs = stopTokenIDs
        self.seed = seed
        self.packedDecode = packedDecode
    }

    func validate() throws {
        guard maxNewTokens >= 0 else { throw ModelError.invalidGenerationParameter("max new tokens must be ≥ 0, got \(maxNewTokens)") }
        guard temperature >= 0, temperature.isFinite else { throw ModelError.invalidGenerationParameter("temperature must be ≥ 0, got \(temperature)") }
        guard topK >= 0 else { throw ModelError.invalidGenerationParameter("top-k must be ≥ 0, got \(topK)") }
        guard topP > 0 && topP <= 1 else { throw ModelError.invalidGenerationParameter("top-p must be in (0, 1], got \(topP)") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
            throw ModelError.invalidGenerationParameter("repetition penalty must be > 0, got \(repetitionPenalty)")
        }
        if let selectableIDs { guard selectableIDs > 0 else { throw ModelError.invalidGenerationParameter("selectable ids must be > 0, got \(selectableIDs)") } }
        guard prefillChunk > 0 else { throw ModelError.invalidGenerationParameter("the prefill chunk must be > 0, got \(prefillChunk)") }
    }
}

extension CausalLanguageModel {
    /// Generates up to `options.maxNewTokens` ids after `prompt` with a KV cache, calling `onToken`
    /// with each new id (return false to stop), and stopping at the model's context length.
    /// Returns the generated ids. The prompt runs in passes of `options.prefillChunk` tokens.
    ///
    /// - Parameter prefix: virtual-token embeddings `[P, C]` run before the prompt (a prompt-tuning
    ///   adapter's; nil: the model's `attachedPrefix`, if any); they count against the context.
    /// - Throws: `ModelError.invalidGenerationParameter` for an empty prompt or bad options,
    ///   `ModelError.contextOverflow` for a prompt longer than the context.
    @discardableResult
    public func generate(prompt: [Int], options: GenerationOptions, prefix: Variable? = nil,
                         onToken: (Int) throws -> Bool = { _ in true }) throws -> [Int] {
        try generate(prompt: prompt, options: options, prefix: prefix, onScores: nil, onToken: onToken)
    }

    /// `generate`, also calling `onScores` at each step with the chosen id and the model's raw
    /// next-token logits (before temperature, penalties and filtering), as log probabilities need them.
    @discardableResult
    public func generate(prompt: [Int], options: GenerationOptions, prefix: Variable? = nil, onScores: ((Int, [Float]) throws -> Void)?,
                         onToken: (Int) throws -> Bool) throws -> [Int] {
        // An attached prompt-tuning adapter counts against the context too.
        var sequence = try SequenceDecoding(prompt: prompt, options: options, prefix: prefix ?? attachedPrefix, contextLength: contextLength)
        eval()
        return try QuantizedMatrix.$decodeArithmetic.withValue(options.packedDecode) {
            try withoutGradients { try decode(&sequence, onScores: onScores, onToken: onToken) }
        }
    }

    /// The token loop of `generate`: the prompt (and prefix) in passes, then one token at a time.
    private func decode(_ sequence: inout SequenceDecoding, onScores: ((Int, [Float]) throws -> Void)?,
                        onToken: (Int) throws -> Bool) throws -> [Int] {
        let cache = makeCache()
        while let pass = sequence.nextPass {
            let hidden = try hiddenStates(pass.ids, batch: 1, keyMask: nil, cache: cache, prefix: pass.prefix, segments: nil)
            guard pass.choosesToken else {
                sequence.advance()
                continue
            }
            let steps = hidden.shape[1]
            var scores: [Float] = logits(from: hidden.slice(axis: 1, (steps - 1)..<steps)).value.toArray()
            let raw = onScores == nil ? [] : scores
            let choice = sequence.choose(from: &scores)
            if let onScores { try onScores(choice.id, raw) }
            if choice.stops { break }
            if try !onToken(choice.id) { break }
        }
        return sequence.output
    }

}

/// Turns next-token scores into a choice.
enum TokenChooser {
    /// Applies the penalty and filters, then picks greedily or by sampling.
    static func choose(_ scores: inout [Float], history: [Int], options: GenerationOptions, generator: inout SeededRandom) -> Int {
        if let limit = options.selectableIDs, limit < scores.count { scores.removeLast(scores.count - limit) }
        if options.repetitionPenalty != 1 {
            for id in Set(history) where id >= 0 && id < scores.count {
                scores[id] = scores[id] > 0 ? scores[id] / options.repetitionPenalty : scores[id] * options.repetitionPenalty
            }
        }
        if options.temperature == 0 {
            var best = 0
            for i in 1..<scores.count where scores[i] > scores[best] { best = i }
            return best
        }
        var candidates = scores.indices.map { ($0, scores[$0] / options.temperature) }
        candidates.sort { $0.1 > $1.1 }
        if options.topK > 0 { candidates = Array(candidates.prefix(options.topK)) }
        let maximum = candidates[0].1
        var probabilities = candidates.map { Foundation.exp(Double($0.1 - maximum)) }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }
        if options.topP < 1 {
            var cumulative = 0.0
            var keep = 0
            while keep < probabilities.count {
                cumulative += probabilities[keep]
                keep += 1
                if cumulative >= Double(options.topP) { break }
            }
            candidates = Array(candidates.prefix(keep))
            probabilities = Array(probabilities.prefix(keep))
            let kept = probabilities.reduce(0, +)
            probabilities = probabilities.map { $0 / kept }
        }
        var draw = generator.nextUniformDouble()
        for (index, probability) in probabilities.enumerated() {
            draw -= probability
            if draw < 0 { return candidates[index].0 }
        }
        return candidates[candidates.count - 1].0
    }
}
