import Autograd
import NN
import Tensors

/// Cached keys and values of earlier positions, per layer: `(B, Hkv, S, D)`.
public final class KeyValueCache {
    var keys: [Tensor?]
    var values: [Tensor?]
    /// Number of positions already cached.
    public private(set) var length = 0

    public init(layers: Int) {
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
    }

    func append(layer: Int, keys newKeys: Tensor, values newValues: Tensor) -> (Tensor, Tensor) {
        let k = keys[layer].map { Tensor.concatenate([$0, newKeys], axis: 2) } ?? newKeys
        let v = values[layer].map { Tensor.concatenate([$0, newValues], axis: 2) } ?? newValues
        keys[layer] = k
        values[layer] = v
        if layer == keys.count - 1 { length = k.shape[2] }
        return (k, v)
    }
}

/// Multi-head attention with grouped-query heads and rotary positions (HF names q_proj … o_proj).
public final class LlamaAttention: Module {
    let configuration: LlamaConfiguration
    let rotary: RotaryEmbedding

    init(_ configuration: LlamaConfiguration, generator: inout SeededRandom) {
        self.configuration = configuration
        self.rotary = RotaryEmbedding(dimension: configuration.headDimension, base: configuration.ropeTheta)
        super.init()
        let c = configuration
        let bias = c.attentionBias
        registerChild("q_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.attentionHeads * c.headDimension, bias: bias, generator: &generator))
        registerChild("k_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.keyValueHeads * c.headDimension, bias: bias, generator: &generator))
        registerChild("v_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.keyValueHeads * c.headDimension, bias: bias, generator: &generator))
        registerChild("o_proj", Linear(inFeatures: c.attentionHeads * c.headDimension, outFeatures: c.hiddenSize, bias: false, generator: &generator))
    }

    func project(_ name: String, _ x: Variable) -> Variable {
        let layer: any LinearLayer = child(name)
        return layer(x)
    }

    /// x: (B, T, C) → (B, T, C). `positions` are the absolute positions of the T new tokens.
    func callAsFunction(_ x: Variable, positions: [Int], keyMask: [Bool]?, cache: KeyValueCache?, layer: Int) -> Variable {
        let (b, t) = (x.shape[0], x.shape[1])
        let c = configuration
        func heads(_ y: Variable, _ count: Int) -> Variable {
            y.reshaped([b, t, count, c.headDimension]).transposed(1, 2)
        }
        let q = applyRotaryEmbedding(heads(project("q_proj", x), c.attentionHeads), positions: positions, rotary: rotary)
        var k = applyRotaryEmbedding(heads(project("k_proj", x), c.keyValueHeads), positions: positions, rotary: rotary)
        var v = heads(project("v_proj", x), c.keyValueHeads)
        if let cache {
            let (allKeys, allValues) = cache.append(layer: layer, keys: k.value, values: v.value)
            k = Variable(allKeys)
            v = Variable(allValues)
        }
        let attended = scaledDotProductAttention(query: q, key: k, value: v, causal: true, keyMask: keyMask)
        return project("o_proj", attended.transposed(1, 2).reshaped([b, t, c.attentionHeads * c.headDimension]))
    }
}

/// SwiGLU feed-forward: down(silu(gate(x)) · up(x)).
public final class LlamaMLP: Module {
    init(_ c: LlamaConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild("gate_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: false, generator: &generator))
        registerChild("up_proj", Linear(inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: false, generator: &generator))
        registerChild("down_proj", Linear(inFeatures: c.intermediateSize, outFeatures: c.hiddenSize, bias: false, generator: &generator))
    }

    func callAsFunction(_ x: Variable) -> Variable {
        let gate: any LinearLayer = child("gate_proj"), up: any LinearLayer = child("up_proj"), down: any LinearLayer = child("down_proj")
        return down(silu(gate(x)) * up(x))
    }
}

/// One pre-norm decoder block.
public final class LlamaDecoderLayer: Module {
    init(_ c: LlamaConfiguration, generator: inout SeededRandom) {
        super.init()
        registerChild("self_attn", LlamaAttention(c, generator: &generator))
        registerChild("mlp", LlamaMLP(c, generator: &generator))
        registerChild("input_layernorm", RMSNorm(dimension: c.hiddenSize, epsilon: c.rmsNormEpsilon))
        registerChild("post_attention_layernorm", RMSNorm(dimension: c.hiddenSize, epsilon: c.rmsNormEpsilon))
    }

    func callAsFunction(_ x: Variable, positions: [Int], keyMask: [Bool]?, cache: KeyValueCache?, layer: Int) -> Variable {
        let attention: LlamaAttention = child("self_attn"), mlp: LlamaMLP = child("mlp")
        let norm1: RMSNorm = child("input_layernorm"), norm2: RMSNorm = child("post_attention_layernorm")
        let h = x + attention(norm1(x), positions: positions, keyMask: keyMask, cache: cache, layer: layer)
        return h + mlp(norm2(h))
    }
}

/// A Llama-family causal language model whose parameter paths equal the Hugging Face names
/// (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`, …, `lm_head.weight`).
public final class LlamaForCausalLM: Module, CausalLanguageModel {
    /// The hyper-parameters.
    public let configuration: LlamaConfiguration
    /// Missing and unexpected keys found by the last load.
    public internal(set) var loadReport = LoadReport(missingKeys: [], unexpectedKeys: [])

    /// A randomly initialised model (weights are usually loaded afterwards).
    public init(_ configuration: LlamaConfiguration, seed: UInt64 = 0) throws {
        try configuration.validate()
        self.configuration = configuration
        var generator = SeededRandom(seed: seed)
        super.init()
        let body = Module()
        body.registerChild("embed_tokens", Embedding(count: configuration.vocabularySize, dimension: configuration.hiddenSize, generator: &generator))
        let layers = Module()
        for index in 0..<configuration.layerCount {
            layers.registerChild("\(index)", LlamaDecoderLayer(configuration, generator: &generator))
        }
        body.registerChild("layers", layers)
        body.registerChild("norm", RMSNorm(dimension: configuration.hiddenSize, epsilon: configuration.rmsNormEpsilon))
        registerChild("model", body)
        if !configuration.tieWordEmbeddings {
            registerChild("lm_head", Linear(inFeatures: configuration.hiddenSize, outFeatures: configuration.vocabularySize,
                                            bias: false, generator: &generator))
        }
    }

    /// A cache sized for this model.
    public func makeCache() -> KeyValueCache { KeyValueCache(layers: configuration.layerCount) }

    /// Final hidden states `(B, T, C)` of `ids` laid out `(B, T)`.
    ///
    /// - Parameters:
    ///   - keyMask: `B·S` flags (S = cached + T positions), false for padding keys.
    ///   - cache: keys and values of earlier positions; the new ones are appended.
    public func hiddenStates(_ ids: [Int], batch: Int, keyMask: [Bool]? = nil, cache: KeyValueCache? = nil) throws -> Variable {
        precondition(batch > 0 && ids.count % batch == 0, "LlamaForCausalLM: \(ids.count) ids do not split into \(batch) rows")
        let steps = ids.count / batch
        let offset = cache?.length ?? 0
        let positions = Array(offset..<(offset + steps))
        let body: Module = child("model")
        let embed: Embedding = body.child("embed_tokens")
        var x = try embed(ids, shape: [batch, steps])
        let layers: Module = body.child("layers")
        for index in 0..<configuration.layerCount {
            let layer: LlamaDecoderLayer = layers.child("\(index)")
            x = layer(x, positions: positions, keyMask: keyMask, cache: cache, layer: index)
        }
        let norm: RMSNorm = body.child("norm")
        return norm(x)
    }

    /// Vocabulary logits `(B, T, V)` (tied to the embedding when the model has no `lm_head`).
    public func callAsFunction(_ ids: [Int], batch: Int = 1, keyMask: [Bool]? = nil, cache: KeyValueCache? = nil) throws -> Variable {
        logits(from: try hiddenStates(ids, batch: batch, keyMask: keyMask, cache: cache))
    }

    public func lastLogits(_ ids: [Int], cache: KeyValueCache) throws -> [Float] {
        let hidden = try hiddenStates(ids, batch: 1, cache: cache)
        let steps = hidden.shape[1]
        return logits(from: hidden.slice(axis: 1, (steps - 1)..<steps)).value.scalars
    }

    /// Projects hidden states to vocabulary logits.
    public func logits(from hidden: Variable) -> Variable {
        if configuration.tieWordEmbeddings {
            let body: Module = child("model")
            let embed: Embedding = body.child("embed_tokens")
            return Variable.matmul(hidden, embed.weight, transposeB: true)
        }
        let head: any LinearLayer = child("lm_head")
        return head(hidden)
    }
}
