import ModelIO

/// Hyper-parameters of a Llama-family decoder (Llama, SmolLM2, Mistral, Qwen2 variants).
public struct LlamaConfiguration: Sendable, Equatable {
    /// Token ids with embeddings and logits (`vocab_size`).
    public var vocabularySize: Int
    /// Width of the residual stream (`hidden_size`).
    public var hiddenSize: Int
    /// Width of the SwiGLU feed-forward layer (`intermediate_size`).
    public var intermediateSize: Int
    /// Decoder blocks (`num_hidden_layers`).
    public var layerCount: Int
    /// Query heads (`num_attention_heads`).
    public var attentionHeads: Int
    /// Key/value heads, fewer than query heads with grouped-query attention (`num_key_value_heads`).
    public var keyValueHeads: Int
    /// Size of each head (`head_dim`, default hidden size / heads).
    public var headDimension: Int
    /// Rotary position base (`rope_theta`).
    public var ropeTheta: Float
    /// Added inside RMSNorm's square root (`rms_norm_eps`).
    public var rmsNormEpsilon: Float
    /// The context length (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// Whether the output head reuses the token embedding (`tie_word_embeddings`).
    public var tieWordEmbeddings: Bool
    /// Qwen2 has biases on q/k/v.
    public var attentionBias: Bool

    /// A configuration from its fields (`validate()` checks them).
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
        typealias Limits = ConfigurationLimits
        try Limits.require(vocabularySize, in: 1...Limits.rows, "vocab_size")
        try Limits.require(hiddenSize, in: 1...Limits.width, "hidden_size")
        try Limits.require(intermediateSize, in: 1...Limits.width, "intermediate_size")
        try Limits.require(layerCount, in: 1...Limits.count, "num_hidden_layers")
        try Limits.require(attentionHeads, in: 1...Limits.count, "num_attention_heads")
        try Limits.require(keyValueHeads, in: 1...Limits.count, "num_key_value_heads")
        try Limits.require(headDimension, in: 1...Limits.width, "head_dim")
        try Limits.require(maxPositionEmbeddings, in: 1...Limits.rows, "max_position_embeddings")
        try require(attentionHeads % keyValueHeads == 0, "num_key_value_heads", "\(keyValueHeads) does not divide \(attentionHeads) heads")
        try require(headDimension > 0 && headDimension % 2 == 0, "head_dim", "must be positive and even, got \(headDimension)")
    }

    /// Reads a transformers `config.json` (`model_type` llama, mistral, qwen2 or any Llama-shaped decoder).
    public init(json: JSONValue) throws {
        func integer(_ key: String, default value: Int? = nil) throws -> Int { try json.configurationInteger(key, default: value) }
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
                  headDimension: (json["head_dim"]?.isNull ?? true) ? nil : try integer("head_dim"),
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
        // Errors name the GGUF key the user can find in the file, not the config.json field.
        let keys = ["vocab_size": "vocab_size", "hidden_size": "embedding_length", "intermediate_size": "feed_forward_length",
                    "num_hidden_layers": "block_count", "num_attention_heads": "attention.head_count",
                    "num_key_value_heads": "attention.head_count_kv", "head_dim": "attention.key_length",
                    "max_position_embeddings": "context_length"]
        do { try validate() } catch let ModelError.invalidConfiguration(field, reason) {
            throw ModelError.invalidConfiguration(field: keys[field].map { "\(arch).\($0)" } ?? field, reason: reason)
        }
    }
}

extension LlamaConfiguration {
    /// The configuration as a Hugging Face `config.json` object for `LlamaForCausalLM` (how a model
    /// read from a GGUF file is written out as a folder transformers loads).
    public func huggingFaceJSON(bosTokenID: Int?, eosTokenID: Int?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("architectures", .array([.string("LlamaForCausalLM")])),
            ("model_type", .string("llama")),
            ("vocab_size", .number(Double(vocabularySize))),
            ("hidden_size", .number(Double(hiddenSize))),
            ("intermediate_size", .number(Double(intermediateSize))),
            ("num_hidden_layers", .number(Double(layerCount))),
            ("num_attention_heads", .number(Double(attentionHeads))),
            ("num_key_value_heads", .number(Double(keyValueHeads))),
            ("head_dim", .number(Double(headDimension))),
            ("hidden_act", .string("silu")),
            ("max_position_embeddings", .number(Double(maxPositionEmbeddings))),
            ("rms_norm_eps", .number(Double(rmsNormEpsilon))),
            ("rope_theta", .number(Double(ropeTheta))),
            ("tie_word_embeddings", .bool(tieWordEmbeddings)),
            ("attention_bias", .bool(attentionBias)),
            ("mlp_bias", .bool(false)),
            ("torch_dtype", .string("float32")),
        ]
        if let bosTokenID { members.append(("bos_token_id", .number(Double(bosTokenID)))) }
        if let eosTokenID { members.append(("eos_token_id", .number(Double(eosTokenID)))) }
        return .object(members)
    }
}
