import Foundation
import PEFTKit
import PEFTKitCommands
import Testing

private let fixtures = repositoryTests.appendingPathComponent("TrainingTests/Fixtures")
private let model = fixtures.appendingPathComponent("tiny-chat-llama")
private let data = fixtures.appendingPathComponent("arithmetic.jsonl").path

/// Every `--method` of the registry, end to end: a method added to `AdapterMethods` is trained,
/// saved, reloaded, used by `generate` and merged here without a line of this file changing.
@Suite("every --method")
struct MethodCommandTests {
    /// The layer methods (prompt tuning has its own suite: it merges nothing).
    static let methods = AdapterMethods.variantNames.filter { $0 != "prompt" }

    @Test("train --method writes that method's adapter, which loads, changes the answer's logits, generates and merges", arguments: methods)
    func trainEachMethod(_ method: String) throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("cli-method-\(UUID().uuidString)")
        let merged = output.appendingPathComponent("merged")
        defer { try? FileManager.default.removeItem(at: output) }
        let trained = runTool(["train", "--model", model.path, "--train", data, "--output", output.path, "--method", method,
                               "--max-steps", "3", "--batch-size", "4", "--learning-rate", "2e-2", "--quiet"])
        #expect(trained.status == 0, "\(method): \(trained.error)")
        let configuration = try AdapterConfigurations.load(from: output)
        let expected = AdapterMethods.all.first { $0.commandLine.contains { $0.name == method } }!.peftType
        #expect(configuration.peftType == expected)

        let base = try LlamaForCausalLM.load(folder: model)
        let ids = try Tokenizer.load(from: model).encode("What is 3 plus 4?")
        let before = try withoutGradients { try base.lastLogits(ids, cache: base.makeCache()) }
        let peft = try PeftModel.load(base, adapter: output)
        let after = try withoutGradients { try base.lastLogits(ids, cache: base.makeCache()) }
        #expect(zip(before, after).map { abs($0 - $1) }.max()! > 1e-4, "\(method): the trained adapter changes the logits")
        _ = peft

        let generated = runTool(["generate", "--model", model.path, "--adapter", output.path, "--raw", "--prompt", "What is 3 plus 4?", "--max-tokens", "3"])
        #expect(generated.status == 0, "\(method): \(generated.error)")
        let merging = runTool(["merge", "--model", model.path, "--adapter", output.path, "--output", merged.path])
        #expect(merging.status == 0, "\(method): \(merging.error)")
        let plain = try LlamaForCausalLM.load(folder: merged)
        let fromMerged = try withoutGradients { try plain.lastLogits(ids, cache: plain.makeCache()) }
        #expect(zip(after, fromMerged).map { abs($0 - $1) }.max()! < 1e-4, "\(method): the merged folder answers as the adapter")
    }

    @Test("--help lists every method of the registry and each option with its default")
    func helpListsRegistry() throws {
        let help = runTool(["train", "--help"])
        for name in AdapterMethods.variantNames { #expect(help.output.contains("  " + name + " "), "\(name)") }
        #expect(help.output.contains("--rank R") && help.output.contains("--rank-dropout P") && help.output.contains("(default 8;"))
    }
}
