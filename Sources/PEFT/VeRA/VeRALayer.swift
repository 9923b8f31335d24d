import Autograd
import NN
import Tensors

/// VeRA around any `LinearLayer` (dense, `Conv1D` or packed), as in Hugging Face PEFT:
/// `base(x) + Λb ⊙ ((Λd ⊙ (dropout(x)·Aᵀ))·Bᵀ)` with the adapter's shared frozen `A`, `B` (the
/// block this layer's shape needs) and its own trainable `vera_lambda_d.<adapter>` `[r]` and
/// `vera_lambda_b.<adapter>` `[out]`.
public final class VeRALayer: LinearAdapterBase, AdapterLayer {
    @Child("vera_lambda_b") var lambdaB: Module
    @Child("vera_lambda_d") var lambdaD: Module
    @Child("vera_dropout") var dropouts: Module

    /// The shared projections by adapter name.
    public private(set) var projections: [String: VeRAProjection] = [:]

    /// Wraps `base` (no adapter yet; see `addAdapter`).
    public override init(wrapping base: any LinearLayer) {
        super.init(wrapping: base)
        for child in [_lambdaB, _lambdaD, _dropouts] { registerChild(child, Module()) }
    }

    /// Adds adapter `name` on the shared `projection`. With `identity`, `Λb` starts at zero and `Λd`
    /// at `initialD`; otherwise `Λb` at one and `Λd` standard normal (PEFT's `init_weights`).
    public func addAdapter(_ name: String, projection: VeRAProjection, dropout: Double, initialD: Double, identity: Bool,
                           generator: inout SeededRandom) {
        precondition(projections[name] == nil, "VeRALayer: adapter '\(name)' exists")
        precondition(projection.a.shape[1] >= inFeatures && projection.b.shape[0] >= outFeatures, "VeRALayer: projections too small")
        let rank = projection.a.shape[0]
        lambdaB.registerParameter(name, Variable(identity ? .zeros([outFeatures]) : .ones([outFeatures]), requiresGrad: true))
        lambdaD.registerParameter(name, Variable(identity ? Tensor(repeating: Float(initialD), shape: [rank]) : .randomNormal([rank], generator: &generator),
                                                 requiresGrad: true))
        let dropoutLayer = Dropout(probability: Float(dropout), seed: generator.next())
        if !isTraining { dropoutLayer.eval() }
        dropouts.registerChild(name, dropoutLayer)
        projections[name] = projection
        adapterNames.append(name)
    }

    /// Removes adapter `name`'s tensors.
    public func deleteAdapter(_ name: String) {
        guard projections.removeValue(forKey: name) != nil else { return }
        lambdaB.removeParameter(name)
        lambdaD.removeParameter(name)
        _ = try? dropouts.removeChild(name)
        forget(name)
    }

    /// Adapter `name`'s trainable vectors under PEFT's keys (without the adapter name).
    public func adapterTensors(_ name: String) -> [(key: String, parameter: Variable)] {
        guard projections[name] != nil else { return [] }
        return [("vera_lambda_b", lambdaB.parameter(name)), ("vera_lambda_d", lambdaD.parameter(name))]
    }

    /// This layer's blocks of the shared projections: `A[:, :in]`, `B[:out, :]`.
    private func blocks(_ name: String) -> (a: Variable, b: Variable) {
        let projection = projections[name]!
        return (Variable(projection.a.value.slice(axis: 1, 0..<inFeatures)), Variable(projection.b.value.slice(axis: 0, 0..<outFeatures)))
    }

    // x: (…, in) → (…, out)
    /// `base(x) + Σ Λb ⊙ ((Λd ⊙ (dropout(x)·Aᵀ))·Bᵀ)` over the active, unmerged adapters.
    /// Under `AdapterRouting`, each row takes its own sequence's adapter instead.
    public func callAsFunction(_ x: Variable) -> Variable {
        if let routed = routedOutput(x, apply: apply) { return routed }
        var result = baseLayer(x)
        for name in appliedAdapters { result = apply(name, to: x, result: result) }
        return result
    }

    /// Adapter `name`'s step on top of `result` (the output so far for input `x`).
    private func apply(_ name: String, to x: Variable, result: Variable) -> Variable {
        let (a, b) = blocks(name)
        let dropout: Dropout = dropouts.child(name)
        let hidden = Variable.matmul(dropout(x), a, transposeB: true) * lambdaD.parameter(name)
        return result + Variable.matmul(hidden, b, transposeB: true) * lambdaB.parameter(name)
    }

    /// `ΔW = (Λb ⊙ B)·(Λd ⊙ A)`, `[out, in]`.
    func delta(_ name: String) -> Tensor {
        let (a, b) = blocks(name)
        return Tensor.matmul(b.value * lambdaB.parameter(name).value.reshaped([-1, 1]), a.value * lambdaD.parameter(name).value.reshaped([-1, 1]))
    }

    /// Folds adapters `names` into the base weight; `unmerge()` restores it exactly.
    public func merge(_ names: [String]) throws {
        try merge(names) { name in try baseLayer.addToWeight(delta(name)) }
    }
}
