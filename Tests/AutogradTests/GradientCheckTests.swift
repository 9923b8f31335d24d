import Testing
import Autograd
import Tensors

/// Finite-difference checks of every backward (see `GradientChecker` for the tolerance argument).
@Suite("Gradient checks")
struct GradientCheckTests {
    static func input(_ shape: [Int], seed: UInt64, scale: Float = 1, offset: Float = 0) -> Variable {
        var generator = SeededRandom(seed: seed)
        return Variable(Tensor.randomNormal(shape, std: scale, generator: &generator) + offset, requiresGrad: true)
    }

    func expectPasses(_ inputs: [Variable], atol: Float = 2e-3, rtol: Float = 2e-2, step: Float = 1e-2,
                      _ function: ([Variable]) throws -> Variable,
                      sourceLocation: SourceLocation = #_sourceLocation) rethrows {
        let report = try GradientChecker.check(inputs: inputs, step: step, atol: atol, rtol: rtol, function)
        #expect(report.passed, "\(report)", sourceLocation: sourceLocation)
        #expect(report.checkedElements > 0, sourceLocation: sourceLocation)
    }

    @Test func broadcastingArithmetic() {
        let a = Self.input([2, 3, 4], seed: 1), b = Self.input([3, 1], seed: 2)
        let c = Self.input([4], seed: 3, offset: 3)  // away from zero for division
        expectPasses([a, b]) { v in v[0] + v[1] }
        expectPasses([a, b]) { v in v[0] - v[1] }
        expectPasses([a, b]) { v in v[0] * v[1] }
        expectPasses([a, c]) { v in v[0] / v[1] }
        expectPasses([a]) { v in (v[0] * 3 + 1) / 2 - 0.5 }
        expectPasses([a]) { v in -v[0].squared() }
        expectPasses([c]) { v in v[0].squareRoot() }
        expectPasses([a]) { v in v[0].squared().sum().squareRoot() }  // a Frobenius norm
    }

    @Test func reductions() {
        let a = Self.input([3, 4, 2], seed: 4)
        expectPasses([a]) { v in v[0].sum() }
        expectPasses([a]) { v in v[0].mean() }
        expectPasses([a]) { v in v[0].sum(axis: 1) }
        expectPasses([a]) { v in v[0].mean(axis: -1, keepingDimension: true) }
    }

    @Test("matmul, all transposes, batched and shared operands")
    func matmul() {
        for transA in [false, true] {
            for transB in [false, true] {
                let a = Self.input(transA ? [5, 3] : [3, 5], seed: 5)
                let b = Self.input(transB ? [4, 5] : [5, 4], seed: 6)
                expectPasses([a, b]) { v in Variable.matmul(v[0], v[1], transposeA: transA, transposeB: transB) }
                let batchedA = Self.input(transA ? [2, 5, 3] : [2, 3, 5], seed: 7)
                let batchedB = Self.input(transB ? [2, 4, 5] : [2, 5, 4], seed: 8)
                expectPasses([batchedA, batchedB]) { v in Variable.matmul(v[0], v[1], transposeA: transA, transposeB: transB) }
                expectPasses([batchedA, b]) { v in Variable.matmul(v[0], v[1], transposeA: transA, transposeB: transB) }
                expectPasses([a, batchedB]) { v in Variable.matmul(v[0], v[1], transposeA: transA, transposeB: transB) }
            }
        }
    }

    @Test func layoutOps() {
        let a = Self.input([2, 3, 4], seed: 9), b = Self.input([2, 2, 4], seed: 10)
        expectPasses([a]) { v in v[0].reshaped([6, 4]) }
        expectPasses([a]) { v in v[0].transposed(0, 2) }
        expectPasses([a]) { v in v[0].permuted([1, 2, 0]) }
        expectPasses([a]) { v in v[0].slice(axis: 1, 1..<3) }
        expectPasses([a, b]) { v in Variable.concatenate([v[0], v[1]], axis: 1) }
    }

    @Test("embedding gather (scatter-add backward, repeated ids)")
    func embeddingGather() throws {
        let table = Self.input([5, 3], seed: 11)
        try expectPasses([table]) { v in try embedding(v[0], ids: [4, 0, 4, 2, 4, 1], idsShape: [2, 3]) }
    }

