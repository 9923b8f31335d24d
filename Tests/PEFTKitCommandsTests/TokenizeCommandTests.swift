import Foundation
import PEFTKitCommands
import Synchronization
import Testing

/// Runs the CLI in-process and captures what it prints.
func runTool(_ arguments: [String]) -> (status: Int32, output: String, error: String) {
    let out = Mutex(""), err = Mutex("")
    let status = CommandLineTool.run(arguments, output: CommandOutput(
        standardOutput: { text in out.withLock { $0 += text } },
        standardError: { text in err.withLock { $0 += text } }))
    return (status, out.withLock { $0 }, err.withLock { $0 })
}

let smolLM2Folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("TokenizersTests/Fixtures/smollm2")

@Suite("peftkit tokenize")
struct TokenizeCommandTests {
    @Test("prints ids as one JSON array; GGUF and tokenizer.json agree")
    func ids() {
        let folder = runTool(["tokenize", "--model", smolLM2Folder.path, "--text", "Hello <|im_end|> world"])
        #expect(folder.status == 0)
        #expect(folder.output == "[19556, 2067, 108, 306, 79, 486, 108, 46, 905]\n")
        let gguf = runTool(["tokenize", "--model", smolLM2Folder.appendingPathComponent("vocab.gguf").path, "--text=Hello <|im_end|> world"])
        #expect(gguf.output == folder.output)
        let special = runTool(["tokenize", "--model", smolLM2Folder.path, "--text", "Hello <|im_end|> world", "--special"])
        #expect(special.output == "[19556, 216, 2, 905]\n")
    }

    @Test("--chat-template replaces the model's template; a missing, empty, non-UTF-8 or broken template file is exit 2 naming it")
    func chatTemplateFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cli-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func file(_ name: String, _ bytes: [UInt8]) throws -> String {
            let url = folder.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            return url.path
        }
        let own = try file("own.jinja", Array("{% for m in messages %}<<{{ m['content'] }}>>{% endfor %}".utf8))
        let plain = runTool(["tokenize", "--model", smolLM2Folder.path, "--text", "<<hi>>"])
        let templated = runTool(["tokenize", "--model", smolLM2Folder.path, "--text", "hi", "--chat", "--chat-template", own])
        #expect(templated.status == 0 && templated.output == plain.output, "\(templated.error)")
        for (path, expected) in [("", "needs a file path"), (folder.appendingPathComponent("missing.jinja").path, "cannot read --chat-template"),
                                 (try file("latin1.jinja", [0x48, 0xE9, 0xFF]), "not UTF-8"), (try file("broken.jinja", Array("{% for m in %}".utf8)), "broken.jinja")] {
            let result = runTool(["tokenize", "--model", smolLM2Folder.path, "--text", "hi", "--chat", "--chat-template", path])
            #expect(result.status == 2 && result.error.contains(expected), "'\(path)': \(result.error)")
        }
    }

    @Test("--chat applies the template like transformers' apply_chat_template(tokenize=True)")
    func chat() {
        let result = runTool(["tokenize", "--model", smolLM2Folder.path, "--text", "What is the capital of France?", "--chat"])
        #expect(result.output == "[1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712, 8182, 2, 198, 1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]\n")
        // User text that looks like a chat marker stays plain text unless --special is given.
        let injected = runTool(["tokenize", "--model", smolLM2Folder.path, "--text", "hi<|im_end|>", "--chat"])
        let injectedIDs = injected.output.dropFirst().dropLast(2).split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }
        // <|im_end|> (id 2) closes the system and the user turn; the user's own copy stays text.
        #expect(injectedIDs.filter { $0 == 2 }.count == 2)
        let parsed = runTool(["tokenize", "--model", smolLM2Folder.path, "--text", "hi<|im_end|>", "--chat", "--special"])
        let parsedIDs = parsed.output.dropFirst().dropLast(2).split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }
        #expect(parsedIDs.filter { $0 == 2 }.count == 3)
    }

    @Test("--file reads UTF-8; invalid UTF-8 fails with exit 1 and the reason")
    func file() throws {
        let directory = FileManager.default.temporaryDirectory
        let good = directory.appendingPathComponent("peftkit-\(UUID().uuidString).txt")
        try Data("Hello world".utf8).write(to: good)
        defer { try? FileManager.default.removeItem(at: good) }
        #expect(runTool(["tokenize", "--model", smolLM2Folder.path, "--file", good.path]).output == "[19556, 905]\n")
        let bad = directory.appendingPathComponent("peftkit-\(UUID().uuidString).txt")
        try Data([0x48, 0xFF, 0xFE]).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        let result = runTool(["tokenize", "--model", smolLM2Folder.path, "--file", bad.path])
        #expect(result.status == 1 && result.error.contains("not valid UTF-8"))
    }

    @Test("usage errors exit 2 with a clear message", arguments: [
        (["tokenize", "--text", "x"], "--model is required"),
        (["tokenize", "--model", "m"], "give the text with --text or --file"),
        (["tokenize", "--model", "m", "--text", "a", "--file", "b"], "cannot be combined"),
        (["tokenize", "--model", "m", "--text", "a", "--frobnicate"], "unknown option '--frobnicate'"),
        (["tokenize", "--model"], "--model needs a value"),
        (["tokenize", "--model", "m", "--model", "n", "--text", "a"], "--model given twice"),
        (["tokenize", "--chat=yes", "--model", "m", "--text", "a"], "--chat takes no value"),
        (["detokenize"], "unknown command 'detokenize'"),
    ])
    func usage(arguments: [String], message: String) {
        let result = runTool(arguments)
        #expect(result.status == 2)
        #expect(result.error.contains(message), "\(result.error)")
    }

    @Test("--help on the tool and on the command")
    func help() {
        #expect(runTool(["--help"]).output.contains("tokenize"))
        #expect(runTool(["tokenize", "--help"]).output.contains("USAGE: peftkit tokenize"))
        #expect(runTool([]).status == 2)
    }

    @Test("a missing model is a failure (exit 1) naming the path")
    func missingModel() {
        let result = runTool(["tokenize", "--model", "/nonexistent/model", "--text", "hi"])
        #expect(result.status == 1 && result.error.contains("/nonexistent/model"))
    }
}
