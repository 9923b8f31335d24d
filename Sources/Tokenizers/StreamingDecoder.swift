/// Decodes a stream of ids into text chunks. A chunk is emitted only when the text decoded so far
/// ends in a complete character, so multi-byte characters split across tokens (emoji, CJK under
/// byte-level BPE) never come out broken. Works for every decoder: it decodes a short window of
/// recent ids (keeping the previous token as context, which Metaspace and WordPiece need for their
/// spaces) and emits what the new id added — the method of `tokenizers`' `DecodeStream`.
public struct StreamingDecoder {
    let tokenizer: Tokenizer
    let skipSpecialTokens: Bool
    /// The window: context ids followed by ids not yet emitted.
    private var ids: [Int] = []
    /// Decoded text of the context ids at the front of the window.
    private var prefix = ""
    /// Number of context ids at the front of the window.
    private var prefixIndex = 0

    init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the new text, or nil while a character is still incomplete.
    /// - Throws: `TokenizerError.idOutOfRange` for an unknown id.
    public mutating func step(_ id: Int) throws -> String? {
        ids.append(id)
        let text = try tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        guard text.utf8.count > prefix.utf8.count, text.unicodeScalars.last != "\u{FFFD}",
              text.utf8.starts(with: prefix.utf8) else { return nil }
        let newText = String(decoding: text.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
        let newPrefixIndex = ids.count - prefixIndex
        ids.removeFirst(prefixIndex)
        prefix = try tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        prefixIndex = newPrefixIndex
        return newText
    }

    /// Whatever is still held back at the end of the stream (an incomplete character decodes to U+FFFD).
    public mutating func finish() throws -> String? {
        let text = try tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        defer { ids.removeAll(); prefix = ""; prefixIndex = 0 }
        guard text.utf8.count > prefix.utf8.count, text.utf8.starts(with: prefix.utf8) else { return nil }
        return String(decoding: text.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
}
