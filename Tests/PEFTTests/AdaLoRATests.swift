import Autograd
import Foundation
import ModelIO
import Models
import NN
@testable import PEFT
import Testing
import Tensors

/// AdaLoRA's own properties (interop with peft: PEFTInteropTests llama-adalora, gpt2-adalora;
/// training with its allocator against PyTorch + peft: TrainingParityTests; the shared invariants:
/// MethodInvariantTests).
@Suite("AdaLoRA")
struct AdaLoRATests {
    @Test("the budget follows PEFT's cubic schedule: init_r per layer until tinit, target_r per layer from total − tfinal")
    func budgetSchedule() throws {
        let model = try Fixture.base("tiny-llama")
        let configuration = AdaLoRAConfig(initialRank: 6, targetRank: 2, totalSteps: 20, initialSteps: 3, finalSteps: 5, allocationInterval: 4,
                                          targetModules: .names(["q_proj", "v_proj"]))
        _ = try PeftModel(model, configuration: configuration)
        let allocator = AdaLoRAAllocator(configuration: configuration, adapter: "default", model: model) { _ in }
        // 6 layers: budget 36 → 12. Between, int((36 − 12)·(1 − (t − 3)/12)³ + 12), masking when t % 4 == 0.
        #expect(allocator.schedule(0) == (36, false) && allocator.schedule(3) == (36, false))
        #expect(allocator.schedule(4) == (Int(24 * pow(11.0 / 12, 3) + 12), true))
        #expect(allocator.schedule(9) == (Int(24 * pow(6.0 / 12, 3) + 12), false))
        #expect(allocator.schedule(15) == (12, false) && allocator.schedule(16) == (12, true))
    }

    @Test("finite-difference gradients of the input, A, E and B, and of the orthogonality penalty")
    func gradients() throws {
        var generator = SeededRandom(seed: 29)
        let x = Variable(.randomNormal([2, 3, 6], generator: &generator), requiresGrad: true)
        let layer = AdaLoRALayer(wrapping: Linear(inFeatures: 6, outFeatures: 5, generator: &generator))
        layer.addAdapter("a", rank: 3, startingRank: 4, alpha: 2, dropout: 0, identity: false, generator: &generator)
        layer.activeAdapters = ["a"]
        layer.baseLayer.freeze()
        let factors = layer.trainableParameters()
        #expect(factors.map(\.path).sorted() == ["lora_A.a", "lora_B.a", "lora_E.a"])
        let report = GradientChecker.check(inputs: [x] + factors.map(\.parameter)) { _ in layer(x) }
        #expect(report.passed, "\(report)")

        let model = try Fixture.base("tiny-llama")
        var configuration = AdaLoRAConfig(initialRank: 3, targetRank: 2, totalSteps: 5, targetModules: .names(["q_proj"]), initializeToIdentity: false)
        configuration.orthogonalityWeight = 0.7
        let peft = try PeftModel(model, configuration: configuration)
        let hooks = try #require(peft.trainingHooks)
        let penalty = GradientChecker.check(inputs: peft.trainableParameters().map(\.parameter), maxElementsPerInput: 24) { _ in hooks.regularization()! }
        #expect(penalty.passed, "\(penalty)")
    }

    @Test("after an allocation the saved adapter holds only the kept ranks and rank_pattern; it reloads to the same logits (a layer pruned to rank 0: the llama-adalora fixture)")
    func savesKeptRanks() throws {
        let model = try Fixture.base("tiny-llama")
        let peft = try PeftModel(model, configuration: AdaLoRAConfig(initialRank: 4, targetRank: 1, totalSteps: 3, targetModules: .names(["q_proj", "v_proj"]),
                                                                    initializeToIdentity: false))
        let hooks = try #require(peft.trainingHooks)
        // Gradients from one backward; step 0 scores them, step total − tfinal = 3 makes the final allocation.
        let inputs = try Fixture.inputs("tiny-llama")
        let logits = try (model as! LlamaForCausalLM)(inputs.input_ids, batch: 2)
        try crossEntropy(logits: logits.reshaped([-1, 97]), targets: inputs.input_ids).backward()
        try hooks.afterOptimizerStep(0)
        try hooks.afterOptimizerStep(3)
        let stored = try #require(peft.configuration("default") as? AdaLoRAConfig)
        let pattern = try #require(stored.rankPattern)
        #expect(pattern.count == 6 && pattern.reduce(0) { $0 + $1.kept.filter { $0 }.count } == 6, "the budget: target_r per layer")
        let adapted = try Fixture.logits(model, base: "tiny-llama")

        let folder = Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try peft.saveAdapter(to: folder)
        let file = try SafetensorsFile(contentsOf: folder.appendingPathComponent("adapter_model.safetensors"))
        for (module, kept) in pattern {
            let key = "base_model.model." + module
            #expect(file.tensors.first { $0.name == key }?.shape == [kept.filter { $0 }.count, 1], "\(module)")
        }
        let reloaded = try PeftModel.load(try Fixture.base("tiny-llama"), adapter: folder)
        #expect(try Fixture.logits(reloaded.root, base: "tiny-llama").maxAbsDifference(adapted) < 1e-5)
    }

    @Test("configuration: PEFT's keys round-trip with rank_pattern; missing total_step, target_r above init_r, DoRA are refused by name")
    func configuration() throws {
        let text = try String(contentsOf: Fixture.adapters.appendingPathComponent("llama-adalora/adapter_config.json"), encoding: .utf8)
        let adalora = try #require(try AdapterConfigurations.parse(Data(text.utf8)) as? AdaLoRAConfig)
        #expect(adalora.initialRank == 5 && adalora.targetRank == 2 && adalora.totalSteps == 20 && adalora.rankPattern?.count == 9)
        #expect(try AdapterConfigurations.parse(Data(adalora.fileText.utf8)) as? AdaLoRAConfig == adalora)
        for (json, field) in [(#"{"peft_type": "ADALORA"}"#, "total_step"), (#"{"peft_type": "ADALORA", "total_step": 5, "target_r": 20}"#, "target_r"),
                              (#"{"peft_type": "ADALORA", "total_step": 5, "use_dora": true}"#, "use_dora"),
                              (#"{"peft_type": "ADALORA", "total_step": 5, "tinit": 5}"#, "tinit"),
                              (#"{"peft_type": "ADALORA", "total_step": 5, "beta1": 1}"#, "beta1"),
                              (#"{"peft_type": "ADALORA", "total_step": 5, "rank_pattern": {"x.lora_E": [1, 0]}}"#, "rank_pattern.x.lora_E")] {
            #expect { try AdapterConfigurations.parse(Data(json.utf8)) } throws: { error in
                guard case let .invalidConfiguration(named, _)? = error as? PEFTError else { return false }
                return named == field
            }
        }
    }
}
