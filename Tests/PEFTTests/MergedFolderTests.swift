import Foundation
import ModelIO
import Models
import NN
import PEFT
import Testing
import Tensors

/// `HuggingFaceFolder.write` after `mergeAndUnload()` (what `peftkit merge` does): the written folder
/// loads as a plain model whose logits are the ones Python peft computed with the adapter applied
/// (`reference.json`, from make_peft_adapters.py), from a safetensors base and from a GGUF base.
/// With `PEFTKIT_EXPORT_MERGED=DIR` the folders are also written to DIR with PEFTKit's logits, for
/// `Fixtures/check_merged.py DIR`, which loads them with transformers.
@Suite("Merged Hugging Face folders")
struct MergedFolderTests {
    static let cases = ["llama-lora", "llama-dora", "llama-rslora", "llama-ia3"]

    @Test("a merged folder gives peft's adapted logits within 1e-4 (base from a folder and from a GGUF)", arguments: cases)
    func mergedLogits(_ name: String) throws {
        let reference = try Fixture.reference(name)
        let sources = [Fixture.models.appendingPathComponent("tiny-llama"), Fixture.adapters.appendingPathComponent("tiny-llama.gguf")]
        for source in sources {
            let peft = try PeftModel.load(try LlamaForCausalLM.load(from: source), adapter: Fixture.adapters.appendingPathComponent(name))
            let merged = try peft.mergeAndUnload()
            let folder = Fixture.temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            try HuggingFaceFolder.write(merged, source: source, to: folder)
            for file in ["config.json", "model.safetensors"] {
                #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "\(file)")
            }
            let reloaded = try LlamaForCausalLM.load(folder: folder)
            #expect(reloaded.namedParameters().allSatisfy { !$0.path.contains("lora") && !$0.path.contains("ia3") })
            let logits = try Fixture.logits(reloaded, base: "tiny-llama")
            let worst = Fixture.maxDifference(logits, reference.logits)
            #expect(worst < 1e-4, "\(name) from \(source.lastPathComponent): max |Δ| = \(worst)")
            if let export = ProcessInfo.processInfo.environment["PEFTKIT_EXPORT_MERGED"] {
                let target = URL(fileURLWithPath: export).appendingPathComponent("\(name)-from-\(source.pathExtension == "gguf" ? "gguf" : "folder")")
                try HuggingFaceFolder.write(merged, source: source, to: target, replacing: true)
                let inputs = try Fixture.inputs("tiny-llama")
                let info: JSONValue = .object([("input_ids", .array(inputs.input_ids.map { .number(Double($0)) })),
                                               ("logits", .array(logits.toArray().map { .number(Double($0)) }))])
                try Data(info.serialized().utf8).write(to: target.appendingPathComponent("peftkit_logits.json"))
            }
        }
    }

    @Test("refusals: an existing destination without replacing, non-finite weights; nothing is published")
    func refusals() throws {
        let source = Fixture.models.appendingPathComponent("tiny-llama")
        let model = try LlamaForCausalLM.load(folder: source)
        let folder = Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try HuggingFaceFolder.write(model, source: source, to: folder)
        #expect(throws: ModelError.self) { try HuggingFaceFolder.write(model, source: source, to: folder) }
        let weight = model.namedParameters()[0].parameter
        weight.value.addScaled(Tensor(repeating: .nan, shape: weight.shape), by: 1)
        let other = Fixture.temporaryFolder()
        #expect(throws: ModelError.self) { try HuggingFaceFolder.write(model, source: source, to: other) }
        #expect(!FileManager.default.fileExists(atPath: other.path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: other.deletingLastPathComponent().path)
            .filter { $0.hasPrefix(".\(other.lastPathComponent)") }
        #expect(leftovers.isEmpty)
    }
}
