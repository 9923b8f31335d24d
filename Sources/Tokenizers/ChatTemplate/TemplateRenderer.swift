import Foundation

/// Evaluates a parsed template against variables.
final class TemplateRenderer {
    private var scopes: [[String: TemplateValue]]
    private var macros: [String: (parameters: [(String, TemplateExpression?)], body: [TemplateNode])] = [:]
    private var output = ""
    private let now: Date
    private let limits: TemplateLimits
    /// Statements and expressions evaluated so far (bounded by `limits.maxSteps`).
    private var steps = 0
    /// Macro calls in progress (bounded by `limits.maxCallDepth`).
    private var callDepth = 0
    /// Nested `execute`/`evaluate` frames in progress: the parser bounds blocks and expressions, and
    /// macros multiply them, so this caps the total and keeps rendering off the stack's edge.
    private var depth = 0
    private static let maxDepth = 2048

    private enum LoopSignal: Error { case breakLoop, continueLoop }

    init(variables: [String: TemplateValue], now: Date, limits: TemplateLimits = TemplateLimits()) {
        scopes = [variables]
        self.now = now
        self.limits = limits
    }

    // MARK: Budget

    /// Counts one unit of work; runaway loops end here with a typed error.
    private func step(line: Int) throws {
        steps += 1
        if steps > limits.maxSteps {
            throw TemplateError("rendering took more than \(limits.maxSteps) steps (a runaway loop?)", line: line)
        }
    }

    /// Refuses strings, lists and nesting past the limits (applied to every value an expression makes).
    private func bounded(_ value: TemplateValue, line: Int) throws -> TemplateValue {
        switch value {
        case let .string(s) where s.utf8.count > limits.maxStringBytes:
            throw TemplateError.limit("a string grew past \(limits.maxStringBytes) bytes", line: line)
        case let .array(items) where items.count > limits.maxSequenceLength:
            throw TemplateError.limit("a list grew past \(limits.maxSequenceLength) items", line: line)
        case .array, .dictionary: try checkNesting(value, line: line)
        default: break
        }
        return value
    }

    /// Refuses values nested deeper than `limits.maxValueDepth` (self-containing namespaces included).
    private func checkNesting(_ value: TemplateValue, line: Int) throws {
        if value.nestingDepth(limit: limits.maxValueDepth) > limits.maxValueDepth {
            throw TemplateError("values nest deeper than \(limits.maxValueDepth) levels", line: line)
        }
    }

    /// Appends to the output within `limits.maxOutputBytes`.
    private func emit(_ text: String, line: Int) throws {
        output += text
        if output.utf8.count > limits.maxOutputBytes {
            throw TemplateError.limit("the rendered prompt grew past \(limits.maxOutputBytes) bytes", line: line)
        }
    }

    func render(_ nodes: [TemplateNode]) throws -> String {
        do { try execute(nodes) } catch let signal as LoopSignal {
            throw TemplateError("{% \(signal == .breakLoop ? "break" : "continue") %} outside a loop")
        }
        return output
    }

    /// Enters one nested frame.
    private func enter(line: Int) throws {
        depth += 1
        if depth > Self.maxDepth { throw TemplateError("template evaluation nested deeper than \(Self.maxDepth) frames", line: line) }
    }

    // MARK: Statements

