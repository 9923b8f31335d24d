import Autograd
import NN
import Tensors

/// A module that wraps a base module and holds one or more named adapters (PEFT's `BaseTunerLayer`).
///
/// The wrapped module is the child `base_layer`; each adapter's tensors live under a container named
/// after the method's PEFT key (`lora_A.<adapter>.weight`, `ia3_l.<adapter>` …), so the module tree's
/// paths are PEFT's in-memory names and the saved keys are those paths without the adapter name.
public protocol AdapterWrapper: Module {
    /// The wrapped module (`base_layer`).
    var wrappedModule: Module { get }
    /// Names of the adapters this layer holds.
    var adapterNames: [String] { get }
    /// The adapters applied in forward (in order).
    var activeAdapters: [String] { get set }
    /// The adapters currently merged into the base weight.
    var mergedAdapters: [String] { get }
    /// When true, forward is the base layer alone.
    var adaptersDisabled: Bool { get set }
    /// The adapter's tensors by PEFT key relative to this layer (`lora_A.weight`, `ia3_l` …).
    func adapterTensors(_ name: String) -> [(key: String, parameter: Variable)]
    /// The adapter's tensors as an adapter file holds them (by default their values; AdaLoRA keeps
    /// only the ranks its allocator kept).
    func savedAdapterTensors(_ name: String) -> [(key: String, value: Tensor)]
    /// Adds the merged weights of `names` to the base weight.
    func merge(_ names: [String]) throws
    /// Restores the base weight exactly as it was before `merge`.
    func unmerge() throws
    /// Removes an adapter's tensors.
    func deleteAdapter(_ name: String)
    /// Frozen base tensors PEFT writes next to the adapter (an adapted embedding's table), relative
    /// to this layer; loading assigns them when a file has them.
    var savedBaseTensors: [(key: String, parameter: Variable)] { get }
}

extension AdapterWrapper {
    /// The tensors' values.
    public func savedAdapterTensors(_ name: String) -> [(key: String, value: Tensor)] { adapterTensors(name).map { ($0.key, $0.parameter.value) } }

    /// Base tensors PEFT also writes with the adapter (none by default).
    public var savedBaseTensors: [(key: String, parameter: Variable)] { [] }
}

/// An adapter wrapper around a linear layer; it is itself a `LinearLayer`, so models need no change.
public protocol AdapterLayer: AdapterWrapper, LinearLayer {
    /// The wrapped layer.
    var baseLayer: any LinearLayer { get }
}

extension AdapterLayer {
    /// The wrapped base layer.
    public var wrappedModule: Module { baseLayer }
    /// The wrapped layer's input size.
    public var inFeatures: Int { baseLayer.inFeatures }
    /// The wrapped layer's output size.
    public var outFeatures: Int { baseLayer.outFeatures }
    /// The wrapped layer's weight layout.
    public var weightLayout: WeightLayout { baseLayer.weightLayout }
    /// Whether the wrapped layer's weight is packed.
    public var isPacked: Bool { baseLayer.isPacked }
    /// The wrapped layer's bias.
    public var bias: Variable? { baseLayer.bias }
    /// The base layer's weight (merged adapters included).
    public func denseWeight() -> Tensor { baseLayer.denseWeight() }
    /// Adds to the wrapped layer's weight.
    public func addToWeight(_ delta: Tensor) throws { try baseLayer.addToWeight(delta) }
    /// Replaces the wrapped layer's weight.
    public func assignDenseWeight(_ weight: Tensor) throws { try baseLayer.assignDenseWeight(weight) }
}

/// Keeps a base layer's original weight while adapters are merged into it, so unmerging restores
/// it bit for bit (subtracting a merged delta in floating point would not).
struct MergeState {
    private(set) var original: Tensor?
    private(set) var originalBias: Tensor?
    private(set) var merged: [String] = []

    /// Records the base weight before the first merge.
    mutating func willMerge(_ names: [String], base: any LinearLayer) throws {
        guard !base.isPacked else {
            throw PEFTError.invalidState("cannot merge into a packed (quantized) base layer; dequantize the model first")
        }
        if original == nil {
            original = base.denseWeight()
            originalBias = base.bias?.value
        }
        merged += names
    }

    /// Puts the original weight back.
    mutating func restore(into base: any LinearLayer) throws {
        if let original { try base.assignDenseWeight(original) }
        if let originalBias { base.bias?.value = originalBias }
        original = nil
        originalBias = nil
        merged = []
    }
}
