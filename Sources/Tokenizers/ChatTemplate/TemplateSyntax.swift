/// Expressions of the Jinja subset.
indirect enum TemplateExpression {
    case literal(TemplateValue)
    case name(String)
    case list([TemplateExpression])
    case dictionary([(TemplateExpression, TemplateExpression)])
    case attribute(TemplateExpression, String)
    case subscriptIndex(TemplateExpression, TemplateExpression)
    case slice(TemplateExpression, TemplateExpression?, TemplateExpression?, TemplateExpression?)
    case call(TemplateExpression, [TemplateExpression], [(String, TemplateExpression)])
    case filter(TemplateExpression, String, [TemplateExpression], [(String, TemplateExpression)])
    case test(TemplateExpression, String, [TemplateExpression], negated: Bool)
    case not(TemplateExpression)
    case negate(TemplateExpression)
    case binary(String, TemplateExpression, TemplateExpression)
    case and(TemplateExpression, TemplateExpression)
    case or(TemplateExpression, TemplateExpression)
    case conditional(TemplateExpression, condition: TemplateExpression, otherwise: TemplateExpression?)
}

/// Statements and text of a parsed template.
indirect enum TemplateNode {
    case text(String)
    case output(TemplateExpression, line: Int)
    case conditional([(TemplateExpression, [TemplateNode])], otherwise: [TemplateNode]?)
    case loop(targets: [String], iterable: TemplateExpression, filter: TemplateExpression?, body: [TemplateNode],
              otherwise: [TemplateNode]?, line: Int)
    case assign(targets: [String], attribute: String?, value: TemplateExpression, line: Int)
    case assignBlock(name: String, body: [TemplateNode])
    case macro(name: String, parameters: [(String, TemplateExpression?)], body: [TemplateNode])
    case breakLoop
    case continueLoop
}

/// Recursive-descent parser over expression tokens, with Jinja's operator precedence:
/// `if/else` < `or` < `and` < `not` < comparisons/`in`/`is` < `+ -` < `~` < `* / // %` < `**` <
/// unary minus < postfix (`.x`, `[i]`, `(…)`, `|filter`).
struct ExpressionParser {
    let tokens: [ExpressionToken]
    let line: Int
    var position = 0
    /// Parenthesised, bracketed or argument sub-expressions open right now.
    private var nesting = 0
    /// Operators, calls, filters and subscripts in this expression so far.
    private var operations = 0

    /// Bounds that keep parsing, evaluating and freeing an expression tree off the stack's edge
    /// (real templates stay far below both).
    static let maxNesting = 32
    static let maxOperations = 256

    init(_ tokens: [ExpressionToken], line: Int) {
        self.tokens = tokens
        self.line = line
    }

    var atEnd: Bool { position >= tokens.count }
    var peek: ExpressionToken? { atEnd ? nil : tokens[position] }

    func error(_ message: String) -> TemplateError { TemplateError(message, line: line) }

    mutating func take(_ op: String) -> Bool {
        if peek == .op(op) { position += 1; return true }
        return false
    }

    mutating func takeName(_ name: String) -> Bool {
        if peek == .name(name) { position += 1; return true }
        return false
    }

    mutating func expect(_ op: String) throws {
        guard take(op) else { throw error("expected '\(op)'\(peek.map { " but found \(describe($0))" } ?? " at end of expression")") }
    }

    mutating func expectName() throws -> String {
        guard case let .name(name)? = peek else { throw error("expected a name") }
        position += 1
        return name
    }

    func describe(_ token: ExpressionToken) -> String {
        switch token {
        case let .name(n): return "'\(n)'"
        case let .string(s): return "string '\(s)'"
        case let .int(i): return "\(i)"
        case let .double(d): return "\(d)"
        case let .op(o): return "'\(o)'"
        }
    }

    /// Counts one operator or postfix operation.
    mutating func countOperation() throws {
        operations += 1
        if operations > Self.maxOperations { throw error("expression too complex (more than \(Self.maxOperations) operations)") }
    }

