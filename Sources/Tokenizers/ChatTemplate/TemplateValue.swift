import ModelIO
import Foundation

/// A value inside a chat template: the Python/Jinja data model reduced to what templates use.
public indirect enum TemplateValue: Sendable, Equatable {
    /// A name that is not defined (Jinja's `Undefined`: empty when printed, false when tested).
    case undefined
    /// `none`.
    case none
    /// A boolean.
    case bool(Bool)
    /// An integer (64-bit; overflow is an error).
    case int(Int)
    /// A float.
    case double(Double)
    /// A string.
    case string(String)
    /// A list.
    case array([TemplateValue])
    /// Insertion-ordered mapping with string keys (JSON objects, messages).
    case dictionary([(key: String, value: TemplateValue)])
    /// A `namespace()` object: mutable attributes shared across scopes.
    case namespace(TemplateNamespace)

    /// Equal when every field is equal.
    public static func == (lhs: TemplateValue, rhs: TemplateValue) -> Bool {
        switch (lhs, rhs) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return a == b
        case let (.int(a), .double(b)), let (.double(b), .int(a)): return Double(a) == b
        case let (.bool(a), .int(b)), let (.int(b), .bool(a)): return (a ? 1 : 0) == b
        case let (.string(a), .string(b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case let (.array(a), .array(b)): return a == b
        case let (.dictionary(a), .dictionary(b)):
            return a.count == b.count && a.allSatisfy { entry in b.contains { $0.key == entry.key && $0.value == entry.value } }
        case let (.namespace(a), .namespace(b)): return a === b
        default: return false
        }
    }

    /// Python truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case let .bool(b): return b
        case let .int(i): return i != 0
        case let .double(d): return d != 0
        case let .string(s): return !s.isEmpty
        case let .array(a): return !a.isEmpty
        case let .dictionary(d): return !d.isEmpty
        case .namespace: return true
        }
    }

    /// Member lookup for `x.key` / `x['key']` on mappings.
    subscript(key: String) -> TemplateValue {
        switch self {
        case let .dictionary(entries): return entries.first(where: { $0.key == key })?.value ?? .undefined
        case let .namespace(ns): return ns.attributes[key] ?? .undefined
        default: return .undefined
        }
    }

    /// Python `str()` of the value, as `{{ value }}` prints it.
    var rendered: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .double(d): return TemplateValue.pythonFloat(d)
        case let .string(s): return s
        case .array, .dictionary, .namespace: return pythonRepresentation
        }
    }

    /// Python `repr()`.
    var pythonRepresentation: String {
        switch self {
        case let .string(s):
            let quote = s.contains("'") && !s.contains("\"") ? "\"" : "'"
            var out = quote
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if String(scalar) == quote { out += "\\" + quote } else { out.unicodeScalars.append(scalar) }
                }
            }
            return out + quote
        case let .array(items): return "[" + items.map(\.pythonRepresentation).joined(separator: ", ") + "]"
        case let .dictionary(entries):
            return "{" + entries.map { TemplateValue.string($0.key).pythonRepresentation + ": " + $0.value.pythonRepresentation }
                .joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        default: return rendered
        }
    }

    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded() && abs(d) < 1e16 { return String(format: "%.1f", d) }
        return "\(d)"
    }

    /// `json.dumps(value, ensure_ascii=False)` with optional indentation, as transformers' `tojson`;
    /// nil when values nest deeper than `maxDepth` (a namespace can even contain itself).
    func json(indent: Int?, maxDepth: Int, level: Int = 0) -> String? {
        guard level <= maxDepth else { return nil }
        let newline = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
        let closing = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        let separator = indent == nil ? ", " : ","
        switch self {
        case .undefined, .none: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .int(i): return String(i)
        case let .double(d): return d.isFinite ? TemplateValue.pythonFloat(d) : (d.isNaN ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"))
        case let .string(s):
            var out = ""
            JSONValue.writeString(s, into: &out)
            return out
        case let .array(items):
            if items.isEmpty { return "[]" }
            var parts: [String] = []
            for item in items {
                guard let part = item.json(indent: indent, maxDepth: maxDepth, level: level + 1) else { return nil }
                parts.append(part)
            }
            return "[" + newline + parts.joined(separator: separator + newline) + closing + "]"
        case let .dictionary(entries):
            if entries.isEmpty { return "{}" }
            var parts: [String] = []
            for entry in entries {
                var key = ""
                JSONValue.writeString(entry.key, into: &key)
                guard let part = entry.value.json(indent: indent, maxDepth: maxDepth, level: level + 1) else { return nil }
                parts.append(key + ": " + part)
            }
            return "{" + newline + parts.joined(separator: separator + newline) + closing + "}"
        case let .namespace(ns):
            return TemplateValue.dictionary(ns.attributes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
                .json(indent: indent, maxDepth: maxDepth, level: level + 1)
        }
    }

    /// How deeply lists, mappings and namespaces nest (a scalar is 0), counting no further than
    /// `limit + 1` (so a namespace that contains itself is still answered).
    func nestingDepth(limit: Int) -> Int {
        guard limit >= 0 else { return 1 }
        switch self {
        case let .array(items): return 1 + (items.map { $0.nestingDepth(limit: limit - 1) }.max() ?? 0)
        case let .dictionary(entries): return 1 + (entries.map { $0.value.nestingDepth(limit: limit - 1) }.max() ?? 0)
        case let .namespace(ns): return 1 + (ns.attributes.values.map { $0.nestingDepth(limit: limit - 1) }.max() ?? 0)
        default: return 0
        }
    }

    /// Converts parsed JSON (e.g. tool definitions) into a template value.
    public init(json: JSONValue) {
        switch json {
        case .null: self = .none
        case let .bool(b): self = .bool(b)
        case let .number(n): self = n.rounded() == n && abs(n) < 9e15 ? .int(Int(n)) : .double(n)
        case let .string(s): self = .string(s)
        case let .array(items): self = .array(items.map(TemplateValue.init(json:)))
        case let .object(members): self = .dictionary(members.map { ($0.key, TemplateValue(json: $0.value)) })
        }
    }
}

/// The mutable object `namespace()` returns (reference semantics, as in Jinja).
public final class TemplateNamespace: @unchecked Sendable {
    var attributes: [String: TemplateValue]
    init(_ attributes: [String: TemplateValue]) { self.attributes = attributes }
}

/// One chat message: a role ("system", "user", "assistant", "tool"…) and its text.
public struct ChatMessage: Sendable, Equatable {
    /// `system`, `user` or `assistant`.
    public var role: String
    /// The message text.
    public var content: String

    /// A message.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    /// A system message.
    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    /// A user message.
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    /// An assistant message.
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }

    var templateValue: TemplateValue { .dictionary([("role", .string(role)), ("content", .string(content))]) }
}
