import Autograd
import Foundation
import Models
import PEFT
import Testing

/// Opt-in: set PEFTKIT_SMOLLM2_GGUF to the SmolLM2-135M-Instruct Q4_1 GGUF (Scripts/fetch-models.sh).
/// References: Fixtures/make_smollm2_adapter.py (peft on transformers loading the same GGUF).
@Suite("SmolLM2 adapters against peft", .enabled(if: ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"] != nil))
struct SmolLM2AdapterTests {
    struct Reference: Decodable {
        let question_ids: [Int]; let greedy_ids: [Int]; let greedy_text: String
        let readme_config_trainable: Int; let readme_config_total: Int
    }

    @Test("LoRA r=8 α=32 on q/v counts as PEFT does; a peft-made q/k/v adapter gives peft's greedy answer")
    func smolLM2() throws {
        let folder = Fixture.adapters.appendingPathComponent("smollm2-lora")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: folder.appendingPathComponent("reference.json")))
        let model = try LlamaForCausalLM.load(from: URL(fileURLWithPath: ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"]!))
        let counted = try PeftModel(model, configuration: LoRAConfig(rank: 8, alpha: 32, targetModules: ["q_proj", "v_proj"]))
        #expect(counted.trainableParameterCount == reference.readme_config_trainable)  // 460,800
        #expect(counted.parameterCount == reference.readme_config_total)               // 134,975,808
        #expect(counted.trainableParameterSummary == "trainable 460,800 / 134,975,808 (0.34%)")
        let base = try counted.unload()
        let peft = try PeftModel.load(base, adapter: folder)
        let answer = try peft.model.generate(prompt: reference.question_ids, options: GenerationOptions(maxNewTokens: 24, stopTokenIDs: [2]))
        #expect(answer == Array(reference.greedy_ids.prefix(answer.count)) && !answer.isEmpty)
        try peft.merge()
        let merged = try peft.model.generate(prompt: reference.question_ids, options: GenerationOptions(maxNewTokens: 24, stopTokenIDs: [2]))
        #expect(merged == answer)
    }
}
