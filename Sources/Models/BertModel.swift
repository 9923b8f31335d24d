import Autograd
import Foundation
import ModelIO
import NN
import Tensors

/// BERT self-attention block: `attention.self.{query,key,value}` and `attention.output.{dense,LayerNorm}`.
final class BertAttention: Module {
    let heads: Int
    init(_ c: BertConfiguration, generator: inout SeededRandom) {
        heads = c.attentionHeads
        super.init()
        let selfAttention = Module()
        for name in ["query", "key", "value"] {
            selfAttention.registerChild(name, Linear(inFeatures: c.hiddenSize, outFeatures: c.hiddenSize, generator: &generator))
        }
        let output = Module()
        output.registerChild("dense", Linear(inFeatures: c.hiddenSize, outFeatures: c.hiddenSize, generator: &generator))
        output.registerChild("LayerNorm", LayerNorm(dimension: c.hiddenSize, epsilon: c.layerNormEpsilon))
        registerChild("self", selfAttention)
        registerChild("output", output)
    }

    func callAsFunction(_ x: Variable, keyMask: [Bool]?) -> Variable {
        let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
        let selfAttention: Module = child("self"), output: Module = child("output")
        func project(_ module: Module, _ name: String, _ input: Variable) -> Variable {
            let layer: any LinearLayer = module.child(name)
            return layer(input)
        }
        func split(_ y: Variable) -> Variable { y.reshaped([b, t, heads, c / heads]).transposed(1, 2) }
        let attended = scaledDotProductAttention(query: split(project(selfAttention, "query", x)),
                                                 key: split(project(selfAttention, "key", x)),
                                                 value: split(project(selfAttention, "value", x)),
                                                 causal: false, keyMask: keyMask)
        let merged = attended.transposed(1, 2).reshaped([b, t, c])
        let norm: LayerNorm = output.child("LayerNorm")
        return norm(project(output, "dense", merged) + x)
    }
}

/// One encoder layer: attention, then `intermediate.dense` → GELU → `output.dense` with a residual LayerNorm.
final class BertLayer: Module {
    init(_ c: BertConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild("attention", BertAttention(c, generator: &generator))
        let intermediate = Module()
        intermediate.registerChild("dense", Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, generator: &generator))
        registerChild("intermediate", intermediate)
        let output = Module()
        output.registerChild("dense", Linear(inFeatures: c.intermediateSize, outFeatures: c.hiddenSize, generator: &generator))
        output.registerChild("LayerNorm", LayerNorm(dimension: c.hiddenSize, epsilon: c.layerNormEpsilon))
        registerChild("output", output)
    }

    func callAsFunction(_ x: Variable, keyMask: [Bool]?) -> Variable {
        let attention: BertAttention = child("attention")
        let h = attention(x, keyMask: keyMask)
        let intermediate: Module = child("intermediate"), output: Module = child("output")
        let up: any LinearLayer = intermediate.child("dense"), down: any LinearLayer = output.child("dense")
        let norm: LayerNorm = output.child("LayerNorm")
        return norm(down(gelu(up(h), approximation: .exact)) + h)
    }
}

/// A BERT encoder with pooler, named as Hugging Face's `BertModel` (`embeddings.*`, `encoder.layer.N.*`,
/// `pooler.dense.*`).
public final class BertModel: Module {
    public let configuration: BertConfiguration

    public init(_ configuration: BertConfiguration, seed: UInt64 = 0) {
        self.configuration = configuration
        var generator = SeededRandom(seed: seed)
        super.init()
        let c = configuration
        let embeddings = Module()
        embeddings.registerChild("word_embeddings", Embedding(count: c.vocabularySize, dimension: c.hiddenSize, generator: &generator))
        embeddings.registerChild("position_embeddings", Embedding(count: c.maxPositionEmbeddings, dimension: c.hiddenSize, generator: &generator))
        embeddings.registerChild("token_type_embeddings", Embedding(count: c.typeVocabularySize, dimension: c.hiddenSize, generator: &generator))
        embeddings.registerChild("LayerNorm", LayerNorm(dimension: c.hiddenSize, epsilon: c.layerNormEpsilon))
        registerChild("embeddings", embeddings)
        let encoder = Module(), layers = Module()
        for index in 0..<c.layerCount { layers.registerChild("\(index)", BertLayer(c, generator: &generator)) }
        encoder.registerChild("layer", layers)
        registerChild("encoder", encoder)
        let pooler = Module()
        pooler.registerChild("dense", Linear(inFeatures: c.hiddenSize, outFeatures: c.hiddenSize, generator: &generator))
        registerChild("pooler", pooler)
    }

