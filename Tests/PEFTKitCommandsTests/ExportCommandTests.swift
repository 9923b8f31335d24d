import Foundation
import PEFTKit
import PEFTKitCommands
import Testing

private let fixtures = repositoryTests.appendingPathComponent("PEFTTests/Fixtures")
private let ggufBase = fixtures.appendingPathComponent("tiny-llama.gguf").path

/// `peftkit export`: the adapter for llama.cpp, or the merged model, read back to the same logits.
@Suite("peftkit export")
struct ExportCommandTests {
    @Test("gguf-lora and gguf write files that load back to the adapter's logits; unsupported methods and paths are usage errors")
    func export() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cli-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let adapter = fixtures.appendingPathComponent("llama-lora").path
        let ids = [3, 17, 42, 5, 9]
        let base = try LlamaForCausalLM.load(from: URL(fileURLWithPath: ggufBase))
        let peft = try PeftModel.load(base, adapter: URL(fileURLWithPath: adapter))
        let expected = try withoutGradients { try base.lastLogits(ids, cache: base.makeCache()) }
        _ = peft

        let lora = folder.appendingPathComponent("adapter.gguf")
        let written = runTool(["export", "--model", ggufBase, "--adapter", adapter, "--output", lora.path, "--type", "f32"])
        #expect(written.status == 0 && written.output.contains("--lora"), "\(written.error)")
        let fromLoRA = try LlamaCppAdapter.load(lora, onto: try LlamaForCausalLM.load(from: URL(fileURLWithPath: ggufBase)))
        let viaLoRA = try withoutGradients { try (fromLoRA.root as! LlamaForCausalLM).lastLogits(ids, cache: fromLoRA.model.makeCache()) }
        #expect(zip(viaLoRA, expected).map { abs($0 - $1) }.max()! < 1e-4)

        let merged = folder.appendingPathComponent("merged.gguf")
        let whole = runTool(["export", "--model", ggufBase, "--adapter", adapter, "--output", merged.path, "--format", "gguf", "--type", "f32"])
        #expect(whole.status == 0 && whole.output.contains("largest error 0"), "\(whole.error)")
        let plain = try LlamaForCausalLM.load(from: merged)
        let viaMerged = try withoutGradients { try plain.lastLogits(ids, cache: plain.makeCache()) }
        #expect(zip(viaMerged, expected).map { abs($0 - $1) }.max()! < 1e-4)

        let dora = runTool(["export", "--model", ggufBase, "--adapter", fixtures.appendingPathComponent("llama-dora").path, "--output",
                            folder.appendingPathComponent("dora.gguf").path])
        #expect(dora.status == 1 && dora.error.contains("DoRA") && dora.error.contains("--format gguf"), "\(dora.error)")
        let intoInput = runTool(["export", "--model", ggufBase, "--adapter", adapter, "--output", ggufBase])
        #expect(intoInput.status == 2, "the output may not replace an input")
        let q8LoRA = runTool(["export", "--model", ggufBase, "--adapter", adapter, "--output", lora.path, "--type", "q8_0"])
        #expect(q8LoRA.status == 2)
    }
}