    private func execute(_ nodes: [TemplateNode]) throws {
        try enter(line: 0)
        defer { depth -= 1 }
        for node in nodes {
            try step(line: 0)
            switch node {
            case let .text(text):
                try emit(text, line: 0)
            case let .output(expression, line):
                try emit(try evaluate(expression, line: line).rendered, line: line)
            case let .conditional(branches, otherwise):
                var taken = false
                for (condition, body) in branches where try evaluate(condition, line: 0).isTruthy {
                    try execute(body)
                    taken = true
                    break
                }
                if !taken, let otherwise { try execute(otherwise) }
            case let .loop(targets, iterable, filter, body, otherwise, line):
                try runLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
            case let .assign(targets, attribute, value, line):
                let result = try evaluate(value, line: line)
                if let attribute {
                    guard case let .namespace(ns) = lookup(targets[0]) else {
                        throw TemplateError("cannot set attribute '\(attribute)' on '\(targets[0])', which is not a namespace", line: line)
                    }
                    ns.attributes[attribute] = result
                    try checkNesting(.namespace(ns), line: line)
                } else if targets.count == 1 {
                    scopes[scopes.count - 1][targets[0]] = result
                } else {
                    let items = try iterate(result, line: line)
                    guard items.count == targets.count else {
                        throw TemplateError("cannot unpack \(items.count) values into \(targets.count) names", line: line)
                    }
                    for (name, item) in zip(targets, items) { scopes[scopes.count - 1][name] = item }
                }
            case let .assignBlock(name, body):
                let saved = output
                output = ""
                try execute(body)
                let captured = output
                output = saved
                scopes[scopes.count - 1][name] = .string(captured)
            case let .macro(name, parameters, body):
                macros[name] = (parameters, body)
            case .breakLoop: throw LoopSignal.breakLoop
            case .continueLoop: throw LoopSignal.continueLoop
            }
        }
    }

    private func runLoop(targets: [String], iterable: TemplateExpression, filter: TemplateExpression?, body: [TemplateNode],
                         otherwise: [TemplateNode]?, line: Int) throws {
        var items = try iterate(try evaluate(iterable, line: line), line: line)
        if let filter {
            items = try items.filter { item in
                scopes.append(try bind(targets, to: item, line: line))
                defer { scopes.removeLast() }
                return try evaluate(filter, line: line).isTruthy
            }
        }
        if items.isEmpty {
            if let otherwise { try execute(otherwise) }
            return
        }
        for (index, item) in items.enumerated() {
            var scope = try bind(targets, to: item, line: line)
            scope["loop"] = .dictionary([
                ("index", .int(index + 1)), ("index0", .int(index)),
                ("revindex", .int(items.count - index)), ("revindex0", .int(items.count - index - 1)),
                ("first", .bool(index == 0)), ("last", .bool(index == items.count - 1)), ("length", .int(items.count)),
                ("previtem", index > 0 ? items[index - 1] : .undefined),
                ("nextitem", index + 1 < items.count ? items[index + 1] : .undefined),
            ])
            scopes.append(scope)
            defer { scopes.removeLast() }
            try step(line: line)
            do {
                try execute(body)
            } catch LoopSignal.continueLoop {
                continue
            } catch LoopSignal.breakLoop {
                break
            }
        }
    }

    private func bind(_ targets: [String], to item: TemplateValue, line: Int) throws -> [String: TemplateValue] {
        if targets.count == 1 { return [targets[0]: item] }
        let parts = try iterate(item, line: line)
        guard parts.count == targets.count else {
            throw TemplateError("cannot unpack \(parts.count) values into \(targets.count) loop variables", line: line)
        }
        return Dictionary(uniqueKeysWithValues: zip(targets, parts))
    }

    private func iterate(_ value: TemplateValue, line: Int) throws -> [TemplateValue] {
        switch value {
        case let .array(items): return items
        case let .dictionary(entries): return entries.map { .string($0.key) }
        case let .string(s): return s.map { .string(String($0)) }
        case .undefined: return []
        default: throw TemplateError("\(value.typeName) is not iterable", line: line)
        }
    }

    private func lookup(_ name: String) -> TemplateValue {
        for scope in scopes.reversed() { if let value = scope[name] { return value } }
        return .undefined
    }

    // MARK: Expressions

    func evaluate(_ expression: TemplateExpression, line: Int) throws -> TemplateValue {
        try step(line: line)
        try enter(line: line)
        defer { depth -= 1 }
        let value = try evaluateUnbounded(expression, line: line)
        switch expression {
        case .name, .literal, .attribute, .subscriptIndex: return value  // existing values, already bounded
        default: return try bounded(value, line: line)
        }
    }

