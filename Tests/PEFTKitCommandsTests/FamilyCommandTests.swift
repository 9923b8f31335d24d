import Foundation
import PEFTKitCommands
import Testing

private let families = repositoryTests.appendingPathComponent("ModelsTests/Fixtures/families")
private let data = repositoryTests.appendingPathComponent("TrainingTests/Fixtures/arithmetic.jsonl").path

/// Every command on every decoder family (tiny transformers checkpoints with the training fixtures'
/// tokenizer): nothing in the CLI is written for one family.
@Suite("peftkit on every decoder family")
struct FamilyCommandTests {
    @Test("train, eval, generate, merge and inspect", arguments: ["mistral", "qwen2", "qwen3", "gemma3", "phi3", "llama32", "phi4mini"])
    func commands(_ family: String) throws {
        let model = families.appendingPathComponent(family).path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cli-family-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let adapter = work.appendingPathComponent("adapter").path
        let trained = runTool(["train", "--model", model, "--train", data, "--output", adapter, "--max-steps", "3", "--batch-size", "4",
                               "--learning-rate", "1e-2", "--rank", "4", "--alpha", "8", "--quiet"])
        #expect(trained.status == 0, "\(family): \(trained.error)")
        let config = try String(contentsOf: URL(fileURLWithPath: adapter).appendingPathComponent("adapter_config.json"), encoding: .utf8)
        #expect(config.contains(family.hasPrefix("phi") ? "\"qkv_proj\"" : "\"q_proj\""), "\(family): the family's default targets")

        let evaluated = runTool(["eval", "--model", model, "--adapter", adapter, "--data", data, "--json", "--max-tokens", "2"])
        #expect(evaluated.status == 0 && evaluated.output.contains("\"loss\""), "\(family): \(evaluated.error)")
        let generated = runTool(["generate", "--model", model, "--adapter", adapter, "--prompt", "What is 2 plus 3?", "--max-tokens", "3"])
        #expect(generated.status == 0, "\(family): \(generated.error)")

        let merged = work.appendingPathComponent("merged").path
        let merging = runTool(["merge", "--model", model, "--adapter", adapter, "--output", merged])
        #expect(merging.status == 0, "\(family): \(merging.error)")
        let inspected = runTool(["inspect", "--model", merged])
        let familyName = ["llama32": "llama", "phi4mini": "phi3"][family] ?? family
        #expect(inspected.status == 0 && inspected.output.contains("configuration: family \(familyName)"), "\(family): \(inspected.output.prefix(400))")
        let answer = runTool(["generate", "--model", merged, "--prompt", "What is 2 plus 3?", "--max-tokens", "3"])
        #expect(answer.status == 0 && answer.output == generated.output, "\(family): merged model answers '\(answer.output)', adapter '\(generated.output)'")
    }
}
