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

    @Test("generate accepts --exact-decode as a flag (no value)")
    func exactDecodeFlag() {
        let model = repositoryTests.appendingPathComponent("ModelsTests/Fixtures/tiny-llama").path
        // Parsed and accepted: the run goes on to the model folder (which has no tokenizer: exit 1).
        let accepted = runTool(["generate", "--model", model, "--prompt", "hi", "--exact-decode"])
        #expect(accepted.status == 1 && accepted.error.contains("tokenizer.json"), "\(accepted.error)")
        let misuse = runTool(["generate", "--model", model, "--prompt", "hi", "--exact-decode", "yes"])
        #expect(misuse.status == 2, "\(misuse.error)")
    }

    @Test("hostile or wrong inputs: exit 1 with one bounded line naming the file and the problem")
    func hostileInputs() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let empty = runTool(["inspect", "--model", folder.path])
        #expect(empty.status == 1 && empty.error.contains("holds no .safetensors weights"))
        let tokenizer = repositoryTests.appendingPathComponent("TokenizersTests/Fixtures/wordpiece-cased/tokenizer.json")
        let wrongKind = runTool(["inspect", "--model", tokenizer.path])
        #expect(wrongKind.status == 1 && wrongKind.error.contains("neither a GGUF file"))
        let brokenGGUF = folder.appendingPathComponent("broken.gguf")
        try Data("GGUF\u{3}\0\0\0".utf8).write(to: brokenGGUF)
        let tokenize = runTool(["tokenize", "--model", brokenGGUF.path, "--text", "hi"])
        #expect(tokenize.status == 1 && tokenize.error.contains("cannot read \(brokenGGUF.path)"), "\(tokenize.error)")
        let hostile = folder.appendingPathComponent("hostile")
        try FileManager.default.createDirectory(at: hostile, withIntermediateDirectories: true)
        try Data(#"{"model_type": "\#(String(repeating: "x", count: 100_000))"}"#.utf8).write(to: hostile.appendingPathComponent("config.json"))
        let long = runTool(["generate", "--model", hostile.path, "--prompt", "hi"])
        #expect(long.status == 1 && long.error.count < 800 && long.error.contains("more characters") && !long.error.dropLast().contains("\n"))
    }

    @Test("usage errors exit 2", arguments: [
        (["generate", "--prompt", "hi"], "--model is required"),
        (["generate", "--model", "m"], "--prompt is required"),
        (["generate", "--model", "m", "--prompt", "p", "--max-tokens", "-3"], "--max-tokens expects an integer in 0…1048576, got '-3'"),
        (["generate", "--model", "m", "--prompt", "p", "--temperature", "hot"], "--temperature expects a number"),
        (["generate", "--model", "m", "--prompt", "p", "--top-p", "1.5"], "--top-p expects a number"),
        (["generate", "--model", "m", "--prompt", "p", "--seed", "-1"], "--seed expects a non-negative integer"),
        (["generate", "--model", "m", "--prompt", "p", "--raw", "--system", "s"], "--system cannot be used with --raw"),
        (["generate", "--model", "m", "--prompt", "p", "--requantize"], "--requantize needs --adapter"),
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
        #expect(result.error.contains("tokens but the model's vocabulary holds 97"), "\(result.error)")
    }

    @Test("help texts", arguments: ["generate", "inspect"])
    func help(command: String) {
        #expect(runTool([command, "--help"]).output.contains("USAGE: peftkit \(command)"))
    }
}
