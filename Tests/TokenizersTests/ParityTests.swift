import Foundation
import Testing
import Tokenizers

/// Fixture folders written by `Fixtures/make_tokenizer_fixtures.py` with Hugging Face `tokenizers`.
enum Fixtures {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    static let tokenizers = ["smollm2", "minilm", "llama2-style", "metaspace-bpe", "unigram", "llama3-style", "wordpiece-cased", "added-tokens"]

    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let ids_without_special_tokens: [Int]
        let ids_parsing_special_tokens: [Int]
        let decoded: String
        let decoded_skipping_special_tokens: String
    }
    struct File: Decodable { let cases: [Case] }

    static func cases(_ name: String) throws -> [Case] {
        try JSONDecoder().decode(File.self, from: Data(contentsOf: root.appendingPathComponent(name).appendingPathComponent("cases.json"))).cases
    }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer.load(from: root.appendingPathComponent(name))
    }
}

@Suite("Parity with Hugging Face tokenizers")
struct ParityTests {
    @Test("ids identical on the whole corpus", arguments: Fixtures.tokenizers)
    func ids(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for item in try Fixtures.cases(name) {
            #expect(try tokenizer.encode(item.text) == item.ids, "\(name): \(item.text.debugDescription)")
            #expect(try tokenizer.encode(item.text, addSpecialTokens: false) == item.ids_without_special_tokens,
                    "\(name) without special tokens: \(item.text.debugDescription)")
            #expect(try tokenizer.encode(item.text, addSpecialTokens: false, parseSpecialTokens: true) == item.ids_parsing_special_tokens,
                    "\(name) parsing special tokens: \(item.text.debugDescription)")
        }
    }

    @Test("decoding identical on the whole corpus", arguments: Fixtures.tokenizers)
    func decoding(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for item in try Fixtures.cases(name) {
            #expect(try tokenizer.decode(item.ids) == item.decoded, "\(name): \(item.text.debugDescription)")
            #expect(try tokenizer.decode(item.ids, skipSpecialTokens: true) == item.decoded_skipping_special_tokens,
                    "\(name) skipping special tokens: \(item.text.debugDescription)")
        }
    }

    @Test("byte-level round trip: decode(encode(x)) == x", arguments: ["smollm2", "llama3-style"])
    func byteLevelRoundTrip(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for item in try Fixtures.cases(name) {
            #expect(try tokenizer.decode(try tokenizer.encode(item.text, addSpecialTokens: false)) == item.text)
        }
    }
}
