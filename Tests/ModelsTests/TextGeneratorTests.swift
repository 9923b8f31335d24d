import Foundation
import ModelIO
import Models
import Synchronization
import Testing
import Tokenizers

@Suite("Text generation with stop strings")
struct TextGeneratorTests {
    @Test("the stop-string filter never emits a stop string, even split across pieces; the earliest stop wins")
    func filter() {
        var filter = StopStringFilter(stops: ["<END>", "ld <"])
        var printed = ""
        for piece in ["Hello ", "wor", "ld <E", "N", "D> ignored"] where !filter.stopped { printed += filter.feed(piece) }
        printed += filter.flush()
        #expect(printed == "Hello wor")
        #expect(filter.stopped)
        var none = StopStringFilter(stops: [])
        #expect(none.feed("anything") == "anything" && !none.stopped)
        var open = StopStringFilter(stops: ["STOP"])
        #expect(open.feed("abcST") == "ab")
        #expect(open.flush() == "cST")
    }

    /// A character-level WordPiece tokenizer small enough for the tiny Llama fixture (vocabulary 97).
    static func tinyTokenizer() throws -> Tokenizer {
        var vocab: [(String, Int)] = [("[UNK]", 0)]
        for (offset, scalar) in "abcdefghijklmnopqrstuvwxyz".unicodeScalars.enumerated() {
            vocab.append((String(scalar), 1 + offset))
            vocab.append(("##" + String(scalar), 27 + offset))
        }
        while vocab.count < 97 { vocab.append(("tok\(vocab.count)", vocab.count)) }
        let members = vocab.map { (key: $0.0, value: JSONValue.number(Double($0.1))) }
        let json = JSONValue.object([
            ("model", .object([("type", .string("WordPiece")), ("unk_token", .string("[UNK]")), ("vocab", .object(members))])),
            ("pre_tokenizer", .object([("type", .string("Whitespace"))])),
            ("decoder", .object([("type", .string("WordPiece")), ("prefix", .string("##")), ("cleanup", .bool(false))])),
        ])
        return try Tokenizer(json: json)
    }

    @Test("generation stops at a stop string and streams exactly the returned text")
    func stopsAtString() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tiny-llama")
        let generator = try TextGenerator(model: try LlamaForCausalLM.load(from: folder), tokenizer: try Self.tinyTokenizer())
        let prompt = try generator.tokenizer.encode("hello world")
        let full = try generator.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 12))
        #expect(full.count > 4)
        let stop = String(Array(full)[2...3])
        let streamed = Mutex("")
        let cut = try generator.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 12), stopStrings: [stop]) { text in
            streamed.withLock { $0 += text }
        }
        #expect(cut == String(full[..<full.range(of: stop)!.lowerBound]))
        #expect(streamed.withLock { $0 } == cut)
    }
}
