import Autograd
import NN
import Tensors

/// Multi-head attention with grouped-query heads and rotary positions (HF names `q_proj` … `o_proj`,
/// or Phi-3's fused `qkv_proj`), optional per-head q/k RMSNorm and an optional sliding window.
public final class DecoderAttention: Module {
    let configuration: DecoderConfiguration
    let rotary: RotaryEmbedding
    /// Positions this layer sees (nil: all earlier ones).
    let window: Int?
    @Child("q_proj") var qProj: any LinearLayer
    @Child("k_proj") var kProj: any LinearLayer
    @Child("v_proj") var vProj: any LinearLayer
    @Child("qkv_proj") var qkvProj: any LinearLayer
    @Child("o_proj") var oProj: any LinearLayer
    @Child("q_norm") var qNorm: RMSNorm
    @Child("k_norm") var kNorm: RMSNorm

    init(_ c: DecoderConfiguration, layer: Int, generator: inout SeededRandom) {
        self.configuration = c
        window = c.window(ofLayer: layer)
        let sliding = c.layerTypes[layer] == .sliding
        rotary = RotaryEmbedding(dimension: c.rotaryDimension, base: sliding ? c.slidingRopeTheta ?? c.ropeTheta : c.ropeTheta,
                                 scaling: sliding && !c.slidingLayersUseRopeScaling ? nil : c.ropeScaling)
        super.init()
        let (q, kv) = (c.attentionHeads * c.headDimension, c.keyValueHeads * c.headDimension)
        if c.family.fusesProjections {
            registerChild(_qkvProj, Linear(inFeatures: c.hiddenSize, outFeatures: q + 2 * kv, bias: c.attentionBias, generator: &generator))
        } else {
            registerChild(_qProj, Linear(inFeatures: c.hiddenSize, outFeatures: q, bias: c.attentionBias, generator: &generator))
            registerChild(_kProj, Linear(inFeatures: c.hiddenSize, outFeatures: kv, bias: c.attentionBias, generator: &generator))
            registerChild(_vProj, Linear(inFeatures: c.hiddenSize, outFeatures: kv, bias: c.attentionBias, generator: &generator))
        }
        registerChild(_oProj, Linear(inFeatures: q, outFeatures: c.hiddenSize, bias: false, generator: &generator))
        if c.family.normalizesQueriesAndKeys {
            registerChild(_qNorm, RMSNorm(dimension: c.headDimension, epsilon: c.rmsNormEpsilon, weightOffset: c.family.normWeightOffset))
            registerChild(_kNorm, RMSNorm(dimension: c.headDimension, epsilon: c.rmsNormEpsilon, weightOffset: c.family.normWeightOffset))
        }
    }

    /// x: (B, T, C) → (B, T, C). `positions` are the absolute positions of the T new tokens.
    /// With `spans` (B = 1), the T rows are several sequences' new tokens, each span attending
    /// with its own positions and cache (`positions`, `keyMask` and `cache` are then unused).
    func callAsFunction(_ x: Variable, positions: [Int], keyMask: [Bool]?, segments: [Int]? = nil, cache: KeyValueCache?, layer: Int,
                        spans: [SequenceSpan]? = nil) -> Variable {
        let c = configuration
        let (qWidth, kvWidth) = (c.attentionHeads * c.headDimension, c.keyValueHeads * c.headDimension)
        var (q, k, v): (Variable, Variable, Variable)
        if c.family.fusesProjections {
            let qkv = qkvProj(x)  // (B, T, q + 2kv): [q | k | v]
            (q, k, v) = (qkv.slice(axis: 2, 0..<qWidth), qkv.slice(axis: 2, qWidth..<(qWidth + kvWidth)),
                         qkv.slice(axis: 2, (qWidth + kvWidth)..<(qWidth + 2 * kvWidth)))
        } else {
            (q, k, v) = (qProj(x), kProj(x), vProj(x))
        }
        guard let spans else {
            return oProj(attend(q, k, v, positions: positions, keyMask: keyMask, segments: segments, cache: cache, layer: layer))
        }
        precondition(x.shape[0] == 1, "DecoderAttention: sequences run together are laid out in one row, got \(x.shape)")
        // Each span attends as its sequence's own pass does: its products (heads of a group stacked
        // with its queries) are not rows of the batch, so `GEMM.rowsIndependent` does not apply to them.
        let parts = GEMM.$rowsIndependent.withValue(false) {
            spans.map { span in
                attend(q.slice(axis: 1, span.rows), k.slice(axis: 1, span.rows), v.slice(axis: 1, span.rows), positions: span.positions,
                       keyMask: nil, segments: nil, cache: span.cache, layer: layer)
            }
        }
        return oProj(parts.count == 1 ? parts[0] : Variable.concatenate(parts, axis: 1))
    }

