import Autograd
import Tensors

/// A dense layer with weight `[out, in]` (PyTorch/Hugging Face layout) and optional bias `[out]`.
public final class Linear: Module, LinearLayer {
    /// Size of each input vector.
    public let inFeatures: Int
    /// Size of each output vector.
    public let outFeatures: Int

    /// The weight `[outFeatures, inFeatures]`.
    public var weight: Variable { parameter("weight") }
    /// The bias `[outFeatures]`, if any.
    public var bias: Variable? { optionalParameter("bias") }

    /// Creates a layer initialised like PyTorch: weight and bias uniform in `±1/√in`
    /// (Kaiming-uniform with a = √5).
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, generator: inout SeededRandom) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: features must be positive, got \(inFeatures)→\(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        super.init()
        let bound = 1 / Float(inFeatures).squareRoot()
        registerParameter("weight", Variable(ParameterInitialization.weight([outFeatures, inFeatures]) {
            .randomUniform([outFeatures, inFeatures], low: -bound, high: bound, generator: &generator)
        }, requiresGrad: true))
        if bias {
            registerParameter("bias", Variable(ParameterInitialization.weight([outFeatures]) {
                .randomUniform([outFeatures], low: -bound, high: bound, generator: &generator)
            }, requiresGrad: true))
        }
    }

    /// Creates a layer from existing tensors (weight `[out, in]`, bias `[out]`).
    public init(weight: Tensor, bias: Tensor? = nil) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]], "Linear: bias \(bias!.shape) does not match weight \(weight.shape)")
        self.outFeatures = weight.shape[0]
        self.inFeatures = weight.shape[1]
        super.init()
        registerParameter("weight", Variable(weight, requiresGrad: true))
        if let bias { registerParameter("bias", Variable(bias, requiresGrad: true)) }
    }

    /// The weight is stored `[out, in]`.
    public var weightLayout: WeightLayout { .outputsByInputs }
    /// False: the weight is a plain float tensor.
    public var isPacked: Bool { false }
    /// The weight as `[out, in]`.
    public func denseWeight() -> Tensor { weight.value }
    /// Adds an `[out, in]` delta to the weight (merging an adapter).
    public func addToWeight(_ delta: Tensor) throws {
        precondition(delta.shape == [outFeatures, inFeatures], "Linear.addToWeight: delta \(delta.shape) is not [\(outFeatures), \(inFeatures)]")
        weight.value += delta
    }
    /// Replaces the weight with an `[out, in]` tensor (unmerging restores the original this way).
    public func assignDenseWeight(_ weight: Tensor) throws {
        precondition(weight.shape == [outFeatures, inFeatures], "Linear.assignDenseWeight: \(weight.shape) is not [\(outFeatures), \(inFeatures)]")
        self.weight.value = weight
    }

    /// `x·Wᵀ + b` over the last axis of `x` (`[…, in]` → `[…, out]`).
    public func callAsFunction(_ x: Variable) -> Variable {
        precondition(x.shape.last == inFeatures, "Linear(\(inFeatures)→\(outFeatures)): input shape \(x.shape) does not end in \(inFeatures)")
        let y = Variable.matmul(x, weight, transposeB: true)
        if let bias { return y + bias }
        return y
    }
}

/// A layer mapping token ids to vectors: a plain table or one wrapped by an adapter. Models hold
/// `any EmbeddingLayer`, so a LoRA-wrapped embedding takes the table's place without model changes.
public protocol EmbeddingLayer: Module {
    /// The (base) table `[count, dimension]`; tied output heads read it.
    var weight: Variable { get }
    /// Looks up `ids` laid out in `shape` (default `[ids.count]`), giving `shape + [dimension]`.
    /// - Throws: `TensorError.indexOutOfRange` for an id outside the table.
    func callAsFunction(_ ids: [Int], shape: [Int]?) throws -> Variable
    /// Number of rows (ids).
    var count: Int { get }
    /// Size of each vector.
    var dimension: Int { get }
    /// `hidden · tableᵀ`: the logits of an output head tied to this table (`[…, dimension]` →
    /// `[…, count]`).
    func tiedLogits(_ hidden: Variable) -> Variable
}

extension EmbeddingLayer {
    /// Number of rows (ids).
    public var count: Int { weight.shape[0] }
    /// Size of each vector.
    public var dimension: Int { weight.shape[1] }
    /// `hidden · weightᵀ`.
    public func tiedLogits(_ hidden: Variable) -> Variable { Variable.matmul(hidden, weight, transposeB: true) }
    /// Looks up `ids` as one row `[ids.count, dimension]`.
    public func callAsFunction(_ ids: [Int]) throws -> Variable { try self(ids, shape: nil) }
}

