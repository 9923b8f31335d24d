import Foundation
import Testing
import Autograd
import Tensors

/// The chunked vocabulary loss equals the unchunked one — value, the hidden states' gradient (scaled by
/// whatever multiplies the loss afterwards) and a trainable head's gradient — for any chunk size, with
/// ignored targets, and without gradients.
@Suite("Chunked cross-entropy")
struct ChunkedCrossEntropyTests {
    static let (rows, width, vocabulary) = (11, 6, 13)

    static func inputs(seed: UInt64) -> (hidden: Tensor, weight: Tensor, targets: [Int]) {
        var generator = SeededRandom(seed: seed)
        let hidden = Tensor.randomNormal([rows, width], generator: &generator)
        let weight = Tensor.randomNormal([vocabulary, width], generator: &generator)
        var targets: [Int] = []
        for _ in 0..<rows { targets.append(Int(generator.next() % UInt64(vocabulary))) }
        targets[3] = -100
        targets[8] = -100
        return (hidden, weight, targets)
    }

    @Test("a frozen head: value and input gradient equal the unchunked loss, for every chunk size")
    func frozenHead() throws {
        let (hiddenValue, weightValue, targets) = Self.inputs(seed: 1)
        let weight = Variable(weightValue)
        let head = { (h: Variable) in Variable.matmul(h, weight, transposeB: true) }
        let reference = Variable(hiddenValue, requiresGrad: true)
        let full = try crossEntropy(logits: head(reference), targets: targets) * Float(9) * 2.5
        full.backward()
        for chunk in [1, 4, 5, 11, 64] {
            let hidden = Variable(hiddenValue, requiresGrad: true)
            let loss = try chunkedCrossEntropySum(hidden: hidden, targets: targets, chunkRows: chunk, head: head) * 2.5
            #expect(abs(loss.value.scalar - full.value.scalar) <= 1e-4 * abs(full.value.scalar), "chunk \(chunk)")
            loss.backward()
            #expect(hidden.grad!.maxAbsDifference(reference.grad!) <= 1e-5, "chunk \(chunk)")
        }
        // Without gradients: the same value, chunk by chunk.
        let evaluated = try withoutGradients {
            try chunkedCrossEntropySum(hidden: Variable(hiddenValue, requiresGrad: true), targets: targets, chunkRows: 4, head: head)
        }
        #expect(abs(evaluated.value.scalar * 2.5 - full.value.scalar) <= 1e-4 * abs(full.value.scalar))
        #expect(!evaluated.requiresGrad)
    }

    @Test("a trainable head receives the unchunked gradient, scaled by the incoming one")
    func trainableHead() throws {
        let (hiddenValue, weightValue, targets) = Self.inputs(seed: 2)
        var gradients: [Tensor] = []
        for chunked in [false, true] {
            let weight = Variable(weightValue, requiresGrad: true)
            let hidden = Variable(hiddenValue, requiresGrad: true)
            let head = { (h: Variable) in Variable.matmul(h, weight, transposeB: true) }
            let loss = chunked
                ? try chunkedCrossEntropySum(hidden: hidden, targets: targets, chunkRows: 4, head: head) * 0.5
                : try crossEntropy(logits: head(hidden), targets: targets) * Float(9) * 0.5
            loss.backward()
            gradients += [weight.grad!, hidden.grad!]
        }
        #expect(gradients[0].maxAbsDifference(gradients[2]) <= 1e-5)
        #expect(gradients[1].maxAbsDifference(gradients[3]) <= 1e-5)
    }

    @Test("KL divergence: zero against itself; chunked value and gradient equal the unchunked ones and a direct sum")
    func klDivergence() throws {
        let (hiddenValue, weightValue, _) = Self.inputs(seed: 3)
        let (baseValue, _, _) = Self.inputs(seed: 4)
        let weight = Variable(weightValue)
        let head = { (h: Variable) in Variable.matmul(h, weight, transposeB: true) }
        let baseLogits = withoutGradients { head(Variable(baseValue)).value }
        #expect(klDivergenceSum(logits: Variable(baseLogits), referenceLogits: baseLogits).value.scalar == 0)
        // Σ_rows Σ_v p (log p − log q), in double precision.
        let q = withoutGradients { head(Variable(hiddenValue)).value }
        var direct = 0.0
        for row in 0..<Self.rows {
            let qs = (0..<Self.vocabulary).map { Double(q.toArray()[row * Self.vocabulary + $0]) }
            let ps = (0..<Self.vocabulary).map { Double(baseLogits.toArray()[row * Self.vocabulary + $0]) }
            let qNorm = log(qs.map(exp).reduce(0, +)), pNorm = log(ps.map(exp).reduce(0, +))
            direct += zip(ps, qs).reduce(0) { $0 + exp($1.0 - pNorm) * (($1.0 - pNorm) - ($1.1 - qNorm)) }
        }
        let reference = Variable(hiddenValue, requiresGrad: true)
        let full = klDivergenceSum(logits: head(reference), referenceLogits: baseLogits) * 1.5
        full.backward()
        #expect(abs(Double(full.value.scalar) - 1.5 * direct) <= 1e-4 * direct)
        for chunk in [1, 4, 11, 64] {
            let hidden = Variable(hiddenValue, requiresGrad: true)
            let loss = try chunkedKLDivergenceSum(hidden: hidden, chunkRows: chunk, reference: { baseLogits.slice(axis: 0, $0) }, head: head) * 1.5
            #expect(abs(loss.value.scalar - full.value.scalar) <= 1e-4 * abs(full.value.scalar), "chunk \(chunk)")
            loss.backward()
            #expect(hidden.grad!.maxAbsDifference(reference.grad!) <= 1e-5, "chunk \(chunk)")
        }
    }

    @Test("a bad target is a typed error")
    func badTarget() {
        let (hiddenValue, weightValue, _) = Self.inputs(seed: 3)
        let weight = Variable(weightValue)
        #expect(throws: TensorError.self) {
            try chunkedCrossEntropySum(hidden: Variable(hiddenValue, requiresGrad: true), targets: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13],
                                       chunkRows: 4) { Variable.matmul($0, weight, transposeB: true) }
        }
    }
}
