import Foundation
import Autograd
import ModelIO

extension DecoderConfiguration {
    /// Reads a transformers `config.json` of any family in `DecoderFamily.all` (chosen by `model_type`;
    /// a file without one is read as Llama). The shared keys are read here, the family's own by its
    /// `readJSON`; every error names the key.
    public init(json: JSONValue) throws {
        func integer(_ key: String, default value: Int? = nil) throws -> Int { try json.configurationInteger(key, default: value) }
        let type = json["model_type"]?.string ?? "llama"
        guard let family = DecoderFamily.forModelType(type) else { throw ModelError.unsupportedArchitecture(type) }
        let heads = try integer("num_attention_heads")
        self.init(vocabularySize: try integer("vocab_size"), hiddenSize: try integer("hidden_size"),
                  intermediateSize: try integer("intermediate_size"), layerCount: try integer("num_hidden_layers"),
                  attentionHeads: heads, keyValueHeads: try integer("num_key_value_heads", default: heads),
                  headDimension: (json["head_dim"]?.isNull ?? true) ? nil : try integer("head_dim"),
                  ropeTheta: 10_000, rmsNormEpsilon: Float(try Self.number(json, "rms_norm_eps") ?? 1e-6),
                  maxPositionEmbeddings: try integer("max_position_embeddings", default: 2048),
                  tieWordEmbeddings: try Self.flag(json, "tie_word_embeddings") ?? false,
                  attentionBias: try Self.flag(json, "attention_bias") ?? family.defaultAttentionBias, family: family)
        mlpBias = try Self.flag(json, "mlp_bias") ?? false
        for key in ["hidden_act", "hidden_activation"] {
            guard let value = json[key], !value.isNull else { continue }
            guard let name = value.string, let activation = Activation(huggingFaceName: name) else {
                throw ModelError.invalidConfiguration(field: key, reason: "activation \(value) is not supported (silu, gelu_pytorch_tanh, gelu)")
            }
            self.activation = activation
        }
        // Rope: transformers ≥ 5 nests it in `rope_parameters` (per layer type for Gemma 3); older files
        // use `rope_theta` and `rope_scaling`.
        let parameters = json["rope_parameters"].flatMap { $0.isNull ? nil : $0 }
        let globalField = parameters?["full_attention"] == nil ? "rope_parameters" : "rope_parameters.full_attention"
        let global = parameters?["full_attention"] ?? parameters
        let nestedTheta = try global.flatMap { try Self.scalingNumber($0, "rope_theta", field: globalField) }
        ropeTheta = Float(try Self.number(json, "rope_theta") ?? nestedTheta ?? 10_000)
        if let scaling = json["rope_scaling"].flatMap({ $0.isNull ? nil : $0 }) ?? global {
            ropeScaling = try Self.rotaryScaling(scaling, field: json["rope_scaling"].map { $0.isNull ? "rope_parameters" : "rope_scaling" } ?? "rope_parameters",
                                                 configuration: json)
        }
        if let sliding = parameters?["sliding_attention"],
           let theta = try Self.scalingNumber(sliding, "rope_theta", field: "rope_parameters.sliding_attention") {
            slidingRopeTheta = Float(theta)
        }
        if let explicit = json["layer_types"], !explicit.isNull {
            guard let names = explicit.array?.map({ $0.string.flatMap(AttentionKind.init(rawValue:)) }), !names.contains(where: { $0 == nil }) else {
                throw ModelError.invalidConfiguration(field: "layer_types", reason: "must list \"full_attention\" or \"sliding_attention\" per layer")
            }
            layerTypes = names.map { $0! }
        }
        try family.readJSON(json, &self)
        try validate()
    }

