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
    /// The data-parallel members evaluating together: each computes its share (batches, or
    /// answers, `rank`, `rank + size`, …) and the sums are reduced, so every member returns the
    /// same metrics. The group of one evaluates everything.
    public let communicator: any Communicator

    /// An evaluator of `head` (with prompt-tuning `prefix`), decoding answers with `tokenizer`,
    /// sharing the work with the other members of `communicator`.
    public init(head: ModelHead, prefix: Variable? = nil, tokenizer: Tokenizer?, batchSize: Int = 8, maxNewTokens: Int = 32,
                communicator: any Communicator = SingleProcessCommunicator()) {
        self.head = head
        self.prefix = prefix
        self.tokenizer = tokenizer
        self.batchSize = max(1, batchSize)
        self.maxNewTokens = maxNewTokens
        self.communicator = communicator
    }

    /// The `[start, end)` example ranges of `count` examples in batches of `batchSize` that this
    /// member evaluates: batches `rank`, `rank + size`, … (all of them for the group of one).
    public static func batchRanges(count: Int, batchSize: Int, communicator: any Communicator) -> [Range<Int>] {
        stride(from: 0, to: count, by: max(1, batchSize)).enumerated()
            .filter { $0.offset % communicator.size == communicator.rank }
            .map { $0.element..<min($0.element + max(1, batchSize), count) }
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
            for range in Self.batchRanges(count: dataset.count, batchSize: batchSize, communicator: communicator) {
                let batch = Batch(Array(dataset.examples[range]))
                guard batch.targetCount > 0 else { continue }
                lossSum += Double(try Objective.lossSum(head: head, prefix: prefix, batch: batch).value.scalar)
                targets += batch.targetCount
            }
        }
        lossSum = try communicator.allReduceSum(lossSum)
        targets = Int(try communicator.allReduceSum(Double(targets)))
        let loss = targets == 0 ? Double.nan : lossSum / Double(targets)
        var metrics: [String: Double] = ["eval_examples": Double(dataset.count), "eval_loss": loss, "eval_perplexity": Foundation.exp(loss)]
        if exactMatch, case let .languageModel(model) = head {
            // Each member answers its share of the referenced examples; the counts are summed.
            let answered = try answers(model, dataset, shared: true)
            let matches = try communicator.allReduceSum(Double(answered.filter { Self.normalized($0.answer) == Self.normalized($0.reference) }.count))
            let total = try communicator.allReduceSum(Double(answered.count))
            metrics["eval_exact_match"] = total == 0 ? .nan : matches / total
        }
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
        var predictions: [Int] = [], truths: [Int] = []
        var lossSum = 0.0
        try withoutGradients {
            for range in Self.batchRanges(count: dataset.count, batchSize: batchSize, communicator: communicator) {
                let batch = Batch(Array(dataset.examples[range]))
                let logits = try model.classLogits(batch.ids, batch: batch.rows, keyMask: batch.keyMask)
                predictions += Self.argmaxRows(logits.value)
                truths += dataset.examples[range].compactMap(\.classLabel)
                lossSum += Double(try crossEntropy(logits: logits, targets: batch.classLabels).value.scalar) * Double(batch.rows)
            }
        }
        var scores = ClassificationMetrics(predictions: predictions, truths: truths, classes: labels.count)
        if communicator.size > 1 {
            // The members' confusion matrices add up (counts below 2^24 are exact in Float).
            var counts = scores.confusionMatrix.flatMap { $0.map(Float.init) }
            try communicator.allReduceSum(&counts)
            scores.confusionMatrix = (0..<labels.count).map { row in counts[row * labels.count..<(row + 1) * labels.count].map { Int($0) } }
            lossSum = try communicator.allReduceSum(lossSum)
        }
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
    /// - Parameter shared: answer only this member's share of those examples (the ones at
    ///   positions `rank`, `rank + size`, … among the referenced examples with a prompt).
    public func answers(_ model: any CausalLanguageModel, _ dataset: TrainingDataset, limit: Int? = nil,
                        shared: Bool = false) throws -> [(prompt: [Int], answer: String, reference: String)] {
        guard let tokenizer else { throw TrainingError.invalidArgument(name: "tokenizer", reason: "exact match needs the tokenizer to decode answers") }
        let options = try TextGenerator(model: model, tokenizer: tokenizer).fitted(GenerationOptions(maxNewTokens: maxNewTokens))
        var results: [(prompt: [Int], answer: String, reference: String)] = []
        let answerable = dataset.examples.filter { $0.reference != nil && $0.promptLength > 0 && !$0.ids.isEmpty }
        for (position, example) in answerable.enumerated() {
            if let limit, results.count >= limit { break }
            if shared && position % communicator.size != communicator.rank { continue }
            let prompt = Array(example.ids.prefix(example.promptLength))  // not empty: `answerable`
            let ids = try model.generate(prompt: prompt, options: options, prefix: prefix)
            let answer = try tokenizer.decode(ids, skipSpecialTokens: true)
            results.append((prompt, answer, example.reference!))
        }
        return results
    }

    /// Surrounding whitespace removed.
    public static func normalized(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
}
