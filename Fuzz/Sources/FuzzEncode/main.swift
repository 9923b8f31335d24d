import Foundation
import PEFTKit

/// Text through the test fixtures' real tokenizers (SmolLM2 byte-level BPE with its chat template,
/// Llama-3-style regex, Llama-2-style byte fallback, Metaspace, Unigram, cased WordPiece, added-token
/// flags): the first byte picks the tokenizer, the rest is the text. Encode (special-token text
/// parsed or not), decode, streaming decode, and a chat turn.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Tests/TokenizersTests/Fixtures")
let tokenizers: [Tokenizer] = ["smollm2", "llama3-style", "llama2-style", "metaspace-bpe", "unigram", "wordpiece-cased", "added-tokens"]
    .map { try! Tokenizer.load(from: fixtures.appendingPathComponent($0)) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let selector = bytes.first else { return 0 }
    let tokenizer = tokenizers[Int(selector) % tokenizers.count]
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    for special in [false, true] {
        guard let ids = try? tokenizer.encode(text, parseSpecialTokens: special) else { continue }
        _ = try? tokenizer.decode(ids)
        _ = try? tokenizer.decode(ids, skipSpecialTokens: true)
        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: special)
        for id in ids { _ = try? decoder.step(id) }
        _ = try? decoder.finish()
    }
    if tokenizer.chatTemplate != nil { _ = try? tokenizer.encodeChat([.user(text), .assistant(text)]) }
    return 0
}