    /// Reads the `<arch>.*` metadata of a GGUF file of any family in `DecoderFamily.all` (chosen by
    /// `general.architecture`). Errors name the GGUF key the user can find in the file.
    public init(gguf: GGUFFile) throws {
        let arch = gguf.metadata["general.architecture"]?.string ?? "llama"
        guard let family = DecoderFamily.forGGUFArchitecture(arch) else { throw ModelError.unsupportedArchitecture(arch) }
        let keys = GGUFKeys(metadata: gguf.metadata, architecture: arch)
        let heads = try keys.requiredInteger("attention.head_count")
        let embeddingRows = gguf.tensors.first { $0.name == "token_embd.weight" }.flatMap { $0.dimensions.count == 2 ? Int(exactly: $0.dimensions[1]) : nil }
        let vocabulary = try keys.integer("vocab_size") ?? gguf.metadata["tokenizer.ggml.tokens"]?.array?.count ?? embeddingRows ?? 0
        guard let epsilon = try keys.number("attention.layer_norm_rms_epsilon") else {
            throw ModelError.invalidConfiguration(field: "\(arch).attention.layer_norm_rms_epsilon", reason: "missing from the GGUF metadata")
        }
        self.init(vocabularySize: vocabulary, hiddenSize: try keys.requiredInteger("embedding_length"),
                  intermediateSize: try keys.requiredInteger("feed_forward_length"),
                  layerCount: try keys.requiredInteger("block_count"), attentionHeads: heads,
                  keyValueHeads: try keys.integer("attention.head_count_kv") ?? heads,
                  headDimension: try keys.integer("attention.key_length"),
                  ropeTheta: Float(try keys.number("rope.freq_base") ?? 10_000), rmsNormEpsilon: Float(epsilon),
                  maxPositionEmbeddings: try keys.integer("context_length") ?? 2048,
                  tieWordEmbeddings: !gguf.tensors.contains { $0.name == "output.weight" },
                  attentionBias: family.defaultAttentionBias, family: family)
        if let rotary = try keys.integer("rope.dimension_count") { rotaryDimension = rotary }
        if let type = keys.value("rope.scaling.type")?.string, type != "none" {
            guard type == "linear", let factor = try keys.number("rope.scaling.factor") else {
                throw ModelError.invalidConfiguration(field: "\(arch).rope.scaling.type", reason: "RoPE scaling '\(type)' is not supported (linear is)")
            }
            ropeScaling = .linear(factor: Float(factor))
        }
        do {
            if let frequencies = gguf.tensors.first(where: { $0.name == "rope_freqs.weight" }) {
                ropeScaling = .divided(try gguf.floats(of: frequencies))
            }
            // LongRoPE (Phi-3 128k, Phi-4-mini): llama.cpp stores the factor lists as tensors.
            if let long = gguf.tensors.first(where: { $0.name == "rope_factors_long.weight" }),
               let short = gguf.tensors.first(where: { $0.name == "rope_factors_short.weight" }) {
                guard let original = try keys.integer("rope.scaling.original_context_length"), original > 1 else {
                    throw ModelError.invalidConfiguration(field: "\(arch).rope.scaling.original_context_length",
                                                          reason: "LongRoPE factors need the original context (> 1)")
                }
                let context = try keys.integer("context_length") ?? original
                let scale = Double(context) / Double(original)
                let attention = try keys.number("rope.scaling.attn_factor")
                    ?? (scale <= 1 ? 1 : (1 + Foundation.log(scale) / Foundation.log(Double(original))).squareRoot())
                ropeScaling = .longRoPE(short: try gguf.floats(of: short), long: try gguf.floats(of: long), originalContext: original,
                                        attentionFactor: Float(attention))
            }
        } catch let error as ModelFileError { throw ModelError.file(error) }
        if let cap = try keys.number("final_logit_softcapping") { finalLogitSoftcap = Float(cap) }
        try family.readGGUF(keys, &self)
        let names = ["vocab_size": "vocab_size", "hidden_size": "embedding_length", "intermediate_size": "feed_forward_length",
                     "num_hidden_layers": "block_count", "num_attention_heads": "attention.head_count",
                     "num_key_value_heads": "attention.head_count_kv", "head_dim": "attention.key_length",
                     "max_position_embeddings": "context_length", "sliding_window": "attention.sliding_window",
                     "partial_rotary_factor": "rope.dimension_count", "rope_theta": "rope.freq_base",
                     "rms_norm_eps": "attention.layer_norm_rms_epsilon"]
        do { try validate() } catch let ModelError.invalidConfiguration(field, reason) {
            throw ModelError.invalidConfiguration(field: names[field].map { "\(arch).\($0)" } ?? field, reason: reason)
        }
    }

