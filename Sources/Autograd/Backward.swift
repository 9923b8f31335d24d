import Tensors

extension Variable {
    /// Back-propagates from this variable, accumulating into `grad` of every reachable leaf that
    /// requires it.
    ///
    /// - Parameter seed: the gradient of the final objective with respect to this variable; defaults
    ///   to 1 and may then only be omitted for a single-element variable (a loss).
    public func backward(seed: Tensor? = nil) {
        let start: Tensor
        if let seed {
            precondition(seed.shape == value.shape,
                         "backward: seed of shape \(seed.shape) does not match the variable's shape \(value.shape)")
            start = seed
        } else {
            precondition(value.count == 1,
                         "backward: a seed gradient is needed for a variable of shape \(value.shape) (only scalars default to 1)")
            start = Tensor(repeating: 1, shape: value.shape)
        }
        guard requiresGrad else { return }
        guard node != nil else {
            accumulate(start)
            return
        }

        // Reverse topological order of the recorded nodes (iterative DFS, no recursion limit).
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (variable, expanded) = stack.popLast() {
            if expanded {
                order.append(variable)
                continue
            }
            guard let node = variable.node, visited.insert(ObjectIdentifier(variable)).inserted else { continue }
            stack.append((variable, true))
            for input in node.inputs where input.node != nil && input.requiresGrad {
                stack.append((input, false))
            }
        }

        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): start]
        for variable in order.reversed() {
            guard let node = variable.node,
                  let gradient = pending.removeValue(forKey: ObjectIdentifier(variable)) else { continue }
            for (input, recorded) in zip(node.inputs, node.inputVersions) where input.version != recorded {
                preconditionFailure("backward of \(node.name): an input of shape \(input.shape) was modified after the forward pass "
                                    + "(version \(recorded) → \(input.version)); merge adapters or step the optimizer only after backward()")
            }
            let inputGradients = node.backward(gradient)
            precondition(inputGradients.count == node.inputs.count,
                         "backward of \(node.name) returned \(inputGradients.count) gradients for \(node.inputs.count) inputs")
            for (input, inputGradient) in zip(node.inputs, inputGradients) {
                guard input.requiresGrad, let inputGradient else { continue }
                precondition(inputGradient.shape == input.value.shape,
                             "backward of \(node.name): gradient shape \(inputGradient.shape) does not match input shape \(input.value.shape)")
                if input.node == nil {
                    input.accumulate(inputGradient)
                } else {
                    let key = ObjectIdentifier(input)
                    if pending[key] != nil { pending[key]! += inputGradient } else { pending[key] = inputGradient }
                }
            }
        }
    }

    private func accumulate(_ gradient: Tensor) {
        if grad == nil { grad = gradient } else { grad! += gradient }
    }
}
