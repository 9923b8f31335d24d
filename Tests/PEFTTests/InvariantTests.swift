import Autograd
import Foundation
import Models
import NN
import PEFT
import Testing
import Tensors

/// Properties every adapter must keep, checked on the tiny Llama fixture.
@Suite("PEFT invariants")
struct PEFTInvariantTests {
    func llama() throws -> LlamaForCausalLM { try Fixture.base("tiny-llama") as! LlamaForCausalLM }

    @Test("zero-initialised LoRA gives the base outputs exactly; only adapter paths train and get gradients")
    func identityAndTrainable() throws {
        let model = try llama()
        let base = try Fixture.logits(model, base: "tiny-llama")
        let peft = try PeftModel(model, configuration: LoRAConfig(rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj"]))
        #expect(try Fixture.logits(model, base: "tiny-llama") == base)
        let trainable = peft.trainableParameters().map(\.path)
        #expect(trainable.count == 12 && trainable.allSatisfy { $0.contains(".lora_A.default.") || $0.contains(".lora_B.default.") })
        #expect(trainable.contains("model.layers.0.self_attn.q_proj.lora_A.default.weight"))
        #expect(peft.trainableParameterCount == 3 * (4 * 32 + 32 * 4) + 3 * (4 * 32 + 16 * 4))
        let inputs = try Fixture.inputs("tiny-llama")
        let loss = try crossEntropy(logits: model(inputs.input_ids, batch: 2).reshaped([-1, 97]), targets: inputs.input_ids)
        loss.backward()
        for (path, parameter) in model.namedParameters() {
            #expect((parameter.grad != nil) == trainable.contains(path), "\(path)")
        }
    }

    @Test("LoRA on the token embedding: identity start, merge ≈ unmerged, exact unmerge, gradients; DoRA refused")
    func embeddingAdapter() throws {
        let model = try llama()
        let base = try Fixture.logits(model, base: "tiny-llama")
        let table = model.stateDictionary()["model.embed_tokens.weight"]!
        let identity = try PeftModel(model, configuration: LoRAConfig(rank: 2, alpha: 4, targetModules: ["embed_tokens"]))
        #expect(try Fixture.logits(model, base: "tiny-llama") == base)
        #expect(identity.trainableParameters().map(\.path) == ["model.embed_tokens.lora_embedding_A.default", "model.embed_tokens.lora_embedding_B.default"])
        _ = try identity.unload()

        var config = LoRAConfig(rank: 2, alpha: 4, targetModules: ["embed_tokens", "q_proj"])
        config.initialization = .random
        let peft = try PeftModel(model, configuration: config)
        let adapted = try Fixture.logits(model, base: "tiny-llama")
        #expect(adapted.maxAbsDifference(base) > 1e-3)
        try peft.merge()
        #expect(try Fixture.logits(model, base: "tiny-llama").maxAbsDifference(adapted) < 1e-5)
        try peft.unmerge()
        #expect(model.stateDictionary()["model.embed_tokens.base_layer.weight"] == table)

        let layer = try #require(model.module(at: "model.embed_tokens") as? LoRAEmbeddingLayer)
        let report = GradientChecker.check(inputs: layer.trainableParameters().map(\.parameter)) { _ in try! layer([3, 1, 3, 7], shape: [2, 2]) }
        #expect(report.passed, "\(report)")
        #expect(throws: PEFTError.unsupportedTarget(path: "model.embed_tokens", type: "LoRAEmbeddingLayer", method: "DoRA")) {
            try peft.addAdapter("dora", configuration: LoRAConfig(rank: 2, alpha: 2, targetModules: ["embed_tokens"], useDoRA: true))
        }
    }

    @Test("prompt tuning from text: rows of the token embeddings; saved adapters load without the text's ids")
    func promptFromText() throws {
        let model = try llama()
        let config = PromptTuningConfig(virtualTokenCount: 4, initialization: .text, initializationText: "hello")
        #expect(throws: PEFTError.self) { try PeftModel(model, configuration: config) }
        let peft = try PeftModel(model, configuration: config, promptInitialTokens: [5, 6])
        let table = model.stateDictionary()["model.embed_tokens.weight"]!
        #expect(peft.activePromptEmbeddings?.value == (try table.gatherRows([5, 6, 5, 6])))
        #expect(peft.trainableParameters().map(\.path) == ["prompt_embeddings"])
        let folder = Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try peft.saveAdapter(to: folder)
        let loaded = try PeftModel.load(try llama(), adapter: folder)
        #expect(loaded.activePromptEmbeddings?.value == peft.activePromptEmbeddings?.value)
        #expect((loaded.configuration("default") as? PromptTuningConfig)?.initialization == .text)
    }

    @Test("several named adapters: add, switch, delete; a deleted layer is unwrapped")
    func namedAdapters() throws {
        let model = try llama()
        var first = LoRAConfig(rank: 2, alpha: 4, targetModules: ["q_proj"])
        first.initialization = .random
        let peft = try PeftModel(model, configuration: first, adapterName: "one")
        var second = LoRAConfig(rank: 3, alpha: 3, targetModules: ["q_proj", "o_proj"])
        second.initialization = .random
        try peft.addAdapter("two", configuration: second)
        #expect(throws: PEFTError.adapterExists("two")) { try peft.addAdapter("two", configuration: second) }
        let one = try Fixture.logits(model, base: "tiny-llama")
        try peft.setActiveAdapter("two")
        #expect(peft.trainableParameters().allSatisfy { $0.path.contains(".two.") })
        // Forward runs the active adapter (switching once changed only what trained).
        let two = try Fixture.logits(model, base: "tiny-llama")
        #expect(two.maxAbsDifference(one) > 1e-3)
        let alone = try llama()
        let onlyTwo = try PeftModel(alone, configuration: second, adapterName: "two", seed: peft.seed &+ 1)
        #expect(try Fixture.logits(alone, base: "tiny-llama").maxAbsDifference(two) < 1e-6, "\(onlyTwo.adapterNames)")
        #expect(throws: PEFTError.noSuchAdapter("three")) { try peft.setActiveAdapter("three") }
        try peft.setActiveAdapter("one")
        #expect(try Fixture.logits(model, base: "tiny-llama") == one)
        try peft.deleteAdapter("two")
        #expect(!(model.module(at: "model.layers.0.self_attn.o_proj") is LoRALayer))
        #expect(peft.adapterNames == ["one"])
    }

    @Test("finite-difference gradients of the LoRA, DoRA and IA3 layers and of prompt embeddings")
    func gradientChecks() throws {
        var generator = SeededRandom(seed: 5)
        let x = Variable(.randomNormal([2, 3, 6], generator: &generator), requiresGrad: true)
        for dora in [false, true] {
            let layer = LoRALayer(wrapping: Linear(inFeatures: 6, outFeatures: 5, generator: &generator))
            layer.addAdapter("a", rank: 3, alpha: 6, dropout: 0, rsLoRA: false, useDoRA: dora, initialization: .random, generator: &generator)
            layer.activeAdapters = ["a"]
            layer.baseLayer.freeze()
            let trainable = layer.trainableParameters()
            // DoRA treats ‖W₀ + sBA‖ as a constant in backward (as PEFT does), so finite differences
            // apply to x and the magnitude only; A and B are checked against that definition below.
            let checked = dora ? [x] + trainable.filter { $0.path.hasPrefix("lora_magnitude") }.map(\.parameter) : [x] + trainable.map(\.parameter)
            let report = GradientChecker.check(inputs: checked) { _ in layer(x) }
            #expect(report.passed, "LoRA dora=\(dora): \(report)")
            if dora {
                let a: Linear = layer.child("lora_A", as: Module.self).child("a"), b: Linear = layer.child("lora_B", as: Module.self).child("a")
                let magnitude = layer.child("lora_magnitude_vector", as: Module.self).parameter("a")
                let weight = layer.baseLayer.denseWeight()
                let norm = Variable((weight + Tensor.matmul(b.weight.value, a.weight.value) * 2).squared().sum(axis: 1).squareRoot())
                let seed = Tensor.ones([2, 3, 5])
                a.weight.zeroGrad()
                layer(x).backward(seed: seed)
                let fromLayer = a.weight.grad!
                a.weight.zeroGrad()
                let scale = magnitude / norm
                let base = Variable.matmul(x, Variable(weight), transposeB: true)
                let reference = base + layer.baseLayer.bias!.detached() + (scale - 1) * base + scale * (b(a(x)) * 2)
                reference.backward(seed: seed)
                #expect(fromLayer.maxAbsDifference(a.weight.grad!) < 1e-4)
            }
        }
        for feedforward in [false, true] {
            let layer = IA3Layer(wrapping: Linear(inFeatures: 6, outFeatures: 5, generator: &generator), isFeedforward: feedforward)
            layer.addAdapter("a", identity: false, generator: &generator)
            layer.activeAdapters = ["a"]
            layer.baseLayer.freeze()
            let report = GradientChecker.check(inputs: [x] + layer.trainableParameters().map(\.parameter)) { _ in layer(x) }
            #expect(report.passed, "IA3 feedforward=\(feedforward): \(report)")
        }
        let model = try llama()
        let peft = try PeftModel(model, configuration: PromptTuningConfig(virtualTokenCount: 3))
        let prompt = try #require(peft.activePromptEmbeddings)
        let report = GradientChecker.check(inputs: [prompt], maxElementsPerInput: 16) { _ in
            try! model([1, 2, 3, 4], batch: 1, prefix: prompt).slice(axis: 1, 3..<7)
        }
        #expect(report.passed, "prompt tuning: \(report)")
    }
}
