import Foundation
import Testing
import Tokenizers

@Suite("Tokenizer behaviour")
struct TokenizerBehaviourTests {
    @Test("the streaming decoder never emits a broken character and reassembles the text",
          arguments: ["smollm2", "llama2-style", "metaspace-bpe", "minilm", "llama3-style"])
    func streaming(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for item in try Fixtures.cases(name) {
            var decoder = tokenizer.makeStreamingDecoder()
            var pieces: [String] = []
            for id in item.ids {
                if let piece = try decoder.step(id) {
                    #expect(!piece.unicodeScalars.contains("\u{FFFD}") || item.decoded.unicodeScalars.contains("\u{FFFD}"))
                    pieces.append(piece)
                }
            }
            if let rest = try decoder.finish() { pieces.append(rest) }
            #expect(pieces.joined() == item.decoded, "\(name): \(item.text.debugDescription)")
        }
    }

    @Test("an emoji split over byte-level tokens is held back until complete")
    func heldBack() throws {
        let tokenizer = try Fixtures.tokenizer("smollm2")
        let ids = try tokenizer.encode("👨‍👩‍👧", addSpecialTokens: false)
        #expect(ids.count > 3)
        var decoder = tokenizer.makeStreamingDecoder()
        var emitted: [String] = []
        for id in ids { if let piece = try decoder.step(id) { emitted.append(piece) } }
        #expect(emitted.allSatisfy { !$0.unicodeScalars.contains("\u{FFFD}") })
        #expect(emitted.joined() == "👨‍👩‍👧")
    }

    @Test("truncation keeps special tokens; pairs use the pair template; batches match single calls")
    func truncationPairsBatches() throws {
        let bert = try Fixtures.tokenizer("minilm")
        let ids = try bert.encode("the quick brown fox jumps over the lazy dog", maxLength: 5)
        #expect(ids.count == 5 && ids.first == 101 && ids.last == 102)
        let pair = try bert.encode("question", pair: "answer")
        #expect(pair.first == 101 && pair.filter { $0 == 102 }.count == 2)
        let texts = try Fixtures.cases("minilm").map(\.text)
        #expect(try bert.encode(batch: texts) == texts.map { try bert.encode($0) })
    }

    @Test("vocabulary lookups and special tokens")
    func lookups() throws {
        let tokenizer = try Fixtures.tokenizer("smollm2")
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.id(for: "<|im_start|>") == 1 && tokenizer.token(for: 1) == "<|im_start|>")
        #expect(tokenizer.isSpecial(2) && !tokenizer.isSpecial(905))
        #expect(tokenizer.specialTokens.eos?.token == "<|im_end|>")
        #expect(throws: TokenizerError.idOutOfRange(id: 49152, vocabularySize: 49152)) { try tokenizer.decode([49152]) }
        #expect(throws: TokenizerError.invalidUTF8(context: "input text")) { try tokenizer.encode(utf8: Data([0x61, 0xC3])) }
    }

    /// Writes `json` as tokenizer.json in a fresh folder and loads it.
    func load(_ json: String) throws -> Tokenizer {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(json.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        return try Tokenizer.load(from: folder)
    }

    @Test("malformed tokenizer.json files give typed errors with the reason", arguments: [
        (#"{"#, "not valid JSON"),
        (#"[1, 2]"#, "missing or mistyped field '(root object)'"),
        (#"{"added_tokens": []}"#, "missing or mistyped field 'model'"),
        (#"{"model": {"type": "Mystery", "vocab": {}}}"#, "unsupported model type 'Mystery'"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}}"#, "token 'c' is not in the vocabulary"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#, "merged token 'ab' is not in the vocabulary"),
        (#"{"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}}"#, "id must be a non-negative integer"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}}"#, "is not two tokens"),
        (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}, "unk_token": "[UNK]"}}"#, "'[UNK]' is not in the vocabulary"),
        (#"{"model": {"type": "Unigram", "vocab": [["a", -1.0]], "unk_id": 5}}"#, "5 is outside the vocabulary"),
        (#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}, "normalizer": {"type": "Fancy"}}"#, "unsupported normalizer type 'Fancy'"),
        (#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"}}"#, "does not compile"),
        (#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}, "decoder": {"type": "Nope"}}"#, "unsupported decoder type 'Nope'"),
        (#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}, "added_tokens": [{"content": "x"}]}"#, "added_tokens[0].content/id"),
        (#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]"}}], "pair": [], "special_tokens": {}}}"#, "special token '[CLS]' is unknown"),
    ])
    func malformed(json: String, reason: String) {
        do {
            _ = try load(json)
            Issue.record("loaded a malformed tokenizer: \(json)")
        } catch let error as TokenizerError {
            #expect(error.description.contains(reason), "\(error.description)")
        } catch {
            Issue.record("untyped error \(error)")
        }
    }

    @Test("a missing path is a typed error")
    func missingPath() {
        #expect(throws: TokenizerError.unreadableFile(path: "/no/such/tokenizer", reason: "no such file or folder")) {
            try Tokenizer.load(from: URL(fileURLWithPath: "/no/such/tokenizer"))
        }
    }
}
