import Autograd
import Foundation
import Models
import NN
@testable import PEFT
import Testing
import Tensors

/// LoHa's own properties (its interop with peft is in PEFTInteropTests: llama-loha, bert-loha).
@Suite("LoHa")
struct LoHaTests {
    func llama() throws -> LlamaForCausalLM { try Fixture.base("tiny-llama") as! LlamaForCausalLM }

    @Test("a fresh adapter on q_proj and v_proj trains its four factors per layer, 2·r·(in + out) values each, and saves its targets")
    func factorsAndCount() throws {
        let peft = try PeftModel(try llama(), configuration: LoHaConfig(rank: 4, alpha: 8, targetModules: .names(["q_proj", "v_proj"])))
        let trainable = peft.trainableParameters().map(\.path)
        #expect(trainable.count == 3 * 2 * 4 && trainable.allSatisfy { $0.contains(".hada_w") })
        // q_proj 32→32, v_proj 32→16.
        #expect(peft.trainableParameterCount == 3 * (2 * 4 * 64 + 2 * 4 * 48))
        let stored = try #require(peft.configuration("default") as? LoHaConfig)
        #expect(stored.targetModules == .names(["q_proj", "v_proj"]))
    }

    @Test("finite-difference gradients of the input and all four factors")
    func gradients() throws {
        var generator = SeededRandom(seed: 11)
        let x = Variable(.randomNormal([2, 3, 6], generator: &generator), requiresGrad: true)
        let layer = LoHaLayer(wrapping: Linear(inFeatures: 6, outFeatures: 5, generator: &generator))
        layer.addAdapter("a", rank: 2, alpha: 3, rankDropout: 0, moduleDropout: 0, identity: false, generator: &generator)
        layer.activeAdapters = ["a"]
        layer.baseLayer.freeze()
        let factors = layer.trainableParameters()
        #expect(factors.map(\.path).sorted() == ["hada_w1_a.a", "hada_w1_b.a", "hada_w2_a.a", "hada_w2_b.a"])
        let report = GradientChecker.check(inputs: [x] + factors.map(\.parameter)) { _ in layer(x) }
        #expect(report.passed, "\(report)")
    }

    @Test("rank dropout in training zeroes whole output rows of ΔW and rescales the rest by the fraction kept; evaluation is untouched")
    func rankDropout() throws {
        var generator = SeededRandom(seed: 3)
        let x = Variable(.randomNormal([4, 8], generator: &generator))
        let layer = LoHaLayer(wrapping: Linear(inFeatures: 8, outFeatures: 16, generator: &generator))
        layer.addAdapter("a", rank: 2, alpha: 2, rankDropout: 0.5, moduleDropout: 0, identity: false, generator: &generator)
        layer.activeAdapters = ["a"]
        let base = layer.baseLayer(x).value
        layer.eval()
        let full = layer(x).value - base
        layer.train()
        let dropped = layer(x).value - base
        var kept: [Int] = [], ratios: [Float] = []
        for column in 0..<16 {
            let ours = (0..<4).map { dropped[$0, column] }, whole = (0..<4).map { full[$0, column] }
            if ours.allSatisfy({ $0 == 0 }) { continue }
            kept.append(column)
            ratios.append(ours[0] / whole[0])
            for row in 1..<4 { #expect(abs(ours[row] - whole[row] * ratios.last!) < 1e-4 * max(1, abs(whole[row]))) }
        }
        #expect(!kept.isEmpty && kept.count < 16, "with p = 0.5 some rows are dropped and some kept (kept \(kept.count))")
        for ratio in ratios { #expect(abs(ratio - 16 / Float(kept.count)) < 1e-3, "kept rows scale by out / kept") }
    }

    @Test("GPT-2's Conv1D is refused as peft refuses it, naming the module; the model is unchanged")
    func conv1DRefused() throws {
        let model = try Fixture.base("tiny-gpt2")
        let before = model.namedModules().map(\.path)
        #expect(throws: PEFTError.unsupportedTarget(path: "transformer.h.0.attn.c_attn", type: "Conv1D", method: "LOHA")) {
            _ = try PeftModel(model, configuration: LoHaConfig(rank: 2, alpha: 2, targetModules: .names(["c_attn"])))
        }
        #expect(model.namedModules().map(\.path) == before)
    }

    @Test("configuration: PEFT's keys round-trip, unknown keys are kept, bad values are named")
    func configuration() throws {
        let text = try String(contentsOf: Fixture.adapters.appendingPathComponent("llama-loha/adapter_config.json"), encoding: .utf8)
        let loha = try #require(try AdapterConfigurations.parse(Data(text.utf8)) as? LoHaConfig)
        #expect(loha.rank == 4 && loha.alpha == 8 && loha.rankPattern.first?.value == 2 && loha.alphaPattern.first?.value == 16)
        #expect(try AdapterConfigurations.parse(Data(loha.fileText.utf8)) as? LoHaConfig == loha)
        #expect(loha.unknownMembers.contains { $0.key == "peft_version" })
        for (key, value, field) in [("r", "0", "r"), ("rank_dropout", "1", "rank_dropout"), ("module_dropout", "-0.1", "module_dropout"),
                                    ("alpha", "1e9", "alpha")] {
            let bad = #"{"peft_type": "LOHA", "\#(key)": \#(value)}"#
            #expect { try AdapterConfigurations.parse(Data(bad.utf8)) } throws: { error in
                guard case let .invalidConfiguration(named, _)? = error as? PEFTError else { return false }
                return named == field
            }
        }
    }
}