    mutating func parseExpression() throws -> TemplateExpression {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > Self.maxNesting { throw error("expression nested deeper than \(Self.maxNesting) levels") }
        let value = try parseOr()
        if takeName("if") {
            let condition = try parseOr()
            let otherwise = takeName("else") ? try parseExpression() : nil
            return .conditional(value, condition: condition, otherwise: otherwise)
        }
        return value
    }

    mutating func parseOr() throws -> TemplateExpression {
        var left = try parseAnd()
        while takeName("or") {
            try countOperation()
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws -> TemplateExpression {
        var left = try parseNot()
        while takeName("and") {
            try countOperation()
            left = .and(left, try parseNot())
        }
        return left
    }

    mutating func parseNot() throws -> TemplateExpression {
        var count = 0
        while takeName("not") {
            try countOperation()
            count += 1
        }
        var value = try parseComparison()
        for _ in 0..<count { value = .not(value) }
        return value
    }

    mutating func parseComparison() throws -> TemplateExpression {
        var left = try parseAdditive()
        while true {
            if peek.map({ [.op("=="), .op("!="), .op("<"), .op("<="), .op(">"), .op(">="), .name("in"), .name("not")].contains($0) }) ?? false {
                try countOperation()
            }
            if let op = ["==", "!=", "<", "<=", ">", ">="].first(where: { peek == .op($0) }) {
                position += 1
                left = .binary(op, left, try parseAdditive())
            } else if takeName("in") {
                left = .binary("in", left, try parseAdditive())
            } else if peek == .name("not") && position + 1 < tokens.count && tokens[position + 1] == .name("in") {
                position += 2
                left = .not(.binary("in", left, try parseAdditive()))
            } else {
                return left
            }
        }
    }

    mutating func parseAdditive() throws -> TemplateExpression {
        var left = try parseConcatenation()
        while let op = ["+", "-"].first(where: { peek == .op($0) }) {
            try countOperation()
            position += 1
            left = .binary(op, left, try parseConcatenation())
        }
        return left
    }

    mutating func parseConcatenation() throws -> TemplateExpression {
        var left = try parseMultiplicative()
        while take("~") {
            try countOperation()
            left = .binary("~", left, try parseMultiplicative())
        }
        return left
    }

    mutating func parseMultiplicative() throws -> TemplateExpression {
        var left = try parsePower()
        while let op = ["*", "/", "//", "%"].first(where: { peek == .op($0) }) {
            try countOperation()
            position += 1
            left = .binary(op, left, try parsePower())
        }
        return left
    }

    mutating func parsePower() throws -> TemplateExpression {
        let base = try parseUnary()
        if take("**") {
            try countOperation()
            return .binary("**", base, try parseUnary())
        }
        return base
    }

    mutating func parseUnary() throws -> TemplateExpression {
        var negations = 0
        while let sign = ["-", "+"].first(where: { peek == .op($0) }) {
            try countOperation()
            position += 1
            if sign == "-" { negations += 1 }
        }
        var value = try parsePostfix(try parsePrimary())
        for _ in 0..<negations { value = .negate(value) }
        return value
    }

    mutating func parseArguments() throws -> ([TemplateExpression], [(String, TemplateExpression)]) {
        var positional: [TemplateExpression] = []
        var keywords: [(String, TemplateExpression)] = []
        if take(")") { return (positional, keywords) }
        repeat {
            if case let .name(name)? = peek, position + 1 < tokens.count, tokens[position + 1] == .op("=") {
                position += 2
                keywords.append((name, try parseExpression()))
            } else {
                positional.append(try parseExpression())
            }
        } while take(",") && peek != .op(")")
        try expect(")")
        return (positional, keywords)
    }

    mutating func parsePostfix(_ base: TemplateExpression) throws -> TemplateExpression {
        var value = base
        while true {
            if let next = peek, [.op("."), .op("["), .op("("), .op("|"), .name("is")].contains(next) { try countOperation() }
            if take(".") {
                value = .attribute(value, try expectName())
            } else if take("[") {
                var start: TemplateExpression? = nil
                if peek != .op(":") { start = try parseExpression() }
                if take(":") {
                    var stop: TemplateExpression? = nil, step: TemplateExpression? = nil
                    if peek != .op("]") && peek != .op(":") { stop = try parseExpression() }
                    if take(":") && peek != .op("]") { step = try parseExpression() }
                    try expect("]")
                    value = .slice(value, start, stop, step)
                } else {
                    try expect("]")
                    guard let start else { throw error("empty subscript") }
                    value = .subscriptIndex(value, start)
                }
            } else if take("(") {
                let (positional, keywords) = try parseArguments()
                value = .call(value, positional, keywords)
            } else if take("|") {
                let name = try expectName()
                var positional: [TemplateExpression] = [], keywords: [(String, TemplateExpression)] = []
                if take("(") { (positional, keywords) = try parseArguments() }
                value = .filter(value, name, positional, keywords)
            } else if takeName("is") {
                let negated = takeName("not")
                let name = try expectName()
                var arguments: [TemplateExpression] = []
                if take("(") {
                    arguments = try parseArguments().0
                } else if let next = peek, case .name(let n) = next, !["and", "or", "else", "if", "in", "is", "not"].contains(n) {
                    arguments = [try parsePrimary()]
                } else if let next = peek, case .string = next {
                    arguments = [try parsePrimary()]
                } else if let next = peek, case .int = next {
                    arguments = [try parsePrimary()]
                }
                value = .test(value, name, arguments, negated: negated)
            } else {
                return value
            }
        }
    }

    mutating func parsePrimary() throws -> TemplateExpression {
        guard let token = peek else { throw error("unexpected end of expression") }
        position += 1
        switch token {
        case let .string(s):
            var text = s
            while case let .string(next)? = peek { text += next; position += 1 }  // adjacent literals concatenate
            return .literal(.string(text))
        case let .int(i): return .literal(.int(i))
        case let .double(d): return .literal(.double(d))
        case let .name(name):
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name)
            }
        case .op("("):
            let first = try parseExpression()
            if take(",") {
                var items = [first]
                while peek != .op(")") {
                    items.append(try parseExpression())
                    if !take(",") { break }
                }
                try expect(")")
                return .list(items)
            }
            try expect(")")
            return first
        case .op("["):
            var items: [TemplateExpression] = []
            while peek != .op("]") {
                items.append(try parseExpression())
                if !take(",") { break }
            }
            try expect("]")
            return .list(items)
        case .op("{"):
            var entries: [(TemplateExpression, TemplateExpression)] = []
            while peek != .op("}") {
                let key = try parseExpression()
                try expect(":")
                entries.append((key, try parseExpression()))
                if !take(",") { break }
            }
            try expect("}")
            return .dictionary(entries)
        default:
            throw error("unexpected \(describe(token))")
        }
    }
}