    private func evaluateUnbounded(_ expression: TemplateExpression, line: Int) throws -> TemplateValue {
        switch expression {
        case let .literal(value): return value
        case let .name(name): return lookup(name)
        case let .list(items): return .array(try items.map { try evaluate($0, line: line) })
        case let .dictionary(entries):
            return .dictionary(try entries.map { key, value in
                guard case let .string(k) = try evaluate(key, line: line) else { throw TemplateError("dictionary keys must be strings", line: line) }
                return (k, try evaluate(value, line: line))
            })
        case let .attribute(base, name):
            let value = try evaluate(base, line: line)
            if case .undefined = value { throw TemplateError("'\(describe(base))' is undefined (reading .\(name))", line: line) }
            return value[name]
        case let .subscriptIndex(base, index):
            let value = try evaluate(base, line: line)
            let key = try evaluate(index, line: line)
            switch (value, key) {
            case (.undefined, _): throw TemplateError("'\(describe(base))' is undefined (subscripting it)", line: line)
            case let (.array(items), .int(i)):
                let resolved = i < 0 ? items.count + i : i
                guard resolved >= 0 && resolved < items.count else { return .undefined }
                return items[resolved]
            case let (.string(s), .int(i)):
                let characters = Array(s)
                let resolved = i < 0 ? characters.count + i : i
                guard resolved >= 0 && resolved < characters.count else { return .undefined }
                return .string(String(characters[resolved]))
            case let (_, .string(k)): return value[k]
            default: throw TemplateError("cannot index \(value.typeName) with \(key.typeName)", line: line)
            }
        case let .slice(base, start, stop, step):
            let value = try evaluate(base, line: line)
            let stepValue = try step.map { try integer(try evaluate($0, line: line), line: line) } ?? 1
            guard stepValue != 0 else { throw TemplateError("slice step cannot be zero", line: line) }
            func indices(_ count: Int) throws -> [Int] {
                func clamp(_ e: TemplateExpression?, _ fallback: Int) throws -> Int {
                    guard let e else { return fallback }
                    let raw = try integer(try evaluate(e, line: line), line: line)
                    let resolved = raw < 0 ? raw + count : raw
                    return stepValue > 0 ? min(max(resolved, 0), count) : min(max(resolved, -1), count - 1)
                }
                let from = try clamp(start, stepValue > 0 ? 0 : count - 1)
                let to = try clamp(stop, stepValue > 0 ? count : -1)
                return Array(stride(from: from, to: to, by: stepValue))
            }
            switch value {
            case let .array(items): return .array(try indices(items.count).map { items[$0] })
            case let .string(s):
                let characters = Array(s)
                return .string(String(try indices(characters.count).map { characters[$0] }))
            default: throw TemplateError("cannot slice \(value.typeName)", line: line)
            }
        case let .call(callee, positional, keywords):
            return try call(callee, positional, keywords, line: line)
        case let .filter(base, name, positional, keywords):
            let value = try evaluate(base, line: line)
            return try applyFilter(name, to: value, try positional.map { try evaluate($0, line: line) },
                                   try keywords.map { ($0.0, try evaluate($0.1, line: line)) }, line: line)
        case let .test(base, name, arguments, negated):
            let value = try evaluate(base, line: line)
            let result = try applyTest(name, to: value, try arguments.map { try evaluate($0, line: line) }, line: line)
            return .bool(negated ? !result : result)
        case let .not(inner): return .bool(!(try evaluate(inner, line: line).isTruthy))
        case let .negate(inner):
            switch try evaluate(inner, line: line) {
            case let .int(i): return .int(try TemplateArithmetic.negate(i, line: line))
            case let .double(d): return .double(-d)
            case let other: throw TemplateError("cannot negate \(other.typeName)", line: line)
            }
        case let .and(a, b):
            let left = try evaluate(a, line: line)
            return left.isTruthy ? try evaluate(b, line: line) : left
        case let .or(a, b):
            let left = try evaluate(a, line: line)
            return left.isTruthy ? left : try evaluate(b, line: line)
        case let .conditional(value, condition, otherwise):
            if try evaluate(condition, line: line).isTruthy { return try evaluate(value, line: line) }
            return try otherwise.map { try evaluate($0, line: line) } ?? .undefined
        case let .binary(op, a, b):
            return try binary(op, try evaluate(a, line: line), try evaluate(b, line: line), line: line)
        }
    }

