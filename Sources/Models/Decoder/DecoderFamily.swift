import ModelIO

/// What sets one decoder family apart from the shared decoder (`DecoderForCausalLM`): norm form and
/// placement, q/k normalisation, fused projections, embedding scaling, how its `config.json` and GGUF
/// metadata map onto `DecoderConfiguration`, its GGUF tensor names and its default adapter targets.
///
/// A family is data, not a model class: Llama, Mistral, Qwen2, Qwen3, Gemma 3 and Phi-3 are values
/// of this type (one small file each under `Decoder/Families/`), all run by the same decoder, so the
/// LoRA, quantized-base, KV-cache and training paths work for each without per-family code. Adding a
/// family is one such file plus its entry in `DecoderFamily.all`.
public struct DecoderFamily: Sendable {
    /// Where a block's norms sit.
    public enum NormPlacement: Sendable, Equatable {
        /// `h = x + attn(norm₁(x)); y = h + mlp(norm₂(h))` (Llama): `input_layernorm`,
        /// `post_attention_layernorm`.
        case beforeSublayers
        /// Gemma's four norms: `h = x + norm₂(attn(norm₁(x))); y = h + norm₄(mlp(norm₃(h)))` with
        /// `input_layernorm`, `post_attention_layernorm`, `pre_feedforward_layernorm`,
        /// `post_feedforward_layernorm`.
        case aroundSublayers
    }

    /// The family's name (`"llama"`, `"gemma3"` …).
    public var name: String
    /// `model_type` values of a transformers `config.json` that select this family.
    public var modelTypes: [String]
    /// `general.architecture` values of a GGUF file that select this family.
    public var ggufArchitectures: [String]
    /// The transformers class written into `config.json` (`architectures`) and the `model_type`.
    public var huggingFaceClass: String, huggingFaceModelType: String
    /// Added to every RMSNorm weight before it scales: 0, or 1 for Gemma's `(1 + weight)`.
    public var normWeightOffset: Float = 0
    /// Where the norms sit in a block.
    public var normPlacement: NormPlacement = .beforeSublayers
    /// Per-head RMSNorm of queries and keys before rotary (`q_norm`, `k_norm`: Qwen3, Gemma 3).
    public var normalizesQueriesAndKeys = false
    /// Token embeddings multiplied by √hidden (Gemma; the tied head reads the unscaled table).
    public var scalesEmbeddings = false
    /// One `qkv_proj` ([q | k | v] rows) and one `gate_up_proj` ([gate | up] rows) instead of five
    /// linears (Phi-3). Adapters target the fused modules as single linears, as PEFT does.
    public var fusesProjections = false
    /// The activation when the configuration names none.
    public var defaultActivation: DecoderConfiguration.Activation = .silu
    /// q/k bias when `attention_bias` is absent (Qwen2: true).
    public var defaultAttentionBias = false
    /// llama.cpp permutes the q/k rows of this family's GGUF files (the `llama` architecture only).
    public var ggufPermutesQueryKey = false
    /// llama.cpp's converter added `normWeightOffset` to every norm weight of this family's GGUF files
    /// (Gemma), so loading subtracts it to recover the Hugging Face weight.
    public var ggufNormsIncludeOffset = false
    /// GGUF tensor suffixes inside `blk.N.` → Hugging Face paths inside `model.layers.N.`, for this
    /// family's norms and fused or normalising modules (the shared names are in `DecoderFamily.sharedGGUFNames`).
    public var ggufNames: [String: String] = ["ffn_norm": "post_attention_layernorm"]
    /// The modules adapters wrap when a configuration names none (PEFT's tables for the model type).
    public var adapterTargets = DefaultAdapterTargets.llama
    /// Reads the family's own `config.json` keys into a configuration whose shared fields are set.
    public var readJSON: @Sendable (JSONValue, inout DecoderConfiguration) throws -> Void = { _, _ in }
    /// Reads the family's own GGUF metadata (`<arch>.*`) into a configuration whose shared fields are set.
    public var readGGUF: @Sendable (GGUFKeys, inout DecoderConfiguration) throws -> Void = { _, _ in }
    /// Adds the family's own keys to the `config.json` written for a configuration.
    public var writeJSON: @Sendable (DecoderConfiguration, inout [(String, JSONValue)]) -> Void = { _, _ in }

