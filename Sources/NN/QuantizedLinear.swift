import Autograd
import Tensors

/// A frozen linear layer whose weight stays block-quantized (Q8_0, Q4_0, Q4_1): `y = x·Wᵀ (+ b)`
/// with `W` dequantized panel by panel inside the GEMM, in the forward and in the input gradient.
///
/// It is a `LinearLayer`, so LoRA, DoRA and IA³ wrap it unchanged — the QLoRA recipe: the base
/// stays at 4–8 bits per weight while the adapter trains in float. Its outputs and input gradients
/// equal those of a `Linear` holding `weight.dequantized()`, bit for bit. The weight never trains
/// (a bias, if any, can); merging an adapter into it is refused — dequantize first
/// (`Linear(weight: layer.denseWeight())`).
public final class QuantizedLinear: Module, LinearLayer {
    /// Size of each input vector.
    public let inFeatures: Int
    /// Size of each output vector.
    public let outFeatures: Int

    /// The packed weight `[outFeatures, inFeatures]`.
    public var weight: QuantizedMatrix { packedParameter("weight") }
    /// The bias `[outFeatures]`, if any.
    public var bias: Variable? { optionalParameter("bias") }

    /// A layer over a quantized `[out, in]` weight and an optional float bias `[out]`.
    public init(weight: QuantizedMatrix, bias: Tensor? = nil) {
        precondition(bias == nil || bias!.shape == [weight.rows], "QuantizedLinear: bias \(bias!.shape) does not match weight \(weight.shape)")
        self.outFeatures = weight.rows
        self.inFeatures = weight.columns
        super.init()
        registerPackedParameter("weight", weight)
        if let bias { registerParameter("bias", Variable(bias, requiresGrad: false)) }
    }

    /// The weight is stored `[out, in]`.
    public var weightLayout: WeightLayout { .outputsByInputs }
    /// True: the weight is quantized.
    public var isPacked: Bool { true }
    /// The dequantized weight `[out, in]`.
    public func denseWeight() -> Tensor { weight.dequantized() }

    /// Refused: a quantized weight cannot absorb an adapter exactly.
    public func addToWeight(_ delta: Tensor) throws {
        throw ModuleError.unsupported("merging into a \(weight.format.rawValue) weight would change it by the re-quantization error; dequantize the layer first")
    }

    /// Refused, as `addToWeight`.
    public func assignDenseWeight(_ weight: Tensor) throws {
        throw ModuleError.unsupported("a \(self.weight.format.rawValue) weight cannot be assigned a dense tensor; replace the layer instead")
    }

    /// `x·Wᵀ + b` over the last axis of `x` (`[…, in]` → `[…, out]`); the backward gives `x` the
    /// gradient `dY·W` (and the bias its gradient when it trains).
    public func callAsFunction(_ x: Variable) -> Variable {
        precondition(x.shape.last == inFeatures, "QuantizedLinear(\(inFeatures)→\(outFeatures)): input shape \(x.shape) does not end in \(inFeatures)")
        let y = Variable.matmul(x, packed: weight)
        if let bias { return y + bias }
        return y
    }
}