    @Test func normalization() {
        let x = Self.input([3, 8], seed: 12), w = Self.input([8], seed: 13, offset: 1), bias = Self.input([8], seed: 14)
        expectPasses([x, w]) { v in rmsNorm(v[0], weight: v[1], epsilon: 1e-5) }
        // 13 columns: the vectorised body (8) and the scalar tail (5).
        let wide = Self.input([3, 13], seed: 21), wideWeight = Self.input([13], seed: 22, offset: 1)
        expectPasses([wide, wideWeight]) { v in rmsNorm(v[0], weight: v[1], epsilon: 1e-5) }
        expectPasses([x, w, bias]) { v in layerNorm(v[0], weight: v[1], bias: v[2], epsilon: 1e-5) }
        expectPasses([x, w]) { v in layerNorm(v[0], weight: v[1], bias: nil, epsilon: 1e-5) }
    }

    @Test func activations() {
        let x = Self.input([4, 6], seed: 15, scale: 2)
        expectPasses([x]) { v in gelu(v[0], approximation: .exact) }
        expectPasses([x]) { v in gelu(v[0], approximation: .tanh) }
        expectPasses([x]) { v in silu(v[0]) }
        let gate = Self.input([3, 13], seed: 23, scale: 2), up = Self.input([3, 13], seed: 24)
        expectPasses([gate, up]) { v in swiGLU(gate: v[0], up: v[1]) }
        expectPasses([gate, up]) { v in geGLU(gate: v[0], up: v[1]) }
        expectPasses([x]) { v in tanh(v[0]) }
        expectPasses([x]) { v in relu(v[0]) }
        expectPasses([x]) { v in softmax(v[0]) }
        expectPasses([x]) { v in logSoftmax(v[0]) }
    }

    @Test("dropout: the same mask in forward and backward")
    func dropoutGradient() {
        let x = Self.input([4, 5], seed: 16)
        expectPasses([x]) { v in
            var generator = SeededRandom(seed: 99)  // re-seeded per evaluation: a fixed mask
            return dropout(v[0], probability: 0.3, generator: &generator)
        }
    }

    @Test("rotary embedding on long positions")
    func rotary() {
        let x = Self.input([1, 2, 3, 8], seed: 17)
        let rotary = RotaryEmbedding(dimension: 8, base: 100_000)
        expectPasses([x]) { v in applyRotaryEmbedding(v[0], positions: [0, 517, 8191], rotary: rotary) }
    }

    @Test("attention: causal, padding mask, grouped-query heads",
          arguments: [(true, false, 1), (false, true, 1), (true, true, 2), (true, false, 3)])
    func attention(causal: Bool, padded: Bool, group: Int) {
        let kvHeads = 2
        let q = Self.input([2, kvHeads * group, 3, 4], seed: 18)
        let k = Self.input([2, kvHeads, 5, 4], seed: 19)
        let v = Self.input([2, kvHeads, 5, 4], seed: 20)
        let mask: [Bool]? = padded ? [true, true, true, true, true, false, false, true, true, true] : nil
        expectPasses([q, k, v]) { x in
            scaledDotProductAttention(query: x[0], key: x[1], value: x[2], causal: causal, keyMask: mask)
        }
    }

    @Test("cross-entropy with ignored targets")
    func crossEntropyGradient() throws {
        let logits = Self.input([5, 7], seed: 21, scale: 2)
        try expectPasses([logits]) { v in try crossEntropy(logits: v[0], targets: [3, -100, 0, 6, -100]) }
    }

    @Test("KL divergence to constant reference logits")
    func klDivergenceGradient() {
        let logits = Self.input([4, 7], seed: 25, scale: 2)
        let reference = Self.input([4, 7], seed: 26, scale: 2).value
        expectPasses([logits]) { v in klDivergenceSum(logits: v[0], referenceLogits: reference) }
    }

    @Test("a composed graph: x·Wᵀ → RMSNorm → SiLU → mean")
    func composed() {
        let x = Self.input([2, 3, 4], seed: 22), w = Self.input([5, 4], seed: 23), g = Self.input([5], seed: 24, offset: 1)
        expectPasses([x, w, g]) { v in
            silu(rmsNorm(Variable.matmul(v[0], v[1], transposeB: true), weight: v[2], epsilon: 1e-6)).mean()
        }
    }
}
