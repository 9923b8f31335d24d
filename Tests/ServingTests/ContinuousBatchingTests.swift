import Autograd
import Foundation
import Models
import NN
import PEFT
@testable import Serving
import Tensors
import Testing
import Tokenizers

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("TrainingTests/Fixtures")
private let modelFolder = fixtures.appendingPathComponent("tiny-chat-llama")
private let tuned = fixtures.appendingPathComponent("parity/final")

/// Continuous batching: requests for different adapters and the base, of different prompt lengths,
/// generated together get the tokens — and the very logits — they get alone.
@Suite(.serialized) struct ContinuousBatchingTests {
    /// A second adapter unlike the first: DoRA on other layers and a trained copy of `lm_head`
    /// (`modules_to_save`), all with non-zero random weights.
    static func doraAdapter() throws -> URL {
        let model = try AutoModelForCausalLM.load(from: modelFolder)
        let peft = try PeftModel(model as Module, configuration: LoRAConfig(rank: 4, alpha: 8, targetModules: ["o_proj", "gate_proj", "down_proj"],
                                                                          useDoRA: true, modulesToSave: ["lm_head"]), seed: 4)
        var generator = SeededRandom(seed: 21)
        for (_, parameter) in peft.root.trainableParameters() {
            parameter.value = parameter.value + Tensor.randomNormal(parameter.shape, std: 0.1, generator: &generator)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("peftkit-dora-\(UUID().uuidString)")
        try peft.saveAdapter(to: folder)
        return folder
    }

    /// A prompt of `count` ids.
    static func prompt(_ count: Int, seed: Int) -> [Int] { (0..<count).map { 3 + ($0 * 37 + seed * 101) % 280 } }

    /// The tokens and raw logits of `prompt` generated alone with `adapter` (nil: the base).
    static func alone(_ prompt: [Int], adapter: URL?, options: GenerationOptions, quantization: WeightQuantization) throws -> (tokens: [Int], scores: [[Float]]) {
        let model = try AutoModelForCausalLM.load(from: modelFolder, quantization: quantization)
        if let adapter { _ = try PeftModel.load(model as Module, adapter: adapter) }
        var scores: [[Float]] = []
        let tokens = try model.generate(prompt: prompt, options: options, onScores: { scores.append($1) }, onToken: { _ in true })
        return (tokens, scores)
    }

    @Test("eight requests for two adapters and the base, batched up to six at a time with chunked prompts, equal their solo runs bit for bit",
          arguments: ["float", "q4_1"])
    func batchedEqualsAlone(_ quantizationName: String) throws {
        let quantization = WeightQuantization(name: quantizationName)!
        let dora = try Self.doraAdapter()
        defer { try? FileManager.default.removeItem(at: dora) }
        let model = try AutoModelForCausalLM.load(from: modelFolder, quantization: quantization)
        let served = try ServedModel(name: "tiny", model: model, tokenizer: try Tokenizer.load(from: modelFolder),
                                     adapters: [("tuned", tuned), ("dora", dora)], maxQueue: 8, maxBatch: 6)
        var chunked = GenerationOptions(maxNewTokens: 24)
        chunked.prefillChunk = 6  // prompts of up to 14 tokens take several passes, long pieces batched, short ones with the decoding
        let options = chunked
        let requests: [(name: String, folder: URL?, prompt: [Int])] = [
            ("tuned", tuned, Self.prompt(9, seed: 1)), ("tiny", nil, Self.prompt(3, seed: 2)), ("dora", dora, Self.prompt(14, seed: 3)),
            ("tuned", tuned, Self.prompt(1, seed: 4)), ("tiny", nil, Self.prompt(11, seed: 5)), ("dora", dora, Self.prompt(6, seed: 6)),
            ("tiny", nil, Self.prompt(2, seed: 7)), ("tuned", tuned, Self.prompt(5, seed: 8)),
        ]
        let results = LockedValue([Int: (tokens: [Int], scores: [[Float]])]())
        let failures = LockedValue([String]())
        let group = DispatchGroup()
        // The scheduler waits for all eight before its first step, so six start together whatever the
        // machine's speed (the later two join as the first finish).
        let held = DispatchSemaphore(value: 0)
        group.enter()
        Thread {
            defer { group.leave() }
            do { try served.holdScheduler(until: requests.count) { held.signal() } } catch {
                failures.withLock { $0.append("hold: \(error)") }
                held.signal()
            }
        }.start()
        held.wait()
        for (index, request) in requests.enumerated() {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    var scores: [[Float]] = []
                    let tokens = try served.run(model: request.name) { generator in
                        try generator.tokenSource!(request.prompt, options, generator.prefix, { scores.append($1) }, { _ in true })
                    }
                    results.withLock { $0[index] = (tokens, scores) }
                } catch {
                    failures.withLock { $0.append("\(request.name): \(error)") }
                }
            }.start()
        }
        group.wait()
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        for (index, request) in requests.enumerated() {
            let reference = try Self.alone(request.prompt, adapter: request.folder, options: options, quantization: quantization)
            let batched = try #require(results.withLock { $0[index] })
            #expect(batched.tokens == reference.tokens, "request \(index) (\(request.name))")
            #expect(batched.scores == reference.scores, "request \(index) (\(request.name)): logits differ")
        }
        // The adapters change the logits (so routing mattered), and requests really ran together.
        let base = try Self.alone(requests[2].prompt, adapter: nil, options: options, quantization: quantization)
        #expect(base.scores.first != results.withLock { $0[2]?.scores.first })
        let sizes = served.decodingPassSizes
        // More than 4 rows: past the few-row products, where only row-independent products keep the bits.
        #expect((sizes.keys.max() ?? 0) >= 5, "decoding passes by size: \(sizes)")
        #expect((sizes.keys.max() ?? 0) <= 6)
    }
}
