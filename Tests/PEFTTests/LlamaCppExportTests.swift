import Foundation
import ModelIO
import Models
import NN
@testable import PEFT
import Testing
import Tensors

/// Export for llama.cpp and Ollama: a LoRA adapter in llama.cpp's GGUF form, and a whole model with
/// the adapter merged, each read back here to the adapted model's logits.
@Suite("llama.cpp export")
struct LlamaCppExportTests {
    static let ggufBase = Fixture.adapters.appendingPathComponent("tiny-llama.gguf")

    func base() throws -> LlamaForCausalLM { try LlamaForCausalLM.load(from: Self.ggufBase) }

    @Test("peft's LoRA adapters (rank and alpha patterns, rsLoRA, q/k in GGUF's row order) written for llama.cpp read back to peft's logits",
          arguments: ["llama-lora", "llama-rslora"])
    func adapterRoundTrip(_ name: String) throws {
        let reference = try Fixture.reference(name)
        let peft = try PeftModel.load(try base(), adapter: Fixture.adapters.appendingPathComponent(name))
        let folder = Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("adapter.gguf")
        try LlamaCppAdapter.write(peft, to: url)
        let file = try GGUFFile(contentsOf: url)
        #expect(file.metadata["general.type"]?.string == "adapter" && file.metadata["adapter.type"]?.string == "lora")
        #expect(file.metadata["general.architecture"]?.string == "llama" && file.metadata["adapter.lora.alpha"]?.double != nil)
        let names = Set(file.tensors.map(\.name))
        #expect(names.contains("blk.0.attn_q.weight.lora_a") && names.contains("blk.0.attn_q.weight.lora_b"))
        // lora_a is [r, in] (GGUF [in, r]) and lora_b [out, r] (GGUF [r, out]), as llama.cpp checks them.
        let a = try #require(file.tensors.first { $0.name == "blk.0.attn_q.weight.lora_a" }), b = try #require(file.tensors.first { $0.name == "blk.0.attn_q.weight.lora_b" })
        #expect(a.dimensions[0] == 32 && b.dimensions[1] == 32 && a.dimensions[1] == b.dimensions[0])

        let loaded = try LlamaCppAdapter.load(url, onto: try base())
        let worst = Fixture.maxDifference(try Fixture.logits(loaded.root, base: "tiny-llama"), reference.logits)
        #expect(worst < 1e-4, "\(name) through llama.cpp's form: max |Δ| = \(worst)")
        #expect(worst < 1e-4 && peft.trainableParameterCount == 0)
        let half = folder.appendingPathComponent("adapter-f16.gguf")
        try LlamaCppAdapter.write(peft, to: half, tensorType: .f16)
        let fromHalf = try LlamaCppAdapter.load(half, onto: try base())
        #expect(Fixture.maxDifference(try Fixture.logits(fromHalf.root, base: "tiny-llama"), reference.logits) < 2e-2)
    }

