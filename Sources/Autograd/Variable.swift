import Tensors

/// A tensor that takes part in automatic differentiation.
///
/// Operations on variables record a graph when gradient mode is on and any input requires a
/// gradient. `backward()` walks it in reverse topological order and accumulates `grad` on the
/// leaves that require it. Leaves that do not require gradients never get a gradient buffer, and
/// no gradient work is done for them (each op skips the terms of inputs that do not need them).
public final class Variable {
    /// The current value. Every assignment or in-place mutation bumps `version`.
    public var value: Tensor { didSet { slot.version &+= 1 } }
    /// Counts changes to `value`. An operation records its inputs' versions, and `backward()` stops
    /// with a message naming the operation when an input changed in between (for example an adapter
    /// merge or an optimizer step between forward and backward), instead of computing wrong gradients.
    public var version: UInt64 { slot.version }
    /// The accumulated gradient of the last `backward()` (leaves only); nil until one reaches it.
    public var grad: Tensor? {
        get { slot.grad }
        set { slot.grad = newValue }
    }
    /// Whether gradients flow into this variable. Set it to false to freeze a parameter.
    public var requiresGrad: Bool {
        get { slot.requiresGrad }
        set { slot.requiresGrad = newValue }
    }
    /// What the graph keeps of this variable. The graph holds slots, not variables, so an
    /// intermediate value lives only as long as its variable or a backward that captured it: the
    /// activations a backward does not need are freed during the forward pass, as in PyTorch.
    let slot: GraphSlot
    /// The recorded operation that produced this variable, nil for leaves.
    var node: Node? { slot.node }

    /// A leaf variable.
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.slot = GraphSlot(node: nil, requiresGrad: requiresGrad)
    }

    init(value: Tensor, node: Node?) {
        self.value = value
        self.slot = GraphSlot(node: node, requiresGrad: node != nil)
    }

    /// The value's shape.
    public var shape: [Int] { value.shape }
    /// True when this variable was produced by a recorded operation.
    public var isLeaf: Bool { node == nil }

    /// A leaf with the same value that is cut off from the graph.
    public func detached() -> Variable { Variable(value) }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// Records an operation: `backward` maps the gradient of the output to one gradient per input
    /// (nil for inputs that need none, or when the contribution is zero). This is how every op in this
    /// module is built and how other modules add fused operations.
    ///
    /// The result records a graph node only if gradient mode is on and some input requires a gradient.
    /// The node keeps the inputs' graph slots (not their values): `backward` must capture whatever
    /// values it needs, and should capture only those.
    ///
    /// `addingFirstGradient`, when given, is used instead of `backward` when the first input already has a
    /// gradient from another operation: it must add the first input's gradient into the tensor it is
    /// passed (a product into its output with a GEMM's `beta = 1`, say) and return the other inputs'
    /// gradients as `backward` does (the first entry is ignored). This saves a temporary and an addition.
    public static func operation(
        _ name: String, value: Tensor, inputs: [Variable],
        addingFirstGradient: ((_ outputGradient: Tensor, _ firstGradient: inout Tensor) -> [Tensor?])? = nil,
        backward: @escaping (_ outputGradient: Tensor) -> [Tensor?]
    ) -> Variable {
        OperationProfile.current?.forward(name)
        if GradMode.isEnabled && inputs.contains(where: \.requiresGrad) {
            return Variable(value: value, node: Node(name: name, inputs: inputs, backward: backward, addingFirstGradient: addingFirstGradient))
        }
        return Variable(value)
    }
}

/// The graph's view of a variable: the operation that produced it, whether it needs a gradient, the
/// version of its value and, for leaves, the accumulated gradient. No value.
final class GraphSlot {
    var node: Node?
    var requiresGrad: Bool
    var version: UInt64 = 0
    var grad: Tensor?

    init(node: Node?, requiresGrad: Bool) {
        self.node = node
        self.requiresGrad = requiresGrad
    }
}

/// One recorded operation in the graph.
final class Node {
    let name: String
    var inputs: [GraphSlot]
    /// The inputs' `version` when the operation ran.
    let inputVersions: [UInt64]
    /// The inputs' shapes when the operation ran (their gradients must have these shapes).
    let inputShapes: [[Int]]
    let backward: (Tensor) -> [Tensor?]
    /// Adds the first input's gradient into a given one (see `Variable.operation`).
    let addingFirstGradient: ((Tensor, inout Tensor) -> [Tensor?])?

    init(name: String, inputs: [Variable], backward: @escaping (Tensor) -> [Tensor?],
         addingFirstGradient: ((Tensor, inout Tensor) -> [Tensor?])? = nil) {
        self.name = name
        self.addingFirstGradient = addingFirstGradient
        self.inputs = inputs.map(\.slot)
        self.inputVersions = inputs.map(\.version)
        self.inputShapes = inputs.map(\.shape)
        self.backward = backward
    }

    /// Tears long chains down iteratively: the default recursive release of a graph thousands of
    /// operations deep would overflow the stack.
    deinit {
        guard !inputs.isEmpty else { return }
        var stack = inputs
        inputs = []
        while var slot = stack.popLast() {
            guard isKnownUniquelyReferenced(&slot), var node = slot.node else { continue }
            slot.node = nil
            if isKnownUniquelyReferenced(&node) {
                stack.append(contentsOf: node.inputs)
                node.inputs = []
            }
        }
    }
}

/// Whether operations record a graph for backward.
public enum GradMode {
    @TaskLocal static var enabled = true

    /// True unless inside `withoutGradients`.
    public static var isEnabled: Bool { enabled }
}

/// Runs `body` without recording any graph (inference, optimizer updates, finite differences).
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$enabled.withValue(false) { try body() }
}