    private func describe(_ expression: TemplateExpression) -> String {
        switch expression {
        case let .name(n): return n
        case let .attribute(base, name): return "\(describe(base)).\(name)"
        case let .subscriptIndex(base, .literal(.string(k))): return "\(describe(base))['\(k)']"
        case let .subscriptIndex(base, .literal(.int(i))): return "\(describe(base))[\(i)]"
        default: return "expression"
        }
    }

    private func integer(_ value: TemplateValue, line: Int) throws -> Int {
        switch value {
        case let .int(i): return i
        case let .bool(b): return b ? 1 : 0
        case let .double(d) where d == d.rounded(): return try TemplateArithmetic.integer(d, line: line)
        default: throw TemplateError("expected an integer, got \(value.typeName)", line: line)
        }
    }

    private func number(_ value: TemplateValue) -> Double? {
        switch value {
        case let .int(i): return Double(i)
        case let .double(d): return d
        case let .bool(b): return b ? 1 : 0
        default: return nil
        }
    }

    private func binary(_ op: String, _ a: TemplateValue, _ b: TemplateValue, line: Int) throws -> TemplateValue {
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "<", "<=", ">", ">=":
            let order: Int
            if let x = number(a), let y = number(b) {
                order = x < y ? -1 : (x > y ? 1 : 0)
            } else if case let .string(x) = a, case let .string(y) = b {
                let xs = Array(x.unicodeScalars.map(\.value)), ys = Array(y.unicodeScalars.map(\.value))
                order = xs.lexicographicallyPrecedes(ys) ? -1 : (xs == ys ? 0 : 1)
            } else {
                throw TemplateError("cannot compare \(a.typeName) with \(b.typeName)", line: line)
            }
            switch op {
            case "<": return .bool(order < 0)
            case "<=": return .bool(order <= 0)
            case ">": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "in":
            switch b {
            case let .string(s):
                guard case let .string(needle) = a else { throw TemplateError("'in <string>' needs a string on the left", line: line) }
                return .bool(s.containsExactly(needle))
            case let .array(items): return .bool(items.contains(a))
            case let .dictionary(entries):
                guard case let .string(key) = a else { return .bool(false) }
                return .bool(entries.contains { $0.key == key })
            case .undefined: throw TemplateError("'in' on an undefined value", line: line)
            default: throw TemplateError("'in' needs a string, list or mapping, got \(b.typeName)", line: line)
            }
        case "~": return .string(a.rendered + b.rendered)
        case "+":
            switch (a, b) {
            case let (.int(x), .int(y)): return .int(try TemplateArithmetic.add(x, y, line: line))
            case let (.string(x), .string(y)): return .string(x + y)
            case let (.array(x), .array(y)): return .array(x + y)
            default:
                if let x = number(a), let y = number(b) { return .double(x + y) }
                throw TemplateError("cannot add \(a.typeName) and \(b.typeName)", line: line)
            }
        case "-", "*", "/", "//", "%", "**":
            if op == "*", case let .string(s) = a, case let .int(n) = b {
                let (bytes, overflow) = s.utf8.count.multipliedReportingOverflow(by: max(0, n))
                guard !overflow, bytes <= limits.maxStringBytes else {
                    throw TemplateError.limit("a string grew past \(limits.maxStringBytes) bytes", line: line)
                }
                return .string(String(repeating: s, count: max(0, n)))
            }
            if case let .int(x) = a, case let .int(y) = b {
                switch op {
                case "-": return .int(try TemplateArithmetic.subtract(x, y, line: line))
                case "*": return .int(try TemplateArithmetic.multiply(x, y, line: line))
                case "//": return .int(try TemplateArithmetic.floorDivide(x, y, line: line))
                case "%": return .int(try TemplateArithmetic.modulo(x, y, line: line))
                case "**" where y >= 0: return .int(try TemplateArithmetic.power(x, y, line: line))
                default: break
                }
            }
            guard let x = number(a), let y = number(b) else {
                throw TemplateError("cannot apply '\(op)' to \(a.typeName) and \(b.typeName)", line: line)
            }
            switch op {
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/":
                guard y != 0 else { throw TemplateError("division by zero", line: line) }
                return .double(x / y)
            case "//", "%":
                guard y != 0 else { throw TemplateError("division by zero", line: line) }
                return op == "//" ? .double((x / y).rounded(.down)) : .double(x - (x / y).rounded(.down) * y)
            default: return .double(pow(x, y))
            }
        default:
            throw TemplateError("unsupported operator '\(op)'", line: line)
        }
    }