    /// A family with its names; every other property starts at the Llama form.
    public init(name: String, modelTypes: [String], ggufArchitectures: [String], huggingFaceClass: String, huggingFaceModelType: String) {
        self.name = name
        self.modelTypes = modelTypes
        self.ggufArchitectures = ggufArchitectures
        self.huggingFaceClass = huggingFaceClass
        self.huggingFaceModelType = huggingFaceModelType
    }

    /// Every family the decoder runs, in lookup order.
    public static let all: [DecoderFamily] = [.llama, .mistral, .qwen2, .qwen3, .gemma3, .phi3]

    /// The family a `config.json` `model_type` selects, if any.
    public static func forModelType(_ type: String) -> DecoderFamily? { all.first { $0.modelTypes.contains(type) } }

    /// The family a GGUF `general.architecture` selects, if any.
    public static func forGGUFArchitecture(_ architecture: String) -> DecoderFamily? {
        all.first { $0.ggufArchitectures.contains(architecture) }
    }

    /// GGUF tensor suffixes every family shares (inside `blk.N.`).
    public static let sharedGGUFNames = [
        "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    ]

    /// GGUF tensors outside the blocks → Hugging Face names.
    static let topLevelGGUFNames = ["token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                                    "output.weight": "lm_head.weight"]

    /// The GGUF tensor name of a Hugging Face parameter of this family (the inverse of
    /// `huggingFaceName(forGGUF:)`), or nil for a parameter GGUF files do not hold.
    public func ggufName(forHuggingFace name: String) -> String? {
        if let top = Self.topLevelGGUFNames.first(where: { $0.value == name })?.key { return top }
        let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let rest = parts[3]
        guard let dot = rest.lastIndex(of: ".") else { return nil }
        let module = String(rest[..<dot]), leaf = String(rest[rest.index(after: dot)...])
        let names = Self.sharedGGUFNames.merging(ggufNames) { _, own in own }
        guard let key = names.first(where: { $0.value == module })?.key else { return nil }
        return "blk.\(layer).\(key).\(leaf)"
    }

    /// The architecture name this family's GGUF files carry (`general.architecture`).
    public var ggufArchitecture: String { ggufArchitectures[0] }

    /// The Hugging Face parameter name of a GGUF tensor of this family, or nil for a name it does not use.
    public func huggingFaceName(forGGUF name: String) -> String? {
        if let mapped = Self.topLevelGGUFNames[name] { return mapped }
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        let key = String(parts[2])
        guard let suffix = ggufNames[key] ?? Self.sharedGGUFNames[key] else { return nil }
        return "model.layers.\(layer).\(suffix).\(parts[3])"
    }
}

/// Typed reads of one GGUF file's `<architecture>.*` metadata, with errors that name the GGUF key.
public struct GGUFKeys {
    /// The file's metadata.
    public let metadata: [String: GGUFValue]
    /// `general.architecture`.
    public let architecture: String

    /// The value of `<architecture>.<key>`, if present.
    public func value(_ key: String) -> GGUFValue? { metadata["\(architecture).\(key)"] }

    /// An integer `<architecture>.<key>`; nil when absent, an error naming the key when not an integer.
    public func integer(_ key: String) throws -> Int? {
        guard let found = value(key) else { return nil }
        guard let integer = found.integer else {
            throw ModelError.invalidConfiguration(field: "\(architecture).\(key)", reason: "not an integer")
        }
        return integer
    }

    /// A required integer `<architecture>.<key>`.
    public func requiredInteger(_ key: String) throws -> Int {
        guard let found = try integer(key) else {
            throw ModelError.invalidConfiguration(field: "\(architecture).\(key)", reason: "missing from the GGUF metadata")
        }
        return found
    }

    /// A number `<architecture>.<key>`; nil when absent, an error naming the key when not a finite number.
    public func number(_ key: String) throws -> Double? {
        guard let found = value(key) else { return nil }
        guard let number = found.double, number.isFinite else {
            throw ModelError.invalidConfiguration(field: "\(architecture).\(key)", reason: "not a finite number")
        }
        return number
    }
}
