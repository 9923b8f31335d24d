import Autograd
import NN
import Tensors

/// LoHa around a `LinearLayer` whose weight is `[out, in]` (dense or packed), as in Hugging Face
/// PEFT: `hada_w1_a.<adapter>` and `hada_w2_a.<adapter>` `[out, r]`, `hada_w1_b.<adapter>` and
/// `hada_w2_b.<adapter>` `[r, in]`, and `ΔW = (W1a·W1b) ⊙ (W2a·W2b) · α/r`.
///
/// Forward forms ΔW (`[out, in]`, as PEFT does: the Hadamard product has no factored form) and adds
/// `x·ΔWᵀ` to the base output; the factors' gradients flow through the two products.
public final class LoHaLayer: LinearAdapterBase, AdapterLayer {
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
    }

    @Child("hada_w1_a") var w1a: Module
    @Child("hada_w1_b") var w1b: Module
    @Child("hada_w2_a") var w2a: Module
    @Child("hada_w2_b") var w2b: Module
    /// Holds one generator per adapter for rank and module dropout (checkpointed with the run's
    /// other dropout generators; no parameters).
    @Child("hada_dropout") var dropouts: Module

    /// Settings by adapter name.
    public private(set) var settings: [String: Settings] = [:]

    /// Wraps `base` (no adapter yet; see `addAdapter`).
    public override init(wrapping base: any LinearLayer) {
        super.init(wrapping: base)
        for child in [_w1a, _w1b, _w2a, _w2b, _dropouts] { registerChild(child, Module()) }
    }

    /// Adds adapter `name`. With `identity`, `W1a`, `W1b`, `W2a` start Kaiming-uniform and `W2b` at
    /// zero (ΔW = 0); otherwise all four are Kaiming-uniform (PEFT's `init_weights`).
    public func addAdapter(_ name: String, rank: Int, alpha: Double, rankDropout: Double, moduleDropout: Double, identity: Bool,
                           generator: inout SeededRandom) {
        precondition(settings[name] == nil, "LoHaLayer: adapter '\(name)' exists")
        func kaiming(_ shape: [Int]) -> Variable {
            let bound = 1 / Float(shape[1]).squareRoot()  // PyTorch's fan-in of a 2-D tensor is its second axis
            return Variable(.randomUniform(shape, low: -bound, high: bound, generator: &generator), requiresGrad: true)
        }
        w1a.registerParameter(name, kaiming([outFeatures, rank]))
        w1b.registerParameter(name, kaiming([rank, inFeatures]))
        w2a.registerParameter(name, kaiming([outFeatures, rank]))
        w2b.registerParameter(name, identity ? Variable(.zeros([rank, inFeatures]), requiresGrad: true) : kaiming([rank, inFeatures]))
        let random = Dropout(probability: 0, seed: generator.next())
        if !isTraining { random.eval() }
        dropouts.registerChild(name, random)
        settings[name] = Settings(rank: rank, alpha: alpha, scaling: Float(alpha / Double(rank)), rankDropout: rankDropout,
                                  moduleDropout: moduleDropout)
        adapterNames.append(name)
    }

    /// Removes adapter `name`'s tensors.
    public func deleteAdapter(_ name: String) {
        guard settings.removeValue(forKey: name) != nil else { return }
        for container in [w1a, w1b, w2a, w2b] { container.removeParameter(name) }
        _ = try? dropouts.removeChild(name)
        forget(name)
    }

    /// Adapter `name`'s tensors under PEFT's keys (without the adapter name).
    public func adapterTensors(_ name: String) -> [(key: String, parameter: Variable)] {
        guard settings[name] != nil else { return [] }
        return [("hada_w1_a", w1a.parameter(name)), ("hada_w1_b", w1b.parameter(name)), ("hada_w2_a", w2a.parameter(name)),
                ("hada_w2_b", w2b.parameter(name))]
    }

    /// `ΔW = (W1a·W1b) ⊙ (W2a·W2b) · α/r`, `[out, in]`, differentiable in the factors.
    func delta(_ name: String) -> Variable {
        let first = Variable.matmul(w1a.parameter(name), w1b.parameter(name))
        let second = Variable.matmul(w2a.parameter(name), w2b.parameter(name))
        return first * second * settings[name]!.scaling
    }

    // x: (…, in) → (…, out)
    /// `base(x) + Σ x·ΔWᵀ` over the active, unmerged adapters. In training, `module_dropout` skips
    /// an adapter for the pass and `rank_dropout` drops rows of ΔW, rescaling the rest by the
    /// fraction kept (as PEFT does).
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
        let dropout = LycorisDropout(rankDropout: setting.rankDropout, moduleDropout: setting.moduleDropout, rescales: true)
        guard let delta = dropout.apply(delta(name), training: isTraining, random: dropouts.child(name)) else { return result }
        return result + Variable.matmul(x, delta, transposeB: true)
    }

    /// Folds adapters `names` into the base weight; `unmerge()` restores it exactly.
    public func merge(_ names: [String]) throws {
        try merge(names) { name in try baseLayer.addToWeight(withoutGradients { delta(name).value }) }
    }
}
