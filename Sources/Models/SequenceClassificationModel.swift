import Autograd
import NN

/// A model that maps a token sequence to one score per class (BERT or Llama with a classification
/// head). The trainer and the evaluator work through this protocol.
public protocol SequenceClassificationModel: Module {
    /// Number of classes the head scores.
    var labelCount: Int { get }
    /// Class logits `(B, labelCount)` of `ids` laid out `(B, T)`, right-padded; `keyMask` (`B·T`)
    /// is false at padding.
    func classLogits(_ ids: [Int], batch: Int, keyMask: [Bool]) throws -> Variable
}

extension BertForSequenceClassification: SequenceClassificationModel {
    /// Number of classes (`classifier.out_features`).
    public var labelCount: Int { classifier.outFeatures }

    /// Class logits over the pooled `[CLS]` output.
    public func classLogits(_ ids: [Int], batch: Int, keyMask: [Bool]) throws -> Variable {
        try self(ids, batch: batch, attentionMask: keyMask)
    }
}

extension LlamaForSequenceClassification: SequenceClassificationModel {
    /// Number of classes (`score.out_features`).
    public var labelCount: Int { score.outFeatures }

    /// Class logits read at each row's last real token (the last `true` of `keyMask`).
    public func classLogits(_ ids: [Int], batch: Int, keyMask: [Bool]) throws -> Variable {
        try self(ids, batch: batch, keyMask: keyMask, lastTokenFromMask: true)
    }
}
