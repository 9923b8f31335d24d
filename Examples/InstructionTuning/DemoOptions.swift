import Foundation
import PEFTKit

/// The example's settings: every default can be changed with a flag.
struct DemoOptions {
    var model: URL
    var train: URL
    var eval: URL
    var retain: URL
    var output = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("peftkit-dates-lora")
    var method = "lora"
    var rank = 8
    var alpha = 32.0
    var targets = ["q_proj", "v_proj"]
    var steps = 40
    var batchSize = 8
    var learningRate: Float = 2e-3
    var evalExamples = 40
    var quantization = WeightQuantization.none

    init(_ arguments: ArraySlice<String>) throws {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        model = ModelCache.smolLM2
        train = here.appendingPathComponent("data/train.jsonl")
        eval = here.appendingPathComponent("data/eval.jsonl")
        retain = here.appendingPathComponent("data/general.jsonl")
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard flag != "--help" else {
                print("InstructionTuning [--model PATH] [--train FILE] [--eval FILE] [--retain FILE] [--output DIR] [--method lora|dora|rslora] [--rank R] [--alpha A] [--targets q_proj,v_proj|all-linear] [--steps N] [--batch-size N] [--learning-rate LR] [--eval-examples N] [--quantization float|gguf|q8_0|q4_1|nf4]")
                exit(0)
            }
            guard let value = rest.popFirst() else { throw DemoError("\(flag) needs a value") }
            func number<T: LosslessStringConvertible>(_: T.Type) throws -> T {
                guard let number = T(value) else { throw DemoError("\(flag) expects a number, got '\(value)'") }
                return number
            }
            switch flag {
            case "--model": model = URL(fileURLWithPath: value)
            case "--train": train = URL(fileURLWithPath: value)
            case "--eval": eval = URL(fileURLWithPath: value)
            case "--retain": retain = URL(fileURLWithPath: value)
            case "--output": output = URL(fileURLWithPath: value)
            case "--method":
                guard ["lora", "dora", "rslora"].contains(value) else { throw DemoError("--method is lora, dora or rslora") }
                method = value
            case "--rank": rank = try number(Int.self)
            case "--alpha": alpha = try number(Double.self)
            case "--targets": targets = value.split(separator: ",").map(String.init)
            case "--steps": steps = try number(Int.self)
            case "--batch-size": batchSize = try number(Int.self)
            case "--learning-rate": learningRate = try number(Float.self)
            case "--eval-examples": evalExamples = try number(Int.self)
            case "--quantization":
                guard let choice = WeightQuantization(name: value) else {
                    throw DemoError("--quantization is one of \(WeightQuantization.names.joined(separator: ", "))")
                }
                quantization = choice
            default: throw DemoError("unknown option \(flag) (see --help)")
            }
        }
        guard rank > 0, steps > 0, batchSize > 0, evalExamples > 0, learningRate > 0 else {
            throw DemoError("--rank, --steps, --batch-size, --eval-examples and --learning-rate must be positive")
        }
        guard FileManager.default.fileExists(atPath: model.path) else {
            throw DemoError("no model at \(model.path); run Scripts/fetch-models.sh smollm2 (or Scripts/demo.sh, which fetches it)")
        }
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Prints exact match, eval loss and a few answers next to their references.
func report(_ title: String, _ metrics: [String: Double], _ answers: [(prompt: [Int], answer: String, reference: String)]) {
    let exact = metrics["eval_exact_match"].map { String(format: "%.1f %%", 100 * $0) } ?? "-"
    say("\n\(title): exact match \(exact), eval loss \(String(format: "%.4f", metrics["eval_loss"] ?? .nan))")
    for answer in answers {
        say("  answer \(answer.answer.debugDescription.prefix(60))  (reference \(answer.reference))")
    }
}

/// Prints the model's answer to one general question (what the adapter should not have changed).
func reportGeneral(_ title: String, _ answers: [(prompt: [Int], answer: String, reference: String)]) {
    for answer in answers { say("  \(title): \(answer.answer.debugDescription.prefix(100))") }
}

/// Prints the retain KL logged at each evaluation: how far the model drifted on general questions.
func reportForgetting(_ history: [LogEntry]) {
    let points = history.compactMap { entry in entry.values["retain_general_kl"].map { (entry.step, $0) } }
    guard !points.isEmpty else { return }
    say("KL(base ‖ adapted) on the 30 general questions, nats per token: "
        + points.map { "step \($0.0) \(String(format: "%.3f", $0.1))" }.joined(separator: ", "))
}

/// Writes a line to standard output at once (unbuffered), so it stays in order with the progress
/// bar on standard error when both go to one file.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

