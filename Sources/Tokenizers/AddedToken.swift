/// A token matched in raw text before the model runs (Hugging Face `added_tokens`).
public struct AddedToken: Sendable, Equatable {
    /// The literal text of the token.
    public var content: String
    /// Its id.
    public var id: Int
    /// Special tokens (bos, eos, chat markers…) are skipped by `decode(skipSpecialTokens:)` and are only
    /// recognised in input text when the caller opts in.
    public var special: Bool
    /// Absorb whitespace on the left of a match.
    public var leftStrip: Bool
    /// Absorb whitespace on the right of a match.
    public var rightStrip: Bool
    /// Match only when not inside a word.
    public var singleWord: Bool
    /// Match against normalised text (true) or raw text (false).
    public var normalized: Bool

    /// A token matched before the model runs, with `tokenizer.json`'s flags.
    public init(content: String, id: Int, special: Bool, leftStrip: Bool = false, rightStrip: Bool = false,
                singleWord: Bool = false, normalized: Bool = false) {
        self.content = content
        self.id = id
        self.special = special
        self.leftStrip = leftStrip
        self.rightStrip = rightStrip
        self.singleWord = singleWord
        self.normalized = normalized
    }
}

/// One stretch of input after added-token matching: plain text for the model, or a matched token.
enum Segment {
    case text([Unicode.Scalar])
    case token(Int)
}

/// Leftmost-longest matcher over a set of added tokens.
struct AddedTokenMatcher: Sendable {
    private let byFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: AddedToken)]]

    init(_ tokens: [AddedToken]) {
        var table: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: AddedToken)]] = [:]
        for token in tokens {
            let scalars = Array(token.content.unicodeScalars)
            guard let first = scalars.first else { continue }
            table[first, default: []].append((scalars, token))
        }
        for key in table.keys { table[key]!.sort { $0.scalars.count > $1.scalars.count } }
        byFirstScalar = table
    }

    var isEmpty: Bool { byFirstScalar.isEmpty }

    /// Splits `text` into text and token segments. Matches overlapping a position where `blocked` is
    /// true are ignored (text that came from user content in a chat prompt).
    func split(_ text: [Unicode.Scalar], blocked: [Bool]? = nil) -> [Segment] {
        guard !isEmpty else { return text.isEmpty ? [] : [.text(text)] }
        var segments: [Segment] = []
        var textStart = 0
        var i = 0
        let n = text.count
        while i < n {
            guard let candidates = byFirstScalar[text[i]] else { i += 1; continue }
            var matched: (start: Int, end: Int, id: Int)? = nil
            for (scalars, token) in candidates where i + scalars.count <= n {
                var equal = true
                for k in 1..<scalars.count where text[i + k] != scalars[k] { equal = false; break }
                guard equal else { continue }
                if let blocked, blocked[i..<(i + scalars.count)].contains(true) { continue }
                var start = i, end = i + scalars.count
                if token.singleWord {
                    let startOK = start == 0 || !AddedTokenMatcher.isWordCharacter(text[start - 1])
                    let endOK = end == n || !AddedTokenMatcher.isWordCharacter(text[end])
                    if !(startOK && endOK) { continue }
                }
                if token.leftStrip {
                    while start > textStart && text[start - 1].properties.isWhitespace { start -= 1 }
                }
                if token.rightStrip {
                    while end < n && text[end].properties.isWhitespace { end += 1 }
                }
                matched = (start, end, token.id)
                break
            }
            guard let match = matched else { i += 1; continue }
            if match.start > textStart { segments.append(.text(Array(text[textStart..<match.start]))) }
            segments.append(.token(match.id))
            textStart = match.end
            i = match.end
        }
        if textStart < n { segments.append(.text(Array(text[textStart..<n]))) }
        return segments
    }

    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        s == "_" || UnicodeClass.isLetter(s) || UnicodeClass.isNumber(s)
    }
}
