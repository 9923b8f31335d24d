import Foundation

/// Text normalisation applied before pre-tokenization (Hugging Face `normalizer`).
indirect enum Normalizer: Sendable {
    case sequence([Normalizer])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case stripAccents
    case bert(cleanText: Bool, handleChineseCharacters: Bool, stripAccents: Bool, lowercase: Bool)
    case replace(PatternSplitter, content: String)
    case prepend(String)
    case strip(left: Bool, right: Bool)

    func apply(_ text: String) throws -> String {
        switch self {
        case let .sequence(items): return try items.reduce(text) { try $1.apply($0) }
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase: return Normalizer.lowercased(text)
        case .stripAccents:
            // The `StripAccents` normaliser drops every combining mark (Mn, Mc, Me); BERT's drops Mn only.
            var scalars = String.UnicodeScalarView()
            for scalar in text.unicodeScalars {
                switch scalar.properties.generalCategory {
                case .nonspacingMark, .spacingMark, .enclosingMark: continue
                default: scalars.append(scalar)
                }
            }
            return String(scalars)
        case let .bert(cleanText, handleChinese, stripAccents, lowercase):
            var scalars = String.UnicodeScalarView()
            for scalar in text.unicodeScalars {
                if cleanText {
                    if scalar.value == 0 || scalar.value == 0xFFFD || Normalizer.isBertControl(scalar) { continue }
                    if scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.isWhitespace {
                        scalars.append(" ")
                        continue
                    }
                }
                if handleChinese && UnicodeClass.isChineseCharacter(scalar) {
                    scalars.append(" "); scalars.append(scalar); scalars.append(" ")
                } else {
                    scalars.append(scalar)
                }
            }
            var result = String(scalars)
            if stripAccents { result = Normalizer.removingNonspacingMarks(result) }
            if lowercase { result = Normalizer.lowercased(result) }
            return result
        case let .replace(pattern, content):
            let scalars = Array(text.unicodeScalars)
            let matches = try pattern.matches(in: scalars)
            guard !matches.isEmpty else { return text }
            // Built as a scalar array and converted once: appending slices to a UnicodeScalarView
            // copies the string each time (quadratic on a megabyte of matches).
            let replacement = Array(content.unicodeScalars)
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(scalars.count + matches.count * max(0, replacement.count - 1))
            var position = 0
            for match in matches {
                out += scalars[position..<match.lowerBound]
                out += replacement
                position = match.upperBound
            }
            out += scalars[position...]
            return ScalarText.string(out)
        case let .prepend(prefix): return text.isEmpty ? text : prefix + text
        case let .strip(left, right):
            var scalars = Substring(text).unicodeScalars[...]
            if left { while let first = scalars.first, first.properties.isWhitespace { scalars = scalars.dropFirst() } }
            if right { while let last = scalars.last, last.properties.isWhitespace { scalars = scalars.dropLast() } }
            return String(String.UnicodeScalarView(scalars))
        }
    }

    /// Rust's `char::is_other` (Cc, Cf, Cn, Co, Cs) except tab, newline and carriage return.
    static func isBertControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// NFD, then drop nonspacing marks (Mn).
    static func removingNonspacingMarks(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.decomposedStringWithCanonicalMapping.unicodeScalars
        where scalar.properties.generalCategory != .nonspacingMark {
            scalars.append(scalar)
        }
        return String(scalars)
    }

    /// Unicode lowercase mapping applied scalar by scalar, as `tokenizers` does (no final-sigma rule:
    /// Σ always becomes σ).
    static func lowercased(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text.lowercased() }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars) }
        return String(out)
    }
}
