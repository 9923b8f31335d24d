import Foundation
import Testing
import Tokenizers

/// tokenizer.json files from strangers: each class the fuzzing campaign found is a typed error or a
/// correct answer in bounded time — never a trap or a hang.
@Suite("Hostile tokenizer files")
struct HostileTokenizerTests {
    func load(_ json: String) throws -> Tokenizer {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(json.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        return try Tokenizer.load(from: folder)
    }

    @Test("a Unigram vocabulary of empty pieces encodes to the unknown token instead of trapping")
    func emptyUnigramPieces() throws {
        let tokenizer = try load(#"{"model": {"type": "Unigram", "vocab": [["", 0.0], ["", -1.0]], "unk_id": 0}}"#)
        #expect(try tokenizer.encode("abc") == [0])
    }

    @Test("catastrophic regular expressions in Split and Replace stop with a typed error", arguments: [
        #"{"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": false}"#,
        #"{"type": "Split", "pattern": {"Regex": "(a|aa)+$"}, "behavior": "Isolated", "invert": false}"#,
        #"{"type": "Split", "pattern": {"Regex": "(.*a){25}"}, "behavior": "Isolated", "invert": false}"#,
        #"{"type": "Split", "pattern": {"Regex": "((a*)*)*b"}, "behavior": "Isolated", "invert": false}"#,
    ])
    func catastrophicSplit(_ preTokenizer: String) throws {
        let tokenizer = try load(#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"}, "pre_tokenizer": \#(preTokenizer)}"#)
        let start = Date()
        #expect {
            _ = try tokenizer.encode(String(repeating: "a", count: 100) + "!")
        } throws: { error in
            guard case .patternTooExpensive(_, 101)? = error as? TokenizerError else { return false }
            return true
        }
        #expect(Date().timeIntervalSince(start) < 60, "gave up in bounded time")
    }

    @Test("a catastrophic Replace normalizer pattern is a typed error too")
    func catastrophicReplace() throws {
        let tokenizer = try load(#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}, "normalizer": {"type": "Replace", "pattern": {"Regex": "(x+x+)+y"}, "content": "z"}}"#)
        #expect(throws: TokenizerError.self) { try tokenizer.encode(String(repeating: "x", count: 60)) }
        #expect(try tokenizer.encode("xy") == [0])
    }
}
