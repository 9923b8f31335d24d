import Testing
import Tensors

@Suite("Tensor")
struct TensorTests {
    @Test func creationAndIndexing() {
        var t = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(t[1, 2] == 6)
        t[0, 1] = 9
        #expect(t.toArray() == [1, 9, 3, 4, 5, 6])
        #expect(Tensor.zeros([2, 2]).toArray() == [0, 0, 0, 0])
        #expect(Tensor.ones([3]).toArray() == [1, 1, 1])
        #expect(Tensor(scalar: 2).rank == 0)
        #expect(Tensor.arange(4).toArray() == [0, 1, 2, 3])
    }

    @Test func valueSemantics() {
        let a = Tensor([1, 2], shape: [2])
        var b = a
        b[0] = 5
        #expect(a.toArray() == [1, 2])
        #expect(b.toArray() == [5, 2])
    }

    @Test func broadcastingArithmetic() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let row = Tensor([10, 20, 30], shape: [3])
        let column = Tensor([100, 200], shape: [2, 1])
        #expect((a + row).toArray() == [11, 22, 33, 14, 25, 36])
        #expect((a * column).toArray() == [100, 200, 300, 800, 1000, 1200])
        #expect((a - 1).toArray() == [0, 1, 2, 3, 4, 5])
        #expect((a / Tensor(scalar: 2)).toArray() == [0.5, 1, 1.5, 2, 2.5, 3])
        let outer = Tensor([1, 2], shape: [2, 1]) * Tensor([1, 2, 3], shape: [1, 3])
        #expect(outer.shape == [2, 3] && outer.toArray() == [1, 2, 3, 2, 4, 6])
        let batched = Tensor.ones([2, 1, 3]) + Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(batched.shape == [2, 2, 3])
        #expect(batched.toArray() == [2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6, 7])
    }

    @Test func reductions() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(a.sum(axis: 0).toArray() == [5, 7, 9])
        #expect(a.sum(axis: -1).toArray() == [6, 15])
        #expect(a.sum(axis: 1, keepingDimension: true).shape == [2, 1])
        #expect(a.mean(axis: 1).toArray() == [2, 5])
        #expect(a.max(axis: 0).toArray() == [4, 5, 6])
        #expect(a.sum().scalar == 21)
        #expect(a.argmaxLastAxis() == [2, 2])
        #expect(Tensor.ones([4, 2, 3]).sum(toShape: [2, 1]).toArray() == [12, 12])
    }

    @Test func layout() {
        let a = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        #expect(a.reshaped([6, -1]).shape == [6, 4])
        let t = a.transposed(0, 2)
        #expect(t.shape == [4, 3, 2])
        #expect(t[3, 1, 0] == a[0, 1, 3])
        let p = a.permuted([1, 0, 2])
        #expect(p[2, 1, 3] == a[1, 2, 3])
        let s = a.slice(axis: 1, 1..<3)
        #expect(s.shape == [2, 2, 4] && s[1, 0, 2] == a[1, 1, 2])
        let c = Tensor.concatenate([a.slice(axis: 2, 0..<1), a.slice(axis: 2, 1..<4)], axis: 2)
        #expect(c == a)
    }

    @Test func gatherAndScatter() throws {
        let table = Tensor([0, 1, 10, 11, 20, 21], shape: [3, 2])
        let rows = try table.gatherRows([2, 0, 2])
        #expect(rows.toArray() == [20, 21, 0, 1, 20, 21])
        var gradient = Tensor.zeros([3, 2])
        gradient.scatterAddRows([2, 0, 2], from: Tensor.ones([3, 2]))
        #expect(gradient.toArray() == [1, 1, 0, 0, 2, 2])
    }

    @Test("out-of-range ids are a typed error naming the id and position")
    func gatherOutOfRange() {
        let table = Tensor.zeros([3, 2])
        #expect(throws: TensorError.indexOutOfRange(operation: "gatherRows", index: 3, bound: 3, position: 1)) {
            try table.gatherRows([0, 3])
        }
        #expect(throws: TensorError.self) { try table.gatherRows([-1]) }
    }

    @Test func batchedMatmul() {
        var generator = SeededRandom(seed: 1)
        let a = Tensor.randomNormal([3, 4, 5], generator: &generator)
        let b = Tensor.randomNormal([3, 5, 2], generator: &generator)
        let c = Tensor.matmul(a, b)
        #expect(c.shape == [3, 4, 2])
        for batch in 0..<3 {
            for i in 0..<4 {
                for j in 0..<2 {
                    var sum: Float = 0
                    for k in 0..<5 { sum += a[batch, i, k] * b[batch, k, j] }
                    #expect(abs(c[batch, i, j] - sum) < 1e-5)
                }
            }
        }
        let w = Tensor.randomNormal([2, 5], generator: &generator)
        let shared = Tensor.matmul(a, w, transposeB: true)
        #expect(shared.shape == [3, 4, 2])
        #expect(abs(shared[2, 3, 1] - (0..<5).reduce(Float(0)) { $0 + a[2, 3, $1] * w[1, $1] }) < 1e-5)
    }

    @Test func softmaxRowsSumToOne() {
        let x = Tensor([1, 2, 3, 1000, 1000, -1000], shape: [2, 3])
        let y = x.softmax()
        #expect(abs(y.sum(axis: 1)[flat: 0] - 1) < 1e-6)
        #expect(abs(y[1, 0] - 0.5) < 1e-6 && y[1, 2] == 0)
        let logY = x.logSoftmax()
        #expect(abs(logY[0, 2] - (3 - (Float(1).exp() + Float(2).exp() + Float(3).exp()).log())) < 1e-5)
    }
}

private extension Float {
    func exp() -> Float { Tensor(scalar: self).exp().scalar }
    func log() -> Float { Tensor(scalar: self).log().scalar }
}
