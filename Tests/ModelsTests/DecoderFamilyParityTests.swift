import Autograd
import Foundation
import ModelIO
import Models
import Testing
import Tensors

/// Tiny random checkpoints of every decoder family written by transformers
/// (Fixtures/make_decoder_families.py): one decoder implementation, described per family, must give
/// transformers' logits and greedy tokens for each.
@Suite("Decoder families: parity with transformers")
struct DecoderFamilyParityTests {
    static let families = TinyModelParityTests.fixtures.appendingPathComponent("families")

    struct Reference: Decodable {
        let input_ids: [Int]; let attention_mask: [Int]; let shape: [Int]; let logits: [Float]
        let greedy_prompt: [Int]; let greedy: [Int]; let lora_logits: [Float]
    }

    /// Fixtures that are a family in another family's shape: Llama 3.2's rope scaling, Phi-4-mini's LongRoPE.
    static let familyOf = ["llama32": "llama", "phi4mini": "phi3"]

    static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: families.appendingPathComponent(name).appendingPathComponent("reference.json")))
    }

    /// The largest |Δ| over the positions the mask marks real (padded rows' outputs mean nothing).
    static func worstDifference(_ logits: Tensor, _ reference: Reference, expected: [Float]) -> Float {
        let vocabulary = reference.shape[2]
        let values = logits.toArray()
        var worst: Float = 0
        for (position, flag) in reference.attention_mask.enumerated() where flag == 1 {
            for v in 0..<vocabulary {
                let i = position * vocabulary + v
                worst = max(worst, abs(values[i] - expected[i]))
            }
        }
        return worst
    }

    @Test("each family's logits within 1e-4 of transformers and the same greedy tokens",
          arguments: ["mistral", "qwen2", "qwen3", "gemma3", "phi3", "llama32", "phi4mini"])
    func family(_ name: String) throws {
        let reference = try Self.reference(name)
        let model = try DecoderForCausalLM.load(from: Self.families.appendingPathComponent(name))
        #expect(model.family.name == (Self.familyOf[name] ?? name))
        #expect(model.loadReport.unexpectedKeys.isEmpty, "unexpected: \(model.loadReport.unexpectedKeys)")
        let logits = try withoutGradients {
            try model(reference.input_ids, batch: reference.shape[0], keyMask: reference.attention_mask.map { $0 == 1 }).value
        }
        #expect(logits.shape == reference.shape)
        let worst = Self.worstDifference(logits, reference, expected: reference.logits)
        #expect(worst < 1e-4, "\(name): max |Δ| = \(worst)")
        print("\(name): logits max |Δ| = \(worst)")
        let continuation = try model.generate(prompt: reference.greedy_prompt, options: GenerationOptions(maxNewTokens: reference.greedy.count))
        #expect(continuation == reference.greedy, "\(name): greedy \(continuation) vs transformers \(reference.greedy)")
    }

    @Test("what each family adds is read from config.json")
    func configurations() throws {
        func load(_ name: String) throws -> DecoderConfiguration {
            try DecoderConfiguration(json: try JSONValue.parse(Data(contentsOf: Self.families.appendingPathComponent(name).appendingPathComponent("config.json"))))
        }
        let gemma = try load("gemma3")
        #expect(gemma.layerTypes == [.sliding, .sliding, .sliding, .sliding, .sliding, .full])
        #expect(gemma.slidingWindow == 8 && gemma.slidingRopeTheta == 10_000 && gemma.ropeTheta == 1_000_000)
        #expect(gemma.attentionScale == Float(1 / 12.0.squareRoot()) && gemma.finalLogitSoftcap == 5 && gemma.activation == .geluTanh)
        #expect(gemma.tieWordEmbeddings && gemma.headDimension == 16 && gemma.attentionHeads * gemma.headDimension != gemma.hiddenSize)
        let phi = try load("phi3")
        #expect(phi.rotaryDimension == phi.headDimension / 2 && phi.layerTypes == [.sliding, .sliding] && phi.slidingWindow == 12)
        let qwen2 = try load("qwen2")
        #expect(qwen2.layerTypes == [.full, .sliding, .sliding] && qwen2.attentionBias)
        let qwen3 = try load("qwen3")
        #expect(qwen3.headDimension == 128 && !qwen3.attentionBias && qwen3.layerTypes.allSatisfy { $0 == .full })
        #expect(try load("mistral").slidingWindow == 8)
        #expect(try load("llama32").ropeScaling == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 16))
        let phi4 = try load("phi4mini")
        guard case let .longRoPE(short, long, original, attention)? = phi4.ropeScaling else { Issue.record("no longrope"); return }
        #expect(short.count == 3 && long.count == 3 && original == 32 && phi4.rotaryDimension == 6)
        #expect(abs(attention - Float((1 + Foundation.log(8.0) / Foundation.log(32.0)).squareRoot())) < 1e-6)
    }

    @Test("a config.json written for each family reads back as the same configuration")
    func configurationRoundTrip() throws {
        for name in ["mistral", "qwen2", "qwen3", "gemma3", "phi3", "llama32", "phi4mini"] {
            let model = try DecoderForCausalLM.load(from: Self.families.appendingPathComponent(name))
            let written = model.configuration.huggingFaceJSON(bosTokenID: 1, eosTokenID: 2)
            let reread = try DecoderConfiguration(json: try JSONValue.parse(Data(written.prettyPrinted().utf8)))
            #expect(reread == model.configuration, "\(name): \(reread) vs \(model.configuration)")
        }
    }

    @Test("a GGUF written as llama.cpp's converter writes the family (fused Phi-3 tensors, Gemma norms plus one) loads to the folder's weights and logits",
          arguments: ["qwen3", "phi3", "gemma3", "phi4mini"])
    func gguf(_ name: String) throws {
        let reference = try Self.reference(name)
        let model = try DecoderForCausalLM.load(from: Self.families.appendingPathComponent("\(name).gguf"))
        let folder = try DecoderForCausalLM.load(from: Self.families.appendingPathComponent(name))
        #expect(model.family.name == (Self.familyOf[name] ?? name) && model.loadReport.unexpectedKeys.isEmpty)
        var expected = folder.configuration
        if name == "gemma3" {
            // A Gemma GGUF carries no query_pre_attn_scalar or soft-capping: llama.cpp's 1/√head_dim applies.
            expected.attentionScale = 1 / Float(expected.headDimension).squareRoot()
            expected.finalLogitSoftcap = nil
        }
        #expect(model.configuration == expected, "\(model.configuration) vs \(expected)")
        let loaded = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.path, $0.parameter.value) })
        for (path, parameter) in folder.namedParameters() {
            let value = try #require(loaded[path], "\(path) is missing")
            let worst = zip(value.toArray(), parameter.value.toArray()).map { abs($0 - $1) }.max() ?? 0
            #expect(value.shape == parameter.shape && worst <= 1e-6, "\(path): max |Δ| = \(worst)")
        }
        let mask = reference.attention_mask.map { $0 == 1 }
        let logits = try withoutGradients { try model(reference.input_ids, batch: reference.shape[0], keyMask: mask).value }
        // Gemma's GGUF computes with its own scale, so its reference is the folder's weights under that configuration.
        var expectedLogits = reference.logits
        if expected != folder.configuration {
            let rebuilt = try DecoderForCausalLM(expected)
            try rebuilt.loadStateDictionary(folder.stateDictionary(), strict: true)
            expectedLogits = try withoutGradients { try rebuilt(reference.input_ids, batch: reference.shape[0], keyMask: mask).value.toArray() }
        }
        #expect(Self.worstDifference(logits, reference, expected: expectedLogits) < 1e-4)
    }

    @Test("a sliding layer's cache stops growing, and cached decoding equals the uncached forward past the window")
    func slidingCache() throws {
        let model = try DecoderForCausalLM.load(from: Self.families.appendingPathComponent("gemma3"))
        let ids = (0..<60).map { 3 + ($0 * 37) % 90 }
        let full = try withoutGradients { try model(ids).value }
        let cache = model.makeCache()
        var stepped: [[Float]] = []
        stepped.append(try withoutGradients { try model.lastLogits(Array(ids.prefix(5)), cache: cache) })
        for id in ids.dropFirst(5) { stepped.append(try withoutGradients { try model.lastLogits([id], cache: cache) }) }
        #expect(cache.length == 60)
        #expect(cache.retainedPositions(layer: 0) < 2 * 8 + 1, "sliding layer holds \(cache.retainedPositions(layer: 0)) positions")
        #expect(cache.retainedPositions(layer: 5) == 60)
        let vocabulary = model.vocabularySize
        let expected = full.toArray()
        for (step, logits) in stepped.enumerated() {
            let position = step + 4
            let row = Array(expected[(position * vocabulary)..<((position + 1) * vocabulary)])
            let worst = zip(logits, row).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst < 1e-4, "position \(position): max |Δ| = \(worst)")
        }
    }
}
