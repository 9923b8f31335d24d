import Autograd
import Tensors

/// GPT-2's "Conv1D": a dense layer whose weight is stored `[in, out]` (transposed with respect to
/// `Linear`), computing `y = x·W + b`. Kept in this layout so parameter shapes equal the checkpoint's.
public final class Conv1D: Module, LinearLayer {
    /// Size of each input vector.
    public let inFeatures: Int
    /// Size of each output vector.
    public let outFeatures: Int

    /// The weight `[inFeatures, outFeatures]`.
    public var weight: Variable { parameter("weight") }
    /// The bias `[outFeatures]`.
    public var bias: Variable? { optionalParameter("bias") }

    /// Creates a layer initialised like transformers (`N(0, 0.02)` weight, zero bias).
    public init(inFeatures: Int, outFeatures: Int, generator: inout SeededRandom) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        super.init()
        registerParameter("weight", Variable(ParameterInitialization.weight([inFeatures, outFeatures]) {
            .randomNormal([inFeatures, outFeatures], std: 0.02, generator: &generator)
        }, requiresGrad: true))
        registerParameter("bias", Variable(.zeros([outFeatures]), requiresGrad: true))
    }

    /// Creates a layer from existing tensors (weight `[in, out]`, bias `[out]`).
    public init(weight: Tensor, bias: Tensor) {
        precondition(weight.rank == 2 && bias.shape == [weight.shape[1]], "Conv1D: weight \(weight.shape) must be [in, out] and bias \(bias.shape) [out]")
        self.inFeatures = weight.shape[0]
        self.outFeatures = weight.shape[1]
        super.init()
        registerParameter("weight", Variable(weight, requiresGrad: true))
        registerParameter("bias", Variable(bias, requiresGrad: true))
    }

    /// The weight is stored `[in, out]` (GPT-2's Conv1D).
    public var weightLayout: WeightLayout { .inputsByOutputs }
    /// False: the weight is a plain float tensor.
    public var isPacked: Bool { false }
    /// The weight as `[out, in]`.
    public func denseWeight() -> Tensor { weight.value.transposed() }
    /// Adds an `[out, in]` delta to the weight (merging an adapter).
    public func addToWeight(_ delta: Tensor) throws {
        precondition(delta.shape == [outFeatures, inFeatures], "Conv1D.addToWeight: delta \(delta.shape) is not [\(outFeatures), \(inFeatures)]")
        weight.value += delta.transposed()
    }
    /// Replaces the weight with an `[out, in]` tensor (unmerging restores the original this way).
    public func assignDenseWeight(_ weight: Tensor) throws {
        precondition(weight.shape == [outFeatures, inFeatures], "Conv1D.assignDenseWeight: \(weight.shape) is not [\(outFeatures), \(inFeatures)]")
        self.weight.value = weight.transposed()
    }

    /// `x·Wᵀ + b` over the last axis of `x` (`[…, in]` → `[…, out]`).
    public func callAsFunction(_ x: Variable) -> Variable {
        precondition(x.shape.last == inFeatures, "Conv1D(\(inFeatures)→\(outFeatures)): input shape \(x.shape) does not end in \(inFeatures)")
        let y = Variable.matmul(x, weight)
        if let bias { return y + bias }
        return y
    }
}