/// A lookup table `[count, dimension]` from ids to vectors.
public final class Embedding: Module, EmbeddingLayer {
    /// The table `[count, dimension]`.
    public var weight: Variable { parameter("weight") }

    /// Creates a table initialised from `N(0, 1)` like PyTorch.
    public init(count: Int, dimension: Int, generator: inout SeededRandom) {
        super.init()
        registerParameter("weight", Variable(ParameterInitialization.weight([count, dimension]) {
            .randomNormal([count, dimension], generator: &generator)
        }, requiresGrad: true))
    }

    /// Creates a layer from an existing table.
    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding: weight must be [count, dimension], got \(weight.shape)")
        super.init()
        registerParameter("weight", Variable(weight, requiresGrad: true))
    }

    /// The rows of `ids`, shaped `shape + [dimension]`.
    public func callAsFunction(_ ids: [Int], shape: [Int]?) throws -> Variable {
        try embedding(weight, ids: ids, idsShape: shape)
    }
}

/// Root-mean-square normalisation with a learned scale (Llama), or with a learned offset from one
/// (Gemma: `x̂ · (1 + weight)`, the weight initialised to zeros).
public final class RMSNorm: Module {
    /// Added to the mean square before the square root.
    public let epsilon: Float
    /// Added to the weight before it scales: 0 for Llama's form, 1 for Gemma's `(1 + weight)`.
    public let weightOffset: Float
    /// The learned weight `[dimension]`: ones for Llama's form, zeros when `weightOffset` is 1.
    public var weight: Variable { parameter("weight") }

    /// A norm over vectors of `dimension` whose scale is `weightOffset + weight` (weight initialised
    /// so that the scale starts at one).
    public init(dimension: Int, epsilon: Float = 1e-6, weightOffset: Float = 0) {
        self.epsilon = epsilon
        self.weightOffset = weightOffset
        super.init()
        registerParameter("weight", Variable(weightOffset == 0 ? .ones([dimension]) : Tensor(repeating: 1 - weightOffset, shape: [dimension]),
                                             requiresGrad: true))
    }

    /// `x / √(mean(x²) + ε) · (weightOffset + weight)` over the last axis.
    public func callAsFunction(_ x: Variable) -> Variable {
        rmsNorm(x, weight: weightOffset == 0 ? weight : weight + weightOffset, epsilon: epsilon)
    }
}

/// Layer normalisation with learned scale and optional bias (GPT-2, BERT).
public final class LayerNorm: Module {
    /// Added to the variance before the square root.
    public let epsilon: Float
    /// The scale `[dimension]`, initialised to ones.
    public var weight: Variable { parameter("weight") }
    /// The shift `[dimension]`, initialised to zeros, if any.
    public var bias: Variable? { optionalParameter("bias") }

    /// A norm over vectors of `dimension`.
    public init(dimension: Int, epsilon: Float = 1e-5, bias: Bool = true) {
        self.epsilon = epsilon
        super.init()
        registerParameter("weight", Variable(.ones([dimension]), requiresGrad: true))
        if bias { registerParameter("bias", Variable(.zeros([dimension]), requiresGrad: true)) }
    }

    /// `(x − mean) / √(var + ε) · weight + bias` over the last axis.
    public func callAsFunction(_ x: Variable) -> Variable { layerNorm(x, weight: weight, bias: bias, epsilon: epsilon) }
}

/// Inverted dropout, active only in training mode. Owns its seeded generator, so runs are reproducible
/// and its state can be checkpointed.
public final class Dropout: Module {
    /// Probability of zeroing an element.
    public let probability: Float
    /// The generator that draws masks.
    public var generator: SeededRandom

    /// Dropout with `probability` in [0, 1), its generator seeded by `seed`.
    public init(probability: Float, seed: UInt64 = 0) {
        precondition(probability >= 0 && probability < 1, "Dropout: probability \(probability) is outside [0, 1)")
        self.probability = probability
        self.generator = SeededRandom(seed: seed)
        super.init()
    }

    /// In training mode, zeroes elements with the probability and scales the rest by `1/(1−p)`; otherwise `x`.
    public func callAsFunction(_ x: Variable) -> Variable {
        guard isTraining && probability > 0 else { return x }
        return dropout(x, probability: probability, generator: &generator)
    }
}
