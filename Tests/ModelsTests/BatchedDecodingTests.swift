import Autograd
import Foundation
import Models
import NN
import Testing
import Tensors

/// `BatchedDecoding`: sequences at different positions, each with its own cache, decoded in one
/// pass get the logits they get alone, bit for bit, in every decoder family (sliding windows,
/// fused projections, scaled embeddings, per-head norms).
@Suite("Batched decoding")
struct BatchedDecodingTests {
    @Test("seven sequences of different lengths, short prompt pieces batched with tokens, equal their own generation, logits bit for bit",
          arguments: ["llama32", "mistral", "qwen2", "qwen3", "gemma3", "phi3"])
    func family(_ name: String) throws {
        let model = try DecoderForCausalLM.load(from: DecoderFamilyParityTests.families.appendingPathComponent(name))
        var options = GenerationOptions(maxNewTokens: 9)
        options.prefillChunk = 5
        let vocabulary = min(model.vocabularySize, 90)
        let prompts = [1, 4, 12, 7, 2, 16, 9].enumerated().map { index, count in (0..<count).map { 1 + ($0 * 13 + index * 29) % (vocabulary - 1) } }
        var references: [[[Float]]] = []
        for prompt in prompts {
            var scores: [[Float]] = []
            _ = try model.generate(prompt: prompt, options: options, onScores: { scores.append($1) }, onToken: { _ in true })
            references.append(scores)
        }
        // As a server's scheduler runs them: each round, one prompt piece of more than 4 rows alone,
        // then everything else (decoding tokens, short pieces) in one pass.
        var sequences = try prompts.map { try SequenceDecoding(prompt: $0, options: options, prefix: nil, contextLength: model.contextLength) }
        let caches = prompts.map { _ in model.makeCache() }
        var scores = prompts.map { _ in [[Float]]() }
        var largest = 0, largestPrompts = 0
        try withoutGradients {
            func run(_ group: [Int]) throws {
                guard !group.isEmpty else { return }
                let passes = group.map { sequences[$0].nextPass! }
                let logits = try model.lastLogits(batch: zip(passes, group).map { SequenceStep(ids: $0.ids, cache: caches[$1]) })
                for (row, index) in group.enumerated() {
                    if passes[row].choosesToken {
                        var chosen = logits[row]
                        scores[index].append(logits[row])
                        _ = sequences[index].choose(from: &chosen)
                    } else {
                        sequences[index].advance()
                    }
                }
            }
            while sequences.contains(where: { !$0.isFinished }) {
                if let long = sequences.indices.first(where: { !sequences[$0].isFinished && sequences[$0].nextPass!.ids.count > 4 }) {
                    largestPrompts += 1
                    try run([long])
                }
                let short = sequences.indices.filter { !sequences[$0].isFinished && sequences[$0].nextPass!.ids.count <= 4 }
                largest = max(largest, short.count)
                try run(short)
            }
        }
        #expect(largestPrompts >= 5, "long prompt pieces ran")
        #expect(largest == prompts.count)
        for index in prompts.indices {
            #expect(scores[index] == references[index], "\(name): sequence \(index) (prompt of \(prompts[index].count))")
        }
    }

    @Test("a batch past the context is a typed error; an empty step is refused")
    func errors() throws {
        let model = try DecoderForCausalLM.load(from: DecoderFamilyParityTests.families.appendingPathComponent("llama32"))
        let cache = model.makeCache()
        #expect(throws: ModelError.self) {
            try withoutGradients { try model.lastLogits(batch: [SequenceStep(ids: Array(repeating: 1, count: model.contextLength + 1), cache: cache)]) }
        }
        #expect(throws: ModelError.self) { try withoutGradients { try model.lastLogits(batch: [SequenceStep(ids: [], cache: model.makeCache())]) } }
    }
}