    /// Last hidden states `(B, T, H)` and pooled `[CLS]` outputs `(B, H)`.
    /// - Parameters:
    ///   - attentionMask: `B·T` flags, false for padding (default: all true).
    ///   - tokenTypeIDs: `B·T` segment ids (default: zeros).
    public func callAsFunction(_ ids: [Int], batch: Int = 1, attentionMask: [Bool]? = nil,
                               tokenTypeIDs: [Int]? = nil) throws -> (hidden: Variable, pooled: Variable) {
        precondition(batch > 0 && ids.count % batch == 0, "BertModel: \(ids.count) ids do not split into \(batch) rows")
        let steps = ids.count / batch
        guard steps <= configuration.maxPositionEmbeddings else {
            throw ModelError.invalidGenerationParameter("sequence of \(steps) tokens exceeds \(configuration.maxPositionEmbeddings) positions")
        }
        let embeddings: Module = child("embeddings")
        let words: Embedding = embeddings.child("word_embeddings"), positions: Embedding = embeddings.child("position_embeddings")
        let types: Embedding = embeddings.child("token_type_embeddings"), norm: LayerNorm = embeddings.child("LayerNorm")
        let positionIDs = (0..<batch).flatMap { _ in Array(0..<steps) }
        var x = try words(ids, shape: [batch, steps]) + (try positions(positionIDs, shape: [batch, steps]))
            + (try types(tokenTypeIDs ?? Array(repeating: 0, count: ids.count), shape: [batch, steps]))
        x = norm(x)
        let layers: Module = (child("encoder") as Module).child("layer")
        for index in 0..<configuration.layerCount {
            let layer: BertLayer = layers.child("\(index)")
            x = layer(x, keyMask: attentionMask)
        }
        let first = x.slice(axis: 1, 0..<1).reshaped([batch, configuration.hiddenSize])
        let dense: any LinearLayer = (child("pooler") as Module).child("dense")
        return (x, tanh(dense(first)))
    }

    /// Loads `config.json` and `model.safetensors` from a folder; accepts keys with or without a
    /// `bert.` prefix (a `BertForSequenceClassification` checkpoint's encoder).
    public static func load(folder: URL) throws -> BertModel {
        let (configuration, state) = try BertModel.readCheckpoint(folder)
        let model = BertModel(configuration)
        try model.loadRequiredWeights(state.reduce(into: [:]) { result, entry in
            result[entry.key.hasPrefix("bert.") ? String(entry.key.dropFirst(5)) : entry.key] = entry.value
        })
        return model
    }

    static func readCheckpoint(_ folder: URL) throws -> (BertConfiguration, [String: Tensor]) {
        (try BertConfiguration(json: try Checkpoint.configuration(in: folder)), try Checkpoint.weights(in: folder))
    }
}

/// BERT with a linear classifier over the pooled output (HF `BertForSequenceClassification`:
/// `bert.*` and `classifier.*`).
public final class BertForSequenceClassification: Module {
    public init(_ configuration: BertConfiguration, labels: Int, seed: UInt64 = 0) {
        var generator = SeededRandom(seed: seed &+ 1)
        super.init()
        registerChild("bert", BertModel(configuration, seed: seed))
        registerChild("classifier", Linear(inFeatures: configuration.hiddenSize, outFeatures: labels, generator: &generator))
    }

    /// Class logits `(B, labels)`.
    public func callAsFunction(_ ids: [Int], batch: Int = 1, attentionMask: [Bool]? = nil, tokenTypeIDs: [Int]? = nil) throws -> Variable {
        let bert: BertModel = child("bert")
        let classifier: any LinearLayer = child("classifier")
        return classifier(try bert(ids, batch: batch, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs).pooled)
    }

    /// Loads a `BertForSequenceClassification` folder.
    public static func load(folder: URL) throws -> BertForSequenceClassification {
        let (configuration, state) = try BertModel.readCheckpoint(folder)
        guard let labels = configuration.labelCount ?? state["classifier.weight"]?.shape.first else {
            throw ModelError.missingWeights(["classifier.weight"])
        }
        let model = BertForSequenceClassification(configuration, labels: labels)
        try model.loadRequiredWeights(state)
        return model
    }
}
