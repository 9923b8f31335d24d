import Autograd
import Tensors

/// GPT-2's "Conv1D": a dense layer whose weight is stored `[in, out]` (transposed with respect to
/// `Linear`), computing `y = x·W + b`. Kept in this layout so parameter shapes equal the checkpoint's.
public final class Conv1D: Module, LinearLayer {
    public let inFeatures: Int
    public let outFeatures: Int

    /// The weight `[inFeatures, outFeatures]`.
    public var weight: Variable { parameter("weight") }
    /// The bias `[outFeatures]`.
    public var bias: Variable { parameter("bias") }

    /// Creates a layer initialised like transformers (`N(0, 0.02)` weight, zero bias).
    public init(inFeatures: Int, outFeatures: Int, generator: inout SeededRandom) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        super.init()
        registerParameter("weight", Variable(.randomNormal([inFeatures, outFeatures], std: 0.02, generator: &generator), requiresGrad: true))
        registerParameter("bias", Variable(.zeros([outFeatures]), requiresGrad: true))
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        precondition(x.shape.last == inFeatures, "Conv1D(\(inFeatures)→\(outFeatures)): input shape \(x.shape) does not end in \(inFeatures)")
        return Variable.matmul(x, weight) + bias
    }
}
