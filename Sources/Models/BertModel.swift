import Autograd
import Foundation
import ModelIO
import NN
import Tensors

/// BERT's `attention.self`: the `query`, `key` and `value` projections.
final class BertSelfAttention: Module {
    @Child("query") var query: any LinearLayer
    @Child("key") var key: any LinearLayer
    @Child("value") var value: any LinearLayer

    init(_ c: BertConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_query, Linear(inFeatures: c.hiddenSize, outFeatures: c.hiddenSize, generator: &generator))
        registerChild(_key, Linear(inFeatures: c.hiddenSize, outFeatures: c.hiddenSize, generator: &generator))
        registerChild(_value, Linear(inFeatures: c.hiddenSize, outFeatures: c.hiddenSize, generator: &generator))
    }
}

/// A projection followed by a residual LayerNorm (`attention.output` and `output` of a BERT layer).
final class BertResidualOutput: Module {
    @Child("dense") var dense: any LinearLayer
    @Child("LayerNorm") var norm: LayerNorm

    init(inFeatures: Int, _ c: BertConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_dense, Linear(inFeatures: inFeatures, outFeatures: c.hiddenSize, generator: &generator))
        registerChild(_norm, LayerNorm(dimension: c.hiddenSize, epsilon: c.layerNormEpsilon))
    }

    /// `LayerNorm(dense(x) + residual)`.
    func callAsFunction(_ x: Variable, residual: Variable) -> Variable { norm(dense(x) + residual) }
}

/// A module holding one `dense` linear layer (`intermediate` of a BERT layer, the pooler).
final class BertDense: Module {
    @Child("dense") var dense: any LinearLayer

    init(inFeatures: Int, outFeatures: Int, generator: inout SeededRandom) {
        super.init()
        registerChild(_dense, Linear(inFeatures: inFeatures, outFeatures: outFeatures, generator: &generator))
    }
}

/// BERT self-attention block: `attention.self.{query,key,value}` and `attention.output.{dense,LayerNorm}`.
final class BertAttention: Module {
    let heads: Int
    @Child("self") var selfAttention: BertSelfAttention
    @Child("output") var output: BertResidualOutput

    init(_ c: BertConfiguration, generator: inout SeededRandom) {
        heads = c.attentionHeads
        super.init()
        registerChild(_selfAttention, BertSelfAttention(c, generator: &generator))
        registerChild(_output, BertResidualOutput(inFeatures: c.hiddenSize, c, generator: &generator))
    }

    func callAsFunction(_ x: Variable, keyMask: [Bool]?) -> Variable {
        let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
        func split(_ y: Variable) -> Variable { y.reshaped([b, t, heads, c / heads]).transposed(1, 2) }
        let attended = scaledDotProductAttention(query: split(selfAttention.query(x)), key: split(selfAttention.key(x)),
                                                 value: split(selfAttention.value(x)), causal: false, keyMask: keyMask)
        return output(attended.transposed(1, 2).reshaped([b, t, c]), residual: x)
    }
}

/// One encoder layer: attention, then `intermediate.dense` → GELU → `output.dense` with a residual LayerNorm.
final class BertLayer: Module {
    @Child("attention") var attention: BertAttention
    @Child("intermediate") var intermediate: BertDense
    @Child("output") var output: BertResidualOutput

    init(_ c: BertConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_attention, BertAttention(c, generator: &generator))
        registerChild(_intermediate, BertDense(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, generator: &generator))
        registerChild(_output, BertResidualOutput(inFeatures: c.intermediateSize, c, generator: &generator))
    }

    func callAsFunction(_ x: Variable, keyMask: [Bool]?) -> Variable {
        let h = attention(x, keyMask: keyMask)
        return output(gelu(intermediate.dense(h), approximation: .exact), residual: h)
    }
}

/// BERT's embeddings: words + positions + segments, then LayerNorm.
final class BertEmbeddings: Module {
    @Child("word_embeddings") var words: any EmbeddingLayer
    @Child("position_embeddings") var positions: any EmbeddingLayer
    @Child("token_type_embeddings") var segments: any EmbeddingLayer
    @Child("LayerNorm") var norm: LayerNorm

    init(_ c: BertConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_words, Embedding(count: c.vocabularySize, dimension: c.hiddenSize, generator: &generator))
        registerChild(_positions, Embedding(count: c.maxPositionEmbeddings, dimension: c.hiddenSize, generator: &generator))
        registerChild(_segments, Embedding(count: c.typeVocabularySize, dimension: c.hiddenSize, generator: &generator))
        registerChild(_norm, LayerNorm(dimension: c.hiddenSize, epsilon: c.layerNormEpsilon))
    }
}

/// BERT's `encoder`: a list of layers under `layer`.
final class BertEncoder: Module {
    @Child("layer") var layers: ModuleList<BertLayer>

    init(_ c: BertConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_layers, ModuleList((0..<c.layerCount).map { _ in BertLayer(c, generator: &generator) }))
    }
}

/// A BERT encoder with pooler, named as Hugging Face's `BertModel` (`embeddings.*`, `encoder.layer.N.*`,
/// `pooler.dense.*`).
public final class BertModel: Module {
    /// The hyper-parameters.
    public let configuration: BertConfiguration
    @Child("embeddings") var embeddings: BertEmbeddings
    @Child("encoder") var encoder: BertEncoder
    @Child("pooler") var pooler: BertDense

