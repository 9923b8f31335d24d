import Foundation
import ModelIO
import Testing
@testable import Tokenizers

/// `huggingFaceJSON()` writes a `tokenizer.json` that loads back into the same tokenizer: every
/// fixture's parity corpus gives the reference ids and decodings again, including the two GGUF
/// vocabularies (which is how a merged GGUF model gets its `tokenizer.json`).
@Suite("tokenizer.json export")
struct ExportTests {
    static let sources: [(name: String, file: String?)] = Fixtures.tokenizers.map { ($0, nil) }
        + [("smollm2", "smollm2/vocab.gguf"), ("llama-gguf", "llama-gguf/vocab.gguf")]

    @Test("export → load gives the reference ids and decodings", arguments: sources.indices)
    func roundTrip(_ index: Int) throws {
        let (name, file) = Self.sources[index]
        let original = try file.map { try Tokenizer.load(from: Fixtures.root.appendingPathComponent($0)) } ?? Fixtures.tokenizer(name)
        // Through text, as a file on disk would go.
        let json = try JSONValue.parse(original.huggingFaceJSON().prettyPrinted())
        let config = try JSONValue.parse(original.huggingFaceConfigJSON().serialized())
        let reloaded = try Tokenizer(json: json, config: config)
        for item in try Fixtures.cases(name) {
            #expect(try reloaded.encode(item.text) == item.ids, "\(name) \(file ?? ""): \(item.text.debugDescription)")
            #expect(try reloaded.encode(item.text, addSpecialTokens: false, parseSpecialTokens: true) == item.ids_parsing_special_tokens)
            #expect(try reloaded.decode(item.ids) == item.decoded)
            #expect(try reloaded.decode(item.ids, skipSpecialTokens: true) == item.decoded_skipping_special_tokens)
        }
        #expect(reloaded.specialTokens == original.specialTokens)
        #expect(reloaded.chatTemplate == original.chatTemplate)
        #expect(reloaded.addedTokens == original.addedTokens)
    }

    @Test("files are written atomically beside each other; a folder that cannot be written is a typed error")
    func files() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("peftkit-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tokenizer = try Tokenizer.load(from: Fixtures.root.appendingPathComponent("smollm2/vocab.gguf"))
        try tokenizer.saveHuggingFaceFiles(to: folder)
        let loaded = try Tokenizer.load(from: folder)
        #expect(try loaded.encodeChat([.user("What is 2 + 2?")]) == (try tokenizer.encodeChat([.user("What is 2 + 2?")])))
        #expect(throws: ModelFileError.self) { try tokenizer.saveHuggingFaceFiles(to: folder.appendingPathComponent("missing/deeper")) }
    }
}

@Suite("tokenizer.json merges")
struct MergeSplittingTests {
    static func tokenizer(merges: [String]) throws -> Tokenizer {
        let entries = merges.map { "\"\($0)\"" }.joined(separator: ", ")
        let json = #"{"model": {"type": "BPE", "vocab": {"ด": 0, "ี": 1, "ดี": 2, "a": 3}, "merges": ["# + entries + "]}}"
        return try Tokenizer(json: try JSONValue.parse(json))
    }

    @Test("a merge is split at the space scalar, even when a combining mark follows it; a merge without a space names its index")
    func splitting() throws {
        #expect(try Self.tokenizer(merges: ["ด ี"]).encode("ดี", addSpecialTokens: false) == [2])
        #expect(throws: TokenizerError.invalidValue(field: "model.merges[1]", reason: "'ดี' is not two tokens separated by a space")) {
            try Self.tokenizer(merges: ["ด ี", "ดี"])
        }
    }
}
