import Autograd
import Foundation
import ModelIO
import NN
import Tensors

/// GPT-2 attention: a fused `c_attn` (q, k, v) and the output projection `c_proj`.
final class GPT2Attention: Module {
    @Child("c_attn") var fused: any LinearLayer
    @Child("c_proj") var projection: any LinearLayer

    init(_ c: GPT2Configuration, generator: inout SeededRandom) {
        super.init()
        registerChild(_fused, Conv1D(inFeatures: c.embeddingSize, outFeatures: 3 * c.embeddingSize, generator: &generator))
        registerChild(_projection, Conv1D(inFeatures: c.embeddingSize, outFeatures: c.embeddingSize, generator: &generator))
    }
}

/// GPT-2 feed-forward: `c_fc` → GELU-tanh → `c_proj`.
final class GPT2MLP: Module {
    @Child("c_fc") var up: any LinearLayer
    @Child("c_proj") var down: any LinearLayer

    init(_ c: GPT2Configuration, generator: inout SeededRandom) {
        super.init()
        registerChild(_up, Conv1D(inFeatures: c.embeddingSize, outFeatures: 4 * c.embeddingSize, generator: &generator))
        registerChild(_down, Conv1D(inFeatures: 4 * c.embeddingSize, outFeatures: c.embeddingSize, generator: &generator))
    }

    func callAsFunction(_ x: Variable) -> Variable { down(gelu(up(x), approximation: .tanh)) }
}

/// A GPT-2 block: `ln_1` → attention → residual; `ln_2` → MLP → residual.
final class GPT2Block: Module {
    let heads: Int
    @Child("ln_1") var norm1: LayerNorm
    @Child("attn") var attention: GPT2Attention
    @Child("ln_2") var norm2: LayerNorm
    @Child("mlp") var mlp: GPT2MLP

    init(_ c: GPT2Configuration, generator: inout SeededRandom) {
        heads = c.heads
        super.init()
        registerChild(_norm1, LayerNorm(dimension: c.embeddingSize, epsilon: c.layerNormEpsilon))
        registerChild(_attention, GPT2Attention(c, generator: &generator))
        registerChild(_norm2, LayerNorm(dimension: c.embeddingSize, epsilon: c.layerNormEpsilon))
        registerChild(_mlp, GPT2MLP(c, generator: &generator))
    }

    func callAsFunction(_ x: Variable, keyMask: [Bool]?, segments: [Int]? = nil, cache: KeyValueCache?, layer: Int) -> Variable {
        let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
        let qkv = attention.fused(norm1(x))
        func split(_ index: Int) -> Variable {
            qkv.slice(axis: 2, (index * c)..<((index + 1) * c)).reshaped([b, t, heads, c / heads]).transposed(1, 2)
        }
        let attended: Variable
        if let cache {
            precondition(segments == nil, "GPT2Block: packed segments cannot be used with a key-value cache")
            let cached = cache.append(layer: layer, keys: split(1).value, values: split(2).value)
            attended = scaledDotProductAttention(query: split(0), cached: cached.keysValues, causal: true, keyMask: keyMask)
        } else {
            attended = scaledDotProductAttention(query: split(0), key: split(1), value: split(2), causal: true, keyMask: keyMask, segments: segments)
        }
        let h = x + attention.projection(attended.transposed(1, 2).reshaped([b, t, c]))
        return h + mlp(norm2(h))
    }
}

/// The GPT-2 stack without a head (HF `GPT2Model`: `wte`, `wpe`, `h.N`, `ln_f`).
final class GPT2Model: Module {
    @Child("wte") var tokenEmbedding: any EmbeddingLayer
    @Child("wpe") var positionEmbedding: any EmbeddingLayer
    @Child("h") var blocks: ModuleList<GPT2Block>
    @Child("ln_f") var finalNorm: LayerNorm

    init(_ c: GPT2Configuration, generator: inout SeededRandom) {
        super.init()
        registerChild(_tokenEmbedding, Embedding(count: c.vocabularySize, dimension: c.embeddingSize, generator: &generator))
        registerChild(_positionEmbedding, Embedding(count: c.contextLength, dimension: c.embeddingSize, generator: &generator))
        registerChild(_blocks, ModuleList((0..<c.layerCount).map { _ in GPT2Block(c, generator: &generator) }))
        registerChild(_finalNorm, LayerNorm(dimension: c.embeddingSize, epsilon: c.layerNormEpsilon))
    }
}

/// GPT-2 with its language-model head tied to the token embedding (HF `GPT2LMHeadModel`:
/// `transformer.wte`, `transformer.wpe`, `transformer.h.N.*`, `transformer.ln_f`).
public final class GPT2LMHeadModel: Module, CausalLanguageModel, GradientCheckpointing {
    /// The hyper-parameters.
    public let configuration: GPT2Configuration
    /// Recompute each block in backward instead of keeping its activations (training only).
    public var gradientCheckpointing = false
    /// An attached prompt-tuning adapter's virtual tokens, placed before every sequence when no
    /// `prefix` is given (set by `PeftModel`).
    public var attachedPrefix: Variable?
    @Child("transformer") var transformer: GPT2Model

    /// A randomly initialised model (weights are usually loaded afterwards).
    public init(_ configuration: GPT2Configuration, seed: UInt64 = 0) {
        self.configuration = configuration
        var generator = SeededRandom(seed: seed)
        super.init()
        registerChild(_transformer, GPT2Model(configuration, generator: &generator))
    }

