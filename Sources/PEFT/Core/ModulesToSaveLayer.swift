import Autograd
import NN
import Tensors

/// A linear layer trained in full next to an adapter (PEFT's `modules_to_save`, e.g. a new
/// classification head): `original_module` stays frozen, each adapter trains its own copy under
/// `modules_to_save.<adapter>`, and the active adapter's copy is used in forward.
public final class ModulesToSaveLayer: Module, LinearLayer {
    /// The frozen original module (`original_module` in checkpoints).
    @Child("original_module") public var original: any LinearLayer
    @Child("modules_to_save") var copies: Module
    /// The adapter whose copy forward uses (nil: the original).
    public var activeAdapter: String?
    /// When true, forward uses the original.
    public var adaptersDisabled = false

    /// Wraps `original`; copies for adapters are added with `addAdapter`.
    public init(wrapping original: any LinearLayer) {
        super.init()
        registerChild(_original, original)
        registerChild(_copies, Module())
    }

    /// Adds a trainable copy of the original for `name`.
    /// - Throws: `PEFTError.unsupportedTarget` for a layer kind that cannot be copied.
    public func addAdapter(_ name: String, path: String) throws {
        let copy: Module
        if let linear = original as? Linear {
            copy = Linear(weight: linear.weight.value, bias: linear.bias?.value)
        } else if let conv = original as? Conv1D, let bias = conv.bias {
            copy = Conv1D(weight: conv.weight.value, bias: bias.value)
        } else {
            throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: original))", method: "modules_to_save")
        }
        copies.registerChild(name, copy)
    }

    /// Names of the adapters that have a copy.
    public var adapterNames: [String] { copies.children.map(\.name) }

    /// The copy of `name`, if any.
    public func copy(_ name: String) -> (any LinearLayer)? { copies.optionalChild(name) as? any LinearLayer }

    /// Removes the copy of `name`.
    public func deleteAdapter(_ name: String) {
        _ = try? copies.removeChild(name)
        if activeAdapter == name { activeAdapter = nil }
    }

    private var current: any LinearLayer {
        guard !adaptersDisabled, let activeAdapter, let copy = copy(activeAdapter) else { return original }
        return copy
    }

    /// The wrapped layer's input size.
    public var inFeatures: Int { original.inFeatures }
    /// The wrapped layer's output size.
    public var outFeatures: Int { original.outFeatures }
    /// The wrapped layer's weight layout.
    public var weightLayout: WeightLayout { original.weightLayout }
    /// Whether the wrapped layer's weight is packed.
    public var isPacked: Bool { current.isPacked }
    /// The wrapped layer's bias.
    public var bias: Variable? { current.bias }
    /// The wrapped layer's weight as `[out, in]`.
    public func denseWeight() -> Tensor { current.denseWeight() }
    /// Adds to the wrapped layer's weight.
    public func addToWeight(_ delta: Tensor) throws { try current.addToWeight(delta) }
    /// Replaces the wrapped layer's weight.
    public func assignDenseWeight(_ weight: Tensor) throws { try current.assignDenseWeight(weight) }
    /// The active adapter's copy, or the original when disabled or none is active. Under
    /// `AdapterRouting`, each row takes its own sequence's copy (or the original) instead.
    public func callAsFunction(_ x: Variable) -> Variable {
        if AdapterRouting.sequenceAdapters != nil,
           let routed = AdapterRouting.output(x, held: adapterNames, base: { original($0) }, apply: { name, x, _ in copy(name)!(x) }) {
            return routed
        }
        return current(x)
    }
}
