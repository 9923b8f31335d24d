import ModelIO

/// Hyper-parameters of a BERT encoder (BERT, MiniLM, sentence-transformers models).
public struct BertConfiguration: Sendable, Equatable {
    /// Token ids with embeddings (`vocab_size`).
    public var vocabularySize: Int
    /// Width of the encoder (`hidden_size`).
    public var hiddenSize: Int
    /// Encoder layers (`num_hidden_layers`).
    public var layerCount: Int
    /// Attention heads (`num_attention_heads`).
    public var attentionHeads: Int
    /// Width of the feed-forward layer (`intermediate_size`).
    public var intermediateSize: Int
    /// Longest sequence (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// Segment (token type) ids (`type_vocab_size`).
    public var typeVocabularySize: Int
    /// LayerNorm epsilon (`layer_norm_eps`).
    public var layerNormEpsilon: Float
    /// Number of classes for sequence classification (from `id2label`), if any.
    public var labelCount: Int?

    /// A configuration from its fields.
    public init(vocabularySize: Int, hiddenSize: Int, layerCount: Int, attentionHeads: Int, intermediateSize: Int,
                maxPositionEmbeddings: Int = 512, typeVocabularySize: Int = 2, layerNormEpsilon: Float = 1e-12, labelCount: Int? = nil) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.attentionHeads = attentionHeads
        self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.labelCount = labelCount
    }

    /// Reads a transformers `config.json` with `model_type` "bert".
    public init(json: JSONValue) throws {
        let type = json["model_type"]?.string ?? "bert"
        guard type == "bert" else { throw ModelError.unsupportedArchitecture(type) }
        func integer(_ key: String, default value: Int? = nil) throws -> Int { try json.configurationInteger(key, default: value) }
        if let activation = json["hidden_act"]?.string, activation != "gelu" {
            throw ModelError.invalidConfiguration(field: "hidden_act", reason: "'\(activation)' is not supported (only exact gelu)")
        }
        self.init(vocabularySize: try integer("vocab_size"), hiddenSize: try integer("hidden_size"),
                  layerCount: try integer("num_hidden_layers"), attentionHeads: try integer("num_attention_heads"),
                  intermediateSize: try integer("intermediate_size"),
                  maxPositionEmbeddings: try integer("max_position_embeddings", default: 512),
                  typeVocabularySize: try integer("type_vocab_size", default: 2),
                  layerNormEpsilon: Float(json["layer_norm_eps"]?.number ?? 1e-12),
                  labelCount: json["id2label"]?.members?.count)
        try validate()
    }

    /// Checks sizes against `ConfigurationLimits` and the relations the architecture depends on.
    public func validate() throws {
        typealias Limits = ConfigurationLimits
        try Limits.require(vocabularySize, in: 1...Limits.rows, "vocab_size")
        try Limits.require(hiddenSize, in: 1...Limits.width, "hidden_size")
        try Limits.require(intermediateSize, in: 1...Limits.width, "intermediate_size")
        try Limits.require(layerCount, in: 1...Limits.count, "num_hidden_layers")
        try Limits.require(attentionHeads, in: 1...Limits.count, "num_attention_heads")
        try Limits.require(maxPositionEmbeddings, in: 1...Limits.rows, "max_position_embeddings")
        try Limits.require(typeVocabularySize, in: 1...Limits.rows, "type_vocab_size")
        try Limits.require(labelCount ?? 1, in: 1...Limits.rows, "id2label")
        guard hiddenSize % attentionHeads == 0 else {
            throw ModelError.invalidConfiguration(field: "num_attention_heads", reason: "\(attentionHeads) does not divide hidden size \(hiddenSize)")
        }
    }
}
