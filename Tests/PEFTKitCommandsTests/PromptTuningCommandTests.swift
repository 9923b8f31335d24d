import Foundation
import PEFTKit
import PEFTKitCommands
import Testing

private let fixtures = repositoryTests.appendingPathComponent("TrainingTests/Fixtures")
private let model = fixtures.appendingPathComponent("tiny-chat-llama")
private let data = fixtures.appendingPathComponent("arithmetic.jsonl").path

/// A prompt-tuning adapter reaches generation (issue 27, defect 5): its virtual tokens run before
/// the prompt, in the CLI and through `TextGenerator`, instead of a refusal or the base's answer.
@Suite("prompt tuning in generate")
struct PromptTuningCommandTests {
    @Test("generate --adapter with a prompt-tuning adapter answers as the library does with the prefix, not as the base")
    func generateWithVirtualTokens() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("cli-prompt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let trained = runTool(["train", "--model", model.path, "--train", data, "--output", output.path, "--method", "prompt", "--virtual-tokens", "4",
                               "--max-steps", "4", "--batch-size", "4", "--learning-rate", "0.3", "--quiet"])
        #expect(trained.status == 0, "\(trained.error)")
        let arguments = ["generate", "--model", model.path, "--raw", "--prompt", "What is 3 plus 4?", "--max-tokens", "6"]
        let adapted = runTool(arguments + ["--adapter", output.path])
        #expect(adapted.status == 0, "\(adapted.error)")

        let base = try AutoModelForCausalLM.load(from: model)
        let tokenizer = try Tokenizer.load(from: model)
        let plain = try TextGenerator(model: base, tokenizer: tokenizer)
        let ids = try tokenizer.encode("What is 3 plus 4?")
        let baseText = try plain.generate(prompt: ids, options: GenerationOptions(maxNewTokens: 6))
        let peft = try PeftModel.load(base, adapter: output)
        let prefix = try #require(peft.activePromptEmbeddings)
        let withPrefix = try TextGenerator(model: base, tokenizer: tokenizer, prefix: prefix)
        let adaptedText = try withPrefix.generate(prompt: ids, options: GenerationOptions(maxNewTokens: 6))
        #expect(adapted.output == adaptedText + "\n")
        // The virtual tokens change the model's next-token distribution (the answer may coincide on a tiny model).
        // The base's own answer needs the adapter switched off: attached, it answers as adapted.
        let logits = try peft.withAdaptersDisabled { try withoutGradients { try base.lastLogits(ids, cache: base.makeCache()) } }
        let prefixed = try withoutGradients {
            let hidden = try base.hiddenStates(ids, batch: 1, keyMask: nil, cache: nil, prefix: prefix, segments: nil)
            return base.logits(from: hidden.slice(axis: 1, (hidden.shape[1] - 1)..<hidden.shape[1])).value.toArray()
        }
        #expect(zip(logits, prefixed).map { abs($0 - $1) }.max()! > 1e-3, "prefix has an effect (base text: \(baseText))")
        #expect(runTool(arguments + ["--adapter", output.path, "--requantize"]).status == 2)
    }
}
