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
            slot.accumulate(start)
            return
        }

        // Reverse topological order of the recorded nodes (iterative DFS, no recursion limit).
        var order: [GraphSlot] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GraphSlot, Bool)] = [(slot, false)]
        while let (current, expanded) = stack.popLast() {
            if expanded {
                order.append(current)
                continue
            }
            guard let node = current.node, visited.insert(ObjectIdentifier(current)).inserted else { continue }
            stack.append((current, true))
            for input in node.inputs where input.node != nil && input.requiresGrad {
                stack.append((input, false))
            }
        }

        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(slot): start]
        let profile = OperationProfile.current
        for current in order.reversed() {
            guard let node = current.node,
                  let gradient = pending.removeValue(forKey: ObjectIdentifier(current)) else { continue }
            for (index, (input, recorded)) in zip(node.inputs, node.inputVersions).enumerated() where input.version != recorded {
                preconditionFailure("backward of \(node.name): an input of shape \(node.inputShapes[index]) was modified after the forward pass "
                                    + "(version \(recorded) → \(input.version)); merge adapters or step the optimizer only after backward()")
            }
            profile?.beginBackward()
            defer { profile?.endBackward(node.name) }
            // The first input's gradient is added in place when it already has one (it must be an
            // intermediate that appears once among the inputs, so no other entry refers to it).
            var inputGradients: [Tensor?]
            let firstKey = node.inputs.first.map(ObjectIdentifier.init)
            if let adding = node.addingFirstGradient, let first = node.inputs.first, let firstKey, first.requiresGrad, first.node != nil,
               node.inputs.dropFirst().allSatisfy({ $0 !== first }), var sum = pending.removeValue(forKey: firstKey) {
                inputGradients = adding(gradient, &sum)
                precondition(sum.shape == node.inputShapes[0],
                             "backward of \(node.name): gradient shape \(sum.shape) does not match input shape \(node.inputShapes[0])")
                pending[firstKey] = sum
                inputGradients[0] = nil
            } else {
                inputGradients = node.backward(gradient)
            }
            precondition(inputGradients.count == node.inputs.count,
                         "backward of \(node.name) returned \(inputGradients.count) gradients for \(node.inputs.count) inputs")
            for (index, (input, inputGradient)) in zip(node.inputs, inputGradients).enumerated() {
                guard input.requiresGrad, let inputGradient else { continue }
                precondition(inputGradient.shape == node.inputShapes[index],
                             "backward of \(node.name): gradient shape \(inputGradient.shape) does not match input shape \(node.inputShapes[index])")
                if input.node == nil {
                    input.accumulate(inputGradient)
                } else {
                    let key = ObjectIdentifier(input)
                    if pending[key] != nil { pending[key]! += inputGradient } else { pending[key] = inputGradient }
                }
            }
        }
    }
}

extension GraphSlot {
    fileprivate func accumulate(_ gradient: Tensor) {
        if grad == nil { grad = gradient } else { grad! += gradient }
    }
}
