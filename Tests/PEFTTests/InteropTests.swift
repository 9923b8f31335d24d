import Autograd
import Foundation
import ModelIO
import Models
import NN
import PEFT
import Testing
import Tensors

/// Adapters written by Python PEFT load here and give PEFT's logits; adapters saved here load back
/// identically (and, by hand, in PEFT: see make_peft_adapters.py --check).
@Suite("PEFT interop")
struct PEFTInteropTests {
    static let cases = ["llama-lora", "llama-lora-embedding", "llama-rslora", "llama-dora", "llama-ia3", "gpt2-lora", "bert-lora", "llama-prompt",
                        "gpt2-ia3", "bert-ia3", "llama-loha", "bert-loha", "llama-lokr", "llama-lokr-factored",
                        "llama-vera", "llama-vera-unsaved", "gpt2-vera", "llama-adalora", "gpt2-adalora"]

    @Test("a PEFT-made adapter reproduces PEFT's logits within 1e-4", arguments: cases)
    func loadsPythonAdapter(_ name: String) throws {
        let reference = try Fixture.reference(name)
        let peft = try PeftModel.load(try Fixture.base(reference.base), adapter: Fixture.adapters.appendingPathComponent(name))
        let logits = try Fixture.logits(peft.root, base: reference.base, prefix: peft.activePromptEmbeddings)
        #expect(logits.shape == reference.shape)
        let worst = Fixture.maxDifference(logits, reference.logits)
        #expect(worst < 1e-4, "\(name): max |Δ| = \(worst)")
        print("interop: peft → PEFTKit \(name): max |Δ| = \(worst)")
        #expect(peft.trainableParameterCount == 0, "a loaded adapter is frozen unless isTrainable")
    }

    @Test("save → load round trip: same keys as PEFT's file, same logits", arguments: cases)
    func roundTrip(_ name: String) throws {
        let reference = try Fixture.reference(name)
        let source = Fixture.adapters.appendingPathComponent(name)
        let peft = try PeftModel.load(try Fixture.base(reference.base), adapter: source, isTrainable: true)
        #expect(peft.trainableParameterCount > 0)
        let folder = Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try peft.saveAdapter(to: folder)
        let original = try SafetensorsFile(contentsOf: source.appendingPathComponent("adapter_model.safetensors"))
        let saved = try SafetensorsFile(contentsOf: folder.appendingPathComponent("adapter_model.safetensors"))
        #expect(Set(saved.tensors.map(\.name)) == Set(original.tensors.map(\.name)))
        #expect(saved.metadata["format"] == "pt")
        let config = try AdapterConfigurations.load(from: folder)
        #expect(config.peftType == (try AdapterConfigurations.load(from: source)).peftType)
        let reloaded = try PeftModel.load(try Fixture.base(reference.base), adapter: folder)
        let logits = try Fixture.logits(reloaded.root, base: reference.base, prefix: reloaded.activePromptEmbeddings)
        #expect(Fixture.maxDifference(logits, reference.logits) < 1e-4)
        if let export = ProcessInfo.processInfo.environment["PEFTKIT_EXPORT_ADAPTERS"] {
            let target = URL(fileURLWithPath: export).appendingPathComponent(name)
            try? FileManager.default.removeItem(at: target)
            try peft.saveAdapter(to: target)
            let info: JSONValue = .object([("base", .string(reference.base)), ("logits", .array(logits.toArray().map { .number(Double($0)) }))])
            try Data(info.serialized().utf8).write(to: target.appendingPathComponent("peftkit_logits.json"))
        }
    }

    @Test("the same adapters on a GGUF-loaded base (q/k rows un-permuted at load) give PEFT's logits",
          arguments: ["llama-lora", "llama-dora", "llama-rslora", "llama-ia3", "llama-loha", "llama-lokr", "llama-vera-unsaved", "llama-adalora"])
    func ggufBase(_ name: String) throws {
        let reference = try Fixture.reference(name)
        let model = try LlamaForCausalLM.load(from: Fixture.adapters.appendingPathComponent("tiny-llama.gguf"))
        let peft = try PeftModel.load(model, adapter: Fixture.adapters.appendingPathComponent(name))
        let worst = Fixture.maxDifference(try Fixture.logits(peft.root, base: "tiny-llama"), reference.logits)
        #expect(worst < 1e-4, "\(name) on GGUF: max |Δ| = \(worst)")
    }

    @Test("unknown configuration keys survive a round trip; the file is sorted JSON")
    func configurationRoundTrip() throws {
        let text = try String(contentsOf: Fixture.adapters.appendingPathComponent("llama-lora/adapter_config.json"), encoding: .utf8)
        let config = try AdapterConfigurations.parse(Data(text.utf8))
        let lora = try #require(config as? LoRAConfig)
        #expect(lora.rank == 4 && lora.alpha == 8 && lora.rankPattern.map(\.pattern) == ["o_proj"] && lora.alphaPattern.first?.value == 16)
        #expect(lora.unknownMembers.contains { $0.key == "peft_version" })
        let again = try AdapterConfigurations.parse(Data(lora.fileText.utf8)) as? LoRAConfig
        #expect(again == lora)
        #expect(lora.fileText.contains("\"peft_version\": \"0.21.2\""))
        let decoded = try JSONDecoder().decode(LoRAConfig.self, from: JSONEncoder().encode(lora))
        #expect(decoded.rank == 4 && decoded.targetModules == lora.targetModules)
    }
}
