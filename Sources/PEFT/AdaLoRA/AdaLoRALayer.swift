import Autograd
import NN
import Tensors

/// AdaLoRA's SVD-shaped adapter around any `LinearLayer` (dense, `Conv1D` or packed), as PEFT's
/// `SVDLinear`: `lora_A.<adapter>` `[r, in]`, `lora_E.<adapter>` `[r, 1]`, `lora_B.<adapter>` `[out, r]`
/// and `base(x) + dropout(x)·(A ⊙ E)ᵀ·Bᵀ · α/(r₀ + 10⁻⁵)`, where `r₀` (`ranknum`) is the rank the
/// adapter started with: pruning a triplet zeroes its singular value without changing the scale.
public final class AdaLoRALayer: LinearAdapterBase, AdapterLayer {
    /// One adapter's hyper-parameters.
    public struct Settings: Sendable, Equatable {
        /// The rank of A, E and B now.
        public var rank: Int
        /// `lora_alpha` (or the rank, when α is 0, as PEFT does).
        public var scaling: Float
        /// `ranknum`: the starting rank the update is divided by.
        public var startingRank: Float
        /// Dropout probability on the adapter input.
        public var dropout: Double
    }

    @Child("lora_A") var loraA: Module
    @Child("lora_B") var loraB: Module
    @Child("lora_E") var loraE: Module
    @Child("lora_dropout") var loraDropout: Module

    /// Settings by adapter name.
    public private(set) var settings: [String: Settings] = [:]
    /// The triplets the allocator keeps, by adapter (nil: all); saving writes only these.
    public internal(set) var kept: [String: [Bool]] = [:]

    /// Wraps `base` (no adapter yet; see `addAdapter`).
    public override init(wrapping base: any LinearLayer) {
        super.init(wrapping: base)
        for child in [_loraA, _loraB, _loraE, _loraDropout] { registerChild(child, Module()) }
    }

    /// Adds adapter `name` of rank `rank` whose scale divides by `startingRank`. With `identity`, E
    /// starts at zero and A, B normal (std 0.02); otherwise all three standard normal (PEFT's rules).
    public func addAdapter(_ name: String, rank: Int, startingRank: Int, alpha: Double, dropout: Double, identity: Bool,
                           generator: inout SeededRandom) {
        precondition(settings[name] == nil, "AdaLoRALayer: adapter '\(name)' exists")
        let std: Float = identity ? 0.02 : 1
        loraA.registerParameter(name, Variable(.randomNormal([rank, inFeatures], std: std, generator: &generator), requiresGrad: true))
        loraE.registerParameter(name, Variable(identity ? .zeros([rank, 1]) : .randomNormal([rank, 1], generator: &generator), requiresGrad: true))
        loraB.registerParameter(name, Variable(.randomNormal([outFeatures, rank], std: std, generator: &generator), requiresGrad: true))
        let dropoutLayer = Dropout(probability: Float(dropout), seed: generator.next())
        if !isTraining { dropoutLayer.eval() }
        loraDropout.registerChild(name, dropoutLayer)
        settings[name] = Settings(rank: rank, scaling: Float(alpha > 0 ? alpha : Double(rank)), startingRank: Float(startingRank), dropout: dropout)
        adapterNames.append(name)
    }

    /// Removes adapter `name`'s tensors.
    public func deleteAdapter(_ name: String) {
        guard settings.removeValue(forKey: name) != nil else { return }
        for container in [loraA, loraB, loraE] { container.removeParameter(name) }
        _ = try? loraDropout.removeChild(name)
        kept.removeValue(forKey: name)
        forget(name)
    }

    /// A, B and E of adapter `name`.
    func factors(_ name: String) -> (a: Variable, e: Variable, b: Variable) {
        (loraA.parameter(name), loraE.parameter(name), loraB.parameter(name))
    }

    /// Adapter `name`'s tensors under PEFT's keys (without the adapter name).
    public func adapterTensors(_ name: String) -> [(key: String, parameter: Variable)] {
        guard settings[name] != nil else { return [] }
        let (a, e, b) = factors(name)
        return [("lora_A", a), ("lora_B", b), ("lora_E", e)]
    }

    /// As PEFT saves them: only the kept triplets' rows of A and E and columns of B.
    public func savedAdapterTensors(_ name: String) -> [(key: String, value: Tensor)] {
        guard settings[name] != nil else { return [] }
        let (a, e, b) = factors(name)
        guard let mask = kept[name], mask.contains(false) else { return [("lora_A", a.value), ("lora_B", b.value), ("lora_E", e.value)] }
        let rows = mask.indices.filter { mask[$0] }
        let keptA = Tensor(rows.flatMap { a.value.slice(axis: 0, $0..<($0 + 1)).toArray() }, shape: [rows.count, inFeatures])
        let keptE = Tensor(rows.map { e.value[$0, 0] }, shape: [rows.count, 1])
        let columns = b.value.toArray()
        let keptB = Tensor((0..<outFeatures).flatMap { row in rows.map { columns[row * mask.count + $0] } }, shape: [outFeatures, rows.count])
        return [("lora_A", keptA), ("lora_B", keptB), ("lora_E", keptE)]
    }

    /// The update's scale, `α/(r₀ + 10⁻⁵)`, in float32 as PEFT computes it.
    private func scale(_ setting: Settings) -> Float { setting.scaling / (setting.startingRank + 1e-5) }

    // x: (…, in) → (…, out)
    /// `base(x) + Σ dropout(x)·(A ⊙ E)ᵀ·Bᵀ·α/(r₀ + 10⁻⁵)` over the active, unmerged adapters.
    /// Under `AdapterRouting`, each row takes its own sequence's adapter instead.
    public func callAsFunction(_ x: Variable) -> Variable {
        if let routed = routedOutput(x, apply: apply) { return routed }
        var result = baseLayer(x)
        for name in appliedAdapters { result = apply(name, to: x, result: result) }
        return result
    }

    /// Adapter `name`'s step on top of `result` (the output so far for input `x`).
    private func apply(_ name: String, to x: Variable, result: Variable) -> Variable {
        guard let setting = settings[name], setting.rank > 0 else { return result }
        let (a, e, b) = factors(name)
        let dropout: Dropout = loraDropout.child(name)
        let hidden = Variable.matmul(dropout(x), a * e, transposeB: true)
        return result + Variable.matmul(hidden, b, transposeB: true) * scale(setting)
    }

    /// `ΔW = B·(A ⊙ E)·α/(r₀ + 10⁻⁵)`, `[out, in]`.
    func delta(_ name: String) -> Tensor {
        let (a, e, b) = factors(name)
        return Tensor.matmul(b.value, a.value * e.value) * scale(settings[name]!)
    }

    /// Folds adapters `names` into the base weight; `unmerge()` restores it exactly.
    public func merge(_ names: [String]) throws {
        try merge(names) { name in if settings[name]!.rank > 0 { try baseLayer.addToWeight(delta(name)) } }
    }
}
