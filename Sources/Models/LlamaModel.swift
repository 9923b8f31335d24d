import Autograd
import NN
import Tensors

/// Multi-head attention with grouped-query heads and rotary positions (HF names q_proj … o_proj).
public final class LlamaAttention: Module {
    let configuration: LlamaConfiguration
    let rotary: RotaryEmbedding
    @Child("q_proj") var qProj: any LinearLayer
    @Child("k_proj") var kProj: any LinearLayer
    @Child("v_proj") var vProj: any LinearLayer
    @Child("o_proj") var oProj: any LinearLayer

    init(_ configuration: LlamaConfiguration, generator: inout SeededRandom) {
        self.configuration = configuration
        self.rotary = RotaryEmbedding(dimension: configuration.headDimension, base: configuration.ropeTheta)
        super.init()
        let c = configuration
        let bias = c.attentionBias
        registerChild(_qProj, Linear(inFeatures: c.hiddenSize, outFeatures: c.attentionHeads * c.headDimension, bias: bias, generator: &generator))
        registerChild(_kProj, Linear(inFeatures: c.hiddenSize, outFeatures: c.keyValueHeads * c.headDimension, bias: bias, generator: &generator))
        registerChild(_vProj, Linear(inFeatures: c.hiddenSize, outFeatures: c.keyValueHeads * c.headDimension, bias: bias, generator: &generator))
        registerChild(_oProj, Linear(inFeatures: c.attentionHeads * c.headDimension, outFeatures: c.hiddenSize, bias: false, generator: &generator))
    }

    /// x: (B, T, C) → (B, T, C). `positions` are the absolute positions of the T new tokens.
    func callAsFunction(_ x: Variable, positions: [Int], keyMask: [Bool]?, segments: [Int]? = nil, cache: KeyValueCache?, layer: Int) -> Variable {
        let (b, t) = (x.shape[0], x.shape[1])
        let c = configuration
        func heads(_ y: Variable, _ count: Int) -> Variable {
            y.reshaped([b, t, count, c.headDimension]).transposed(1, 2)
        }
        let q = applyRotaryEmbedding(heads(qProj(x), c.attentionHeads), positions: positions, rotary: rotary)
        let k = applyRotaryEmbedding(heads(kProj(x), c.keyValueHeads), positions: positions, rotary: rotary)
        let v = heads(vProj(x), c.keyValueHeads)
        let attended: Variable
        if let cache {
            precondition(segments == nil, "LlamaAttention: packed segments cannot be used with a key-value cache")
            let cached = cache.append(layer: layer, keys: k.value, values: v.value)
            attended = scaledDotProductAttention(query: q, cached: cached, causal: true, keyMask: keyMask)
        } else {
            attended = scaledDotProductAttention(query: q, key: k, value: v, causal: true, keyMask: keyMask, segments: segments)
        }
        return oProj(attended.transposed(1, 2).reshaped([b, t, c.attentionHeads * c.headDimension]))
    }
}

/// SwiGLU feed-forward: down(silu(gate(x)) · up(x)).
public final class LlamaMLP: Module {
    @Child("gate_proj") var gateProj: any LinearLayer
    @Child("up_proj") var upProj: any LinearLayer
    @Child("down_proj") var downProj: any LinearLayer

    init(_ c: LlamaConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_gateProj, Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: false, generator: &generator))
        registerChild(_upProj, Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: false, generator: &generator))
        registerChild(_downProj, Linear(inFeatures: c.intermediateSize, outFeatures: c.hiddenSize, bias: false, generator: &generator))
    }

    func callAsFunction(_ x: Variable) -> Variable {
        downProj(swiGLU(gate: gateProj(x), up: upProj(x)))
    }
}

/// One pre-norm decoder block.
public final class LlamaDecoderLayer: Module {
    @Child("self_attn") var selfAttention: LlamaAttention
    @Child("mlp") var mlp: LlamaMLP
    @Child("input_layernorm") var inputNorm: RMSNorm
    @Child("post_attention_layernorm") var postAttentionNorm: RMSNorm