    @Test("the adapter file equals llama.cpp's own conversion (convert_lora_to_gguf.py): names, shapes, q/k rows, values — except where llama.cpp's converter ignores alpha_pattern")
    func matchesLlamaCppConverter() throws {
        let theirs = try GGUFFile(contentsOf: Fixture.adapters.appendingPathComponent("llama-lora.llama-cpp.gguf"))
        let peft = try PeftModel.load(try base(), adapter: Fixture.adapters.appendingPathComponent("llama-lora"))
        let url = Fixture.temporaryFolder().appendingPathExtension("gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        try LlamaCppAdapter.write(peft, to: url)
        let ours = try GGUFFile(contentsOf: url)
        #expect(ours.metadata["adapter.lora.alpha"] == theirs.metadata["adapter.lora.alpha"])
        for key in ["general.architecture", "general.type", "adapter.type"] { #expect(ours.metadata[key] == theirs.metadata[key], "\(key)") }
        #expect(Set(ours.tensors.map(\.name)) == Set(theirs.tensors.map(\.name)))
        for tensor in theirs.tensors {
            let mine = try #require(ours.tensors.first { $0.name == tensor.name })
            #expect(mine.dimensions == tensor.dimensions, "\(tensor.name)")
            let a = try ours.floats(of: mine), b = try theirs.floats(of: tensor)
            // alpha_pattern gives v_proj α = 16 (scale 16/4) where the converter keeps α = 8: its B is half what it should be.
            let factor: Float = tensor.name.contains("attn_v") && tensor.name.hasSuffix("lora_b") ? 2 : 1
            #expect(zip(a, b).map { abs($0 - factor * $1) }.max()! < 1e-6, "\(tensor.name)")
        }
    }

    @Test("methods and settings llama.cpp cannot apply are refused, pointing to the merged export",
          arguments: ["llama-dora", "llama-ia3", "llama-loha", "llama-lora-embedding", "llama-prompt"])
    func refusals(_ name: String) throws {
        let peft = try PeftModel.load(try base(), adapter: Fixture.adapters.appendingPathComponent(name))
        let url = Fixture.temporaryFolder().appendingPathExtension("gguf")
        #expect { try LlamaCppAdapter.write(peft, to: url) } throws: { error in
            guard case let .invalidState(message)? = error as? PEFTError else { return false }
            return message.contains("--format gguf") || message.contains("prompt")
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test("a file that is not a llama.cpp LoRA adapter, or one for another architecture, is refused by name")
    func foreignFiles() throws {
        #expect { try LlamaCppAdapter.load(Self.ggufBase, onto: try base()) } throws: { "\($0)".contains("not a llama.cpp LoRA adapter") }
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("gemma3"))
        writer.set("general.type", .string("adapter"))
        writer.set("adapter.type", .string("lora"))
        writer.set("adapter.lora.alpha", .float32(8))
        let url = Fixture.temporaryFolder().appendingPathExtension("gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        try writer.write(to: url)
        #expect { try LlamaCppAdapter.load(url, onto: try base()) } throws: { "\($0)".contains("architecture 'gemma3'") }
    }

    @Test("the merged model as a GGUF: f32 gives the adapted logits, f16 and Q8_0 within their rounding; untouched tensors are copied as stored",
          arguments: MergedGGUF.Encoding.allCases)
    func mergedModel(_ encoding: MergedGGUF.Encoding) throws {
        let reference = try Fixture.reference("llama-lora")
        let peft = try PeftModel.load(try base(), adapter: Fixture.adapters.appendingPathComponent("llama-lora"))
        let url = Fixture.temporaryFolder().appendingPathExtension("gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        let source = try GGUFFile(contentsOf: Self.ggufBase)
        let report = try MergedGGUF.write(peft, base: source, to: url, encoding: encoding)
        #expect(report.tensors.count == 3 * 4, "q, k, v and o of three blocks")
        let written = try GGUFFile(contentsOf: url)
        #expect(written.metadataKeys == source.metadataKeys)
        let norm = try #require(written.tensors.first { $0.name == "blk.0.attn_norm.weight" })
        #expect(written.bytes(of: norm) == source.bytes(of: source.tensors.first { $0.name == norm.name }!))
        #expect(peft.mergedAdapters.isEmpty, "the PeftModel is left unmerged")
        let merged = try LlamaForCausalLM.load(from: url)
        let worst = Fixture.maxDifference(try Fixture.logits(merged, base: "tiny-llama"), reference.logits)
        let tolerance: Float = switch encoding { case .f32: 1e-4; case .f16: 2e-2; case .q8_0: 0.1 }
        #expect(worst < tolerance, "\(encoding): max |Δ| = \(worst), largest weight error \(report.maxError)")
    }

    @Test("a model re-encoded as a whole (no adapter, every weight in f16) loads to its logits within f16 rounding; all-tensors with an adapter gives the merged logits")
    func reencodedModel() throws {
        let model = try base()
        let expected = try Fixture.logits(model, base: "tiny-llama")
        let source = try GGUFFile(contentsOf: Self.ggufBase)
        let url = Fixture.temporaryFolder().appendingPathExtension("gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        let report = try MergedGGUF.write(model, base: source, to: url, encoding: .f16)
        #expect(report.tensors.count == source.tensors.count, "every tensor of tiny-llama is a weight the model holds")
        let written = try GGUFFile(contentsOf: url)
        #expect(written.tensors.filter { $0.dimensions.count == 2 }.allSatisfy { $0.type == .f16 })
        #expect(try Fixture.logits(LlamaForCausalLM.load(from: url), base: "tiny-llama").maxAbsDifference(expected) < 2e-2)

        let reference = try Fixture.reference("llama-lora")
        let peft = try PeftModel.load(try base(), adapter: Fixture.adapters.appendingPathComponent("llama-lora"))
        try MergedGGUF.write(peft, base: source, to: url, encoding: .f32, allTensors: true)
        #expect(Fixture.maxDifference(try Fixture.logits(LlamaForCausalLM.load(from: url), base: "tiny-llama"), reference.logits) < 1e-4)
    }
}
