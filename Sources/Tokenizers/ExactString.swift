/// A string compared and hashed by its exact Unicode scalars.
///
/// Swift's `String` equality is canonical equivalence ("é" == "e\u{301}"), but a vocabulary must
/// tell precomposed and decomposed text apart, as `tokenizers` (Rust byte strings) does. Every
/// vocabulary lookup goes through this key.
struct ExactString: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (lhs: ExactString, rhs: ExactString) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var copy = string
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// A vocabulary: token strings ↔ ids with exact (scalar-level) matching.
struct Vocabulary: Sendable {
    /// Ids at or above this are rejected as implausible (no real vocabulary comes close), which
    /// bounds the id → token table a hostile file could make us allocate.
    static let maximumID = 16_777_216

    private let ids: [ExactString: Int]
    /// Token text by id (nil for holes in the id range).
    let tokens: [String?]

    init(_ entries: [(String, Int)], field: String) throws {
        var ids: [ExactString: Int] = [:]
        ids.reserveCapacity(entries.count)
        var maxID = -1
        for (token, id) in entries {
            guard id >= 0 else { throw TokenizerError.invalidValue(field: field, reason: "negative id \(id) for '\(token)'") }
            guard id < Vocabulary.maximumID else { throw TokenizerError.invalidValue(field: field, reason: "id \(id) for '\(token)' is implausibly large") }
            ids[ExactString(token)] = id
            maxID = max(maxID, id)
        }
        var tokens = [String?](repeating: nil, count: maxID + 1)
        for (token, id) in entries where tokens[id] == nil { tokens[id] = token }
        self.ids = ids
        self.tokens = tokens
    }

    subscript(token: String) -> Int? { ids[ExactString(token)] }

    var count: Int { tokens.count }
}

/// Exact (scalar-by-scalar) substring search: no Unicode equivalence and no ignorable characters
/// skipped, unlike Foundation's search.
enum ScalarSearch {
    /// The first range of `needle` in `haystack` at or after `start`.
    static func firstRange(of needle: [Unicode.Scalar], in haystack: [Unicode.Scalar], from start: Int = 0) -> Range<Int>? {
        guard !needle.isEmpty, needle.count <= haystack.count else { return nil }
        var i = max(0, start)
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i..<(i + needle.count) }
            i += 1
        }
        return nil
    }
}

extension String {
    /// True when `target`'s scalars occur in this string (an empty target always does).
    func containsExactly(_ target: String) -> Bool {
        target.isEmpty || ScalarSearch.firstRange(of: Array(target.unicodeScalars), in: Array(unicodeScalars)) != nil
    }

    /// Replaces every occurrence of `target` by `replacement`, matching exact scalars.
    func replacingExactly(_ target: String, with replacement: String) -> String {
        let needle = Array(target.unicodeScalars)
        let haystack = Array(unicodeScalars)
        guard var match = ScalarSearch.firstRange(of: needle, in: haystack) else { return self }
        var out = String.UnicodeScalarView()
        var position = 0
        while true {
            out.append(contentsOf: haystack[position..<match.lowerBound])
            out.append(contentsOf: replacement.unicodeScalars)
            position = match.upperBound
            guard let next = ScalarSearch.firstRange(of: needle, in: haystack, from: position) else { break }
            match = next
        }
        out.append(contentsOf: haystack[position...])
        return String(out)
    }
}

extension String {
    /// True when the scalars of `prefix` begin this string (no grapheme or equivalence rules).
    func hasExactPrefix(_ prefix: String) -> Bool {
        unicodeScalars.starts(with: prefix.unicodeScalars)
    }

    /// This string without its first `count` Unicode scalars.
    func droppingScalars(_ count: Int) -> String {
        String(String.UnicodeScalarView(unicodeScalars.dropFirst(count)))
    }
}

/// Fast conversions between scalar arrays and strings. `String.UnicodeScalarView.append(contentsOf:)`
/// is slow (per-scalar generic path), so hot paths encode UTF-8 bytes directly.
enum ScalarText {
    @inline(__always)
    static func appendUTF8(_ scalar: Unicode.Scalar, to bytes: inout [UInt8]) {
        let v = scalar.value
        if v < 0x80 {
            bytes.append(UInt8(v))
        } else if v < 0x800 {
            bytes.append(UInt8(0xC0 | (v >> 6))); bytes.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            bytes.append(UInt8(0xE0 | (v >> 12))); bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F))); bytes.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            bytes.append(UInt8(0xF0 | (v >> 18))); bytes.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F))); bytes.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// UTF-8 bytes of scalars.
    static func utf8<C: Collection>(_ scalars: C) -> [UInt8] where C.Element == Unicode.Scalar {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scalars.count)
        for scalar in scalars { appendUTF8(scalar, to: &bytes) }
        return bytes
    }

    /// A string made of exactly these scalars.
    static func string<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        String(decoding: utf8(scalars), as: UTF8.self)
    }
}
