import Autograd
import Foundation
import NN
import Tensors

/// LoRA (and its variants: rsLoRA's scale, DoRA through `LoRAVariant`) around any `LinearLayer`:
/// dense, `Conv1D` or packed.
///
/// In-memory paths follow Hugging Face PEFT: `q_proj.base_layer.weight`, `q_proj.lora_A.<adapter>.weight`
/// `[r, in]`, `q_proj.lora_B.<adapter>.weight` `[out, r]`, and with DoRA
/// `q_proj.lora_magnitude_vector.<adapter>` `[out]`. Training never forms `B·A` for plain LoRA:
/// the adapter path is `dropout(x)·Aᵀ·Bᵀ·s` (two thin GEMMs), and the frozen base gets no weight
/// gradient.
public final class LoRALayer: LinearAdapterBase, AdapterLayer {
    /// One adapter's hyper-parameters.
    public struct Settings: Sendable, Equatable {
        /// `r`.
        public var rank: Int
        /// `lora_alpha`.
        public var alpha: Double
        /// `α/r` or `α/√r`.
        public var scaling: Float
        /// DoRA: the weight's direction and magnitude are adapted separately.
        public var useDoRA: Bool
        /// Dropout probability on the adapter input.
        public var dropout: Double
    }

    @Child("lora_A") var loraA: Module
    @Child("lora_B") var loraB: Module
    @Child("lora_dropout") var loraDropout: Module
    /// DoRA's magnitudes (PEFT keeps the container on every LoRA layer).
    @Child("lora_magnitude_vector") var magnitudes: Module
    /// The variant of each adapter that has one.
    private var variants: [String: any LoRAVariant] = [:]

    /// Settings by adapter name.
    public private(set) var settings: [String: Settings] = [:]

    /// Wraps `base` (no adapter yet; see `addAdapter`).
    public override init(wrapping base: any LinearLayer) {
        super.init(wrapping: base)
        registerChild(_loraA, Module())
        registerChild(_loraB, Module())
        registerChild(_loraDropout, Module())
        registerChild(_magnitudes, Module())
    }

    /// Adds an adapter named `name` initialised as `initialization` says (with `useDoRA`, the DoRA
    /// variant: a magnitude starting at the row norms of `W₀ + s·B·A`).
    public func addAdapter(_ name: String, rank: Int, alpha: Double, dropout: Double, rsLoRA: Bool, useDoRA: Bool,
                           initialization: LoRAInitialization, generator: inout SeededRandom) {
        precondition(settings[name] == nil, "LoRALayer: adapter '\(name)' exists")
        let scaling = LoRAConfig.scaling(rank: rank, alpha: alpha, rsLoRA: rsLoRA)
        let a = Linear(inFeatures: inFeatures, outFeatures: rank, bias: false, generator: &generator)
        let b = Linear(inFeatures: rank, outFeatures: outFeatures, bias: false, generator: &generator)
        switch initialization {
        case .standard: b.weight.value = .zeros(b.weight.shape)
        case .gaussian:
            a.weight.value = .randomNormal(a.weight.shape, std: 1 / Float(rank), generator: &generator)
            b.weight.value = .zeros(b.weight.shape)
        case .random: break
        }
        loraA.registerChild(name, a)
        loraB.registerChild(name, b)
        let dropoutLayer = Dropout(probability: Float(dropout), seed: generator.next())
        if !isTraining { dropoutLayer.eval() }
        loraDropout.registerChild(name, dropoutLayer)
        settings[name] = Settings(rank: rank, alpha: alpha, scaling: scaling, useDoRA: useDoRA, dropout: dropout)
        adapterNames.append(name)
        if useDoRA {
            variants[name] = DoRA()
            variants[name]!.initialize(self, adapter: name)
        }
    }

    /// Removes adapter `name`'s tensors.
    public func deleteAdapter(_ name: String) {
        guard settings.removeValue(forKey: name) != nil else { return }
        for container in [loraA, loraB, loraDropout] { _ = try? container.removeChild(name) }
        variants.removeValue(forKey: name)?.remove(from: self, adapter: name)
        forget(name)
    }

    /// Adapter `name`'s tensors under PEFT's keys (without the adapter name).
    public func adapterTensors(_ name: String) -> [(key: String, parameter: Variable)] {
        guard settings[name] != nil else { return [] }
        let a: Linear = loraA.child(name), b: Linear = loraB.child(name)
        return [("lora_A.weight", a.weight), ("lora_B.weight", b.weight)] + (variants[name]?.tensors(of: self, adapter: name) ?? [])
    }

    /// `s·B·A` `[out, in]` of one adapter (used for merging and DoRA's norm, never in LoRA training).
    func deltaWeight(_ name: String) -> Tensor {
        let a: Linear = loraA.child(name), b: Linear = loraB.child(name)
        return Tensor.matmul(b.weight.value, a.weight.value) * settings[name]!.scaling
    }

    // x: (…, in) → (…, out)
    /// `base(x) + Σ s·B·A·dropout(x)` over the active, unmerged adapters (a variant replaces its step).
    /// Under `AdapterRouting`, each row takes its own sequence's adapter instead.
    public func callAsFunction(_ x: Variable) -> Variable {
        if AdapterRouting.sequenceAdapters != nil, !isTraining, variants.isEmpty,
           let routed = AdapterRouting.additiveOutput(x, held: adapterNames, base: { baseLayer($0) }, update: lowRankProduct) {
            return routed
        }
        if let routed = routedOutput(x, apply: apply) { return routed }
        var result = baseLayer(x)
        for name in appliedAdapters { result = apply(name, to: x, result: result) }
        return result
    }

    /// `(x·Aᵀ)·Bᵀ` of adapter `name` for rows `x` `[rows, in]`, and its scaling: the products
    /// `apply` makes, on tensors (inference, no dropout).
    private func lowRankProduct(_ name: String, _ x: Tensor) -> (product: Tensor, scale: Float) {
        let a: Linear = loraA.child(name), b: Linear = loraB.child(name)
        return (Tensor.matmul(Tensor.matmul(x, a.weight.value, transposeB: true), b.weight.value, transposeB: true), settings[name]!.scaling)
    }

    /// Adapter `name`'s step on top of `result` (the output so far for input `x`).
    private func apply(_ name: String, to x: Variable, result: Variable) -> Variable {
        let a: Linear = loraA.child(name), b: Linear = loraB.child(name), dropout: Dropout = loraDropout.child(name)
        let dropped = dropout(x)
        let update = b(a(dropped)) * settings[name]!.scaling  // never B·A: two thin GEMMs
        if let variant = variants[name] { return variant.forward(self, adapter: name, result: result, dropped: dropped, update: update) }
        return result + update
    }

    /// Folds adapters `names` into the base weight; `unmerge()` restores it exactly.
    public func merge(_ names: [String]) throws {
        try merge(names) { name in
            let delta = deltaWeight(name)
            if let variant = variants[name] {
                try baseLayer.assignDenseWeight(variant.merged(self, adapter: name, weight: baseLayer.denseWeight(), delta: delta))
            } else {
                try baseLayer.addToWeight(delta)
            }
        }
    }
}
