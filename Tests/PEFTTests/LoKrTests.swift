import Autograd
import Foundation
import Models
import NN
@testable import PEFT
import Testing
import Tensors

/// LoKr's own properties (interop with peft: PEFTInteropTests llama-lokr, llama-lokr-factored; the
/// shared invariants: MethodInvariantTests).
@Suite("LoKr")
struct LoKrTests {
    @Test("factorization splits a side as LyCORIS does (PEFT's documented examples and the fixtures' shapes)")
    func factorization() {
        #expect(LoKrShapes.factorization(256, factor: -1) == (16, 16))
        #expect(LoKrShapes.factorization(128, factor: -1) == (8, 16))
        #expect(LoKrShapes.factorization(127, factor: -1) == (1, 127))
        #expect(LoKrShapes.factorization(128, factor: 4) == (4, 32))
        #expect(LoKrShapes.factorization(96, factor: 4) == (4, 24))
        #expect(LoKrShapes.factorization(576, factor: -1) == (24, 24))  // SmolLM2's hidden size
        #expect(LoKrShapes.factorization(1536, factor: -1) == (32, 48))
        let q = LoKrShapes(inFeatures: 32, outFeatures: 32, rank: 4, decomposeBoth: false, factor: -1)
        #expect(q.wholeW1 && q.wholeW2 && [q.out1, q.in1, q.out2, q.in2] == [4, 4, 8, 8])
        let small = LoKrShapes(inFeatures: 32, outFeatures: 32, rank: 1, decomposeBoth: true, factor: -1)
        #expect(!small.wholeW1 && !small.wholeW2 && small.count(rank: 1) == (4 + 4) + (8 + 8))
    }

    @Test("finite-difference gradients of the input and of whole and factored W1, W2", arguments: [false, true])
    func gradients(factored: Bool) throws {
        var generator = SeededRandom(seed: 17)
        let x = Variable(.randomNormal([2, 3, 12], generator: &generator), requiresGrad: true)
        let layer = LoKrLayer(wrapping: Linear(inFeatures: 12, outFeatures: 8, generator: &generator))
        layer.addAdapter("a", rank: factored ? 1 : 4, alpha: 3, rankDropout: 0, moduleDropout: 0, rankDropoutScale: false,
                         decomposeBoth: factored, factor: -1, initialization: .random, generator: &generator)
        layer.activeAdapters = ["a"]
        layer.baseLayer.freeze()
        let factors = layer.trainableParameters()
        let expected = factored ? ["lokr_w1_a.a", "lokr_w1_b.a", "lokr_w2_a.a", "lokr_w2_b.a"] : ["lokr_w1.a", "lokr_w2.a"]
        #expect(factors.map(\.path).sorted() == expected)
        let report = GradientChecker.check(inputs: [x] + factors.map(\.parameter)) { _ in layer(x) }
        #expect(report.passed, "\(report)")
    }

    @Test("ΔW is the Kronecker product W1 ⊗ W2 times α/r, element by element")
    func kroneckerProduct() throws {
        var generator = SeededRandom(seed: 2)
        let layer = LoKrLayer(wrapping: Linear(inFeatures: 6, outFeatures: 4, generator: &generator))
        layer.addAdapter("a", rank: 8, alpha: 4, rankDropout: 0, moduleDropout: 0, rankDropoutScale: false, decomposeBoth: false, factor: -1,
                         initialization: .random, generator: &generator)
        let w1 = layer.child("lokr_w1", as: Module.self).parameter("a").value, w2 = layer.child("lokr_w2", as: Module.self).parameter("a").value
        #expect(w1.shape == [2, 2] && w2.shape == [2, 3])
        let delta = layer.delta("a").value
        for i in 0..<2 { for j in 0..<2 { for k in 0..<2 { for l in 0..<3 {
            #expect(abs(delta[i * 2 + j, k * 3 + l] - w1[i, k] * w2[j, l] * 0.5) < 1e-6)
        } } } }
    }

    @Test("configuration: PEFT's keys round-trip (init_weights lycoris included), bad values are named")
    func configuration() throws {
        let text = try String(contentsOf: Fixture.adapters.appendingPathComponent("llama-lokr-factored/adapter_config.json"), encoding: .utf8)
        let lokr = try #require(try AdapterConfigurations.parse(Data(text.utf8)) as? LoKrConfig)
        #expect(lokr.rank == 1 && lokr.decomposeBoth && lokr.decomposeFactor == 4 && lokr.initialization == .lycoris)
        #expect(lokr.targetModules == .names(["down_proj", "q_proj", "gate_proj", "up_proj", "v_proj", "k_proj", "o_proj"]), "peft writes all-linear as the names it matched")
        #expect(try AdapterConfigurations.parse(Data(lokr.fileText.utf8)) as? LoKrConfig == lokr)
        for (key, value, field) in [("decompose_factor", "0", "decompose_factor"), ("init_weights", "\"pissa\"", "init_weights"),
                                    ("rank_dropout", "2", "rank_dropout"), ("r", "-1", "r")] {
            let bad = #"{"peft_type": "LOKR", "\#(key)": \#(value)}"#
            #expect { try AdapterConfigurations.parse(Data(bad.utf8)) } throws: { error in
                guard case let .invalidConfiguration(named, _)? = error as? PEFTError else { return false }
                return named == field
            }
        }
    }
}
