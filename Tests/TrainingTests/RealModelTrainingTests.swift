import Foundation
import Models
import NN
import PEFT
import Tensors
import Testing
import Tokenizers
@testable import Training

/// Short fine-tunes of the real models on the examples' data; opt-in, because they need the
/// model files (`Scripts/fetch-models.sh`; `.ci/run` sets both variables when it could fetch them):
///
///     PEFTKIT_SMOLLM2_GGUF=~/.cache/peftkit/models/SmolLM2-135M-Instruct.Q4_1.gguf
///     PEFTKIT_MINILM_DIR=~/.cache/peftkit/models/all-MiniLM-L6-v2
///     PEFTKIT_GEMMA3_GGUF=~/.cache/peftkit/models/gemma-3-270m-q4_k_m.gguf
///
/// Each one checks that training did something real: the held-out loss falls by a clear margin.
@Suite("Short LoRA runs on the real models")
struct RealModelTrainingTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples")
    static let environment = ProcessInfo.processInfo.environment

    /// The instruction-tuning example's date task: 96 training and 16 held-out examples.
    static func dateTask(_ tokenizer: Tokenizer) throws -> (train: TrainingDataset, eval: TrainingDataset) {
        let data = examples.appendingPathComponent("InstructionTuning/data")
        var train = try TrainingDataset.load(data.appendingPathComponent("train.jsonl"), tokenizer: tokenizer, maxLength: 128)
        train.examples = Array(train.examples.prefix(96))
        var eval = try TrainingDataset.load(data.appendingPathComponent("eval.jsonl"), tokenizer: tokenizer, maxLength: 128)
        eval.examples = Array(eval.examples.prefix(16))
        return (train, eval)
    }

    @Test("SmolLM2-135M-Instruct: 12 LoRA steps on the date task lower the held-out loss by a third (float32 and mixed precision)",
          .enabled(if: environment["PEFTKIT_SMOLLM2_GGUF"] != nil), arguments: [MatmulPrecision.float32, .float16])
    func smolLM2LoRA(precision: MatmulPrecision) throws {
        let url = URL(fileURLWithPath: Self.environment["PEFTKIT_SMOLLM2_GGUF"]!)
        let tokenizer = try Tokenizer.load(from: url)
        let model = try AutoModelForCausalLM.load(from: url)
        let (train, eval) = try Self.dateTask(tokenizer)

        let peft = try PeftModel(model, configuration: LoRAConfig(rank: 8, alpha: 32, targetModules: ["q_proj", "v_proj"]), seed: 3)
        #expect(peft.trainableParameterCount == 460_800)
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, learningRate: 2e-3, maxSteps: 12, batchSize: 8, seed: 3)
        arguments.warmupSteps = 2
        arguments.matmulPrecision = precision
        let trainer = try Trainer(model: peft, arguments: arguments, train: train, eval: eval, tokenizer: tokenizer)
        let before = try trainer.evaluate()["eval_loss"]!
        let summary = try trainer.train()
        let after = try trainer.evaluate()["eval_loss"]!
        print("SmolLM2 LoRA (\(precision)): eval loss \(before) → \(after) in \(summary.steps) steps, train loss \(summary.trainLoss)")
        #expect(summary.steps == 12)
        #expect(after.isFinite && after < before * 0.67)
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_model.safetensors").path))
    }

    @Test("Gemma 3 270M (packed Q4_K_M base): 12 LoRA steps on the date task lower the held-out loss by two thirds",
          .enabled(if: environment["PEFTKIT_GEMMA3_GGUF"] != nil))
    func gemma3LoRA() throws {
        let url = URL(fileURLWithPath: Self.environment["PEFTKIT_GEMMA3_GGUF"]!)
        let tokenizer = try Tokenizer.load(from: url)
        let model = try AutoModelForCausalLM.load(from: url, quantization: .keepGGUF)
        let (train, eval) = try Self.dateTask(tokenizer)

        let peft = try PeftModel(model, configuration: LoRAConfig(rank: 8, alpha: 32, targetModules: ["q_proj", "v_proj"]), seed: 3)
        #expect(peft.trainableParameterCount == 368_640)  // 18 layers × 8·(640 + 1024) + 8·(640 + 256)
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, learningRate: 2e-3, maxSteps: 12, batchSize: 8, seed: 3)
        arguments.warmupSteps = 2
        let trainer = try Trainer(model: peft, arguments: arguments, train: train, eval: eval, tokenizer: tokenizer)
        let before = try trainer.evaluate()["eval_loss"]!
        let summary = try trainer.train()
        let after = try trainer.evaluate()["eval_loss"]!
        print("Gemma 3 270M LoRA: eval loss \(before) → \(after) in \(summary.steps) steps, train loss \(summary.trainLoss)")
        #expect(summary.steps == 12)
        #expect(after.isFinite && after < before * 0.33)
    }

    @Test("all-MiniLM-L6-v2: two epochs of LoRA and a new head beat chance and lower the loss by a third",
          .enabled(if: environment["PEFTKIT_MINILM_DIR"] != nil))
    func miniLMClassifier() throws {
        let folder = URL(fileURLWithPath: Self.environment["PEFTKIT_MINILM_DIR"]!)
        let tokenizer = try Tokenizer.load(from: folder)
        let data = Self.examples.appendingPathComponent("TextClassification/data")
        var train = try TrainingDataset.load(data.appendingPathComponent("train.jsonl"), tokenizer: tokenizer, maxLength: 64)
        guard case let .classification(labels) = train.task else { Issue.record("not a classification set"); return }
        train.examples = Array(train.examples.prefix(256))
        var eval = try TrainingDataset.load(data.appendingPathComponent("eval.jsonl"), tokenizer: tokenizer, maxLength: 64, labels: labels)
        eval.examples = Array(eval.examples.prefix(64))

        let model = try BertForSequenceClassification.load(encoderFolder: folder, labels: labels.count, seed: 1)
        let configuration = LoRAConfig(rank: 8, alpha: 16, targetModules: .names(["query", "value"]), modulesToSave: ["classifier"], taskType: "SEQ_CLS")
        let peft = try PeftModel(model, configuration: configuration, seed: 1)
        var arguments = TrainingArguments(learningRate: 3e-3, epochs: 2, batchSize: 16, seed: 1)
        arguments.metricForBestModel = "eval_f1"
        let trainer = try Trainer(model: peft, arguments: arguments, train: train, eval: eval, tokenizer: tokenizer)
        let before = try trainer.evaluate()
        try trainer.train()
        let after = try trainer.evaluate()
        print("MiniLM classifier: eval loss \(before["eval_loss"]!) → \(after["eval_loss"]!), accuracy \(before["eval_accuracy"]!) → \(after["eval_accuracy"]!)")
        #expect(after["eval_loss"]! < before["eval_loss"]! * 0.67)
        #expect(after["eval_accuracy"]! > 0.75)  // four balanced classes: chance is 0.25
    }
}
