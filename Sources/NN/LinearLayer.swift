import Autograd
import Tensors

/// How a linear layer stores its weight.
public enum WeightLayout: Sendable, Equatable {
    /// `[out, in]`, PyTorch's `nn.Linear` and GGUF's row order.
    case outputsByInputs
    /// `[in, out]`, GPT-2's `Conv1D` (Hugging Face PEFT's `fan_in_fan_out = true`).
    case inputsByOutputs
}

/// A layer computing `y = x·Wᵀ (+ b)` for an effective weight `W: [outFeatures, inFeatures]`.
///
/// Dense, transposed (`Conv1D`), packed/quantized and adapter-wrapped layers all conform, so a model
/// holds `any LinearLayer` and never needs to know which one it got, and an adapter needs nothing
/// but this protocol from the layer it wraps.
public protocol LinearLayer: Module {
    /// Size of the last axis of the input.
    var inFeatures: Int { get }
    /// Size of the last axis of the output.
    var outFeatures: Int { get }
    /// Applies the layer to `x: (…, inFeatures)`, giving `(…, outFeatures)`.
    func callAsFunction(_ x: Variable) -> Variable

    /// How the stored weight is laid out.
    var weightLayout: WeightLayout { get }
    /// True when the weight is stored packed (quantized): it can be read densely but not updated
    /// in place.
    var isPacked: Bool { get }
    /// The effective weight as a dense `[outFeatures, inFeatures]` tensor (dequantized when packed,
    /// transposed when stored `[in, out]`).
    func denseWeight() -> Tensor
    /// Adds `delta` (`[outFeatures, inFeatures]`) to the weight in place — how adapters merge.
    /// - Throws: `ModuleError.unsupported` for packed weights.
    func addToWeight(_ delta: Tensor) throws
    /// Replaces the weight with a dense `[outFeatures, inFeatures]` tensor (restoring an unmerged
    /// weight exactly). - Throws: `ModuleError.unsupported` for packed weights.
    func assignDenseWeight(_ weight: Tensor) throws
    /// The bias `[outFeatures]`, if the layer has one.
    var bias: Variable? { get }
}
