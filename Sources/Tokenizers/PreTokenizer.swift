/// How a `Split` pre-tokenizer treats the pieces its pattern matches.
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// Whether a Metaspace pre-tokenizer prepends the replacement character.
enum PrependScheme: String, Sendable {
    case always, first, never
}

/// Splits normalised text into pre-tokens (Hugging Face `pre_tokenizer`). Pieces are arrays of
/// Unicode scalars; `isFirst` marks the first section of the input (Metaspace's `first` scheme).
indirect enum PreTokenizer: Sendable {
    case sequence([PreTokenizer])
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(PatternSplitter, behavior: SplitBehavior, invert: Bool)
    case digits(individual: Bool)
    case whitespace
    case whitespaceSplit
    case bert
    case punctuation(SplitBehavior)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)

    typealias Piece = [Unicode.Scalar]

    func apply(_ pieces: [Piece], isFirstSection: Bool) throws -> [Piece] {
        switch self {
        case let .sequence(items):
            return try items.reduce(pieces) { try $1.apply($0, isFirstSection: isFirstSection) }
        case let .byteLevel(addPrefixSpace, useRegex):
            return pieces.flatMap { piece -> [Piece] in
                var piece = piece
                if addPrefixSpace && piece.first != " " { piece.insert(" ", at: 0) }
                let parts = useRegex ? PreTokenizer.split(piece, matches: PatternSplitter.gpt2Matches(piece), .isolated, invert: false) : [piece]
                // Map each part's UTF-8 bytes to the byte-level alphabet.
                return parts.map { ByteLevelAlphabet.encodeScalars(ScalarText.utf8($0)) }
            }
        case let .split(pattern, behavior, invert):
            return try pieces.flatMap { PreTokenizer.split($0, matches: try pattern.matches(in: $0), behavior, invert: invert) }
        case let .digits(individual):
            return pieces.flatMap { piece in
                PreTokenizer.split(piece, matches: PreTokenizer.runs(piece, individual: individual, where: UnicodeClass.isNumberForDigits),
                                   .isolated, invert: false)
            }
        case .whitespace:
            // `\w+|[^\w\s]+`: keep the matches, drop whitespace.
            return pieces.flatMap { piece -> [Piece] in
                var result: [Piece] = []
                var i = 0
                while i < piece.count {
                    let c = piece[i]
                    if UnicodeClass.isWhitespace(c) { i += 1; continue }
                    let word = UnicodeClass.isWordCharacter(c)
                    var k = i
                    while k < piece.count && !UnicodeClass.isWhitespace(piece[k]) && UnicodeClass.isWordCharacter(piece[k]) == word { k += 1 }
                    result.append(Array(piece[i..<k]))
                    i = k
                }
                return result
            }
        case .whitespaceSplit:
            return pieces.flatMap { piece in
                piece.split(whereSeparator: { UnicodeClass.isWhitespace($0) }).map(Array.init)
            }
        case .bert:
            return pieces.flatMap { piece -> [Piece] in
                piece.split(whereSeparator: { UnicodeClass.isWhitespace($0) }).flatMap { word -> [Piece] in
                    let chunk = Array(word)
                    return PreTokenizer.split(chunk, matches: PreTokenizer.runs(chunk, individual: true, where: UnicodeClass.isBertPunctuation),
                                              .isolated, invert: false)
                }
            }
        case let .punctuation(behavior):
            return pieces.flatMap { piece in
                PreTokenizer.split(piece, matches: PreTokenizer.runs(piece, individual: true, where: UnicodeClass.isPunctuation),
                                   behavior, invert: false)
            }
        case let .metaspace(replacement, scheme, split):
            return pieces.flatMap { piece -> [Piece] in
                var replaced = piece.map { $0 == " " ? replacement : $0 }
                let prepend = scheme == .always || (scheme == .first && isFirstSection)
                if prepend && replaced.first != replacement { replaced.insert(replacement, at: 0) }
                guard split else { return [replaced] }
                let matches = replaced.indices.filter { replaced[$0] == replacement }.map { $0..<($0 + 1) }
                return PreTokenizer.split(replaced, matches: matches, .mergedWithNext, invert: false)
            }
        }
    }

    /// Ranges of consecutive scalars satisfying `predicate` (each scalar alone when `individual`).
    static func runs(_ piece: Piece, individual: Bool, where predicate: (Unicode.Scalar) -> Bool) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var i = 0
        while i < piece.count {
            guard predicate(piece[i]) else { i += 1; continue }
            var k = i + 1
            if !individual { while k < piece.count && predicate(piece[k]) { k += 1 } }
            result.append(i..<k)
            i = k
        }
        return result
    }

    /// Applies a split behaviour to matched ranges (sorted, non-overlapping); empty pieces are dropped.
    static func split(_ piece: Piece, matches: [Range<Int>], _ behavior: SplitBehavior, invert: Bool) -> [Piece] {
        // Segments of the piece, each flagged as delimiter (a match, or a gap when inverted) or not.
        var segments: [(range: Range<Int>, isDelimiter: Bool)] = []
        var position = 0
        for match in matches {
            if match.lowerBound > position { segments.append((position..<match.lowerBound, invert)) }
            segments.append((match, !invert))
            position = match.upperBound
        }
        if position < piece.count { segments.append((position..<piece.count, invert)) }

        var ranges: [Range<Int>] = []
        switch behavior {
        case .removed:
            ranges = segments.filter { !$0.isDelimiter }.map(\.range)
        case .isolated:
            ranges = segments.map(\.range)
        case .contiguous:
            var previousWasDelimiter = false
            for segment in segments {
                if segment.isDelimiter == previousWasDelimiter, let last = ranges.last {
                    ranges[ranges.count - 1] = last.lowerBound..<segment.range.upperBound
                } else {
                    ranges.append(segment.range)
                }
                previousWasDelimiter = segment.isDelimiter
            }
        case .mergedWithPrevious:
            var previousWasContent = false
            for segment in segments {
                if segment.isDelimiter && previousWasContent, let last = ranges.last {
                    ranges[ranges.count - 1] = last.lowerBound..<segment.range.upperBound
                } else {
                    ranges.append(segment.range)
                }
                previousWasContent = !segment.isDelimiter
            }
        case .mergedWithNext:
            var pendingStart: Int? = nil
            for segment in segments {
                if segment.isDelimiter {
                    if let start = pendingStart { ranges.append(start..<segment.range.lowerBound) }
                    pendingStart = segment.range.lowerBound
                } else {
                    ranges.append((pendingStart ?? segment.range.lowerBound)..<segment.range.upperBound)
                    pendingStart = nil
                }
            }
            if let start = pendingStart { ranges.append(start..<piece.count) }
        }
        return ranges.filter { !$0.isEmpty }.map { Array(piece[$0]) }
    }
}

extension UnicodeClass {
    /// Rust's `char::is_numeric` (Nd, Nl, No), used by the `Digits` pre-tokenizer.
    static func isNumberForDigits(_ s: Unicode.Scalar) -> Bool { isNumber(s) }
}
