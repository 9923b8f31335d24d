import Autograd
import Foundation
import Models
import NN
import Tensors
import Tokenizers

/// Computes evaluation metrics of a model head on a dataset.
public struct Evaluator {
    /// The model's output.
    public let head: ModelHead
    /// Prompt-tuning virtual tokens, if any.
    public let prefix: Variable?
    /// Decodes generated answers (exact match).
    public let tokenizer: Tokenizer?
    /// Examples per forward pass.
    public let batchSize: Int
    /// Most tokens generated per answer.
    public let maxNewTokens: Int

    /// An evaluator of `head` (with prompt-tuning `prefix`), decoding answers with `tokenizer`.
    public init(head: ModelHead, prefix: Variable? = nil, tokenizer: Tokenizer?, batchSize: Int = 8, maxNewTokens: Int = 32) {
        self.head = head
        self.prefix = prefix
        self.tokenizer = tokenizer
        self.batchSize = max(1, batchSize)
        self.maxNewTokens = maxNewTokens
    }

    /// The metrics (see `Trainer.evaluate`), plus `eval_examples`.
    public func metrics(_ dataset: TrainingDataset, exactMatch: Bool = false) throws -> [String: Double] {
        let module: Module = switch head {
        case let .languageModel(model): model
        case let .classifier(model): model
        }
        if case .classifier = head {
            let (scores, loss) = try classification(dataset)
            return Self.classificationMetrics(scores, loss: loss, examples: dataset.count)
        }
        let wasTraining = module.isTraining
        module.eval()
        defer { if wasTraining { module.train() } }
        var lossSum = 0.0, targets = 0
        try withoutGradients {
            for start in stride(from: 0, to: dataset.count, by: batchSize) {
                let batch = Batch(Array(dataset.examples[start..<min(start + batchSize, dataset.count)]))
                guard batch.targetCount > 0 else { continue }
                lossSum += Double(try Objective.lossSum(head: head, prefix: prefix, batch: batch).value.scalar)
                targets += batch.targetCount
            }
        }
        let loss = targets == 0 ? Double.nan : lossSum / Double(targets)
        var metrics: [String: Double] = ["eval_examples": Double(dataset.count), "eval_loss": loss, "eval_perplexity": Foundation.exp(loss)]
        if exactMatch, case let .languageModel(model) = head { metrics["eval_exact_match"] = Self.exactMatch(try answers(model, dataset)) }
        return metrics
    }

    /// A classifier's predictions on a labelled set, in one pass: the scores (with the confusion
    /// matrix) and the mean cross-entropy.
    public func classification(_ dataset: TrainingDataset) throws -> (scores: ClassificationMetrics, loss: Double) {
        guard case let .classifier(model) = head, case let .classification(labels) = dataset.task else {
            throw TrainingError.taskMismatch("classification metrics need a classifier and a labelled set")
        }
        let wasTraining = model.isTraining
        model.eval()
        defer { if wasTraining { model.train() } }
        var predictions: [Int] = []
        var lossSum = 0.0
        try withoutGradients {
            for start in stride(from: 0, to: dataset.count, by: batchSize) {
                let batch = Batch(Array(dataset.examples[start..<min(start + batchSize, dataset.count)]))
                let logits = try model.classLogits(batch.ids, batch: batch.rows, keyMask: batch.keyMask)
                predictions += Self.argmaxRows(logits.value)
                lossSum += Double(try crossEntropy(logits: logits, targets: batch.classLabels).value.scalar) * Double(batch.rows)
            }
        }
        let scores = ClassificationMetrics(predictions: predictions, truths: dataset.examples.compactMap(\.classLabel), classes: labels.count)
        return (scores, dataset.count == 0 ? .nan : lossSum / Double(dataset.count))
    }

    /// `eval_examples`, `eval_loss`, `eval_accuracy` and macro `eval_precision`, `eval_recall`, `eval_f1`.
    public static func classificationMetrics(_ scores: ClassificationMetrics, loss: Double, examples: Int) -> [String: Double] {
        ["eval_examples": Double(examples), "eval_loss": loss, "eval_accuracy": scores.accuracy,
         "eval_precision": scores.macroPrecision, "eval_recall": scores.macroRecall, "eval_f1": scores.macroF1]
    }

    /// The fraction of answers equal to their references after trimming (NaN without answers).
    public static func exactMatch(_ answers: [(prompt: [Int], answer: String, reference: String)]) -> Double {
        guard !answers.isEmpty else { return .nan }
        return Double(answers.filter { normalized($0.answer) == normalized($0.reference) }.count) / Double(answers.count)
    }

    /// The index of each row's largest score in a `[rows, classes]` tensor (the first on ties).
    static func argmaxRows(_ logits: Tensor) -> [Int] {
        let classes = logits.shape[1], rows = logits.shape[0]
        return logits.withUnsafeBufferPointer { p in
            (0..<rows).map { row in
                var best = 0
                for c in 1..<classes where p[row * classes + c] > p[row * classes + best] { best = c }
                return best
            }
        }
    }

    /// Greedy answers of the examples that have a reference, compared after trimming.
    public func answers(_ model: any CausalLanguageModel, _ dataset: TrainingDataset, limit: Int? = nil) throws -> [(prompt: [Int], answer: String, reference: String)] {
        guard let tokenizer else { throw TrainingError.invalidArgument(name: "tokenizer", reason: "exact match needs the tokenizer to decode answers") }
        let options = try TextGenerator(model: model, tokenizer: tokenizer).fitted(GenerationOptions(maxNewTokens: maxNewTokens))
        var results: [(prompt: [Int], answer: String, reference: String)] = []
        for example in dataset.examples where example.reference != nil {
            if let limit, results.count >= limit { break }
            let prompt = Array(example.ids.prefix(example.promptLength))
            guard !prompt.isEmpty else { continue }
            let ids = try model.generate(prompt: prompt, options: options, prefix: prefix)
            let answer = try tokenizer.decode(ids, skipSpecialTokens: true)
            results.append((prompt, answer, example.reference!))
        }
        return results
    }

    /// Surrounding whitespace removed.
    public static func normalized(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
}
