import Autograd
import Foundation
import Tensors

/// The base of every layer and model: a tree of named child modules and parameters.
///
/// Parameters are addressed by dotted paths built from the child names, the same names a Hugging
/// Face checkpoint uses (`model.layers.0.self_attn.q_proj.weight`). Freezing is parameter state
/// (`requiresGrad`), and the trainable set is derived from it. Subclasses register their children
/// and parameters in `init` and read them back through `child(_:)`/`parameter(_:)`, so replacing a
/// child (for example wrapping a linear layer with an adapter) is one call that every forward sees.
open class Module {
    private var childOrder: [String] = []
    private var childrenByName: [String: Module] = [:]
    private var parameterOrder: [String] = []
    private var parametersByName: [String: Variable] = [:]

    /// True in training mode (dropout active), false in evaluation mode.
    public private(set) var isTraining = true

    /// Creates an empty module.
    public init() {}

    // MARK: Registration

    /// Adds a parameter under `name` (no dots). Parameters require gradients unless frozen later.
    public func registerParameter(_ name: String, _ parameter: Variable) {
        precondition(!name.isEmpty && !name.contains("."), "registerParameter: invalid name '\(name)'")
        precondition(parametersByName[name] == nil && childrenByName[name] == nil,
                     "registerParameter: '\(name)' is already registered on \(type(of: self))")
        parameterOrder.append(name)
        parametersByName[name] = parameter
    }

    /// Adds a child module under `name` (no dots).
    public func registerChild(_ name: String, _ child: Module) {
        precondition(!name.isEmpty && !name.contains("."), "registerChild: invalid name '\(name)'")
        precondition(parametersByName[name] == nil && childrenByName[name] == nil,
                     "registerChild: '\(name)' is already registered on \(type(of: self))")
        childOrder.append(name)
        childrenByName[name] = child
    }

    /// The parameter registered as `name` on this module.
    public func parameter(_ name: String) -> Variable {
        guard let parameter = parametersByName[name] else {
            preconditionFailure("\(type(of: self)) has no parameter '\(name)'")
        }
        return parameter
    }

    /// The optional parameter registered as `name`, if any.
    public func optionalParameter(_ name: String) -> Variable? { parametersByName[name] }

    /// The child registered as `name`, cast to the type the caller needs.
    public func child<T>(_ name: String, as type: T.Type = T.self) -> T {
        guard let child = childrenByName[name] else {
            preconditionFailure("\(Swift.type(of: self)) has no child '\(name)'")
        }
        guard let typed = child as? T else {
            preconditionFailure("child '\(name)' of \(Swift.type(of: self)) is a \(Swift.type(of: child)), not \(T.self)")
        }
        return typed
    }

    /// Direct children in registration order.
    public var children: [(name: String, module: Module)] { childOrder.map { ($0, childrenByName[$0]!) } }

    /// This module's own parameters in registration order.
    public var localParameters: [(name: String, parameter: Variable)] {
        parameterOrder.map { ($0, parametersByName[$0]!) }
    }

    // MARK: Tree

    /// Every parameter of the tree with its dotted path, depth-first in registration order.
    public func namedParameters() -> [(path: String, parameter: Variable)] {
        var result: [(String, Variable)] = localParameters.map { ($0.name, $0.parameter) }
        for (name, child) in children {
            result += child.namedParameters().map { ("\(name).\($0.path)", $0.parameter) }
        }
        return result
    }

    /// Every module of the tree with its dotted path (this module's path is "").
    public func namedModules() -> [(path: String, module: Module)] {
        var result: [(String, Module)] = [("", self)]
        for (name, child) in children {
            result += child.namedModules().map { ($0.path.isEmpty ? name : "\(name).\($0.path)", $0.module) }
        }
        return result
    }

    /// The parameters that currently require gradients.
    public func trainableParameters() -> [(path: String, parameter: Variable)] {
        namedParameters().filter { $0.parameter.requiresGrad }
    }

