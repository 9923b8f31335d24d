import Autograd
import Foundation
@testable import Models
import NN
import Testing
import Tensors

/// A long prompt runs in passes (issue 24, item 3): each pass attends over the cache filled by the
/// earlier ones, so memory grows with the prompt's length, not its square, and the result is the
/// one-pass result.
@Suite("Prefill in passes")
struct PrefillTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func model(_ name: String) throws -> any CausalLanguageModel {
        switch name {
        case "tiny-gpt2": try GPT2LMHeadModel.load(folder: fixtures.appendingPathComponent(name))
        case "tiny-llama": try DecoderForCausalLM.load(folder: fixtures.appendingPathComponent(name))
        default: try DecoderForCausalLM.load(folder: fixtures.appendingPathComponent("families/\(name)"))
        }
    }

    @Test("passes of 7 tokens through the cache give the one-pass logits (sliding windows of 8 included)",
          arguments: ["tiny-llama", "tiny-gpt2", "gemma3", "mistral", "phi3"])
    func chunksMatchOnePass(_ name: String) throws {
        let model = try Self.model(name)
        let ids = (0..<45).map { ($0 * 7 + 3) % 40 + 5 }
        let full = try withoutGradients { try model.hiddenStates(ids, batch: 1, keyMask: nil, cache: nil, prefix: nil, segments: nil).value }
        let cache = model.makeCache()
        var passes: [Tensor] = []
        try withoutGradients {
            for start in stride(from: 0, to: ids.count, by: 7) {
                let chunk = Array(ids[start..<min(start + 7, ids.count)])
                passes.append(try model.hiddenStates(chunk, batch: 1, keyMask: nil, cache: cache, prefix: nil, segments: nil).value)
            }
        }
        let combined = Tensor.concatenate(passes, axis: 1)
        #expect(combined.shape == full.shape)
        #expect(combined.maxAbsDifference(full) < 1e-4, "\(name)")
    }

    @Test("generate gives the same tokens whatever the prefill chunk, with and without a prompt-tuning prefix")
    func generationIgnoresTheChunk() throws {
        let model = try Self.model("gemma3")
        let prompt = (0..<37).map { ($0 * 11 + 1) % 40 + 5 }
        var options = GenerationOptions(maxNewTokens: 6)
        options.prefillChunk = 1000
        let whole = try model.generate(prompt: prompt, options: options)
        options.prefillChunk = 5
        #expect(try model.generate(prompt: prompt, options: options) == whole)
        var generator = SeededRandom(seed: 4)
        let width = try withoutGradients { try model.hiddenStates([5], batch: 1, keyMask: nil, cache: nil, prefix: nil, segments: nil).value.shape[2] }
        let prefix = Variable(Tensor.randomNormal([3, width], std: 0.5, generator: &generator))
        options.prefillChunk = 1000
        let prefixed = try model.generate(prompt: prompt, options: options, prefix: prefix)
        options.prefillChunk = 4
        #expect(try model.generate(prompt: prompt, options: options, prefix: prefix) == prefixed)
        options.prefillChunk = 0
        #expect(throws: ModelError.self) { try model.generate(prompt: prompt, options: options) }
    }
}
