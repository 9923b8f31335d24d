import Autograd
import ModelIO

/// Hyper-parameters of a decoder of any family `DecoderForCausalLM` runs (Llama, SmolLM2, Mistral,
/// Qwen2, Qwen3, Gemma 3, Phi-3). The shared fields carry transformers' `config.json` meaning; what a
/// family adds (windows, per-layer rope bases, soft-capping …) has neutral defaults, so a Llama
/// configuration is written exactly as before.
public struct DecoderConfiguration: Sendable, Equatable {
    /// The feed-forward gate's activation.
    public enum Activation: String, Sendable, Equatable {
        /// `x·σ(x)` (`silu`, SwiGLU).
        case silu
        /// GELU with the tanh approximation (`gelu_pytorch_tanh`, `gelu_new`: GeGLU in Gemma).
        case geluTanh
        /// Exact GELU (`gelu`).
        case gelu

        /// The activation a `hidden_act`/`hidden_activation` value names, or nil.
        public init?(huggingFaceName: String) {
            switch huggingFaceName {
            case "silu", "swish": self = .silu
            case "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu_tanh": self = .geluTanh
            case "gelu": self = .gelu
            default: return nil
            }
        }

        /// The name transformers uses.
        public var huggingFaceName: String {
            switch self {
            case .silu: return "silu"
            case .geluTanh: return "gelu_pytorch_tanh"
            case .gelu: return "gelu"
            }
        }
    }

    /// How a layer attends.
    public enum AttentionKind: String, Sendable, Equatable {
        /// Every earlier position (`full_attention`).
        case full = "full_attention"
        /// The last `slidingWindow` positions (`sliding_attention`).
        case sliding = "sliding_attention"
    }

    /// The family whose shape this is.
    public var family: DecoderFamily
    /// Token ids with embeddings and logits (`vocab_size`).
    public var vocabularySize: Int
    /// Width of the residual stream (`hidden_size`).
    public var hiddenSize: Int
    /// Width of the gated feed-forward layer (`intermediate_size`).
    public var intermediateSize: Int
    /// Decoder blocks (`num_hidden_layers`).
    public var layerCount: Int
    /// Query heads (`num_attention_heads`).
    public var attentionHeads: Int
    /// Key/value heads, fewer than query heads with grouped-query attention (`num_key_value_heads`).
    public var keyValueHeads: Int
    /// Size of each head (`head_dim`, default hidden size / heads; Qwen3 and Gemma set it apart).
    public var headDimension: Int
    /// Rotary position base of full-attention layers (`rope_theta`).
    public var ropeTheta: Float
    /// Added inside RMSNorm's square root (`rms_norm_eps`).
    public var rmsNormEpsilon: Float
    /// The context length (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// Whether the output head reuses the token embedding (`tie_word_embeddings`).
    public var tieWordEmbeddings: Bool
    /// Biases on q/k/v (`attention_bias`; Qwen2 has them).
    public var attentionBias: Bool
    /// Biases on the feed-forward linears (`mlp_bias`).
    public var mlpBias = false
    /// The feed-forward gate's activation (`hidden_act`, Gemma's `hidden_activation`).
    public var activation: Activation
    /// Each layer's attention (`layer_types`); all `.full` unless the family slides.
    public var layerTypes: [AttentionKind]
    /// Positions a sliding layer sees, itself included (`sliding_window`); nil when no layer slides.
    public var slidingWindow: Int?
    /// Rotary base of sliding layers (Gemma's `rope_local_base_freq`); nil: `ropeTheta`.
    public var slidingRopeTheta: Float?
    /// Frequency scaling of full-attention layers (`rope_scaling` / `rope_parameters`).
    public var ropeScaling: RotaryScaling?
    /// Whether sliding layers take `ropeScaling` too (Gemma 3: only global layers do).
    public var slidingLayersUseRopeScaling = true
    /// Rotated elements of each head (Phi-3's `partial_rotary_factor` × head size); default the head size.
    public var rotaryDimension: Int
    /// Multiplier of the attention scores (Gemma's `query_pre_attn_scalar ** -0.5`); nil: `1/√head_dim`.
    public var attentionScale: Float?
    /// `cap · tanh(logits / cap)` on the final logits (`final_logit_softcapping`); nil: none.
    public var finalLogitSoftcap: Float?

    /// A configuration from its fields (`validate()` checks them). The family-specific fields keep
    /// their neutral values (every layer full, no window, plain scaling) unless set afterwards.
    public init(vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int, attentionHeads: Int,
                keyValueHeads: Int, headDimension: Int? = nil, ropeTheta: Float = 10_000, rmsNormEpsilon: Float = 1e-6,
                maxPositionEmbeddings: Int = 2048, tieWordEmbeddings: Bool = false, attentionBias: Bool = false,
                family: DecoderFamily = .llama) {
        self.family = family
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
        self.activation = family.defaultActivation
        self.layerTypes = Array(repeating: .full, count: max(layerCount, 0))
        self.rotaryDimension = self.headDimension
    }

