import Autograd
import Foundation
import Models
import Testing
import Tensors

/// Tiny random models written by transformers (Fixtures/make_tiny_models.py) with their logits.
@Suite("Parity with transformers on tiny models")
struct TinyModelParityTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Reference: Decodable { let input_ids: [Int]; let shape: [Int]; let logits: [Float] }

    @Test("tiny Llama with grouped-query attention (safetensors folder): logits within 1e-4")
    func tinyLlama() throws {
        let folder = Self.fixtures.appendingPathComponent("tiny-llama")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: folder.appendingPathComponent("reference.json")))
        let model = try LlamaForCausalLM.load(from: folder)
        #expect(model.configuration.keyValueHeads == 2 && model.configuration.ropeTheta == 100_000)
        #expect(model.loadReport.unexpectedKeys.isEmpty)
        let logits = try withoutGradients { try model(reference.input_ids, batch: reference.shape[0]).value }
        #expect(logits.shape == reference.shape)
        let worst = zip(logits.toArray(), reference.logits).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-4, "max |Δ| = \(worst)")
    }

    @Test("a folder missing a weight is a typed error naming it")
    func missingWeight() throws {
        let source = Self.fixtures.appendingPathComponent("tiny-llama")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: copy.appendingPathComponent("config.json"))
        let original = try ModelIO.SafetensorsFile(contentsOf: source.appendingPathComponent("model.safetensors"))
        let kept = original.tensors.filter { $0.name != "model.norm.weight" }.map {
            ModelIO.SafetensorsWriter.Entry(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: original.bytes(of: $0))
        }
        try ModelIO.SafetensorsWriter.write(kept, to: copy.appendingPathComponent("model.safetensors"))
        #expect(throws: ModelError.missingWeights(["model.norm.weight"])) { try LlamaForCausalLM.load(from: copy) }
    }
}

import ModelIO

@Suite("GPT-2 parity with transformers")
struct GPT2ParityTests {
    struct Reference: Decodable { let input_ids: [Int]; let shape: [Int]; let logits: [Float]; let greedy: [Int] }

    @Test("tiny GPT-2 (Conv1D weights, tied head): logits within 1e-4 and the same greedy continuation")
    func tinyGPT2() throws {
        let folder = TinyModelParityTests.fixtures.appendingPathComponent("tiny-gpt2")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: folder.appendingPathComponent("reference.json")))
        let model = try GPT2LMHeadModel.load(folder: folder)
        #expect(model.namedParameters().map(\.path).contains("transformer.h.1.attn.c_attn.weight"))
        let logits = try withoutGradients { try model(reference.input_ids, batch: 2).value }
        #expect(logits.shape == reference.shape)
        let worst = zip(logits.toArray(), reference.logits).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-4, "max |Δ| = \(worst)")
        let continuation = try model.generate(prompt: Array(reference.input_ids.prefix(20)), options: GenerationOptions(maxNewTokens: 10))
        #expect(continuation == reference.greedy)
    }
}

@Suite("AutoModelForCausalLM.load picks the architecture")
struct CausalLMLoadingTests {
    @Test func picksArchitecture() throws {
        let fixtures = TinyModelParityTests.fixtures
        #expect(try AutoModelForCausalLM.load(from: fixtures.appendingPathComponent("tiny-llama")) is LlamaForCausalLM)
        #expect(try AutoModelForCausalLM.load(from: fixtures.appendingPathComponent("tiny-gpt2")) is GPT2LMHeadModel)
        #expect(throws: ModelError.self) { try AutoModelForCausalLM.load(from: fixtures.appendingPathComponent("tiny-bert")) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("arch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(#"{"model_type": "mamba"}"#.utf8).write(to: folder.appendingPathComponent("config.json"))
        #expect(throws: ModelError.unsupportedArchitecture("mamba")) { try AutoModelForCausalLM.load(from: folder) }
    }
}

@Suite("Llama sequence classification parity")
struct LlamaClassifierParityTests {
    struct Reference: Decodable { let input_ids: [Int]; let attention_mask: [Int]; let logits: [Float] }

    @Test("score read at the last non-padding token, as transformers does")
    func classifier() throws {
        let folder = TinyModelParityTests.fixtures.appendingPathComponent("tiny-llama-classifier")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: folder.appendingPathComponent("reference.json")))
        let model = try LlamaForSequenceClassification.load(folder: folder)
        let logits = try withoutGradients {
            try model(reference.input_ids, batch: 2, keyMask: reference.attention_mask.map { $0 == 1 })
        }
        #expect(logits.shape == [2, 4])
        let worst = zip(logits.value.toArray(), reference.logits).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-4, "max |Δ| = \(worst)")
    }
}

@Suite("Sharded safetensors checkpoints")
struct ShardedCheckpointTests {
    @Test("a checkpoint split over two shards with model.safetensors.index.json loads identically")
    func sharded() throws {
        let source = TinyModelParityTests.fixtures.appendingPathComponent("tiny-llama")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sharded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: folder.appendingPathComponent("config.json"))
        let whole = try SafetensorsFile(contentsOf: source.appendingPathComponent("model.safetensors"))
        let half = whole.tensors.count / 2
        var weightMap: [(key: String, value: JSONValue)] = []
        for (index, part) in [Array(whole.tensors.prefix(half)), Array(whole.tensors.dropFirst(half))].enumerated() {
            let name = "model-0000\(index + 1)-of-00002.safetensors"
            try SafetensorsWriter.write(part.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: whole.bytes(of: $0)) },
                                        to: folder.appendingPathComponent(name))
            weightMap += part.map { ($0.name, JSONValue.string(name)) }
        }
        let index = JSONValue.object([("metadata", .object([])), ("weight_map", .object(weightMap))])
        try Data(index.serialized().utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        let sharded = try LlamaForCausalLM.load(from: folder)
        let reference = try LlamaForCausalLM.load(from: source)
        #expect(sharded.stateDictionary() == reference.stateDictionary())
    }
}

@Suite("Configuration errors name the field")
struct ConfigurationErrorTests {
    func reason(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch let error as ModelError { return error.description } catch { return "untyped \(error)" }
    }

    @Test func configurationErrors() {
        let llama = #"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0}}"#
        #expect(reason { _ = try LlamaConfiguration(json: try JSONValue.parse(llama)) }.contains("RoPE scaling 'llama3'"))
        #expect(reason { _ = try LlamaConfiguration(json: try JSONValue.parse(#"{"model_type": "llama", "vocab_size": 10}"#)) }.contains("'num_attention_heads': missing"))
        let gpt2 = #"{"model_type": "gpt2", "vocab_size": 10, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 3}"#
        #expect(reason { _ = try GPT2Configuration(json: try JSONValue.parse(gpt2)) }.contains("'n_head'"))
        #expect(reason { _ = try GPT2Configuration(json: try JSONValue.parse(#"{"model_type": "gpt2", "activation_function": "relu", "vocab_size": 10, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 2}"#)) }.contains("'relu'"))
        let bert = #"{"model_type": "bert", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8, "hidden_act": "silu"}"#
        #expect(reason { _ = try BertConfiguration(json: try JSONValue.parse(bert)) }.contains("'silu'"))
        #expect(reason { _ = try BertConfiguration(json: try JSONValue.parse(#"{"model_type": "roberta"}"#)) }.contains("'roberta'"))
    }
}
