import Autograd
import NN
import Tensors

/// LoKr around a `LinearLayer` whose weight is `[out, in]` (dense or packed), as in Hugging Face PEFT:
/// `ΔW = (W1 ⊗ W2) · α/r`, each factor stored whole (`lokr_w1.<adapter>`, `lokr_w2.<adapter>`) or as
/// a rank-r product (`lokr_w1_a`·`lokr_w1_b`, `lokr_w2_a`·`lokr_w2_b`), per `LoKrShapes`.
///
/// Forward forms ΔW `[out, in]` as PEFT does and adds `x·ΔWᵀ` to the base output.
public final class LoKrLayer: LinearAdapterBase, AdapterLayer {
    /// One adapter's hyper-parameters.
    public struct Settings: Sendable, Equatable {
        /// `r`.
        public var rank: Int
        /// `alpha`.
        public var alpha: Double
        /// `α/r`.
        public var scaling: Float
        /// `rank_dropout`.
        public var rankDropout: Double
        /// `module_dropout`.
        public var moduleDropout: Double
        /// `rank_dropout_scale`.
        public var rankDropoutScale: Bool
    }

    @Child("lokr_w1") var w1: Module
    @Child("lokr_w1_a") var w1a: Module
    @Child("lokr_w1_b") var w1b: Module
    @Child("lokr_w2") var w2: Module
    @Child("lokr_w2_a") var w2a: Module
    @Child("lokr_w2_b") var w2b: Module
    /// One generator per adapter for rank and module dropout (no parameters).
    @Child("lokr_dropout") var dropouts: Module

    /// Settings by adapter name.
    public private(set) var settings: [String: Settings] = [:]
    private var shapes: [String: LoKrShapes] = [:]

    /// Wraps `base` (no adapter yet; see `addAdapter`).
    public override init(wrapping base: any LinearLayer) {
        super.init(wrapping: base)
        for child in [_w1, _w1a, _w1b, _w2, _w2a, _w2b, _dropouts] { registerChild(child, Module()) }
    }

    /// Adds adapter `name` of the given settings, its factors shaped by `decomposeBoth` and `factor`
    /// and started as `initialization` says (PEFT's rules: `.standard` zeroes `W1` or `W1a`,
    /// `.lycoris` zeroes `W2` or `W2b`; every other factor is Kaiming-uniform).
    public func addAdapter(_ name: String, rank: Int, alpha: Double, rankDropout: Double, moduleDropout: Double, rankDropoutScale: Bool,
                           decomposeBoth: Bool, factor: Int, initialization: LoKrInitialization, generator: inout SeededRandom) {
        precondition(settings[name] == nil, "LoKrLayer: adapter '\(name)' exists")
        let shape = LoKrShapes(inFeatures: inFeatures, outFeatures: outFeatures, rank: rank, decomposeBoth: decomposeBoth, factor: factor)
        func make(_ dims: [Int], zero: Bool) -> Variable {
            if zero { return Variable(.zeros(dims), requiresGrad: true) }
            let bound = 1 / Float(dims[1]).squareRoot()  // PyTorch's fan-in of a 2-D tensor is its second axis
            return Variable(.randomUniform(dims, low: -bound, high: bound, generator: &generator), requiresGrad: true)
        }
        // Whole or factored as PEFT decides; zeroed as its initialisation rules say.
        if shape.wholeW1 {
            w1.registerParameter(name, make([shape.out1, shape.in1], zero: initialization == .standard))
        } else {
            w1a.registerParameter(name, make([shape.out1, rank], zero: initialization == .standard))
            w1b.registerParameter(name, make([rank, shape.in1], zero: false))
        }
        if shape.wholeW2 {
            w2.registerParameter(name, make([shape.out2, shape.in2], zero: initialization == .lycoris))
        } else {
            w2a.registerParameter(name, make([shape.out2, rank], zero: false))
            w2b.registerParameter(name, make([rank, shape.in2], zero: initialization == .lycoris))
        }
        let random = Dropout(probability: 0, seed: generator.next())
        if !isTraining { random.eval() }
        dropouts.registerChild(name, random)
        shapes[name] = shape
        settings[name] = Settings(rank: rank, alpha: alpha, scaling: Float(alpha / Double(rank)), rankDropout: rankDropout,
                                  moduleDropout: moduleDropout, rankDropoutScale: rankDropoutScale)
        adapterNames.append(name)
    }

    /// Removes adapter `name`'s tensors.
    public func deleteAdapter(_ name: String) {
        guard settings.removeValue(forKey: name) != nil else { return }
        for container in [w1, w1a, w1b, w2, w2a, w2b] { container.removeParameter(name) }
        _ = try? dropouts.removeChild(name)
        shapes.removeValue(forKey: name)
        forget(name)
    }

    /// Adapter `name`'s tensors under PEFT's keys (without the adapter name).
    public func adapterTensors(_ name: String) -> [(key: String, parameter: Variable)] {
        [("lokr_w1", w1), ("lokr_w1_a", w1a), ("lokr_w1_b", w1b), ("lokr_w2", w2), ("lokr_w2_a", w2a), ("lokr_w2_b", w2b)]
            .compactMap { key, container in container.optionalParameter(name).map { (key, $0) } }
    }

    /// `W1` and `W2` (whole or as their products).
    private func factors(_ name: String) -> (Variable, Variable) {
        let first = w1.optionalParameter(name) ?? Variable.matmul(w1a.parameter(name), w1b.parameter(name))
        let second = w2.optionalParameter(name) ?? Variable.matmul(w2a.parameter(name), w2b.parameter(name))
        return (first, second)
    }

    /// `ΔW = (W1 ⊗ W2) · α/r`, `[out, in]`, differentiable in the factors.
    func delta(_ name: String) -> Variable {
        let (first, second) = factors(name)
        let shape = shapes[name]!
        // kron: ΔW[i·out2 + j, k·in2 + l] = W1[i, k] · W2[j, l].
        let product = first.reshaped([shape.out1, 1, shape.in1, 1]) * second.reshaped([1, shape.out2, 1, shape.in2])
        return product.reshaped([outFeatures, inFeatures]) * settings[name]!.scaling
    }

    // x: (…, in) → (…, out)
    /// `base(x) + Σ x·ΔWᵀ` over the active, unmerged adapters, with LyCORIS's training dropouts.
    /// Under `AdapterRouting`, each row takes its own sequence's adapter instead.
    public func callAsFunction(_ x: Variable) -> Variable {
        if let routed = routedOutput(x, apply: apply) { return routed }
        var result = baseLayer(x)
        for name in appliedAdapters { result = apply(name, to: x, result: result) }
        return result
    }

    /// Adapter `name`'s step on top of `result` (the output so far for input `x`).
    private func apply(_ name: String, to x: Variable, result: Variable) -> Variable {
        let setting = settings[name]!
        let dropout = LycorisDropout(rankDropout: setting.rankDropout, moduleDropout: setting.moduleDropout, rescales: setting.rankDropoutScale)
        guard let delta = dropout.apply(delta(name), training: isTraining, random: dropouts.child(name)) else { return result }
        return result + Variable.matmul(x, delta, transposeB: true)
    }

    /// Folds adapters `names` into the base weight; `unmerge()` restores it exactly.
    public func merge(_ names: [String]) throws {
        try merge(names) { name in try baseLayer.addToWeight(withoutGradients { delta(name).value }) }
    }
}