/// Builds the statement tree from lexer chunks.
struct TemplateParser {
    let chunks: [TemplateChunk]
    var position = 0
    /// Blocks (`if`, `for`, `macro` …) open right now.
    private var depth = 0
    /// Deepest block nesting accepted.
    static let maxDepth = 64

    init(_ chunks: [TemplateChunk]) { self.chunks = chunks }

    /// Parses nodes until one of `terminators` (returned with its parsed statement tokens) or the end.
    mutating func parseNodes(until terminators: Set<String>) throws -> ([TemplateNode], (keyword: String, tokens: [ExpressionToken], line: Int)?) {
        if !terminators.isEmpty {
            depth += 1
            if depth > Self.maxDepth { throw TemplateError("blocks nested deeper than \(Self.maxDepth) levels") }
        }
        defer { if !terminators.isEmpty { depth -= 1 } }
        var nodes: [TemplateNode] = []
        while position < chunks.count {
            let chunk = chunks[position]
            position += 1
            switch chunk {
            case let .text(text):
                nodes.append(.text(text))
            case let .output(source, line):
                var parser = ExpressionParser(try ExpressionLexer.tokens(source, line: line), line: line)
                let expression = try parser.parseExpression()
                guard parser.atEnd else { throw parser.error("unexpected \(parser.describe(parser.peek!)) in output") }
                nodes.append(.output(expression, line: line))
            case let .statement(source, line):
                let tokens = try ExpressionLexer.tokens(source, line: line)
                guard case let .name(keyword)? = tokens.first else { throw TemplateError("empty statement", line: line) }
                if terminators.contains(keyword) { return (nodes, (keyword, Array(tokens.dropFirst()), line)) }
                nodes.append(try parseStatement(keyword, Array(tokens.dropFirst()), line: line))
            }
        }
        if !terminators.isEmpty {
            throw TemplateError("missing {% \(terminators.sorted().joined(separator: " / ")) %} at end of template")
        }
        return (nodes, nil)
    }

