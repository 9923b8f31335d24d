import Foundation

/// Splits text into pre-tokens with a regular expression, the way Hugging Face's `Split` and
/// `ByteLevel` pre-tokenizers do. The GPT-2 pattern (used by GPT-2, SmolLM, RoBERTa…) runs on a
/// hand-written linear-time scanner; other patterns go through `NSRegularExpression`.
struct PatternSplitter: Sendable {
    /// The GPT-2 / ByteLevel pattern.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    enum Engine: @unchecked Sendable {
        case gpt2
        case regex(NSRegularExpression)
        case literal(String)
    }
    let engine: Engine
    /// The pattern, shortened for error messages.
    let summary: String
    /// The pattern as given (for writing `tokenizer.json` back).
    let pattern: String
    /// Whether `pattern` is a regular expression (`Regex`) or a literal (`String`).
    let isRegex: Bool

    /// A splitter for `pattern`; `isRegex` false means the pattern is a literal string.
    init(pattern: String, isRegex: Bool) throws {
        self.pattern = pattern
        self.isRegex = isRegex
        summary = pattern.count > 80 ? String(pattern.prefix(80)) + "…" : pattern
        if !isRegex {
            engine = .literal(pattern)
        } else if pattern == PatternSplitter.gpt2Pattern {
            engine = .gpt2
        } else {
            do {
                engine = .regex(try NSRegularExpression(pattern: pattern, options: []))
            } catch {
                throw TokenizerError.invalidValue(field: "pattern", reason: "regular expression '\(pattern)' does not compile")
            }
        }
    }

    /// Progress reports ICU may make per input character before matching is judged catastrophic
    /// (linear patterns make about one per 6,000 characters; `(a+)+$` on 30 characters makes
    /// thousands).
    static let progressBudget = (base: 100, perCharacters: 100)

    /// The matched ranges (as scalar offsets) in order.
    /// - Throws: `TokenizerError.patternTooExpensive` when a regular expression backtracks far beyond
    ///   what the input's length justifies (it would otherwise run for minutes or hours).
    func matches(in scalars: [Unicode.Scalar]) throws -> [Range<Int>] {
        switch engine {
        case .gpt2: return PatternSplitter.gpt2Matches(scalars)
        case let .literal(literal):
            let needle = Array(literal.unicodeScalars)
            var result: [Range<Int>] = []
            var start = 0
            while let match = ScalarSearch.firstRange(of: needle, in: scalars, from: start) {
                result.append(match)
                start = match.upperBound
            }
            return result
        case let .regex(regex):
            // NSRegularExpression works in UTF-16; convert offsets back to scalar offsets.
            let text = ScalarText.string(scalars)
            let utf16 = Array(text.utf16)
            var scalarAtUTF16 = [Int](repeating: 0, count: utf16.count + 1)
            var u = 0
            for (index, scalar) in scalars.enumerated() {
                let width = scalar.value > 0xFFFF ? 2 : 1
                for k in 0..<width { scalarAtUTF16[u + k] = index }
                u += width
            }
            scalarAtUTF16[utf16.count] = scalars.count
            let budget = Self.progressBudget.base + utf16.count / Self.progressBudget.perCharacters
            var reports = 0
            var result: [Range<Int>] = []
            regex.enumerateMatches(in: text, options: [.reportProgress], range: NSRange(location: 0, length: utf16.count)) { match, flags, stop in
                if flags.contains(.progress) {
                    reports += 1
                    if reports > budget { stop.pointee = true }
                }
                guard let range = match?.range, range.length > 0 else { return }
                result.append(scalarAtUTF16[range.location]..<scalarAtUTF16[range.location + range.length])
            }
            if reports > budget { throw TokenizerError.patternTooExpensive(pattern: summary, inputLength: scalars.count) }
            return result
        }
    }

    /// Linear-time matcher for `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    static func gpt2Matches(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        result.reserveCapacity(s.count / 4 + 1)
        let n = s.count
        var i = 0
        func isOther(_ c: Unicode.Scalar) -> Bool {
            !UnicodeClass.isWhitespace(c) && !UnicodeClass.isLetter(c) && !UnicodeClass.isNumber(c)
        }
        while i < n {
            let c = s[i]
            // Contractions.
            if c == "'" && i + 1 < n {
                let c1 = s[i + 1]
                if c1 == "s" || c1 == "t" || c1 == "m" || c1 == "d" {
                    result.append(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < n {
                    let c2 = s[i + 2]
                    if (c1 == "r" && c2 == "e") || (c1 == "v" && c2 == "e") || (c1 == "l" && c2 == "l") {
                        result.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`.
            let start = i
            let j = (c == " " && i + 1 < n) ? i + 1 : i
            let head = s[j]
            var k = j
            if UnicodeClass.isLetter(head) {
                while k < n && UnicodeClass.isLetter(s[k]) { k += 1 }
            } else if UnicodeClass.isNumber(head) {
                while k < n && UnicodeClass.isNumber(s[k]) { k += 1 }
            } else if isOther(head) {
                while k < n && isOther(s[k]) { k += 1 }
            }
            if k > j {
                result.append(start..<k); i = k; continue
            }
            // Whitespace: `\s+(?!\S)` then `\s+`.
            if UnicodeClass.isWhitespace(c) {
                var k = i
                while k < n && UnicodeClass.isWhitespace(s[k]) { k += 1 }
                if k == n || k - i == 1 {
                    result.append(i..<k); i = k
                } else {
                    result.append(i..<(k - 1)); i = k - 1
                }
                continue
            }
            // Unreachable for well-formed input (every scalar is L, N, whitespace or other); keep progress.
            result.append(i..<(i + 1)); i += 1
        }
        return result
    }
}