    /// A cache sized for this model.
    public func makeCache() -> KeyValueCache { KeyValueCache(layers: configuration.layerCount) }

    /// `n_positions`.
    public var contextLength: Int { configuration.contextLength }
    /// `vocab_size`.
    public var vocabularySize: Int { configuration.vocabularySize }

    /// Vocabulary logits `(B, P + T, V)`.
    public func callAsFunction(_ ids: [Int], batch: Int = 1, keyMask: [Bool]? = nil, cache: KeyValueCache? = nil,
                               prefix: Variable? = nil) throws -> Variable {
        logits(from: try hiddenStates(ids, batch: batch, keyMask: keyMask, cache: cache, prefix: prefix))
    }

    /// Final (normalised) hidden states `(B, P + T, C)`. A `prefix` `[P, C]` (prompt tuning) is placed
    /// before every row's token embeddings and takes positions `0..<P`, as PEFT feeds GPT-2 its
    /// virtual tokens through `inputs_embeds`. With `segments` (`B·T` ids of examples packed into one
    /// row) attention stays inside each example and positions restart at 0 for each.
    public func hiddenStates(_ ids: [Int], batch: Int = 1, keyMask: [Bool]? = nil, cache: KeyValueCache? = nil,
                             prefix: Variable? = nil, segments: [Int]? = nil) throws -> Variable {
        // An attached prompt-tuning prefix starts a sequence unless the caller gives one.
        let prefix = prefix ?? ((cache?.length ?? 0) == 0 ? attachedPrefix : nil)
        if segments != nil {
            guard cache == nil && prefix == nil else {
                throw ModelError.invalidGenerationParameter("packed segments cannot be combined with a cache or a prompt-tuning prefix")
            }
        }
        precondition(batch > 0 && ids.count % batch == 0, "GPT2LMHeadModel: \(ids.count) ids do not split into \(batch) rows")
        let steps = ids.count / batch
        let offset = cache?.length ?? 0
        let prefixCount = prefix?.shape[0] ?? 0
        guard offset + prefixCount + steps <= configuration.contextLength else {
            throw ModelError.contextOverflow(positions: offset + prefixCount + steps, context: configuration.contextLength)
        }
        var x = try transformer.tokenEmbedding(ids, shape: [batch, steps])
        var keyMask = keyMask
        if let prefix {
            let c = configuration.embeddingSize
            precondition(prefix.shape.count == 2 && prefix.shape[1] == c && offset == 0,
                         "GPT2LMHeadModel: prefix \(prefix.shape) must be [P, \(c)] on an empty cache")
            let rows = Variable.concatenate(Array(repeating: prefix.reshaped([1, prefixCount, c]), count: batch), axis: 0)
            x = Variable.concatenate([rows, x], axis: 1)
            if let mask = keyMask {
                let width = mask.count / batch
                keyMask = (0..<batch).flatMap { row in Array(repeating: true, count: prefixCount) + mask[(row * width)..<((row + 1) * width)] }
            }
        }
        let total = prefixCount + steps
        var positions = (0..<batch).flatMap { _ in Array(offset..<(offset + total)) }
        if let segments {  // each packed example counts its positions from 0
            for index in positions.indices {
                let rowStart = index % total == 0
                positions[index] = rowStart || segments[index] != segments[index - 1] ? 0 : positions[index - 1] + 1
            }
        }
        x = x + (try transformer.positionEmbedding(positions, shape: [batch, total]))
        for index in 0..<configuration.layerCount {
            let block = transformer.blocks[index]
            if gradientCheckpointing && cache == nil {
                x = block.checkpointed(x) { [keyMask] in block($0, keyMask: keyMask, segments: segments, cache: nil, layer: index) }
            } else {
                x = block(x, keyMask: keyMask, segments: segments, cache: cache, layer: index)
            }
        }
        return transformer.finalNorm(x)
    }

    /// Projects hidden states to vocabulary logits with the tied token embedding.
    public func logits(from hidden: Variable) -> Variable {
        transformer.tokenEmbedding.tiedLogits(hidden)
    }

    /// Only the last position goes through the vocabulary head (a prompt's other positions need none).
    public func lastLogits(_ ids: [Int], cache: KeyValueCache) throws -> [Float] {
        let hidden = try hiddenStates(ids, cache: cache)
        let steps = hidden.shape[1]
        return logits(from: hidden.slice(axis: 1, (steps - 1)..<steps)).value.toArray()
    }

    /// Loads `config.json` and `model.safetensors`; keys may lack the `transformer.` prefix (`GPT2Model`).
    public static func load(folder: URL) throws -> GPT2LMHeadModel {
        let configuration = try GPT2Configuration(json: try Checkpoint.configuration(in: folder))
        func modelName(_ name: String) -> String? {
            name == "lm_head.weight" ? nil : name.hasPrefix("transformer.") ? name : "transformer." + name  // lm_head is tied to wte
        }
        let files = try Checkpoint.files(in: folder)
        try configuration.parameterPlan().verify(against: Checkpoint.renamed(Checkpoint.tensorShapes(of: files), modelName))
        let model = ParameterInitialization.deferred { GPT2LMHeadModel(configuration) }  // every weight is loaded strictly below
        try model.loadCheckpointWeights(Checkpoint.renamed(try Checkpoint.weights(of: files), modelName))
        return model
    }
}
