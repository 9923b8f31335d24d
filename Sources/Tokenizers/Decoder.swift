import Foundation

/// Turns token strings back into text (Hugging Face `decoder`).
indirect enum Decoder: Sendable {
    case byteLevel
    case wordPiece(prefix: String, cleanup: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(PatternSplitter, content: String)
    case bpe(suffix: String)
    case sequence([Decoder])

    func decode(_ tokens: [String]) throws -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                for scalar in token.unicodeScalars {
                    if let byte = ByteLevelAlphabet.bytes[scalar.value] {
                        bytes.append(byte)
                    } else {
                        bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
                    }
                }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .wordPiece(prefix, cleanup):
            return tokens.enumerated().map { index, token in
                var piece = token
                if index > 0 {
                    if piece.hasExactPrefix(prefix) { piece = piece.droppingScalars(prefix.unicodeScalars.count) } else { piece = " " + piece }
                }
                return cleanup ? Decoder.cleanUpTokenization(piece) : piece
            }
        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { index, token in
                var scalars = String.UnicodeScalarView()
                for scalar in token.unicodeScalars { scalars.append(scalar == replacement ? " " : scalar) }
                var piece = String(scalars)
                if index == 0 && scheme != .never && piece.hasExactPrefix(" ") { piece = piece.droppingScalars(1) }
                return piece
            }
        case .byteFallback:
            var result: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let text = String(validating: pending, as: UTF8.self) {
                    result.append(text)
                } else {
                    result.append(contentsOf: Array(repeating: "\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for token in tokens {
                if let byte = Decoder.fallbackByte(token) {
                    pending.append(byte)
                } else {
                    flush()
                    result.append(token)
                }
            }
            flush()
            return result
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { token in
                var scalars = Array(token.unicodeScalars)
                var removed = 0
                while removed < start, scalars.first == content { scalars.removeFirst(); removed += 1 }
                removed = 0
                while removed < stop, scalars.last == content { scalars.removeLast(); removed += 1 }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars)
                return String(view)
            }
        case let .replace(pattern, content):
            return try tokens.map { try Normalizer.replace(pattern, content: content).apply($0) }
        case let .bpe(suffix):
            return tokens.enumerated().map { index, token in
                token.replacingExactly(suffix, with: index == tokens.count - 1 ? "" : " ")
            }
        case let .sequence(items):
            return try items.reduce(tokens) { try $1.decode($0) }
        }
    }

    /// `<0xAB>` → 0xAB.
    static func fallbackByte(_ token: String) -> UInt8? {
        let utf8 = Array(token.utf8)
        guard utf8.count == 6, utf8[0] == UInt8(ascii: "<"), utf8[1] == UInt8(ascii: "0"), utf8[2] == UInt8(ascii: "x"),
              utf8[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: utf8[3...4], as: UTF8.self), radix: 16)
    }

    /// Hugging Face's `clean_up_tokenization`.
    static func cleanUpTokenization(_ text: String) -> String {
        var result = text
        for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                           (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            result = result.replacingExactly(from, with: to)
        }
        return result
    }
}
