import Autograd
import Foundation
import Models
import NN
import Tensors

/// Paths and helpers shared by the PEFT tests: the tiny models of Tests/ModelsTests/Fixtures and the
/// adapters Python PEFT wrote for them (Fixtures/make_peft_adapters.py).
enum Fixture {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let adapters = here.appendingPathComponent("Fixtures")
    static let models = here.deletingLastPathComponent().appendingPathComponent("ModelsTests/Fixtures")

    struct Reference: Decodable { let base: String; let input_ids: [Int]; let shape: [Int]; let logits: [Float] }
    struct ModelInputs: Decodable { let input_ids: [Int]; let attention_mask: [Int]?; let token_type_ids: [Int]? }

    static func reference(_ adapter: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: adapters.appendingPathComponent(adapter).appendingPathComponent("reference.json")))
    }

    static func inputs(_ model: String) throws -> ModelInputs {
        try JSONDecoder().decode(ModelInputs.self, from: Data(contentsOf: models.appendingPathComponent(model).appendingPathComponent("reference.json")))
    }

    /// A fresh base model by fixture name.
    static func base(_ name: String) throws -> Module {
        let folder = models.appendingPathComponent(name)
        switch name {
        case "tiny-bert": return try BertForSequenceClassification.load(folder: folder)
        case "tiny-gpt2": return try GPT2LMHeadModel.load(folder: folder)
        default: return try LlamaForCausalLM.load(folder: folder)
        }
    }

    /// The model's logits on the fixture inputs (two rows), without gradients.
    static func logits(_ model: Module, base name: String, prefix: Variable? = nil) throws -> Tensor {
        let inputs = try inputs(name)
        let wasTraining = model.isTraining
        model.eval()
        defer { if wasTraining { model.train() } }
        return try withoutGradients {
            switch model {
            case let bert as BertForSequenceClassification:
                return try bert(inputs.input_ids, batch: 2, attentionMask: inputs.attention_mask?.map { $0 == 1 },
                                tokenTypeIDs: inputs.token_type_ids).value
            case let gpt2 as GPT2LMHeadModel: return try gpt2(inputs.input_ids, batch: 2).value
            case let llama as LlamaForCausalLM: return try llama(inputs.input_ids, batch: 2, prefix: prefix).value
            default: fatalError("unknown fixture model \(type(of: model))")
            }
        }
    }

    static func maxDifference(_ a: Tensor, _ b: [Float]) -> Float {
        a.count == b.count ? zip(a.toArray(), b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }

    static func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("peftkit-\(UUID().uuidString)")
    }
}