    // MARK: Calls

    private func call(_ callee: TemplateExpression, _ positional: [TemplateExpression], _ keywords: [(String, TemplateExpression)],
                      line: Int) throws -> TemplateValue {
        let arguments = try positional.map { try evaluate($0, line: line) }
        let named = try keywords.map { ($0.0, try evaluate($0.1, line: line)) }
        if case let .attribute(base, method) = callee {
            return try callMethod(method, on: try evaluate(base, line: line), arguments, named, line: line)
        }
        guard case let .name(name) = callee else { throw TemplateError("this expression cannot be called", line: line) }
        if let macro = macros[name] {
            callDepth += 1
            defer { callDepth -= 1 }
            guard callDepth <= limits.maxCallDepth else {
                throw TemplateError("macro '\(name)' calls nest deeper than \(limits.maxCallDepth) (unbounded recursion?)", line: line)
            }
            var scope: [String: TemplateValue] = [:]
            for (index, (parameter, defaultValue)) in macro.parameters.enumerated() {
                if index < arguments.count {
                    scope[parameter] = arguments[index]
                } else if let value = named.first(where: { $0.0 == parameter })?.1 {
                    scope[parameter] = value
                } else {
                    scope[parameter] = try defaultValue.map { try evaluate($0, line: line) } ?? .undefined
                }
            }
            let saved = output
            output = ""
            scopes.append(scope)
            defer { scopes.removeLast() }
            try execute(macro.body)
            let result = output
            output = saved
            return .string(result)
        }
        switch name {
        case "raise_exception":
            throw TemplateError("raise_exception: \(arguments.first?.rendered ?? "")", line: line)
        case "range":
            let values = try arguments.map { try integer($0, line: line) }
            let (start, stop, step) = values.count == 1 ? (0, values[0], 1) : (values.first ?? 0, values.count > 1 ? values[1] : 0, values.count > 2 ? values[2] : 1)
            guard step != 0 else { throw TemplateError("range step cannot be zero", line: line) }
            // The length, computed in Double so huge bounds cannot overflow, must fit the list limit.
            let length = max(0, ((Double(stop) - Double(start)) / Double(step)).rounded(.up))
            guard length <= Double(limits.maxSequenceLength) else {
                throw TemplateError("range of \(TemplateValue.pythonFloat(length)) items exceeds \(limits.maxSequenceLength)", line: line)
            }
            return .array(Array(stride(from: start, to: stop, by: step)).map { .int($0) })
        case "namespace":
            var attributes: [String: TemplateValue] = [:]
            if case let .dictionary(entries)? = arguments.first { for entry in entries { attributes[entry.key] = entry.value } }
            for (key, value) in named { attributes[key] = value }
            return .namespace(TemplateNamespace(attributes))
        case "dict":
            return .dictionary(named.map { ($0.0, $0.1) })
        case "strftime_now":
            guard case let .string(format)? = arguments.first else { throw TemplateError("strftime_now needs a format string", line: line) }
            return .string(TemplateRenderer.strftime(format, now))
        default:
            if case .undefined = lookup(name) { throw TemplateError("unsupported or undefined function '\(name)'", line: line) }
            throw TemplateError("'\(name)' is not callable", line: line)
        }
    }

