import Autograd
import Foundation
import ModelIO
@testable import Models
import Testing
import Tensors

@Suite("Llama architecture")
struct LlamaTests {
    static let tiny = LlamaConfiguration(vocabularySize: 50, hiddenSize: 16, intermediateSize: 24, layerCount: 2,
                                         attentionHeads: 4, keyValueHeads: 2, ropeTheta: 10_000, rmsNormEpsilon: 1e-5,
                                         tieWordEmbeddings: true)

    @Test("parameter paths are the Hugging Face names")
    func names() throws {
        let model = try LlamaForCausalLM(Self.tiny)
        let paths = model.namedParameters().map(\.path)
        #expect(paths.contains("model.embed_tokens.weight"))
        #expect(paths.contains("model.layers.1.self_attn.k_proj.weight"))
        #expect(paths.contains("model.layers.0.mlp.down_proj.weight"))
        #expect(paths.contains("model.norm.weight"))
        #expect(!paths.contains("lm_head.weight"))
        let untied = try LlamaForCausalLM(LlamaConfiguration(vocabularySize: 50, hiddenSize: 16, intermediateSize: 24, layerCount: 1,
                                                             attentionHeads: 4, keyValueHeads: 2))
        #expect(untied.namedParameters().map(\.path).contains("lm_head.weight"))
    }

    @Test("a KV-cached step equals the uncached forward, on a long sequence")
    func cacheMatchesFullForward() throws {
        let model = try LlamaForCausalLM(Self.tiny, seed: 3)
        let ids = (0..<40).map { ($0 * 7 + 3) % 50 }
        let full = try withoutGradients { try model(ids).value }
        let cache = model.makeCache()
        var stepwise: [Tensor] = []
        try withoutGradients {
            stepwise.append(try model(Array(ids.prefix(30)), cache: cache).value)
            for id in ids.dropFirst(30) { stepwise.append(try model([id], cache: cache).value) }
        }
        let combined = Tensor.concatenate(stepwise, axis: 1)
        #expect(combined.shape == full.shape)
        #expect(combined.maxAbsDifference(full) < 1e-4)
    }

    @Test("the cache holds two rows position-major: steps of a batch of 2 equal its uncached forward")
    func batchedCacheMatchesFullForward() throws {
        let model = try LlamaForCausalLM(Self.tiny, seed: 4)
        let rows = [(0..<24).map { ($0 * 5 + 1) % 50 }, (0..<24).map { ($0 * 11 + 2) % 50 }]
        let full = try withoutGradients { try model(rows[0] + rows[1], batch: 2).value }
        let cache = model.makeCache()
        var stepwise: [Tensor] = []
        try withoutGradients {
            stepwise.append(try model(Array(rows[0].prefix(10)) + Array(rows[1].prefix(10)), batch: 2, cache: cache).value)
            for t in 10..<24 { stepwise.append(try model([rows[0][t], rows[1][t]], batch: 2, cache: cache).value) }
        }
        #expect(cache.length == 24)
        let combined = Tensor.concatenate(stepwise, axis: 1)
        #expect(combined.shape == full.shape)
        #expect(combined.maxAbsDifference(full) < 1e-4)
    }

    @Test("GGUF names map to HF names; q/k un-permutation inverts llama.cpp's permutation")
    func ggufMapping() {
        #expect(DecoderFamily.llama.huggingFaceName(forGGUF: "blk.3.attn_q.weight") == "model.layers.3.self_attn.q_proj.weight")
        #expect(DecoderFamily.llama.huggingFaceName(forGGUF: "blk.0.ffn_down.weight") == "model.layers.0.mlp.down_proj.weight")
        #expect(DecoderFamily.llama.huggingFaceName(forGGUF: "token_embd.weight") == "model.embed_tokens.weight")
        #expect(DecoderFamily.llama.huggingFaceName(forGGUF: "rope_freqs.weight") == nil)
        // llama.cpp: w.reshape(heads, 2, hd/2, cols).swapaxes(1, 2) — HF row s·hd/2+i → GGUF row 2i+s.
        let heads = 2, hd = 4, columns = 3
        let hf = (0..<(heads * hd * columns)).map(Float.init)
        var gguf = [Float](repeating: 0, count: hf.count)
        for h in 0..<heads { for s in 0..<2 { for i in 0..<(hd / 2) { for c in 0..<columns {
            gguf[(h * hd + 2 * i + s) * columns + c] = hf[(h * hd + s * hd / 2 + i) * columns + c]
        } } } }
        #expect(LlamaForCausalLM.unpermute(gguf, rows: heads * hd, columns: columns, heads: heads) == hf)
    }

