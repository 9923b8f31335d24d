import Tensors

extension Variable {
    /// `op(a) · op(b)` over the last two axes (see `Tensor.matmul` for batching rules).
    ///
    /// Backward, for C = op(A)·op(B):
    ///   A·B:   dA = dC·Bᵀ    dB = Aᵀ·dC
    ///   A·Bᵀ:  dA = dC·B     dB = dCᵀ·A
    ///   Aᵀ·B:  dA = B·dCᵀ    dB = A·dC
    ///   Aᵀ·Bᵀ: dA = Bᵀ·dCᵀ   dB = dCᵀ·Aᵀ
    /// A rank-2 operand shared across a batch gets the gradient summed over the batch; when `b` is
    /// the shared one (a linear layer's weight) this is a single GEMM over the flattened batch.
    public static func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
        let value = Tensor.matmul(a.value, b.value, transposeA: transposeA, transposeB: transposeB)
        // Captured now, not read at backward time: each operand is kept only if the other one needs
        // a gradient (a frozen weight's input activation is not retained).
        let av: Tensor? = b.requiresGrad ? a.value : nil, bv: Tensor? = a.requiresGrad ? b.value : nil
        let aShape = a.shape, bShape = b.shape
        // A linear layer's input gradient (a: [..., M, K], b rank 2) is added into a gradient that input
        // already has (from the other projections of the same activation) by the GEMM itself.
        let addsIntoA: ((Tensor, inout Tensor) -> [Tensor?])? = bShape.count == 2 && aShape.count >= 2 && !transposeA ? { g, sum in
            if let bv { Tensor.matmul(g, bv, transposeB: !transposeB, addingInto: &sum) }
            return [nil, weightGradient(g)]
        } : nil
        func weightGradient(_ g: Tensor) -> Tensor? {
            guard let av else { return nil }
            if bShape.count == 2 && aShape.count > 2 && !transposeA {
                // Shared weight: flatten the batch into rows, one GEMM.
                let k = av.shape[av.rank - 1], n = g.shape[g.rank - 1]
                let a2 = av.reshaped([-1, k]), g2 = g.reshaped([-1, n])
                return transposeB ? Tensor.matmul(g2, a2, transposeA: true) : Tensor.matmul(a2, g2, transposeA: true)
            }
            let raw: Tensor
            switch (transposeA, transposeB) {
            case (false, false): raw = Tensor.matmul(av, g, transposeA: true)
            case (false, true): raw = Tensor.matmul(g, av, transposeA: true)
            case (true, false): raw = Tensor.matmul(av, g)
            case (true, true): raw = Tensor.matmul(g, av, transposeA: true, transposeB: true)
            }
            return raw.sum(toShape: bShape)
        }
        return operation("matmul", value: value, inputs: [a, b], addingFirstGradient: addsIntoA) { g in
            var gradA: Tensor? = nil, gradB: Tensor? = nil
            if let bv {
                let raw: Tensor
                switch (transposeA, transposeB) {
                case (false, false): raw = Tensor.matmul(g, bv, transposeB: true)
                case (false, true): raw = Tensor.matmul(g, bv)
                case (true, false): raw = Tensor.matmul(bv, g, transposeB: true)
                case (true, true): raw = Tensor.matmul(bv, g, transposeA: true, transposeB: true)
                }
                gradA = raw.sum(toShape: aShape)
            }
            gradB = weightGradient(g)
            return [gradA, gradB]
        }
    }

    /// `x · Wᵀ` over the last axis of `x` with a frozen packed `W` (`[out, in]`), dequantized panel by
    /// panel inside the GEMM; the backward gives `x` the gradient `dY · W` the same way. A quantized
    /// linear layer and a head tied to a packed table both run this.
    public static func matmul(_ x: Variable, packed w: QuantizedMatrix) -> Variable {
        operation("packedMatmul", value: Tensor.matmul(x.value, w, transposeW: true), inputs: [x],
                  addingFirstGradient: { gradient, sum in
                      Tensor.matmul(gradient, w, transposeW: false, addingInto: &sum)
                      return [nil]
                  }) { gradient in
            [Tensor.matmul(gradient, w, transposeW: false)]
        }
    }
}
