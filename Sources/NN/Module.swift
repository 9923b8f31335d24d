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
    private var childSlots: [String: ChildSlot] = [:]
    private var parameterOrder: [String] = []
    private var parametersByName: [String: Variable] = [:]
    private var packedOrder: [String] = []
    private var packedByName: [String: QuantizedMatrix] = [:]

    /// True in training mode (dropout active), false in evaluation mode.
    public private(set) var isTraining = true

    /// The child name a wrapping layer gives the layer it wraps (Hugging Face PEFT's `base_layer`).
    /// Checkpoint names skip this segment: `q_proj.base_layer.weight` loads from `q_proj.weight`.
    public static let wrappedLayerName = "base_layer"

    /// Creates an empty module.
    public init() {}

    // MARK: Registration

    /// Adds a parameter under `name` (no dots). Parameters require gradients unless frozen later.
    public func registerParameter(_ name: String, _ parameter: Variable) {
        precondition(!name.isEmpty && !name.contains("."), "registerParameter: invalid name '\(name)'")
        precondition(parametersByName[name] == nil && childSlots[name] == nil && packedByName[name] == nil,
                     "registerParameter: '\(name)' is already registered on \(type(of: self))")
        parameterOrder.append(name)
        parametersByName[name] = parameter
    }

    /// Adds a packed (quantized) weight under `name` (no dots): frozen by nature, counted by
    /// `parameterCount`, written dequantized by `stateDictionary()`, listed by
    /// `namedPackedParameters()`; never returned by `namedParameters()` (nothing can train it).
    public func registerPackedParameter(_ name: String, _ matrix: QuantizedMatrix) {
        precondition(!name.isEmpty && !name.contains("."), "registerPackedParameter: invalid name '\(name)'")
        precondition(parametersByName[name] == nil && childSlots[name] == nil && packedByName[name] == nil,
                     "registerPackedParameter: '\(name)' is already registered on \(type(of: self))")
        packedOrder.append(name)
        packedByName[name] = matrix
    }

    /// The packed weight registered as `name` on this module.
    public func packedParameter(_ name: String) -> QuantizedMatrix {
        guard let matrix = packedByName[name] else { preconditionFailure("\(type(of: self)) has no packed parameter '\(name)'") }
        return matrix
    }

    /// Every packed weight of the tree with its dotted path, depth-first in registration order.
    public func namedPackedParameters() -> [(path: String, matrix: QuantizedMatrix)] {
        var result: [(String, QuantizedMatrix)] = packedOrder.map { ($0, packedByName[$0]!) }
        for (name, child) in children {
            result += child.namedPackedParameters().map { ("\(name).\($0.path)", $0.matrix) }
        }
        return result
    }

    /// Removes the parameter registered as `name` and returns it (nil when there is none).
    @discardableResult
    public func removeParameter(_ name: String) -> Variable? {
        guard let parameter = parametersByName.removeValue(forKey: name) else { return nil }
        parameterOrder.removeAll { $0 == name }
        return parameter
    }

    /// Adds a child module under `name` (no dots), reachable through `child(_:)`.
    public func registerChild(_ name: String, _ child: Module) {
        register(ChildSlot(name: name), child)
    }

    /// Gives a typed `@Child` property its module: `registerChild(_qProj, Linear(…))`.
    public func registerChild<Value>(_ property: Child<Value>, _ child: Module) {
        register(property.slot, child)
    }

    private func register(_ slot: ChildSlot, _ child: Module) {
        let name = slot.name
        precondition(parametersByName[name] == nil && childSlots[name] == nil && packedByName[name] == nil,
                     "registerChild: '\(name)' is already registered on \(type(of: self))")
        precondition(slot.module == nil, "registerChild: the slot '\(name)' already belongs to a module")
        precondition(slot.assign(child), "registerChild: '\(name)' must be \(slot.requiredTypeName), got \(type(of: child))")
        childOrder.append(name)
        childSlots[name] = slot
    }

    /// Removes the child registered as `name` (and its whole subtree) and returns it.
    ///
    /// A typed `@Child` property may not be removed (its type promises a value): replace it instead.
    /// - Throws: `ModuleError.noSuchModule` when there is no such child, `.incompatibleReplacement`
    ///   for a typed child.
    @discardableResult
    public func removeChild(_ name: String) throws -> Module {
        guard let slot = childSlots[name], let module = slot.module else { throw ModuleError.noSuchModule(path: name) }
        guard type(of: slot) == ChildSlot.self else {
            throw ModuleError.incompatibleReplacement(path: name, required: slot.requiredTypeName, found: "nothing")
        }
        childSlots.removeValue(forKey: name)
        childOrder.removeAll { $0 == name }
        return module
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

    /// The child registered as `name`, cast to the type the caller needs (prefer `@Child` properties
    /// in models; this is for dynamic walks).
    public func child<T>(_ name: String, as type: T.Type = T.self) -> T {
        guard let child = childSlots[name]?.module else {
            preconditionFailure("\(Swift.type(of: self)) has no child '\(name)'")
        }
        guard let typed = child as? T else {
            preconditionFailure("child '\(name)' of \(Swift.type(of: self)) is a \(Swift.type(of: child)), not \(T.self)")
        }
        return typed
    }

    /// The child registered as `name`, or nil.
    public func optionalChild(_ name: String) -> Module? { childSlots[name]?.module }

    /// Direct children in registration order.
    public var children: [(name: String, module: Module)] { childOrder.map { ($0, childSlots[$0]!.module!) } }

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

    /// Total number of scalars in all parameters, packed (quantized) weights included.
    public var parameterCount: Int {
        namedParameters().reduce(0) { $0 + $1.parameter.value.count } + namedPackedParameters().reduce(0) { $0 + $1.matrix.rows * $1.matrix.columns }
    }

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
            guard let next = current.childSlots[String(name)]?.module else { return nil }
            current = next
        }
        return current
    }

    /// Replaces the child at a dotted path (with `removeChild`, the only way the tree changes after
    /// construction). The replacement takes over the replaced module's training/evaluation mode.
    ///
    /// - Throws: `ModuleError.noSuchModule` when the path does not name an existing child,
    ///   `.incompatibleReplacement` when a typed child (`@Child`) would get a module of another type.
    public func replaceModule(at path: String, with replacement: Module) throws {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let last = parts.last, !path.isEmpty,
              let parent = module(at: parts.dropLast().joined(separator: ".")) else {
            throw ModuleError.noSuchModule(path: path)
        }
        do { try parent.replaceChild(named: last, with: replacement) } catch ModuleError.noSuchModule {
            throw ModuleError.noSuchModule(path: path)
        } catch ModuleError.incompatibleReplacement(_, let required, let found) {
            throw ModuleError.incompatibleReplacement(path: path, required: required, found: found)
        }
    }

    /// Replaces this module's direct child `name` (see `replaceModule(at:with:)`).
    public func replaceChild(named name: String, with replacement: Module) throws {
        guard let slot = childSlots[name], let previous = slot.module else { throw ModuleError.noSuchModule(path: name) }
        let mode = previous.isTraining
        guard slot.assign(replacement) else {
            throw ModuleError.incompatibleReplacement(path: name, required: slot.requiredTypeName, found: "\(type(of: replacement))")
        }
        if mode { replacement.train() } else { replacement.eval() }
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

    /// Every parameter's value by dotted path; packed weights are dequantized.
    public func stateDictionary() -> [String: Tensor] {
        var state = Dictionary(namedParameters().map { ($0.path, $0.parameter.value) }, uniquingKeysWith: { first, _ in first })
        for (path, matrix) in namedPackedParameters() where state[path] == nil { state[path] = matrix.dequantized() }
        return state
    }

    /// The checkpoint name of a parameter path: wrapper segments (`base_layer`) removed, so an
    /// adapted model still loads and reports the names of the checkpoint it came from.
    public static func checkpointName(of path: String) -> String {
        let marker = "." + wrappedLayerName
        guard path.contains(marker) else { return path }
        return path.split(separator: ".").filter { $0 != Substring(wrappedLayerName) }.joined(separator: ".")
    }

    /// What to do with a key present on only one side of a load.
    public enum KeyPolicy: Sendable {
        /// Throw `ModuleError.stateDictionaryMismatch`.
        case error
        /// Leave it out and list it in the report.
        case report
    }

    /// Loads parameter values by dotted path — the one way weights enter a module tree.
    ///
    /// A parameter is looked up by its path, then by its checkpoint name (`base_layer` segments
    /// removed), so Hugging Face names load into an adapted model. Shapes must match exactly.
    /// Nothing is changed when an error is thrown.
    /// - Parameters:
    ///   - missing: parameters without a value in `state` (default: an error).
    ///   - unexpected: keys of `state` naming no parameter (default: an error).
    /// - Throws: `ModuleError.stateDictionaryMismatch` (every offending key) or `.shapeMismatch`.
    @discardableResult
    public func loadStateDictionary(_ state: [String: Tensor], missing: KeyPolicy = .error,
                                    unexpected: KeyPolicy = .error) throws -> StateDictionaryReport {
        var used = Set<String>()
        var assignments: [(Variable, Tensor)] = []
        var missingKeys: [String] = []
        for (path, parameter) in namedParameters() {
            let key = state[path] != nil ? path : Module.checkpointName(of: path)
            guard let value = state[key] else { missingKeys.append(path); continue }
            guard value.shape == parameter.value.shape else {
                throw ModuleError.shapeMismatch(path: path, expected: parameter.value.shape, found: value.shape)
            }
            used.insert(key)
            assignments.append((parameter, value))
        }
        let report = StateDictionaryReport(missingKeys: missingKeys,
                                           unexpectedKeys: state.keys.filter { !used.contains($0) }.sorted())
        if (missing == .error && !report.missingKeys.isEmpty) || (unexpected == .error && !report.unexpectedKeys.isEmpty) {
            throw ModuleError.stateDictionaryMismatch(missing: missing == .error ? report.missingKeys : [],
                                                      unexpected: unexpected == .error ? report.unexpectedKeys : [])
        }
        for (parameter, value) in assignments { parameter.value = value }
        return report
    }

    /// `loadStateDictionary(state)` with both policies `.error` (`strict`) or `.report`.
    @discardableResult
    public func loadStateDictionary(_ state: [String: Tensor], strict: Bool) throws -> StateDictionaryReport {
        try loadStateDictionary(state, missing: strict ? .error : .report, unexpected: strict ? .error : .report)
    }
}

