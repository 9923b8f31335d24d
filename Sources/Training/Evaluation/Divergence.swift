import Autograd
import Foundation
import Models
import NN
import Tensors

/// How far a model has moved from its base on a dataset's labelled tokens: its mean cross-entropy,
/// and the mean per-token KL(base ‖ model) = Σ_v p_base(v) · (log p_base(v) − log p_model(v)) in nats.
///
/// Computed exactly: at each labelled position both full vocabulary distributions are formed, 128
/// positions at a time, from one forward pass of the model and one of its base (adapters switched
/// off, see `TrainableModel.withBaseModel`, for the head too): no approximation and nothing cached
/// between evaluations. The same sum the KL anchor trains with (`Objective.divergenceSum`).
public struct Divergence: Sendable, Equatable {
    /// Mean cross-entropy of the model on the labelled tokens.
    public var loss: Double
    /// Mean KL(base ‖ model) per labelled token, in nats (0 when nothing has changed).
    public var kl: Double
    /// Labelled tokens measured.
    public var tokens: Int
}

extension Trainer {
    /// The model's loss and its KL from the base on `dataset`'s labelled tokens (language models).
    /// Data-parallel members call it together, each measuring its share of the batches.
    /// - Throws: `TrainingError.taskMismatch` for a classifier; the model's errors.
    public func divergence(on dataset: TrainingDataset) throws -> Divergence {
        guard case let .languageModel(model) = head else {
            throw TrainingError.taskMismatch("the KL to the base is measured for language models, not classifiers")
        }
        try Self.check(dataset, fits: head)
        let module = model as Module
        let wasTraining = module.isTraining
        module.eval()
        defer { if wasTraining { module.train() } }
        let batchSize = arguments.evalBatchSize ?? arguments.batchSize
        var lossSum = 0.0, klSum = 0.0, tokens = 0
        try withoutGradients {
            for range in Evaluator.batchRanges(count: dataset.count, batchSize: batchSize, communicator: communicator) {
                let batch = Batch(Array(dataset.examples[range]))
                guard batch.targetCount > 0 else { continue }
                let (adapted, targets) = try Objective.targetHiddenStates(model, prefix: self.model.prefix, batch: batch)
                guard let adapted else { continue }
                lossSum += Double(try chunkedCrossEntropySum(hidden: adapted, targets: targets) { model.logits(from: $0) }.value.scalar)
                klSum += max(0, Double(try Objective.divergenceSum(model, hidden: adapted, base: self.model, batch: batch).value.scalar))
                tokens += targets.count
            }
        }
        // Data-parallel members each measured their share of the batches.
        lossSum = try communicator.allReduceSum(lossSum)
        klSum = try communicator.allReduceSum(klSum)
        tokens = Int(try communicator.allReduceSum(Double(tokens)))
        guard tokens > 0 else { return Divergence(loss: .nan, kl: .nan, tokens: 0) }
        return Divergence(loss: lossSum / Double(tokens), kl: klSum / Double(tokens), tokens: tokens)
    }
}

extension Trainer {
    /// Whether the run evaluates at all: an evaluation set or retain sets.
    public var evaluates: Bool { evalDataset != nil || !retainDatasets.isEmpty }

    /// `eval_kl` (when `measuresEvalKL`) and `retain_<name>_loss` / `retain_<name>_kl` for every
    /// retain set (language models).
    public func forgettingMetrics() throws -> [String: Double] {
        guard case .languageModel = head else { return [:] }
        var metrics: [String: Double] = [:]
        if measuresEvalKL, let evalDataset { metrics["eval_kl"] = try divergence(on: evalDataset).kl }
        for (name, dataset) in retainDatasets {
            let measured = try divergence(on: dataset)
            metrics["retain_\(name)_loss"] = measured.loss
            metrics["retain_\(name)_kl"] = measured.kl
        }
        return metrics
    }

    /// Retain sets need names that can be part of a metric's name, each used once, and a language
    /// model to compare.
    static func checkRetainSets(_ sets: [(name: String, dataset: TrainingDataset)], head: ModelHead) throws {
        guard !sets.isEmpty else { return }
        guard case .languageModel = head else {
            throw TrainingError.invalidArgument(name: "retain", reason: "retain sets measure a language model's drift; this model is a classifier")
        }
        var seen = Set<String>()
        for (name, dataset) in sets {
            guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw TrainingError.invalidArgument(name: "retain", reason: "the name '\(name.prefix(80))' must be 1–64 letters, digits, '_' or '-'")
            }
            guard seen.insert(name).inserted else { throw TrainingError.invalidArgument(name: "retain", reason: "the name '\(name)' is used twice") }
            guard case .languageModeling = dataset.task else {
                throw TrainingError.invalidArgument(name: "retain", reason: "'\(name)' (\(dataset.source)) is a classification set; retain sets hold text or conversations")
            }
        }
    }
}
