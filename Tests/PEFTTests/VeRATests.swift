import Autograd
import Foundation
import Models
import NN
@testable import PEFT
import Testing
import Tensors

/// VeRA's own properties (interop with peft: PEFTInteropTests llama-vera, llama-vera-unsaved,
/// gpt2-vera; the shared invariants: MethodInvariantTests).
@Suite("VeRA")
struct VeRATests {
    @Test("the projection generator is PyTorch's: torch.empty(2, 5).uniform_(-0.25, 0.25) after manual_seed(7), bit for bit")
    func pytorchGenerator() {
        var generator = TorchCPUGenerator(seed: 7)
        let expected: [Float] = [0.017461270093917847, -0.150598406791687, 0.07960584759712219, 0.07844513654708862, -0.13361921906471252,
                                 -0.037469297647476196, -0.1464569866657257, 0.06486818194389343, -0.06734192371368408, 0.17563417553901672]
        #expect(generator.uniform(count: 10, low: -0.25, high: 0.25) == expected)
        // Seeds use their low 32 bits, as manual_seed does.
        var wide = TorchCPUGenerator(seed: (1 << 33) + 7)
        #expect(wide.uniform(count: 3, low: -1, high: 1) == [0.06984508037567139, -0.602393627166748, 0.31842339038848877])
    }

    @Test("one projection per adapter, shared by every layer and sized for the largest target; only the vectors train")
    func sharedProjection() throws {
        let model = try Fixture.base("tiny-llama")
        let peft = try PeftModel(model, configuration: VeRAConfig(rank: 5, targetModules: .names(["q_proj", "v_proj", "down_proj"])))
        let layers = model.namedModules().compactMap { $0.module as? VeRALayer }
        let projection = try #require(layers.first?.projections["default"])
        #expect(layers.count == 9 && layers.allSatisfy { $0.projections["default"] === projection })
        let widest = layers.map(\.inFeatures).max()!, tallest = layers.map(\.outFeatures).max()!
        #expect(projection.a.shape == [5, widest] && projection.b.shape == [tallest, 5])
        #expect(peft.trainableParameters().allSatisfy { $0.path.contains("vera_lambda_") })
        #expect(!projection.a.requiresGrad && !projection.b.requiresGrad)
        let saved = try peft.adapterStateDictionary().map(\.key)
        #expect(saved.contains("base_model.vera_A") && saved.contains("base_model.vera_B"))
    }

    @Test("finite-difference gradients of the input and both vectors")
    func gradients() throws {
        var generator = SeededRandom(seed: 23)
        let x = Variable(.randomNormal([2, 3, 6], generator: &generator), requiresGrad: true)
        let layer = VeRALayer(wrapping: Linear(inFeatures: 6, outFeatures: 5, generator: &generator))
        layer.addAdapter("a", projection: VeRAProjection(rank: 4, largestIn: 9, largestOut: 7, seed: 3), dropout: 0, initialD: 0.1, identity: false,
                         generator: &generator)
        layer.activeAdapters = ["a"]
        layer.baseLayer.freeze()
        let vectors = layer.trainableParameters()
        #expect(vectors.map(\.path).sorted() == ["vera_lambda_b.a", "vera_lambda_d.a"])
        let report = GradientChecker.check(inputs: [x] + vectors.map(\.parameter)) { _ in layer(x) }
        #expect(report.passed, "\(report)")
    }

    @Test("configuration: PEFT's keys round-trip, bad values are named")
    func configuration() throws {
        let text = try String(contentsOf: Fixture.adapters.appendingPathComponent("llama-vera-unsaved/adapter_config.json"), encoding: .utf8)
        let vera = try #require(try AdapterConfigurations.parse(Data(text.utf8)) as? VeRAConfig)
        #expect(vera.rank == 6 && vera.projectionSeed == 1234 && !vera.saveProjection && vera.initialD == 0.1)
        #expect(try AdapterConfigurations.parse(Data(vera.fileText.utf8)) as? VeRAConfig == vera)
        for (key, value, field) in [("projection_prng_key", "-1", "projection_prng_key"), ("vera_dropout", "1", "vera_dropout"),
                                    ("bias", "\"lora_only\"", "bias"), ("r", "0", "r")] {
            let bad = #"{"peft_type": "VERA", "\#(key)": \#(value)}"#
            #expect { try AdapterConfigurations.parse(Data(bad.utf8)) } throws: { error in
                guard case let .invalidConfiguration(named, _)? = error as? PEFTError else { return false }
                return named == field
            }
        }
    }
}
