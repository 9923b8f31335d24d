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
    ///
    /// With data-parallel members every member must call this together: each evaluates its share
    /// and all return the same metrics (equal to one process's within summation-order rounding).
    public func evaluate(_ dataset: TrainingDataset? = nil, exactMatch: Bool = false) throws -> [String: Double] {
        guard let dataset = dataset ?? evalDataset else { throw DatasetError.empty(path: "(evaluation)", reason: "no evaluation set was given") }
        try Self.check(dataset, fits: head)
        return try Evaluator(head: head, prefix: model.prefix, tokenizer: tokenizer, batchSize: arguments.evalBatchSize ?? arguments.batchSize,
                             maxNewTokens: arguments.maxNewTokens, communicator: communicator).metrics(dataset, exactMatch: exactMatch)
    }
}