    /// GGUF tensors that hold rotary scaling rather than weights (llama3's `rope_freqs`, LongRoPE's factors).
    static let ggufRopeTensors: Set<String> = ["rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"]

    /// A number field of a `config.json` object; nil when absent or null, an error naming it otherwise.
    static func number(_ json: JSONValue, _ key: String) throws -> Double? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let number = value.number, number.isFinite else {
            throw ModelError.invalidConfiguration(field: key, reason: "must be a number, got \(value)")
        }
        return number
    }

    /// A boolean field of a `config.json` object; nil when absent or null.
    static func flag(_ json: JSONValue, _ key: String) throws -> Bool? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let flag = value.bool else { throw ModelError.invalidConfiguration(field: key, reason: "must be true or false, got \(value)") }
        return flag
    }

    /// `rope_scaling` / one entry of `rope_parameters`: nil for the default, linear, llama3 or longrope
    /// scaling (the last reads `original_max_position_embeddings` and `max_position_embeddings` from the
    /// `configuration` when the entry lacks them), an error naming any other kind.
    static func rotaryScaling(_ json: JSONValue, field: String, configuration: JSONValue) throws -> RotaryScaling? {
        guard let kind = json["rope_type"]?.string ?? json["type"]?.string, kind != "default" else { return nil }
        if kind == "longrope" { return try longRoPE(json, field: field, configuration: configuration) }
        guard let factor = try scalingNumber(json, "factor", field: field) else {
            throw ModelError.invalidConfiguration(field: "\(field).factor", reason: "missing for RoPE scaling '\(kind)'")
        }
        switch kind {
        case "linear": return .linear(factor: Float(factor))
        case "llama3":
            guard let low = try scalingNumber(json, "low_freq_factor", field: field), let high = try scalingNumber(json, "high_freq_factor", field: field),
                  let original = json["original_max_position_embeddings"]?.integer else {
                throw ModelError.invalidConfiguration(field: field, reason: "llama3 scaling needs low_freq_factor, high_freq_factor and original_max_position_embeddings")
            }
            return .llama3(factor: Float(factor), lowFrequencyFactor: Float(low), highFrequencyFactor: Float(high), originalContext: original)
        default:
            throw ModelError.invalidConfiguration(field: "\(field).rope_type", reason: "RoPE scaling '\(kind)' is not supported yet (linear, llama3 and longrope are)")
        }
    }

    /// A number inside a rope-scaling object, its errors naming the object (`rope_parameters.factor`).
    static func scalingNumber(_ json: JSONValue, _ key: String, field: String) throws -> Double? {
        do { return try number(json, key) } catch let ModelError.invalidConfiguration(_, reason) {
            throw ModelError.invalidConfiguration(field: "\(field).\(key)", reason: reason)
        }
    }

    /// LongRoPE (transformers' `_compute_longrope_parameters`): the factor lists, the original context,
    /// and the attention factor (given, or √(1 + ln s / ln original) with s = context / original when above 1).
    static func longRoPE(_ json: JSONValue, field: String, configuration: JSONValue) throws -> RotaryScaling {
        func factors(_ key: String) throws -> [Float] {
            guard let list = json[key]?.array, !list.isEmpty,
                  let values = Optional(list.compactMap { $0.number.map(Float.init) }), values.count == list.count,
                  values.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw ModelError.invalidConfiguration(field: "\(field).\(key)", reason: "must be a list of positive numbers")
            }
            return values
        }
        let short = try factors("short_factor"), long = try factors("long_factor")
        guard let original = json["original_max_position_embeddings"]?.integer ?? configuration["original_max_position_embeddings"]?.integer,
              original > 1 else {
            throw ModelError.invalidConfiguration(field: "original_max_position_embeddings", reason: "longrope scaling needs the original context (> 1)")
        }
        var attention = try scalingNumber(json, "attention_factor", field: field)
        if attention == nil {
            let context = try configuration.configurationInteger("max_position_embeddings", default: 2048)
            let scale = try scalingNumber(json, "factor", field: field) ?? Double(context) / Double(original)
            attention = scale <= 1 ? 1 : (1 + Foundation.log(scale) / Foundation.log(Double(original))).squareRoot()
        }
        return .longRoPE(short: short, long: long, originalContext: original, attentionFactor: Float(attention!))
    }
}
