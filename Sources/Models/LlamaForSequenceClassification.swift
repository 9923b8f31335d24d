import Autograd
import Foundation
import ModelIO
import NN
import Tensors

/// A Llama-family model with a linear `score` head read at each row's last non-padding token
/// (HF `LlamaForSequenceClassification`: `model.*`, `score.weight` without bias).
public final class LlamaForSequenceClassification: Module {
    /// The backbone's hyper-parameters.
    public let configuration: LlamaConfiguration
    /// The id that marks padding; rows are read at their last token that is not this id.
    public let padTokenID: Int?

    /// A randomly initialised model with a `score` head of `labels` classes; `padTokenID` marks padding.
    public init(_ configuration: LlamaConfiguration, labels: Int, padTokenID: Int?, seed: UInt64 = 0) throws {
        self.configuration = configuration
        self.padTokenID = padTokenID
        var withoutHead = configuration
        withoutHead.tieWordEmbeddings = true  // the backbone gets no lm_head
        backbone = try LlamaForCausalLM(withoutHead, seed: seed)
        var generator = SeededRandom(seed: seed &+ 7)
        super.init()
        registerChild("model", backbone.body)
        registerChild(_score, Linear(inFeatures: configuration.hiddenSize, outFeatures: labels, bias: false, generator: &generator))
    }

    /// Runs the shared `model.*` tree (registered above as this module's `model` child).
    private let backbone: LlamaForCausalLM
    /// The classification head `[labels, hidden]`.
    @Child("score") public var score: any LinearLayer

    /// Class logits `(B, labels)` for `ids` laid out `(B, T)`.
    ///
    /// Each row is read at its last token that is not `padTokenID` (as transformers does), or with
    /// `lastTokenFromMask` at its last position whose `keyMask` flag is true.
    public func callAsFunction(_ ids: [Int], batch: Int = 1, keyMask: [Bool]? = nil, lastTokenFromMask: Bool = false) throws -> Variable {
        let hidden = try backbone.hiddenStates(ids, batch: batch, keyMask: keyMask)
        let scores = score(hidden)  // (B, T, labels)
        let steps = ids.count / batch
        var rows: [Variable] = []
        for row in 0..<batch {
            var last = steps - 1
            if lastTokenFromMask, let keyMask {
                last = (0..<steps).last(where: { keyMask[row * steps + $0] }) ?? (steps - 1)
            } else if let padTokenID {
                let tokens = ids[(row * steps)..<((row + 1) * steps)]
                last = tokens.indices.last(where: { tokens[$0] != padTokenID }).map { $0 - row * steps } ?? (steps - 1)
            }
            rows.append(scores.slice(axis: 0, row..<(row + 1)).slice(axis: 1, last..<(last + 1)).reshaped([1, -1]))
        }
        return Variable.concatenate(rows, axis: 0)
    }

    /// Loads a `LlamaForSequenceClassification` folder (`config.json` with `id2label` and `pad_token_id`).
    public static func load(folder: URL) throws -> LlamaForSequenceClassification {
        let json = try Checkpoint.configuration(in: folder)
        let configuration = try LlamaConfiguration(json: json)
        let files = try Checkpoint.files(in: folder)
        let shapes = Checkpoint.tensorShapes(of: files)
        guard let score = shapes["score.weight"], score.count == 2 else { throw ModelError.missingWeights(["score.weight"]) }
        try ConfigurationLimits.require(score[0], in: 1...ConfigurationLimits.rows, "score.weight labels")
        var plan = configuration.parameterPlan(withHead: false)
        plan.add("score.weight", [score[0], configuration.hiddenSize])
        try plan.verify(against: shapes)
        let model = try LlamaForSequenceClassification(configuration, labels: score[0], padTokenID: json["pad_token_id"]?.integer)
        try model.loadCheckpointWeights(try Checkpoint.weights(of: files))
        return model
    }
}