    private func callMethod(_ method: String, on value: TemplateValue, _ arguments: [TemplateValue],
                            _ named: [(String, TemplateValue)], line: Int) throws -> TemplateValue {
        switch value {
        case let .string(s):
            func characters(_ index: Int) -> Set<Unicode.Scalar>? {
                guard index < arguments.count, case let .string(c) = arguments[index] else { return nil }
                return Set(c.unicodeScalars)
            }
            switch method {
            case "strip": return .string(TemplateRenderer.strip(s, characters(0), left: true, right: true))
            case "lstrip": return .string(TemplateRenderer.strip(s, characters(0), left: true, right: false))
            case "rstrip": return .string(TemplateRenderer.strip(s, characters(0), left: false, right: true))
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": return .string(TemplateRenderer.title(s))
            case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
            case "startswith", "endswith":
                let candidates: [String]
                switch arguments.first {
                case let .string(p)?: candidates = [p]
                case let .array(items)?: candidates = items.compactMap { if case let .string(p) = $0 { return p } else { return nil } }
                default: throw TemplateError("\(method) needs a string", line: line)
                }
                return .bool(candidates.contains { method == "startswith" ? s.hasExactPrefix($0) : s.unicodeScalars.reversed().starts(with: $0.unicodeScalars.reversed()) })
            case "split":
                if case let .string(separator)? = arguments.first, !separator.isEmpty {
                    return .array(s.components(separatedBy: separator).map { .string($0) })
                }
                return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
            case "replace":
                guard arguments.count >= 2, case let .string(from) = arguments[0], case let .string(to) = arguments[1] else {
                    throw TemplateError("replace needs two strings", line: line)
                }
                try checkReplacement(in: s, from, to, line: line)
                return .string(s.replacingExactly(from, with: to))
            case "join":
                guard case let .array(items)? = arguments.first else { throw TemplateError("join needs a list", line: line) }
                return .string(items.map(\.rendered).joined(separator: s))
            case "find":
                guard case let .string(needle)? = arguments.first else { throw TemplateError("find needs a string", line: line) }
                guard let range = s.range(of: needle) else { return .int(-1) }
                return .int(s.distance(from: s.startIndex, to: range.lowerBound))
            default: break
            }
        case let .dictionary(entries):
            switch method {
            case "items": return .array(entries.map { .array([.string($0.key), $0.value]) })
            case "keys": return .array(entries.map { .string($0.key) })
            case "values": return .array(entries.map(\.value))
            case "get":
                guard case let .string(key)? = arguments.first else { throw TemplateError("get needs a string key", line: line) }
                let found = value[key]
                if case .undefined = found { return arguments.count > 1 ? arguments[1] : .none }
                return found
            default: break
            }
        case .undefined:
            throw TemplateError("cannot call .\(method)() on an undefined value", line: line)
        default: break
        }
        throw TemplateError("unsupported method '\(method)' on \(value.typeName)", line: line)
    }

    // MARK: Filters and tests

