import Autograd
import Tensors

/// Models that can recompute each block's activations in backward instead of keeping them
/// (gradient checkpointing): peak memory falls from all blocks' activations to one block's plus
/// the block inputs, for about one more forward pass of compute.
public protocol GradientCheckpointing: AnyObject {
    /// Recompute block activations in backward.
    var gradientCheckpointing: Bool { get set }
}

extension Module {
    /// Runs `body(input)` without recording its graph; backward runs it again with gradients and
    /// back-propagates through that. Gradients equal those of `body(input)` itself: dropout layers
    /// inside this module replay the masks of the forward pass (their generators are rewound for the
    /// recomputation and put forward again afterwards).
    ///
    /// Trainable parameters of this module receive their gradients during the recomputation.
    public func checkpointed(_ input: Variable, _ body: @escaping (Variable) -> Variable) -> Variable {
        guard GradMode.isEnabled else { return body(input) }
        let trainable = namedParameters().map(\.parameter).filter(\.requiresGrad)
        guard input.requiresGrad || !trainable.isEmpty else { return body(input) }
        let dropouts = namedModules().compactMap { $0.module as? Dropout }
        let before = dropouts.map(\.generator)
        let output = withoutGradients { body(input) }
        let after = dropouts.map(\.generator)
        let inputValue = input.value
        let needsInputGradient = input.requiresGrad
        return Variable.operation("checkpoint", value: output.value, inputs: [input] + trainable) { gradient in
            let x = Variable(inputValue, requiresGrad: needsInputGradient)
            for (dropout, state) in zip(dropouts, before) { dropout.generator = state }
            let recomputed = body(x)
            for (dropout, state) in zip(dropouts, after) { dropout.generator = state }
            recomputed.backward(seed: gradient)
            return [x.grad] + Array(repeating: nil, count: trainable.count)
        }
    }
}
