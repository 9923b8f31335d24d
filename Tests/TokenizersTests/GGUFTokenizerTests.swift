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

@Suite("GGUF Gemma vocabularies")
struct GGUFGemmaVocabularyTests {
    static let file = Fixtures.root.appendingPathComponent("gemma-gguf/vocab.gguf")

    @Test("a Gemma-style GGUF vocabulary (merge order from the file, spaces as ▁ without a prefix, space runs respelled) tokenizes like transformers' conversion")
    func gemmaVocabulary() throws {
        let tokenizer = try Tokenizer.load(from: Self.file)
        for item in try Fixtures.cases("gemma-gguf") {
            #expect(try tokenizer.encode(item.text) == item.ids, "\(item.text.debugDescription)")
            #expect(try tokenizer.encode(item.text, addSpecialTokens: false) == item.ids_without_special_tokens)
            let parsed = try tokenizer.encode(item.text, addSpecialTokens: false, parseSpecialTokens: true)
            #expect(parsed == item.ids_parsing_special_tokens, "\(item.text.debugDescription): \(parsed)")
            #expect(try tokenizer.decode(item.ids) == item.decoded, "\(item.text.debugDescription)")
            let skipping = try tokenizer.decode(item.ids, skipSpecialTokens: true)
            #expect(skipping == item.decoded_skipping_special_tokens, "\(skipping.debugDescription) vs \(item.decoded_skipping_special_tokens.debugDescription)")
        }
        #expect(tokenizer.chatTemplate == BuiltinChatTemplates.gemma, "a gemma3 file without a template gets Gemma's")
        let prompt = try tokenizer.applyChatTemplate([.system("Be brief."), .user("  Hi "), .assistant("Hello"), .user("Bye")])
        #expect(prompt == "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n")
        #expect(try tokenizer.replacingChatTemplate("{{ messages[0]['content'] }}").applyChatTemplate([.user("x")]) == "x")
    }

    @Test("a Gemma vocabulary whose scores are missing, short or NaN is a typed error naming the key")
    func brokenScores() throws {
        var bytes = [UInt8](try Data(contentsOf: Self.file))
        let key = Array("tokenizer.ggml.scores".utf8)
        let at = try #require((0...(bytes.count - key.count)).first { bytes[$0..<($0 + key.count)].elementsEqual(key) })
        bytes[at + key.count - 1] ^= 0x20  // the key is renamed: the scores are gone
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gemma-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: TokenizerError.missingField(field: "tokenizer.ggml.scores")) { try Tokenizer.load(from: url) }
    }
}
