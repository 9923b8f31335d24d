import Autograd
import Foundation
import Tensors

/// Updates trainable parameters from their gradients. State is keyed by parameter path, so it can be
/// saved and restored with the model (exact resume) and survives rebuilding the module tree.
public protocol Optimizer: AnyObject {
    /// The learning rate used by the next step (schedulers set it).
    var learningRate: Float { get set }
    /// Applies one update to every parameter in `parameters` that requires a gradient and has one.
    func step(_ parameters: [(path: String, parameter: Variable)])
}

extension Optimizer {
    /// Steps over the module's trainable parameters.
    public func step(_ module: Module) { step(module.trainableParameters()) }

    /// Clears the gradients of `module`'s parameters.
    public func zeroGradients(_ module: Module) { module.namedParameters().forEach { $0.parameter.zeroGrad() } }
}

/// Stochastic gradient descent with optional momentum and (coupled, L2) weight decay, as in PyTorch:
/// `g ← g + λ·p;  v ← μ·v + g;  p ← p − lr·v`.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    /// Momentum buffers by parameter path.
    public private(set) var velocities: [String: Tensor] = [:]

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public func step(_ parameters: [(path: String, parameter: Variable)]) {
        for (path, parameter) in parameters where parameter.requiresGrad {
            guard var gradient = parameter.grad else { continue }
            if weightDecay != 0 { gradient.addScaled(parameter.value, by: weightDecay) }
            if momentum != 0 {
                if var velocity = velocities[path] {
                    velocity.withUnsafeMutableBufferPointer { v in
                        gradient.withUnsafeBufferPointer { g in
                            for i in v.indices { v[i] = momentum * v[i] + g[i] }
                        }
                    }
                    velocities[path] = velocity
                    gradient = velocity
                } else {
                    velocities[path] = gradient
                }
            }
            parameter.value.addScaled(gradient, by: -learningRate)
        }
    }
}

/// Adam with decoupled weight decay (Loshchilov & Hutter), matching `torch.optim.AdamW`:
/// `p ← p·(1 − lr·λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − lr·m̂/(√v̂ + ε)`
/// with bias corrections `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)` and `t` counted per parameter.
public final class AdamW: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float

    /// Per-parameter state: step count and first/second moment estimates.
    public struct State: Sendable, Equatable {
        public var step: Int
        public var firstMoment: Tensor
        public var secondMoment: Tensor
    }
    /// State by parameter path.
    public var states: [String: State] = [:]

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public func step(_ parameters: [(path: String, parameter: Variable)]) {
        for (path, parameter) in parameters where parameter.requiresGrad {
            guard let gradient = parameter.grad else { continue }
            var state = states[path] ?? State(step: 0, firstMoment: .zeros(parameter.shape), secondMoment: .zeros(parameter.shape))
            precondition(state.firstMoment.shape == parameter.shape,
                         "AdamW: state for '\(path)' has shape \(state.firstMoment.shape), parameter has \(parameter.shape)")
            state.step += 1
            let correction1 = 1 - Foundation.pow(beta1, Float(state.step))
            let correction2 = 1 - Foundation.pow(beta2, Float(state.step))
            let stepSize = learningRate / correction1
            let decay = 1 - learningRate * weightDecay
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            parameter.value.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeBufferPointer { g in
                    state.firstMoment.withUnsafeMutableBufferPointer { m in
                        state.secondMoment.withUnsafeMutableBufferPointer { v in
                            for i in p.indices {
                                p[i] *= decay
                                m[i] = b1 * m[i] + (1 - b1) * g[i]
                                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                                let denominator = (v[i] / correction2).squareRoot() + eps
                                p[i] -= stepSize * m[i] / denominator
                            }
                        }
                    }
                }
            }
            states[path] = state
        }
    }
}