    /// Attention of projected `q`, `k`, `v` `(B, T, heads·D)` at `positions`: (B, T, attention heads·D).
    private func attend(_ q: Variable, _ k: Variable, _ v: Variable, positions: [Int], keyMask: [Bool]?, segments: [Int]?,
                        cache: KeyValueCache?, layer: Int) -> Variable {
        let (b, t) = (q.shape[0], q.shape[1])
        let c = configuration
        var (q, k, v) = (q, k, v)
        // (B, T, H·D) → (B, T, H, D), normalised per head when the family does, → (B, H, T, D).
        q = q.reshaped([b, t, c.attentionHeads, c.headDimension])
        k = k.reshaped([b, t, c.keyValueHeads, c.headDimension])
        if c.family.normalizesQueriesAndKeys { (q, k) = (qNorm(q), kNorm(k)) }
        q = applyRotaryEmbedding(q.transposed(1, 2), positions: positions, rotary: rotary)
        k = applyRotaryEmbedding(k.transposed(1, 2), positions: positions, rotary: rotary)
        v = v.reshaped([b, t, c.keyValueHeads, c.headDimension]).transposed(1, 2)
        let attended: Variable
        if let cache {
            precondition(segments == nil, "DecoderAttention: packed segments cannot be used with a key-value cache")
            let cached = cache.append(layer: layer, keys: k.value, values: v.value, window: window)
            attended = scaledDotProductAttention(query: q, cached: cached.keysValues, causal: true, keyMask: cached.keyMask(keyMask),
                                                 scale: c.scoreScale, window: window)
        } else {
            attended = scaledDotProductAttention(query: q, key: k, value: v, causal: true, keyMask: keyMask, segments: segments,
                                                 scale: c.scoreScale, window: window)
        }
        return attended.transposed(1, 2).reshaped([b, t, c.attentionHeads * c.headDimension])
    }
}

/// One sequence's rows in a pass that runs several sequences together: its new tokens' rows, their
/// absolute positions, and the sequence's own cache.
struct SequenceSpan {
    /// Rows of the pass that are this sequence's new tokens.
    let rows: Range<Int>
    /// Their absolute positions.
    let positions: [Int]
    /// The sequence's keys and values.
    let cache: KeyValueCache
}

/// Gated feed-forward: `down(act(gate(x)) · up(x))` — SwiGLU (Llama), GeGLU (Gemma), or Phi-3's
/// fused `gate_up_proj` ([gate | up] rows).
public final class DecoderMLP: Module {
    let configuration: DecoderConfiguration
    @Child("gate_proj") var gateProj: any LinearLayer
    @Child("up_proj") var upProj: any LinearLayer
    @Child("gate_up_proj") var gateUpProj: any LinearLayer
    @Child("down_proj") var downProj: any LinearLayer

    init(_ c: DecoderConfiguration, generator: inout SeededRandom) {
        configuration = c
        super.init()
        if c.family.fusesProjections {
            registerChild(_gateUpProj, Linear(inFeatures: c.hiddenSize, outFeatures: 2 * c.intermediateSize, bias: c.mlpBias, generator: &generator))
        } else {
            registerChild(_gateProj, Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: c.mlpBias, generator: &generator))
            registerChild(_upProj, Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: c.mlpBias, generator: &generator))
        }
        registerChild(_downProj, Linear(inFeatures: c.intermediateSize, outFeatures: c.hiddenSize, bias: c.mlpBias, generator: &generator))
    }

    func callAsFunction(_ x: Variable) -> Variable {
        let gate: Variable, up: Variable
        if configuration.family.fusesProjections {
            let both = gateUpProj(x)
            let width = configuration.intermediateSize, axis = both.shape.count - 1
            (gate, up) = (both.slice(axis: axis, 0..<width), both.slice(axis: axis, width..<(2 * width)))
        } else {
            (gate, up) = (gateProj(x), upProj(x))
        }
        switch configuration.activation {
        case .silu: return downProj(swiGLU(gate: gate, up: up))
        case .geluTanh: return downProj(geGLU(gate: gate, up: up))
        case .gelu: return downProj(gelu(gate, approximation: .exact) * up)
        }
    }
}

/// One decoder block, its norms placed as the family places them.
public final class DecoderLayer: Module {
    let placement: DecoderFamily.NormPlacement
    @Child("self_attn") var selfAttention: DecoderAttention
    @Child("mlp") var mlp: DecoderMLP
    @Child("input_layernorm") var inputNorm: RMSNorm
    @Child("post_attention_layernorm") var postAttentionNorm: RMSNorm
    @Child("pre_feedforward_layernorm") var preFeedforwardNorm: RMSNorm
    @Child("post_feedforward_layernorm") var postFeedforwardNorm: RMSNorm