    @Test("generation on packed weights: exact decoding gives the dequantized model's tokens; integer decoding runs")
    func packedDecoding() throws {
        // Widths that are multiples of 32, so every block linear is packed.
        let configuration = LlamaConfiguration(vocabularySize: 50, hiddenSize: 64, intermediateSize: 96, layerCount: 2,
                                               attentionHeads: 4, keyValueHeads: 2, ropeTheta: 10_000, rmsNormEpsilon: 1e-5,
                                               tieWordEmbeddings: true)
        let packed = try LlamaForCausalLM(configuration, seed: 5)
        let result = try packed.quantizeLinearLayers(under: "model.layers.", to: .q4_1)
        #expect(result.keptFloat.isEmpty && result.quantized.count == 14)
        let dequantized = try LlamaForCausalLM(configuration, seed: 6)
        try dequantized.loadStateDictionary(packed.stateDictionary(), strict: true)
        let prompt = [3, 9, 27, 4]
        let exact = try packed.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 12, packedDecode: .exact))
        #expect(exact == (try dequantized.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 12))))
        let integer = try packed.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 12))
        #expect(integer.count == 12 && integer.allSatisfy { (0..<50).contains($0) })
    }

    @Test("configuration errors are typed")
    func configurationErrors() throws {
        #expect(throws: ModelError.unsupportedArchitecture("gpt_neox")) {
            try LlamaConfiguration(json: try JSONValue.parse(#"{"model_type": "gpt_neox"}"#))
        }
        #expect(throws: ModelError.self) {
            try LlamaConfiguration(json: try JSONValue.parse(#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 2}"#))
        }
        #expect(throws: ModelError.self) { try LlamaForCausalLM.load(from: URL(fileURLWithPath: "/no/such/model.gguf")) }
    }

    @Test("generation: greedy is deterministic, sampling is seeded, bad options are errors")
    func generation() throws {
        let model = try LlamaForCausalLM(Self.tiny, seed: 5)
        let greedy = try model.generate(prompt: [1, 2, 3], options: GenerationOptions(maxNewTokens: 8))
        #expect(greedy.count == 8)
        #expect(try model.generate(prompt: [1, 2, 3], options: GenerationOptions(maxNewTokens: 8)) == greedy)
        let sampled = GenerationOptions(maxNewTokens: 8, temperature: 0.9, topK: 10, topP: 0.9, repetitionPenalty: 1.2, seed: 42)
        #expect(try model.generate(prompt: [1, 2, 3], options: sampled) == model.generate(prompt: [1, 2, 3], options: sampled))
        #expect(throws: ModelError.self) { try model.generate(prompt: [], options: GenerationOptions()) }
        #expect(throws: ModelError.self) { try model.generate(prompt: [1], options: GenerationOptions(topP: 0)) }
        var streamed: [Int] = []
        let stopped = try model.generate(prompt: [1, 2, 3], options: GenerationOptions(maxNewTokens: 8, stopTokenIDs: [greedy[2]])) {
            streamed.append($0)
            return true
        }
        let firstStop = greedy.firstIndex(of: greedy[2])!
        #expect(stopped == Array(greedy.prefix(firstStop)))
        #expect(streamed == stopped)
    }
}

/// Opt-in: set PEFTKIT_SMOLLM2_GGUF to the SmolLM2-135M-Instruct Q4_1 GGUF (see README).
@Suite("SmolLM2 against transformers", .enabled(if: ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"] != nil))
struct SmolLM2ParityTests {
    struct Reference: Decodable {
        let prompt_ids: [Int]; let indices: [Int]; let logits: [Float]; let top_ids: [Int]
        let question_ids: [Int]; let greedy_ids: [Int]; let greedy_text: String
    }

    static func reference() throws -> Reference {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/smollm2_reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    @Test("last-position logits on a 200+ token prompt and the greedy answer match transformers")
    func parity() throws {
        let model = try LlamaForCausalLM.load(from: URL(fileURLWithPath: ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"]!))
        let reference = try Self.reference()
        #expect(reference.prompt_ids.count >= 200)
        let logits = try withoutGradients { try model(reference.prompt_ids).value }
        let vocabulary = logits.shape[2]
        let last = Array(logits.toArray()[(logits.count - vocabulary)...])
        let worst = zip(reference.indices, reference.logits).map { abs(last[$0] - $1) }.max() ?? .infinity
        print("SmolLM2 parity: max |Δlogit| over \(reference.indices.count) vocabulary entries = \(worst)")
        #expect(worst < 2e-4, "max |Δlogit| = \(worst)")
        let top = last.indices.sorted { last[$0] > last[$1] }.prefix(5)
        #expect(Array(top) == Array(reference.top_ids.prefix(5)))
        let answer = try model.generate(prompt: reference.question_ids, options: GenerationOptions(maxNewTokens: 16, stopTokenIDs: [2]))
        #expect(answer == Array(reference.greedy_ids.prefix(answer.count)))
    }

    @Test("integer-activation decoding stays close to exact decoding: small logit error, the same greedy answer")
    func integerDecoding() throws {
        let url = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"]!)
        let packed = try LlamaForCausalLM.load(from: url, quantization: .keepGGUF)
        let reference = try Self.reference()
        // Last-position logits after the prompt: the Q8_0 head runs on int16 activations (one row), the prompt exactly.
        let exact = try withoutGradients { try packed.lastLogits(reference.question_ids, cache: packed.makeCache()) }
        let fast = try QuantizedMatrix.$decodeArithmetic.withValue(.integerActivations) {
            try withoutGradients { try packed.lastLogits(reference.question_ids, cache: packed.makeCache()) }
        }
        let errors = zip(exact, fast).map { abs($0 - $1) }
        let spread = exact.max()! - exact.min()!
        print("SmolLM2 integer-activation head: max |Δlogit| \(errors.max()!), mean \(errors.reduce(0, +) / Float(errors.count)), logit range \(spread)")
        #expect(errors.max()! < 1e-4 * spread, "the head's error must stay far below the gap between close logits")
        let answer = try packed.generate(prompt: reference.question_ids, options: GenerationOptions(maxNewTokens: 16, stopTokenIDs: [2]))
        let exactAnswer = try packed.generate(prompt: reference.question_ids,
                                              options: GenerationOptions(maxNewTokens: 16, stopTokenIDs: [2], packedDecode: .exact))
        #expect(answer == exactAnswer)
        #expect(exactAnswer == Array(reference.greedy_ids.prefix(exactAnswer.count)))
    }

    @Test("keeping the GGUF's Q4_1 blocks packed gives the dequantized model's logits exactly, at a fraction of the bytes")
    func packedBase() throws {
        let url = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"]!)
        let packed = try LlamaForCausalLM.load(from: url, quantization: .keepGGUF)
        let float = try LlamaForCausalLM.load(from: url)
        let all = packed.namedPackedParameters()
        let matrices = all.filter { $0.path.hasPrefix("model.layers.") }
        #expect(matrices.count == 7 * packed.configuration.layerCount && matrices.allSatisfy { $0.matrix.format == .q4_1 })
        // The file's Q8_0 token table stays packed too, and serves the tied head.
        #expect(all.count == matrices.count + 1 && all.contains { $0.path == "model.embed_tokens.weight" && $0.matrix.format == .q8_0 })
        // Blocks are used in place in the mapped file, except q/k, whose rows GGUF stores permuted.
        for (path, matrix) in all {
            let permuted = path.hasSuffix("q_proj.weight") || path.hasSuffix("k_proj.weight")
            #expect(matrix.storageKind == (permuted ? .owned : .borrowed), "\(path): \(matrix.storageKind)")
        }
        #expect(packed.parameterCount == float.parameterCount)
        let ids = try Self.reference().prompt_ids
        let a = try withoutGradients { try packed(ids).value }, b = try withoutGradients { try float(ids).value }
        #expect(a.toArray() == b.toArray())
        let bytes = matrices.reduce(0) { $0 + $1.matrix.byteCount }, values = matrices.reduce(0) { $0 + $1.matrix.rows * $1.matrix.columns }
        print("SmolLM2 blocks packed: \(values) weights in \(bytes) bytes (\(String(format: "%.2f", Double(bytes * 8) / Double(values))) bits each)")
    }
}
