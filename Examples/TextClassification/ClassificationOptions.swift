import Foundation
import PEFTKit

/// The example's settings: every default can be changed with a flag.
struct ClassificationOptions {
    var model: URL
    var train: URL
    var eval: URL
    var output = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("peftkit-topics-lora")
    var rank = 8
    var alpha = 16.0
    var epochs = 3.0
    var batchSize = 16
    var learningRate: Float = 1e-3

    init(_ arguments: ArraySlice<String>) throws {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        model = ModelCache.miniLM
        train = here.appendingPathComponent("data/train.jsonl")
        eval = here.appendingPathComponent("data/eval.jsonl")
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard flag != "--help" else {
                print("TextClassification [--model DIR] [--train FILE] [--eval FILE] [--output DIR] [--rank R] [--alpha A] [--epochs E] [--batch-size N] [--learning-rate LR]")
                exit(0)
            }
            guard let value = rest.popFirst() else { throw ExampleError("\(flag) needs a value") }
            func number<T: LosslessStringConvertible>(_: T.Type) throws -> T {
                guard let number = T(value) else { throw ExampleError("\(flag) expects a number, got '\(value)'") }
                return number
            }
            switch flag {
            case "--model": model = URL(fileURLWithPath: value)
            case "--train": train = URL(fileURLWithPath: value)
            case "--eval": eval = URL(fileURLWithPath: value)
            case "--output": output = URL(fileURLWithPath: value)
            case "--rank": rank = try number(Int.self)
            case "--alpha": alpha = try number(Double.self)
            case "--epochs": epochs = try number(Double.self)
            case "--batch-size": batchSize = try number(Int.self)
            case "--learning-rate": learningRate = try number(Float.self)
            default: throw ExampleError("unknown option \(flag) (see --help)")
            }
        }
        guard rank > 0, epochs > 0, batchSize > 0, learningRate > 0 else {
            throw ExampleError("--rank, --epochs, --batch-size and --learning-rate must be positive")
        }
        guard FileManager.default.fileExists(atPath: model.appendingPathComponent("config.json").path) else {
            throw ExampleError("no model at \(model.path); run Scripts/fetch-models.sh minilm")
        }
    }
}

struct ExampleError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Accuracy, macro F1 and the confusion matrix.
func show(_ title: String, _ metrics: ClassificationMetrics, _ labels: [String]) {
    say("\n\(title): accuracy \(String(format: "%.1f %%", 100 * metrics.accuracy)), macro F1 \(String(format: "%.3f", metrics.macroF1))")
    say(metrics.table(labels: labels))
}

/// Writes a line to standard output at once, in order with the progress bar on standard error.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