    init(_ c: DecoderConfiguration, layer: Int, generator: inout SeededRandom) {
        placement = c.family.normPlacement
        super.init()
        registerChild(_selfAttention, DecoderAttention(c, layer: layer, generator: &generator))
        registerChild(_mlp, DecoderMLP(c, generator: &generator))
        func norm() -> RMSNorm { RMSNorm(dimension: c.hiddenSize, epsilon: c.rmsNormEpsilon, weightOffset: c.family.normWeightOffset) }
        registerChild(_inputNorm, norm())
        registerChild(_postAttentionNorm, norm())
        if placement == .aroundSublayers {
            registerChild(_preFeedforwardNorm, norm())
            registerChild(_postFeedforwardNorm, norm())
        }
    }

    func callAsFunction(_ x: Variable, positions: [Int], keyMask: [Bool]?, segments: [Int]? = nil, cache: KeyValueCache?, layer: Int,
                        spans: [SequenceSpan]? = nil) -> Variable {
        let attended = selfAttention(inputNorm(x), positions: positions, keyMask: keyMask, segments: segments, cache: cache, layer: layer, spans: spans)
        switch placement {
        case .beforeSublayers:
            let h = x + attended
            return h + mlp(postAttentionNorm(h))
        case .aroundSublayers:
            let h = x + postAttentionNorm(attended)
            return h + postFeedforwardNorm(mlp(preFeedforwardNorm(h)))
        }
    }
}

/// The decoder stack without a head (HF `LlamaModel`, `Gemma3TextModel` …: `embed_tokens`, `layers.N`, `norm`).
public final class DecoderModel: Module {
    @Child("embed_tokens") var embedTokens: any EmbeddingLayer
    @Child("layers") var layers: ModuleList<DecoderLayer>
    @Child("norm") var norm: RMSNorm

    init(_ c: DecoderConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_embedTokens, Embedding(count: c.vocabularySize, dimension: c.hiddenSize, generator: &generator))
        registerChild(_layers, ModuleList((0..<c.layerCount).map { DecoderLayer(c, layer: $0, generator: &generator) }))
        registerChild(_norm, RMSNorm(dimension: c.hiddenSize, epsilon: c.rmsNormEpsilon, weightOffset: c.family.normWeightOffset))
    }
}

/// A causal language model of any decoder family (`DecoderFamily`: Llama, SmolLM2, Mistral, Qwen2,
/// Qwen3, Gemma 3, Phi-3) whose parameter paths equal the Hugging Face names
/// (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`, …, `lm_head.weight`).
public final class DecoderForCausalLM: Module, CausalLanguageModel, GradientCheckpointing {
    /// The hyper-parameters.
    public let configuration: DecoderConfiguration
    /// Recompute each decoder block in backward instead of keeping its activations (training only).
    public var gradientCheckpointing = false
    /// An attached prompt-tuning adapter's virtual tokens, placed before every sequence when no
    /// `prefix` is given (set by `PeftModel`).
    public var attachedPrefix: Variable?
    /// Checkpoint entries the last load did not use (missing ones are an error).
    public internal(set) var loadReport = StateDictionaryReport()
    @Child("model") var body: DecoderModel
    @Child("lm_head") var head: any LinearLayer

    /// A randomly initialised model (weights are usually loaded afterwards).
    public init(_ configuration: DecoderConfiguration, seed: UInt64 = 0) throws {
        try configuration.validate()
        self.configuration = configuration
        var generator = SeededRandom(seed: seed)
        super.init()
        registerChild(_body, DecoderModel(configuration, generator: &generator))
        if !configuration.tieWordEmbeddings {
            registerChild(_head, Linear(inFeatures: configuration.hiddenSize, outFeatures: configuration.vocabularySize,
                                        bias: false, generator: &generator))
        }
    }

    /// The family this model belongs to.
    public var family: DecoderFamily { configuration.family }
    /// `max_position_embeddings`.
    public var contextLength: Int { configuration.maxPositionEmbeddings }
    /// `vocab_size`.
    public var vocabularySize: Int { configuration.vocabularySize }

    /// A cache sized for this model.
    public func makeCache() -> KeyValueCache { KeyValueCache(layers: configuration.layerCount) }