    /// A randomly initialised encoder (weights are usually loaded afterwards).
    public init(_ configuration: BertConfiguration, seed: UInt64 = 0) {
        self.configuration = configuration
        var generator = SeededRandom(seed: seed)
        super.init()
        let c = configuration
        registerChild(_embeddings, BertEmbeddings(c, generator: &generator))
        registerChild(_encoder, BertEncoder(c, generator: &generator))
        registerChild(_pooler, BertDense(inFeatures: c.hiddenSize, outFeatures: c.hiddenSize, generator: &generator))
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
            throw ModelError.contextOverflow(positions: steps, context: configuration.maxPositionEmbeddings)
        }
        let positionIDs = (0..<batch).flatMap { _ in Array(0..<steps) }
        var x = try embeddings.words(ids, shape: [batch, steps]) + (try embeddings.positions(positionIDs, shape: [batch, steps]))
            + (try embeddings.segments(tokenTypeIDs ?? Array(repeating: 0, count: ids.count), shape: [batch, steps]))
        x = embeddings.norm(x)
        for index in 0..<configuration.layerCount {
            x = encoder.layers[index](x, keyMask: attentionMask)
        }
        let first = x.slice(axis: 1, 0..<1).reshaped([batch, configuration.hiddenSize])
        return (x, tanh(pooler.dense(first)))
    }

    /// Loads `config.json` and `model.safetensors` from a folder; accepts keys with or without a
    /// `bert.` prefix (a `BertForSequenceClassification` checkpoint's encoder).
    public static func load(folder: URL) throws -> BertModel {
        let configuration = try BertConfiguration(json: try Checkpoint.configuration(in: folder))
        func modelName(_ name: String) -> String? { name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name }
        let files = try Checkpoint.files(in: folder)
        try configuration.parameterPlan().verify(against: Checkpoint.renamed(Checkpoint.tensorShapes(of: files), modelName))
        let model = ParameterInitialization.deferred { BertModel(configuration) }  // every weight is loaded strictly below
        try model.loadCheckpointWeights(Checkpoint.renamed(try Checkpoint.weights(of: files), modelName))
        return model
    }
}

/// BERT with a linear classifier over the pooled output (HF `BertForSequenceClassification`:
/// `bert.*` and `classifier.*`).
public final class BertForSequenceClassification: Module {
    /// The encoder.
    @Child("bert") public var bert: BertModel
    /// The classification head `[labels, hidden]` over the pooled output.
    @Child("classifier") public var classifier: any LinearLayer
    /// Whether the head was initialised at random here rather than read from the checkpoint (its
    /// scores mean nothing until it is trained or an adapter supplies it).
    public internal(set) var headIsNew = false

    /// A randomly initialised encoder with a classifier of `labels` classes.
    public init(_ configuration: BertConfiguration, labels: Int, seed: UInt64 = 0) {
        var generator = SeededRandom(seed: seed &+ 1)
        super.init()
        registerChild(_bert, BertModel(configuration, seed: seed))
        registerChild(_classifier, Linear(inFeatures: configuration.hiddenSize, outFeatures: labels, generator: &generator))
    }

    /// Class logits `(B, labels)`.
    public func callAsFunction(_ ids: [Int], batch: Int = 1, attentionMask: [Bool]? = nil, tokenTypeIDs: [Int]? = nil) throws -> Variable {
        classifier(try bert(ids, batch: batch, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs).pooled)
    }

    /// Loads a `BertForSequenceClassification` folder.
    public static func load(folder: URL) throws -> BertForSequenceClassification {
        let configuration = try BertConfiguration(json: try Checkpoint.configuration(in: folder))
        let files = try Checkpoint.files(in: folder)
        let shapes = Checkpoint.tensorShapes(of: files)
        guard let labels = configuration.labelCount ?? shapes["classifier.weight"]?.first else {
            throw ModelError.missingWeights(["classifier.weight"])
        }
        try ConfigurationLimits.require(labels, in: 1...ConfigurationLimits.rows, "classifier.weight labels")
        var plan = configuration.parameterPlan(prefix: "bert.")
        plan.addLinear("classifier", out: labels, in: configuration.hiddenSize, bias: true)
        try plan.verify(against: shapes)
        let model = BertForSequenceClassification(configuration, labels: labels)
        try model.loadCheckpointWeights(try Checkpoint.weights(of: files))
        return model
    }

    /// A classifier over a pretrained encoder: loads a `BertModel` folder (such as a sentence
    /// embedding model, which has no classification head) and adds a new head for `labels` classes,
    /// initialised from `seed`. A folder that already holds `classifier.*` for that many labels
    /// keeps its head.
    public static func load(encoderFolder folder: URL, labels: Int, seed: UInt64 = 0) throws -> BertForSequenceClassification {
        try ConfigurationLimits.require(labels, in: 1...ConfigurationLimits.rows, "labels")
        let shapes = Checkpoint.tensorShapes(of: try Checkpoint.files(in: folder))
        if shapes["classifier.weight"]?.first == labels { return try load(folder: folder) }
        let encoder = try BertModel.load(folder: folder)
        let model = BertForSequenceClassification(encoder.configuration, labels: labels, seed: seed)
        try model.replaceModule(at: "bert", with: encoder)
        model.headIsNew = true
        return model
    }
}