    mutating func parseStatement(_ keyword: String, _ tokens: [ExpressionToken], line: Int) throws -> TemplateNode {
        var parser = ExpressionParser(tokens, line: line)
        switch keyword {
        case "if":
            var branches: [(TemplateExpression, [TemplateNode])] = []
            var condition = try parser.parseExpression()
            var otherwise: [TemplateNode]? = nil
            while true {
                let (body, end) = try parseNodes(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard let end else { throw TemplateError("missing {% endif %}", line: line) }
                if end.keyword == "elif" {
                    var inner = ExpressionParser(end.tokens, line: end.line)
                    condition = try inner.parseExpression()
                    continue
                }
                if end.keyword == "else" {
                    let (elseBody, close) = try parseNodes(until: ["endif"])
                    guard close != nil else { throw TemplateError("missing {% endif %}", line: line) }
                    otherwise = elseBody
                }
                break
            }
            return .conditional(branches, otherwise: otherwise)
        case "for":
            var targets = [try parser.expectName()]
            while parser.take(",") { targets.append(try parser.expectName()) }
            guard parser.takeName("in") else { throw parser.error("expected 'in' in for loop") }
            let iterable = try parser.parseOr()
            let filter = parser.takeName("if") ? try parser.parseExpression() : nil
            if parser.takeName("recursive") { throw parser.error("unsupported: recursive loops") }
            guard parser.atEnd else { throw parser.error("unexpected tokens after for loop header") }
            let (body, end) = try parseNodes(until: ["else", "endfor"])
            var otherwise: [TemplateNode]? = nil
            if end?.keyword == "else" {
                let (elseBody, close) = try parseNodes(until: ["endfor"])
                guard close != nil else { throw TemplateError("missing {% endfor %}", line: line) }
                otherwise = elseBody
            }
            return .loop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
        case "set":
            var targets = [try parser.expectName()]
            var attribute: String? = nil
            if parser.take(".") { attribute = try parser.expectName() }
            while parser.take(",") { targets.append(try parser.expectName()) }
            if parser.atEnd {
                guard targets.count == 1, attribute == nil else { throw parser.error("block set needs one name") }
                let (body, end) = try parseNodes(until: ["endset"])
                guard end != nil else { throw TemplateError("missing {% endset %}", line: line) }
                return .assignBlock(name: targets[0], body: body)
            }
            try parser.expect("=")
            let value = try parser.parseExpression()
            guard parser.atEnd else { throw parser.error("unexpected tokens after set") }
            return .assign(targets: targets, attribute: attribute, value: value, line: line)
        case "macro":
            let name = try parser.expectName()
            try parser.expect("(")
            var parameters: [(String, TemplateExpression?)] = []
            while !parser.take(")") {
                let parameter = try parser.expectName()
                parameters.append((parameter, parser.take("=") ? try parser.parseExpression() : nil))
                _ = parser.take(",")
            }
            let (body, end) = try parseNodes(until: ["endmacro"])
            guard end != nil else { throw TemplateError("missing {% endmacro %}", line: line) }
            return .macro(name: name, parameters: parameters, body: body)
        case "break": return .breakLoop
        case "continue": return .continueLoop
        case "generation":
            let (body, end) = try parseNodes(until: ["endgeneration"])
            guard end != nil else { throw TemplateError("missing {% endgeneration %}", line: line) }
            return .conditional([(.literal(.bool(true)), body)], otherwise: nil)
        default:
            throw TemplateError("unsupported statement '{% \(keyword) %}'", line: line)
        }
    }
}