    /// Final hidden states `(B, P + T, C)` of `ids` laid out `(B, T)`.
    ///
    /// - Parameters:
    ///   - keyMask: `B·T` flags (`B·S` with a cache: S = cached + T positions), false for padding keys.
    ///   - cache: keys and values of earlier positions; the new ones are appended.
    ///   - prefix: `P` embeddings `[P, C]` placed before every row's tokens at positions 0..<P
    ///     (prompt tuning's virtual tokens, not scaled by the family's embedding scale, as in PEFT);
    ///     only on a sequence's first call.
    ///   - segments: `B·T` ids of examples packed into one row; attention stays inside each. (Rotary
    ///     positions need no reset: attention scores depend only on distances within a segment.)
    public func hiddenStates(_ ids: [Int], batch: Int, keyMask: [Bool]? = nil, cache: KeyValueCache? = nil,
                             prefix: Variable? = nil, segments: [Int]? = nil) throws -> Variable {
        // An attached prompt-tuning prefix starts a sequence unless the caller gives one.
        let prefix = prefix ?? ((cache?.length ?? 0) == 0 ? attachedPrefix : nil)
        if segments != nil {
            guard cache == nil && prefix == nil else {
                throw ModelError.invalidGenerationParameter("packed segments cannot be combined with a cache or a prompt-tuning prefix")
            }
        }
        precondition(batch > 0 && ids.count % batch == 0, "DecoderForCausalLM: \(ids.count) ids do not split into \(batch) rows")
        let steps = ids.count / batch
        let offset = cache?.length ?? 0
        var x = try body.embedTokens(ids, shape: [batch, steps])
        if configuration.family.scalesEmbeddings {
            // transformers rounds √hidden to the weights' precision (float32) before multiplying.
            x = x * Float(Double(configuration.hiddenSize).squareRoot())
        }
        var keyMask = keyMask
        if let prefix {
            precondition(prefix.shape.count == 2 && prefix.shape[1] == configuration.hiddenSize && offset == 0,
                         "DecoderForCausalLM: prefix \(prefix.shape) must be [P, \(configuration.hiddenSize)] on an empty cache")
            let count = prefix.shape[0]
            let rows = Variable.concatenate(Array(repeating: prefix.reshaped([1, count, configuration.hiddenSize]), count: batch), axis: 0)
            x = Variable.concatenate([rows, x], axis: 1)
            if let mask = keyMask {
                let width = mask.count / batch
                keyMask = (0..<batch).flatMap { row in Array(repeating: true, count: count) + mask[(row * width)..<((row + 1) * width)] }
            }
        }
        let total = x.shape[1]
        guard offset + total <= configuration.maxPositionEmbeddings else {
            throw ModelError.contextOverflow(positions: offset + total, context: configuration.maxPositionEmbeddings)
        }
        let positions = Array(offset..<(offset + total))
        for index in 0..<configuration.layerCount {
            let block = body.layers[index]
            if gradientCheckpointing && cache == nil {
                x = block.checkpointed(x) { [keyMask] in block($0, positions: positions, keyMask: keyMask, segments: segments, cache: nil, layer: index) }
            } else {
                x = block(x, positions: positions, keyMask: keyMask, segments: segments, cache: cache, layer: index)
            }
        }
        return body.norm(x)
    }

    /// Vocabulary logits `(B, P + T, V)` (tied to the embedding when the model has no `lm_head`).
    public func callAsFunction(_ ids: [Int], batch: Int = 1, keyMask: [Bool]? = nil, cache: KeyValueCache? = nil,
                               prefix: Variable? = nil) throws -> Variable {
        logits(from: try hiddenStates(ids, batch: batch, keyMask: keyMask, cache: cache, prefix: prefix))
    }

    /// Runs `ids` after the cached positions and returns the last position's vocabulary logits.
    public func lastLogits(_ ids: [Int], cache: KeyValueCache) throws -> [Float] {
        let hidden = try hiddenStates(ids, batch: 1, cache: cache)
        let steps = hidden.shape[1]
        return logits(from: hidden.slice(axis: 1, (steps - 1)..<steps)).value.toArray()
    }

    /// Projects hidden states to vocabulary logits, soft-capped when the family caps them.
    public func logits(from hidden: Variable) -> Variable {
        let raw = configuration.tieWordEmbeddings ? body.embedTokens.tiedLogits(hidden) : head(hidden)
        guard let cap = configuration.finalLogitSoftcap else { return raw }
        return tanh(raw / cap) * cap
    }
}

/// The Llama family's earlier names: every Llama-shaped model is a `DecoderForCausalLM` now.
public typealias LlamaForCausalLM = DecoderForCausalLM
/// The Llama family's earlier name for `DecoderConfiguration`.
public typealias LlamaConfiguration = DecoderConfiguration
