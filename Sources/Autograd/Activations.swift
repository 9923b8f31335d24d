import Foundation
import Tensors

/// Which formula GELU uses.
public enum GELUApproximation: Sendable {
    /// `0.5·x·(1 + erf(x/√2))` (PyTorch `approximate="none"`, BERT).
    case exact
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (GPT-2 "gelu_new", PyTorch `approximate="tanh"`).
    case tanh
}

/// Gaussian error linear unit.
public func gelu(_ x: Variable, approximation: GELUApproximation = .exact) -> Variable {
    let input = x.value
    switch approximation {
    case .exact:
        let value = input.map { 0.5 * $0 * (1 + Foundation.erf($0 * 0.70710678118654752)) }
        return Variable.operation("gelu", value: value, inputs: [x]) { g in
            let slope = input.map { v -> Float in
                0.5 * (1 + Foundation.erf(v * 0.70710678118654752)) + v * Foundation.exp(-0.5 * v * v) * 0.3989422804014327
            }
            return [g * slope]
        }
    case .tanh:
        let c: Float = 0.7978845608028654  // √(2/π)
        let value = input.map { 0.5 * $0 * (1 + Foundation.tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) }
        return Variable.operation("geluTanh", value: value, inputs: [x]) { g in
            let slope = input.map { v -> Float in
                let t = Foundation.tanh(c * (v + 0.044715 * v * v * v))
                return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
            }
            return [g * slope]
        }
    }
}

/// `x·σ(x)` (SwiGLU's gate activation).
public func silu(_ x: Variable) -> Variable {
    let input = x.value
    let sigmoid = input.map { 1 / (1 + Foundation.exp(-$0)) }
    return Variable.operation("silu", value: input * sigmoid, inputs: [x]) { g in
        [g * (sigmoid * ((input * (sigmoid * -1 + 1)) + 1))]
    }
}

/// `silu(gate) · up` (the SwiGLU feed-forward's gating) in one fused, vectorised pass; the backward
/// recomputes σ(gate) instead of keeping it, so only `gate` and `up` stay alive for it.
///
///   d up = g·gate·σ(gate)    d gate = g·up·σ(gate)·(1 + gate·(1 − σ(gate)))
public func swiGLU(gate: Variable, up: Variable) -> Variable {
    gatedOperation("swiGLU", gate: gate, up: up, forward: Tensor.swiGLU, gradients: Tensor.swiGLUGradients)
}

/// `gelu_tanh(gate) · up` (GeGLU: Gemma's feed-forward gating) in one fused, vectorised pass; equal to
/// `gelu(gate, approximation: .tanh) * up` up to rounding. The backward recomputes the activation
/// instead of keeping it.
///
///   with s = σ(2u), u = √(2/π)·(gate + 0.044715·gate³):
///   d up = g·gate·s    d gate = g·up·(s + gate·s·(1 − s)·2√(2/π)·(1 + 3·0.044715·gate²))
public func geGLU(gate: Variable, up: Variable) -> Variable {
    gatedOperation("geGLU", gate: gate, up: up, forward: Tensor.geGLU, gradients: Tensor.geGLUGradients)
}

/// A fused gated activation as a graph operation: only `gate` and `up` stay alive for the backward.
private func gatedOperation(_ name: String, gate: Variable, up: Variable, forward: (Tensor, Tensor) -> Tensor,
                            gradients: @escaping (Tensor, Tensor, Tensor, Bool, Bool) -> (gate: Tensor?, up: Tensor?)) -> Variable {
    let gateValue = gate.value, upValue = up.value
    return Variable.operation(name, value: forward(gateValue, upValue), inputs: [gate, up]) { g in
        let (dGate, dUp) = gradients(gateValue, upValue, g, gate.requiresGrad, up.requiresGrad)
        return [dGate, dUp]
    }
}

/// `max(x, 0)`.
public func relu(_ x: Variable) -> Variable {
    let input = x.value
    return Variable.operation("relu", value: input.map { Swift.max($0, 0) }, inputs: [x]) { g in
        [g * input.map { $0 > 0 ? 1 : 0 }]
    }
}

/// Softmax over the last axis. Backward: `dx = y ⊙ (g − Σ g⊙y)` per row.
public func softmax(_ x: Variable) -> Variable {
    let y = x.value.softmax()
    return Variable.operation("softmax", value: y, inputs: [x]) { g in
        let dot = (g * y).sum(axis: -1, keepingDimension: true)
        return [y * (g - dot)]
    }
}

/// Log-softmax over the last axis. Backward: `dx = g − softmax(x)·Σ g` per row.
public func logSoftmax(_ x: Variable) -> Variable {
    let y = x.value.logSoftmax()
    return Variable.operation("logSoftmax", value: y, inputs: [x]) { g in
        [g - y.exp() * g.sum(axis: -1, keepingDimension: true)]
    }
}

/// Inverted dropout: zeroes each element with probability `p` and scales survivors by `1/(1−p)`.
/// The identity when `p == 0`. The mask comes from `generator`, so runs are reproducible.
public func dropout(_ x: Variable, probability p: Float, generator: inout SeededRandom) -> Variable {
    precondition(p >= 0 && p < 1, "dropout: probability \(p) is outside [0, 1)")
    if p == 0 { return x }
    let scale = 1 / (1 - p)
    let mask = Tensor(shape: x.shape) { m in
        for i in m.indices { m[i] = generator.nextUniform() < p ? 0 : scale }
    }
    return Variable.operation("dropout", value: x.value * mask, inputs: [x]) { g in [g * mask] }
}

/// Hyperbolic tangent. Backward: `dx = g·(1 − y²)`.
public func tanh(_ x: Variable) -> Variable {
    let y = x.value.tanh()
    return Variable.operation("tanh", value: y, inputs: [x]) { g in [g * (y.squared() * -1 + 1)] }
}