    /// Equal when every field is, the family compared by name.
    public static func == (a: DecoderConfiguration, b: DecoderConfiguration) -> Bool {
        a.family.name == b.family.name && a.vocabularySize == b.vocabularySize && a.hiddenSize == b.hiddenSize
            && a.intermediateSize == b.intermediateSize && a.layerCount == b.layerCount && a.attentionHeads == b.attentionHeads
            && a.keyValueHeads == b.keyValueHeads && a.headDimension == b.headDimension && a.ropeTheta == b.ropeTheta
            && a.rmsNormEpsilon == b.rmsNormEpsilon && a.maxPositionEmbeddings == b.maxPositionEmbeddings
            && a.tieWordEmbeddings == b.tieWordEmbeddings && a.attentionBias == b.attentionBias && a.mlpBias == b.mlpBias
            && a.activation == b.activation && a.layerTypes == b.layerTypes && a.slidingWindow == b.slidingWindow
            && a.slidingRopeTheta == b.slidingRopeTheta && a.ropeScaling == b.ropeScaling
            && a.slidingLayersUseRopeScaling == b.slidingLayersUseRopeScaling && a.rotaryDimension == b.rotaryDimension
            && a.attentionScale == b.attentionScale && a.finalLogitSoftcap == b.finalLogitSoftcap
    }

    /// Makes every layer slide with `window` positions (Mistral, Phi-3), or none when nil.
    public mutating func slideEveryLayer(window: Int?) {
        slidingWindow = window
        layerTypes = Array(repeating: window == nil ? .full : .sliding, count: layerCount)
    }

    /// The window layer `index` attends within, or nil for full attention.
    public func window(ofLayer index: Int) -> Int? { layerTypes[index] == .sliding ? slidingWindow : nil }

    /// Checks the relations the architecture depends on.
    public func validate() throws {
        func require(_ condition: Bool, _ field: String, _ reason: @autoclosure () -> String) throws {
            if !condition { throw ModelError.invalidConfiguration(field: field, reason: reason()) }
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
        try require(attentionHeads * headDimension <= Limits.width, "head_dim",
                    "\(attentionHeads) heads of \(headDimension) are wider than \(Limits.width)")
        try require(rotaryDimension > 0 && rotaryDimension % 2 == 0 && rotaryDimension <= headDimension, "partial_rotary_factor",
                    "rotates \(rotaryDimension) of \(headDimension) elements per head; it must be even, positive and at most the head size")
        try require(ropeTheta.isFinite && ropeTheta > 1, "rope_theta", "must be a finite number above 1, got \(ropeTheta)")
        if let slidingRopeTheta {
            try require(slidingRopeTheta.isFinite && slidingRopeTheta > 1, "rope_local_base_freq", "must be a finite number above 1, got \(slidingRopeTheta)")
        }
        try require(rmsNormEpsilon.isFinite && rmsNormEpsilon >= 0, "rms_norm_eps", "must be a finite number ≥ 0, got \(rmsNormEpsilon)")
        try require(layerTypes.count == layerCount, "layer_types", "lists \(layerTypes.count) layers for \(layerCount) hidden layers")
        if layerTypes.contains(.sliding) {
            guard let window = slidingWindow else { throw ModelError.invalidConfiguration(field: "sliding_window", reason: "missing, but some layers slide") }
            try require(window > 0, "sliding_window", "must be positive, got \(window)")
            try require(window <= maxPositionEmbeddings, "sliding_window",
                        "\(window) is larger than the context of \(maxPositionEmbeddings) positions")
        }
        if let attentionScale { try require(attentionScale.isFinite && attentionScale > 0, "query_pre_attn_scalar", "gives the attention scale \(attentionScale)") }
        if let finalLogitSoftcap { try require(finalLogitSoftcap.isFinite && finalLogitSoftcap > 0, "final_logit_softcapping", "must be a positive number, got \(finalLogitSoftcap)") }
        switch ropeScaling {
        case let .linear(factor)?:
            try require(factor.isFinite && factor >= 1, "rope_scaling.factor", "must be at least 1, got \(factor)")
        case let .llama3(factor, low, high, original)?:
            try require(factor.isFinite && factor >= 1, "rope_scaling.factor", "must be at least 1, got \(factor)")
            try require(low.isFinite && high.isFinite && low > 0 && high > low, "rope_scaling.high_freq_factor",
                        "low_freq_factor \(low) and high_freq_factor \(high) must be positive and increasing")
            try require(original > 0, "rope_scaling.original_max_position_embeddings", "must be positive, got \(original)")
        case let .divided(divisors)?:
            try require(divisors.count == rotaryDimension / 2 && divisors.allSatisfy { $0.isFinite && $0 > 0 }, "rope_freqs",
                        "\(divisors.count) positive factors are needed for \(rotaryDimension / 2) frequencies")
        case let .longRoPE(short, long, original, attention)?:
            try require(short.count == rotaryDimension / 2 && long.count == rotaryDimension / 2, "short_factor",
                        "\(short.count) short and \(long.count) long factors for \(rotaryDimension / 2) frequencies")
            try require(original > 1, "original_max_position_embeddings", "must be above 1, got \(original)")
            try require(attention.isFinite && attention > 0, "attention_factor", "must be a positive number, got \(attention)")
        case nil: break
        }
    }

    /// The scale applied to attention scores.
    public var scoreScale: Float { attentionScale ?? 1 / Float(headDimension).squareRoot() }
}
