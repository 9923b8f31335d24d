import Autograd
import Foundation
import Models
import NN
import Tensors
import Tokenizers

extension Trainer {
    /// Metrics of the model on `dataset` (default: the evaluation set), without changing any weight.
    ///
    /// Language models: `eval_loss` (mean over all labelled tokens), `eval_perplexity`, and with
    /// `exactMatch` `eval_exact_match`: the fraction of examples whose greedy answer (generated after
    /// the prompt, decoded without special tokens, whitespace-trimmed) equals the trimmed reference.
    /// Classifiers: `eval_loss`, `eval_accuracy`, `eval_precision`, `eval_recall`, `eval_f1` (macro).
    public func evaluate(_ dataset: TrainingDataset? = nil, exactMatch: Bool = false) throws -> [String: Double] {
        guard let dataset = dataset ?? evalDataset else { throw DatasetError.empty(path: "(evaluation)", reason: "no evaluation set was given") }
        try Self.check(dataset, fits: head)
        return try Evaluator(head: head, prefix: model.prefix, tokenizer: tokenizer, batchSize: arguments.evalBatchSize ?? arguments.batchSize,
                             maxNewTokens: arguments.maxNewTokens).metrics(dataset, exactMatch: exactMatch)
    }
}

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
        let wasTraining = module.isTraining
        module.eval()
        defer { if wasTraining { module.train() } }
        var metrics: [String: Double] = ["eval_examples": Double(dataset.count)]
        var lossSum = 0.0, targets = 0
        var predictions: [Int] = [], truths: [Int] = []
        try withoutGradients {
            for start in stride(from: 0, to: dataset.count, by: batchSize) {
                let batch = Batch(Array(dataset.examples[start..<min(start + batchSize, dataset.count)]))
                guard batch.targetCount > 0 else { continue }
                if case let .classifier(model) = head {
                    let logits = try model.classLogits(batch.ids, batch: batch.rows, keyMask: batch.keyMask)
                    predictions += Self.argmaxRows(logits.value)
                    truths += batch.classLabels
                    lossSum += Double(try crossEntropy(logits: logits, targets: batch.classLabels).value.scalar) * Double(batch.rows)
                } else {
                    lossSum += Double(try Objective.lossSum(head: head, prefix: prefix, batch: batch).value.scalar)
                }
                targets += batch.targetCount
            }
        }
        let loss = targets == 0 ? Double.nan : lossSum / Double(targets)
        metrics["eval_loss"] = loss
        switch head {
        case .languageModel(let model):
            metrics["eval_perplexity"] = Foundation.exp(loss)
            if exactMatch { metrics["eval_exact_match"] = try exactMatchRate(model, dataset) }
        case .classifier:
            guard case let .classification(labels) = dataset.task else { break }
            let scores = ClassificationMetrics(predictions: predictions, truths: truths, classes: labels.count)
            metrics["eval_accuracy"] = scores.accuracy
            metrics["eval_precision"] = scores.macroPrecision
            metrics["eval_recall"] = scores.macroRecall
            metrics["eval_f1"] = scores.macroF1
        }
        return metrics
    }

    /// Predicted classes and the metrics object (classification sets).
    public func classification(_ dataset: TrainingDataset) throws -> ClassificationMetrics {
        guard case let .classifier(model) = head, case let .classification(labels) = dataset.task else {
            throw TrainingError.taskMismatch("classification metrics need a classifier and a labelled set")
        }
        model.eval()
        var predictions: [Int] = []
        try withoutGradients {
            for start in stride(from: 0, to: dataset.count, by: batchSize) {
                let batch = Batch(Array(dataset.examples[start..<min(start + batchSize, dataset.count)]))
                predictions += Self.argmaxRows(try model.classLogits(batch.ids, batch: batch.rows, keyMask: batch.keyMask).value)
            }
        }
        return ClassificationMetrics(predictions: predictions, truths: dataset.examples.compactMap(\.classLabel), classes: labels.count)
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
        let stops = try TextGenerator(model: model, tokenizer: tokenizer).endOfSequenceIDs
        var results: [(prompt: [Int], answer: String, reference: String)] = []
        for example in dataset.examples where example.reference != nil {
            if let limit, results.count >= limit { break }
            let prompt = Array(example.ids.prefix(example.promptLength))
            guard !prompt.isEmpty else { continue }
            let ids = try model.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: maxNewTokens, stopTokenIDs: stops), prefix: prefix)
            let answer = try tokenizer.decode(ids, skipSpecialTokens: true)
            results.append((prompt, answer, example.reference!))
        }
        return results
    }

    func exactMatchRate(_ model: any CausalLanguageModel, _ dataset: TrainingDataset) throws -> Double {
        let results = try answers(model, dataset)
        guard !results.isEmpty else { return .nan }
        let hits = results.filter { Self.normalized($0.answer) == Self.normalized($0.reference) }.count
        return Double(hits) / Double(results.count)
    }

    /// Surrounding whitespace removed.
    public static func normalized(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
}