    private func applyFilter(_ name: String, to value: TemplateValue, _ arguments: [TemplateValue],
                             _ named: [(String, TemplateValue)], line: Int) throws -> TemplateValue {
        switch name {
        case "trim":
            guard case let .string(s) = value else { return value }
            return .string(TemplateRenderer.strip(s, nil, left: true, right: true))
        case "length", "count":
            switch value {
            case let .string(s): return .int(s.count)
            case let .array(items): return .int(items.count)
            case let .dictionary(entries): return .int(entries.count)
            default: throw TemplateError("length of \(value.typeName)", line: line)
            }
        case "tojson":
            let indent = named.first(where: { $0.0 == "indent" }).map(\.1) ?? arguments.first
            var spaces: Int? = nil
            if case let .int(i)? = indent {
                guard (0...16).contains(i) else { throw TemplateError("tojson indent must be in 0...16, got \(i)", line: line) }
                spaces = i
            }
            guard let json = value.json(indent: spaces, maxDepth: limits.maxValueDepth) else {
                throw TemplateError("tojson: values nest deeper than \(limits.maxValueDepth) levels", line: line)
            }
            return .string(json)
        case "upper": return .string(value.rendered.uppercased())
        case "lower": return .string(value.rendered.lowercased())
        case "title": return .string(TemplateRenderer.title(value.rendered))
        case "capitalize":
            let s = value.rendered
            return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "string": return .string(value.rendered)
        case "int":
            switch value {
            case let .int(i): return .int(i)
            case let .double(d): return .int(try TemplateArithmetic.integer(d.rounded(.towardZero), line: line))
            case let .string(s): return .int(Int(s.trimmingCharacters(in: .whitespaces)) ?? 0)
            case let .bool(b): return .int(b ? 1 : 0)
            default: return .int(0)
            }
        case "float": return .double(number(value) ?? Double(value.rendered) ?? 0)
        case "first":
            switch value {
            case let .array(items): return items.first ?? .undefined
            case let .string(s): return s.first.map { .string(String($0)) } ?? .undefined
            default: throw TemplateError("first of \(value.typeName)", line: line)
            }
        case "last":
            switch value {
            case let .array(items): return items.last ?? .undefined
            case let .string(s): return s.last.map { .string(String($0)) } ?? .undefined
            default: throw TemplateError("last of \(value.typeName)", line: line)
            }
        case "join":
            let separator = arguments.first?.rendered ?? ""
            return .string(try iterate(value, line: line).map(\.rendered).joined(separator: separator))
        case "default", "d":
            let fallback = arguments.first ?? .string("")
            let boolean = arguments.count > 1 && arguments[1].isTruthy
            if case .undefined = value { return fallback }
            if boolean && !value.isTruthy { return fallback }
            return value
        case "replace":
            guard arguments.count >= 2 else { throw TemplateError("replace needs two arguments", line: line) }
            let (text, from, to) = (value.rendered, arguments[0].rendered, arguments[1].rendered)
            try checkReplacement(in: text, from, to, line: line)
            return .string(text.replacingExactly(from, with: to))
        case "list": return .array(try iterate(value, line: line))
        case "reverse":
            switch value {
            case let .array(items): return .array(items.reversed())
            case let .string(s): return .string(String(s.reversed()))
            default: throw TemplateError("reverse of \(value.typeName)", line: line)
            }
        case "items":
            guard case let .dictionary(entries) = value else { throw TemplateError("items of \(value.typeName)", line: line) }
            return .array(entries.map { .array([.string($0.key), $0.value]) })
        case "abs":
            if case let .int(i) = value { return .int(try TemplateArithmetic.absolute(i, line: line)) }
            return .double(Swift.abs(number(value) ?? 0))
        case "safe": return value
        case "e", "escape":  // markupsafe.escape: HTML-escapes the value's text (autoescape off does not change this)
            var escaped = ""
            for character in value.rendered.unicodeScalars {
                switch character {
                case "&": escaped += "&amp;"
                case "<": escaped += "&lt;"
                case ">": escaped += "&gt;"
                case "'": escaped += "&#39;"
                case "\"": escaped += "&#34;"
                default: escaped.unicodeScalars.append(character)
                }
            }
            return .string(escaped)
        case "selectattr", "rejectattr":
            guard let attribute = arguments.first?.rendered else { throw TemplateError("\(name) needs an attribute name", line: line) }
            let items = try iterate(value, line: line)
            let kept = try items.filter { item in
                let field = item[attribute]
                let passes = arguments.count > 1
                    ? try applyTest(arguments[1].rendered, to: field, Array(arguments.dropFirst(2)), line: line)
                    : field.isTruthy
                return name == "selectattr" ? passes : !passes
            }
            return .array(kept)
        case "map":
            let items = try iterate(value, line: line)
            if let attribute = named.first(where: { $0.0 == "attribute" })?.1.rendered {
                return .array(items.map { $0[attribute] })
            }
            guard let filterName = arguments.first?.rendered else { throw TemplateError("map needs a filter or attribute", line: line) }
            return .array(try items.map { try applyFilter(filterName, to: $0, Array(arguments.dropFirst()), [], line: line) })
        default:
            throw TemplateError("unsupported filter '\(name)'", line: line)
        }
    }