/// Keys that did not line up when loading a state dictionary.
public struct StateDictionaryReport: Sendable, Equatable {
    /// Parameters of the module for which the state had no value (left unchanged).
    public var missingKeys: [String]
    /// Keys in the state that name no parameter (ignored).
    public var unexpectedKeys: [String]

    /// A report listing the given keys.
    public init(missingKeys: [String] = [], unexpectedKeys: [String] = []) {
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
    }
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
    /// A typed child (`@Child`) cannot hold the module it was given.
    case incompatibleReplacement(path: String, required: String, found: String)
    /// The module cannot do what was asked (for example update a packed weight in place).
    case unsupported(String)

    /// A one-line description, as users see it.
    public var description: String {
        switch self {
        case let .noSuchModule(path): return "no module at path '\(path)'"
        case let .invalidPattern(pattern, reason): return "invalid pattern '\(pattern)': \(reason)"
        case let .shapeMismatch(path, expected, found): return "'\(path)': expected shape \(expected), found \(found)"
        case let .stateDictionaryMismatch(missing, unexpected):
            return "state dictionary mismatch: missing \(ModuleError.list(missing)), unexpected \(ModuleError.list(unexpected))"
        case let .incompatibleReplacement(path, required, found):
            return "module at '\(path)' must be \(required); cannot put \(found) there"
        case let .unsupported(message): return message
        }
    }

    static func list(_ keys: [String]) -> String {
        keys.isEmpty ? "none" : keys.prefix(10).joined(separator: ", ") + (keys.count > 10 ? " (+\(keys.count - 10) more)" : "")
    }
}
