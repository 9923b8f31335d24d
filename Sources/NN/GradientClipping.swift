import Autograd
import Foundation
import Tensors

/// The global L2 norm of the gradients of `parameters`: `√(Σ‖g‖²)` over every parameter that has one,
/// accumulated in double precision. Infinite or NaN when any gradient element is.
public func gradientNorm(_ parameters: [(path: String, parameter: Variable)]) -> Double {
    var total = 0.0
    for (_, parameter) in parameters {
        guard let gradient = parameter.grad else { continue }
        gradient.withUnsafeBufferPointer { g in
            var sum = 0.0
            for value in g { sum += Double(value) * Double(value) }
            total += sum
        }
    }
    return total.squareRoot()
}

/// Scales every gradient so that the global norm is at most `maxNorm` (PyTorch's
/// `clip_grad_norm_`: factor `maxNorm / (norm + 1e-6)` when it is below 1) and returns the norm
/// before clipping. Gradients are left alone when the norm is not finite (the caller decides).
@discardableResult
public func clipGradientNorm(_ parameters: [(path: String, parameter: Variable)], maxNorm: Double) -> Double {
    precondition(maxNorm > 0, "clipGradientNorm: maxNorm must be positive, got \(maxNorm)")
    let norm = gradientNorm(parameters)
    guard norm.isFinite else { return norm }
    let factor = maxNorm / (norm + 1e-6)
    guard factor < 1 else { return norm }
    for (_, parameter) in parameters where parameter.grad != nil {
        parameter.grad = parameter.grad! * Float(factor)
    }
    return norm
}

/// The path of the first parameter whose gradient holds a NaN or an infinity, if any.
public func firstNonFiniteGradient(_ parameters: [(path: String, parameter: Variable)]) -> String? {
    parameters.first { $0.parameter.grad.map { !$0.isFinite } ?? false }?.path
}
