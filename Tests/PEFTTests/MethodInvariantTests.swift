import Autograd
import Foundation
import Models
import NN
import PEFT
import Testing
import Tensors

/// What every layer method must keep, checked for each: a fresh adapter is the identity, the planned
/// count is the real one, and merging, unmerging, disabling and unloading agree. A new method adds
/// one case to `cases`.
@Suite("method invariants")
struct MethodInvariantTests {
    /// A method's identity-start and random-start configurations on the tiny Llama.
    struct Case: CustomStringConvertible, Sendable {
        let description: String
        let identity: @Sendable () -> any AdapterConfiguration
        let random: @Sendable () -> any AdapterConfiguration
    }

    static let cases: [Case] = [
        Case(description: "LoRA", identity: { LoRAConfig(rank: 4, alpha: 8, targetModules: .allLinear) },
             random: { var c = LoRAConfig(rank: 4, alpha: 8, targetModules: .allLinear); c.initialization = .random; return c }),
        Case(description: "DoRA", identity: { LoRAConfig(rank: 4, alpha: 8, targetModules: .allLinear, useDoRA: true) },
             random: { var c = LoRAConfig(rank: 4, alpha: 8, targetModules: .allLinear, useDoRA: true); c.initialization = .random; return c }),
        Case(description: "IA3", identity: { IA3Config() }, random: { IA3Config(initializeToIdentity: false) }),
        Case(description: "LoHa", identity: { LoHaConfig(rank: 3, alpha: 6, targetModules: .allLinear) },
             random: { LoHaConfig(rank: 3, alpha: 6, targetModules: .allLinear, initializeToIdentity: false) }),
        Case(description: "LoKr", identity: { LoKrConfig(rank: 2, alpha: 4, targetModules: .allLinear) },
             random: { LoKrConfig(rank: 2, alpha: 4, targetModules: .allLinear, initialization: .random) }),
        Case(description: "LoKr (lycoris start, both factored)",
             identity: { LoKrConfig(rank: 1, alpha: 2, targetModules: .allLinear, decomposeBoth: true, initialization: .lycoris) },
             random: { LoKrConfig(rank: 1, alpha: 2, targetModules: .allLinear, decomposeBoth: true, initialization: .random) }),
        Case(description: "VeRA", identity: { VeRAConfig(rank: 8, targetModules: .allLinear) },
             random: { VeRAConfig(rank: 8, targetModules: .allLinear, initializeToIdentity: false) }),
        Case(description: "AdaLoRA", identity: { AdaLoRAConfig(initialRank: 4, targetRank: 2, totalSteps: 10, targetModules: .allLinear) },
             random: { AdaLoRAConfig(initialRank: 4, targetRank: 2, totalSteps: 10, targetModules: .allLinear, initializeToIdentity: false) }),
    ]

    func llama() throws -> LlamaForCausalLM { try Fixture.base("tiny-llama") as! LlamaForCausalLM }

    @Test("a fresh adapter gives the base outputs exactly, only adapter tensors train, as many as planned", arguments: cases)
    func identityStart(_ method: Case) throws {
        let model = try llama()
        let base = try Fixture.logits(model, base: "tiny-llama")
        let before = Set(model.namedParameters().map(\.path))
        let planned = try PeftModel<Module>.plannedTrainableCount(method.identity(), model: model)
        let peft = try PeftModel(model, configuration: method.identity())
        #expect(try Fixture.logits(model, base: "tiny-llama") == base)
        #expect(peft.trainableParameterCount == planned && planned > 0)
        // Every trainable tensor is new (an adapter's), none is a base weight.
        for (path, _) in peft.trainableParameters() { #expect(!before.contains(path), "\(path) is a base weight") }
    }

    @Test("merge equals unmerged within float32 rounding, unmerge restores the base bit for bit, disabled is the base, merge-and-unload keeps the answer",
          arguments: cases)
    func mergeUnmerge(_ method: Case) throws {
        let model = try llama()
        let before = model.stateDictionary()
        let base = try Fixture.logits(model, base: "tiny-llama")
        let peft = try PeftModel(model, configuration: method.random())
        let adapted = try Fixture.logits(model, base: "tiny-llama")
        #expect(adapted.maxAbsDifference(base) > 1e-3)
        #expect(try peft.withAdaptersDisabled { try Fixture.logits(model, base: "tiny-llama") } == base)
        // Within float32 rounding of the logits' size (a random AdaLoRA start has large updates).
        let tolerance = 1e-5 * max(1, adapted.toArray().map(abs).max()!) * 4
        try peft.merge()
        let merged = try Fixture.logits(model, base: "tiny-llama").maxAbsDifference(adapted)
        #expect(merged < tolerance, "\(merged) against \(tolerance)")
        #expect(throws: PEFTError.self) { try peft.withAdaptersDisabled { () } }
        try peft.unmerge()
        let adapterKeys = Set(peft.trainableParameters().map(\.path))
        for (path, value) in model.stateDictionary() where !adapterKeys.contains(path) {
            #expect(value == before[Module.checkpointName(of: path)], "\(path)")
        }
        let plain = try peft.mergeAndUnload()
        #expect(Set(plain.stateDictionary().keys) == Set(before.keys))
        #expect(try Fixture.logits(plain, base: "tiny-llama").maxAbsDifference(adapted) < tolerance)
    }
}
