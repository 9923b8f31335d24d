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
        let worst = zip(logits.scalars, reference.logits).map { abs($0 - $1) }.max() ?? .infinity
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
