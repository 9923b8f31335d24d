import Foundation
import PEFTKitCommands
import Synchronization
import Testing

let repositoryTests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

@Suite("peftkit generate and inspect")
struct ModelCommandTests {
    @Test("inspect lists tensors with shapes and types and counts parameters")
    func inspect() {
        let gguf = runTool(["inspect", "--model", repositoryTests.appendingPathComponent("ModelIOTests/Fixtures/quants.gguf").path])
        #expect(gguf.status == 0)
        #expect(gguf.output.contains("t.Q4_K  [2, 256]  q4_K"))
        #expect(gguf.output.contains("parameters: "))
        let folder = runTool(["inspect", "--model", repositoryTests.appendingPathComponent("ModelsTests/Fixtures/tiny-llama").path])
        #expect(folder.output.contains("architecture: llama"))
        #expect(folder.output.contains("model.layers.0.self_attn.k_proj.weight  [16, 32]  F32"))
    }

    @Test("inspect --adapter lists the configuration, adapted modules and tensors; a broken adapter is exit 1")
    func inspectAdapter() {
        let adapters = repositoryTests.appendingPathComponent("PEFTTests/Fixtures")
        let result = runTool(["inspect", "--adapter", adapters.appendingPathComponent("llama-ia3").path])
        #expect(result.status == 0)
        #expect(result.output.contains("adapter: IA3") && result.output.contains("adapted modules: 9"))
        #expect(result.output.contains("base_model.model.model.layers.0.mlp.down_proj.ia3_l F32 [1, 48]"))
        #expect(result.output.contains("parameters: 240"))
        let missing = runTool(["generate", "--model", repositoryTests.appendingPathComponent("ModelsTests/Fixtures/tiny-llama").path,
                               "--adapter", "/nonexistent-adapter", "--prompt", "hi"])
        #expect(missing.status == 1 && missing.error.contains("no adapter_config.json"))
    }

    @Test("usage errors exit 2", arguments: [
        (["generate", "--prompt", "hi"], "--model is required"),
        (["generate", "--model", "m"], "--prompt is required"),
        (["generate", "--model", "m", "--prompt", "p", "--max-tokens", "-3"], "--max-tokens expects an integer ≥ 0, got '-3'"),
        (["generate", "--model", "m", "--prompt", "p", "--temperature", "hot"], "--temperature expects a number"),
        (["generate", "--model", "m", "--prompt", "p", "--top-p", "1.5"], "--top-p expects a number"),
        (["generate", "--model", "m", "--prompt", "p", "--seed", "-1"], "--seed expects a non-negative integer"),
        (["generate", "--model", "m", "--prompt", "p", "--raw", "--system", "s"], "--system cannot be used with --raw"),
        (["inspect"], "--model or --adapter is required"),
        (["inspect", "--model", "m", "--deep"], "unknown option '--deep'"),
    ])
    func usage(arguments: [String], message: String) {
        let result = runTool(arguments)
        #expect(result.status == 2)
        #expect(result.error.contains(message), "\(result.error)")
    }

    @Test("a model whose vocabulary is smaller than the tokenizer's fails with a typed error, not a crash")
    func mismatchedTokenizer() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tiny = repositoryTests.appendingPathComponent("ModelsTests/Fixtures/tiny-llama")
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: tiny.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(at: repositoryTests.appendingPathComponent("TokenizersTests/Fixtures/llama2-style/tokenizer.json"),
                                         to: folder.appendingPathComponent("tokenizer.json"))
        let result = runTool(["generate", "--model", folder.path, "--prompt", "Supercalifragilistic", "--raw", "--max-tokens", "2"])
        #expect(result.status == 1)
        #expect(result.error.contains("out of range"), "\(result.error)")
    }

    @Test("help texts", arguments: ["generate", "inspect"])
    func help(command: String) {
        #expect(runTool([command, "--help"]).output.contains("USAGE: peftkit \(command)"))
    }
}
