import Foundation
import ModelIO
import Testing
import Tokenizers

@Suite("GGUF vocabularies")
struct GGUFTokenizerTests {
    /// SmolLM2's tokenizer metadata copied out of its GGUF into a tensor-free file.
    static let vocabularyFile = Fixtures.root.appendingPathComponent("smollm2/vocab.gguf")

    @Test("SmolLM2 from GGUF metadata tokenizes exactly like its tokenizer.json")
    func smolLM2FromGGUF() throws {
        let fromGGUF = try Tokenizer.load(from: Self.vocabularyFile)
        for item in try Fixtures.cases("smollm2") {
            #expect(try fromGGUF.encode(item.text) == item.ids, "\(item.text.debugDescription)")
            #expect(try fromGGUF.encode(item.text, addSpecialTokens: false, parseSpecialTokens: true) == item.ids_parsing_special_tokens)
            #expect(try fromGGUF.decode(item.ids) == item.decoded)
            #expect(try fromGGUF.decode(item.ids, skipSpecialTokens: true) == item.decoded_skipping_special_tokens)
        }
        #expect(fromGGUF.specialTokens.bos?.id == 1 && fromGGUF.specialTokens.eos?.id == 2 && fromGGUF.specialTokens.pad?.id == 2)
        let prompt = try fromGGUF.applyChatTemplate([.user("What is the capital of France?")])
        #expect(prompt.hasPrefix("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"))
    }

    @Test("a vocabulary array retyped by a hostile file is a typed error; arrays are stored compactly")
    func retypedVocabulary() throws {
        var data = try Data(contentsOf: Self.vocabularyFile)
        let key = try #require(data.range(of: Data("tokenizer.ggml.tokens".utf8)))
        // key, then value type (u32 = 9, array), then element type (u32 = 8, string): make it uint8.
        #expect(data[key.upperBound] == 9 && data[key.upperBound + 4] == 8)
        data[key.upperBound + 4] = 0
        do {
            _ = try Tokenizer(gguf: try GGUFFile(data: data))
            Issue.record("a uint8 token array was accepted")
        } catch let error as TokenizerError {
            #expect(error.description.contains("tokenizer.ggml.tokens") && error.description.contains("uint8"), "\(error)")
        } catch let error as ModelFileError {
            #expect(!error.description.isEmpty)
        }
        let original = try GGUFFile(contentsOf: Self.vocabularyFile)
        guard case let .string(tokens)? = original.metadata["tokenizer.ggml.tokens"]?.array else {
            Issue.record("tokens are not stored as a string array")
            return
        }
        #expect(tokens.count == 49152)
    }

    /// Opt-in: set PEFTKIT_SMOLLM2_GGUF to the real model file (see README).
    @Test("the real SmolLM2 GGUF matches the fixture", .enabled(if: ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"] != nil))
    func realModelFile() throws {
        let url = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"]!)
        let tokenizer = try Tokenizer.load(from: url)
        for item in try Fixtures.cases("smollm2") { #expect(try tokenizer.encode(item.text) == item.ids) }
    }

    @Test("a GGUF without tokenizer metadata is a typed error")
    func missingMetadata() throws {
        var bytes: [UInt8] = Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 16)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: TokenizerError.missingField(field: "tokenizer.ggml.model")) { try Tokenizer.load(from: url) }
        bytes[0] = 0x58
        try Data(bytes).write(to: url)
        #expect(throws: TokenizerError.self) { try Tokenizer.load(from: url) }
    }
}

@Suite("GGUF sentencepiece vocabularies")
struct GGUFSentencePieceTests {
    @Test("a llama-type GGUF vocabulary tokenizes like transformers' conversion of it")
    func llamaVocabulary() throws {
        let tokenizer = try Tokenizer.load(from: Fixtures.root.appendingPathComponent("llama-gguf/vocab.gguf"))
        for item in try Fixtures.cases("llama-gguf") {
            #expect(try tokenizer.encode(item.text) == item.ids, "\(item.text.debugDescription)")
            #expect(try tokenizer.encode(item.text, addSpecialTokens: false) == item.ids_without_special_tokens)
            #expect(try tokenizer.encode(item.text, addSpecialTokens: false, parseSpecialTokens: true) == item.ids_parsing_special_tokens)
            #expect(try tokenizer.decode(item.ids) == item.decoded, "\(item.text.debugDescription)")
            #expect(try tokenizer.decode(item.ids, skipSpecialTokens: true) == item.decoded_skipping_special_tokens)
        }
    }
}
