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
    /// Everything that shapes future updates (moments, step counts), for a checkpoint.
    func stateDictionary() -> OptimizerState
    /// Restores a state saved by `stateDictionary()`.
    /// - Throws: `OptimizerStateError` when the state belongs to another optimizer or its tensors are malformed.
    func loadStateDictionary(_ state: OptimizerState) throws
}

/// An optimizer's saved state: tensors by key (`<parameter path>.<name>`) and integer counters by key.
public struct OptimizerState: Sendable, Equatable {
    /// Which optimizer wrote it (`"AdamW"`, `"SGD"`).
    public var kind: String
    /// Moment buffers and similar, keyed `<parameter path>.<buffer name>`.
    public var tensors: [String: Tensor]
    /// Step counters and similar, keyed `<parameter path>.<counter name>`.
    public var counters: [String: Int]

    /// A state of optimizer `kind`.
    public init(kind: String, tensors: [String: Tensor] = [:], counters: [String: Int] = [:]) {
        self.kind = kind
        self.tensors = tensors
        self.counters = counters
    }
}

/// A saved optimizer state that cannot be restored.
public struct OptimizerStateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var reason: String
    /// An error with its reason.
    public init(_ reason: String) { self.reason = reason }
    /// "optimizer state: <reason>".
    public var description: String { "optimizer state: \(reason)" }
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
    /// The step size.
    public var learningRate: Float
    /// Momentum `μ` (0: plain SGD).
    public let momentum: Float
    /// L2 weight decay `λ`, added to the gradient.
    public let weightDecay: Float
    /// Momentum buffers by parameter path.
    public private(set) var velocities: [String: Tensor] = [:]

    /// An optimizer with the given step size, momentum and weight decay.
    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// `g ← g + λ·p;  v ← μ·v + g;  p ← p − lr·v` for every parameter with a gradient.
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

    /// Momentum buffers as `<path>.momentum_buffer`.
    public func stateDictionary() -> OptimizerState {
        OptimizerState(kind: "SGD", tensors: Dictionary(uniqueKeysWithValues: velocities.map { ($0.key + ".momentum_buffer", $0.value) }))
    }

    /// Restores momentum buffers saved by `stateDictionary()`.
    public func loadStateDictionary(_ state: OptimizerState) throws {
        guard state.kind == "SGD" else { throw OptimizerStateError("written by \(state.kind), not SGD") }
        var restored: [String: Tensor] = [:]
        for (key, tensor) in state.tensors {
            guard key.hasSuffix(".momentum_buffer") else { throw OptimizerStateError("unexpected SGD tensor '\(key)'") }
            restored[String(key.dropLast(".momentum_buffer".count))] = tensor
        }
        velocities = restored
    }
}

/// Adam with decoupled weight decay (Loshchilov & Hutter), matching `torch.optim.AdamW`:
/// `p ← p·(1 − lr·λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − lr·m̂/(√v̂ + ε)`
/// with bias corrections `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)` and `t` counted per parameter.
public final class AdamW: Optimizer {
    /// The step size.
    public var learningRate: Float
    /// Decay of the first moment estimate `β₁`.
    public let beta1: Float
    /// Decay of the second moment estimate `β₂`.
    public let beta2: Float
    /// Added to the denominator `ε`.
    public let epsilon: Float
    /// Decoupled weight decay `λ`.
    public let weightDecay: Float

    /// Per-parameter state: step count and first/second moment estimates.
    public struct State: Sendable, Equatable {
        /// Updates applied to this parameter.
        public var step: Int
        /// `m`, the running mean of gradients.
        public var firstMoment: Tensor
        /// `v`, the running mean of squared gradients.
        public var secondMoment: Tensor
    }
    /// State by parameter path.
    public var states: [String: State] = [:]
    /// Parameters (by path) that get no weight decay; by default biases and normalisation weights,
    /// as Hugging Face's `Trainer` groups them.
    public var excludesFromWeightDecay: (String) -> Bool = AdamW.isBiasOrNorm

    /// True for a bias or a normalisation layer's weight (`…bias`, `…norm.weight`, `…LayerNorm.weight`).
    public static func isBiasOrNorm(_ path: String) -> Bool {
        let lowered = path.lowercased()
        return lowered.hasSuffix("bias") || lowered.hasSuffix("norm.weight") || lowered.contains("layernorm") || lowered.contains("layer_norm")
    }

    /// An optimizer with PyTorch's defaults unless given.
    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// One AdamW update of every parameter with a gradient (see the type's formula).
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
            let decay = excludesFromWeightDecay(path) ? 1 : 1 - learningRate * weightDecay
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

    /// Moments as `<path>.exp_avg` / `<path>.exp_avg_sq` and step counts as `<path>.step` (PyTorch's names).
    public func stateDictionary() -> OptimizerState {
        var state = OptimizerState(kind: "AdamW")
        for (path, entry) in states {
            state.tensors[path + ".exp_avg"] = entry.firstMoment
            state.tensors[path + ".exp_avg_sq"] = entry.secondMoment
            state.counters[path + ".step"] = entry.step
        }
        return state
    }

    /// Restores moments and step counts saved by `stateDictionary()`.
    public func loadStateDictionary(_ state: OptimizerState) throws {
        guard state.kind == "AdamW" else { throw OptimizerStateError("written by \(state.kind), not AdamW") }
        var restored: [String: State] = [:]
        for (key, step) in state.counters {
            guard key.hasSuffix(".step"), step >= 0 else { throw OptimizerStateError("unexpected AdamW counter '\(key)' = \(step)") }
            let path = String(key.dropLast(".step".count))
            guard let first = state.tensors[path + ".exp_avg"], let second = state.tensors[path + ".exp_avg_sq"], first.shape == second.shape else {
                throw OptimizerStateError("moments of '\(path)' are missing or differ in shape")
            }
            restored[path] = State(step: step, firstMoment: first, secondMoment: second)
        }
        guard state.tensors.count == 2 * restored.count else { throw OptimizerStateError("AdamW tensors without a step counter") }
        states = restored
    }
}