    /// Total number of scalars in all parameters.
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.parameter.value.count } }

    /// Number of scalars in trainable parameters.
    public var trainableParameterCount: Int { trainableParameters().reduce(0) { $0 + $1.parameter.value.count } }

    /// "trainable 460,800 / 134,975,808 (0.34%)".
    public var trainableParameterSummary: String {
        let total = parameterCount, trainable = trainableParameterCount
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.locale = Locale(identifier: "en_US")
        let percent = total == 0 ? 0 : 100 * Double(trainable) / Double(total)
        return "trainable \(formatter.string(from: NSNumber(value: trainable)) ?? "\(trainable)") / "
            + "\(formatter.string(from: NSNumber(value: total)) ?? "\(total)") (\(String(format: "%.2f", percent))%)"
    }

    /// The module at a dotted path ("" is this module), or nil.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        var current: Module = self
        for name in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current.childrenByName[String(name)] else { return nil }
            current = next
        }
        return current
    }

    /// Replaces the child at a dotted path (the only way the tree changes after construction).
    ///
    /// - Throws: `ModuleError.noSuchModule` when the path does not name an existing child.
    public func replaceModule(at path: String, with replacement: Module) throws {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let last = parts.last, !path.isEmpty,
              let parent = module(at: parts.dropLast().joined(separator: ".")),
              parent.childrenByName[last] != nil else {
            throw ModuleError.noSuchModule(path: path)
        }
        parent.childrenByName[last] = replacement
    }

    // MARK: Modes and freezing

    /// Switches the whole tree to training mode.
    public func train() { namedModules().forEach { $0.module.isTraining = true } }
    /// Switches the whole tree to evaluation mode.
    public func eval() { namedModules().forEach { $0.module.isTraining = false } }

    /// Freezes every parameter whose path satisfies `predicate` (all by default).
    public func freeze(where predicate: (String) -> Bool = { _ in true }) {
        for (path, parameter) in namedParameters() where predicate(path) { parameter.requiresGrad = false }
    }

    /// Unfreezes every parameter whose path satisfies `predicate` (all by default).
    public func unfreeze(where predicate: (String) -> Bool = { _ in true }) {
        for (path, parameter) in namedParameters() where predicate(path) { parameter.requiresGrad = true }
    }

    /// Freezes the parameter at `path`, or every parameter under the module at `path`.
    public func freeze(path: String) { freeze(where: { Module.path($0, isUnder: path) }) }
    /// Unfreezes the parameter at `path`, or every parameter under the module at `path`.
    public func unfreeze(path: String) { unfreeze(where: { Module.path($0, isUnder: path) }) }

    /// Freezes every parameter whose full path matches the regular expression `pattern`.
    /// - Throws: `ModuleError.invalidPattern` when the pattern does not compile.
    public func freeze(matching pattern: String) throws {
        let regex = try Module.compile(pattern)
        freeze(where: { (try? regex.wholeMatch(in: $0)) != nil })
    }

    /// Unfreezes every parameter whose full path matches the regular expression `pattern`.
    public func unfreeze(matching pattern: String) throws {
        let regex = try Module.compile(pattern)
        unfreeze(where: { (try? regex.wholeMatch(in: $0)) != nil })
    }

    static func path(_ path: String, isUnder prefix: String) -> Bool {
        prefix.isEmpty || path == prefix || path.hasPrefix(prefix + ".")
    }

    private static func compile(_ pattern: String) throws -> Regex<AnyRegexOutput> {
        do { return try Regex(pattern) } catch { throw ModuleError.invalidPattern(pattern: pattern, reason: "\(error)") }
    }

    // MARK: State dictionary

    /// Every parameter's value by dotted path.
    public func stateDictionary() -> [String: Tensor] {
        Dictionary(namedParameters().map { ($0.path, $0.parameter.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// Loads parameter values by dotted path.
    ///
    /// Shapes must match exactly. With `strict`, keys missing from `state` or unknown to the module are
    /// errors; otherwise they are reported in the result. Nothing is changed when an error is thrown.
    @discardableResult
    public func loadStateDictionary(_ state: [String: Tensor], strict: Bool = true) throws -> StateDictionaryReport {
        let named = namedParameters()
        let known = Set(named.map(\.path))
        let report = StateDictionaryReport(
            missingKeys: named.map(\.path).filter { state[$0] == nil },
            unexpectedKeys: state.keys.filter { !known.contains($0) }.sorted())
        if strict && (!report.missingKeys.isEmpty || !report.unexpectedKeys.isEmpty) {
            throw ModuleError.stateDictionaryMismatch(missing: report.missingKeys, unexpected: report.unexpectedKeys)
        }
        for (path, parameter) in named {
            if let value = state[path], value.shape != parameter.value.shape {
                throw ModuleError.shapeMismatch(path: path, expected: parameter.value.shape, found: value.shape)
            }
        }
        for (path, parameter) in named {
            if let value = state[path] { parameter.value = value }
        }
        return report
    }
}

/// Keys that did not line up when loading a state dictionary non-strictly.
public struct StateDictionaryReport: Sendable, Equatable {
    /// Parameters of the module for which the state had no value (left unchanged).
    public var missingKeys: [String]
    /// Keys in the state that name no parameter (ignored).
    public var unexpectedKeys: [String]
}

/// Errors from module tree operations.
public enum ModuleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A dotted path names no module.
    case noSuchModule(path: String)
    /// A regular expression for freezing did not compile.
    case invalidPattern(pattern: String, reason: String)
    /// A loaded tensor's shape differs from the parameter's.
    case shapeMismatch(path: String, expected: [Int], found: [Int])
    /// A strict load found missing or unexpected keys.
    case stateDictionaryMismatch(missing: [String], unexpected: [String])

    public var description: String {
        switch self {
        case let .noSuchModule(path): return "no module at path '\(path)'"
        case let .invalidPattern(pattern, reason): return "invalid pattern '\(pattern)': \(reason)"
        case let .shapeMismatch(path, expected, found): return "'\(path)': expected shape \(expected), found \(found)"
        case let .stateDictionaryMismatch(missing, unexpected):
            return "state dictionary mismatch: missing \(missing), unexpected \(unexpected)"
        }
    }
}
