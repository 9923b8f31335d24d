import Testing
import Autograd
import Tensors

@Suite("OperationProfile")
struct OperationProfileTests {
    @Test("each operation's forward and backward are charged to its name, with its products' FLOPs; regions and the step total add up")
    func chargesOperations() throws {
        let (m, k, n) = (48, 64, 40)
        var generator = SeededRandom(seed: 3)
        let a = Variable(Tensor.randomNormal([m, k], generator: &generator), requiresGrad: true)
        let b = Variable(Tensor.randomNormal([k, n], generator: &generator), requiresGrad: true)
        let profile = OperationProfile()
        for _ in 0..<2 {
            profile.measure {
                let loss = relu(Variable.matmul(a, b)).sum()
                loss.backward()
                OperationProfile.region("update") { a.zeroGrad(); b.zeroGrad() }
            }
        }
        let entries = Dictionary(uniqueKeysWithValues: profile.table.map { ($0.name, $0) })
        let product = try #require(entries["matmul"])
        #expect(product.forwardCalls == 2 && product.backwardCalls == 2)
        #expect(product.forwardFlops == 2 * (2 * m * n * k))
        #expect(product.backwardFlops == 2 * (2 * 2 * m * n * k))  // the gradients of a and of b
        #expect(entries["relu"]?.forwardCalls == 2 && entries["relu"]?.backwardCalls == 2 && entries["relu"]?.flops == 0)
        #expect(entries["update"]?.isRegion == true && entries["update"]?.forwardCalls == 2)
        #expect(profile.spans == 2 && profile.measuredFlops == 6 * 2 * m * n * k)
        let charged = profile.table.reduce(0) { $0 + $1.seconds }
        #expect(charged > 0 && charged <= profile.measuredSeconds)
        let table = profile.markdownTable(peakGFLOPs: 100)
        #expect(table.contains("| matmul |") && table.contains("| *update* |") && table.contains("| **step** |") && table.contains("of the 100 GFLOP/s"))
        // Outside a measured span nothing is recorded.
        _ = relu(Variable.matmul(a, b)).sum()
        #expect(profile.table.first { $0.name == "matmul" }?.forwardCalls == 2)
    }
}
