import Foundation
import PEFTKit
import Testing

/// The README's Swift snippets, line for line, run on the tiny chat Llama of the training fixtures
/// (`Tests/TrainingTests/Fixtures`) instead of SmolLM2. Only the lines naming files differ; the second
/// test fails when a README line is missing here, so the README cannot drift from code that compiles.
@Suite("README")
struct ReadmeExampleTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repository.appendingPathComponent("Tests/TrainingTests/Fixtures")

    @Test("the first fine-tune and its use run as written")
    func firstFineTune() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("peftkit-readme-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // The lines that name files (README: SmolLM2's GGUF, train.jsonl, eval.jsonl, my-adapter).
        let modelFile = Self.fixtures.appendingPathComponent("tiny-chat-llama")
        let trainFile = Self.fixtures.appendingPathComponent("arithmetic.jsonl")
        let evalFile = Self.fixtures.appendingPathComponent("arithmetic.jsonl")
        let adapterFolder = scratch.appendingPathComponent("my-adapter")

        // From here on, the README's lines.
        let tokenizer = try Tokenizer.load(from: modelFile)
        let model = try AutoModelForCausalLM.load(from: modelFile)
        let peft = try PeftModel(model, configuration: LoRAConfig(rank: 8, alpha: 32, dropout: 0.05, targetModules: ["q_proj", "v_proj"]))
        print(peft.trainableParameterSummary)                  // the base is frozen: only lora_A and lora_B train

        let train = try TrainingDataset.load(trainFile, tokenizer: tokenizer)   // chat template applied; the answers are trained
        let eval = try TrainingDataset.load(evalFile, tokenizer: tokenizer)
        var arguments = TrainingArguments(outputDirectory: adapterFolder.path, learningRate: 1e-3, maxSteps: 100, batchSize: 8)
        arguments.evalSteps = 50
        let trainer = try Trainer(model: peft, arguments: arguments, train: train, eval: eval, tokenizer: tokenizer, callbacks: [ProgressBar()])
        try trainer.train()                                    // adapter_config.json + adapter_model.safetensors, as PEFT writes them
        print(try trainer.evaluate(exactMatch: true))          // eval_loss, eval_perplexity, eval_exact_match

        let assistant = try TextGenerator(model: model, tokenizer: tokenizer)
        let answer = try assistant.chat([.user("Convert March 3, 2021 to DD/MM/YYYY.")], options: GenerationOptions(maxNewTokens: 16))

        let reloaded = try PeftModel.load(try AutoModelForCausalLM.load(from: modelFile), adapter: adapterFolder)
        let merged = try reloaded.mergeAndUnload()             // a plain model whose weights are W + s·B·A

        // What the snippet promises: a trained, saved adapter that reloads and merges to the same model.
        #expect(trainer.state.step == 100)
        #expect(FileManager.default.fileExists(atPath: adapterFolder.appendingPathComponent("adapter_model.safetensors").path))
        let prompt = try tokenizer.encodeChat([.user("Convert March 3, 2021 to DD/MM/YYYY.")], addGenerationPrompt: true)
        let greedy = GenerationOptions(maxNewTokens: 16)
        let mergedAnswer = try TextGenerator(model: merged, tokenizer: tokenizer).generate(prompt: prompt, options: greedy)
        #expect(mergedAnswer == answer)
    }

    @Test("every line of the README's Swift snippets appears in this file")
    func readmeMatchesThisFile() throws {
        let readme = try String(contentsOf: Self.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let mirror = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let mirrored = Set(mirror.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        var inSwift = false
        var lines = 0
        var missing: [String] = []
        for line in readme.components(separatedBy: "\n") {
            if line.hasPrefix("```") { inSwift = line == "```swift"; continue }
            let text = line.trimmingCharacters(in: .whitespaces)
            guard inSwift, !text.isEmpty, text != "import PEFTKit", !text.contains("URL(fileURLWithPath:") else { continue }
            lines += 1
            if !mirrored.contains(text) { missing.append(text) }
        }
        #expect(lines > 10)
        #expect(missing.isEmpty, "README lines not mirrored in ReadmeExampleTests.swift:\n\(missing.joined(separator: "\n"))")
    }
}
