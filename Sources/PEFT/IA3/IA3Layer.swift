import Autograd
import NN
import Tensors

/// IA³ around any `LinearLayer`: a learned vector `ia3_l.<adapter>` scales the output (`[out, 1]`)
/// or, for feed-forward modules, the input (`[1, in]`) of the base layer, as in Hugging Face PEFT.
public final class IA3Layer: LinearAdapterBase, AdapterLayer {
    @Child("ia3_l") var vectors: Module

    /// True when the input (not the output) is scaled.
    public let isFeedforward: Bool

    /// Wraps `base` (no adapter yet).
    public init(wrapping base: any LinearLayer, isFeedforward: Bool) {
        self.isFeedforward = isFeedforward
        super.init(wrapping: base)
        registerChild(_vectors, Module())
    }

    /// Adds a vector of ones (or random values near one when `identity` is false).
    public func addAdapter(_ name: String, identity: Bool, generator: inout SeededRandom) {
        precondition(!adapterNames.contains(name), "IA3Layer: adapter '\(name)' exists")
        let shape = isFeedforward ? [1, inFeatures] : [outFeatures, 1]
        let value: Tensor = identity ? .ones(shape) : .randomNormal(shape, mean: 1, std: 0.1, generator: &generator)
        vectors.registerParameter(name, Variable(value, requiresGrad: true))
        adapterNames.append(name)
    }

    /// Removes adapter `name`'s tensors.
    public func deleteAdapter(_ name: String) {
        guard vectors.removeParameter(name) != nil else { return }
        forget(name)
    }

    /// Adapter `name`'s tensors under PEFT's keys (without the adapter name).
    public func adapterTensors(_ name: String) -> [(key: String, parameter: Variable)] {
        vectors.optionalParameter(name).map { [("ia3_l", $0)] } ?? []
    }

    // x: (…, in) → (…, out)
    /// The base output scaled by the active vectors (feed-forward layers: the input is scaled).
    /// Under `AdapterRouting`, each row takes its own sequence's adapter instead.
    public func callAsFunction(_ x: Variable) -> Variable {
        if let routed = routedOutput(x, apply: { name, x, result in
            let scaling = vectors.parameter(name).reshaped([-1])
            return isFeedforward ? baseLayer(x * scaling) : result * scaling
        }) { return routed }
        let active = appliedAdapters.compactMap { vectors.optionalParameter($0) }
        guard !active.isEmpty else { return baseLayer(x) }
        let scaling = active.dropFirst().reduce(active[0].reshaped([-1])) { $0 * $1.reshaped([-1]) }
        return isFeedforward ? baseLayer(x * scaling) : baseLayer(x) * scaling
    }

    /// Folds adapters `names` into the base weight; `unmerge()` restores it exactly.
    public func merge(_ names: [String]) throws {
        try merge(names) { name in
            let vector = vectors.parameter(name).value  // [1, in] scales columns, [out, 1] rows
            try baseLayer.assignDenseWeight(baseLayer.denseWeight() * vector)
            if !isFeedforward, let bias = baseLayer.bias { bias.value = bias.value * vector.reshaped([-1]) }
        }
    }
}
