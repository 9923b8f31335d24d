import Tensors

// Broadcasting arithmetic. Backward sums each gradient back to its input's shape.
//   z = a ∘ b      dz → da = reduce(dz ∘ ∂z/∂a), db = reduce(dz ∘ ∂z/∂b)

extension Variable {
    /// Elementwise sum with broadcasting.
    public static func + (a: Variable, b: Variable) -> Variable {
        let needA = a.requiresGrad, needB = b.requiresGrad, aShape = a.shape, bShape = b.shape
        return operation("add", value: a.value + b.value, inputs: [a, b]) { g in
            [needA ? g.sum(toShape: aShape) : nil, needB ? g.sum(toShape: bShape) : nil]
        }
    }

    /// Elementwise difference with broadcasting.
    public static func - (a: Variable, b: Variable) -> Variable {
        let needA = a.requiresGrad, needB = b.requiresGrad, aShape = a.shape, bShape = b.shape
        return operation("subtract", value: a.value - b.value, inputs: [a, b]) { g in
            [needA ? g.sum(toShape: aShape) : nil, needB ? (-g).sum(toShape: bShape) : nil]
        }
    }

    /// Elementwise product with broadcasting.
    public static func * (a: Variable, b: Variable) -> Variable {
        // Each operand is captured only if the other one needs a gradient.
        let av: Tensor? = b.requiresGrad ? a.value : nil, bv: Tensor? = a.requiresGrad ? b.value : nil
        let aShape = a.shape, bShape = b.shape
        return operation("multiply", value: a.value * b.value, inputs: [a, b]) { g in
            [bv.map { (g * $0).sum(toShape: aShape) }, av.map { (g * $0).sum(toShape: bShape) }]
        }
    }

    /// Elementwise quotient with broadcasting.
    public static func / (a: Variable, b: Variable) -> Variable {
        let needA = a.requiresGrad, needB = b.requiresGrad
        let av = a.value, bv = b.value, aShape = a.shape, bShape = b.shape
        return operation("divide", value: av / bv, inputs: [a, b]) { g in
            [needA ? (g / bv).sum(toShape: aShape) : nil,
             needB ? (-(g * av) / bv.squared()).sum(toShape: bShape) : nil]
        }
    }

    /// Multiplies by a constant.
    public static func * (a: Variable, s: Float) -> Variable {
        operation("scale", value: a.value * s, inputs: [a]) { g in [g * s] }
    }

    /// Multiplies by a constant.
    public static func * (s: Float, a: Variable) -> Variable { a * s }

    /// Divides by a constant.
    public static func / (a: Variable, s: Float) -> Variable { a * (1 / s) }

    /// Adds a constant.
    public static func + (a: Variable, s: Float) -> Variable {
        operation("addScalar", value: a.value + s, inputs: [a]) { g in [g] }
    }

    /// Subtracts a constant.
    public static func - (a: Variable, s: Float) -> Variable { a + (-s) }

    /// Negation.
    public static prefix func - (a: Variable) -> Variable { a * -1 }

    /// Sum of all elements (rank 0).
    public func sum() -> Variable {
        let shape = self.shape
        return Variable.operation("sum", value: value.sum(), inputs: [self]) { g in
            [Tensor(repeating: g.scalar, shape: shape)]
        }
    }

    /// Mean of all elements (rank 0).
    public func mean() -> Variable {
        sum() / Float(Swift.max(value.count, 1))
    }

    /// Sum along one axis.
    public func sum(axis: Int, keepingDimension: Bool = false) -> Variable {
        let shape = self.shape
        let axis = Shape.normalizedAxis(axis, rank: shape.count, operation: "sum")
        return Variable.operation("sumAxis", value: value.sum(axis: axis, keepingDimension: keepingDimension),
                                  inputs: [self]) { g in
            var kept = shape
            kept[axis] = 1
            return [Tensor.zeros(shape) + g.reshaped(kept)]
        }
    }

    /// Mean along one axis.
    public func mean(axis: Int, keepingDimension: Bool = false) -> Variable {
        let size = shape[Shape.normalizedAxis(axis, rank: shape.count, operation: "mean")]
        return sum(axis: axis, keepingDimension: keepingDimension) / Float(Swift.max(size, 1))
    }

    /// Elementwise square.
    public func squared() -> Variable {
        Variable.operation("square", value: value.squared(), inputs: [self]) { [value] g in [g * value * 2] }
    }

    /// Elementwise square root (of non-negative values); the gradient is `g / (2√x)`.
    public func squareRoot() -> Variable {
        let root = value.squareRoot()
        return Variable.operation("squareRoot", value: root, inputs: [self]) { g in [g / (root * 2)] }
    }
}
