import ModelIO

/// Hyper-parameters of a Llama-family decoder (Llama, SmolLM2, Mistral, Qwen2 variants).
public struct LlamaConfiguration: Sendable, Equatable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var attentionHeads: Int
    public var keyValueHeads: Int
    public var headDimension: Int
    public var ropeTheta: Float
    public var rmsNormEpsilon: Float
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    /// Qwen2 has biases on q/k/v.
    public var attentionBias: Bool

    public init(vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int, attentionHeads: Int,
                keyValueHeads: Int, headDimension: Int? = nil, ropeTheta: Float = 10_000, rmsNormEpsilon: Float = 1e-6,
                maxPositionEmbeddings: Int = 2048, tieWordEmbeddings: Bool = false, attentionBias: Bool = false) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.attentionHeads = attentionHeads
        self.keyValueHeads = keyValueHeads
        self.headDimension = headDimension ?? hiddenSize / max(attentionHeads, 1)
        self.ropeTheta = ropeTheta
        self.rmsNormEpsilon = rmsNormEpsilon
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
    }

    /// Checks the relations the architecture depends on.
    public func validate() throws {
        func require(_ condition: Bool, _ field: String, _ reason: String) throws {
            if !condition { throw ModelError.invalidConfiguration(field: field, reason: reason) }
        }
        try require(vocabularySize > 0, "vocab_size", "must be positive")
        try require(hiddenSize > 0, "hidden_size", "must be positive")
        try require(intermediateSize > 0, "intermediate_size", "must be positive")
        try require(layerCount > 0, "num_hidden_layers", "must be positive")
        try require(attentionHeads > 0 && keyValueHeads > 0, "num_attention_heads", "head counts must be positive")
        try require(attentionHeads % keyValueHeads == 0, "num_key_value_heads", "\(keyValueHeads) does not divide \(attentionHeads) heads")
        try require(headDimension > 0 && headDimension % 2 == 0, "head_dim", "must be positive and even, got \(headDimension)")
    }

    /// Reads a transformers `config.json` (`model_type` llama, mistral, qwen2 or any Llama-shaped decoder).
    public init(json: JSONValue) throws {
        func integer(_ key: String, default value: Int? = nil) throws -> Int {
            if let found = json[key]?.integer { return found }
            if let value { return value }
            throw ModelError.invalidConfiguration(field: key, reason: "missing or not an integer")
        }
        let type = json["model_type"]?.string ?? "llama"
        guard ["llama", "mistral", "qwen2"].contains(type) else { throw ModelError.unsupportedArchitecture(type) }
        let heads = try integer("num_attention_heads")
        // transformers ≥ 5 nests rope settings in `rope_parameters`; older files use `rope_theta`/`rope_scaling`.
        let rope = json["rope_parameters"] ?? json["rope_scaling"]
        if let rope, !rope.isNull, let kind = rope["rope_type"]?.string ?? rope["type"]?.string, kind != "default" {
            throw ModelError.invalidConfiguration(field: "rope_parameters.rope_type", reason: "RoPE scaling '\(kind)' is not supported yet")
        }
        let theta = json["rope_theta"]?.number ?? rope?["rope_theta"]?.number ?? 10_000
        self.init(vocabularySize: try integer("vocab_size"), hiddenSize: try integer("hidden_size"),
                  intermediateSize: try integer("intermediate_size"), layerCount: try integer("num_hidden_layers"),
                  attentionHeads: heads, keyValueHeads: try integer("num_key_value_heads", default: heads),
                  headDimension: json["head_dim"]?.integer,
                  ropeTheta: Float(theta),
                  rmsNormEpsilon: Float(json["rms_norm_eps"]?.number ?? 1e-6),
                  maxPositionEmbeddings: try integer("max_position_embeddings", default: 2048),
                  tieWordEmbeddings: json["tie_word_embeddings"]?.bool ?? false,
                  attentionBias: json["attention_bias"]?.bool ?? (type == "qwen2"))
        try validate()
    }

    /// Reads the `<arch>.*` metadata of a GGUF file (arch `llama`, `qwen2`…).
    public init(gguf: GGUFFile) throws {
        let arch = gguf.metadata["general.architecture"]?.string ?? "llama"
        guard ["llama", "qwen2", "mistral"].contains(arch) else { throw ModelError.unsupportedArchitecture(arch) }
        func value(_ key: String) throws -> GGUFValue {
            guard let found = gguf.metadata["\(arch).\(key)"] else {
                throw ModelError.invalidConfiguration(field: "\(arch).\(key)", reason: "missing from the GGUF metadata")
            }
            return found
        }
        func integer(_ key: String) throws -> Int {
            guard let found = try value(key).integer else { throw ModelError.invalidConfiguration(field: "\(arch).\(key)", reason: "not an integer") }
            return found
        }
        let heads = try integer("attention.head_count")
        let hidden = try integer("embedding_length")
        let vocabulary = gguf.metadata["\(arch).vocab_size"]?.integer ?? gguf.metadata["tokenizer.ggml.tokens"]?.array?.count ?? 0
        self.init(vocabularySize: vocabulary, hiddenSize: hidden, intermediateSize: try integer("feed_forward_length"),
                  layerCount: try integer("block_count"), attentionHeads: heads,
                  keyValueHeads: gguf.metadata["\(arch).attention.head_count_kv"]?.integer ?? heads,
                  headDimension: gguf.metadata["\(arch).attention.key_length"]?.integer,
                  ropeTheta: Float(gguf.metadata["\(arch).rope.freq_base"]?.double ?? 10_000),
                  rmsNormEpsilon: Float(try value("attention.layer_norm_rms_epsilon").double ?? 1e-6),
                  maxPositionEmbeddings: gguf.metadata["\(arch).context_length"]?.integer ?? 2048,
                  tieWordEmbeddings: !gguf.tensors.contains { $0.name == "output.weight" },
                  attentionBias: arch == "qwen2")
        try validate()
    }
}