    init(_ c: LlamaConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_selfAttention, LlamaAttention(c, generator: &generator))
        registerChild(_mlp, LlamaMLP(c, generator: &generator))
        registerChild(_inputNorm, RMSNorm(dimension: c.hiddenSize, epsilon: c.rmsNormEpsilon))
        registerChild(_postAttentionNorm, RMSNorm(dimension: c.hiddenSize, epsilon: c.rmsNormEpsilon))
    }

    func callAsFunction(_ x: Variable, positions: [Int], keyMask: [Bool]?, segments: [Int]? = nil, cache: KeyValueCache?, layer: Int) -> Variable {
        let h = x + selfAttention(inputNorm(x), positions: positions, keyMask: keyMask, segments: segments, cache: cache, layer: layer)
        return h + mlp(postAttentionNorm(h))
    }
}

/// The decoder stack without a head (HF `LlamaModel`: `embed_tokens`, `layers.N`, `norm`).
public final class LlamaModel: Module {
    @Child("embed_tokens") var embedTokens: any EmbeddingLayer
    @Child("layers") var layers: ModuleList<LlamaDecoderLayer>
    @Child("norm") var norm: RMSNorm

    init(_ c: LlamaConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild(_embedTokens, Embedding(count: c.vocabularySize, dimension: c.hiddenSize, generator: &generator))
        registerChild(_layers, ModuleList((0..<c.layerCount).map { _ in LlamaDecoderLayer(c, generator: &generator) }))
        registerChild(_norm, RMSNorm(dimension: c.hiddenSize, epsilon: c.rmsNormEpsilon))
    }
}

/// A Llama-family causal language model whose parameter paths equal the Hugging Face names
/// (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`, …, `lm_head.weight`).
public final class LlamaForCausalLM: Module, CausalLanguageModel, GradientCheckpointing {
    /// The hyper-parameters.
    public let configuration: LlamaConfiguration
    /// Recompute each decoder block in backward instead of keeping its activations (training only).
    public var gradientCheckpointing = false
    /// Checkpoint entries the last load did not use (missing ones are an error).
    public internal(set) var loadReport = StateDictionaryReport()
    @Child("model") var body: LlamaModel
    @Child("lm_head") var head: any LinearLayer

    /// A randomly initialised model (weights are usually loaded afterwards).
    public init(_ configuration: LlamaConfiguration, seed: UInt64 = 0) throws {
        try configuration.validate()
        self.configuration = configuration
        var generator = SeededRandom(seed: seed)
        super.init()
        registerChild(_body, LlamaModel(configuration, generator: &generator))
        if !configuration.tieWordEmbeddings {
            registerChild(_head, Linear(inFeatures: configuration.hiddenSize, outFeatures: configuration.vocabularySize,
                                            bias: false, generator: &generator))
        }
    }

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
    ///     (prompt tuning's virtual tokens); only on a sequence's first call.
    ///   - segments: `B·T` ids of examples packed into one row; attention stays inside each. (Rotary
    ///     positions need no reset: attention scores depend only on distances within a segment.)
    public func hiddenStates(_ ids: [Int], batch: Int, keyMask: [Bool]? = nil, cache: KeyValueCache? = nil,
                             prefix: Variable? = nil, segments: [Int]? = nil) throws -> Variable {
        if segments != nil {
            guard cache == nil && prefix == nil else {
                throw ModelError.invalidGenerationParameter("packed segments cannot be combined with a cache or a prompt-tuning prefix")
            }
        }
        precondition(batch > 0 && ids.count % batch == 0, "LlamaForCausalLM: \(ids.count) ids do not split into \(batch) rows")
        let steps = ids.count / batch
        let offset = cache?.length ?? 0
        var x = try body.embedTokens(ids, shape: [batch, steps])
        var keyMask = keyMask
        if let prefix {
            precondition(prefix.shape.count == 2 && prefix.shape[1] == configuration.hiddenSize && offset == 0,
                         "LlamaForCausalLM: prefix \(prefix.shape) must be [P, \(configuration.hiddenSize)] on an empty cache")
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

    /// Projects hidden states to vocabulary logits.
    public func logits(from hidden: Variable) -> Variable {
        if configuration.tieWordEmbeddings {
            return body.embedTokens.tiedLogits(hidden)
        }
        return head(hidden)
    }
}
