/// Splits a Jinja template into text, `{{ … }}` outputs and `{% … %}` statements, applying
/// whitespace control (`{%- … -%}`) and the `trim_blocks` / `lstrip_blocks` settings that
/// transformers renders chat templates with.
enum TemplateChunk: Equatable {
    case text(String)
    case output(String, line: Int)
    case statement(String, line: Int)
}

enum TemplateLexer {
    static func chunks(_ source: String, trimBlocks: Bool = true, lstripBlocks: Bool = true) throws -> [TemplateChunk] {
        let s = Array(source.unicodeScalars)
        var chunks: [TemplateChunk] = []
        var text: [Unicode.Scalar] = []
        var i = 0
        var line = 1
        var stripNextLeadingWhitespace = false
        var trimNextNewline = false

        func flushText() {
            if !text.isEmpty {
                var view = String.UnicodeScalarView()
                view.append(contentsOf: text)
                chunks.append(.text(String(view)))
            }
            text.removeAll()
        }

        while i < s.count {
            let opensTag = s[i] == "{" && i + 1 < s.count && (s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#")
            if !opensTag {
                if stripNextLeadingWhitespace {
                    if s[i].properties.isWhitespace { if s[i] == "\n" { line += 1 }; i += 1; continue }
                    stripNextLeadingWhitespace = false
                }
                if trimNextNewline {
                    trimNextNewline = false
                    if s[i] == "\n" { line += 1; i += 1; continue }
                    if s[i] == "\r" && i + 1 < s.count && s[i + 1] == "\n" { line += 1; i += 2; continue }
                }
                if s[i] == "\n" { line += 1 }
                text.append(s[i])
                i += 1
                continue
            }
            stripNextLeadingWhitespace = false
            trimNextNewline = false
            let kind = s[i + 1]
            let close: Unicode.Scalar = kind == "{" ? "}" : kind
            var start = i + 2
            let leftStrip = start < s.count && s[start] == "-"
            let leftKeep = start < s.count && s[start] == "+"
            if leftStrip || leftKeep { start += 1 }
            // Whitespace control on the text before the tag.
            if leftStrip {
                while let last = text.last, last.properties.isWhitespace { text.removeLast() }
            } else if lstripBlocks && !leftKeep && kind != "{" {
                var k = text.count
                while k > 0 && (text[k - 1] == " " || text[k - 1] == "\t") { k -= 1 }
                if k == 0 ? chunks.isEmpty || endsWithNewline(chunks) : text[k - 1] == "\n" { text.removeSubrange(k...) }
            }
            // Find the end of the tag (strings inside expressions may contain the closing characters).
            var j = start
            var quote: Unicode.Scalar? = nil
            var end: Int? = nil
            let tagLine = line
            while j + 1 < s.count {
                let c = s[j]
                if c == "\n" { line += 1 }
                if let q = quote {
                    if c == "\\" { j += 2; continue }
                    if c == q { quote = nil }
                } else if kind != "#" && (c == "'" || c == "\"") {
                    quote = c
                } else if c == close && s[j + 1] == "}" {
                    end = j
                    break
                }
                j += 1
            }
            guard let tagEnd = end else { throw TemplateError("unclosed tag '{\(kind)'", line: tagLine) }
            var bodyEnd = tagEnd
            let rightStrip = bodyEnd > start && s[bodyEnd - 1] == "-"
            let rightKeep = bodyEnd > start && s[bodyEnd - 1] == "+"
            if rightStrip || rightKeep { bodyEnd -= 1 }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: s[start..<max(start, bodyEnd)])
            let body = String(view)
            flushText()
            switch kind {
            case "{": chunks.append(.output(body, line: tagLine))
            case "%": chunks.append(.statement(body, line: tagLine))
            default: break  // comment
            }
            i = tagEnd + 2
            if rightStrip {
                stripNextLeadingWhitespace = true
            } else if trimBlocks && !rightKeep && kind != "{" {
                trimNextNewline = true
            }
        }
        flushText()
        return chunks
    }

    private static func endsWithNewline(_ chunks: [TemplateChunk]) -> Bool {
        // A tag at the very start of the template counts as the start of a line; after another tag,
        // only text ending in a newline does.
        if case let .text(t)? = chunks.last { return t.unicodeScalars.last == "\n" }
        return false
    }
}

/// A lexical token inside `{{ }}` / `{% %}`.
enum ExpressionToken: Equatable {
    case name(String)
    case string(String)
    case int(Int)
    case double(Double)
    case op(String)
}

enum ExpressionLexer {
    static let operators = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=",
                            "(", ")", "[", "]", "{", "}", ".", ",", ":", "|"]

    static func tokens(_ source: String, line: Int) throws -> [ExpressionToken] {
        let s = Array(source.unicodeScalars)
        var result: [ExpressionToken] = []
        var i = 0
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace { i += 1; continue }
            if c == "_" || UnicodeClass.isLetter(c) {
                var j = i
                while j < s.count && (s[j] == "_" || UnicodeClass.isLetter(s[j]) || UnicodeClass.isNumber(s[j])) { j += 1 }
                result.append(.name(string(s[i..<j])))
                i = j
                continue
            }
            if c.value >= 0x30 && c.value <= 0x39 {
                var j = i
                while j < s.count && ((s[j].value >= 0x30 && s[j].value <= 0x39) || s[j] == "_") { j += 1 }
                var isDouble = false
                if j + 1 < s.count && s[j] == "." && s[j + 1].value >= 0x30 && s[j + 1].value <= 0x39 {
                    isDouble = true
                    j += 1
                    while j < s.count && s[j].value >= 0x30 && s[j].value <= 0x39 { j += 1 }
                }
                let text = string(s[i..<j]).replacingOccurrences(of: "_", with: "")
                if isDouble, let d = Double(text) { result.append(.double(d)) } else if let n = Int(text) { result.append(.int(n)) } else {
                    throw TemplateError("invalid number '\(text)'", line: line)
                }
                i = j
                continue
            }
            if c == "'" || c == "\"" {
                var j = i + 1
                var value = String.UnicodeScalarView()
                var closed = false
                while j < s.count {
                    if s[j] == c { closed = true; break }
                    if s[j] == "\\" && j + 1 < s.count {
                        let e = s[j + 1]
                        switch e {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "r": value.append("\r")
                        case "\\": value.append("\\")
                        case "'": value.append("'")
                        case "\"": value.append("\"")
                        default: value.append("\\"); value.append(e)
                        }
                        j += 2
                        continue
                    }
                    value.append(s[j])
                    j += 1
                }
                guard closed else { throw TemplateError("unterminated string literal", line: line) }
                result.append(.string(String(value)))
                i = j + 1
                continue
            }
            guard let op = operators.first(where: { matches(s, at: i, $0) }) else {
                throw TemplateError("unexpected character '\(c)'", line: line)
            }
            result.append(.op(op))
            i += op.unicodeScalars.count
        }
        return result
    }

    private static func matches(_ s: [Unicode.Scalar], at i: Int, _ op: String) -> Bool {
        let o = Array(op.unicodeScalars)
        return i + o.count <= s.count && Array(s[i..<(i + o.count)]) == o
    }

    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
