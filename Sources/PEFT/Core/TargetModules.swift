import Foundation
import ModelIO

/// Which modules an adapter wraps, matched against dotted module paths the way Hugging Face PEFT
/// matches `target_modules`.
public enum TargetModules: Sendable, Equatable {
    /// Exact paths or `.`-suffixes: `"q_proj"` matches `model.layers.0.self_attn.q_proj`.
    case names([String])
    /// A regular expression that must match the whole path.
    case pattern(String)
    /// Every linear layer except the output head (`"all-linear"`).
    case allLinear

    /// The JSON form: a list, a pattern string, or `"all-linear"`.
    public var json: JSONValue {
        switch self {
        case let .names(names): return .array(names.map { .string($0) })
        case let .pattern(pattern): return .string(pattern)
        case .allLinear: return .string("all-linear")
        }
    }

    /// Reads the JSON form (`field` names it in errors).
    public init(json: JSONValue, field: String) throws {
        if let text = json.string {
            self = text == "all-linear" ? .allLinear : .pattern(text)
        } else if let items = json.array {
            let names = items.compactMap(\.string)
            guard names.count == items.count else { throw PEFTError.invalidConfiguration(field: field, reason: "list entries must be strings") }
            self = .names(names)
        } else {
            throw PEFTError.invalidConfiguration(field: field, reason: "must be a list of module names or a regular expression string")
        }
    }

    /// Checks that a pattern compiles.
    func validate(field: String) throws { _ = try matcher(allLinearNames: [], field: field) }

    /// A predicate on module paths, compiled once (`allLinearNames` resolves `all-linear`).
    func matcher(allLinearNames: Set<String>, field: String) throws -> (String) -> Bool {
        func bySuffix(_ names: some Sequence<String>) -> (String) -> Bool {
            let names = Array(names)
            return { path in names.contains { path == $0 || path.hasSuffix("." + $0) } }
        }
        switch self {
        case let .names(names): return bySuffix(names)
        case let .pattern(pattern):
            let regex = try TargetModules.compile(pattern, field: field)
            return { regex.wholeMatch($0) }
        case .allLinear: return bySuffix(allLinearNames)
        }
    }

    /// A short description for messages.
    var summary: String {
        switch self {
        case let .names(names): return "[" + names.joined(separator: ", ") + "]"
        case let .pattern(pattern): return "'\(pattern)'"
        case .allLinear: return "'all-linear'"
        }
    }

    /// Compiles `pattern` to match whole strings (Python's `re.fullmatch`).
    static func compile(_ pattern: String, field: String) throws -> NSRegularExpression {
        do { return try NSRegularExpression(pattern: "\\A(?:" + pattern + ")\\z") } catch {
            throw PEFTError.invalidConfiguration(field: field, reason: "'\(pattern)' is not a valid regular expression")
        }
    }
}

extension NSRegularExpression {
    /// True when the (whole-string) expression matches `text`.
    func wholeMatch(_ text: String) -> Bool {
        firstMatch(in: text, range: NSRange(text.startIndex..<text.endIndex, in: text)) != nil
    }
}

/// Which numbered layer a module path sits in: the first `<name>.<index>.` segment pair, where
/// `<name>` is one of `patterns` (any name when empty) — PEFT's `layers_to_transform` rule.
func layerIndex(of path: String, patterns: [String]) -> Int? {
    let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard parts.count >= (patterns.isEmpty ? 4 : 3) else { return nil }
    for i in (patterns.isEmpty ? 2 : 1)..<(parts.count - 1) {
        guard let index = Int(parts[i]), parts[i].allSatisfy(\.isASCII) else { continue }
        if patterns.isEmpty || patterns.contains(parts[i - 1]) { return index }
    }
    return nil
}
