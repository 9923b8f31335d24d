import Testing
import Autograd
import NN
import Tensors

@Suite("Optimizers")
struct OptimizerTests {
    @Test("AdamW matches torch.optim.AdamW arithmetic for two steps")
    func adamW() {
        let p = Variable(Tensor([1.0, -2.0], shape: [2]), requiresGrad: true)
        let optimizer = AdamW(learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1)
        // Step 1 with g = (0.5, -1): p ← p(1 − 0.01); m̂ = g, v̂ = g², update = lr·sign(g) (up to ε).
        p.grad = Tensor([0.5, -1], shape: [2])
        optimizer.step([("p", p)])
        #expect(p.value.isClose(to: Tensor([0.99 - 0.1, -1.98 + 0.1], shape: [2]), rtol: 1e-6, atol: 1e-6))
        // Step 2 with g = (0.5, 0): hand-computed bias-corrected moments.
        p.grad = Tensor([0.5, 0], shape: [2])
        optimizer.step([("p", p)])
        func expected(_ p0: Double, _ g1: Double, _ g2: Double) -> Double {
            let m = 0.9 * 0.1 * g1 + 0.1 * g2, v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2
            let mHat = m / (1 - 0.81), vHat = v / (1 - 0.999 * 0.999)
            return p0 * (1 - 0.01) - 0.1 * mHat / (vHat.squareRoot() + 1e-8)
        }
        let e0 = expected(0.89, 0.5, 0.5), e1 = expected(-1.88, -1, 0)
        #expect(abs(Double(p.value[flat: 0]) - e0) < 1e-5 && abs(Double(p.value[flat: 1]) - e1) < 1e-5)
        #expect(optimizer.states["p"]?.step == 2)
    }

    @Test("SGD with momentum and weight decay")
    func sgd() {
        let p = Variable(Tensor([1.0], shape: [1]), requiresGrad: true)
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.5)
        p.grad = Tensor([1], shape: [1])
        optimizer.step([("p", p)])          // g = 1 + 0.5 = 1.5; v = 1.5; p = 1 − 0.15
        #expect(abs(p.value.scalar - 0.85) < 1e-6)
        optimizer.step([("p", p)])          // g = 1 + 0.425; v = 0.9·1.5 + 1.425 = 2.775; p = 0.85 − 0.2775
        #expect(abs(p.value.scalar - 0.5725) < 1e-6)
    }

    @Test("only trainable parameters move; frozen ones get no state")
    func frozenUntouched() {
        var generator = SeededRandom(seed: 4)
        let model = Module()
        model.registerChild("a", Linear(inFeatures: 3, outFeatures: 2, generator: &generator))
        model.registerChild("b", Linear(inFeatures: 2, outFeatures: 1, generator: &generator))
        model.freeze(path: "a")
        let before = model.stateDictionary()
        let a: Linear = model.child("a"), b: Linear = model.child("b")
        let optimizer = AdamW(learningRate: 0.1)
        let loss = b(a(Variable(.ones([4, 3])))).squared().mean()
        loss.backward()
        #expect(a.weight.grad == nil)
        optimizer.step(model)
        let after = model.stateDictionary()
        #expect(after["a.weight"] == before["a.weight"] && after["a.bias"] == before["a.bias"])
        #expect(after["b.weight"] != before["b.weight"])
        #expect(Set(optimizer.states.keys) == ["b.weight", "b.bias"])
    }
}