    private func applyTest(_ name: String, to value: TemplateValue, _ arguments: [TemplateValue], line: Int) throws -> Bool {
        switch name {
        case "defined": if case .undefined = value { return false } else { return true }
        case "undefined": if case .undefined = value { return true } else { return false }
        case "none": if case .none = value { return true } else { return false }
        case "string": if case .string = value { return true } else { return false }
        case "number": if case .int = value { return true } else if case .double = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": return value == .bool(true) && { if case .bool = value { return true } else { return false } }()
        case "false": return value == .bool(false) && { if case .bool = value { return true } else { return false } }()
        case "mapping": if case .dictionary = value { return true } else if case .namespace = value { return true } else { return false }
        case "iterable", "sequence":
            switch value {
            case .array, .dictionary, .string: return true
            default: return false
            }
        case "even": return try integer(value, line: line) % 2 == 0
        case "odd": return try integer(value, line: line) % 2 != 0
        case "divisibleby":
            guard let divisor = arguments.first else { throw TemplateError("divisibleby needs an argument", line: line) }
            let d = try integer(divisor, line: line)
            let n = try integer(value, line: line)
            guard d != 0 else { return false }
            return try TemplateArithmetic.modulo(n, d, line: line) == 0
        case "equalto", "eq", "==", "sameas": return arguments.first.map { value == $0 } ?? false
        case "ne", "!=": return arguments.first.map { value != $0 } ?? false
        case "in":
            guard let container = arguments.first else { throw TemplateError("'in' test needs an argument", line: line) }
            return try binary("in", value, container, line: line).isTruthy
        case "lt", "<", "le", "<=", "gt", ">", "ge", ">=":
            guard let other = arguments.first else { throw TemplateError("\(name) needs an argument", line: line) }
            let op = ["lt": "<", "le": "<=", "gt": ">", "ge": ">="][name] ?? name
            return try binary(op, value, other, line: line).isTruthy
        default:
            throw TemplateError("unsupported test '\(name)'", line: line)
        }
    }

    // MARK: Helpers

    /// Refuses a replacement whose result could pass the string limit, before building it.
    private func checkReplacement(in text: String, _ from: String, _ to: String, line: Int) throws {
        let size = text.utf8.count, growth = to.utf8.count - from.utf8.count
        guard growth > 0 else { return }
        let occurrences = from.isEmpty ? size + 1 : size / from.utf8.count
        let (extra, overflow) = occurrences.multipliedReportingOverflow(by: growth)
        guard !overflow, size + extra <= limits.maxStringBytes else {
            throw TemplateError("replace could grow a string past \(limits.maxStringBytes) bytes", line: line)
        }
    }

    static func strip(_ s: String, _ characters: Set<Unicode.Scalar>?, left: Bool, right: Bool) -> String {
        var scalars = Substring(s).unicodeScalars[...]
        func strippable(_ c: Unicode.Scalar) -> Bool { characters?.contains(c) ?? c.properties.isWhitespace }
        if left { while let first = scalars.first, strippable(first) { scalars = scalars.dropFirst() } }
        if right { while let last = scalars.last, strippable(last) { scalars = scalars.dropLast() } }
        return String(String.UnicodeScalarView(scalars))
    }

    static func title(_ s: String) -> String {
        var out = ""
        var previousIsLetter = false
        for c in s {
            out += previousIsLetter ? c.lowercased() : c.uppercased()
            previousIsLetter = c.isLetter
        }
        return out
    }

    static func strftime(_ format: String, _ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        var out = ""
        var iterator = format.makeIterator()
        while let c = iterator.next() {
            guard c == "%", let code = iterator.next() else { out.append(c); continue }
            let pattern: String
            switch code {
            case "d": pattern = "dd"
            case "b": pattern = "MMM"
            case "B": pattern = "MMMM"
            case "Y": pattern = "yyyy"
            case "m": pattern = "MM"
            case "y": pattern = "yy"
            case "H": pattern = "HH"
            case "M": pattern = "mm"
            case "S": pattern = "ss"
            case "A": pattern = "EEEE"
            case "a": pattern = "EEE"
            case "%": out.append("%"); continue
            default: out.append("%"); out.append(code); continue
            }
            formatter.dateFormat = pattern
            out += formatter.string(from: date)
        }
        return out
    }
}

extension TemplateValue {
    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "none"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "float"
        case .string: return "string"
        case .array: return "list"
        case .dictionary: return "mapping"
        case .namespace: return "namespace"
        }
    }
}
