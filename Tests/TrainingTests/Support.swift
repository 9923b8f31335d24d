import Foundation
import Models
import NN
import PEFT
import Tokenizers
@testable import Training

/// The training fixtures (Fixtures/make_training_fixtures.py).
enum TrainingFixture {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let model = here.appendingPathComponent("tiny-chat-llama")
    static let arithmetic = here.appendingPathComponent("arithmetic.jsonl")
    static let parity = here.appendingPathComponent("parity")

    struct Expected: Decodable {
        struct Example: Decodable { let ids: [Int]; let labels: [Int] }
        let losses: [Double]
        let records: Int
        let examples: [Example]
    }

    /// A method's parity fixture (Fixtures/make_method_parity.py).
    struct MethodExpected: Decodable {
        let losses: [Double]
        let records: Int
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: parity.appendingPathComponent("expected.json")))
    }

    static func tokenizer() throws -> Tokenizer { try Tokenizer.load(from: model) }

    static func base() throws -> LlamaForCausalLM { try LlamaForCausalLM.load(folder: model) }

    /// A LoRA model on the tiny chat Llama.
    static func lora(rank: Int = 4, dropout: Double = 0, seed: UInt64 = 0) throws -> PeftModel<LlamaForCausalLM> {
        try PeftModel(try base(), configuration: LoRAConfig(rank: rank, alpha: Double(2 * rank), dropout: dropout, targetModules: ["q_proj", "v_proj"]), seed: seed)
    }

    static func dataset(maxLength: Int = 64) throws -> TrainingDataset {
        try TrainingDataset.load(arithmetic, tokenizer: try tokenizer(), maxLength: maxLength)
    }

    static func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("peftkit-training-\(UUID().uuidString)")
    }

    /// Writes `text` to a temporary file with `name`.
    static func file(_ name: String, _ text: String) throws -> URL {
        let folder = temporaryFolder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }
}
