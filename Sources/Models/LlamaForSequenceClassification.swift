import Autograd
import Foundation
import ModelIO
import NN
import Tensors

/// A Llama-family model with a linear `score` head read at each row's last non-padding token
/// (HF `LlamaForSequenceClassification`: `model.*`, `score.weight` without bias).
public final class LlamaForSequenceClassification: Module {
    public let configuration: LlamaConfiguration
    /// The id that marks padding; rows are read at their last token that is not this id.
    public let padTokenID: Int?

    public init(_ configuration: LlamaConfiguration, labels: Int, padTokenID: Int?, seed: UInt64 = 0) throws {
        self.configuration = configuration
        self.padTokenID = padTokenID
        var generator = SeededRandom(seed: seed &+ 7)
        super.init()
        var backbone = configuration
        backbone.tieWordEmbeddings = true  // no lm_head in this model
        let causal = try LlamaForCausalLM(backbone, seed: seed)
        registerChild("model", causal.child("model") as Module)
        registerChild("score", Linear(inFeatures: configuration.hiddenSize, outFeatures: labels, bias: false, generator: &generator))
        self.backbone = causal
    }

    private var backbone: LlamaForCausalLM!

    /// Class logits `(B, labels)` for `ids` laid out `(B, T)`.
    public func callAsFunction(_ ids: [Int], batch: Int = 1, keyMask: [Bool]? = nil) throws -> Variable {
        let hidden = try backbone.hiddenStates(ids, batch: batch, keyMask: keyMask)
        let score: any LinearLayer = child("score")
        let scores = score(hidden)  // (B, T, labels)
        let steps = ids.count / batch
        var rows: [Variable] = []
        for row in 0..<batch {
            var last = steps - 1
            if let padTokenID {
                let tokens = ids[(row * steps)..<((row + 1) * steps)]
                last = tokens.indices.last(where: { tokens[$0] != padTokenID }).map { $0 - row * steps } ?? (steps - 1)
            }
            rows.append(scores.slice(axis: 0, row..<(row + 1)).slice(axis: 1, last..<(last + 1)).reshaped([1, -1]))
        }
        return Variable.concatenate(rows, axis: 0)
    }

    /// Loads a `LlamaForSequenceClassification` folder (`config.json` with `id2label` and `pad_token_id`).
    public static func load(folder: URL) throws -> LlamaForSequenceClassification {
        let json: JSONValue
        do { json = try JSONValue.parse(try Data(contentsOf: folder.appendingPathComponent("config.json"))) } catch {
            throw ModelError.invalidConfiguration(field: "config.json", reason: "\(error)")
        }
        let configuration = try LlamaConfiguration(json: json)
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: folder.appendingPathComponent("model.safetensors")) } catch let error as ModelFileError {
            throw ModelError.file(error)
        }
        guard let scoreInfo = file.tensor(named: "score.weight") else { throw ModelError.missingWeights(["score.weight"]) }
        let model = try LlamaForSequenceClassification(configuration, labels: scoreInfo.shape[0], padTokenID: json["pad_token_id"]?.integer)
        var state: [String: Tensor] = [:]
        do {
            for tensor in file.tensors { state[tensor.name] = Tensor(try file.floats(of: tensor), shape: tensor.shape) }
        } catch let error as ModelFileError { throw ModelError.file(error) }
        let expected = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.path, $0.parameter.value.shape) })
        let missing = expected.keys.filter { state[$0] == nil }.sorted()
        guard missing.isEmpty else { throw ModelError.missingWeights(missing) }
        for (name, shape) in expected where state[name]!.shape != shape {
            throw ModelError.shapeMismatch(name: name, expected: shape, found: state[name]!.shape)
        }
        try model.loadStateDictionary(state.filter { expected[$0.key] != nil }, strict: false)
        return model
    }
}
